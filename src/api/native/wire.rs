//! The native API's JSON, exactly as seed 000 shows it: snake_case fields, upper-case roles and
//! statuses, timestamps as naive UTC ISO 8601 with microseconds (`2025-12-26T14:38:22.210507`).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::domain::invitation::InvitationState;
use crate::domain::{Member, MemberId, MemberKind, MemberStatus, OrganizationId, Role, UserId};
use crate::service::team::AuditEvent;

pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

fn timestamp<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format(TIMESTAMP_FORMAT))
}

fn optional_timestamp<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => timestamp(t, s),
        None => s.serialize_none(),
    }
}

/// A member (seed 000's illustration).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberResponse {
    #[schema(value_type = uuid::Uuid)]
    pub member_id: MemberId,
    /// Set once the person has registered (accepted the invitation).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub user_id: Option<UserId>,
    /// The organization.
    #[schema(value_type = uuid::Uuid)]
    pub team_id: OrganizationId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub role: Role,
    pub status: MemberStatus,
    /// UTC, e.g. `2025-08-28T17:43:19.287013`.
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, example = "2025-08-28T17:43:19.287013")]
    pub added_date: NaiveDateTime,
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>, example = "2025-12-26T14:38:22.210507")]
    pub last_login: Option<NaiveDateTime>,
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>)]
    pub deactivated_date: Option<NaiveDateTime>,
    /// When the member last changed.
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String)]
    pub updated_at: NaiveDateTime,
    /// When the person verified their address by accepting the invitation.
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>)]
    pub verified_at: Option<NaiveDateTime>,
    /// Why the member is SUSPENDED or BLOCKED (or was last changed), when a reason was given.
    pub status_reason: Option<String>,
    /// The latest invitation's state (`null` for a member never invited).
    pub invitation_status: Option<InvitationState>,
    #[serde(serialize_with = "optional_timestamp")]
    #[schema(value_type = Option<String>)]
    pub invitation_expires_at: Option<NaiveDateTime>,
    /// `person`, or `agent` for an AI agent.
    pub kind: MemberKind,
    /// An agent's name (its SCIM `agentUserName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An agent's owners: the members who answer for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owners: Option<Vec<AgentOwner>>,
    /// An agent's tokens (never their secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<AgentToken>>,
}

/// A member who answers for an agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentOwner {
    pub member_id: String,
    pub name: String,
    pub status: String,
}

/// A token acting as an agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentToken {
    pub token_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub expires_at: NaiveDateTime,
    pub revoked: bool,
}

impl From<Member> for MemberResponse {
    fn from(m: Member) -> Self {
        Self {
            member_id: m.id,
            user_id: m.user_id,
            team_id: m.organization_id,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email.map(|e| e.as_str().to_owned()),
            phone_number: m.phone_number.map(|p| p.as_str().to_owned()),
            role: m.role,
            status: m.status,
            added_date: m.added_date,
            last_login: m.last_login,
            deactivated_date: m.deactivated_date,
            updated_at: m.updated_at,
            verified_at: m.verified_at,
            status_reason: m.status_reason,
            invitation_status: m.invitation.map(|i| i.state),
            invitation_expires_at: m.invitation.map(|i| i.expires_at),
            name: (m.kind == MemberKind::Agent).then(|| m.user_name.to_string()),
            kind: m.kind,
            owners: None,
            tokens: None,
        }
    }
}

/// `POST /team/invite/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(example = "John")]
    pub first_name: String,
    #[schema(example = "Doe")]
    pub last_name: String,
    #[schema(example = "jdoe@domain.com")]
    pub email: String,
    /// E.164, e.g. `+33671915834`.
    #[serde(default)]
    #[schema(example = "+111111111111")]
    pub phone_number: Option<String>,
    #[schema(value_type = Role)]
    pub role: String,
}

/// `PUT /team/{member_id}/`: role, status, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// `ACTIVE` reactivates an `INACTIVE` member; `INACTIVE` deactivates.
    #[serde(default)]
    #[schema(value_type = Option<MemberStatus>)]
    pub status: Option<String>,
}

/// `GET /team/` query: paging, filters (comma-separated lists) and search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMembersParams {
    /// Page number, from 1.
    pub page: Option<i64>,
    /// Members per page, 1 to 1000 (default 100).
    pub page_size: Option<i64>,
    /// Comma-separated statuses, e.g. `ACTIVE,PENDING`.
    pub status: Option<String>,
    /// Comma-separated roles, e.g. `VIEWER,CHECKER`.
    pub role: Option<String>,
    /// Case-insensitive part of a name, e-mail or phone number.
    pub search: Option<String>,
    /// `added_date` (default: creation order), `first_name`, `last_name`, `email`, `role`, `status` or `last_login`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// `person` (default) or `agent`: AI agents are listed apart, with their owners and tokens.
    pub kind: Option<String>,
}

