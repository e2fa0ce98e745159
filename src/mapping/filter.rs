//! SCIM filters and sort keys to the domain's protocol-neutral conditions.

use crate::domain::MemberStatus;
use crate::domain::query::{Comparison, Condition, GroupField, MemberField, Scalar};
use crate::scim::filter::{Op, ScimFilter, Value};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, ROSTER_GROUP_SCHEMA, ROSTER_USER_SCHEMA, ResourceSchema};
use crate::scim::{ScimError, ScimType};

fn not_filterable(name: &str) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, format!("{name} cannot be filtered on"))
}

fn comparison(op: Op) -> Comparison {
    match op {
        Op::Eq => Comparison::Eq,
        Op::Ne => Comparison::Ne,
        Op::Co => Comparison::Contains,
        Op::Sw => Comparison::StartsWith,
        Op::Ew => Comparison::EndsWith,
        Op::Gt => Comparison::Gt,
        Op::Ge => Comparison::Ge,
        Op::Lt => Comparison::Lt,
        Op::Le => Comparison::Le,
    }
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Str(s) => Some(Scalar::Text(s.clone())),
        Value::DateTime(t) => Some(Scalar::Time(*t)),
        Value::Number(n) => Some(Scalar::Text(n.to_string())),
        Value::Bool(b) => Some(Scalar::Text(b.to_string())),
        Value::Null => None,
    }
}

/// `attr eq null` is "absent", `ne null` is "present"; everything else compares.
fn leaf<F: Clone>(field: F, op: Op, value: &Value) -> Condition<F> {
    match scalar(value) {
        None if op == Op::Eq => Condition::Not(Box::new(Condition::Present(field))),
        None => Condition::Present(field),
        Some(s) => Condition::Compare(field, comparison(op), s),
    }
}

/// Single-valued text attributes kept in the stored SCIM attributes, by JSON path.
fn stored_attribute(canonical: &str, case_exact: bool) -> Option<MemberField> {
    const CORE: &[&str] = &[
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.formatted",
        "name.middleName",
        "name.honorificPrefix",
        "name.honorificSuffix",
    ];
    const ENTERPRISE: &[&str] = &[
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager.value",
        "manager.displayName",
    ];
    let path: Vec<String> = if CORE.contains(&canonical) {
        canonical.split('.').map(str::to_owned).collect()
    } else if let Some(rest) = canonical
        .strip_prefix(ENTERPRISE_USER_SCHEMA)
        .and_then(|r| r.strip_prefix(':'))
    {
        if !ENTERPRISE.contains(&rest) {
            return None;
        }
        std::iter::once(ENTERPRISE_USER_SCHEMA.to_owned())
            .chain(rest.split('.').map(str::to_owned))
            .collect()
    } else {
        return None;
    };
    Some(MemberField::Attribute { path, case_exact })
}

fn member_field(canonical: &str, case_exact: bool) -> Option<MemberField> {
    let roster = |name: &str| format!("{ROSTER_USER_SCHEMA}:{name}");
    Some(match canonical {
        "id" => MemberField::Id,
        // An agent's name (either draft's attribute) is its userName.
        "userName" | "agentUserName" | "name" => MemberField::UserName,
        "description" | "agentType" => MemberField::Attribute {
            path: vec![canonical.to_owned()],
            case_exact,
        },
        "externalId" => MemberField::ExternalId,
        "displayName" => MemberField::DisplayName,
        "name.givenName" => MemberField::FirstName,
        "name.familyName" => MemberField::LastName,
        "emails.value" => MemberField::AnyEmail,
        "phoneNumbers.value" => MemberField::Phone,
        "meta.created" => MemberField::Created,
        "meta.lastModified" => MemberField::LastModified,
        c if c == roster("role") => MemberField::Role,
        c if c == roster("status") => MemberField::Status,
        c if c == roster("memberId") => MemberField::Id,
        other => return stored_attribute(other, case_exact),
    })
}

