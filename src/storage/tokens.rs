use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_tokens;
use super::{DbConnection, StorageResult};
use crate::domain::{OrganizationId, TokenId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiTokenRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub scopes: String,
    pub member_id: Option<String>,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub scopes: String,
    pub member_id: Option<String>,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_token(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    token: &NewApiToken,
) -> StorageResult<()> {
    debug_assert_eq!(token.organization_id, organization_id.to_string());
    diesel::insert_into(api_tokens::table).values(token).execute(conn)?;
    Ok(())
}

pub fn find_token(conn: &mut DbConnection, organization_id: OrganizationId, id: TokenId) -> StorageResult<ApiTokenRow> {
    Ok(super::connection::on_backend!(conn, |c| api_tokens::table
        .filter(api_tokens::organization_id.eq(organization_id.to_string()))
        .filter(api_tokens::id.eq(id.to_string()))
        .select(ApiTokenRow::as_select())
        .first(c))?)
}

pub fn list_tokens(conn: &mut DbConnection, organization_id: OrganizationId) -> StorageResult<Vec<ApiTokenRow>> {
    Ok(api_tokens::table
        .filter(api_tokens::organization_id.eq(organization_id.to_string()))
        .order((api_tokens::created_at, api_tokens::id))
        .select(ApiTokenRow::as_select())
        .load(conn)?)
}

/// Marks a token revoked. Returns false when no live token of that organization has that id.
pub fn revoke_token(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: TokenId,
    now: NaiveDateTime,
) -> StorageResult<bool> {
    let updated = diesel::update(
        api_tokens::table
            .filter(api_tokens::organization_id.eq(organization_id.to_string()))
            .filter(api_tokens::id.eq(id.to_string()))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Records use, at most once a minute per token so that reads do not become writes.
pub fn touch_token(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: TokenId,
    now: NaiveDateTime,
) -> StorageResult<()> {
    let stale = now - chrono::Duration::seconds(60);
    diesel::update(
        api_tokens::table
            .filter(api_tokens::organization_id.eq(organization_id.to_string()))
            .filter(api_tokens::id.eq(id.to_string()))
            .filter(
                api_tokens::last_used_at
                    .is_null()
                    .or(api_tokens::last_used_at.lt(stale)),
            ),
    )
    .set(api_tokens::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes every token acting as the member (it left the organization): were the person added
/// again later, their old tokens must not come back to life.
pub fn revoke_member_tokens(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: crate::domain::MemberId,
    now: NaiveDateTime,
) -> StorageResult<usize> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::organization_id.eq(organization_id.to_string()))
            .filter(api_tokens::member_id.eq(member_id.to_string()))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)?)
}
