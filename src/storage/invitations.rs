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
}

pub fn insert_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &InvitationRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(invitations::table).values(row).execute(conn)?;
    Ok(())
}

/// The member's most recent invitation, whatever its state.
pub fn find_latest_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<Option<InvitationRow>> {
    Ok(invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::member_id.eq(member_id.to_string()))
        .order((invitations::created_at.desc(), invitations::id.desc()))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?)
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
    let open = invitations::table
        .filter(invitations::organization_id.eq(organization_id.to_string()))
        .filter(invitations::member_id.eq(member_id.to_string()))
        .filter(invitations::status.eq("SENT"));
    let ids: Vec<String> = open.select(invitations::id).load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(
        email_outbox::table
            .filter(email_outbox::organization_id.eq(organization_id.to_string()))
            .filter(email_outbox::invitation_id.eq_any(ids.clone()))
            .filter(email_outbox::status.eq("PENDING")),
    )
    .execute(conn)?;
    Ok(diesel::update(
        invitations::table
            .filter(invitations::organization_id.eq(organization_id.to_string()))
            .filter(invitations::id.eq_any(ids)),
    )
    .set((invitations::status.eq(status), invitations::cancelled_at.eq(now)))
    .execute(conn)?)
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
}

pub fn insert_outbox_message(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &OutboxRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(email_outbox::table).values(row).execute(conn)?;
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
