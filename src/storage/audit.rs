use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, StorageResult};
use crate::domain::audit::{AuditContext, NewAuditEvent};
use crate::domain::{MemberId, OrganizationId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: String,
    pub organization_id: String,
    pub actor: String,
    pub actor_member_id: Option<String>,
    pub channel: String,
    pub event_name: String,
    pub subject_member_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub token_hash: Option<String>,
    pub metadata: String,
    pub created_at: NaiveDateTime,
    /// `roster` for roster's own events, `product` for those the product records.
    pub source: String,
    /// The product's id for an event it recorded (idempotency).
    pub source_event_id: Option<String>,
}

/// Writes one event. Call it inside the transaction of the change it records.
pub fn insert_audit_event(
    conn: &mut DbConnection,
    context: &AuditContext,
    event: &NewAuditEvent,
    now: NaiveDateTime,
) -> StorageResult<AuditEventRow> {
    insert_audit_event_knowing(conn, context, event, None, now)
}

/// [`insert_audit_event`] for a change whose caller holds the subject's row as it is after the
/// change: the change event takes it instead of reading the member again.
pub fn insert_audit_event_about(
    conn: &mut DbConnection,
    context: &AuditContext,
    event: &NewAuditEvent,
    subject: &super::MemberRow,
    now: NaiveDateTime,
) -> StorageResult<AuditEventRow> {
    insert_audit_event_knowing(conn, context, event, Some(subject), now)
}

fn insert_audit_event_knowing(
    conn: &mut DbConnection,
    context: &AuditContext,
    event: &NewAuditEvent,
    known: Option<&super::MemberRow>,
    now: NaiveDateTime,
) -> StorageResult<AuditEventRow> {
    let row = AuditEventRow {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: event.organization_id.to_string(),
        actor: context.actor.clone(),
        actor_member_id: context.actor_member_id.map(|m| m.to_string()),
        channel: context.channel.as_str().to_owned(),
        event_name: event.event_name.to_owned(),
        subject_member_id: event.subject_member_id.map(|m| m.to_string()),
        ip_address: context.ip_address.clone(),
        user_agent: context.user_agent.clone(),
        token_hash: context.token_hash.clone(),
        metadata: serde_json::Value::Object(event.metadata.clone()).to_string(),
        created_at: now,
        source: "roster".to_owned(),
        source_event_id: None,
    };
    super::connection::on_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(c))?;
    // A change also goes out as an event, in the same transaction (see `storage::events`).
    super::events::insert_events_knowing(conn, context, &[event], known, now)?;
    Ok(row)
}

/// Writes many events in one statement per 200 (a role change across a large group).
pub fn insert_audit_events(
    conn: &mut DbConnection,
    context: &AuditContext,
    events: &[NewAuditEvent],
    now: NaiveDateTime,
) -> StorageResult<()> {
    for chunk in events.chunks(200) {
        let mut sql = super::query::Sql::new(conn);
        sql.push(
            "INSERT INTO audit_events (id, organization_id, actor, actor_member_id, channel, event_name, subject_member_id, \
             ip_address, user_agent, token_hash, metadata, created_at) VALUES ",
        );
        for (i, event) in chunk.iter().enumerate() {
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.text(uuid::Uuid::now_v7().to_string()).push(", ");
            sql.text(event.organization_id.to_string()).push(", ");
            sql.text(context.actor.clone()).push(", ");
            sql.optional_text(context.actor_member_id.map(|m| m.to_string()))
                .push(", ");
            sql.text(context.channel.as_str()).push(", ");
            sql.text(event.event_name).push(", ");
            sql.optional_text(event.subject_member_id.map(|m| m.to_string()))
                .push(", ");
            sql.optional_text(context.ip_address.clone()).push(", ");
            sql.optional_text(context.user_agent.clone()).push(", ");
            sql.optional_text(context.token_hash.clone()).push(", ");
            sql.text(serde_json::Value::Object(event.metadata.clone()).to_string())
                .push(", ");
            sql.time(now).push(")");
        }
        sql.execute(conn)?;
    }
    super::events::insert_events_for(conn, context, &events.iter().collect::<Vec<_>>(), now)?;
    Ok(())
}

