//! SCIM Groups as use cases. Member changes (add, remove, replace, in every form IdPs send) are
//! set operations in SQL, so a group of 10,000 can be filled or emptied in one PATCH without
//! loading its members; `excludedAttributes=members` reads never load them at all.

use chrono::NaiveDateTime;
use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::scim_users::{ScimCall, ScimResult};
use super::stored;
use crate::domain::audit::NewAuditEvent;
use crate::domain::query::{GroupField, ListQuery};
use crate::domain::{GroupId, MemberId, OrganizationId, Role};
use crate::mapping::group::{GroupInput, GroupView, group_input, member_values, patchable, render_group};
use crate::mapping::if_match_allows;
use crate::scim::patch::{OpKind, PatchOperation, apply};
use crate::scim::resource::canonicalise;
use crate::scim::schema::{GROUP, ROSTER_GROUP_SCHEMA};
use crate::scim::{ScimError, ScimType};
use crate::service::ServiceError;
use crate::storage::{self, Database, DbConnection, GroupChanges, GroupRow, RoleBindingRow, StorageError};

pub mod events {
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_MODIFY: &str = "group.modify";
    pub const GROUP_DELETE: &str = "group.delete";
    pub const GROUP_ROLE: &str = "group.role";
}

#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub row: GroupRow,
    pub attributes: Map<String, Value>,
    /// `None` when not loaded (excluded by the caller).
    pub members: Option<Vec<(String, String)>>,
    /// The role the group gives its members, if bound.
    pub role: Option<Role>,
    /// Member values of this write that name no User of the organization: left out, not failed
    /// (an IdP often references a user it could not provision), and said in the answer and audit.
    pub ignored_members: Vec<String>,
}

/// The binding a group body asks for: roster's Group extension `role` (source `scim`), else a
/// binding made through the native API (kept), else the configured role for its displayName.
fn desired_binding(
    attributes: &Map<String, Value>,
    display_name: &str,
    existing: Option<&RoleBindingRow>,
    configured: &[(String, Role)],
) -> ScimResult<Option<(Role, &'static str)>> {
    if let Some(role) = attributes
        .get(ROSTER_GROUP_SCHEMA)
        .and_then(|e| e.get("role"))
        .and_then(Value::as_str)
    {
        let role = role
            .parse::<Role>()
            .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, e.to_string()))?;
        return Ok(Some((role, "scim")));
    }
    if let Some(b) = existing.filter(|b| b.source == "api") {
        return Ok(Some((stored("group_role_bindings.role", &b.role)?, "api")));
    }
    let name = display_name.to_lowercase();
    Ok(configured.iter().find(|(n, _)| *n == name).map(|(_, r)| (*r, "config")))
}

/// Applies the binding a write leads to and recomputes the roles it affects: every member of the
/// group when the binding changed, else the members added or removed when the group is bound.
#[allow(clippy::too_many_arguments)]
fn settle_roles(
    conn: &mut DbConnection,
    call: &ScimCall<'_>,
    group_id: GroupId,
    before: Option<RoleBindingRow>,
    after: Option<(Role, &'static str)>,
    touched: &[MemberId],
    display_name: &str,
    now: NaiveDateTime,
) -> ScimResult<()> {
    let organization_id = call.organization_id;
    let before_role = before.as_ref().map(|b| (b.role.clone(), b.source.clone()));
    let after_role = after.map(|(r, s)| (r.as_str().to_owned(), s.to_owned()));
    let changed = before_role != after_role;
    if changed {
        storage::set_role_binding(conn, organization_id, group_id, after, now)?;
    }
    if !changed && after.is_none() {
        return Ok(());
    }
    let default_role = super::default_role(conn, organization_id)?;
    let cause = serde_json::json!({"group_id": group_id.to_string(), "group": display_name, "role": after.map(|(r, _)| r.as_str())});
    if changed {
        storage::recompute_roles(
            conn,
            organization_id,
            storage::Affected::GroupMembers(group_id),
            default_role,
            &cause,
            call.audit,
            now,
        )?;
    }
    if !touched.is_empty() {
        storage::recompute_roles(
            conn,
            organization_id,
            storage::Affected::Members(touched),
            default_role,
            &cause,
            call.audit,
            now,
        )?;
    }
    Ok(())
}

fn attributes_of(row: &GroupRow) -> Result<Map<String, Value>, StorageError> {
    match serde_json::from_str(&row.scim_attributes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!("group {} scim_attributes", row.id))),
    }
}

