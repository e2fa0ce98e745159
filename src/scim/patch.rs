//! PATCH (RFC 7644 §3.5.2) over a resource's canonical JSON: `add`, `replace`, `remove` (any case),
//! every path form (attribute, sub-attribute, URN-qualified, value-path filter with or without a
//! sub-attribute, none with dotted or URN keys in the value). Operations are applied to a copy, so a
//! failing operation leaves nothing half-applied.

use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::error::{ScimError, ScimType};
use super::resource::{as_bool, canonical_value, canonicalise, container_mut, get_at, set_at};
use super::schema::{AttrDef, AttrType, Mutability, Resolved, ResourceSchema};

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct PatchOperation {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp request body.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let syntax = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d);
    let object = body
        .as_object()
        .ok_or_else(|| syntax("a PATCH body is a JSON object"))?;
    if let Some(schemas) = object.get("schemas")
        && !schemas.as_array().is_some_and(|s| {
            s.iter()
                .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
        })
    {
        return Err(syntax(
            "schemas must contain urn:ietf:params:scim:api:messages:2.0:PatchOp",
        ));
    }
    let operations = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .ok_or_else(|| syntax("a PATCH body needs an Operations array"))?;
    if operations.is_empty() {
        return Err(syntax("Operations is empty"));
    }
    operations
        .iter()
        .map(|o| {
            let o = o.as_object().ok_or_else(|| syntax("each operation is an object"))?;
            let field = |name: &str| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
            let op = match field("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => OpKind::Add,
                Some("replace") => OpKind::Replace,
                Some("remove") => OpKind::Remove,
                other => {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidSyntax,
                        format!("unknown op {other:?}: expected add, replace or remove"),
                    ));
                }
            };
            let path = match field("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.trim().to_owned()),
                Some(_) => return Err(ScimError::bad_request(ScimType::InvalidPath, "path must be a string")),
            };
            Ok(PatchOperation {
                op,
                path,
                value: field("value").cloned(),
            })
        })
        .collect()
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

/// A parsed target.
enum Target {
    Attr(Resolved),
    /// `attr[filter]` or `attr[filter].sub`.
    Filtered {
        attr: Resolved,
        filter: ValFilter,
        sub: Option<&'static AttrDef>,
    },
}

fn parse_target(path: &str, schema: &ResourceSchema) -> Result<Target, ScimError> {
    if !path.contains('[') {
        let at = schema
            .resolve_path(path)
            .ok_or_else(|| invalid_path(format!("unknown attribute {path:?}")))?;
        return Ok(Target::Attr(at));
    }
    let normalised = super::filter::normalise(path);
    let parsed: PatchPath = normalised
        .parse()
        .map_err(|_| invalid_path(format!("cannot parse path {path:?}")))?;
    match parsed {
        PatchPath::Attr(a) => schema
            .resolve(a.uri.as_deref(), &a.name, a.sub_attr.as_deref())
            .map(Target::Attr)
            .ok_or_else(|| invalid_path(format!("unknown attribute {path:?}"))),
        PatchPath::Value(vp) => {
            let attr = schema
                .resolve(vp.attr.uri.as_deref(), &vp.attr.name, None)
                .filter(|r| r.attr.multi_valued && r.attr.ty == AttrType::Complex)
                .ok_or_else(|| invalid_path(format!("{} is not a multi-valued complex attribute", vp.attr)))?;
            let sub = match vp.sub_attr {
                None => None,
                Some(s) => Some(
                    attr.attr
                        .sub_attributes
                        .iter()
                        .find(|d| d.name.eq_ignore_ascii_case(&s))
                        .ok_or_else(|| invalid_path(format!("unknown sub-attribute {s:?}")))?,
                ),
            };
            Ok(Target::Filtered {
                attr,
                filter: vp.filter,
                sub,
            })
        }
    }
}

/// A URN path that no schema of this resource claims.
fn check_writable(def: &AttrDef, name: &str) -> Result<(), ScimError> {
    if def.mutability == Mutability::ReadOnly {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("{name} is read-only"),
        ));
    }
    Ok(())
}

/// Applies `operations` to `resource` (canonical JSON) and returns the new resource.
pub fn apply(
    resource: &Map<String, Value>,
    operations: &[PatchOperation],
    schema: &ResourceSchema,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = resource.clone();
    for operation in operations {
        apply_one(&mut out, operation, schema)?;
    }
    Ok(out)
}

