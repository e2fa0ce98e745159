//! Groups, for both doors: create, change (attributes, rename, members in order), delete, and bind
//! to a role. Member changes are set operations in SQL, so a group of 10,000 is filled or emptied
//! in one statement per 500 members; reads that exclude members never load them. Every change
//! that touches a role-bound group recomputes the affected members' roles in the same
//! transaction, with one `team_member.modify` event per member whose role changed.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::{ChangeContext, ServiceError, ServiceResult, stored};
use crate::domain::audit::NewAuditEvent;
use crate::domain::provisioning::{Group, GroupChange, GroupProfile, MembershipChange};
use crate::domain::query::{GroupField, ListQuery};
use crate::domain::{GroupId, InvalidValue, MemberId, OrganizationId, Role};
use crate::storage::{self, Database, DbConnection, GroupChanges, GroupRow, RoleBindingRow, StorageError};

pub mod events {
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_MODIFY: &str = "group.modify";
    pub const GROUP_DELETE: &str = "group.delete";
    pub const GROUP_ROLE: &str = "group.role";
}

/// A group as read: the group, its members (id, display) when loaded, the role it gives, and the
/// member references of this write that named nobody.
#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub group: Group,
    /// `None` when not loaded (excluded by the caller).
    pub members: Option<Vec<(String, String)>>,
    /// The role the group gives its members, if bound.
    pub role: Option<Role>,
    /// Member references of this write that name no member of the organization: left out, not
    /// failed (an IdP often references a user it could not provision), and said in the answer and
    /// the audit event.
    pub ignored_members: Vec<String>,
}

