//! Change events, written beside the audit rows of the change, and read back as a feed that never
//! skips one; webhook endpoints and their deliveries.
//!
//! The feed's order is a position `(txid, id)`. On SQLite writers are serialized, so ids are
//! assigned in commit order and `txid` is always 0. On PostgreSQL transactions commit out of the
//! order in which they took ids, so an event row also records its transaction id, and a reader
//! only sees transactions older than every one still running (`pg_snapshot_xmin`): whatever it
//! has passed can no longer change.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::query::Sql;
use super::schema::{webhook_deliveries, webhook_endpoints};
use super::{DbConnection, MemberRow, StorageResult};
use crate::domain::audit::{AuditContext, NewAuditEvent};
use crate::domain::{MemberId, OrganizationId};

pub use crate::domain::events::FeedPosition;

#[derive(Debug, Clone, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub organization_id: String,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_id: Option<String>,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    pub txid: i64,
}

impl EventRow {
    pub fn position(&self) -> FeedPosition {
        FeedPosition {
            txid: self.txid,
            id: self.id,
        }
    }
}

/// The public event type an audit event of a change is, if it is one (reads are not changes).
pub fn event_type_of(audit: &NewAuditEvent) -> Option<&'static str> {
    let m = &audit.metadata;
    Some(match audit.event_name {
        "team_member.invite" => "member.invited",
        "team_member.create" => "member.created",
        "team_member.invite_accept" => "member.accepted",
        "team_member.reactivate" => "member.reactivated",
        "team_member.deactivate" => "member.deactivated",
        "team_member.suspend" => "member.suspended",
        "team_member.block" => "member.blocked",
        "team_member.activate" => "member.activated",
        "team_member.add" => "member.added",
        "team_member.remove" | "team_member.leave" => "member.removed",
        "team_member.modify" if m.contains_key("new_role") => "member.role_changed",
        "team_member.modify" if m.contains_key("scim_delete") => "member.removed",
        "team_member.modify" => "member.profile_updated",
        "team_member.invite_resend" => "invitation.resent",
        "team_member.invite_cancel" => "invitation.cancelled",
        "team_member.invite_delivered" => "invitation.sent",
        "team_member.invite_delivery_failed" => "invitation.undeliverable",
        "group.create" => "group.created",
        "group.modify" => "group.updated",
        "group.delete" => "group.deleted",
        "group.role" => "group.role_changed",
        "team.modify" => "organization.renamed",
        "team.delete" => "organization.deleted",
        "team.without_administrator" => "organization.without_administrator",
        "api_token.create" => "token.created",
        "api_token.revoke" => "token.revoked",
        _ => return None,
    })
}

/// The version of event payloads; a breaking change of their shape raises it.
pub const PAYLOAD_VERSION: u32 = 1;

/// How a payload is stored: only what the row's own columns do not already say (type,
/// organization, time and subject are columns), with short keys and without nulls.
/// [`EventRow::public_payload`] rebuilds the body receivers see. Stored whole, with a full member
/// snapshot in seed 000's long field names, payloads made change events the largest table.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPayload {
    #[serde(rename = "a")]
    actor: String,
    #[serde(rename = "am", default, skip_serializing_if = "Option::is_none")]
    actor_member_id: Option<String>,
    #[serde(rename = "c")]
    channel: String,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    member: Option<StoredMember>,
    #[serde(rename = "x", default, skip_serializing_if = "Map::is_empty")]
    changes: Map<String, Value>,
}

/// The member after the change, as the native API shows it (seed 000's fields); its id is the
/// event's subject and its team the event's organization.
#[derive(Debug, Serialize, Deserialize)]
struct StoredMember {
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
    #[serde(rename = "r")]
    role: String,
    #[serde(rename = "s")]
    status: String,
    #[serde(rename = "sr", default, skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(rename = "ad")]
    added_date: NaiveDateTime,
    #[serde(rename = "ua")]
    updated_at: NaiveDateTime,
    #[serde(rename = "ll", default, skip_serializing_if = "Option::is_none")]
    last_login: Option<NaiveDateTime>,
    #[serde(rename = "dd", default, skip_serializing_if = "Option::is_none")]
    deactivated_date: Option<NaiveDateTime>,
    #[serde(rename = "va", default, skip_serializing_if = "Option::is_none")]
    verified_at: Option<NaiveDateTime>,
}

