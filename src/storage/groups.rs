use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::query::{Column, Sql};
use super::schema::{group_memberships, group_role_bindings, member_groups};
use super::{DbConnection, StorageResult};
use crate::domain::query::{GroupField, ListQuery};
use crate::domain::{GroupId, MemberId, OrganizationId};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = member_groups)]
pub struct GroupRow {
    pub id: String,
    pub organization_id: String,
    pub display_name: String,
    pub display_name_ci: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub scim_attributes: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_group(conn: &mut DbConnection, organization_id: OrganizationId, row: &GroupRow) -> StorageResult<()> {
    debug_assert_eq!(row.organization_id, organization_id.to_string());
    diesel::insert_into(member_groups::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_group(conn: &mut DbConnection, organization_id: OrganizationId, id: GroupId) -> StorageResult<GroupRow> {
    Ok(member_groups::table
        .filter(member_groups::organization_id.eq(organization_id.to_string()))
        .filter(member_groups::id.eq(id.to_string()))
        .select(GroupRow::as_select())
        .first(conn)?)
}

/// Reads a group in order to change it; locked on PostgreSQL until the transaction ends (see
/// [`super::lock_member`]).
pub fn lock_group(conn: &mut DbConnection, organization_id: OrganizationId, id: GroupId) -> StorageResult<GroupRow> {
    // `as_select` is typed by its backend, so the query is written once per arm.
    macro_rules! query {
        () => {
            member_groups::table
                .filter(member_groups::organization_id.eq(organization_id.to_string()))
                .filter(member_groups::id.eq(id.to_string()))
                .select(GroupRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Postgres(pg) => query!().for_no_key_update().first(pg)?,
        DbConnection::Sqlite(lite) => query!().first(lite)?,
    })
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = member_groups)]
pub struct GroupChanges {
    pub display_name: Option<String>,
    pub display_name_ci: Option<String>,
    pub external_id: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub scim_attributes: Option<String>,
}

/// Applies `changes` (if any), stamps `updated_at` and bumps `version`.
pub fn touch_group(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: GroupId,
    changes: &GroupChanges,
    now: NaiveDateTime,
) -> StorageResult<()> {
    let target = member_groups::table
        .filter(member_groups::organization_id.eq(organization_id.to_string()))
        .filter(member_groups::id.eq(id.to_string()));
    let changed = if changes.display_name.is_none()
        && changes.display_name_ci.is_none()
        && changes.external_id.is_none()
        && changes.description.is_none()
        && changes.scim_attributes.is_none()
    {
        diesel::update(target)
            .set((
                member_groups::updated_at.eq(now),
                member_groups::version.eq(member_groups::version + 1),
            ))
            .execute(conn)?
    } else {
        diesel::update(target)
            .set((
                changes,
                member_groups::updated_at.eq(now),
                member_groups::version.eq(member_groups::version + 1),
            ))
            .execute(conn)?
    };
    if changed == 0 {
        return Err(super::StorageError::NotFound);
    }
    Ok(())
}

pub fn delete_group(conn: &mut DbConnection, organization_id: OrganizationId, id: GroupId) -> StorageResult<bool> {
    let scope = organization_id.to_string();
    diesel::delete(
        group_memberships::table
            .filter(group_memberships::organization_id.eq(&scope))
            .filter(group_memberships::group_id.eq(id.to_string())),
    )
    .execute(conn)?;
    diesel::delete(
        group_role_bindings::table
            .filter(group_role_bindings::organization_id.eq(&scope))
            .filter(group_role_bindings::group_id.eq(id.to_string())),
    )
    .execute(conn)?;
    let deleted = diesel::delete(
        member_groups::table
            .filter(member_groups::organization_id.eq(&scope))
            .filter(member_groups::id.eq(id.to_string())),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

fn group_column(field: &GroupField, _: &mut Sql) -> Option<Column> {
    Some(match field {
        GroupField::Id => Column::folded("id"),
        GroupField::DisplayName => Column::folded("display_name_ci"),
        GroupField::ExternalId => Column::plain("external_id"),
        GroupField::Created => Column::time("created_at"),
        GroupField::LastModified => Column::time("updated_at"),
        // `members.value eq X`: the group has member X.
        GroupField::HasMember => Column {
            within: Some((
                "member_groups.id",
                "SELECT gm.group_id FROM group_memberships gm WHERE ",
            )),
            ..Column::folded("gm.member_id")
        },
        GroupField::Role => {
            Column::upper("(SELECT b.role FROM group_role_bindings b WHERE b.group_id = member_groups.id)")
        }
    })
}

fn write_scope(sql: &mut Sql, organization_id: OrganizationId) {
    sql.push(" FROM member_groups WHERE organization_id = ");
    sql.text(organization_id.to_string());
    sql.push(" AND ");
}

/// A page of the groups matching `query`, and the total.
pub fn search_groups(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    query: &ListQuery<GroupField>,
) -> StorageResult<(Vec<GroupRow>, i64)> {
    Ok(super::query::search(
        conn,
        &|sql| write_scope(sql, organization_id),
        query,
        &group_column,
    )?)
}

/// Adds members (those that exist in the organization) to a group; existing memberships are kept.
/// Returns the ids added. One statement per chunk, however many members.
pub fn add_group_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
    member_ids: &[MemberId],
    now: NaiveDateTime,
) -> StorageResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Added {
        #[diesel(sql_type = diesel::sql_types::Text)]
        member_id: String,
    }
    let mut added = Vec::new();
    for chunk in member_ids.chunks(500) {
        let mut sql = Sql::new(conn);
        sql.push("INSERT INTO group_memberships (group_id, member_id, organization_id, added_at) SELECT ");
        sql.text(group_id.to_string());
        sql.push(", m.id, m.organization_id, ");
        sql.time(now);
        sql.push(" FROM members m WHERE m.organization_id = ");
        sql.text(organization_id.to_string());
        sql.push(" AND m.scim_deleted_at IS NULL AND m.id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(id.to_string());
        }
        sql.push(") ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id");
        added.extend(sql.load::<Added>(conn)?.into_iter().map(|a| a.member_id));
    }
    Ok(added)
}

/// Which of `ids` are SCIM-visible members of the organization (not deleted through SCIM).
pub fn visible_member_ids(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    ids: &[MemberId],
) -> StorageResult<std::collections::HashSet<MemberId>> {
    use super::schema::members;
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<String> = members::table
            .filter(members::organization_id.eq(organization_id.to_string()))
            .filter(members::id.eq_any(chunk.iter().map(|m| m.to_string())))
            .filter(members::scim_deleted_at.is_null())
            .select(members::id)
            .load(conn)?;
        found.extend(rows.iter().filter_map(|r| r.parse::<MemberId>().ok()));
    }
    Ok(found)
}

/// Removes these members from the group; returns the ids removed.
pub fn remove_group_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
    member_ids: &[MemberId],
) -> StorageResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Removed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        member_id: String,
    }
    let mut removed = Vec::new();
    for chunk in member_ids.chunks(500) {
        let mut sql = Sql::new(conn);
        sql.push("DELETE FROM group_memberships WHERE organization_id = ");
        sql.text(organization_id.to_string());
        sql.push(" AND group_id = ");
        sql.text(group_id.to_string());
        sql.push(" AND member_id IN (");
        for (i, id) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(id.to_string());
        }
        sql.push(") RETURNING member_id");
        removed.extend(sql.load::<Removed>(conn)?.into_iter().map(|r| r.member_id));
    }
    Ok(removed)
}

