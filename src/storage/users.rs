use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::{DbConnection, StorageResult};

/// A registered person. People exist across organizations (one per e-mail), so these lookups are by
/// the person's own e-mail; what they may see is decided by their memberships.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_ci: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: NaiveDateTime,
    pub verified_at: Option<NaiveDateTime>,
}

pub fn find_user_by_email(conn: &mut DbConnection, email_key: &str) -> StorageResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::email_ci.eq(email_key))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn insert_user(conn: &mut DbConnection, user: &UserRow) -> StorageResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

pub fn find_user(conn: &mut DbConnection, id: crate::domain::UserId) -> StorageResult<Option<UserRow>> {
    Ok(users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}
