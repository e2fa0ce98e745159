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