impl TryFrom<GroupRow> for Group {
    type Error = StorageError;
    fn try_from(row: GroupRow) -> Result<Self, Self::Error> {
        let attributes = match serde_json::from_str(&row.scim_attributes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(StorageError::Corrupt(format!("group {} scim_attributes", row.id))),
        };
        Ok(Group {
            id: stored("member_groups.id", &row.id)?,
            organization_id: stored("member_groups.organization_id", &row.organization_id)?,
            display_name: row.display_name,
            external_id: row.external_id,
            attributes,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn record(conn: &mut DbConnection, group: Group, with_members: bool) -> ServiceResult<GroupRecord> {
    let members = if with_members {
        Some(storage::list_group_members(conn, group.organization_id, group.id)?)
    } else {
        None
    };
    let role = storage::find_role_binding(conn, group.organization_id, group.id)?
        .map(|b| stored::<Role>("group_role_bindings.role", &b.role))
        .transpose()?;
    Ok(GroupRecord {
        group,
        members,
        role,
        ignored_members: Vec::new(),
    })
}

fn load(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: GroupId,
    read: fn(&mut DbConnection, OrganizationId, GroupId) -> Result<GroupRow, StorageError>,
) -> ServiceResult<Group> {
    match read(conn, organization_id, id) {
        Ok(row) => Ok(Group::try_from(row)?),
        Err(StorageError::NotFound) => Err(ServiceError::NotFound("Group")),
        Err(e) => Err(e.into()),
    }
}

pub fn get_group(
    db: &Database,
    organization_id: OrganizationId,
    id: GroupId,
    with_members: bool,
) -> ServiceResult<GroupRecord> {
    let mut conn = db.get()?;
    let group = load(&mut conn, organization_id, id, storage::find_group)?;
    record(&mut conn, group, with_members)
}

pub fn list_groups(
    db: &Database,
    organization_id: OrganizationId,
    query: &ListQuery<GroupField>,
    with_members: bool,
) -> ServiceResult<(Vec<GroupRecord>, i64)> {
    let mut conn = db.get()?;
    let (rows, total) = storage::search_groups(&mut conn, organization_id, query)?;
    let records = rows
        .into_iter()
        .map(|row| record(&mut conn, Group::try_from(row)?, with_members))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, total))
}

/// The binding a change leads to. `requested`: `Some(role)` when a provider's body states the
/// group's role (or states none), `None` when the change does not speak of it. A stated role
/// binds (source `scim`); a binding made through the native API stays; otherwise the configured
/// role for the group's name applies.
fn desired_binding(
    requested: Option<Option<Role>>,
    display_name: &str,
    existing: Option<&RoleBindingRow>,
    configured: &[(String, Role)],
) -> ServiceResult<Option<(Role, &'static str)>> {
    if let Some(Some(role)) = requested {
        return Ok(Some((role, "scim")));
    }
    if let Some(b) = existing {
        let keep = b.source == "api" || (b.source == "scim" && requested.is_none());
        if keep {
            let source = if b.source == "api" { "api" } else { "scim" };
            return Ok(Some((stored("group_role_bindings.role", &b.role)?, source)));
        }
    }
    let name = display_name.to_lowercase();
    Ok(configured.iter().find(|(n, _)| *n == name).map(|(_, r)| (*r, "config")))
}

/// Applies the binding a write leads to and recomputes the roles it affects: every member of the
/// group when the binding changed, else the members added or removed when the group is bound.
fn settle_roles(
    conn: &mut DbConnection,
    ctx: &ChangeContext<'_>,
    group: &Group,
    before: Option<RoleBindingRow>,
    after: Option<(Role, &'static str)>,
    touched: &[MemberId],
    now: NaiveDateTime,
) -> ServiceResult<()> {
    let organization_id = ctx.organization_id;
    let before_role = before.as_ref().map(|b| (b.role.clone(), b.source.clone()));
    let after_role = after.map(|(r, s)| (r.as_str().to_owned(), s.to_owned()));
    let changed = before_role != after_role;
    if changed {
        storage::set_role_binding(conn, organization_id, group.id, after, now)?;
    }
    if !changed && after.is_none() {
        return Ok(());
    }
    let default_role = super::default_role(conn, organization_id)?;
    let cause = serde_json::json!({"group_id": group.id.to_string(), "group": group.display_name, "role": after.map(|(r, _)| r.as_str())});
    if changed {
        storage::recompute_roles(
            conn,
            organization_id,
            storage::Affected::GroupMembers(group.id),
            default_role,
            &cause,
            ctx.audit,
            now,
        )?;
    }
    // Members who joined or left (those who left are no longer among the group's members).
    if !touched.is_empty() {
        storage::recompute_roles(
            conn,
            organization_id,
            storage::Affected::Members(touched),
            default_role,
            &cause,
            ctx.audit,
            now,
        )?;
    }
    Ok(())
}

/// Membership changes made by one request, for the audit event.
#[derive(Default)]
struct MemberDelta {
    /// Members that joined and left, by id (the event lists them).
    added: Vec<String>,
    removed: Vec<String>,
    /// Members added or removed (their roles may follow the group's).
    touched: Vec<MemberId>,
    /// References to add that name no member of the organization.
    ignored: Vec<String>,
}

/// Member references that can be ours: ids that parse. Others cannot match a member.
fn member_ids(values: &[String]) -> Vec<MemberId> {
    values.iter().filter_map(|v| v.parse().ok()).collect()
}

/// Adds the members `values` name; values naming no member the provider sees are left out and
/// noted in `delta.ignored`. Existence is only checked when fewer rows went in than ids came (the
/// usual push of provisioned users costs no extra query).
fn add_members(
    conn: &mut DbConnection,
    group: &Group,
    values: &[String],
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ServiceResult<()> {
    let ids = member_ids(values);
    let added = storage::add_group_members(conn, group.organization_id, group.id, &ids, now)?;
    let inserted = added.len();
    delta.added.extend(added);
    if inserted < values.len() {
        let known = storage::visible_member_ids(conn, group.organization_id, &ids)?;
        for value in values {
            let is_known = value.parse::<MemberId>().is_ok_and(|id| known.contains(&id));
            if !is_known && !delta.ignored.contains(value) {
                delta.ignored.push(value.clone());
            }
        }
    }
    delta.touched.extend(ids);
    Ok(())
}

fn apply_membership(
    conn: &mut DbConnection,
    group: &Group,
    change: &MembershipChange,
    strict: bool,
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ServiceResult<()> {
    let (organization_id, group_id) = (group.organization_id, group.id);
    let clear = |conn: &mut DbConnection, delta: &mut MemberDelta| -> ServiceResult<()> {
        let removed = storage::clear_group_members(conn, organization_id, group_id)?;
        delta
            .touched
            .extend(removed.iter().filter_map(|m| m.parse::<MemberId>().ok()));
        delta.removed.extend(removed);
        Ok(())
    };
    match change {
        MembershipChange::Add(values) => add_members(conn, group, values, now, delta),
        MembershipChange::Remove(values) => {
            let ids = member_ids(values);
            if strict {
                let known = storage::visible_member_ids(conn, organization_id, &ids)?;
                delta.ignored.extend(
                    values
                        .iter()
                        .filter(|v| !v.parse::<MemberId>().is_ok_and(|id| known.contains(&id)))
                        .cloned(),
                );
            }
            delta
                .removed
                .extend(storage::remove_group_members(conn, organization_id, group_id, &ids)?);
            delta.touched.extend(ids);
            Ok(())
        }
        MembershipChange::Replace(values) => {
            clear(conn, delta)?;
            add_members(conn, group, values, now, delta)
        }
        MembershipChange::RemoveAll => clear(conn, delta),
    }
}

fn profile_changes(profile: &GroupProfile) -> GroupChanges {
    GroupChanges {
        display_name: Some(profile.display_name.clone()),
        display_name_ci: Some(profile.display_name.to_lowercase()),
        external_id: Some(profile.external_id.clone()),
        description: None,
        scim_attributes: Some(Value::Object(profile.attributes.clone()).to_string()),
    }
}

/// A strict change (the native API) refuses references to nobody, naming them.
fn refuse_unknown(strict: bool, delta: &MemberDelta) -> ServiceResult<()> {
    if strict && !delta.ignored.is_empty() {
        return Err(InvalidValue::new(
            "member_ids",
            format!("no member of the organization has the id {}", delta.ignored.join(", ")),
        )
        .into());
    }
    Ok(())
}

/// Creates a group from a provider's body: its attributes, members (references to nobody left out
/// and reported) and the binding its profile asks for, in one transaction.
pub fn create_group(
    db: &Database,
    ctx: &ChangeContext<'_>,
    profile: GroupProfile,
    members: &[String],
    with_members: bool,
) -> ServiceResult<GroupRecord> {
    create(db, ctx, profile, members, None, with_members)
}

/// Creates a group through the native API: members must all exist (422 otherwise), and `role`
/// binds it (source `api`), in one transaction.
pub fn create_group_bound(
    db: &Database,
    ctx: &ChangeContext<'_>,
    profile: GroupProfile,
    members: &[String],
    role: Option<Role>,
) -> ServiceResult<GroupRecord> {
    create(db, ctx, profile, members, Some(role.map(|r| (r, "api"))), true)
}

/// `native`: `Some(binding)` for the native API (strict members, that binding), `None` for a
/// provider (lenient members, the binding its profile asks for).
fn create(
    db: &Database,
    ctx: &ChangeContext<'_>,
    profile: GroupProfile,
    members: &[String],
    native: Option<Option<(Role, &'static str)>>,
    with_members: bool,
) -> ServiceResult<GroupRecord> {
    let strict = native.is_some();
    let organization_id = ctx.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let id = GroupId::new();
        let row = GroupRow {
            id: id.to_string(),
            organization_id: organization_id.to_string(),
            display_name: profile.display_name.clone(),
            display_name_ci: profile.display_name.to_lowercase(),
            external_id: profile.external_id.clone(),
            description: None,
            scim_attributes: Value::Object(profile.attributes.clone()).to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        storage::insert_group(conn, organization_id, &row)?;
        let group = Group::try_from(row)?;
        let mut delta = MemberDelta::default();
        add_members(conn, &group, members, now, &mut delta)?;
        refuse_unknown(strict, &delta)?;
        let binding = match native {
            Some(binding) => binding,
            None => desired_binding(Some(profile.role), &group.display_name, None, ctx.group_roles)?,
        };
        settle_roles(conn, ctx, &group, None, binding, &delta.touched, now)?;
        let mut event = NewAuditEvent::new(organization_id, events::GROUP_CREATE)
            .with("group_id", id.to_string())
            .with("display_name", group.display_name.clone())
            .with("members_added", delta.added.len())
            .with("member_ids_added", delta.added.clone());
        if !delta.ignored.is_empty() {
            event = event.with("members_ignored", delta.ignored.clone());
        }
        storage::insert_audit_event(conn, ctx.audit, &event, now)?;
        let mut record = record(conn, group, with_members)?;
        record.ignored_members = delta.ignored;
        Ok(record)
    })
}

/// Changes a group: `decide` (the door's translation of its request, `If-Match` included) runs on
/// the group locked for this transaction; its attributes change first, then its members in order,
/// then the binding and the roles that follow.
pub fn change_group<E>(
    db: &Database,
    ctx: &ChangeContext<'_>,
    id: GroupId,
    with_members: bool,
    decide: impl FnOnce(&Group) -> Result<GroupChange, E>,
) -> Result<GroupRecord, E>
where
    E: From<ServiceError> + From<StorageError>,
{
    let organization_id = ctx.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let current = load(conn, organization_id, id, storage::lock_group)?;
        let change = decide(&current)?;
        Ok(apply_group_change(conn, ctx, current, change, with_members, now)?)
    })
}

fn apply_group_change(
    conn: &mut DbConnection,
    ctx: &ChangeContext<'_>,
    current: Group,
    change: GroupChange,
    with_members: bool,
    now: NaiveDateTime,
) -> ServiceResult<GroupRecord> {
    let organization_id = ctx.organization_id;
    let before = storage::find_role_binding(conn, organization_id, current.id)?;
    let (changes, requested) = match (&change.profile, &change.rename) {
        (Some(profile), _) => (profile_changes(profile), Some(profile.role)),
        (None, Some(name)) => (
            GroupChanges {
                display_name: Some(name.clone()),
                display_name_ci: Some(name.to_lowercase()),
                ..GroupChanges::default()
            },
            None,
        ),
        (None, None) => (GroupChanges::default(), None),
    };
    storage::touch_group(conn, organization_id, current.id, &changes, now)?;
    let mut delta = MemberDelta::default();
    for membership in &change.members {
        apply_membership(conn, &current, membership, change.strict, now, &mut delta)?;
    }
    refuse_unknown(change.strict, &delta)?;
    let display_name = changes
        .display_name
        .clone()
        .unwrap_or_else(|| current.display_name.clone());
    let binding = desired_binding(requested, &display_name, before.as_ref(), ctx.group_roles)?;
    let renamed = Group {
        display_name,
        ..current.clone()
    };
    settle_roles(conn, ctx, &renamed, before, binding, &delta.touched, now)?;
    let mut event = NewAuditEvent::new(organization_id, events::GROUP_MODIFY)
        .with("group_id", current.id.to_string())
        .with("members_added", delta.added.len())
        .with("members_removed", delta.removed.len())
        .with("member_ids_added", delta.added.clone())
        .with("member_ids_removed", delta.removed.clone());
    if renamed.display_name != current.display_name {
        event = event
            .with("old_display_name", current.display_name.clone())
            .with("display_name", renamed.display_name.clone());
    }
    if !delta.ignored.is_empty() {
        event = event.with("members_ignored", delta.ignored.clone());
    }
    storage::insert_audit_event(conn, ctx.audit, &event, now)?;
    let group = load(conn, organization_id, current.id, storage::find_group)?;
    let mut record = record(conn, group, with_members)?;
    record.ignored_members = delta.ignored;
    Ok(record)
}

/// Deletes a group: its members leave it (their roles recomputed when it was bound); `check`
/// runs first on the locked group (`If-Match`).
pub fn delete_group<E>(
    db: &Database,
    ctx: &ChangeContext<'_>,
    id: GroupId,
    check: impl FnOnce(&Group) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<ServiceError> + From<StorageError>,
{
    let organization_id = ctx.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let group = load(conn, organization_id, id, storage::lock_group)?;
        check(&group)?;
        let binding = storage::find_role_binding(conn, organization_id, id)?;
        let former: Vec<MemberId> = storage::clear_group_members(conn, organization_id, id)?
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect();
        storage::delete_group(conn, organization_id, id)?;
        if binding.is_some() && !former.is_empty() {
            let default_role = super::default_role(conn, organization_id)?;
            let cause = serde_json::json!({"group_id": id.to_string(), "group": group.display_name, "deleted": true});
            storage::recompute_roles(
                conn,
                organization_id,
                storage::Affected::Members(&former),
                default_role,
                &cause,
                ctx.audit,
                now,
            )?;
        }
        let event = NewAuditEvent::new(organization_id, events::GROUP_DELETE)
            .with("group_id", id.to_string())
            .with("display_name", group.display_name.clone());
        storage::insert_audit_event(conn, ctx.audit, &event, now)?;
        Ok(())
    })
}

/// Binds a group to a role through the native API (source `api`, which provider writes keep), or
/// unbinds it; recomputes its members' roles in the same transaction.
pub fn bind_group_role(
    db: &Database,
    ctx: &ChangeContext<'_>,
    group_id: GroupId,
    role: Option<Role>,
    may_manage_administrators: bool,
) -> ServiceResult<Option<Role>> {
    let organization_id = ctx.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let group = load(conn, organization_id, group_id, storage::lock_group)?;
        let before = storage::find_role_binding(conn, organization_id, group_id)?;
        let touches_administrators = role == Some(Role::Administrator)
            || before.as_ref().is_some_and(|b| b.role == Role::Administrator.as_str());
        if touches_administrators && !may_manage_administrators {
            return Err(ServiceError::Forbidden(
                "only an ADMINISTRATOR (or a token with org:admin) binds or unbinds the ADMINISTRATOR role".into(),
            ));
        }
        settle_roles(conn, ctx, &group, before, role.map(|r| (r, "api")), &[], now)?;
        let event = NewAuditEvent::new(organization_id, events::GROUP_ROLE)
            .with("group_id", group_id.to_string())
            .with("role", role.map(|r| r.as_str()));
        storage::insert_audit_event(conn, ctx.audit, &event, now)?;
        Ok(role)
    })
}
