use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::query::{Column, Sql, search, write_condition, write_order_and_page};
use super::schema::members;
use super::{DbConnection, StorageResult};
use crate::domain::query::{Condition, ListQuery, MemberField, PageStart};
use crate::domain::{MemberId, MemberKind, OrganizationId, UserName};

/// A `members` row as stored. Converted to the domain `Member` by the service layer.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = members)]
pub struct MemberRow {
    pub id: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub user_name: String,
    pub user_name_ci: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_ci: Option<String>,
    pub phone_number: Option<String>,
    pub role: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub scim_attributes: String,
    pub scim_deleted_at: Option<NaiveDateTime>,
    pub removed_at: Option<NaiveDateTime>,
    pub version: i64,
    pub added_date: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login: Option<NaiveDateTime>,
    pub deactivated_date: Option<NaiveDateTime>,
    pub verified_at: Option<NaiveDateTime>,
    pub role_from_groups: bool,
    pub ignored_roles: Option<String>,
    /// `person` or `agent`.
    pub kind: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = members)]
pub struct NewMember {
    pub id: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub user_name: String,
    pub user_name_ci: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub email_ci: Option<String>,
    pub phone_number: Option<String>,
    pub role: String,
    pub status: String,
    pub scim_attributes: String,
    pub added_date: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `roles` values that map to no role (JSON array), for the organization summary.
    pub ignored_roles: Option<String>,
    /// `person` or `agent`.
    pub kind: String,
}

/// Inserts a member and returns its row as stored (defaults included), without reading it again.
pub fn insert_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member: &NewMember,
) -> StorageResult<MemberRow> {
    debug_assert_eq!(member.organization_id, organization_id.to_string());
    Ok(super::connection::on_backend!(conn, |c| diesel::insert_into(
        members::table
    )
    .values(member)
    .returning(MemberRow::as_returning())
    .get_result(c))?)
}

/// Inserts several members of one organization in one statement per 500 (seeding, imports).
pub fn insert_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    rows: &[NewMember],
) -> StorageResult<()> {
    for chunk in rows.chunks(500) {
        let mut sql = Sql::new(conn);
        sql.push(
            "INSERT INTO members (id, organization_id, user_id, user_name, user_name_ci, external_id, display_name, \
             first_name, last_name, email, email_ci, phone_number, role, status, scim_attributes, added_date, updated_at) VALUES ",
        );
        for (i, m) in chunk.iter().enumerate() {
            debug_assert_eq!(m.organization_id, organization_id.to_string());
            sql.push(if i == 0 { "(" } else { ", (" });
            sql.text(m.id.clone()).push(", ");
            sql.text(organization_id.to_string()).push(", ");
            sql.optional_text(m.user_id.clone()).push(", ");
            sql.text(m.user_name.clone()).push(", ");
            sql.text(m.user_name_ci.clone()).push(", ");
            sql.optional_text(m.external_id.clone()).push(", ");
            sql.optional_text(m.display_name.clone()).push(", ");
            sql.optional_text(m.first_name.clone()).push(", ");
            sql.optional_text(m.last_name.clone()).push(", ");
            sql.optional_text(m.email.clone()).push(", ");
            sql.optional_text(m.email_ci.clone()).push(", ");
            sql.optional_text(m.phone_number.clone()).push(", ");
            sql.text(m.role.clone()).push(", ");
            sql.text(m.status.clone()).push(", ");
            sql.text(m.scim_attributes.clone()).push(", ");
            sql.time(m.added_date).push(", ");
            sql.time(m.updated_at).push(")");
        }
        sql.execute(conn)?;
    }
    Ok(())
}

pub fn find_member(conn: &mut DbConnection, organization_id: OrganizationId, id: MemberId) -> StorageResult<MemberRow> {
    Ok(super::connection::on_backend!(conn, |c| members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::id.eq(id.to_string()))
        .select(MemberRow::as_select())
        .first(c))?)
}