const SCIM_ACTIVE: [MemberStatus; 2] = [MemberStatus::Pending, MemberStatus::Active];

pub fn member_condition(filter: &ScimFilter) -> Result<Condition<MemberField>, ScimError> {
    Ok(match filter {
        ScimFilter::And(items) => Condition::And(items.iter().map(member_condition).collect::<Result<_, _>>()?),
        ScimFilter::Or(items) => Condition::Or(items.iter().map(member_condition).collect::<Result<_, _>>()?),
        ScimFilter::Not(inner) => Condition::Not(Box::new(member_condition(inner)?)),
        ScimFilter::Constant(true) => Condition::Always,
        ScimFilter::Constant(false) => Condition::Never,
        ScimFilter::Present(attr) if attr.canonical == "active" => Condition::Always,
        ScimFilter::Present(attr) if attr.canonical == "meta.resourceType" => Condition::Always,
        ScimFilter::Present(attr) => Condition::Present(
            member_field(&attr.canonical, attr.case_exact).ok_or_else(|| not_filterable(&attr.canonical))?,
        ),
        ScimFilter::Compare { attr, op, value } if attr.canonical == "active" => {
            let active = match value {
                Value::Bool(b) => *b,
                _ => {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidFilter,
                        "active compares with true or false",
                    ));
                }
            };
            let is_active = Condition::In(
                MemberField::Status,
                SCIM_ACTIVE
                    .iter()
                    .map(|s| Scalar::Text(s.as_str().to_owned()))
                    .collect(),
            );
            match (op, active) {
                (Op::Eq, true) | (Op::Ne, false) => is_active,
                _ => Condition::Not(Box::new(is_active)),
            }
        }
        ScimFilter::Compare { attr, op, value } if attr.canonical == "meta.resourceType" => {
            let is_user = matches!(value, Value::Str(s) if s.eq_ignore_ascii_case("User"));
            if (*op == Op::Eq) == is_user {
                Condition::Always
            } else {
                Condition::Never
            }
        }
        ScimFilter::Compare { attr, op, value } => {
            let field =
                member_field(&attr.canonical, attr.case_exact).ok_or_else(|| not_filterable(&attr.canonical))?;
            leaf(field, *op, value)
        }
    })
}

fn group_field(canonical: &str) -> Option<GroupField> {
    Some(match canonical {
        "id" => GroupField::Id,
        "displayName" => GroupField::DisplayName,
        "externalId" => GroupField::ExternalId,
        "meta.created" => GroupField::Created,
        "meta.lastModified" => GroupField::LastModified,
        "members.value" => GroupField::HasMember,
        c if c == format!("{ROSTER_GROUP_SCHEMA}:role") => GroupField::Role,
        _ => return None,
    })
}

pub fn group_condition(filter: &ScimFilter) -> Result<Condition<GroupField>, ScimError> {
    Ok(match filter {
        ScimFilter::And(items) => Condition::And(items.iter().map(group_condition).collect::<Result<_, _>>()?),
        ScimFilter::Or(items) => Condition::Or(items.iter().map(group_condition).collect::<Result<_, _>>()?),
        ScimFilter::Not(inner) => Condition::Not(Box::new(group_condition(inner)?)),
        ScimFilter::Constant(true) => Condition::Always,
        ScimFilter::Constant(false) => Condition::Never,
        ScimFilter::Present(attr) if attr.canonical == "meta.resourceType" => Condition::Always,
        ScimFilter::Present(attr) => {
            Condition::Present(group_field(&attr.canonical).ok_or_else(|| not_filterable(&attr.canonical))?)
        }
        ScimFilter::Compare { attr, op, value } if attr.canonical == "meta.resourceType" => {
            let is_group = matches!(value, Value::Str(s) if s.eq_ignore_ascii_case("Group"));
            if (*op == Op::Eq) == is_group {
                Condition::Always
            } else {
                Condition::Never
            }
        }
        ScimFilter::Compare { attr, op, value } => leaf(
            group_field(&attr.canonical).ok_or_else(|| not_filterable(&attr.canonical))?,
            *op,
            value,
        ),
    })
}

