//! The canonical JSON form of a resource: core attributes at the top level under their canonical
//! names, extension attributes in an object under the extension's URN. Client input is brought to
//! this form first (names matched case-insensitively, dotted and URN-qualified keys placed where they
//! belong, `"True"`/`"False"` strings read as booleans, unknown attributes dropped).

use serde_json::{Map, Value};

use super::schema::{AttrDef, AttrType, Mutability, Resolved, ResourceSchema};

/// Reads a boolean the way IdPs send them: JSON booleans, or the strings true/false in any case.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Brings one attribute's value to canonical form for its definition.
pub fn canonical_value(def: &AttrDef, value: &Value) -> Value {
    match (def.ty, value) {
        (_, Value::Null) => Value::Null,
        (_, Value::Array(items)) if def.multi_valued => {
            Value::Array(items.iter().map(|v| canonical_element(def, v)).collect())
        }
        // A single value for a multi-valued attribute: a one-element array (Entra's `manager` aside,
        // which is single-valued).
        (_, v) if def.multi_valued => Value::Array(vec![canonical_element(def, v)]),
        // A one-element array for a single-valued attribute (Entra's `manager: [{value}]`).
        (_, Value::Array(items)) if items.len() == 1 => canonical_element(def, &items[0]),
        (_, v) => canonical_element(def, v),
    }
}

fn canonical_element(def: &AttrDef, value: &Value) -> Value {
    match (def.ty, value) {
        (AttrType::Complex, Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(sub) = def.sub_attributes.iter().find(|s| s.name.eq_ignore_ascii_case(k)) {
                    out.insert(sub.name.to_owned(), canonical_value(sub, v));
                }
            }
            Value::Object(out)
        }
        // A bare value for a complex attribute: its `value` (Entra's `manager: "id"`).
        (AttrType::Complex, v @ (Value::String(_) | Value::Number(_)))
            if def.sub_attributes.iter().any(|s| s.name == "value") =>
        {
            let mut out = Map::new();
            out.insert("value".into(), v.clone());
            Value::Object(out)
        }
        (AttrType::Boolean, v) => as_bool(v).map(Value::Bool).unwrap_or_else(|| v.clone()),
        (AttrType::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttrType::String, Value::Bool(b)) => Value::String(b.to_string()),
        (_, v) => v.clone(),
    }
}

/// Sets `value` at a resolved location, creating the extension object or complex parent as needed.
pub fn set_at(resource: &mut Map<String, Value>, at: &Resolved, value: Value) {
    let container = container_mut(resource, at);
    match at.sub {
        None => {
            container.insert(at.attr.name.to_owned(), value);
        }
        Some(sub) => {
            let parent = container
                .entry(at.attr.name.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            parent
                .as_object_mut()
                .expect("object")
                .insert(sub.name.to_owned(), value);
        }
    }
}

pub fn container_mut<'a>(resource: &'a mut Map<String, Value>, at: &Resolved) -> &'a mut Map<String, Value> {
    match at.extension {
        None => resource,
        Some(urn) => {
            let ext = resource
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut().expect("object")
        }
    }
}

pub fn get_at<'a>(resource: &'a Map<String, Value>, at: &Resolved) -> Option<&'a Value> {
    let container = match at.extension {
        None => resource,
        Some(urn) => resource.get(urn)?.as_object()?,
    };
    let value = container.get(at.attr.name)?;
    match at.sub {
        None => Some(value),
        Some(sub) => value.as_object()?.get(sub.name),
    }
}

/// Canonicalises a client's resource body (POST, PUT, path-less PATCH values). Read-only
/// attributes are dropped when `drop_read_only` (a client may echo `id`, `meta`, `groups`).
pub fn canonicalise(input: &Map<String, Value>, schema: &ResourceSchema, drop_read_only: bool) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        // An extension object: `"urn:…:enterprise:2.0:User": {"department": …}`.
        if let Some((urn, attrs)) = schema.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(key)) {
            if let Value::Object(fields) = value {
                for (k, v) in fields {
                    if let Some(def) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(k)) {
                        if drop_read_only && def.mutability == Mutability::ReadOnly {
                            continue;
                        }
                        let at = Resolved {
                            extension: Some(urn),
                            attr: def,
                            sub: None,
                        };
                        set_at(&mut out, &at, canonical_value(def, v));
                    }
                }
            }
            continue;
        }
        // A plain, dotted or URN-qualified key.
        let Some(at) = schema.resolve_path(key) else { continue };
        if drop_read_only
            && (at.attr.mutability == Mutability::ReadOnly || at.leaf().mutability == Mutability::ReadOnly)
        {
            continue;
        }
        match at.sub {
            None => {
                let canonical = canonical_value(at.attr, value);
                // `name` and `name.givenName` keys in one body merge.
                match (get_at(&out, &at).cloned(), canonical) {
                    (Some(Value::Object(mut existing)), Value::Object(new)) if !at.attr.multi_valued => {
                        existing.extend(new);
                        set_at(&mut out, &at, Value::Object(existing));
                    }
                    (_, canonical) => set_at(&mut out, &at, canonical),
                }
            }
            Some(sub) => set_at(&mut out, &at, canonical_value(sub, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::USER;

    #[test]
    fn client_bodies_are_canonicalised() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "USERNAME": "a@x.com",
            "name": {"FamilyName": "Doe", "givenname": "Jo"},
            "name.middleName": "Q",
            "emails": {"Value": "a@x.com", "Primary": "True"},
            "active": "False",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "R&D", "manager": "m-1"},
            "id": "ignored", "meta": {"version": "x"}, "groups": [], "unknown": 1, "department": null
        });
        let out = canonicalise(body.as_object().unwrap(), &USER, true);
        assert_eq!(
            Value::Object(out),
            json!({
                "userName": "a@x.com",
                "name": {"familyName": "Doe", "givenName": "Jo", "middleName": "Q"},
                "emails": [{"value": "a@x.com", "primary": true}],
                "active": false,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": "42", "department": "R&D", "manager": {"value": "m-1"}
                }
            })
        );
    }
}