/// A member and its latest invitation (if it has one) in one statement: the point reads of both
/// doors show the invitation's state, and on PostgreSQL every statement is a round trip.
pub fn find_member_with_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
) -> StorageResult<(MemberRow, Option<super::InvitationRow>)> {
    use super::schema::invitations;
    let organization = organization_id.to_string();
    Ok(super::connection::on_backend!(conn, |c| members::table
        .left_join(
            invitations::table.on(invitations::member_id
                .eq(members::id)
                .and(invitations::organization_id.eq(organization.clone()))),
        )
        .filter(members::organization_id.eq(organization.clone()))
        .filter(members::id.eq(id.to_string()))
        .order((invitations::created_at.desc(), invitations::id.desc()))
        .select((MemberRow::as_select(), Option::<super::InvitationRow>::as_select()))
        .first(c))?)
}

/// Reads a member in order to change it. On PostgreSQL the row stays locked (`FOR NO KEY UPDATE`)
/// until the transaction ends, so overlapping read-modify-writes of one member queue instead of
/// overwriting each other (READ COMMITTED alone lets the later commit erase the earlier one). On
/// SQLite the write transaction already holds the database's only write lock.
pub fn lock_member(conn: &mut DbConnection, organization_id: OrganizationId, id: MemberId) -> StorageResult<MemberRow> {
    // `as_select` is typed by its backend, so the query is written once per arm.
    macro_rules! query {
        () => {
            members::table
                .filter(members::organization_id.eq(organization_id.to_string()))
                .filter(members::id.eq(id.to_string()))
                .select(MemberRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Postgres(pg) => query!().for_no_key_update().first(pg)?,
        DbConnection::Sqlite(lite) => query!().first(lite)?,
    })
}

/// Members by id, keyed by id (event payloads).
pub fn members_by_id(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    ids: &[MemberId],
) -> StorageResult<std::collections::HashMap<String, MemberRow>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<String> = ids.iter().map(|m| m.to_string()).collect();
    // One id (every change event of a single change) takes the statement diesel keeps prepared;
    // an `IN` list of any length is prepared anew each time (5 % of a `POST /Users` in perf).
    let rows: Vec<MemberRow> = if let [id] = ids.as_slice() {
        super::connection::on_backend!(conn, |c| members::table
            .filter(members::organization_id.eq(organization_id.to_string()))
            .filter(members::id.eq(id))
            .select(MemberRow::as_select())
            .load(c))?
    } else {
        super::connection::on_backend!(conn, |c| members::table
            .filter(members::organization_id.eq(organization_id.to_string()))
            .filter(members::id.eq_any(&ids))
            .select(MemberRow::as_select())
            .load(c))?
    };
    Ok(rows.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// Case-insensitive lookup on the `(organization_id, user_name_ci)` unique index.
pub fn find_member_by_user_name(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    user_name: &UserName,
) -> StorageResult<Option<MemberRow>> {
    Ok(super::connection::on_backend!(conn, |c| members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::user_name_ci.eq(user_name.key()))
        .select(MemberRow::as_select())
        .first(c)
        .optional())?)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Which members to list. Protocol-neutral: the native API's query parameters become this.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<String>,
    /// Any of these roles (empty: all).
    pub roles: Vec<String>,
    /// Case-insensitive substring of first or last name, display name, e-mail or phone.
    pub search: Option<String>,
    /// Include members whose invitation was cancelled.
    pub include_removed: bool,
    /// Order by this field (then by id); `None` is creation order.
    pub sort: Option<(MemberSort, bool)>,
    /// People or agents (`None`: people).
    pub kind: Option<MemberKind>,
}

/// Fields the native list sorts by; the flag in `MemberFilter::sort` is "descending".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSort {
    AddedDate,
    FirstName,
    LastName,
    Email,
    Role,
    Status,
    LastLogin,
}