fn load_row(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> ScimResult<(GroupId, GroupRow)> {
    group_row(conn, organization_id, id, storage::find_group)
}

/// [`load_row`] for a change: the group stays locked until the transaction ends, so overlapping
/// changes of one group (and `If-Match`) apply one after the other.
fn lock_row(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> ScimResult<(GroupId, GroupRow)> {
    group_row(conn, organization_id, id, storage::lock_group)
}

fn group_row(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: &str,
    read: fn(&mut DbConnection, OrganizationId, GroupId) -> Result<GroupRow, StorageError>,
) -> ScimResult<(GroupId, GroupRow)> {
    let not_found = || ScimError::not_found(format!("Group {id} not found"));
    let group_id: GroupId = id.parse().map_err(|_| not_found())?;
    match read(conn, organization_id, group_id) {
        Ok(row) => Ok((group_id, row)),
        Err(StorageError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn record(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    row: GroupRow,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let id: GroupId = stored("member_groups.id", &row.id)?;
    let members = if with_members {
        Some(storage::list_group_members(conn, organization_id, id)?)
    } else {
        None
    };
    let role = storage::find_role_binding(conn, organization_id, id)?
        .map(|b| stored::<Role>("group_role_bindings.role", &b.role))
        .transpose()?;
    Ok(GroupRecord {
        attributes: attributes_of(&row)?,
        row,
        members,
        role,
        ignored_members: Vec::new(),
    })
}

fn check_version(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    match if_match {
        Some(header) if !if_match_allows(header, version) => Err(ServiceError::PreconditionFailed.into()),
        _ => Ok(()),
    }
}

/// Member references that can be ours: ids that parse. Others cannot match a member and are left
/// out (an IdP may reference a user it failed to provision).
fn member_ids(values: &[String]) -> Vec<MemberId> {
    values.iter().filter_map(|v| v.parse().ok()).collect()
}

/// Adds the members `values` name; values naming no SCIM-visible member of the organization are
/// left out and noted in `delta.ignored`. Existence is only checked when fewer rows went in than
/// ids came (the usual push of provisioned users costs no extra query).
fn add_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
    values: &[String],
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ScimResult<()> {
    let ids = member_ids(values);
    let added = storage::add_group_members(conn, organization_id, group_id, &ids, now)?;
    delta.added += added;
    if added < values.len() {
        let known = storage::visible_member_ids(conn, organization_id, &ids)?;
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

pub fn get_group(
    db: &Database,
    organization_id: OrganizationId,
    id: &str,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let mut conn = db.get()?;
    let (_, row) = load_row(&mut conn, organization_id, id)?;
    record(&mut conn, organization_id, row, with_members)
}

pub fn list_groups(
    db: &Database,
    organization_id: OrganizationId,
    query: &ListQuery<GroupField>,
    with_members: bool,
) -> ScimResult<(Vec<GroupRecord>, i64)> {
    let mut conn = db.get()?;
    let (rows, total) = storage::search_groups(&mut conn, organization_id, query)?;
    let records = rows
        .into_iter()
        .map(|row| record(&mut conn, organization_id, row, with_members))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, total))
}

fn group_changes(input: &GroupInput) -> GroupChanges {
    GroupChanges {
        display_name: Some(input.display_name.clone()),
        display_name_ci: Some(input.display_name.to_lowercase()),
        external_id: Some(input.external_id.clone()),
        description: None,
        scim_attributes: Some(Value::Object(input.attributes.clone()).to_string()),
    }
}

pub fn create_group(
    db: &Database,
    call: &ScimCall<'_>,
    input: GroupInput,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let id = GroupId::new();
        let row = GroupRow {
            id: id.to_string(),
            organization_id: organization_id.to_string(),
            display_name: input.display_name.clone(),
            display_name_ci: input.display_name.to_lowercase(),
            external_id: input.external_id.clone(),
            description: None,
            scim_attributes: Value::Object(input.attributes.clone()).to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        storage::insert_group(conn, organization_id, &row)?;
        let mut delta = MemberDelta::default();
        if let Some(values) = &input.members {
            add_members(conn, organization_id, id, values, now, &mut delta)?;
        }
        let binding = desired_binding(&input.attributes, &input.display_name, None, call.group_roles)?;
        settle_roles(conn, call, id, None, binding, &delta.touched, &input.display_name, now)?;
        let mut event = NewAuditEvent::new(organization_id, events::GROUP_CREATE)
            .with("group_id", id.to_string())
            .with("display_name", input.display_name.clone())
            .with("members_added", delta.added);
        if !delta.ignored.is_empty() {
            event = event.with("members_ignored", delta.ignored.clone());
        }
        storage::insert_audit_event(conn, call.audit, &event, now)?;
        let row = storage::find_group(conn, organization_id, id)?;
        let mut record = record(conn, organization_id, row, with_members)?;
        record.ignored_members = delta.ignored;
        Ok(record)
    })
}

/// Membership changes made by one request, for the audit event.
#[derive(Default)]
struct MemberDelta {
    added: usize,
    removed: usize,
    /// Members added or removed (their roles may follow the group's).
    touched: Vec<MemberId>,
    /// Values to add that name no member of the organization.
    ignored: Vec<String>,
}

fn set_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: GroupId,
    values: &[String],
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ScimResult<()> {
    let removed = storage::clear_group_members(conn, organization_id, id)?;
    delta.removed += removed.len();
    delta
        .touched
        .extend(removed.iter().filter_map(|m| m.parse::<MemberId>().ok()));
    add_members(conn, organization_id, id, values, now, delta)
}

pub fn replace_group(
    db: &Database,
    call: &ScimCall<'_>,
    id: &str,
    input: GroupInput,
    if_match: Option<&str>,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let (group_id, row) = lock_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        let before = storage::find_role_binding(conn, organization_id, group_id)?;
        let mut delta = MemberDelta::default();
        if let Some(values) = &input.members {
            set_members(conn, organization_id, group_id, values, now, &mut delta)?;
        }
        storage::touch_group(conn, organization_id, group_id, &group_changes(&input), now)?;
        let binding = desired_binding(
            &input.attributes,
            &input.display_name,
            before.as_ref(),
            call.group_roles,
        )?;
        settle_roles(
            conn,
            call,
            group_id,
            before,
            binding,
            &delta.touched,
            &input.display_name,
            now,
        )?;
        audit_modify(conn, call, group_id, &delta, now)?;
        let row = storage::find_group(conn, organization_id, group_id)?;
        let mut record = record(conn, organization_id, row, with_members)?;
        record.ignored_members = delta.ignored;
        Ok(record)
    })
}

fn audit_modify(
    conn: &mut DbConnection,
    call: &ScimCall<'_>,
    id: GroupId,
    delta: &MemberDelta,
    now: NaiveDateTime,
) -> ScimResult<()> {
    let mut event = NewAuditEvent::new(call.organization_id, events::GROUP_MODIFY)
        .with("group_id", id.to_string())
        .with("members_added", delta.added)
        .with("members_removed", delta.removed);
    if !delta.ignored.is_empty() {
        event = event.with("members_ignored", delta.ignored.clone());
    }
    storage::insert_audit_event(conn, call.audit, &event, now)?;
    Ok(())
}

/// The member ids a `members[...]` filter names: `value eq "x"`, joined by `or`.
fn filtered_member_values(filter: &ValFilter) -> ScimResult<Vec<String>> {
    match filter {
        ValFilter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(v)))
            if path.name.eq_ignore_ascii_case("value") =>
        {
            Ok(vec![v.clone()])
        }
        ValFilter::Or(items) => Ok(items
            .iter()
            .map(filtered_member_values)
            .collect::<Result<Vec<_>, _>>()?
            .concat()),
        _ => Err(ScimError::bad_request(
            ScimType::InvalidFilter,
            "a members filter selects members by value eq, joined by or",
        )),
    }
}

