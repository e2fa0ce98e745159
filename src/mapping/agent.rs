//! SCIM Agent ↔ agent member. An agent is a member of its own kind: its name (`agentUserName`,
//! or draft-abbey's `name`) is its userName, its owners are people of the organization, `roles`
//! give its role as they do for Users, and everything else is kept as sent.

use serde_json::{Map, Value, json};

use super::user::{RoleValue, UserInput, UserView};
use super::{etag, scim_time};
use crate::domain::provisioning::Profile;
use crate::domain::{Member, MemberStatus, UserName};
use crate::scim::resource::as_bool;
use crate::scim::schema::{AGENT_SCHEMA, ROSTER_USER_SCHEMA};
use crate::scim::{ScimError, ScimType};

/// Keys kept in columns, in the owners table, or computed: never stored with the attributes.
const NOT_STORED: &[&str] = &[
    "agentUserName",
    "name",
    "externalId",
    "displayName",
    "active",
    "owners",
    "groups",
    "id",
    "meta",
    ROSTER_USER_SCHEMA,
];

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What an Agent body asks for: the member-shaped input (its name as userName), and its owners
/// when the body has them.
pub fn agent_input(canonical: &Map<String, Value>) -> Result<(UserInput, Option<Vec<String>>), ScimError> {
    let raw_name = text(canonical.get("agentUserName"))
        .or_else(|| text(canonical.get("name")))
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, "agentUserName (or name) is required"))?;
    let user_name =
        UserName::parse(&raw_name).map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.to_string()))?;
    let owners = canonical.get("owners").map(|o| {
        o.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| text(e.get("value")))
            .collect::<Vec<_>>()
    });
    let roles = canonical
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(RoleValue {
                value: text(r.get("value"))?,
                primary: r.get("primary").and_then(as_bool) == Some(true),
            })
        })
        .collect();
    let extension_role = canonical
        .get(ROSTER_USER_SCHEMA)
        .and_then(|e| e.get("role"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let attributes = canonical
        .iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()))
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((
        UserInput {
            profile: Profile {
                user_name,
                external_id: text(canonical.get("externalId")),
                display_name: text(canonical.get("displayName")),
                first_name: None,
                last_name: None,
                email: None,
                phone: None,
                addresses: Vec::new(),
                attributes,
            },
            active: canonical.get("active").and_then(as_bool),
            roles,
            extension_role,
        },
        owners,
    ))
}

/// The canonical resource a PATCH is applied to.
pub fn patchable(
    member: &Member,
    attributes: &Map<String, Value>,
    owners: &[(String, String, String)],
) -> Map<String, Value> {
    let mut out = attributes.clone();
    out.insert("agentUserName".into(), Value::String(member.user_name.to_string()));
    if let Some(v) = &member.external_id {
        out.insert("externalId".into(), Value::String(v.clone()));
    }
    if let Some(v) = &member.display_name {
        out.insert("displayName".into(), Value::String(v.clone()));
    }
    if !owners.is_empty() {
        out.insert(
            "owners".into(),
            Value::Array(owners.iter().map(|(id, _, _)| json!({"value": id})).collect()),
        );
    }
    out.insert("active".into(), Value::Bool(member.status == MemberStatus::Active));
    out
}

/// The full Agent resource.
pub fn render_agent(view: &UserView<'_>, owners: &[(String, String, String)]) -> Value {
    let m = view.member;
    let mut out = patchable(m, view.attributes, owners);
    let id = m.id.to_string();
    // draft-abbey names the agent `name`: both are answered, so either kind of client reads it.
    out.insert("name".into(), Value::String(m.user_name.to_string()));
    out.insert("schemas".into(), json!([AGENT_SCHEMA, ROSTER_USER_SCHEMA]));
    out.insert("id".into(), Value::String(id.clone()));
    if !owners.is_empty() {
        out.insert(
            "owners".into(),
            Value::Array(
                owners
                    .iter()
                    .map(|(oid, display, _)| {
                        json!({"value": oid, "display": display, "type": "User", "$ref": format!("{}/Users/{oid}", view.base_url)})
                    })
                    .collect(),
            ),
        );
    }
    if !view.groups.is_empty() {
        out.insert(
            "groups".into(),
            Value::Array(
                view.groups
                    .iter()
                    .map(|(gid, display)| {
                        json!({"value": gid, "display": display, "$ref": format!("{}/Groups/{gid}", view.base_url), "type": "direct"})
                    })
                    .collect(),
            ),
        );
    }
    out.insert(
        ROSTER_USER_SCHEMA.into(),
        json!({
            "memberId": id,
            "role": m.role.as_str(),
            "status": m.status.as_str(),
            "kind": "agent",
        }),
    );
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Agent",
            "created": scim_time(m.added_date),
            "lastModified": scim_time(m.updated_at),
            "location": format!("{}/Agents/{id}", view.base_url),
            "version": etag(m.version),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::canonicalise;
    use crate::scim::schema::AGENT;

    #[test]
    fn either_draft_names_the_agent() {
        for body in [
            json!({"agentUserName": "support-bot", "owners": [{"value": "o-1"}], "description": "Helps"}),
            json!({"name": "support-bot", "agentType": "assistant"}),
        ] {
            let (input, _) = agent_input(&canonicalise(body.as_object().unwrap(), &AGENT, true)).unwrap();
            assert_eq!(input.profile.user_name.as_str(), "support-bot");
            assert!(!input.profile.attributes.contains_key("owners"));
        }
        let (_, owners) = agent_input(&canonicalise(
            json!({"agentUserName": "a", "owners": [{"value": "o-1"}, {"value": "o-2"}]})
                .as_object()
                .unwrap(),
            &AGENT,
            true,
        ))
        .unwrap();
        assert_eq!(owners.unwrap(), ["o-1", "o-2"]);
        assert!(
            agent_input(&canonicalise(
                json!({"displayName": "x"}).as_object().unwrap(),
                &AGENT,
                true
            ))
            .is_err()
        );
    }
}
