//! Group-to-role bindings and the recomputation of members' roles, set-wise in SQL: a member's role
//! is the highest-ranked role among its role-bound groups, or the organization's default when it
//! has none left.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::query::Sql;
use super::schema::group_role_bindings;
use super::{DbConnection, StorageResult};
use crate::domain::audit::{AuditContext, NewAuditEvent};
use crate::domain::{GroupId, MemberId, OrganizationId, Role};

/// The rank of a role column in SQL (higher is stronger).
const RANK: &str = "CASE b.role WHEN 'ADMINISTRATOR' THEN 5 WHEN 'NON_TRANSACTIONAL_ADMIN' THEN 4 \
                    WHEN 'CHECKER' THEN 3 WHEN 'MARKET' THEN 2 ELSE 1 END";

#[derive(Debug, Clone, Queryable)]
pub struct RoleBindingRow {
    pub group_id: String,
    pub organization_id: String,
    pub role: String,
    pub source: String,
    pub created_at: NaiveDateTime,
}

pub fn find_role_binding(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
) -> StorageResult<Option<RoleBindingRow>> {
    Ok(group_role_bindings::table
        .filter(group_role_bindings::organization_id.eq(organization_id.to_string()))
        .filter(group_role_bindings::group_id.eq(group_id.to_string()))
        .first(conn)
        .optional()?)
}

