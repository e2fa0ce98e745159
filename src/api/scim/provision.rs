//! SCIM requests as domain commands: each function here reads its request with the mapping layer
//! (bodies, PATCH operations, the rule table, `If-Match`) and hands the result to the service
//! layer's shared use cases, inside their transaction where the current state matters. The
//! handlers and `/Bulk` both come through here.

use serde_json::Value;

use crate::domain::provisioning::{Arrival, Departure, GroupChange, NewProvisioned, ProvisionedChange};
use crate::domain::{GroupId, MemberId, MemberKind, OrganizationId};
use crate::mapping::agent;
use crate::mapping::group::{GroupInput, GroupView, patch_change, render_group, replacement};
use crate::mapping::if_match_allows;
use crate::mapping::lifecycle::{plan_active, plan_agent_active, plan_create, plan_delete};
use crate::mapping::user::{UserInput, UserView, patchable, render_user, user_input};
use crate::scim::ScimError;
use crate::scim::patch::{PatchOperation, apply};
use crate::scim::schema::{AGENT, ROSTER_GROUP_SCHEMA, USER};
use crate::service::groups::{self, GroupRecord};
use crate::service::members::{self, ProvisionedRecord};
use crate::service::{ChangeContext, ServiceError};
use crate::storage::Database;

/// A request's context: who provisions, and the settings that shape it.
pub struct Call<'a> {
    pub change: ChangeContext<'a>,
    /// `roles` values that stand for a roster role.
    pub role_aliases: &'a [(String, crate::domain::Role)],
}

pub type ScimResult<T> = Result<T, ScimError>;

fn user_id(id: &str) -> ScimResult<MemberId> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("User {id} not found")))
}

fn group_id(id: &str) -> ScimResult<GroupId> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("Group {id} not found")))
}

fn check_version(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    match if_match {
        Some(header) if !if_match_allows(header, version) => Err(ServiceError::PreconditionFailed.into()),
        _ => Ok(()),
    }
}

// ---- Users ----------------------------------------------------------------------------------

pub fn get_user(db: &Database, organization_id: OrganizationId, id: &str) -> ScimResult<ProvisionedRecord> {
    Ok(members::get_provisioned(
        db,
        organization_id,
        user_id(id)?,
        MemberKind::Person,
    )?)
}

pub fn list_users(
    db: &Database,
    organization_id: OrganizationId,
    query: &crate::domain::query::ListQuery<crate::domain::query::MemberField>,
) -> ScimResult<(Vec<ProvisionedRecord>, i64)> {
    Ok(members::list_provisioned(
        db,
        organization_id,
        MemberKind::Person,
        query,
    )?)
}

/// `POST /Users`.
pub fn create_user(db: &Database, call: &Call<'_>, input: UserInput) -> ScimResult<ProvisionedRecord> {
    let new = NewProvisioned {
        kind: MemberKind::Person,
        roles: input.decide_role(call.role_aliases),
        arrival: plan_create(input.active),
        profile: input.profile,
        owners: None,
    };
    Ok(members::provision(db, &call.change, new)?)
}

/// The change a full User body asks of `state`: its profile and role, and the rule table's
/// command for its `active`.
fn change_for(input: UserInput, state: &members::ProvisionedState, call: &Call<'_>) -> ProvisionedChange {
    let member = &state.member;
    let registered = member.user_id.is_some() || member.verified_at.is_some();
    ProvisionedChange {
        roles: input.decide_role(call.role_aliases),
        command: input
            .active
            .and_then(|active| plan_active(member.status, registered, active)),
        profile: input.profile,
        owners: None,
    }
}

/// `PUT /Users/{id}`.
pub fn replace_user(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    input: UserInput,
    if_match: Option<&str>,
) -> ScimResult<ProvisionedRecord> {
    members::change_provisioned(db, &call.change, user_id(id)?, MemberKind::Person, |state| {
        check_version(if_match, state.member.version)?;
        Ok(change_for(input, state, call))
    })
}