/// `sortBy` for Users (RFC 7644 §3.4.2.3): a multi-valued attribute sorts by its primary value.
pub fn member_sort_field(sort_by: &str, schema: &ResourceSchema) -> Result<MemberField, ScimError> {
    let resolved = schema.resolve_path(sort_by).ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidValue, format!("sortBy: unknown attribute {sort_by:?}"))
    })?;
    let canonical = match resolved.canonical().as_str() {
        "emails" | "emails.value" => return Ok(MemberField::Email),
        "phoneNumbers" => "phoneNumbers.value".to_owned(),
        other => other.to_owned(),
    };
    member_field(&canonical, resolved.leaf().case_exact)
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, format!("cannot sort by {sort_by:?}")))
}

pub fn group_sort_field(sort_by: &str, schema: &ResourceSchema) -> Result<GroupField, ScimError> {
    let resolved = schema.resolve_path(sort_by).ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidValue, format!("sortBy: unknown attribute {sort_by:?}"))
    })?;
    group_field(&resolved.canonical())
        .filter(|f| *f != GroupField::HasMember)
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, format!("cannot sort by {sort_by:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;
    use crate::scim::schema::{GROUP, USER};

    fn member(raw: &str) -> Result<Condition<MemberField>, ScimError> {
        member_condition(&parse(raw, &USER).unwrap())
    }

    #[test]
    fn users_translate_to_member_fields() {
        assert_eq!(
            member(r#"userName eq "Bjensen""#).unwrap(),
            Condition::Compare(MemberField::UserName, Comparison::Eq, Scalar::Text("Bjensen".into()))
        );
        assert!(matches!(member("active eq false").unwrap(), Condition::Not(_)));
        assert!(matches!(
            member("active eq true").unwrap(),
            Condition::In(MemberField::Status, _)
        ));
        assert_eq!(
            member(r#"emails[type eq "work"].value eq "a@x.com""#).unwrap(),
            Condition::Compare(MemberField::AnyEmail, Comparison::Eq, Scalar::Text("a@x.com".into()))
        );
        assert!(matches!(
            member(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#).unwrap(),
            Condition::Compare(MemberField::Attribute { .. }, Comparison::Eq, _)
        ));
        assert!(matches!(
            member(r#"manager eq "m1""#).unwrap(),
            Condition::Compare(MemberField::Attribute { .. }, _, _)
        ));
        assert!(matches!(member("title eq null").unwrap(), Condition::Not(_)));
        assert_eq!(member(r#"meta.resourceType eq "User""#).unwrap(), Condition::Always);
        assert_eq!(
            member(r#"addresses.locality eq "x""#).unwrap_err().scim_type,
            Some(ScimType::InvalidFilter)
        );
    }

    #[test]
    fn groups_translate_to_group_fields() {
        let g = group_condition(&parse(r#"members[value eq "m-1"]"#, &GROUP).unwrap()).unwrap();
        assert_eq!(
            g,
            Condition::Compare(GroupField::HasMember, Comparison::Eq, Scalar::Text("m-1".into()))
        );
        assert!(group_condition(&parse(r#"displayName eq "Admins""#, &GROUP).unwrap()).is_ok());
    }

    #[test]
    fn sort_keys() {
        assert_eq!(member_sort_field("emails", &USER).unwrap(), MemberField::Email);
        assert_eq!(
            member_sort_field("name.familyName", &USER).unwrap(),
            MemberField::LastName
        );
        assert!(member_sort_field("addresses", &USER).is_err());
        assert_eq!(
            group_sort_field("DisplayName", &GROUP).unwrap(),
            GroupField::DisplayName
        );
    }
}