fn apply_one(
    resource: &mut Map<String, Value>,
    operation: &PatchOperation,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let Some(path) = &operation.path else {
        return match operation.op {
            OpKind::Remove => Err(ScimError::bad_request(ScimType::NoTarget, "remove needs a path")),
            op => {
                let value = operation
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid_value("an add or replace without a path needs an object value"))?;
                // Dotted and URN-qualified keys go where they belong; read-only ones (an echoed
                // `id`, `meta`) are ignored.
                let attributes = canonicalise(value, schema, true);
                for (key, v) in attributes {
                    if let Some((urn, _)) = schema.extensions.iter().find(|(u, _)| *u == key) {
                        for (k, ev) in v.as_object().into_iter().flatten() {
                            let at = schema.resolve(Some(urn), k, None).expect("canonical names resolve");
                            write(resource, &at, ev.clone(), op)?;
                        }
                    } else {
                        let at = schema.resolve(None, &key, None).expect("canonical names resolve");
                        write(resource, &at, v, op)?;
                    }
                }
                Ok(())
            }
        };
    };
    // The path is an extension's URN: its value holds that extension's attributes.
    if let Some((urn, _)) = schema.extensions.iter().find(|(u, _)| u.eq_ignore_ascii_case(path)) {
        return match operation.op {
            OpKind::Remove => {
                resource.remove(*urn);
                Ok(())
            }
            op => {
                let value = operation.value.clone().filter(Value::is_object).ok_or_else(|| {
                    invalid_value(format!("{path}: the value is an object of that extension's attributes"))
                })?;
                let mut wrapped = Map::new();
                wrapped.insert((*urn).to_owned(), value);
                apply_one(
                    resource,
                    &PatchOperation {
                        op,
                        path: None,
                        value: Some(Value::Object(wrapped)),
                    },
                    schema,
                )
            }
        };
    }
    if schema.is_unknown_extension(path) {
        // An extension this server does not know (an IdP's custom schema, e.g. Entra's
        // `urn:ietf:params:scim:schemas:extension:<app>:2.0:User:<attr>`): dropped, as it is from a
        // body, rather than failing a provisioning run over it.
        return Ok(());
    }
    match parse_target(path, schema)? {
        Target::Attr(at) => {
            check_writable(at.attr, path)?;
            check_writable(at.leaf(), path)?;
            match operation.op {
                OpKind::Remove => {
                    remove(resource, &at, operation.value.as_ref());
                    Ok(())
                }
                op => {
                    let value = operation
                        .value
                        .clone()
                        .ok_or_else(|| invalid_value(format!("{path}: a value is required")))?;
                    let canonical = canonical_value(at.leaf(), &value);
                    write(resource, &at, canonical, op)
                }
            }
        }
        Target::Filtered { attr, filter, sub } => {
            check_writable(attr.attr, path)?;
            if let Some(s) = sub {
                check_writable(s, path)?;
            }
            apply_filtered(resource, &attr, &filter, sub, operation)
        }
    }
}

/// add/replace of a (canonical) value at an attribute or sub-attribute.
fn write(resource: &mut Map<String, Value>, at: &Resolved, value: Value, op: OpKind) -> Result<(), ScimError> {
    let def = at.leaf();
    if at.sub.is_none() && def.multi_valued {
        let new_items = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        let container = container_mut(resource, at);
        let mut items = match (op, container.get(def.name)) {
            (OpKind::Add, Some(Value::Array(existing))) => existing.clone(),
            _ => Vec::new(),
        };
        for item in new_items {
            // Adding a value already there changes nothing (by `value` when elements have one).
            if let Some(pos) = items.iter().position(|e| same_element(e, &item)) {
                merge_into(&mut items[pos], item);
            } else {
                items.push(item);
            }
        }
        keep_one_primary(&mut items);
        container.insert(def.name.to_owned(), Value::Array(items));
        return Ok(());
    }
    if at.sub.is_none() && def.ty == AttrType::Complex {
        // Sub-attributes given replace or add; the others stay (RFC 7644 §3.5.2.1 and .3).
        if let Value::Object(fields) = value {
            let mut current = get_at(resource, at)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            current.extend(fields);
            set_at(resource, at, Value::Object(current));
            return Ok(());
        }
    }
    if let (Some(sub), true) = (at.sub, at.attr.multi_valued) {
        // `emails.value` without a filter: a path without a filter targets all the values
        // (RFC 7644 §3.5.2), so every element gets the sub-attribute; an attribute with no element
        // yet gets one holding it. The array never becomes an object.
        let container = container_mut(resource, at);
        match container.get_mut(at.attr.name) {
            Some(Value::Array(items)) if !items.is_empty() => {
                for item in items.iter_mut() {
                    if !item.is_object() {
                        *item = Value::Object(Map::new());
                    }
                    if let Some(fields) = item.as_object_mut() {
                        fields.insert(sub.name.to_owned(), value.clone());
                    }
                }
                if sub.name == "value" {
                    // Elements now equal by `value` are one element: the first (the primary, if
                    // one is marked) stays.
                    items.sort_by_key(|e| e.get("primary").and_then(as_bool) != Some(true));
                    items.truncate(1);
                }
            }
            _ => {
                let mut element = Map::new();
                element.insert(sub.name.to_owned(), value);
                container.insert(at.attr.name.to_owned(), Value::Array(vec![Value::Object(element)]));
            }
        }
        return Ok(());
    }
    set_at(resource, at, value);
    Ok(())
}

fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn merge_into(target: &mut Value, incoming: Value) {
    match (target.as_object_mut(), incoming) {
        (Some(t), Value::Object(i)) => t.extend(i),
        (_, incoming) => *target = incoming,
    }
}

/// At most one element may be primary: the last one marked wins.
fn keep_one_primary(items: &mut [Value]) {
    let last = items
        .iter()
        .rposition(|e| e.get("primary").and_then(as_bool) == Some(true));
    if let Some(last) = last {
        for (i, e) in items.iter_mut().enumerate() {
            if i != last
                && let Some(obj) = e.as_object_mut()
                && obj.get("primary").and_then(as_bool) == Some(true)
            {
                obj.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

fn remove(resource: &mut Map<String, Value>, at: &Resolved, value: Option<&Value>) {
    let def = at.attr;
    let container = container_mut(resource, at);
    match at.sub {
        Some(sub) => {
            // `emails.value` removes that sub-attribute from every element (or the complex value).
            match container.get_mut(def.name) {
                Some(Value::Array(items)) => {
                    for e in items.iter_mut().filter_map(Value::as_object_mut) {
                        e.remove(sub.name);
                    }
                }
                Some(Value::Object(obj)) => {
                    obj.remove(sub.name);
                }
                _ => {}
            }
        }
        None if def.multi_valued => {
            // With a value: remove those elements only (Entra's members removal); without: all.
            let targets: Option<Vec<Value>> = match value {
                Some(Value::Array(items)) if !items.is_empty() => {
                    Some(items.iter().map(|v| canonical_value_element(def, v)).collect())
                }
                Some(v @ Value::Object(_)) => Some(vec![canonical_value_element(def, v)]),
                _ => None,
            };
            match (targets, container.get_mut(def.name)) {
                (Some(targets), Some(Value::Array(items))) => {
                    items.retain(|e| !targets.iter().any(|t| same_element(e, t)));
                }
                (Some(_), _) => {}
                (None, _) => {
                    container.remove(def.name);
                }
            }
        }
        None => {
            container.remove(def.name);
        }
    }
}

fn canonical_value_element(def: &AttrDef, v: &Value) -> Value {
    match canonical_value(def, v) {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => other,
    }
}

fn apply_filtered(
    resource: &mut Map<String, Value>,
    attr: &Resolved,
    filter: &ValFilter,
    sub: Option<&'static AttrDef>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    let def = attr.attr;
    let container = container_mut(resource, attr);
    let mut items = match container.remove(def.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| matches(e, filter, def))
        .map(|(i, _)| i)
        .collect();
    let value = operation.value.clone();
    match operation.op {
        OpKind::Remove => match sub {
            Some(s) => {
                for &i in &matching {
                    if let Some(obj) = items[i].as_object_mut() {
                        obj.remove(s.name);
                    }
                }
            }
            None => {
                let mut index = 0;
                items.retain(|_| {
                    let keep = !matching.contains(&index);
                    index += 1;
                    keep
                });
            }
        },
        op => {
            let value = value.ok_or_else(|| invalid_value("a value is required"))?;
            let targets = if matching.is_empty() {
                // Entra creates the element the filter describes (RFC 7644 would answer noTarget).
                items.push(Value::Object(element_from_filter(filter, def)));
                vec![items.len() - 1]
            } else {
                matching
            };
            for i in targets {
                let element = items[i].as_object_mut().expect("elements are objects");
                match sub {
                    Some(s) => {
                        element.insert(s.name.to_owned(), canonical_value(s, &value));
                    }
                    None => {
                        if let Value::Array(mut single) = canonical_value(def, &value)
                            && let Some(Value::Object(fields)) = single.pop()
                        {
                            if op == OpKind::Replace {
                                let identity = element_from_filter(filter, def);
                                element.clear();
                                element.extend(identity);
                            }
                            element.extend(fields);
                        }
                    }
                }
            }
            keep_one_primary(&mut items);
        }
    }
    if !items.is_empty() {
        container.insert(def.name.to_owned(), Value::Array(items));
    }
    Ok(())
}

/// The element a filter of equalities describes (`type eq "work"` → `{"type": "work"}`).
fn element_from_filter(filter: &ValFilter, def: &AttrDef) -> Map<String, Value> {
    let mut out = Map::new();
    let mut visit = vec![filter];
    while let Some(f) = visit.pop() {
        match f {
            ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, value)) => {
                if let Some(sub) = def
                    .sub_attributes
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(&path.name))
                {
                    out.insert(sub.name.to_owned(), comp_value_json(sub, value));
                }
            }
            ValFilter::And(items) => visit.extend(items.iter()),
            _ => {}
        }
    }
    out
}

fn comp_value_json(def: &AttrDef, v: &CompValue) -> Value {
    match v {
        CompValue::Str(s) => canonical_value(def, &Value::String(s.clone())),
        CompValue::Number(n) => Value::Number(n.clone()),
        CompValue::True => Value::Bool(true),
        CompValue::False => Value::Bool(false),
        CompValue::Null => Value::Null,
    }
}

/// Whether an element of a multi-valued attribute meets a value filter.
pub fn matches(element: &Value, filter: &ValFilter, def: &AttrDef) -> bool {
    match filter {
        ValFilter::And(items) => items.iter().all(|f| matches(element, f, def)),
        ValFilter::Or(items) => items.iter().any(|f| matches(element, f, def)),
        ValFilter::Not(inner) => !matches(element, inner, def),
        ValFilter::Attr(AttrExp::Present(path)) => field(element, &path.name).is_some_and(|v| !v.is_null() && v != ""),
        ValFilter::Attr(AttrExp::Comparison(path, op, expected)) => {
            let sub = def
                .sub_attributes
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&path.name));
            let case_exact = sub.is_some_and(|s| s.case_exact);
            let actual = field(element, &path.name);
            compare(actual, op, expected, case_exact)
        }
    }
}