impl From<&MemberRow> for StoredMember {
    fn from(row: &MemberRow) -> Self {
        Self {
            user_id: row.user_id.clone(),
            first_name: row.first_name.clone(),
            last_name: row.last_name.clone(),
            email: row.email.clone(),
            phone_number: row.phone_number.clone(),
            role: row.role.clone(),
            status: row.status.clone(),
            status_reason: row.status_reason.clone(),
            added_date: row.added_date,
            updated_at: row.updated_at,
            last_login: row.last_login,
            deactivated_date: row.deactivated_date,
            verified_at: row.verified_at,
        }
    }
}

impl StoredMember {
    fn public(self, member_id: Option<&str>, organization_id: &str) -> Value {
        json!({
            "member_id": member_id,
            "user_id": self.user_id,
            "team_id": organization_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone_number": self.phone_number,
            "role": self.role,
            "status": self.status,
            "status_reason": self.status_reason,
            "added_date": self.added_date,
            "updated_at": self.updated_at,
            "last_login": self.last_login,
            "deactivated_date": self.deactivated_date,
            "verified_at": self.verified_at,
        })
    }
}

impl EventRow {
    /// The payload receivers see: type, version, organization, time, actor, the member after the
    /// change when the event is about one, and the changes.
    pub fn public_payload(&self) -> Result<Value, serde_json::Error> {
        let stored: Value = serde_json::from_str(&self.payload)?;
        // Rows written before the compact form hold the public payload itself.
        if stored.get("type").is_some() {
            return Ok(stored);
        }
        let stored: StoredPayload = serde_json::from_value(stored)?;
        let mut payload = Map::new();
        payload.insert("type".into(), json!(self.event_type));
        payload.insert("version".into(), json!(PAYLOAD_VERSION));
        payload.insert("organization_id".into(), json!(self.organization_id));
        payload.insert("occurred_at".into(), json!(self.created_at));
        payload.insert(
            "actor".into(),
            json!({"actor": stored.actor, "member_id": stored.actor_member_id, "channel": stored.channel}),
        );
        if let Some(member) = stored.member {
            payload.insert(
                "member".into(),
                member.public(self.subject_id.as_deref(), &self.organization_id),
            );
        }
        payload.insert("changes".into(), Value::Object(stored.changes));
        Ok(Value::Object(payload))
    }
}

/// Writes the change events of `audits` (those that are changes), with the member each is about
/// as it is now (after the change), in one statement per 200.
pub fn insert_events_for(
    conn: &mut DbConnection,
    context: &AuditContext,
    audits: &[&NewAuditEvent],
    now: NaiveDateTime,
) -> StorageResult<()> {
    insert_events_knowing(conn, context, audits, None, now)
}

