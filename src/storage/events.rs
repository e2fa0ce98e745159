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

/// A member as the native API shows it (seed 000's fields), for event payloads.
pub fn member_snapshot(row: &MemberRow) -> Value {
    json!({
        "member_id": row.id,
        "user_id": row.user_id,
        "team_id": row.organization_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "phone_number": row.phone_number,
        "role": row.role,
        "status": row.status,
        "status_reason": row.status_reason,
        "added_date": row.added_date,
        "updated_at": row.updated_at,
        "last_login": row.last_login,
        "deactivated_date": row.deactivated_date,
        "verified_at": row.verified_at,
    })
}

/// The version of event payloads; a breaking change of their shape raises it.
pub const PAYLOAD_VERSION: u32 = 1;

/// Writes the change events of `audits` (those that are changes), with the member each is about
/// as it is now (after the change), in one statement per 200.
pub fn insert_events_for(
    conn: &mut DbConnection,
    context: &AuditContext,
    audits: &[&NewAuditEvent],
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
        let subjects: Vec<MemberId> = chunk.iter().filter_map(|(a, _)| a.subject_member_id).collect();
        let members = super::members::members_by_id(conn, organization_id, &subjects)?;
        let mut sql = Sql::new(conn);
        sql.push("INSERT INTO events (organization_id, event_type, subject_id, payload, created_at) VALUES ");
        for (i, (audit, event_type)) in chunk.iter().enumerate() {
            let member = audit
                .subject_member_id
                .and_then(|id| members.get(&id.to_string()))
                .map(member_snapshot);
            let mut payload = Map::new();
            payload.insert("type".into(), json!(event_type));
            payload.insert("version".into(), json!(PAYLOAD_VERSION));
            payload.insert("organization_id".into(), json!(audit.organization_id.to_string()));
            payload.insert("occurred_at".into(), json!(now));
            payload.insert(
                "actor".into(),
                json!({"actor": context.actor, "member_id": context.actor_member_id.map(|m| m.to_string()), "channel": context.channel.as_str()}),
            );
            if let Some(member) = member {
                payload.insert("member".into(), member);
            }
            payload.insert("changes".into(), Value::Object(audit.metadata.clone()));
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.text(audit.organization_id.to_string()).push(", ");
            sql.text(*event_type).push(", ");
            sql.optional_text(audit.subject_member_id.map(|m| m.to_string()).or_else(|| {
                audit
                    .metadata
                    .get("group_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }))
            .push(", ");
            sql.text(Value::Object(payload).to_string()).push(", ");
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