/// Which events to list: one organization, optionally one member (as actor or as subject), in a
/// time window, oldest first.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub member_id: Option<MemberId>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub offset: i64,
    pub limit: i64,
}

/// Returns the page and the total number of matching events.
pub fn list_audit_events(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    query: &AuditQuery,
) -> StorageResult<(Vec<AuditEventRow>, i64)> {
    let filtered = || {
        let mut q = audit_events::table
            .filter(audit_events::organization_id.eq(organization_id.to_string()))
            .into_boxed();
        if let Some(member) = query.member_id {
            let member = member.to_string();
            q = q.filter(
                audit_events::actor_member_id
                    .eq(member.clone())
                    .or(audit_events::subject_member_id.eq(member)),
            );
        }
        if let Some(from) = query.from {
            q = q.filter(audit_events::created_at.ge(from));
        }
        if let Some(to) = query.to {
            q = q.filter(audit_events::created_at.le(to));
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((audit_events::created_at, audit_events::id))
        .offset(query.offset)
        .limit(query.limit)
        .select(AuditEventRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// An event the product records for one of the organization's members.
pub struct ProductAuditEvent<'a> {
    pub actor: String,
    pub context: &'a AuditContext,
    pub event_name: &'a str,
    pub subject_member_id: MemberId,
    pub metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// The product's id for it: recorded once, however often it is sent.
    pub source_event_id: &'a str,
    pub at: NaiveDateTime,
}

/// Records a product event (`source = 'product'`); `false` when its id was recorded before.
pub fn insert_product_event(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    event: &ProductAuditEvent<'_>,
) -> StorageResult<bool> {
    let mut sql = super::query::Sql::new(conn);
    sql.push(
        "INSERT INTO audit_events (id, organization_id, actor, actor_member_id, channel, event_name, subject_member_id, \
         ip_address, user_agent, token_hash, metadata, created_at, source, source_event_id) VALUES (",
    );
    sql.text(uuid::Uuid::now_v7().to_string()).push(", ");
    sql.text(organization_id.to_string()).push(", ");
    sql.text(event.actor.clone()).push(", ");
    sql.optional_text(event.context.actor_member_id.map(|m| m.to_string()))
        .push(", ");
    sql.text(event.context.channel.as_str()).push(", ");
    sql.text(event.event_name).push(", ");
    sql.text(event.subject_member_id.to_string()).push(", ");
    let from_metadata = |key: &str| event.metadata.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    sql.optional_text(from_metadata("ip_address").or_else(|| event.context.ip_address.clone()))
        .push(", ");
    sql.optional_text(from_metadata("user_agent").or_else(|| event.context.user_agent.clone()))
        .push(", ");
    sql.optional_text(event.context.token_hash.clone()).push(", ");
    sql.text(serde_json::Value::Object(event.metadata.clone()).to_string())
        .push(", ");
    sql.time(event.at).push(", 'product', ");
    sql.text(event.source_event_id).push(")");
    // The unique index is partial: roster's own events (no source event id) are not in it.
    sql.push(" ON CONFLICT (organization_id, source_event_id) WHERE source_event_id IS NOT NULL DO NOTHING");
    Ok(sql.execute(conn)? == 1)
}

/// The organization's events in `[from, to]` after `after` (time, id), oldest first: one page of
/// an export that never holds more than a page in memory.
pub fn audit_events_after(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> StorageResult<Vec<AuditEventRow>> {
    let mut q = audit_events::table
        .filter(audit_events::organization_id.eq(organization_id.to_string()))
        .into_boxed();
    if let Some(from) = from {
        q = q.filter(audit_events::created_at.ge(from));
    }
    if let Some(to) = to {
        q = q.filter(audit_events::created_at.le(to));
    }
    if let Some((at, id)) = after {
        q = q.filter(
            audit_events::created_at
                .gt(at)
                .or(audit_events::created_at.eq(at).and(audit_events::id.gt(id))),
        );
    }
    Ok(q.order((audit_events::created_at, audit_events::id))
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn)?)
}