/// A page of members in creation order (ids are time-ordered) and the total matching.
pub fn list_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    filter: &MemberFilter,
    offset: i64,
    limit: i64,
) -> StorageResult<(Vec<MemberRow>, i64)> {
    let query = || {
        let mut q = members::table
            .filter(members::organization_id.eq(organization_id.to_string()))
            .into_boxed();
        if !filter.include_removed {
            q = q.filter(members::removed_at.is_null());
        }
        q = q.filter(members::kind.eq(filter.kind.unwrap_or(MemberKind::Person).as_str()));
        if !filter.statuses.is_empty() {
            q = q.filter(members::status.eq_any(filter.statuses.clone()));
        }
        if !filter.roles.is_empty() {
            q = q.filter(members::role.eq_any(filter.roles.clone()));
        }
        if let Some(search) = filter.search.as_deref() {
            let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
            q = q.filter(
                lower(members::first_name.assume_not_null())
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(members::last_name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(members::display_name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(members::email_ci.assume_not_null().like(pattern.clone()).escape('\\'))
                    .or(members::phone_number.assume_not_null().like(pattern).escape('\\')),
            );
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let ordered = match filter.sort {
        None => query().order(members::id.asc()),
        Some((field, descending)) => {
            macro_rules! by {
                ($column:expr) => {
                    if descending {
                        query().order(($column.desc(), members::id.asc()))
                    } else {
                        query().order(($column.asc(), members::id.asc()))
                    }
                };
            }
            match field {
                MemberSort::AddedDate => by!(members::added_date),
                MemberSort::FirstName => by!(members::first_name),
                MemberSort::LastName => by!(members::last_name),
                MemberSort::Email => by!(members::email_ci),
                MemberSort::Role => by!(members::role),
                MemberSort::Status => by!(members::status),
                MemberSort::LastLogin => by!(members::last_login),
            }
        }
    };
    let rows = ordered
        .offset(offset)
        .limit(limit)
        .select(MemberRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Escapes LIKE's wildcards so that user input matches literally.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub fn find_member_by_email(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    email_key: &str,
) -> StorageResult<Option<MemberRow>> {
    Ok(super::connection::on_backend!(conn, |c| members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::email_ci.eq(email_key))
        .select(MemberRow::as_select())
        .first(c)
        .optional())?)
}

pub fn find_member_by_phone(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    phone_number: &str,
) -> StorageResult<Option<MemberRow>> {
    Ok(super::connection::on_backend!(conn, |c| members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::phone_number.eq(phone_number))
        .select(MemberRow::as_select())
        .first(c)
        .optional())?)
}

/// Columns a use case may change. `None` leaves a column alone; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = members)]
pub struct MemberChanges {
    pub user_id: Option<Option<String>>,
    pub user_name: Option<String>,
    pub user_name_ci: Option<String>,
    pub external_id: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub email_ci: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub role: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<Option<String>>,
    pub scim_attributes: Option<String>,
    pub scim_deleted_at: Option<Option<NaiveDateTime>>,
    pub removed_at: Option<Option<NaiveDateTime>>,
    pub last_login: Option<Option<NaiveDateTime>>,
    pub deactivated_date: Option<Option<NaiveDateTime>>,
    pub verified_at: Option<Option<NaiveDateTime>>,
    pub role_from_groups: Option<bool>,
    pub ignored_roles: Option<Option<String>>,
}

/// Applies `changes`, stamps `updated_at` and bumps `version` (the SCIM ETag). Returns the new row.
pub fn update_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    changes: &MemberChanges,
    now: NaiveDateTime,
) -> StorageResult<MemberRow> {
    let (organization, member) = (organization_id.to_string(), id.to_string());
    let updated = super::connection::on_backend!(conn, |c| diesel::update(
        members::table
            .filter(members::organization_id.eq(&organization))
            .filter(members::id.eq(&member))
    )
    .set((
        changes,
        members::updated_at.eq(now),
        members::version.eq(members::version + 1),
    ))
    .execute(c))?;
    if updated == 0 {
        return Err(super::StorageError::NotFound);
    }
    let row = find_member(conn, organization_id, id)?;
    // A member who is no longer an active administrator loses their console sessions in the same
    // transaction, whichever door changed them, so that restoring them later revives none.
    if changes.status.is_some() || changes.role.is_some() || changes.removed_at.is_some() {
        let administrator = row.role.parse::<crate::domain::Role>().is_ok_and(|r| r.is_admin());
        let eligible =
            row.status == crate::domain::MemberStatus::Active.as_str() && administrator && row.removed_at.is_none();
        if !eligible {
            super::delete_member_console_sessions(conn, organization_id, id)?;
        }
    }
    Ok(row)
}

/// Active administrators of the organization other than `except`.
pub fn count_active_administrators(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    except: MemberId,
) -> StorageResult<i64> {
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::role.eq(crate::domain::Role::Administrator.as_str()))
        .filter(members::status.eq(crate::domain::MemberStatus::Active.as_str()))
        .filter(members::removed_at.is_null())
        .filter(members::id.ne(except.to_string()))
        .count()
        .get_result(conn)?)
}