fn is_members_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let lower = lower
        .strip_prefix(&format!("{}:", crate::scim::schema::GROUP_SCHEMA.to_ascii_lowercase()))
        .unwrap_or(&lower)
        .to_owned();
    lower == "members" || lower.starts_with("members[") || lower.starts_with("members.")
}

/// `PATCH /Groups/{id}`: member operations run set-wise in SQL, in order; the rest patch the
/// group's own attributes. All in one transaction.
pub fn patch_group(
    db: &Database,
    call: &ScimCall<'_>,
    id: &str,
    operations: &[PatchOperation],
    if_match: Option<&str>,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let (group_id, row) = lock_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        let mut delta = MemberDelta::default();
        let mut own_ops = Vec::new();
        for operation in operations {
            match &operation.path {
                Some(path) if is_members_path(path) => {
                    member_operation(conn, organization_id, group_id, path, operation, now, &mut delta)?;
                }
                Some(_) => own_ops.push(operation.clone()),
                None => {
                    // A path-less value may carry `members` next to the group's own attributes.
                    let Some(value) = operation.value.as_ref().and_then(Value::as_object) else {
                        own_ops.push(operation.clone());
                        continue;
                    };
                    let mut rest = Map::new();
                    for (k, v) in value {
                        if k.eq_ignore_ascii_case("members") {
                            let single = PatchOperation {
                                op: operation.op,
                                path: Some("members".into()),
                                value: Some(v.clone()),
                            };
                            member_operation(conn, organization_id, group_id, "members", &single, now, &mut delta)?;
                        } else {
                            rest.insert(k.clone(), v.clone());
                        }
                    }
                    if !rest.is_empty() {
                        own_ops.push(PatchOperation {
                            op: operation.op,
                            path: None,
                            value: Some(Value::Object(rest)),
                        });
                    }
                }
            }
        }
        let before = storage::find_role_binding(conn, organization_id, group_id)?;
        let (changes, attributes, display_name) = if own_ops.is_empty() {
            (GroupChanges::default(), attributes_of(&row)?, row.display_name.clone())
        } else {
            let current = patchable(&row.display_name, row.external_id.as_deref(), &attributes_of(&row)?);
            let patched = apply(&current, &own_ops, &GROUP)?;
            let input = group_input(&canonicalise(&patched, &GROUP, true), None)?;
            (group_changes(&input), input.attributes, input.display_name)
        };
        storage::touch_group(conn, organization_id, group_id, &changes, now)?;
        let binding = desired_binding(&attributes, &display_name, before.as_ref(), call.group_roles)?;
        settle_roles(
            conn,
            call,
            group_id,
            before,
            binding,
            &delta.touched,
            &display_name,
            now,
        )?;
        audit_modify(conn, call, group_id, &delta, now)?;
        let row = storage::find_group(conn, organization_id, group_id)?;
        let mut record = record(conn, organization_id, row, with_members)?;
        record.ignored_members = delta.ignored;
        Ok(record)
    })
}