/// Binds a group to a role (replacing any binding), or unbinds it with `None`.
pub fn set_role_binding(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
    binding: Option<(Role, &str)>,
    now: NaiveDateTime,
) -> StorageResult<()> {
    diesel::delete(
        group_role_bindings::table
            .filter(group_role_bindings::organization_id.eq(organization_id.to_string()))
            .filter(group_role_bindings::group_id.eq(group_id.to_string())),
    )
    .execute(conn)?;
    if let Some((role, source)) = binding {
        diesel::insert_into(group_role_bindings::table)
            .values((
                group_role_bindings::group_id.eq(group_id.to_string()),
                group_role_bindings::organization_id.eq(organization_id.to_string()),
                group_role_bindings::role.eq(role.as_str()),
                group_role_bindings::source.eq(source),
                group_role_bindings::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The role-bound groups a member is in: (group id, displayName, role).
pub fn bound_groups_of_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<Vec<(String, String, String)>> {
    #[derive(QueryableByName)]
    struct Bound {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        display_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        role: String,
    }
    let mut sql = Sql::new(conn);
    sql.push(
        "SELECT g.id AS id, g.display_name AS display_name, b.role AS role FROM group_memberships gm \
         JOIN group_role_bindings b ON b.group_id = gm.group_id JOIN member_groups g ON g.id = gm.group_id \
         WHERE gm.organization_id = ",
    );
    sql.text(organization_id.to_string());
    sql.push(" AND gm.member_id = ");
    sql.text(member_id.to_string());
    sql.push(" ORDER BY g.display_name_ci");
    Ok(sql
        .load::<Bound>(conn)?
        .into_iter()
        .map(|b| (b.id, b.display_name, b.role))
        .collect())
}

/// Which members to recompute.
pub enum Affected<'a> {
    /// These members (a membership change).
    Members(&'a [MemberId]),
    /// Every member of this group (a binding change).
    GroupMembers(GroupId),
}

/// ` AND m.id IN (…)`: the members of `chunk`, or of the group.
fn push_affected(sql: &mut Sql, affected: &Affected<'_>, chunk: &[String]) {
    match affected {
        Affected::Members(_) => {
            sql.push(" AND m.id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.text(id.clone());
            }
            sql.push(")");
        }
        Affected::GroupMembers(group) => {
            sql.push(" AND m.id IN (SELECT gm2.member_id FROM group_memberships gm2 WHERE gm2.group_id = ");
            sql.text(group.to_string());
            sql.push(")");
        }
    }
}

/// Recomputes the role of the affected members whose role comes, or now would come, from groups;
/// writes the changes and a `team_member.modify` event per changed member naming `cause`.
/// Returns how many members changed. Three statements per role at most, however many members.
pub fn recompute_roles(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    affected: Affected<'_>,
    default_role: Role,
    cause: &serde_json::Value,
    context: &AuditContext,
    now: NaiveDateTime,
) -> StorageResult<usize> {
    #[derive(QueryableByName)]
    struct Change {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        role: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        best: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        role_from_groups: bool,
    }
    let mut changes: Vec<Change> = Vec::new();
    let ids: Vec<String> = match &affected {
        Affected::Members(ids) => ids.iter().map(|m| m.to_string()).collect(),
        Affected::GroupMembers(_) => Vec::new(),
    };
    let chunks: Vec<&[String]> = if ids.is_empty() {
        vec![&[]]
    } else {
        ids.chunks(500).collect()
    };
    for chunk in chunks {
        if matches!(affected, Affected::Members(_)) && chunk.is_empty() {
            break;
        }
        if matches!(conn, DbConnection::Postgres(_)) {
            // Lock the members first, in one order, and read their groups in a later statement:
            // under READ COMMITTED that statement then sees every membership committed by a
            // concurrent change of these members, so two group changes cannot each compute a role
            // from half of the memberships and the later one overwrite the other.
            let mut lock = Sql::new(conn);
            lock.push("SELECT m.id FROM members m WHERE m.organization_id = ");
            lock.text(organization_id.to_string());
            push_affected(&mut lock, &affected, chunk);
            lock.push(" ORDER BY m.id FOR NO KEY UPDATE");
            lock.execute(conn)?;
        }
        let mut sql = Sql::new(conn);
        // The subquery names the organization so that it walks the (organization_id, member_id) index.
        sql.push("SELECT m.id AS id, m.role AS role, m.role_from_groups AS role_from_groups, (SELECT b.role FROM group_memberships gm JOIN group_role_bindings b ON b.group_id = gm.group_id WHERE gm.organization_id = m.organization_id AND gm.member_id = m.id ORDER BY ");
        sql.push(RANK);
        sql.push(" DESC LIMIT 1) AS best FROM members m WHERE m.organization_id = ");
        sql.text(organization_id.to_string());
        push_affected(&mut sql, &affected, chunk);
        changes.extend(sql.load::<Change>(conn)?);
    }
    // Only members whose role is (or becomes) group-owned change; a directly set role stays.
    let mut by_role: std::collections::BTreeMap<(String, bool), Vec<(String, String)>> = Default::default();
    for c in changes {
        let (new_role, owned) = match c.best {
            Some(best) => (best, true),
            None if c.role_from_groups => (default_role.as_str().to_owned(), false),
            None => continue,
        };
        if new_role != c.role || owned != c.role_from_groups {
            by_role.entry((new_role, owned)).or_default().push((c.id, c.role));
        }
    }
    let mut changed = 0;
    for ((role, owned), members) in by_role {
        for chunk in members.chunks(500) {
            let mut sql = Sql::new(conn);
            sql.push("UPDATE members SET role = ");
            sql.text(role.clone());
            sql.push(&format!(
                ", role_from_groups = {}, version = version + 1, updated_at = ",
                if owned { "TRUE" } else { "FALSE" }
            ));
            sql.time(now);
            sql.push(" WHERE organization_id = ");
            sql.text(organization_id.to_string());
            sql.push(" AND id IN (");
            for (i, (id, _)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.text(id.clone());
            }
            sql.push(")");
            sql.execute(conn)?;
            let events: Vec<(MemberId, NewAuditEvent)> = chunk
                .iter()
                .filter(|(_, old)| *old != role)
                .filter_map(|(id, old)| {
                    let member: MemberId = id.parse().ok()?;
                    Some((
                        member,
                        NewAuditEvent::new(organization_id, crate::domain::audit::events::MEMBER_MODIFY)
                            .about(member)
                            .with("old_role", old.clone())
                            .with("new_role", role.clone())
                            .with("reason", "group role binding")
                            .with("cause", cause.clone()),
                    ))
                })
                .collect();
            changed += events.len();
            super::audit::insert_audit_events(
                conn,
                context,
                &events.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
                now,
            )?;
        }
    }
    Ok(changed)
}
