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
use crate::domain::{GroupId, MemberId, OrganizationId};
use crate::mapping::group::{GroupInput, GroupView, group_input, member_values, patchable, render_group};
use crate::mapping::if_match_allows;
use crate::scim::patch::{OpKind, PatchOperation, apply};
use crate::scim::resource::canonicalise;
use crate::scim::schema::GROUP;
use crate::scim::{ScimError, ScimType};
use crate::service::ServiceError;
use crate::storage::{self, Database, DbConnection, GroupChanges, GroupRow, StorageError};

pub mod events {
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_MODIFY: &str = "group.modify";
    pub const GROUP_DELETE: &str = "group.delete";
}

#[derive(Debug, Clone)]
pub struct GroupRecord {
    pub row: GroupRow,
    pub attributes: Map<String, Value>,
    /// `None` when not loaded (excluded by the caller).
    pub members: Option<Vec<(String, String)>>,
}

fn attributes_of(row: &GroupRow) -> Result<Map<String, Value>, StorageError> {
    match serde_json::from_str(&row.scim_attributes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!("group {} scim_attributes", row.id))),
    }
}

fn load_row(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> ScimResult<(GroupId, GroupRow)> {
    let not_found = || ScimError::not_found(format!("Group {id} not found"));
    let group_id: GroupId = id.parse().map_err(|_| not_found())?;
    match storage::find_group(conn, organization_id, group_id) {
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
    Ok(GroupRecord {
        attributes: attributes_of(&row)?,
        row,
        members,
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
        let added = match &input.members {
            Some(values) => storage::add_group_members(conn, organization_id, id, &member_ids(values), now)?,
            None => 0,
        };
        let event = NewAuditEvent::new(organization_id, events::GROUP_CREATE)
            .with("group_id", id.to_string())
            .with("display_name", input.display_name.clone())
            .with("members_added", added);
        storage::insert_audit_event(conn, call.audit, &event, now)?;
        let row = storage::find_group(conn, organization_id, id)?;
        record(conn, organization_id, row, with_members)
    })
}

/// Membership changes made by one request, for the audit event.
#[derive(Default)]
struct MemberDelta {
    added: usize,
    removed: usize,
}

fn set_members(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: GroupId,
    values: &[String],
    now: NaiveDateTime,
    delta: &mut MemberDelta,
) -> ScimResult<()> {
    delta.removed += storage::clear_group_members(conn, organization_id, id)?.len();
    delta.added += storage::add_group_members(conn, organization_id, id, &member_ids(values), now)?;
    Ok(())
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
        let (group_id, row) = load_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        let mut delta = MemberDelta::default();
        if let Some(values) = &input.members {
            set_members(conn, organization_id, group_id, values, now, &mut delta)?;
        }
        storage::touch_group(conn, organization_id, group_id, &group_changes(&input), now)?;
        audit_modify(conn, call, group_id, &delta, now)?;
        let row = storage::find_group(conn, organization_id, group_id)?;
        record(conn, organization_id, row, with_members)
    })
}

fn audit_modify(
    conn: &mut DbConnection,
    call: &ScimCall<'_>,
    id: GroupId,
    delta: &MemberDelta,
    now: NaiveDateTime,
) -> ScimResult<()> {
    let event = NewAuditEvent::new(call.organization_id, events::GROUP_MODIFY)
        .with("group_id", id.to_string())
        .with("members_added", delta.added)
        .with("members_removed", delta.removed);
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
        let (group_id, row) = load_row(conn, organization_id, id)?;
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
        let changes = if own_ops.is_empty() {
            GroupChanges::default()
        } else {
            let current = patchable(&row.display_name, row.external_id.as_deref(), &attributes_of(&row)?);
            let patched = apply(&current, &own_ops, &GROUP)?;
            group_changes(&group_input(&canonicalise(&patched, &GROUP, true), None)?)
        };
        storage::touch_group(conn, organization_id, group_id, &changes, now)?;
        audit_modify(conn, call, group_id, &delta, now)?;
        let row = storage::find_group(conn, organization_id, group_id)?;
        record(conn, organization_id, row, with_members)
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
                delta.removed += storage::remove_group_members(conn, organization_id, group_id, &member_ids(&named))?;
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
            delta.added += storage::add_group_members(conn, organization_id, group_id, &member_ids(&values), now)?;
        }
        OpKind::Replace => set_members(conn, organization_id, group_id, &values.unwrap_or_default(), now, delta)?,
        // With a value: remove those members only (never all of them); without: all.
        OpKind::Remove => match values {
            Some(values) if !values.is_empty() => {
                delta.removed += storage::remove_group_members(conn, organization_id, group_id, &member_ids(&values))?;
            }
            _ => delta.removed += storage::clear_group_members(conn, organization_id, group_id)?.len(),
        },
    }
    Ok(())
}

pub fn delete_group(db: &Database, call: &ScimCall<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let (group_id, row) = load_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        storage::delete_group(conn, organization_id, group_id)?;
        let event = NewAuditEvent::new(organization_id, events::GROUP_DELETE)
            .with("group_id", group_id.to_string())
            .with("display_name", row.display_name.clone());
        storage::insert_audit_event(conn, call.audit, &event, now)?;
        Ok(())
    })
}

pub fn render(record: &GroupRecord, base_url: &str) -> Value {
    render_group(&GroupView {
        id: &record.row.id,
        display_name: &record.row.display_name,
        external_id: record.row.external_id.as_deref(),
        attributes: &record.attributes,
        version: record.row.version,
        created: record.row.created_at,
        last_modified: record.row.updated_at,
        members: record.members.as_deref(),
        base_url,
    })
}
