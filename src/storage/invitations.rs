use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{email_outbox, invitations};
use super::{DbConnection, StorageResult};
use crate::domain::{InvitationId, MemberId, OrganizationId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub member_id: String,
    pub token_hash: String,
    pub email: String,
    pub status: String,
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub cancelled_at: Option<NaiveDateTime>,
    pub delivery_status: String,
    pub delivered_at: Option<NaiveDateTime>,
}

pub fn insert_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &InvitationRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    super::connection::on_backend!(conn, |c| diesel::insert_into(invitations::table).values(row).execute(c))?;
    Ok(())
}

/// The member's most recent invitation, whatever its state.
pub fn find_latest_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<Option<InvitationRow>> {
    Ok(super::connection::on_backend!(conn, |c| invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::member_id.eq(member_id.to_string()))
        .order((invitations::created_at.desc(), invitations::id.desc()))
        .select(InvitationRow::as_select())
        .first(c)
        .optional())?)
}

/// Moves the member's open (`SENT`) invitations to `status` and drops their unsent e-mails, so that
/// a cancelled or superseded invitation is never delivered.
pub fn close_open_invitations(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
    status: &str,
    now: NaiveDateTime,
) -> StorageResult<usize> {
    let ids: Vec<String> = invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::member_id.eq(member_id.to_string()))
        .filter(invitations::status.eq("SENT"))
        .select(invitations::id)
        .load(conn)?;
    // One id at a time: a member has one open invitation at most as a rule, and statements of a
    // fixed shape stay prepared, where `IN` lists are prepared anew each time. (An `IN (SELECT …)`
    // let SQLite scan the outbox by its status index instead.)
    let mut closed = 0;
    for id in &ids {
        diesel::delete(
            email_outbox::table
                .filter(email_outbox::organization_id.eq(organization_id.to_string()))
                .filter(email_outbox::invitation_id.eq(id))
                .filter(email_outbox::status.eq("PENDING")),
        )
        .execute(conn)?;
        closed += diesel::update(
            invitations::table
                .filter(invitations::organization_id.eq(organization_id.to_string()))
                .filter(invitations::id.eq(id)),
        )
        .set((invitations::status.eq(status), invitations::cancelled_at.eq(now)))
        .execute(conn)?;
    }
    Ok(closed)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_outbox)]
pub struct OutboxRow {
    pub id: String,
    pub organization_id: String,
    pub invitation_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// Set for a console sign-in e-mail: the link whose secret is minted when it leaves.
    pub sign_in_link_id: Option<String>,
    /// What the message says (`domain::email::EmailTemplate` as JSON), rendered when it leaves;
    /// the body columns are empty then. Messages queued before this column have bodies instead.
    pub template: Option<String>,
}

impl OutboxRow {
    /// A message queued now, to be rendered from `template` (`domain::email::EmailTemplate` as
    /// JSON) when it leaves.
    pub fn queued(
        organization_id: OrganizationId,
        recipient: String,
        subject: String,
        template: String,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            organization_id: organization_id.to_string(),
            invitation_id: None,
            recipient,
            subject,
            body_text: String::new(),
            body_html: String::new(),
            status: "PENDING".to_owned(),
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            last_error: None,
            created_at: now,
            sent_at: None,
            sign_in_link_id: None,
            template: Some(template),
        }
    }
}

