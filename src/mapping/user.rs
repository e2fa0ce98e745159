//! SCIM User ↔ member.
//!
//! Column-backed attributes (userName, externalId, displayName, name.givenName/familyName, the
//! member's e-mail and phone, active, role) become member fields; everything else the IdP sends is
//! kept as sent in the member's SCIM attributes, so nothing is lost. On the way back, the columns
//! win: a native change shows through SCIM at once.

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::{etag, scim_time};
use crate::domain::invitation::InvitationState;
use crate::domain::provisioning::{Profile, RoleDecision};
use crate::domain::{Email, Member, PhoneNumber, Role, UserName};
use crate::scim::resource::as_bool;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, ROSTER_USER_SCHEMA, USER_SCHEMA};
use crate::scim::{ScimError, ScimType};

/// What a User body asks for, parsed.
#[derive(Debug, Clone)]
pub struct UserInput {
    /// Who the person is: the column-backed attributes, and everything else as sent.
    pub profile: Profile,
    pub active: Option<bool>,
    /// The `roles` values as sent (Entra app roles, or whatever the IdP maps there); which of them
    /// gives a role is decided by [`UserInput::decide_role`].
    pub roles: Vec<RoleValue>,
    /// roster's own extension `role`, as sent.
    pub extension_role: Option<String>,
}

/// Keys that live in columns or are computed, never stored in the attributes.
const NOT_STORED: &[&str] = &[
    "userName",
    "externalId",
    "displayName",
    "active",
    "password",
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

/// Picks the element a single column should hold: the primary one, else by preferred type, else the first.
fn pick<'a>(items: Option<&'a Value>, preferred: &[&str]) -> Option<&'a Value> {
    let items = items?.as_array()?;
    let with_value: Vec<&Value> = items.iter().filter(|e| text(e.get("value")).is_some()).collect();
    with_value
        .iter()
        .find(|e| e.get("primary").and_then(as_bool) == Some(true))
        .or_else(|| {
            preferred.iter().find_map(|t| {
                with_value.iter().find(|e| {
                    e.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|ty| ty.eq_ignore_ascii_case(t))
                })
            })
        })
        .or(with_value.first())
        .copied()
}

pub fn user_input(canonical: &Map<String, Value>) -> Result<UserInput, ScimError> {
    let user_name = match canonical.get("userName") {
        Some(Value::String(s)) => {
            UserName::parse(s).map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.to_string()))?
        }
        _ => return Err(ScimError::bad_request(ScimType::InvalidValue, "userName is required")),
    };
    let name = canonical.get("name");
    let email = pick(canonical.get("emails"), &["work"])
        .and_then(|e| text(e.get("value")))
        .and_then(|v| Email::parse(&v).ok());
    let phone = pick(canonical.get("phoneNumbers"), &["mobile", "work"])
        .and_then(|e| text(e.get("value")))
        .and_then(|v| PhoneNumber::parse(&v).ok());
    let roles = canonical
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(RoleValue {
                value: role_value(&text(r.get("value"))?),
                primary: r.get("primary").and_then(as_bool) == Some(true),
            })
        })
        .collect();
    // roster's own extension: `role` is writable there too (a mapped `roles` value wins).
    let extension_role = canonical
        .get(ROSTER_USER_SCHEMA)
        .and_then(|e| e.get("role"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let attributes: Map<String, Value> = canonical
        .iter()
        .filter(|(k, _)| !NOT_STORED.contains(&k.as_str()))
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Every address the member is found by: each `emails` value, and the member's own e-mail.
    let mut addresses: Vec<String> = attributes
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if let Some(e) = &email {
        addresses.push(e.as_str().to_owned());
    }
    Ok(UserInput {
        profile: Profile {
            user_name,
            external_id: text(canonical.get("externalId")),
            display_name: text(canonical.get("displayName")),
            first_name: text(name.and_then(|n| n.get("givenName"))),
            last_name: text(name.and_then(|n| n.get("familyName"))),
            email,
            phone,
            addresses,
            attributes,
        },
        active: canonical.get("active").and_then(as_bool),
        roles,
        extension_role,
    })
}

/// A `roles` value as meant. Entra ID without the `aadOptscim062020` flag sends an app role in a
/// PATCH as a JSON object encoded in the string (`"{\"id\":…,\"value\":\"Admin\"}"`); its
/// `value` is the role.
fn role_value(raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.starts_with('{')
        && let Ok(Value::Object(object)) = serde_json::from_str::<Value>(trimmed)
        && let Some(Value::String(value)) = object.get("value")
    {
        return value.clone();
    }
    raw.to_owned()
}

/// One value of a User's `roles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleValue {
    pub value: String,
    pub primary: bool,
}