fn member_operation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    group_id: GroupId,
    path: &str,
    operation: &PatchOperation,
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ScimResult<()> {
    let values = operation.value.as_ref().map(member_values);
    if path.contains('[') {
        let parsed: PatchPath = crate::scim::filter::normalise(path)
            .parse()
            .map_err(|_| ScimError::bad_request(ScimType::InvalidPath, format!("cannot parse path {path:?}")))?;
        let PatchPath::Value(vp) = parsed else {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("cannot parse path {path:?}"),
            ));
        };
        let named = filtered_member_values(&vp.filter)?;
        return match operation.op {
            OpKind::Remove => {
                let ids = member_ids(&named);
                delta.removed += storage::remove_group_members(conn, organization_id, group_id, &ids)?;
                delta.touched.extend(ids);
                Ok(())
            }
            _ => Err(ScimError::bad_request(
                ScimType::InvalidPath,
                "members are added with the path \"members\"",
            )),
        };
    }
    if !path.eq_ignore_ascii_case("members") && !path.to_ascii_lowercase().ends_with(":members") {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            format!("{path:?} cannot be changed"),
        ));
    }
    match operation.op {
        OpKind::Add => {
            let values =
                values.ok_or_else(|| ScimError::bad_request(ScimType::InvalidValue, "add members needs a value"))?;
            add_members(conn, organization_id, group_id, &values, now, delta)?;
        }
        OpKind::Replace => set_members(conn, organization_id, group_id, &values.unwrap_or_default(), now, delta)?,
        // With a value: remove those members only (never all of them); without: all.
        OpKind::Remove => match values {
            Some(values) if !values.is_empty() => {
                let ids = member_ids(&values);
                delta.removed += storage::remove_group_members(conn, organization_id, group_id, &ids)?;
                delta.touched.extend(ids);
            }
            _ => {
                let removed = storage::clear_group_members(conn, organization_id, group_id)?;
                delta.removed += removed.len();
                delta
                    .touched
                    .extend(removed.iter().filter_map(|m| m.parse::<MemberId>().ok()));
            }
        },
    }
    Ok(())
}

