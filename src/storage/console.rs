//! The admin console's rows: sessions, e-mailed sign-in links, and the provisioning activity log.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{console_sessions, console_sign_in_links, email_outbox, provisioning_activity};
use super::{DbConnection, StorageResult};
use crate::domain::{MemberId, OrganizationId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSessionRow {
    pub id_hash: String,
    pub organization_id: String,
    pub member_id: Option<String>,
    pub token_id: Option<String>,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_console_session(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &ConsoleSessionRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(console_sessions::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_console_session(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id_hash: &str,
) -> StorageResult<ConsoleSessionRow> {
    Ok(console_sessions::table
        .filter(console_sessions::organization_id.eq(organization_id.to_string()))
        .filter(console_sessions::id_hash.eq(id_hash))
        .select(ConsoleSessionRow::as_select())
        .first(conn)?)
}

pub fn delete_console_session(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id_hash: &str,
) -> StorageResult<()> {
    diesel::delete(
        console_sessions::table
            .filter(console_sessions::organization_id.eq(organization_id.to_string()))
            .filter(console_sessions::id_hash.eq(id_hash)),
    )
    .execute(conn)?;
    Ok(())
}

/// Ends every console session of a member (deactivated, suspended, demoted): all of its organization's.
pub fn delete_member_console_sessions(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<usize> {
    Ok(diesel::delete(
        console_sessions::table
            .filter(console_sessions::organization_id.eq(organization_id.to_string()))
            .filter(console_sessions::member_id.eq(member_id.to_string())),
    )
    .execute(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sign_in_links)]
pub struct SignInLinkRow {
    pub id: String,
    pub organization_id: String,
    pub member_id: String,
    pub token_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_sign_in_link(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: &SignInLinkRow,
) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(console_sign_in_links::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_sign_in_link(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: &str,
) -> StorageResult<SignInLinkRow> {
    Ok(console_sign_in_links::table
        .filter(console_sign_in_links::organization_id.eq(organization_id.to_string()))
        .filter(console_sign_in_links::id.eq(id))
        .select(SignInLinkRow::as_select())
        .first(conn)?)
}

/// Gives an unused link the hash of the secret its e-mail is about to carry. False when the link
/// was used meanwhile (then no e-mail should leave).
pub fn set_sign_in_link_token(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: &str,
    token_hash: &str,
) -> StorageResult<bool> {
    Ok(diesel::update(
        console_sign_in_links::table
            .filter(console_sign_in_links::organization_id.eq(organization_id.to_string()))
            .filter(console_sign_in_links::id.eq(id))
            .filter(console_sign_in_links::used_at.is_null()),
    )
    .set(console_sign_in_links::token_hash.eq(token_hash))
    .execute(conn)?
        == 1)
}

/// Uses the link once: true for the one caller that gets to.
pub fn use_sign_in_link(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    token_hash: &str,
    now: NaiveDateTime,
) -> StorageResult<Option<SignInLinkRow>> {
    let Some(link) = console_sign_in_links::table
        .filter(console_sign_in_links::organization_id.eq(organization_id.to_string()))
        .filter(console_sign_in_links::token_hash.eq(token_hash))
        .select(SignInLinkRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let used = diesel::update(
        console_sign_in_links::table
            .filter(console_sign_in_links::organization_id.eq(organization_id.to_string()))
            .filter(console_sign_in_links::id.eq(&link.id))
            .filter(console_sign_in_links::used_at.is_null()),
    )
    .set(console_sign_in_links::used_at.eq(now))
    .execute(conn)?;
    Ok((used == 1).then_some(link))
}

/// Sign-in e-mails of one link (the tests read the outbox row, the worker writes them).
pub fn count_sign_in_mails(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    link_id: &str,
) -> StorageResult<i64> {
    Ok(email_outbox::table
        .filter(email_outbox::organization_id.eq(organization_id.to_string()))
        .filter(email_outbox::sign_in_link_id.eq(link_id))
        .count()
        .get_result(conn)?)
}

/// Drops expired sessions and links of every organization. A housekeeping statement of the
/// worker, like the outbox claim: each row it touches is past its own expiry, whoever owns it.
pub fn prune_console(conn: &mut DbConnection, now: NaiveDateTime) -> StorageResult<usize> {
    let sessions =
        diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(now))).execute(conn)?;
    let links = diesel::delete(
        console_sign_in_links::table.filter(console_sign_in_links::expires_at.le(now - chrono::Duration::days(1))),
    )
    .execute(conn)?;
    Ok(sessions + links)
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = provisioning_activity)]
pub struct NewActivityRow {
    pub organization_id: String,
    pub at: NaiveDateTime,
    pub client: String,
    pub method: String,
    pub path: String,
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub status: i32,
    pub succeeded: bool,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub duration_ms: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = provisioning_activity)]
pub struct ActivityRow {
    pub id: i64,
    pub organization_id: String,
    pub at: NaiveDateTime,
    pub client: String,
    pub method: String,
    pub path: String,
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub status: i32,
    pub succeeded: bool,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub duration_ms: i32,
}

/// Writes a batch of recorded SCIM requests. Each row names its own organization; the recorder
/// serves every organization, as the outbox worker does.
pub fn insert_activity(conn: &mut DbConnection, rows: &[NewActivityRow]) -> StorageResult<usize> {
    use super::schema::organizations;
    // Rows of organizations that no longer exist are skipped (their foreign key would fail the batch).
    let mut named: Vec<&str> = rows.iter().map(|r| r.organization_id.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    let existing: Vec<String> = organizations::table
        .filter(organizations::id.eq_any(named))
        .select(organizations::id)
        .load(conn)?;
    let mut written = 0;
    // One prepared statement, reused for each row of the batch inside the caller's transaction
    // (multi-row VALUES is not available through the connection that serves both backends).
    for row in rows.iter().filter(|r| existing.contains(&r.organization_id)) {
        super::connection::on_backend!(conn, |c| diesel::insert_into(provisioning_activity::table)
            .values(row)
            .execute(c))?;
        written += 1;
    }
    Ok(written)
}

/// Whether the member was sent a sign-in link since `since` that is still unused.
pub fn recent_sign_in_link(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
    since: NaiveDateTime,
) -> StorageResult<bool> {
    use diesel::dsl::exists;
    Ok(diesel::select(exists(
        console_sign_in_links::table
            .filter(console_sign_in_links::organization_id.eq(organization_id.to_string()))
            .filter(console_sign_in_links::member_id.eq(member_id.to_string()))
            .filter(console_sign_in_links::created_at.ge(since))
            .filter(console_sign_in_links::used_at.is_null()),
    ))
    .get_result(conn)?)
}

/// A page of the organization's activity, newest first, before the row `before` (a keyset cursor).
pub fn list_activity(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    succeeded: Option<bool>,
    before: Option<i64>,
    limit: i64,
) -> StorageResult<Vec<ActivityRow>> {
    let mut query = provisioning_activity::table
        .filter(provisioning_activity::organization_id.eq(organization_id.to_string()))
        .select(ActivityRow::as_select())
        .order((provisioning_activity::at.desc(), provisioning_activity::id.desc()))
        .limit(limit)
        .into_boxed();
    // Written as literals, so that failures are read through their partial index.
    match succeeded {
        Some(true) => query = query.filter(provisioning_activity::succeeded),
        Some(false) => query = query.filter(diesel::dsl::not(provisioning_activity::succeeded)),
        None => {}
    }
    if let Some(before) = before {
        // Rows are written in time order per instance, so id order follows time closely enough
        // for a cursor; the exact newest-first order comes from `at`.
        let at: Option<NaiveDateTime> = provisioning_activity::table
            .filter(provisioning_activity::organization_id.eq(organization_id.to_string()))
            .filter(provisioning_activity::id.eq(before))
            .select(provisioning_activity::at)
            .first(conn)
            .optional()?;
        if let Some(at) = at {
            query = query.filter(
                provisioning_activity::at.lt(at).or(provisioning_activity::at
                    .eq(at)
                    .and(provisioning_activity::id.lt(before))),
            );
        }
    }
    Ok(query.load(conn)?)
}

#[derive(QueryableByName, Debug, Clone)]
pub struct HourlyCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub hour: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub succeeded: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub requests: i64,
}

/// Requests per hour (`YYYY-MM-DD HH`) and outcome since `since`, counted in SQL.
pub fn activity_per_hour(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    since: NaiveDateTime,
) -> StorageResult<Vec<HourlyCount>> {
    use diesel::sql_types::{Text, Timestamp};
    let hour = match conn {
        DbConnection::Sqlite(_) => "strftime('%Y-%m-%d %H', at)",
        DbConnection::Postgres(_) => "to_char(date_trunc('hour', at), 'YYYY-MM-DD HH24')",
    };
    let sql = format!(
        "SELECT {hour} AS hour, succeeded, COUNT(*) AS requests FROM provisioning_activity \
         WHERE organization_id = $1 AND at >= $2 GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let sql = match conn {
        DbConnection::Sqlite(_) => sql.replace("$1", "?1").replace("$2", "?2"),
        DbConnection::Postgres(_) => sql,
    };
    Ok(diesel::sql_query(sql)
        .bind::<Text, _>(organization_id.to_string())
        .bind::<Timestamp, _>(since)
        .load(conn)?)
}

/// Drops activity older than `before`, at most `limit` rows per call so that a large backlog
/// never holds the write lock for long. It walks the primary key, oldest first: ids are given in
/// write order, which follows time (batches of several instances interleave by seconds at most).
pub fn prune_activity(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> StorageResult<usize> {
    let oldest: Vec<(i64, NaiveDateTime)> = provisioning_activity::table
        .select((provisioning_activity::id, provisioning_activity::at))
        .order(provisioning_activity::id)
        .limit(limit)
        .load(conn)?;
    let old: Vec<i64> = oldest
        .iter()
        .take_while(|(_, at)| *at < before)
        .map(|(id, _)| *id)
        .collect();
    if old.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(provisioning_activity::table.filter(provisioning_activity::id.eq_any(old))).execute(conn)?)
}

/// The outbox as the metrics see it: messages waiting, and the due time of the oldest.
pub fn outbox_backlog(conn: &mut DbConnection) -> StorageResult<(i64, Option<NaiveDateTime>)> {
    use diesel::dsl::{count_star, min};
    Ok(email_outbox::table
        .filter(email_outbox::status.eq("PENDING"))
        .select((count_star(), min(email_outbox::next_attempt_at)))
        .first(conn)?)
}
