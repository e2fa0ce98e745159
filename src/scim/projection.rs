//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) over a rendered resource.
//! `schemas`, `id` and `meta` are always kept (IdPs rely on them), `returned: never` attributes are
//! never shown, and value paths (`emails[type eq "work"]`) name their attribute.

use serde_json::{Map, Value};

use super::schema::{Resolved, ResourceSchema, Returned};

#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Only these (plus the always-returned ones). Empty: the default set.
    pub attributes: Vec<Resolved>,
    pub excluded: Vec<Resolved>,
}

/// Reads the comma-separated lists. Unknown names are ignored, as clients ask for optional
/// attributes servers may not have.
pub fn parse(attributes: Option<&str>, excluded: Option<&str>, schema: &ResourceSchema) -> Projection {
    let list = |raw: Option<&str>| -> Vec<Resolved> {
        raw.into_iter()
            .flat_map(|r| r.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|path| {
                // `emails[type eq "work"]` or `emails[type eq "work"].value`: the attribute (and sub).
                let path = match path.split_once('[') {
                    Some((attr, rest)) => {
                        let sub = rest.rsplit_once("].").map(|(_, s)| s);
                        match sub {
                            Some(s) => format!("{attr}.{s}"),
                            None => attr.to_owned(),
                        }
                    }
                    None => path.to_owned(),
                };
                schema.resolve_path(&path)
            })
            .collect()
    };
    Projection {
        attributes: list(attributes),
        excluded: list(excluded),
    }
}

impl Projection {
    /// Whether a caller asked for `members` (so it must be loaded) or excluded it.
    pub fn wants(&self, name: &str) -> bool {
        let named = |list: &[Resolved]| list.iter().any(|r| r.extension.is_none() && r.attr.name == name);
        if !self.attributes.is_empty() {
            return named(&self.attributes);
        }
        !self
            .excluded
            .iter()
            .any(|r| r.extension.is_none() && r.attr.name == name && r.sub.is_none())
    }

    pub fn apply(&self, resource: Value, schema: &ResourceSchema) -> Value {
        let Value::Object(mut map) = resource else {
            return resource;
        };
        strip_never(&mut map, schema);
        if !self.attributes.is_empty() {
            map = self.keep_only(map);
        } else {
            for r in &self.excluded {
                remove(&mut map, r);
            }
        }
        Value::Object(map)
    }

    fn keep_only(&self, map: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for always in ["schemas", "id", "meta"] {
            if let Some(v) = map.get(always) {
                out.insert(always.to_owned(), v.clone());
            }
        }
        for r in &self.attributes {
            let source = match r.extension {
                None => Some(&map),
                Some(urn) => map.get(urn).and_then(Value::as_object),
            };
            let Some(value) = source.and_then(|s| s.get(r.attr.name)) else {
                continue;
            };
            let picked = match r.sub {
                None => value.clone(),
                Some(sub) => match value {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .filter_map(|e| e.get(sub.name).map(|v| serde_json::json!({ sub.name: v })))
                            .collect(),
                    ),
                    Value::Object(obj) => match obj.get(sub.name) {
                        Some(v) => serde_json::json!({ sub.name: v }),
                        None => continue,
                    },
                    _ => continue,
                },
            };
            let target = match r.extension {
                None => &mut out,
                Some(urn) => out
                    .entry(urn.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .expect("object"),
            };
            match (target.get_mut(r.attr.name), picked) {
                (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                (_, picked) => {
                    target.insert(r.attr.name.to_owned(), picked);
                }
            }
        }
        out
    }
}

fn strip_never(map: &mut Map<String, Value>, schema: &ResourceSchema) {
    for a in schema.core_attributes.iter().filter(|a| a.returned == Returned::Never) {
        map.remove(a.name);
    }
}

fn remove(map: &mut Map<String, Value>, r: &Resolved) {
    // Always-returned attributes cannot be excluded.
    if r.extension.is_none() && matches!(r.attr.name, "id" | "schemas" | "meta") {
        return;
    }
    let container = match r.extension {
        None => Some(map),
        Some(urn) => map.get_mut(urn).and_then(Value::as_object_mut),
    };
    let Some(container) = container else { return };
    match r.sub {
        None => {
            container.remove(r.attr.name);
        }
        Some(sub) => match container.get_mut(r.attr.name) {
            Some(Value::Array(items)) => {
                for e in items.iter_mut().filter_map(Value::as_object_mut) {
                    e.remove(sub.name);
                }
            }
            Some(Value::Object(obj)) => {
                obj.remove(sub.name);
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP, USER};

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1", "meta": {"resourceType": "User"},
            "userName": "u", "displayName": "U", "password": "never shown",
            "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
            ENTERPRISE_USER_SCHEMA: {"department": "D", "employeeNumber": "7"}
        })
    }

    #[test]
    fn attributes_keep_only_what_is_asked_and_the_essentials() {
        let p = parse(
            Some(
                "userName,name.familyName,emails[type eq \"work\"],urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            None,
            &USER,
        );
        let out = p.apply(user(), &USER);
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "meta": {"resourceType": "User"},
                "userName": "u", "name": {"familyName": "F"},
                "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
                ENTERPRISE_USER_SCHEMA: {"department": "D"}
            })
        );
        let out = parse(Some("emails.value"), None, &USER).apply(user(), &USER);
        assert_eq!(out["emails"], json!([{"value": "a@x"}, {"value": "b@x"}]));
    }

    #[test]
    fn excluded_attributes_and_never_returned() {
        let out = parse(None, Some("emails,name.givenName,id,meta"), &USER).apply(user(), &USER);
        assert!(out.get("emails").is_none() && out.get("password").is_none());
        assert_eq!(out["name"], json!({"familyName": "F"}));
        assert_eq!(
            (out["id"].as_str(), out["meta"]["resourceType"].as_str()),
            (Some("1"), Some("User"))
        );
        let p = parse(None, Some("members"), &GROUP);
        assert!(!p.wants("members"));
        assert!(parse(None, None, &GROUP).wants("members"));
        assert!(!parse(Some("displayName"), None, &GROUP).wants("members"));
    }
}
