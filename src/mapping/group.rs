//! SCIM Group ↔ group rows. Memberships are not part of the stored attributes: they are rows of
//! their own, changed set-wise.

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};

use super::{etag, scim_time};
use crate::domain::Role;
use crate::domain::provisioning::{Group, GroupChange, GroupProfile, MembershipChange};
use crate::scim::patch::{OpKind, PatchOperation, apply};
use crate::scim::resource::canonicalise;
use crate::scim::schema::{GROUP, GROUP_SCHEMA, ROSTER_GROUP_SCHEMA};
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

impl GroupInput {
    /// The group's own attributes as the domain holds them; roster's Group extension `role`, when
    /// the body has one, is the role the provider binds the group to (it stays in the attributes,
    /// so that later changes keep it).
    pub fn profile(&self) -> Result<GroupProfile, ScimError> {
        let role = match self
            .attributes
            .get(ROSTER_GROUP_SCHEMA)
            .and_then(|e| e.get("role"))
            .and_then(Value::as_str)
        {
            None => None,
            Some(r) => Some(
                r.parse::<Role>()
                    .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.to_string()))?,
            ),
        };
        Ok(GroupProfile {
            display_name: self.display_name.clone(),
            external_id: self.external_id.clone(),
            attributes: self.attributes.clone(),
            role,
        })
    }
}

/// A full Group body (`PUT`): the attributes, and the members when the body has them.
pub fn replacement(input: &GroupInput) -> Result<GroupChange, ScimError> {
    Ok(GroupChange {
        profile: Some(input.profile()?),
        members: input
            .members
            .clone()
            .map(MembershipChange::Replace)
            .into_iter()
            .collect(),
        ..GroupChange::default()
    })
}

/// A PATCH of a group: member operations (in every form IdPs send) become membership changes,
/// in order; the rest is applied to the group's own attributes.
pub fn patch_change(group: &Group, operations: &[PatchOperation]) -> Result<GroupChange, ScimError> {
    let mut members = Vec::new();
    let mut own_ops = Vec::new();
    for operation in operations {
        match &operation.path {
            Some(path) if is_members_path(path) => members.extend(member_operation(path, operation)?),
            Some(_) => own_ops.push(operation.clone()),
            None => {
                // A path-less value may carry `members` next to the group's own attributes.
                let Some(value) = operation.value.as_ref().and_then(Value::as_object) else {
                    own_ops.push(operation.clone());
                    continue;
                };
                let mut rest = Map::new();
                for (k, v) in value {
                    if k.eq_ignore_ascii_case("members") {
                        let single = PatchOperation {
                            op: operation.op,
                            path: Some("members".into()),
                            value: Some(v.clone()),
                        };
                        members.extend(member_operation("members", &single)?);
                    } else {
                        rest.insert(k.clone(), v.clone());
                    }
                }
                if !rest.is_empty() {
                    own_ops.push(PatchOperation {
                        op: operation.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
        }
    }
    let profile = if own_ops.is_empty() {
        None
    } else {
        let current = patchable(&group.display_name, group.external_id.as_deref(), &group.attributes);
        let patched = apply(&current, &own_ops, &GROUP)?;
        Some(group_input(&canonicalise(&patched, &GROUP, true), None)?.profile()?)
    };
    Ok(GroupChange {
        profile,
        members,
        ..GroupChange::default()
    })
}

fn is_members_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let lower = lower
        .strip_prefix(&format!("{}:", GROUP_SCHEMA.to_ascii_lowercase()))
        .unwrap_or(&lower)
        .to_owned();
    lower == "members" || lower.starts_with("members[") || lower.starts_with("members.")
}

/// One member operation. A `remove` with a value removes those members only, never all of them
/// (Entra's form); without a value, all of them. A value naming nobody changes nothing.
fn member_operation(path: &str, operation: &PatchOperation) -> Result<Option<MembershipChange>, ScimError> {
    if path.contains('[') {
        let parsed: PatchPath = crate::scim::filter::normalise(path)
            .parse()
            .map_err(|_| ScimError::bad_request(ScimType::InvalidPath, format!("cannot parse path {path:?}")))?;
        let PatchPath::Value(vp) = parsed else {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("cannot parse path {path:?}"),
            ));
        };
        let named = filtered_member_values(&vp.filter)?;
        return match operation.op {
            OpKind::Remove => Ok(Some(MembershipChange::Remove(named))),
            _ => Err(ScimError::bad_request(
                ScimType::InvalidPath,
                "members are added with the path \"members\"",
            )),
        };
    }
    if !path.eq_ignore_ascii_case("members") && !path.to_ascii_lowercase().ends_with(":members") {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            format!("{path:?} cannot be changed"),
        ));
    }
    let values = operation.value.as_ref().map(member_values);
    Ok(match operation.op {
        OpKind::Add => {
            let values =
                values.ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, "add members needs a value"))?;
            Some(MembershipChange::Add(values))
        }
        OpKind::Replace => Some(MembershipChange::Replace(values.unwrap_or_default())),
        OpKind::Remove => match (operation.value.as_ref(), values) {
            (None, _) => Some(MembershipChange::RemoveAll),
            (Some(_), Some(values)) if !values.is_empty() => Some(MembershipChange::Remove(values)),
            // `[]`, `null` or elements without a usable `value`: nothing is named, nothing goes.
            (Some(_), _) => None,
        },
    })
}

/// The member ids a `members[...]` filter names: `value eq "x"`, joined by `or`.
fn filtered_member_values(filter: &ValFilter) -> Result<Vec<String>, ScimError> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(v)))
            if path.name.eq_ignore_ascii_case("value") =>
        {
            Ok(vec![v.clone()])
        }
        ValFilter::Or(items) => Ok(items
            .iter()
            .map(filtered_member_values)
            .collect::<Result<Vec<_>, _>>()?
            .concat()),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidFilter,
            "a members filter selects members by value eq, joined by or",
        )),
    }
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

    fn op(op: OpKind, path: &str, value: Option<Value>) -> PatchOperation {
        PatchOperation {
            op,
            path: Some(path.into()),
            value,
        }
    }

    #[test]
    fn member_operations_in_the_forms_idps_send() {
        let remove = |value| member_operation("members", &op(OpKind::Remove, "members", value)).unwrap();
        assert_eq!(remove(None), Some(MembershipChange::RemoveAll));
        assert_eq!(
            remove(Some(json!([{"$ref": null, "value": "m-1"}]))),
            Some(MembershipChange::Remove(vec!["m-1".into()]))
        );
        assert_eq!(
            remove(Some(json!([{"display": "x"}]))),
            None,
            "names nobody: removes nobody"
        );
        assert_eq!(remove(Some(json!([]))), None);
        assert_eq!(
            member_operation(
                "members[value eq \"a\" or value eq \"b\"]",
                &op(OpKind::Remove, "members[value eq \"a\" or value eq \"b\"]", None)
            )
            .unwrap(),
            Some(MembershipChange::Remove(vec!["a".into(), "b".into()]))
        );
        assert!(
            member_operation(
                "members[value eq \"a\"]",
                &op(OpKind::Add, "members[value eq \"a\"]", Some(json!([])))
            )
            .is_err()
        );
    }
}
