//! SCIM Group ↔ group rows. Memberships are not part of the stored attributes: they are rows of
//! their own, changed set-wise.

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::{etag, scim_time};
use crate::scim::schema::GROUP_SCHEMA;
use crate::scim::{ScimError, ScimType};

#[derive(Debug, Clone)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    /// The `value`s of `members`, when the body has the attribute.
    pub members: Option<Vec<String>>,
    /// Everything else (canonical form), stored as sent.
    pub attributes: Map<String, Value>,
}

const NOT_STORED: &[&str] = &["displayName", "externalId", "members", "id", "meta"];

/// Member references: the `value` of each element (a bare string is taken as the value, as the
/// Microsoft reference collection sends).
pub fn member_values(members: &Value) -> Vec<String> {
    match members {
        Value::Array(items) => items
            .iter()
            .filter_map(|m| match m {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Object(o) => o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                    .and_then(|(_, v)| v.as_str())
                    .map(|s| s.trim().to_owned()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Value::Object(_) | Value::String(_) => member_values(&Value::Array(vec![members.clone()])),
        _ => Vec::new(),
    }
}

pub fn group_input(canonical: &Map<String, Value>, raw_members: Option<&Value>) -> Result<GroupInput, ScimError> {
    let display_name = canonical
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, "displayName is required"))?;
    if display_name.chars().count() > 256 {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            "displayName is longer than 256 characters",
        ));
    }
    Ok(GroupInput {
        display_name: display_name.to_owned(),
        external_id: canonical.get("externalId").and_then(Value::as_str).map(str::to_owned),
        members: raw_members.map(member_values),
        attributes: canonical
            .iter()
            .filter(|(k, v)| !NOT_STORED.contains(&k.as_str()) && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

pub struct GroupView<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
    pub external_id: Option<&'a str>,
    pub attributes: &'a Map<String, Value>,
    pub version: i64,
    pub created: NaiveDateTime,
    pub last_modified: NaiveDateTime,
    /// `None` when the caller excluded members (they are then not loaded at all).
    pub members: Option<&'a [(String, String)]>,
    pub base_url: &'a str,
}

/// What a PATCH on a group's own attributes is applied to (members are handled set-wise).
pub fn patchable(display_name: &str, external_id: Option<&str>, attributes: &Map<String, Value>) -> Map<String, Value> {
    let mut out = attributes.clone();
    out.insert("displayName".into(), Value::String(display_name.to_owned()));
    if let Some(e) = external_id {
        out.insert("externalId".into(), Value::String(e.to_owned()));
    }
    out
}

pub fn render_group(view: &GroupView<'_>) -> Value {
    let mut out = patchable(view.display_name, view.external_id, view.attributes);
    let mut schemas = vec![GROUP_SCHEMA.to_owned()];
    schemas.extend(out.keys().filter(|k| k.starts_with("urn:")).cloned());
    out.insert("schemas".into(), json!(schemas));
    out.insert("id".into(), Value::String(view.id.to_owned()));
    if let Some(members) = view.members {
        out.insert(
            "members".into(),
            Value::Array(
                members
                    .iter()
                    .map(|(id, display)| {
                        json!({"value": id, "display": display, "type": "User", "$ref": format!("{}/Users/{id}", view.base_url)})
                    })
                    .collect(),
            ),
        );
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": scim_time(view.created),
            "lastModified": scim_time(view.last_modified),
            "location": format!("{}/Groups/{}", view.base_url, view.id),
            "version": etag(view.version),
        }),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_references_in_every_shape() {
        assert_eq!(
            member_values(&json!([{"value": "a", "display": "A"}, {"$ref": null, "value": "b"}, "c", {"Value": "d"}])),
            ["a", "b", "c", "d"]
        );
        assert_eq!(member_values(&json!({"value": "x"})), ["x"]);
        assert!(member_values(&json!([])).is_empty());
    }
}