impl UserInput {
    /// The role the `roles` values give. A value maps when it names a roster role (case ignored)
    /// or an alias of `role_aliases` (lower-cased names); of several, the primary mapped one,
    /// else the highest-ranked. Values that map to nothing grant nothing (least privilege) and
    /// are reported, never refused: IdPs send the app roles the customer defined. roster's own
    /// extension `role` counts when no `roles` value maps (and is reported the same way when it
    /// names no role).
    pub fn decide_role(&self, role_aliases: &[(String, Role)]) -> RoleDecision {
        let map = |value: &str| {
            value.parse::<Role>().ok().or_else(|| {
                let key = value.trim().to_lowercase();
                role_aliases
                    .iter()
                    .find(|(alias, _)| *alias == key)
                    .map(|(_, role)| *role)
            })
        };
        let mut ignored = Vec::new();
        let mut mapped: Vec<(Role, bool)> = Vec::new();
        for r in &self.roles {
            match map(&r.value) {
                Some(role) => mapped.push((role, r.primary)),
                None if !ignored.contains(&r.value) => ignored.push(r.value.clone()),
                None => {}
            }
        }
        let extension = self.extension_role.as_deref().and_then(|value| match map(value) {
            Some(role) => Some(role),
            None => {
                if !ignored.iter().any(|i| i == value) {
                    ignored.push(value.to_owned());
                }
                None
            }
        });
        let role = mapped
            .iter()
            .find(|(_, primary)| *primary)
            .map(|(role, _)| *role)
            .or_else(|| mapped.iter().map(|(role, _)| *role).max())
            .or(extension);
        RoleDecision { role, ignored }
    }
}

/// Everything needed to render a User.
pub struct UserView<'a> {
    pub member: &'a Member,
    pub attributes: &'a Map<String, Value>,
    /// (group id, displayName) of the groups the member is in.
    pub groups: &'a [(String, String)],
    pub base_url: &'a str,
}

fn time(t: Option<NaiveDateTime>) -> Value {
    t.map(|t| Value::String(scim_time(t))).unwrap_or(Value::Null)
}

/// The canonical resource a PATCH is applied to: what the client may change, no computed parts.
pub fn patchable(member: &Member, attributes: &Map<String, Value>) -> Map<String, Value> {
    let mut out = attributes.clone();
    out.insert("userName".into(), Value::String(member.user_name.to_string()));
    if let Some(v) = &member.external_id {
        out.insert("externalId".into(), Value::String(v.clone()));
    }
    if let Some(v) = &member.display_name {
        out.insert("displayName".into(), Value::String(v.clone()));
    }
    let mut name = out.get("name").and_then(Value::as_object).cloned().unwrap_or_default();
    match &member.first_name {
        Some(v) => name.insert("givenName".into(), Value::String(v.clone())),
        None => name.remove("givenName"),
    };
    match &member.last_name {
        Some(v) => name.insert("familyName".into(), Value::String(v.clone())),
        None => name.remove("familyName"),
    };
    if name.is_empty() {
        out.remove("name");
    } else {
        out.insert("name".into(), Value::Object(name));
    }
    // The member's e-mail and phone show even when they were set natively.
    if let Some(email) = &member.email {
        let emails = out.entry("emails").or_insert_with(|| json!([]));
        if let Some(items) = emails.as_array_mut()
            && !items.iter().any(|e| {
                e.get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(email.as_str()))
            })
        {
            for e in items.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("primary");
            }
            items.insert(0, json!({"value": email.as_str(), "type": "work", "primary": true}));
        }
    }
    if let Some(phone) = &member.phone_number {
        let phones = out.entry("phoneNumbers").or_insert_with(|| json!([]));
        if let Some(items) = phones.as_array_mut()
            && !items.iter().any(|e| {
                e.get("value")
                    .and_then(Value::as_str)
                    .is_some_and(|v| PhoneNumber::parse(v).is_ok_and(|p| p == *phone))
            })
        {
            items.insert(0, json!({"value": phone.as_str(), "type": "mobile"}));
        }
    }
    out.insert("active".into(), Value::Bool(member.status.scim_active()));
    out
}

/// The full User resource.
pub fn render_user(view: &UserView<'_>) -> Value {
    let m = view.member;
    let mut out = patchable(m, view.attributes);
    let id = m.id.to_string();
    let mut schemas = vec![USER_SCHEMA];
    if out.contains_key(ENTERPRISE_USER_SCHEMA) {
        schemas.push(ENTERPRISE_USER_SCHEMA);
    }
    schemas.push(ROSTER_USER_SCHEMA);
    out.insert("schemas".into(), json!(schemas));
    out.insert("id".into(), Value::String(id.clone()));
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
            "userId": m.user_id.map(|u| u.to_string()),
            "role": m.role.as_str(),
            "status": m.status.as_str(),
            "invitationStatus": m.invitation.map(|i| invitation_state(i.state)),
            "lastLogin": time(m.last_login),
            "deactivatedDate": time(m.deactivated_date),
        }),
    );
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": scim_time(m.added_date),
            "lastModified": scim_time(m.updated_at),
            "location": format!("{}/Users/{id}", view.base_url),
            "version": etag(m.version),
        }),
    );
    Value::Object(out)
}

