use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::organizations;
use super::{DbConnection, StorageResult};
use crate::domain::{OrganizationId, Role};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub default_role: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn create_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
    name: &str,
    default_role: Role,
    now: NaiveDateTime,
) -> StorageResult<OrganizationRow> {
    let row = OrganizationRow {
        id: id.to_string(),
        name: name.to_owned(),
        default_role: default_role.as_str().to_owned(),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(organizations::table).values(&row).execute(conn)?;
    Ok(row)
}

pub fn find_organization(conn: &mut DbConnection, id: OrganizationId) -> StorageResult<OrganizationRow> {
    Ok(organizations::table
        .find(id.to_string())
        .select(OrganizationRow::as_select())
        .first(conn)?)
}

/// The operator's view (CLI): every organization. Never reachable from a tenant's token.
pub fn list_organizations(conn: &mut DbConnection) -> StorageResult<Vec<OrganizationRow>> {
    Ok(organizations::table
        .order((organizations::created_at, organizations::id))
        .select(OrganizationRow::as_select())
        .load(conn)?)
}

/// Whether the database holds any organization at all (first-start bootstrap).
pub fn count_organizations(conn: &mut DbConnection) -> StorageResult<i64> {
    Ok(organizations::table.count().get_result(conn)?)
}

/// Serialises first-start bootstrap across instances: a transaction-scoped advisory lock on
/// PostgreSQL; on SQLite the immediate write transaction already excludes other writers.
pub fn lock_for_bootstrap(conn: &mut DbConnection) -> StorageResult<()> {
    if let DbConnection::Postgres(_) = conn {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SELECT pg_advisory_xact_lock(7526744955098752371)")?;
    }
    Ok(())
}

/// Serialises changes that depend on the organization as a whole (the last-administrator guard):
/// a row lock on PostgreSQL; on SQLite the immediate write transaction already excludes writers.
pub fn lock_organization(conn: &mut DbConnection, id: OrganizationId) -> StorageResult<()> {
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(id.to_string())
            .execute(conn)?;
    }
    Ok(())
}