/// Empties a group; returns the ids removed.
pub fn clear_group_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
) -> StorageResult<Vec<String>> {
    let target = group_memberships::table
        .filter(group_memberships::organization_id.eq(organization_id.to_string()))
        .filter(group_memberships::group_id.eq(group_id.to_string()));
    let ids: Vec<String> = target.clone().select(group_memberships::member_id).load(conn)?;
    diesel::delete(target).execute(conn)?;
    Ok(ids)
}

/// A group's members: (member id, display), display being the displayName or else the userName.
pub fn list_group_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
) -> StorageResult<Vec<(String, String)>> {
    use super::schema::members;
    Ok(group_memberships::table
        .inner_join(members::table.on(members::id.eq(group_memberships::member_id)))
        .filter(group_memberships::organization_id.eq(organization_id.to_string()))
        .filter(group_memberships::group_id.eq(group_id.to_string()))
        .filter(members::organization_id.eq(organization_id.to_string()))
        .order(group_memberships::member_id)
        .select((
            members::id,
            diesel::dsl::sql::<diesel::sql_types::Text>("COALESCE(members.display_name, members.user_name)"),
        ))
        .load(conn)?)
}

/// The groups a member belongs to: (group id, displayName).
pub fn groups_of_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<Vec<(String, String)>> {
    Ok(super::connection::on_backend!(conn, |c| group_memberships::table
        .inner_join(member_groups::table.on(member_groups::id.eq(group_memberships::group_id)))
        .filter(group_memberships::organization_id.eq(organization_id.to_string()))
        .filter(group_memberships::member_id.eq(member_id.to_string()))
        .order(member_groups::display_name_ci)
        .select((member_groups::id, member_groups::display_name))
        .load(c))?)
}

/// Removes a member from every group (its SCIM deletion); returns the groups it left.
pub fn remove_member_from_all_groups(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: MemberId,
) -> StorageResult<Vec<String>> {
    let target = group_memberships::table
        .filter(group_memberships::organization_id.eq(organization_id.to_string()))
        .filter(group_memberships::member_id.eq(member_id.to_string()));
    let groups: Vec<String> = target.clone().select(group_memberships::group_id).load(conn)?;
    diesel::delete(target).execute(conn)?;
    Ok(groups)
}

/// The groups of each of a page of members, in one query: member id → [(group id, displayName)].
pub fn groups_of_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_ids: &[MemberId],
) -> StorageResult<std::collections::HashMap<String, Vec<(String, String)>>> {
    let ids: Vec<String> = member_ids.iter().map(|m| m.to_string()).collect();
    let rows: Vec<(String, String, String)> = group_memberships::table
        .inner_join(member_groups::table.on(member_groups::id.eq(group_memberships::group_id)))
        .filter(group_memberships::organization_id.eq(organization_id.to_string()))
        .filter(group_memberships::member_id.eq_any(ids))
        .order((group_memberships::member_id, member_groups::display_name_ci))
        .select((
            group_memberships::member_id,
            member_groups::id,
            member_groups::display_name,
        ))
        .load(conn)?;
    let mut out: std::collections::HashMap<String, Vec<(String, String)>> = std::collections::HashMap::new();
    for (member, group, display) in rows {
        out.entry(member).or_default().push((group, display));
    }
    Ok(out)
}