/// `PATCH /Users/{id}`: the operations are applied to the User's canonical form, and the result
/// is read like a PUT (so every attribute path means the same as in a body).
pub fn patch_user(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    operations: &[PatchOperation],
    if_match: Option<&str>,
) -> ScimResult<ProvisionedRecord> {
    members::change_provisioned(db, &call.change, user_id(id)?, MemberKind::Person, |state| {
        check_version(if_match, state.member.version)?;
        let current = patchable(&state.member, &state.attributes);
        let patched = apply(&current, operations, &USER)?;
        Ok(change_for(user_input(&patched)?, state, call))
    })
}

/// `DELETE /Users/{id}`: cancels a pending invitation or deactivates; SCIM answers 404 from then
/// on, while the native API keeps the member and its history.
pub fn delete_user(db: &Database, call: &Call<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    members::deprovision(db, &call.change, user_id(id)?, MemberKind::Person, |member| {
        check_version(if_match, member.version)?;
        Ok::<_, ScimError>(plan_delete(member.status))
    })
}

/// A User for the wire.
pub fn render_provisioned(record: &ProvisionedRecord, base_url: &str) -> Value {
    render_user(&UserView {
        member: &record.member,
        attributes: &record.attributes,
        groups: &record.groups,
        base_url,
    })
}

// ---- Agents ---------------------------------------------------------------------------------

fn agent_id(id: &str) -> ScimResult<MemberId> {
    id.parse()
        .map_err(|_| ScimError::not_found(format!("Agent {id} not found")))
}

pub fn get_agent(db: &Database, organization_id: OrganizationId, id: &str) -> ScimResult<ProvisionedRecord> {
    Ok(members::get_provisioned(
        db,
        organization_id,
        agent_id(id)?,
        MemberKind::Agent,
    )?)
}

pub fn list_agents(
    db: &Database,
    organization_id: OrganizationId,
    query: &crate::domain::query::ListQuery<crate::domain::query::MemberField>,
) -> ScimResult<(Vec<ProvisionedRecord>, i64)> {
    Ok(members::list_provisioned(
        db,
        organization_id,
        MemberKind::Agent,
        query,
    )?)
}

/// `POST /Agents`: an ACTIVE agent member (nobody to invite), or SUSPENDED when `active: false`.
pub fn create_agent(
    db: &Database,
    call: &Call<'_>,
    (input, owners): (UserInput, Option<Vec<String>>),
) -> ScimResult<ProvisionedRecord> {
    let new = NewProvisioned {
        kind: MemberKind::Agent,
        roles: input.decide_role(call.role_aliases),
        arrival: if input.active == Some(false) {
            Arrival::Inactive
        } else {
            Arrival::Active
        },
        profile: input.profile,
        owners,
    };
    Ok(members::provision(db, &call.change, new)?)
}

fn agent_change(
    input: UserInput,
    owners: Option<Vec<String>>,
    state: &members::ProvisionedState,
    call: &Call<'_>,
) -> ProvisionedChange {
    ProvisionedChange {
        roles: input.decide_role(call.role_aliases),
        command: input
            .active
            .and_then(|active| plan_agent_active(state.member.status, active)),
        profile: input.profile,
        owners,
    }
}

/// `PUT /Agents/{id}`.
pub fn replace_agent(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    (input, owners): (UserInput, Option<Vec<String>>),
    if_match: Option<&str>,
) -> ScimResult<ProvisionedRecord> {
    members::change_provisioned(db, &call.change, agent_id(id)?, MemberKind::Agent, |state| {
        check_version(if_match, state.member.version)?;
        // A full body without owners has none.
        Ok(agent_change(input, Some(owners.unwrap_or_default()), state, call))
    })
}