pub fn delete_group(db: &Database, call: &ScimCall<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let (group_id, row) = lock_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        let binding = storage::find_role_binding(conn, organization_id, group_id)?;
        let former: Vec<MemberId> = storage::clear_group_members(conn, organization_id, group_id)?
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect();
        storage::delete_group(conn, organization_id, group_id)?;
        if binding.is_some() && !former.is_empty() {
            let default_role = super::default_role(conn, organization_id)?;
            let cause =
                serde_json::json!({"group_id": group_id.to_string(), "group": row.display_name, "deleted": true});
            storage::recompute_roles(
                conn,
                organization_id,
                storage::Affected::Members(&former),
                default_role,
                &cause,
                call.audit,
                now,
            )?;
        }
        let event = NewAuditEvent::new(organization_id, events::GROUP_DELETE)
            .with("group_id", group_id.to_string())
            .with("display_name", row.display_name.clone());
        storage::insert_audit_event(conn, call.audit, &event, now)?;
        Ok(())
    })
}

pub fn render(record: &GroupRecord, base_url: &str) -> Value {
    let mut attributes = record.attributes.clone();
    attributes.remove(ROSTER_GROUP_SCHEMA);
    let mut extension = Map::new();
    if let Some(role) = record.role {
        extension.insert("role".into(), Value::String(role.as_str().to_owned()));
    }
    if !record.ignored_members.is_empty() {
        extension.insert("ignoredMembers".into(), serde_json::json!(record.ignored_members));
    }
    if !extension.is_empty() {
        attributes.insert(ROSTER_GROUP_SCHEMA.to_owned(), Value::Object(extension));
    }
    render_group(&GroupView {
        id: &record.row.id,
        display_name: &record.row.display_name,
        external_id: record.row.external_id.as_deref(),
        attributes: &attributes,
        version: record.row.version,
        created: record.row.created_at,
        last_modified: record.row.updated_at,
        members: record.members.as_deref(),
        base_url,
    })
}

/// Binds a group to a role through the native API (source `api`, which SCIM writes keep), or
/// unbinds it; recomputes its members' roles in the same transaction.
pub fn bind_group_role(
    db: &Database,
    organization_id: OrganizationId,
    group_id: GroupId,
    role: Option<Role>,
    may_manage_administrators: bool,
    context: &crate::domain::audit::AuditContext,
) -> Result<Option<Role>, ServiceError> {
    db.write(|conn| {
        let now = crate::domain::now();
        let group = match storage::lock_group(conn, organization_id, group_id) {
            Err(StorageError::NotFound) => return Err(ServiceError::NotFound("group")),
            other => other?,
        };
        let before = storage::find_role_binding(conn, organization_id, group_id)?;
        let touches_administrators = role == Some(Role::Administrator)
            || before.as_ref().is_some_and(|b| b.role == Role::Administrator.as_str());
        if touches_administrators && !may_manage_administrators {
            return Err(ServiceError::Forbidden(
                "only an ADMINISTRATOR (or a token with org:admin) binds or unbinds the ADMINISTRATOR role".into(),
            ));
        }
        // Settling roles never invites anyone, so the invitation lifetime here is never used.
        let call = ScimCall {
            organization_id,
            audit: context,
            policy: crate::service::team::InvitationPolicy {
                ttl: chrono::Duration::zero(),
            },
            group_roles: &[],
            role_aliases: &[],
        };
        settle_roles(
            conn,
            &call,
            group_id,
            before,
            role.map(|r| (r, "api")),
            &[],
            &group.display_name,
            now,
        )
        .map_err(|e| ServiceError::Internal(e.detail))?;
        let event = NewAuditEvent::new(organization_id, events::GROUP_ROLE)
            .with("group_id", group_id.to_string())
            .with("role", role.map(|r| r.as_str()));
        storage::insert_audit_event(conn, context, &event, now)?;
        Ok(role)
    })
}