fn field<'a>(element: &'a Value, name: &str) -> Option<&'a Value> {
    element
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn compare(actual: Option<&Value>, op: &CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    let actual = match actual {
        None | Some(Value::Null) => {
            return matches!((op, expected), (CompareOp::Eq, CompValue::Null) | (CompareOp::Ne, _));
        }
        Some(v) => v,
    };
    let expected = match expected {
        CompValue::Null => return matches!(op, CompareOp::Ne),
        CompValue::True | CompValue::False => {
            let equal = as_bool(actual) == Some(matches!(expected, CompValue::True));
            return match op {
                CompareOp::Eq => equal,
                CompareOp::Ne => !equal,
                _ => false,
            };
        }
        CompValue::Str(s) => s.clone(),
        CompValue::Number(n) => n.to_string(),
    };
    let actual = match actual {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let fold = |s: &str| if case_exact { s.to_owned() } else { s.to_lowercase() };
    let (a, e) = (fold(&actual), fold(&expected));
    match op {
        CompareOp::Eq => a == e,
        CompareOp::Ne => a != e,
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        CompareOp::Gt => a > e,
        CompareOp::Ge => a >= e,
        CompareOp::Lt => a < e,
        CompareOp::Le => a <= e,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP, USER};

    fn user() -> Map<String, Value> {
        json!({
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@home.example", "type": "home"}
            ],
            "active": true
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn patch(resource: &Map<String, Value>, ops: Value) -> Result<Value, ScimError> {
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops});
        apply(resource, &parse_request(&body)?, &USER).map(Value::Object)
    }

    fn ok(resource: &Map<String, Value>, ops: Value) -> Value {
        patch(resource, ops).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn err(resource: &Map<String, Value>, ops: Value) -> Option<ScimType> {
        patch(resource, ops).unwrap_err().scim_type
    }

    #[test]
    fn plain_sub_attribute_and_urn_paths() {
        let r = ok(
            &user(),
            json!([{"op": "Replace", "path": "userName", "value": "b@x.com"}]),
        );
        assert_eq!(r["userName"], "b@x.com");
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "name.givenName", "value": "Babs"}]),
        );
        assert_eq!(
            r["name"],
            json!({"givenName": "Babs", "familyName": "Jensen", "middleName": "J"})
        );
        let r = ok(
            &user(),
            json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"}]),
        );
        assert_eq!(r[ENTERPRISE_USER_SCHEMA]["department"], "R&D");
        let r = ok(&user(), json!([{"op": "remove", "path": "name.middleName"}]));
        assert!(r["name"].get("middleName").is_none());
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "name", "value": {"givenName": "B"}}]),
        );
        assert_eq!(
            r["name"]["familyName"], "Jensen",
            "complex replace keeps unnamed sub-attributes"
        );
        let r = ok(&user(), json!([{"op": "replace", "path": "active", "value": "False"}]));
        assert_eq!(r["active"], false, "string booleans");
    }

    #[test]
    fn multi_valued_rules() {
        // add unions (an existing value is not duplicated) and keeps one primary
        let r = ok(
            &user(),
            json!([{"op": "add", "path": "emails", "value": [
                {"value": "babs@home.example", "type": "home"},
                {"value": "new@example.com", "type": "other", "primary": true}
            ]}]),
        );
        let emails = r["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 3);
        assert_eq!(emails.iter().filter(|e| e["primary"] == true).count(), 1);
        assert_eq!(emails[2]["primary"], true);
        // replace sets
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@x.com"}]}]),
        );
        assert_eq!(r["emails"], json!([{"value": "only@x.com"}]));
        // remove by filter, and a sub-attribute of matching elements
        let r = ok(&user(), json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
        assert_eq!(r["emails"].as_array().unwrap().len(), 1);
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}]),
        );
        assert_eq!(r["emails"][0]["value"], "w@x.com");
        assert_eq!(r["emails"][1]["value"], "babs@home.example");
        // remove all
        let r = ok(&user(), json!([{"op": "remove", "path": "emails"}]));
        assert!(r.get("emails").is_none());
    }

    #[test]
    fn a_sub_attribute_of_a_multi_valued_attribute_without_filter_stays_an_array() {
        // One element: its value changes, its other sub-attributes stay.
        let mut one = user();
        one.insert("emails".into(), json!([{"value": "a@x.com", "type": "work"}]));
        for op in ["replace", "add"] {
            let r = ok(&one, json!([{"op": op, "path": "emails.value", "value": "b@x.com"}]));
            assert_eq!(r["emails"], json!([{"value": "b@x.com", "type": "work"}]), "{op}");
        }
        // Several: they would all be the same address, so one element is left, the primary.
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "emails.value", "value": "c@x.com"}]),
        );
        assert_eq!(
            r["emails"],
            json!([{"value": "c@x.com", "type": "work", "primary": true}])
        );
        // Another sub-attribute goes on every element.
        let r = ok(
            &user(),
            json!([{"op": "replace", "path": "emails.type", "value": "other"}]),
        );
        assert_eq!(r["emails"].as_array().unwrap().len(), 2);
        assert!(r["emails"].as_array().unwrap().iter().all(|e| e["type"] == "other"));
        // None yet: one element holding it.
        let mut none = user();
        none.remove("emails");
        let r = ok(
            &none,
            json!([{"op": "add", "path": "emails.value", "value": "d@x.com"}]),
        );
        assert_eq!(r["emails"], json!([{"value": "d@x.com"}]));
        let r = ok(
            &none,
            json!([{"op": "replace", "path": "phoneNumbers.value", "value": "+15555550100"}]),
        );
        assert_eq!(r["phoneNumbers"], json!([{"value": "+15555550100"}]));
    }

    #[test]
    fn entra_creates_the_element_a_filter_names() {
        let r = ok(
            &user(),
            json!([
                {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Springfield"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+15555550100"},
                {"op": "Replace", "path": "emails[type eq \"other\"].value", "value": "o@x.com"}
            ]),
        );
        assert_eq!(
            r["addresses"],
            json!([{"type": "work", "formatted": "1 Main St", "locality": "Springfield"}])
        );
        assert_eq!(r["phoneNumbers"], json!([{"type": "mobile", "value": "+15555550100"}]));
        assert_eq!(r["emails"][2], json!({"type": "other", "value": "o@x.com"}));
    }

    #[test]
    fn path_less_values_with_dotted_and_urn_keys() {
        let r = ok(
            &user(),
            json!([{"op": "Replace", "value": {
                "id": "ignored", "meta": {"version": "W/\"x\""},
                "name.givenName": "Barb",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour"},
                "active": "False"
            }}]),
        );
        assert_eq!(r["name"]["givenName"], "Barb");
        assert_eq!(r["name"]["familyName"], "Jensen");
        assert_eq!(
            r[ENTERPRISE_USER_SCHEMA],
            json!({"employeeNumber": "701984", "department": "Tour"})
        );
        assert_eq!(r["active"], false);
        assert!(r.get("id").is_none() && r.get("meta").is_none());
        // Okta's deactivation.
        assert_eq!(
            ok(&user(), json!([{"op": "replace", "value": {"active": false}}]))["active"],
            false
        );
    }

    #[test]
    fn an_extension_urn_as_the_path() {
        let r = ok(
            &user(),
            json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"department": "Ops", "costCenter": "7"}}]),
        );
        assert_eq!(
            r[ENTERPRISE_USER_SCHEMA],
            json!({"department": "Ops", "costCenter": "7"})
        );
        let r = ok(
            &r.as_object().unwrap().clone(),
            json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]),
        );
        assert!(r.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn manager_in_every_shape() {
        for value in [
            json!("m-1"),
            json!({"value": "m-1"}),
            json!([{"$ref": null, "value": "m-1"}]),
        ] {
            for path in [
                "manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            ] {
                let r = ok(&user(), json!([{"op": "Add", "path": path, "value": value.clone()}]));
                assert_eq!(r[ENTERPRISE_USER_SCHEMA]["manager"]["value"], "m-1", "{path} {value}");
            }
        }
    }

    #[test]
    fn errors_and_atomicity() {
        assert_eq!(err(&user(), json!([{"op": "remove"}])), Some(ScimType::NoTarget));
        assert_eq!(
            err(&user(), json!([{"op": "replace", "path": "id", "value": "x"}])),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            err(
                &user(),
                json!([{"op": "replace", "path": "meta.created", "value": "x"}])
            ),
            Some(ScimType::Mutability)
        );
        assert_eq!(
            err(&user(), json!([{"op": "replace", "path": "nickname.x", "value": "x"}])),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            err(
                &user(),
                json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])
            ),
            Some(ScimType::InvalidPath)
        );
        assert_eq!(
            err(&user(), json!([{"op": "move", "path": "userName"}])),
            Some(ScimType::InvalidSyntax)
        );
        // An extension the server does not know: dropped like a body's, never a failed request.
        let custom = "urn:ietf:params:scim:schemas:extension:contoso:2.0:User:costCode";
        assert_eq!(
            ok(&user(), json!([{"op": "Add", "path": custom, "value": "42"}])),
            Value::Object(user())
        );
        assert_eq!(
            err(&user(), json!([{"op": "add", "path": "userName"}])),
            Some(ScimType::InvalidValue)
        );
        let original = user();
        // The first operation is valid, the second is not: apply fails as a whole.
        assert!(
            patch(
                &original,
                json!([
                    {"op": "replace", "path": "userName", "value": "changed"},
                    {"op": "replace", "path": "id", "value": "x"}
                ])
            )
            .is_err()
        );
        assert_eq!(original["userName"], "bjensen@example.com");
        let missing = json!({"schemas": [PATCH_OP_SCHEMA]});
        assert_eq!(
            parse_request(&missing).unwrap_err().scim_type,
            Some(ScimType::InvalidSyntax)
        );
    }

    #[test]
    fn group_members_removed_by_value_list_only() {
        let group = json!({"displayName": "G", "members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "b"}]}
        ]});
        let r = apply(group.as_object().unwrap(), &parse_request(&body).unwrap(), &GROUP).unwrap();
        assert_eq!(Value::Object(r)["members"], json!([{"value": "a"}, {"value": "c"}]));
    }
}