/// Reads `sort` and `order`.
pub fn parse_sort(
    sort: Option<&str>,
    order: Option<&str>,
) -> Result<Option<(crate::storage::MemberSort, bool)>, crate::domain::InvalidValue> {
    use crate::storage::MemberSort::*;
    let descending = match order.map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(crate::domain::InvalidValue::new(
                "order",
                format!("{other:?}: expected asc or desc"),
            ));
        }
    };
    let field = match sort.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => return Ok(if descending { Some((AddedDate, true)) } else { None }),
        Some("added_date") => AddedDate,
        Some("first_name") => FirstName,
        Some("last_name") => LastName,
        Some("email") => Email,
        Some("role") => Role,
        Some("status") => Status,
        Some("last_login") => LastLogin,
        Some(other) => {
            return Err(crate::domain::InvalidValue::new(
                "sort",
                format!("{other:?}: expected added_date, first_name, last_name, email, role, status or last_login"),
            ));
        }
    };
    Ok(Some((field, descending)))
}

/// `GET /team/members/{member_id}/audit-logs/` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditLogParams {
    /// Earliest event time (ISO 8601; without an offset, UTC).
    pub from: Option<String>,
    /// Latest event time.
    pub to: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// An audit event (seed 000's illustration): request context and touched ids in `entry_metadata`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditEventResponse {
    pub id: String,
    /// The member's `user_id`, or `token:<id>` for an integration token.
    pub actor: String,
    #[schema(example = "team_member.invite")]
    pub event_name: String,
    /// `ip_address`, `user_agent`, `token_hash` (SHA-256 of the token, base64url) and the touched ids.
    #[schema(value_type = Object)]
    pub entry_metadata: Map<String, Value>,
    #[schema(value_type = uuid::Uuid)]
    pub team_id: OrganizationId,
    #[serde(serialize_with = "timestamp")]
    #[schema(value_type = String, example = "2025-12-26T16:55:02.771046")]
    pub timestamp: NaiveDateTime,
    /// `roster` for roster's own events, `product` for those the product recorded.
    #[schema(example = "roster")]
    pub source: String,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(e: AuditEvent) -> Self {
        let mut entry_metadata = Map::new();
        entry_metadata.insert(
            "ip_address".into(),
            e.ip_address.map(Value::String).unwrap_or(Value::Null),
        );
        entry_metadata.insert(
            "user_agent".into(),
            e.user_agent.map(Value::String).unwrap_or(Value::Null),
        );
        entry_metadata.insert(
            "token_hash".into(),
            e.token_hash.map(Value::String).unwrap_or(Value::Null),
        );
        for (k, v) in e.metadata {
            entry_metadata.entry(k).or_insert(v);
        }
        Self {
            id: e.id,
            actor: e.actor,
            event_name: e.event_name,
            entry_metadata,
            team_id: e.organization_id,
            timestamp: e.timestamp,
            source: e.source,
        }
    }
}

/// Parses a time bound: RFC 3339 (any offset, converted to UTC), a naive ISO date-time (UTC), or a
/// date (its midnight UTC).
pub fn parse_time(field: &'static str, raw: &str) -> Result<NaiveDateTime, crate::domain::InvalidValue> {
    let raw = raw.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t);
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists"));
    }
    Err(crate::domain::InvalidValue::new(
        field,
        format!("{raw:?} is not a date or time (use ISO 8601, e.g. 2025-12-26T16:55:02Z)"),
    ))
}

/// Parses a comma-separated list of values.
pub fn parse_list<T: std::str::FromStr<Err = crate::domain::InvalidValue>>(
    raw: Option<&str>,
) -> Result<Vec<T>, crate::domain::InvalidValue> {
    raw.map(|r| r.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_the_seed() {
        let t = NaiveDateTime::parse_from_str("2025-12-26T14:38:22.210507", TIMESTAMP_FORMAT).unwrap();
        assert_eq!(t.format(TIMESTAMP_FORMAT).to_string(), "2025-12-26T14:38:22.210507");
        let whole = NaiveDateTime::parse_from_str("2025-12-26T14:38:22", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(whole.format(TIMESTAMP_FORMAT).to_string(), "2025-12-26T14:38:22.000000");
    }

    #[test]
    fn time_bounds_parse_in_several_forms() {
        let expected = NaiveDateTime::parse_from_str("2025-12-26T16:55:02", "%Y-%m-%dT%H:%M:%S").unwrap();
        for raw in [
            "2025-12-26T16:55:02Z",
            "2025-12-26T17:55:02+01:00",
            "2025-12-26T16:55:02",
            "2025-12-26 16:55:02",
        ] {
            assert_eq!(parse_time("from", raw).unwrap(), expected, "{raw}");
        }
        assert_eq!(
            parse_time("from", "2025-12-26").unwrap().to_string(),
            "2025-12-26 00:00:00"
        );
        assert!(parse_time("from", "yesterday").is_err());
    }

    #[test]
    fn lists_parse_and_reject_unknown_values() {
        let s: Vec<MemberStatus> = parse_list(Some("ACTIVE,pending")).unwrap();
        assert_eq!(s, vec![MemberStatus::Active, MemberStatus::Pending]);
        assert!(parse_list::<Role>(Some("ADMIN")).is_err());
        assert!(parse_list::<Role>(None).unwrap().is_empty());
    }
}

/// `POST /team/{member_id}/suspend/` and `/block/`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRequest {
    /// Why (kept on the member and in the audit log), at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /team/`: several role and/or status changes, all or nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdateRequest {
    pub members: Vec<BatchUpdateItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUpdateItem {
    #[schema(value_type = uuid::Uuid)]
    pub member_id: String,
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<MemberStatus>)]
    pub status: Option<String>,
}
