use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::organizations;
use super::{DbConnection, StorageResult};
use crate::domain::{OrganizationId, Role, UserId};

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
    Ok(super::connection::on_backend!(conn, |c| organizations::table
        .find(id.to_string())
        .select(OrganizationRow::as_select())
        .first(c))?)
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

pub fn rename_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
    name: &str,
    now: NaiveDateTime,
) -> StorageResult<OrganizationRow> {
    let updated = diesel::update(organizations::table.find(id.to_string()))
        .set((organizations::name.eq(name), organizations::updated_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        return Err(super::StorageError::NotFound);
    }
    find_organization(conn, id)
}

/// Deletes the organization and, through the foreign keys' cascades, everything in it: members,
/// groups, invitations, e-mails and tokens. Audit events have no foreign key and stay.
pub fn delete_organization(conn: &mut DbConnection, id: OrganizationId) -> StorageResult<bool> {
    use super::schema::email_outbox;
    // The delivery worker locks an e-mail, then its invitation; the cascade below would lock the
    // invitation first. Taking the e-mails first keeps one lock order, so the two never deadlock.
    diesel::delete(email_outbox::table.filter(email_outbox::organization_id.eq(id.to_string()))).execute(conn)?;
    Ok(diesel::delete(organizations::table.find(id.to_string())).execute(conn)? == 1)
}

/// A person's memberships (not removed) with their organizations, oldest organization first.
/// This is the one query keyed by the person rather than by an organization: it is how a person
/// learns which organizations they belong to, and it reads nothing but those memberships.
pub fn memberships_of_user(
    conn: &mut DbConnection,
    user_id: UserId,
) -> StorageResult<Vec<(OrganizationRow, super::MemberRow)>> {
    use super::schema::members;
    Ok(members::table
        .inner_join(organizations::table)
        .filter(members::user_id.eq(user_id.to_string()))
        .filter(members::removed_at.is_null())
        .order((organizations::created_at, organizations::id))
        .select((OrganizationRow::as_select(), super::MemberRow::as_select()))
        .load(conn)?)
}

/// What an organization holds, counted in SQL (the summary endpoint).
#[derive(Debug, Clone, Default)]
pub struct OrganizationCounts {
    /// (status, role, members) for listed members (cancelled invitations excluded).
    pub members: Vec<(String, String, i64)>,
    /// Invitations still open and within their lifetime.
    pub pending_invitations: i64,
    /// Invitations still open but past their expiry.
    pub expired_invitations: i64,
    /// Open invitations whose e-mail could not be delivered.
    pub undeliverable_invitations: i64,
    pub groups: i64,
    pub role_bound_groups: i64,
    /// The latest change or read through the SCIM door.
    pub last_provisioning_at: Option<NaiveDateTime>,
    /// The `ignored_roles` of listed members that have some (JSON arrays).
    pub ignored_roles: Vec<String>,
    /// (status, agents): AI agents count apart from people.
    pub agents: Vec<(String, i64)>,
    /// Agents none of whose owners is still an ACTIVE member.
    pub agents_without_owner: i64,
}

pub fn count_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
    now: NaiveDateTime,
) -> StorageResult<OrganizationCounts> {
    use super::schema::{audit_events, group_role_bindings, invitations, member_groups, members};
    let org = id.to_string();
    let members = members::table
        .filter(members::organization_id.eq(&org))
        .filter(members::removed_at.is_null())
        .filter(members::kind.eq("person"))
        .group_by((members::status, members::role))
        .select((members::status, members::role, diesel::dsl::count_star()))
        .load::<(String, String, i64)>(conn)?;
    // An invitation is open while it is the current one of a member still waiting to register.
    let open = || {
        invitations::table
            .inner_join(members::table)
            .filter(invitations::organization_id.eq(&org))
            .filter(invitations::status.eq("SENT"))
            .filter(members::organization_id.eq(&org))
            .filter(members::status.eq(crate::domain::MemberStatus::Pending.as_str()))
            .filter(members::removed_at.is_null())
    };
    let pending_invitations = open()
        .filter(invitations::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    let expired_invitations = open()
        .filter(invitations::expires_at.le(now))
        .count()
        .get_result(conn)?;
    let undeliverable_invitations = open()
        .filter(invitations::delivery_status.eq("FAILED"))
        .count()
        .get_result(conn)?;
    let groups = member_groups::table
        .filter(member_groups::organization_id.eq(&org))
        .count()
        .get_result(conn)?;
    let role_bound_groups = group_role_bindings::table
        .filter(group_role_bindings::organization_id.eq(&org))
        .count()
        .get_result(conn)?;
    let last_provisioning_at = audit_events::table
        .filter(audit_events::organization_id.eq(&org))
        .filter(audit_events::channel.eq(crate::domain::audit::Channel::Scim.as_str()))
        .select(diesel::dsl::max(audit_events::created_at))
        .first::<Option<NaiveDateTime>>(conn)?;
    let ignored_roles = members::table
        .filter(members::organization_id.eq(&org))
        .filter(members::removed_at.is_null())
        .filter(members::ignored_roles.is_not_null())
        .select(members::ignored_roles.assume_not_null())
        .load::<String>(conn)?;
    let agents = members::table
        .filter(members::organization_id.eq(&org))
        .filter(members::removed_at.is_null())
        .filter(members::kind.eq("agent"))
        .group_by(members::status)
        .select((members::status, diesel::dsl::count_star()))
        .load::<(String, i64)>(conn)?;
    let agents_without_owner = super::count_agents_without_owner(conn, id)?;
    Ok(OrganizationCounts {
        agents,
        agents_without_owner,
        ignored_roles,
        members,
        pending_invitations,
        expired_invitations,
        undeliverable_invitations,
        groups,
        role_bound_groups,
        last_provisioning_at,
    })
}