pub fn insert_outbox_message(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &OutboxRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    super::connection::on_backend!(conn, |c| diesel::insert_into(email_outbox::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// The outbox messages of one invitation (oldest first).
pub fn list_outbox_for_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    invitation_id: InvitationId,
) -> StorageResult<Vec<OutboxRow>> {
    Ok(email_outbox::table
        .filter(email_outbox::organization_id.eq(organization_id.to_string()))
        .filter(email_outbox::invitation_id.eq(invitation_id.to_string()))
        .order(email_outbox::created_at)
        .select(OutboxRow::as_select())
        .load(conn)?)
}

/// The most recent invitation of each of `member_ids` (one query, for a page of members).
pub fn latest_invitations(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_ids: &[MemberId],
) -> StorageResult<std::collections::HashMap<String, InvitationRow>> {
    let ids: Vec<String> = member_ids.iter().map(|m| m.to_string()).collect();
    let rows: Vec<InvitationRow> = invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::member_id.eq_any(ids))
        .order((invitations::created_at.asc(), invitations::id.asc()))
        .select(InvitationRow::as_select())
        .load(conn)?;
    // Later rows overwrite earlier ones: what is left is each member's latest.
    Ok(rows.into_iter().map(|r| (r.member_id.clone(), r)).collect())
}

/// Looks an invitation up by the hash of its acceptance token. The token is the capability, so this
/// is the one lookup not scoped by an organization id: the invitation names its organization.
pub fn find_invitation_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> StorageResult<Option<InvitationRow>> {
    Ok(invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: InvitationId,
) -> StorageResult<InvitationRow> {
    Ok(invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::id.eq(id.to_string()))
        .select(InvitationRow::as_select())
        .first(conn)?)
}

/// Replaces the acceptance token's hash (a token is minted for each delivery attempt).
pub fn set_invitation_token(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: InvitationId,
    token_hash: &str,
) -> StorageResult<()> {
    diesel::update(
        invitations::table
            .filter(invitations::organization_id.eq(organization_id.to_string()))
            .filter(invitations::id.eq(id.to_string())),
    )
    .set(invitations::token_hash.eq(token_hash))
    .execute(conn)?;
    Ok(())
}

pub fn set_invitation_delivery(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: InvitationId,
    delivery_status: &str,
    delivered_at: Option<NaiveDateTime>,
) -> StorageResult<()> {
    diesel::update(
        invitations::table
            .filter(invitations::organization_id.eq(organization_id.to_string()))
            .filter(invitations::id.eq(id.to_string())),
    )
    .set((
        invitations::delivery_status.eq(delivery_status),
        invitations::delivered_at.eq(delivered_at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Marks an invitation accepted; false if it was no longer open (a concurrent acceptance).
pub fn mark_invitation_accepted(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: InvitationId,
    now: NaiveDateTime,
) -> StorageResult<bool> {
    let updated = diesel::update(
        invitations::table
            .filter(invitations::organization_id.eq(organization_id.to_string()))
            .filter(invitations::id.eq(id.to_string()))
            .filter(invitations::status.eq("SENT")),
    )
    .set((invitations::status.eq("ACCEPTED"), invitations::accepted_at.eq(now)))
    .execute(conn)?;
    Ok(updated == 1)
}

#[derive(diesel::QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Claims up to `limit` due messages for this worker until `lease_until`, counting the attempt.
///
/// The delivery worker serves every organization, so this system-level query is not scoped by one;
/// each claimed row carries its organization id and everything done with it afterwards is scoped.
/// Several instances can poll at once: on PostgreSQL `FOR UPDATE SKIP LOCKED` gives each row to one
/// of them; on SQLite the immediate write transaction this must run in does.
pub fn claim_due_messages(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> StorageResult<Vec<OutboxRow>> {
    use diesel::sql_types::{BigInt, Timestamp};
    let due = "SELECT id FROM email_outbox WHERE status = 'PENDING' AND next_attempt_at <= {now} \
               AND (locked_until IS NULL OR locked_until <= {now}) ORDER BY next_attempt_at, id LIMIT {limit}";
    let ids: Vec<String> = match conn {
        DbConnection::Postgres(_) => {
            diesel::sql_query(due.replace("{now}", "$1").replace("{limit}", "$2") + " FOR UPDATE SKIP LOCKED")
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<ClaimedId>(conn)?
        }
        DbConnection::Sqlite(_) => diesel::sql_query(due.replace("{now}", "?1").replace("{limit}", "?2"))
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load::<ClaimedId>(conn)?,
    }
    .into_iter()
    .map(|c| c.id)
    .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(email_outbox::table.filter(email_outbox::id.eq_any(ids.clone())))
        .set((
            email_outbox::locked_until.eq(lease_until),
            email_outbox::attempts.eq(email_outbox::attempts + 1),
        ))
        .execute(conn)?;
    Ok(email_outbox::table
        .filter(email_outbox::id.eq_any(ids))
        .order((email_outbox::next_attempt_at, email_outbox::id))
        .select(OutboxRow::as_select())
        .load(conn)?)
}

/// Records the outcome of a delivery attempt: `SENT`, `FAILED` for good, or `PENDING` again at
/// `next_attempt_at`. False when the message is gone (its organization was deleted meanwhile).
pub fn record_delivery(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    message_id: &str,
    status: &str,
    next_attempt_at: Option<NaiveDateTime>,
    error: Option<&str>,
    now: NaiveDateTime,
) -> StorageResult<bool> {
    let target = email_outbox::table
        .filter(email_outbox::organization_id.eq(organization_id.to_string()))
        .filter(email_outbox::id.eq(message_id));
    let updated = diesel::update(target)
        .set((
            email_outbox::status.eq(status),
            email_outbox::locked_until.eq(None::<NaiveDateTime>),
            email_outbox::last_error.eq(error),
            email_outbox::sent_at.eq((status == "SENT").then_some(now)),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    if let Some(at) = next_attempt_at {
        diesel::update(
            email_outbox::table
                .filter(email_outbox::organization_id.eq(organization_id.to_string()))
                .filter(email_outbox::id.eq(message_id)),
        )
        .set(email_outbox::next_attempt_at.eq(at))
        .execute(conn)?;
    }
    Ok(true)
}