/// `PATCH /Agents/{id}`.
pub fn patch_agent(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    operations: &[PatchOperation],
    if_match: Option<&str>,
) -> ScimResult<ProvisionedRecord> {
    members::change_provisioned(db, &call.change, agent_id(id)?, MemberKind::Agent, |state| {
        check_version(if_match, state.member.version)?;
        let current = agent::patchable(&state.member, &state.attributes, &state.owners);
        let patched = apply(&current, operations, &AGENT)?;
        let (input, owners) = agent::agent_input(&patched)?;
        Ok(agent_change(input, Some(owners.unwrap_or_default()), state, call))
    })
}

/// `DELETE /Agents/{id}`: the agent leaves the organization and its tokens stop working.
pub fn delete_agent(db: &Database, call: &Call<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    members::deprovision(db, &call.change, agent_id(id)?, MemberKind::Agent, |member| {
        check_version(if_match, member.version)?;
        Ok::<_, ScimError>(Departure::Remove)
    })
}

pub fn render_agent_record(record: &ProvisionedRecord, base_url: &str) -> Value {
    agent::render_agent(
        &UserView {
            member: &record.member,
            attributes: &record.attributes,
            groups: &record.groups,
            base_url,
        },
        &record.owners,
    )
}

// ---- Groups ---------------------------------------------------------------------------------

pub fn get_group(
    db: &Database,
    organization_id: OrganizationId,
    id: &str,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    Ok(groups::get_group(db, organization_id, group_id(id)?, with_members)?)
}

pub fn list_groups(
    db: &Database,
    organization_id: OrganizationId,
    query: &crate::domain::query::ListQuery<crate::domain::query::GroupField>,
    with_members: bool,
) -> ScimResult<(Vec<GroupRecord>, i64)> {
    Ok(groups::list_groups(db, organization_id, query, with_members)?)
}

/// `POST /Groups`: member references that name nobody are left out and reported.
pub fn create_group(db: &Database, call: &Call<'_>, input: GroupInput, with_members: bool) -> ScimResult<GroupRecord> {
    let profile = input.profile()?;
    let members = input.members.unwrap_or_default();
    Ok(groups::create_group(db, &call.change, profile, &members, with_members)?)
}

/// `PUT /Groups/{id}`.
pub fn replace_group(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    input: GroupInput,
    if_match: Option<&str>,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    let change = replacement(&input)?;
    groups::change_group(db, &call.change, group_id(id)?, with_members, |group| {
        check_version(if_match, group.version)?;
        Ok::<GroupChange, ScimError>(change)
    })
}

/// `PATCH /Groups/{id}`: member operations run set-wise in SQL, in order; the rest patch the
/// group's own attributes. All in one transaction.
pub fn patch_group(
    db: &Database,
    call: &Call<'_>,
    id: &str,
    operations: &[PatchOperation],
    if_match: Option<&str>,
    with_members: bool,
) -> ScimResult<GroupRecord> {
    groups::change_group(db, &call.change, group_id(id)?, with_members, |group| {
        check_version(if_match, group.version)?;
        patch_change(group, operations)
    })
}

pub fn delete_group(db: &Database, call: &Call<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    groups::delete_group(db, &call.change, group_id(id)?, |group| {
        check_version(if_match, group.version)
    })
}

/// A Group for the wire: roster's extension carries the bound role and, in the answer to a
/// write, the member references it left out.
pub fn render_group_record(record: &GroupRecord, base_url: &str) -> Value {
    let mut attributes = record.group.attributes.clone();
    attributes.remove(ROSTER_GROUP_SCHEMA);
    let mut extension = serde_json::Map::new();
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
        id: &record.group.id.to_string(),
        display_name: &record.group.display_name,
        external_id: record.group.external_id.as_deref(),
        attributes: &attributes,
        version: record.group.version,
        created: record.group.created_at,
        last_modified: record.group.updated_at,
        members: record.members.as_deref(),
        base_url,
    })
}
