//! SCIM filters (RFC 7644 §3.4.2.2): a small pre-pass for what real clients send, the `scim_v2`
//! parser (which bounds depth and term count), then resolution of every attribute against the
//! registry, case-insensitively and qualified or not, with values typed by the attribute.
//!
//! The result is still SCIM-shaped (attribute names); the mapping layer turns it into the
//! protocol-neutral domain filter that storage compiles to SQL.

use chrono::NaiveDateTime;
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};

use super::error::{ScimError, ScimType};
use super::schema::{AttrType, Resolved, ResourceSchema};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    DateTime(NaiveDateTime),
    Number(serde_json::Number),
    Null,
}

/// A filter whose attributes are resolved and whose values are typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ScimFilter {
    Compare {
        attr: Attr,
        op: Op,
        value: Value,
    },
    Present(Attr),
    And(Vec<ScimFilter>),
    Or(Vec<ScimFilter>),
    Not(Box<ScimFilter>),
    /// A condition whose answer is known without looking at a resource: a comparison on an
    /// attribute of an extension this server does not serve, which no resource has a value for.
    Constant(bool),
}

/// A resolved attribute, by its canonical name (`userName`, `emails.value`, `urn:…:User:department`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub canonical: String,
    pub case_exact: bool,
    /// For `emails[type eq "work"].value`-style conditions: the element filter the value must meet,
    /// as (sub-attribute canonical name, value) equalities; empty for plain attributes.
    pub element: Vec<(String, String)>,
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, detail)
}

/// Parses and resolves `raw` for `schema`.
pub fn parse(raw: &str, schema: &ResourceSchema) -> Result<ScimFilter, ScimError> {
    if raw.len() > MAX_FILTER_LEN {
        return Err(invalid(format!("filter longer than {MAX_FILTER_LEN} bytes")));
    }
    if raw.contains('\0') {
        return Err(invalid("a filter cannot contain a NUL character"));
    }
    let normalised = normalise(raw);
    let parsed: Filter = normalised
        .parse()
        .map_err(|e| invalid(format!("cannot parse filter {raw:?}: {}", describe_parse_error(&e))))?;
    resolve(&parsed, schema)
}

fn describe_parse_error(e: &scim_v2::filter::ParseError) -> String {
    use lalrpop_like::describe;
    describe(e)
}

mod lalrpop_like {
    /// A short, stable description of a parse error (the parser's own messages list every
    /// expected token).
    pub fn describe(e: &scim_v2::filter::ParseError) -> String {
        let text = e.to_string();
        match text.split_once("Expected") {
            Some((head, _)) => head.trim().trim_end_matches(',').to_owned(),
            None => text,
        }
    }
}

// ---- Pre-pass ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Space,
    Quoted(String),
    Open(char),
    Close(char),
    Word(String),
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            toks.push(Tok::Space);
        } else if c == '"' {
            let mut q = String::from('"');
            chars.next();
            let mut escaped = false;
            for c in chars.by_ref() {
                q.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    break;
                }
            }
            toks.push(Tok::Quoted(q));
        } else if c == '(' || c == '[' {
            chars.next();
            toks.push(Tok::Open(c));
        } else if c == ')' || c == ']' {
            chars.next();
            toks.push(Tok::Close(c));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '"' | '(' | ')' | '[' | ']') {
                    break;
                }
                w.push(c);
                chars.next();
            }
            toks.push(Tok::Word(w));
        }
    }
    toks
}

fn render(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Space => " ".to_owned(),
            Tok::Quoted(q) => q.clone(),
            Tok::Open(c) | Tok::Close(c) => c.to_string(),
            Tok::Word(w) => w.clone(),
        })
        .collect()
}

const OPERATORS: [&str; 9] = ["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"];

fn is_operator(w: &str) -> bool {
    OPERATORS.iter().any(|o| o.eq_ignore_ascii_case(w))
}

fn is_json_number(w: &str) -> bool {
    serde_json::from_str::<serde_json::Number>(w).is_ok()
}