/// Records a member's use of the service, at most once a minute.
pub fn touch_member_login(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    now: NaiveDateTime,
) -> StorageResult<()> {
    let stale = now - chrono::Duration::seconds(60);
    diesel::update(
        members::table
            .filter(members::organization_id.eq(organization_id.to_string()))
            .filter(members::id.eq(id.to_string()))
            .filter(members::last_login.is_null().or(members::last_login.lt(stale))),
    )
    .set(members::last_login.eq(now))
    .execute(conn)?;
    Ok(())
}

fn member_column(field: &MemberField, _: &mut Sql) -> Option<Column> {
    Some(match field {
        MemberField::Id => Column::folded("id"),
        MemberField::UserName => Column::folded("user_name_ci"),
        MemberField::ExternalId => Column::plain("external_id"),
        MemberField::DisplayName => Column::folded("lower(display_name)"),
        MemberField::FirstName => Column::folded("lower(first_name)"),
        MemberField::LastName => Column::folded("lower(last_name)"),
        MemberField::Email => Column::folded("email_ci"),
        // Any of the member's addresses: a row of member_emails.
        MemberField::AnyEmail => Column {
            within: Some((
                "members.id",
                "SELECT me.member_id FROM member_emails me WHERE me.organization_id = members.organization_id AND ",
            )),
            ..Column::folded("me.value_ci")
        },
        MemberField::Phone => Column::plain("phone_number"),
        MemberField::Role => Column::upper("role"),
        MemberField::Status => Column::upper("status"),
        MemberField::Created => Column::time("added_date"),
        MemberField::LastModified => Column::time("updated_at"),
        MemberField::Attribute { path, case_exact } => Column {
            fold_case: !case_exact,
            json: Some(("scim_attributes", path.clone())),
            ..Column::plain("")
        },
    })
}

/// Which members a SCIM listing sees: not those deleted through SCIM (nor cancelled invitations).
fn write_scim_scope(sql: &mut Sql, organization_id: OrganizationId, kind: MemberKind) {
    sql.push(" FROM members WHERE organization_id = ");
    sql.text(organization_id.to_string());
    sql.push(" AND scim_deleted_at IS NULL AND removed_at IS NULL AND ");
    sql.push(kind_literal(kind));
    sql.push(" AND ");
}

/// The kind condition as a literal (never a bound value): the partial indexes of people and agents
/// are chosen only when the query states their condition exactly.
fn kind_literal(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::Person => "kind = 'person'",
        MemberKind::Agent => "kind = 'agent'",
    }
}

/// A page of the members matching `query`, and how many match in all. Filter, sort and paging all
/// run in SQL.
pub fn search_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    kind: MemberKind,
    query: &ListQuery<MemberField>,
) -> StorageResult<(Vec<MemberRow>, i64)> {
    if let Some(mut rows) = lookup_by_key(conn, organization_id, query)? {
        rows.retain(|r| r.kind == kind.as_str());
        let total = rows.len() as i64;
        return Ok((rows, total));
    }
    if let Some(page) = list_all(conn, organization_id, kind, query)? {
        return Ok(page);
    }
    Ok(search(
        conn,
        &|sql| write_scim_scope(sql, organization_id, kind),
        query,
        &member_column,
    )?)
}

/// Like [`search_members`] without the count: for lookups that only need the rows.
pub fn find_members_matching(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    condition: &Condition<MemberField>,
    limit: i64,
) -> StorageResult<Vec<MemberRow>> {
    let mut page = Sql::new(conn);
    page.push("SELECT *");
    write_scim_scope(&mut page, organization_id, MemberKind::Person);
    write_condition(&mut page, condition, &member_column);
    write_order_and_page(&mut page, None, &PageStart::Offset(0), limit, &member_column);
    Ok(page.load::<MemberRow>(conn)?)
}