fn invitation_state(s: InvitationState) -> &'static str {
    match s {
        InvitationState::Queued => "QUEUED",
        InvitationState::Sent => "SENT",
        InvitationState::Expired => "EXPIRED",
        InvitationState::Accepted => "ACCEPTED",
        InvitationState::Cancelled => "CANCELLED",
        InvitationState::DeliveryFailed => "DELIVERY_FAILED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::resource::canonicalise;
    use crate::scim::schema::USER;

    fn input(body: Value) -> Result<UserInput, ScimError> {
        user_input(&canonicalise(body.as_object().unwrap(), &USER, true))
    }

    #[test]
    fn columns_are_picked_and_the_rest_is_kept() {
        let u = input(json!({
            "userName": "Jo.Doe@Example.com",
            "name": {"givenName": "Jo", "familyName": "Doe", "formatted": "Jo Doe"},
            "emails": [{"value": "home@x.com", "type": "home"}, {"value": "jo@work.com", "type": "work"}],
            "phoneNumbers": [{"value": "555-0100", "type": "work"}, {"value": "+33 6 71 91 58 34", "type": "mobile"}],
            "password": "secret", "active": "True",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            "roles": [{"value": "checker"}]
        }))
        .unwrap();
        let p = &u.profile;
        assert_eq!(p.user_name.as_str(), "Jo.Doe@Example.com");
        assert_eq!(p.email.as_ref().unwrap().as_str(), "jo@work.com");
        assert_eq!(p.phone.as_ref().unwrap().as_str(), "+33671915834");
        assert_eq!(
            (p.first_name.as_deref(), p.last_name.as_deref()),
            (Some("Jo"), Some("Doe"))
        );
        assert_eq!(p.addresses, ["home@x.com", "jo@work.com", "jo@work.com"]);
        assert_eq!(u.active, Some(true));
        assert_eq!(u.decide_role(&[]).role, Some(Role::Checker));
        assert_eq!(u.profile.attributes["roles"][0]["value"], "checker", "kept as sent");
        let a = &u.profile.attributes;
        assert!(a.get("password").is_none(), "never stored");
        assert_eq!(a["name"]["formatted"], "Jo Doe");
        assert_eq!(a["phoneNumbers"][0]["value"], "555-0100", "kept as sent");
        assert!(a.contains_key(ENTERPRISE_USER_SCHEMA));
    }

    #[test]
    fn entra_json_encoded_app_roles_are_read_for_their_value() {
        let encoded = r#"{"id":"4a4d6f42-1c1b-4c8e-9f55-0c1d2e3f4a5b","value":"Admin","displayName":"Admin"}"#;
        let u = input(json!({"userName": "a", "roles": [{"value": encoded, "primary": true}]})).unwrap();
        assert_eq!(u.roles[0].value, "Admin");
        let aliases = [("admin".to_owned(), Role::Administrator)];
        assert_eq!(u.decide_role(&aliases).role, Some(Role::Administrator));
        // A plain value with braces that is not JSON stays as sent.
        let odd = input(json!({"userName": "a", "roles": [{"value": "{not json"}]})).unwrap();
        assert_eq!(odd.roles[0].value, "{not json");
    }

    #[test]
    fn bad_user_names_and_roles_are_invalid_values() {
        assert_eq!(
            input(json!({"displayName": "x"})).unwrap_err().scim_type,
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            input(json!({"userName": "  "})).unwrap_err().scim_type,
            Some(ScimType::InvalidValue)
        );
        let primary = input(
            json!({"userName": "a", "roles": [{"value": "ADMINISTRATOR"}, {"value": "viewer", "primary": true}]}),
        )
        .unwrap();
        assert_eq!(primary.decide_role(&[]).role, Some(Role::Viewer));
    }

    #[test]
    fn unknown_role_values_are_kept_and_grant_nothing() {
        let u = input(json!({"userName": "a", "roles": [{"value": "Superuser"}, {"value": "Reader"}]})).unwrap();
        assert_eq!(
            u.decide_role(&[]),
            RoleDecision {
                role: None,
                ignored: vec!["Superuser".into(), "Reader".into()]
            }
        );
        let aliases = [
            ("reader".to_owned(), Role::Viewer),
            ("admin".to_owned(), Role::Administrator),
        ];
        assert_eq!(
            u.decide_role(&aliases),
            RoleDecision {
                role: Some(Role::Viewer),
                ignored: vec!["Superuser".into()]
            }
        );
        let both = input(json!({"userName": "a", "roles": [{"value": "Reader"}, {"value": "ADMIN"}]})).unwrap();
        assert_eq!(
            both.decide_role(&aliases).role,
            Some(Role::Administrator),
            "highest-ranked"
        );
        let ext = input(json!({"userName": "a", "roles": [{"value": "x"}],
            "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"role": "MARKET"}}))
        .unwrap();
        assert_eq!(ext.decide_role(&[]).role, Some(Role::Market));
        let unknown = input(json!({"userName": "a",
            "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"role": "Owner"}}))
        .unwrap();
        assert_eq!(
            unknown.decide_role(&[]),
            RoleDecision {
                role: None,
                ignored: vec!["Owner".into()]
            }
        );
    }
}
