use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::members;
use super::{DbConnection, StorageResult};
use crate::domain::{MemberId, OrganizationId, UserName};

/// A `members` row as stored. Converted to the domain `Member` by the service layer.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
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
}

pub fn insert_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member: &NewMember,
) -> StorageResult<()> {
    debug_assert_eq!(member.organization_id, organization_id.to_string());
    diesel::insert_into(members::table).values(member).execute(conn)?;
    Ok(())
}

pub fn find_member(conn: &mut DbConnection, organization_id: OrganizationId, id: MemberId) -> StorageResult<MemberRow> {
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::id.eq(id.to_string()))
        .select(MemberRow::as_select())
        .first(conn)?)
}

/// Case-insensitive lookup on the `(organization_id, user_name_ci)` unique index.
pub fn find_member_by_user_name(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    user_name: &UserName,
) -> StorageResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::user_name_ci.eq(user_name.key()))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
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
    let rows = query()
        .order(members::id)
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
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::email_ci.eq(email_key))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_member_by_phone(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    phone_number: &str,
) -> StorageResult<Option<MemberRow>> {
    Ok(members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::phone_number.eq(phone_number))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?)
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
}

/// Applies `changes`, stamps `updated_at` and bumps `version` (the SCIM ETag). Returns the new row.
pub fn update_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    changes: &MemberChanges,
    now: NaiveDateTime,
) -> StorageResult<MemberRow> {
    let target = members::table
        .filter(members::organization_id.eq(organization_id.to_string()))
        .filter(members::id.eq(id.to_string()));
    let updated = diesel::update(target)
        .set((
            changes,
            members::updated_at.eq(now),
            members::version.eq(members::version + 1),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(super::StorageError::NotFound);
    }
    find_member(conn, organization_id, id)
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