/// The unfiltered listing in id order (an IdP's full sync pages through it): typed queries whose
/// prepared statements are cached, rather than SQL text parsed and planned for every page. `None`
/// for any other query.
fn list_all(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    kind: MemberKind,
    query: &ListQuery<MemberField>,
) -> StorageResult<Option<(Vec<MemberRow>, i64)>> {
    let (Condition::Always, None, PageStart::Offset(offset)) = (&query.condition, &query.sort, &query.start) else {
        return Ok(None);
    };
    let visible = members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::scim_deleted_at.is_null())
        .filter(members::removed_at.is_null())
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(kind_literal(kind)));
    let rows: Vec<MemberRow> = if query.limit > 0 {
        visible
            .clone()
            .order(members::id.asc())
            .offset(*offset)
            .limit(query.limit)
            .select(MemberRow::as_select())
            .load(conn)?
    } else {
        Vec::new()
    };
    // A short first page is the whole result.
    let total = if *offset == 0 && (rows.len() as i64) < query.limit {
        rows.len() as i64
    } else {
        visible.count().get_result(conn)?
    };
    Ok(Some((rows, total)))
}

/// The lookup IdPs make most (`userName eq`, `externalId eq`, `id eq`, on a first page): a typed
/// query on its index, without ORDER BY, so its plan never depends on statistics and its prepared
/// statement is cached. `None` for any other query.
fn lookup_by_key(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    query: &ListQuery<MemberField>,
) -> StorageResult<Option<Vec<MemberRow>>> {
    use crate::domain::query::{Comparison, Scalar};
    let Condition::Compare(field, Comparison::Eq, Scalar::Text(value)) = &query.condition else {
        return Ok(None);
    };
    if query.sort.is_some() || query.start != PageStart::Offset(0) || query.limit < 1 {
        return Ok(None);
    }
    // Only the key in SQL: its unique index (or the primary key) is the one index that matches, so
    // the plan holds even before the table has statistics. Visibility is read from the row found.
    let scoped = members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .select(MemberRow::as_select());
    let visible = |rows: Vec<MemberRow>| -> Vec<MemberRow> {
        rows.into_iter()
            .filter(|r| r.scim_deleted_at.is_none() && r.removed_at.is_none())
            .collect()
    };
    let rows = match field {
        MemberField::UserName => visible(
            scoped
                .filter(members::user_name_ci.eq(value.to_lowercase()))
                .load(conn)?,
        ),
        MemberField::Id => visible(scoped.filter(members::id.eq(value.to_lowercase())).load(conn)?),
        MemberField::ExternalId => {
            // Not unique: a full page needs the counted path for its total.
            let found: Vec<MemberRow> = scoped
                .filter(members::external_id.eq(value))
                .order(members::id)
                .limit(query.limit + 1)
                .load(conn)?;
            if found.len() as i64 > query.limit {
                return Ok(None);
            }
            let rows = visible(found);
            if rows.len() as i64 >= query.limit {
                return Ok(None);
            }
            rows
        }
        _ => return Ok(None),
    };
    Ok(Some(rows))
}

/// Replaces the set of e-mail addresses a member is found by (lower-cased, deduplicated). Most
/// updates leave it as it is: then it is only read, not rewritten.
pub fn set_member_emails(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
    emails: &[String],
) -> StorageResult<()> {
    use super::schema::member_emails;
    let wanted = email_keys(emails);
    let mut stored: Vec<String> = member_emails::table
        .filter(member_emails::organization_id.eq(organization_id.to_string()))
        .filter(member_emails::member_id.eq(member_id.to_string()))
        .select(member_emails::value_ci)
        .load(conn)?;
    stored.sort();
    if stored == wanted {
        return Ok(());
    }
    diesel::delete(
        member_emails::table
            .filter(member_emails::organization_id.eq(organization_id.to_string()))
            .filter(member_emails::member_id.eq(member_id.to_string())),
    )
    .execute(conn)?;
    insert_email_keys(conn, organization_id, member_id, &wanted)
}

/// The addresses a member is found by, for a member that has none yet (just created).
pub fn add_member_emails(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
    emails: &[String],
) -> StorageResult<()> {
    insert_email_keys(conn, organization_id, member_id, &email_keys(emails))
}