/// Rewrites what clients send but the RFC grammar does not allow:
/// - `not(` without a space;
/// - unquoted values (`userName sw O`, `meta.created gt 2015-10-10T14:38:21Z`), and `True`/`False`;
/// - Entra's `emails[type eq "work"].value eq "x"`, which becomes `emails[type eq "work" and value eq "x"]`.
pub fn normalise(raw: &str) -> String {
    let mut toks = tokenize(raw.trim());

    // `not(`
    let mut i = 0;
    while i + 1 < toks.len() {
        if matches!(&toks[i], Tok::Word(w) if w.eq_ignore_ascii_case("not")) && toks[i + 1] == Tok::Open('(') {
            toks.insert(i + 1, Tok::Space);
        }
        i += 1;
    }

    // Unquoted values after an operator.
    for i in 0..toks.len() {
        let after_operator = i >= 2
            && toks[i - 1] == Tok::Space
            && matches!(&toks[i - 2], Tok::Word(w) if is_operator(w))
            && i >= 3
            && toks[i - 3] == Tok::Space;
        if !after_operator {
            continue;
        }
        if let Tok::Word(w) = &toks[i] {
            let lower = w.to_ascii_lowercase();
            toks[i] = if matches!(lower.as_str(), "true" | "false" | "null") {
                Tok::Word(lower)
            } else if is_json_number(w) {
                Tok::Word(w.clone())
            } else {
                Tok::Quoted(serde_json::to_string(w).expect("strings serialise"))
            };
        }
    }

    // `attr[filter].sub op value` → `attr[filter and sub op value]`
    let mut i = 0;
    while i + 1 < toks.len() {
        let moved = match (&toks[i], &toks[i + 1]) {
            (Tok::Close(']'), Tok::Word(w)) if w.starts_with('.') && w.len() > 1 => {
                let sub = w[1..].to_owned();
                // sub, space, operator, then (unless `pr`) space and a value
                match toks.get(i + 2..i + 4) {
                    Some([Tok::Space, Tok::Word(op)]) if op.eq_ignore_ascii_case("pr") => {
                        Some((vec![Tok::Word(sub), Tok::Space, Tok::Word(op.clone())], 4))
                    }
                    Some([Tok::Space, Tok::Word(op)]) if is_operator(op) => match toks.get(i + 4..i + 6) {
                        Some([Tok::Space, value @ (Tok::Quoted(_) | Tok::Word(_))]) => Some((
                            vec![
                                Tok::Word(sub),
                                Tok::Space,
                                Tok::Word(op.clone()),
                                Tok::Space,
                                value.clone(),
                            ],
                            6,
                        )),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((condition, consumed)) = moved {
            toks.drain(i + 1..i + consumed);
            let mut inserted = vec![Tok::Space, Tok::Word("and".into()), Tok::Space];
            inserted.extend(condition);
            toks.splice(i..i, inserted.clone());
            i += inserted.len();
        }
        i += 1;
    }
    render(&toks)
}

// ---- Resolution -------------------------------------------------------------------------

fn op(op: &CompareOp) -> Op {
    match op {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
    }
}

fn resolve_attr(path: &AttrPath, schema: &ResourceSchema) -> Result<Resolved, ScimError> {
    let resolved = schema
        .resolve(path.uri.as_deref(), &path.name, path.sub_attr.as_deref())
        .ok_or_else(|| invalid(format!("unknown attribute {path} for {}", schema.resource_type)))?;
    Ok(with_default_value(resolved))
}

/// A complex attribute compared as a whole means its `value` sub-attribute (RFC 7644 §3.4.2.2).
fn with_default_value(r: Resolved) -> Resolved {
    if r.sub.is_none()
        && r.attr.ty == AttrType::Complex
        && let Some(value) = r.attr.sub_attributes.iter().find(|s| s.name == "value")
    {
        return Resolved { sub: Some(value), ..r };
    }
    r
}

/// Types a comparison value by the attribute's type.
fn typed(resolved: &Resolved, op: Op, value: &CompValue) -> Result<Value, ScimError> {
    let leaf = resolved.leaf();
    let name = resolved.canonical();
    Ok(match (leaf.ty, value) {
        (_, CompValue::Null) => Value::Null,
        (AttrType::Boolean, CompValue::True) => Value::Bool(true),
        (AttrType::Boolean, CompValue::False) => Value::Bool(false),
        (AttrType::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        (AttrType::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        (AttrType::Boolean, _) => return Err(invalid(format!("{name} is a boolean"))),
        (AttrType::DateTime, CompValue::Str(s)) => {
            Value::DateTime(parse_datetime(s).ok_or_else(|| invalid(format!("{s:?} is not a dateTime for {name}")))?)
        }
        (AttrType::DateTime, _) => return Err(invalid(format!("{name} is a dateTime"))),
        (AttrType::Integer, CompValue::Number(n)) => Value::Number(n.clone()),
        (_, CompValue::Str(s)) => Value::Str(s.clone()),
        (_, CompValue::Number(n)) => Value::Str(n.to_string()),
        (_, CompValue::True) => Value::Str("true".into()),
        (_, CompValue::False) => Value::Str("false".into()),
    })
    .and_then(|v| {
        if leaf.ty == AttrType::Boolean && !matches!(op, Op::Eq | Op::Ne) {
            Err(invalid(format!("{name} is a boolean: only eq, ne and pr apply")))
        } else if leaf.ty == AttrType::DateTime && matches!(op, Op::Co | Op::Sw | Op::Ew) {
            // RFC 7644 §3.4.2.2 defines co, sw and ew on strings; a point in time has no substring.
            Err(invalid(format!(
                "{name} is a dateTime: eq, ne, gt, ge, lt, le and pr apply, not co, sw or ew"
            )))
        } else if matches!(v, Value::Null) && !matches!(op, Op::Eq | Op::Ne) {
            Err(invalid("null compares with eq or ne only"))
        } else {
            Ok(v)
        }
    })
}

/// RFC 3339 date-times, with or without an offset (UTC when absent).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

fn attr_of(resolved: &Resolved) -> Attr {
    Attr {
        canonical: resolved.canonical(),
        case_exact: resolved.leaf().case_exact,
        element: Vec::new(),
    }
}

/// `path` is an attribute of an extension schema the resource does not have.
fn of_unknown_extension(path: &AttrPath, schema: &ResourceSchema) -> bool {
    let full = match &path.uri {
        Some(uri) => format!("{uri}:{}", path.name),
        None => path.name.clone(),
    };
    schema.is_unknown_extension(&full)
}

fn resolve(filter: &Filter, schema: &ResourceSchema) -> Result<ScimFilter, ScimError> {
    Ok(match filter {
        // An IdP's own extension attribute is never stored, so it has no value: present and
        // every comparison with a value are false, `ne` a value and `eq null` are true.
        Filter::Attr(AttrExp::Present(path)) if of_unknown_extension(path, schema) => ScimFilter::Constant(false),
        Filter::Attr(AttrExp::Comparison(path, o, value)) if of_unknown_extension(path, schema) => {
            ScimFilter::Constant(match (o, value) {
                (CompareOp::Eq, CompValue::Null) => true,
                (CompareOp::Ne, CompValue::Null) => false,
                (o, _) => matches!(o, CompareOp::Ne),
            })
        }
        Filter::ValuePath(vp) if of_unknown_extension(&vp.attr, schema) => ScimFilter::Constant(false),
        Filter::Attr(AttrExp::Present(path)) => ScimFilter::Present(attr_of(&resolve_attr(path, schema)?)),
        Filter::Attr(AttrExp::Comparison(path, o, value)) => {
            let resolved = resolve_attr(path, schema)?;
            let o = op(o);
            ScimFilter::Compare {
                value: typed(&resolved, o, value)?,
                attr: attr_of(&resolved),
                op: o,
            }
        }
        Filter::ValuePath(vp) => {
            let parent = schema
                .resolve(vp.attr.uri.as_deref(), &vp.attr.name, None)
                .filter(|r| r.attr.ty == AttrType::Complex)
                .ok_or_else(|| invalid(format!("{} is not a complex attribute", vp.attr)))?;
            resolve_value_filter(&vp.filter, &parent)?
        }
        Filter::Not(inner) => ScimFilter::Not(Box::new(resolve(inner, schema)?)),
        Filter::And(items) => ScimFilter::And(items.iter().map(|f| resolve(f, schema)).collect::<Result<_, _>>()?),
        Filter::Or(items) => ScimFilter::Or(items.iter().map(|f| resolve(f, schema)).collect::<Result<_, _>>()?),
    })
}

/// `emails[type eq "work" and value co "@x"]`: each condition names a sub-attribute of the parent.
/// Equalities on `type` (and other non-`value` sub-attributes) become element qualifiers of the
/// `value` comparisons beside them.
fn resolve_value_filter(filter: &ValFilter, parent: &Resolved) -> Result<ScimFilter, ScimError> {
    let sub_of = |path: &AttrPath| -> Result<Resolved, ScimError> {
        let name = path
            .sub_attr
            .as_deref()
            .map_or(path.name.as_str(), |_| path.name.as_str());
        parent
            .attr
            .sub_attributes
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| Resolved {
                sub: Some(s),
                ..*parent
            })
            .ok_or_else(|| invalid(format!("unknown sub-attribute {name} of {}", parent.attr.name)))
    };
    // Split a conjunction into qualifiers (equalities on non-value sub-attributes) and the rest.
    let conjuncts: Vec<&ValFilter> = match filter {
        ValFilter::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut qualifiers = Vec::new();
    let mut rest = Vec::new();
    for c in conjuncts {
        match c {
            ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(v))) => {
                let sub = sub_of(path)?;
                if sub.leaf().name == "value" {
                    rest.push(c);
                } else {
                    qualifiers.push((sub.canonical(), v.clone()));
                }
            }
            _ => rest.push(c),
        }
    }
    let resolve_one = |f: &ValFilter| -> Result<ScimFilter, ScimError> {
        Ok(match f {
            ValFilter::Attr(AttrExp::Present(path)) => {
                let mut attr = attr_of(&sub_of(path)?);
                attr.element = qualifiers.clone();
                ScimFilter::Present(attr)
            }
            ValFilter::Attr(AttrExp::Comparison(path, o, value)) => {
                let resolved = sub_of(path)?;
                let o = op(o);
                let mut attr = attr_of(&resolved);
                attr.element = qualifiers.clone();
                ScimFilter::Compare {
                    value: typed(&resolved, o, value)?,
                    attr,
                    op: o,
                }
            }
            other => resolve_value_filter(other, parent)?,
        })
    };
    match rest.as_slice() {
        // Only qualifiers: "has an element with type work" means the `value` is present there.
        [] => {
            let value = with_default_value(Resolved { sub: None, ..*parent });
            let mut attr = attr_of(&value);
            attr.element = qualifiers;
            Ok(ScimFilter::Present(attr))
        }
        [one] => match one {
            ValFilter::Not(inner) => Ok(ScimFilter::Not(Box::new(resolve_value_filter(inner, parent)?))),
            ValFilter::Or(items) => Ok(ScimFilter::Or(
                items
                    .iter()
                    .map(|f| resolve_value_filter(f, parent))
                    .collect::<Result<_, _>>()?,
            )),
            other => resolve_one(other),
        },
        many => Ok(ScimFilter::And(
            many.iter().map(|f| resolve_one(f)).collect::<Result<_, _>>()?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{GROUP, USER};

    fn user(raw: &str) -> ScimFilter {
        parse(raw, &USER).unwrap_or_else(|e| panic!("{raw}: {e:?}"))
    }

    fn cmp(canonical: &str, op: Op, value: Value) -> ScimFilter {
        let resolved = USER.resolve_path(canonical).unwrap();
        ScimFilter::Compare {
            attr: Attr {
                canonical: resolved.canonical(),
                case_exact: resolved.leaf().case_exact,
                element: vec![],
            },
            op,
            value,
        }
    }

    #[test]
    fn rfc_examples_parse_and_resolve() {
        assert_eq!(
            user(r#"userName eq "bjensen""#),
            cmp("userName", Op::Eq, Value::Str("bjensen".into()))
        );
        assert_eq!(
            user(r#"name.familyName co "O'Malley""#),
            cmp("name.familyName", Op::Co, Value::Str("O'Malley".into()))
        );
        assert!(matches!(user(r#"title pr"#), ScimFilter::Present(_)));
        assert!(matches!(
            user(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
            ScimFilter::Compare {
                value: Value::DateTime(_),
                ..
            }
        ));
        assert!(matches!(user(r#"title pr and userType eq "Employee""#), ScimFilter::And(v) if v.len() == 2));
        assert!(matches!(user(r#"title pr or userType eq "Intern""#), ScimFilter::Or(_)));
        assert!(matches!(
            user(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#),
            ScimFilter::And(_)
        ));
        assert!(matches!(
            user(r#"userType ne "Employee" and not (emails co "example.com")"#),
            ScimFilter::And(_)
        ));
        assert!(matches!(
            user(r#"emails[type eq "work" and value co "@example.com"]"#),
            ScimFilter::Compare { .. }
        ));
        assert!(
            user(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#)
                == cmp("userName", Op::Sw, Value::Str("J".into()))
        );
        assert_eq!(user("active eq true"), cmp("active", Op::Eq, Value::Bool(true)));
    }

    #[test]
    fn what_idps_send_is_accepted() {
        // Entra: a value path followed by a sub-attribute and a comparison.
        match user(r#"emails[type eq "work"].value eq "a@x.com""#) {
            ScimFilter::Compare {
                attr,
                op: Op::Eq,
                value: Value::Str(v),
            } => {
                assert_eq!(attr.canonical, "emails.value");
                assert_eq!(attr.element, vec![("emails.type".to_owned(), "work".to_owned())]);
                assert_eq!(v, "a@x.com");
            }
            other => panic!("{other:?}"),
        }
        // `not(` without a space, capitalised operators, unquoted values, mixed-case names.
        assert!(matches!(user(r#"not(userName eq "x")"#), ScimFilter::Not(_)));
        assert_eq!(
            user(r#"userName EQ "x""#),
            cmp("userName", Op::Eq, Value::Str("x".into()))
        );
        assert_eq!(user("userName sw O"), cmp("userName", Op::Sw, Value::Str("O".into())));
        assert!(matches!(
            user("meta.Created gt 2015-10-10T14:38:21Z"),
            ScimFilter::Compare {
                value: Value::DateTime(_),
                ..
            }
        ));
        assert_eq!(
            user(r#"name.FamilyName eq "Doe""#),
            cmp("name.familyName", Op::Eq, Value::Str("Doe".into()))
        );
        assert_eq!(user("active eq True"), cmp("active", Op::Eq, Value::Bool(true)));
        assert_eq!(user(r#"active eq "False""#), cmp("active", Op::Eq, Value::Bool(false)));
        assert_eq!(
            user(r#"emails.Value eq "a@x.com""#),
            cmp("emails.value", Op::Eq, Value::Str("a@x.com".into()))
        );
        assert_eq!(
            user(r#"externalId eq "e1""#),
            cmp("externalId", Op::Eq, Value::Str("e1".into()))
        );
        // Unqualified extension attribute (Entra's `manager eq`).
        assert!(
            matches!(user(r#"manager eq "123""#), ScimFilter::Compare { attr, .. } if attr.canonical.ends_with(":manager.value"))
        );
        assert!(matches!(
            user(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#),
            ScimFilter::Compare { .. }
        ));
        assert!(matches!(
            parse(r#"members[value eq "x"]"#, &GROUP).unwrap(),
            ScimFilter::Compare { .. }
        ));
        assert!(parse(r#"displayName eq "Admins""#, &GROUP).is_ok());
    }

    #[test]
    fn errors_are_invalid_filter() {
        for bad in [
            r#"nonsense eq "x""#,
            r#"userName eq"#,
            r#"userName xx "y""#,
            r#"(userName eq "x""#,
            r#"active gt true"#,
            r#"meta.created gt "yesterday""#,
            r#"name.nonsense eq "x""#,
            r#"userName[value eq "x"]"#,
            "",
        ] {
            let err = parse(bad, &USER).unwrap_err();
            assert_eq!(
                (err.status, err.scim_type),
                (400, Some(ScimType::InvalidFilter)),
                "{bad}"
            );
        }
        let deep = format!("{}userName eq \"x\"{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(
            parse(&deep, &USER).unwrap_err().scim_type,
            Some(ScimType::InvalidFilter)
        );
        let long = vec![r#"userName eq "x""#; 2000].join(" or ");
        assert_eq!(
            parse(&long, &USER).unwrap_err().scim_type,
            Some(ScimType::InvalidFilter)
        );
    }

    #[test]
    fn an_unknown_extension_attribute_has_no_value() {
        let ext = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
        for (raw, expected) in [
            (format!(r#"{ext}:badge eq "7""#), false),
            (format!(r#"{ext}:badge co "7""#), false),
            (format!("{ext}:badge pr"), false),
            (format!(r#"{ext}:badge ne "7""#), true),
            (format!("{ext}:badge eq null"), true),
            (format!("{ext}:badge ne null"), false),
            (format!(r#"{ext}:Badge eq "7""#), false),
        ] {
            assert_eq!(user(&raw), ScimFilter::Constant(expected), "{raw}");
        }
        // Inside a larger filter it is one operand among others.
        assert_eq!(
            user(&format!(r#"userName eq "a" and {ext}:badge eq "7""#)),
            ScimFilter::And(vec![
                cmp("userName", Op::Eq, Value::Str("a".into())),
                ScimFilter::Constant(false)
            ])
        );
        // The extensions this server serves still resolve, and an unknown attribute of one of
        // them is still an error.
        assert!(matches!(
            user(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x""#),
            ScimFilter::Compare { .. }
        ));
        assert_eq!(
            parse(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nonsense eq "x""#,
                &USER
            )
            .unwrap_err()
            .scim_type,
            Some(ScimType::InvalidFilter)
        );
    }

    #[test]
    fn normalise_leaves_quoted_text_alone() {
        assert_eq!(
            normalise(r#"userName eq "not(x) eq y""#),
            r#"userName eq "not(x) eq y""#
        );
        assert_eq!(normalise(r#"title pr"#), "title pr");
        assert_eq!(normalise("userName eq 42"), "userName eq 42");
    }
}