/// [`insert_events_for`], given the row of a subject as it is after the change, which is then not
/// read again.
pub(super) fn insert_events_knowing(
    conn: &mut DbConnection,
    context: &AuditContext,
    audits: &[&NewAuditEvent],
    known: Option<&MemberRow>,
    now: NaiveDateTime,
) -> StorageResult<()> {
    let changes: Vec<(&NewAuditEvent, &'static str)> = audits
        .iter()
        .filter_map(|a| event_type_of(a).map(|t| (*a, t)))
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    for chunk in changes.chunks(200) {
        let organization_id = chunk[0].0.organization_id;
        let subjects: Vec<MemberId> = chunk
            .iter()
            .filter_map(|(a, _)| a.subject_member_id)
            .filter(|id| known.is_none_or(|row| row.id != id.to_string()))
            .collect();
        let mut members = super::members::members_by_id(conn, organization_id, &subjects)?;
        if let Some(row) = known {
            members.insert(row.id.clone(), row.clone());
        }
        let mut sql = Sql::new(conn);
        sql.push("INSERT INTO events (organization_id, event_type, subject_id, payload, created_at) VALUES ");
        for (i, (audit, event_type)) in chunk.iter().enumerate() {
            let member = audit.subject_member_id.and_then(|id| members.get(&id.to_string()));
            let payload = StoredPayload {
                actor: context.actor.clone(),
                actor_member_id: context.actor_member_id.map(|m| m.to_string()),
                channel: context.channel.as_str().to_owned(),
                member: member.map(StoredMember::from),
                changes: audit.metadata.clone(),
            };
            // A member's event has the member as its subject, which the stored form relies on.
            let subject = match member {
                Some(m) => Some(m.id.clone()),
                None => audit.subject_member_id.map(|m| m.to_string()).or_else(|| {
                    audit
                        .metadata
                        .get("group_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
            };
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.text(audit.organization_id.to_string()).push(", ");
            sql.text(*event_type).push(", ");
            sql.optional_text(subject).push(", ");
            sql.text(serde_json::to_string(&payload).expect("a stored payload serialises"))
                .push(", ");
            sql.time(now).push(")");
        }
        sql.execute(conn)?;
    }
    Ok(())
}

/// Events of the organization after `after`, oldest first, at most `limit`; `types` filters by
/// exact type or by a `prefix.*`.
pub fn read_events(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    after: FeedPosition,
    types: &[String],
    limit: i64,
) -> StorageResult<Vec<EventRow>> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let mut sql = Sql::new(conn);
    sql.push("SELECT id, organization_id, event_type, subject_id, payload, created_at, txid FROM events WHERE organization_id = ");
    sql.text(organization_id.to_string());
    if postgres {
        sql.push(" AND (txid > ");
        sql.int(after.txid);
        sql.push(" OR (txid = ");
        sql.int(after.txid);
        sql.push(" AND id > ");
        sql.int(after.id);
        sql.push(")) AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint");
    } else {
        sql.push(" AND id > ");
        sql.int(after.id);
    }
    if !types.is_empty() {
        sql.push(" AND (");
        for (i, t) in types.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            match t.strip_suffix(".*") {
                Some(prefix) => {
                    sql.push("event_type LIKE ");
                    sql.text(format!("{}.%", prefix.replace(['%', '_'], "")));
                }
                None => {
                    sql.push("event_type = ");
                    sql.text(t.clone());
                }
            }
        }
        sql.push(")");
    }
    sql.push(" ORDER BY txid, id LIMIT ");
    sql.int(limit);
    Ok(sql.load::<EventRow>(conn)?)
}

pub fn find_event(conn: &mut DbConnection, organization_id: OrganizationId, id: i64) -> StorageResult<EventRow> {
    let mut sql = Sql::new(conn);
    sql.push("SELECT id, organization_id, event_type, subject_id, payload, created_at, txid FROM events WHERE organization_id = ");
    sql.text(organization_id.to_string());
    sql.push(" AND id = ");
    sql.int(id);
    sql.load::<EventRow>(conn)?
        .into_iter()
        .next()
        .ok_or(super::StorageError::NotFound)
}

/// The feed's end now: where a new subscriber starts (it receives what happens from then on).
pub fn feed_end(conn: &mut DbConnection, organization_id: OrganizationId) -> StorageResult<FeedPosition> {
    #[derive(QueryableByName)]
    struct End {
        #[diesel(sql_type = Nullable<BigInt>)]
        txid: Option<i64>,
        #[diesel(sql_type = Nullable<BigInt>)]
        id: Option<i64>,
    }
    let mut sql = Sql::new(conn);
    sql.push("SELECT txid, id FROM events WHERE organization_id = ");
    sql.text(organization_id.to_string());
    sql.push(" ORDER BY txid DESC, id DESC LIMIT 1");
    let end = sql.load::<End>(conn)?.into_iter().next();
    Ok(FeedPosition {
        txid: end.as_ref().and_then(|e| e.txid).unwrap_or(0),
        id: end.and_then(|e| e.id).unwrap_or(0),
    })
}

// ---- Webhook endpoints ------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookRow {
    pub id: String,
    pub organization_id: String,
    pub url: String,
    pub secret: String,
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub cursor_txid: i64,
    pub cursor_id: i64,
    pub attempts: i32,
    pub failing_since: Option<NaiveDateTime>,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_webhook(conn: &mut DbConnection, organization_id: OrganizationId, row: &WebhookRow) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(webhook_endpoints::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_webhook(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> StorageResult<WebhookRow> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::organization_id.eq(organization_id.to_string()))
        .filter(webhook_endpoints::id.eq(id))
        .select(WebhookRow::as_select())
        .first(conn)?)
}

pub fn list_webhooks(conn: &mut DbConnection, organization_id: OrganizationId) -> StorageResult<Vec<WebhookRow>> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::organization_id.eq(organization_id.to_string()))
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(WebhookRow::as_select())
        .load(conn)?)
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub event_types: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub cursor_txid: Option<i64>,
    pub cursor_id: Option<i64>,
    pub attempts: Option<i32>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub locked_until: Option<Option<NaiveDateTime>>,
}

pub fn update_webhook(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: &str,
    changes: &WebhookChanges,
    now: NaiveDateTime,
) -> StorageResult<WebhookRow> {
    let updated = diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id.to_string()))
            .filter(webhook_endpoints::id.eq(id)),
    )
    .set((changes, webhook_endpoints::updated_at.eq(now)))
    .execute(conn)?;
    if updated == 0 {
        return Err(super::StorageError::NotFound);
    }
    find_webhook(conn, organization_id, id)
}