/// Addresses as they are looked up: trimmed, lower-cased, sorted, each once.
fn email_keys(emails: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = emails
        .iter()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn insert_email_keys(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
    keys: &[String],
) -> StorageResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new(conn);
    sql.push("INSERT INTO member_emails (member_id, organization_id, value_ci) VALUES ");
    for (i, v) in keys.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.text(member_id.to_string()).push(", ");
        sql.text(organization_id.to_string()).push(", ");
        sql.text(v.clone()).push(")");
    }
    sql.execute(conn)?;
    Ok(())
}

/// The organization's member (removed ones included) that is the person `user_id`, if any.
pub fn find_member_by_user(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    user_id: crate::domain::UserId,
) -> StorageResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::user_id.eq(user_id.to_string()))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets an agent's owners: the members among `owners` that are people of the organization (others
/// are left out and returned). Replaces the previous owners.
pub fn set_agent_owners(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    agent: MemberId,
    owners: &[MemberId],
) -> StorageResult<Vec<MemberId>> {
    use super::schema::agent_owners;
    diesel::delete(
        agent_owners::table
            .filter(agent_owners::organization_id.eq(organization_id.to_string()))
            .filter(agent_owners::agent_id.eq(agent.to_string())),
    )
    .execute(conn)?;
    let people: std::collections::HashSet<String> = members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::id.eq_any(owners.iter().map(|o| o.to_string())))
        .filter(members::kind.eq("person"))
        .select(members::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut unknown = Vec::new();
    let mut added = std::collections::HashSet::new();
    for owner in owners {
        if !people.contains(&owner.to_string()) {
            unknown.push(*owner);
        } else if added.insert(*owner) {
            diesel::insert_into(agent_owners::table)
                .values((
                    agent_owners::organization_id.eq(organization_id.to_string()),
                    agent_owners::agent_id.eq(agent.to_string()),
                    agent_owners::owner_id.eq(owner.to_string()),
                ))
                .execute(conn)?;
        }
    }
    Ok(unknown)
}

/// An agent's owner: (member id, name, status).
pub type AgentOwner = (String, String, String);
/// Agent id → its owners.
pub type OwnersByAgent = std::collections::HashMap<String, Vec<AgentOwner>>;
/// (agent, owner, user name, first name, last name, status) as joined.
type OwnerJoin = (String, String, String, Option<String>, Option<String>, String);

/// The owners of these agents: agent id → [(owner id, owner's display name, owner's status)].
pub fn owners_of_agents(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    agents: &[MemberId],
) -> StorageResult<OwnersByAgent> {
    use super::schema::agent_owners;
    if agents.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<OwnerJoin> = agent_owners::table
        .inner_join(members::table.on(members::id.eq(agent_owners::owner_id)))
        .filter(agent_owners::organization_id.eq(organization_id.to_string()))
        .filter(agent_owners::agent_id.eq_any(agents.iter().map(|a| a.to_string())))
        .select((
            agent_owners::agent_id,
            agent_owners::owner_id,
            members::user_name,
            members::first_name,
            members::last_name,
            members::status,
        ))
        .load(conn)?;
    let mut out: OwnersByAgent = Default::default();
    for (agent, owner, user_name, first, last, status) in rows {
        let display = match (first, last) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(f), None) => f,
            (None, Some(l)) => l,
            (None, None) => user_name,
        };
        out.entry(agent).or_default().push((owner, display, status));
    }
    Ok(out)
}

/// Agents of the organization (not removed) none of whose owners is still an ACTIVE member.
pub fn count_agents_without_owner(conn: &mut DbConnection, organization_id: OrganizationId) -> StorageResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut sql = Sql::new(conn);
    sql.push("SELECT COUNT(*) AS n FROM members a WHERE a.organization_id = ");
    sql.text(organization_id.to_string());
    sql.push(
        " AND a.kind = 'agent' AND a.removed_at IS NULL AND a.scim_deleted_at IS NULL AND NOT EXISTS \
         (SELECT 1 FROM agent_owners o JOIN members p ON p.id = o.owner_id WHERE o.agent_id = a.id \
         AND p.status = 'ACTIVE' AND p.removed_at IS NULL AND p.scim_deleted_at IS NULL)",
    );
    Ok(sql.load::<Count>(conn)?.first().map_or(0, |c| c.n))
}