pub fn delete_webhook(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> StorageResult<bool> {
    Ok(diesel::delete(
        webhook_endpoints::table
            .filter(webhook_endpoints::organization_id.eq(organization_id.to_string()))
            .filter(webhook_endpoints::id.eq(id)),
    )
    .execute(conn)?
        > 0)
}

/// Endpoints due for delivery, leased to this caller until `lease_until` so that instances
/// sharing PostgreSQL deliver each endpoint's events from one place at a time (in order). Across
/// organizations: the delivery worker serves them all.
pub fn claim_due_webhooks(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> StorageResult<Vec<WebhookRow>> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let mut sql = Sql::new(conn);
    sql.push("SELECT * FROM webhook_endpoints WHERE enabled = TRUE AND next_attempt_at <= ");
    sql.time(now);
    sql.push(" AND (locked_until IS NULL OR locked_until < ");
    sql.time(now);
    sql.push(") ORDER BY next_attempt_at LIMIT ");
    sql.int(limit);
    if postgres {
        sql.push(" FOR UPDATE SKIP LOCKED");
    }
    let rows: Vec<WebhookRow> = sql.load(conn)?;
    for row in &rows {
        diesel::update(webhook_endpoints::table.filter(webhook_endpoints::id.eq(&row.id)))
            .set(webhook_endpoints::locked_until.eq(Some(lease_until)))
            .execute(conn)?;
    }
    Ok(rows)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub organization_id: String,
    pub endpoint_id: String,
    pub event_id: i64,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub succeeded: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert_delivery(conn: &mut DbConnection, row: &DeliveryRow) -> StorageResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn list_deliveries(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    endpoint_id: &str,
    limit: i64,
) -> StorageResult<Vec<DeliveryRow>> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::organization_id.eq(organization_id.to_string()))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .order((webhook_deliveries::created_at.desc(), webhook_deliveries::id.desc()))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

pub fn find_delivery(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> StorageResult<DeliveryRow> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::organization_id.eq(organization_id.to_string()))
        .filter(webhook_deliveries::id.eq(id))
        .select(DeliveryRow::as_select())
        .first(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(payload: &str) -> EventRow {
        EventRow {
            id: 7,
            organization_id: "org-1".into(),
            event_type: "member.deactivated".into(),
            subject_id: Some("mem-1".into()),
            payload: payload.into(),
            created_at: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_micro_opt(13, 0, 0, 123_450)
                .unwrap(),
            txid: 0,
        }
    }

    #[test]
    fn the_compact_form_rebuilds_the_whole_public_payload() {
        let stored = StoredPayload {
            actor: "scim:okta".into(),
            actor_member_id: None,
            channel: "scim".into(),
            member: Some(StoredMember {
                user_id: None,
                first_name: Some("Ada".into()),
                last_name: None,
                email: Some("ada@example.com".into()),
                phone_number: None,
                role: "VIEWER".into(),
                status: "INACTIVE".into(),
                status_reason: None,
                added_date: row("").created_at,
                updated_at: row("").created_at,
                last_login: None,
                deactivated_date: Some(row("").created_at),
                verified_at: None,
            }),
            changes: json!({"old_status": "ACTIVE"}).as_object().unwrap().clone(),
        };
        let text = serde_json::to_string(&stored).unwrap();
        // No nulls and no field the row's columns already hold.
        assert!(
            !text.contains("null") && !text.contains("org-1") && !text.contains("mem-1"),
            "{text}"
        );
        let at = "2026-12-06T13:00:00.123450";
        assert_eq!(
            row(&text).public_payload().unwrap(),
            json!({
                "type": "member.deactivated",
                "version": 1,
                "organization_id": "org-1",
                "occurred_at": at,
                "actor": {"actor": "scim:okta", "member_id": null, "channel": "scim"},
                "member": {
                    "member_id": "mem-1", "user_id": null, "team_id": "org-1",
                    "first_name": "Ada", "last_name": null, "email": "ada@example.com",
                    "phone_number": null, "role": "VIEWER", "status": "INACTIVE", "status_reason": null,
                    "added_date": at, "updated_at": at, "last_login": null,
                    "deactivated_date": at, "verified_at": null,
                },
                "changes": {"old_status": "ACTIVE"},
            })
        );
    }

    #[test]
    fn payloads_stored_whole_before_the_compact_form_are_served_as_they_are() {
        let legacy = json!({"type": "group.created", "version": 1, "changes": {"group_id": "g"}});
        assert_eq!(row(&legacy.to_string()).public_payload().unwrap(), legacy);
        assert!(row("{\"a\": 1}").public_payload().is_err());
    }
}
