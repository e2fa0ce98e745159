//! The member commands both doors share, and the use cases of members an identity provider
//! provisions.
//!
//! Every change of a member's lifecycle or role (deactivate, reactivate, revoke or cancel an
//! invitation, invite again, change the role, update the profile) is one function here, working on
//! a member locked by the caller's transaction and writing its audit event. The native API
//! (`service::team`) and provisioning (below) both call them, so the rules are the same whichever
//! door a change came through; where the doors differ on purpose, the [`Authority`] says so.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::team::{InvitationPolicy, attach_invitation, issue_invitation, unique_conflict};
use super::{ChangeContext, ServiceError, ServiceResult, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::provisioning::{
    ActiveCommand, Arrival, Authority, Departure, NewProvisioned, Profile, ProvisionedChange, RoleDecision,
};
use crate::domain::query::{ListQuery, MemberField};
use crate::domain::{Actor, Member, MemberId, MemberKind, MemberStatus, OrganizationId, Role};
use crate::storage::{self, Database, DbConnection, MemberChanges, MemberRow, NewMember, StorageError};

// ---- The shared commands ---------------------------------------------------------------------

/// Whether `member` is the organization's last active ADMINISTRATOR (the organization row is
/// locked first, so two such changes cannot both see another administrator).
fn is_last_administrator(conn: &mut DbConnection, member: &Member) -> ServiceResult<bool> {
    if member.role != Role::Administrator || member.status != MemberStatus::Active {
        return Ok(false);
    }
    storage::lock_organization(conn, member.organization_id)?;
    Ok(storage::count_active_administrators(conn, member.organization_id, member.id)? == 0)
}

/// The rule for a change that takes away an active ADMINISTRATOR (deactivation, demotion,
/// removal, suspension): the organization itself may not leave itself without one (409); the
/// identity provider, authoritative for identity, may, and that is recorded in the same
/// transaction (`team.without_administrator`) and shown in the organization summary. Returns
/// whether the member was the last one.
pub(crate) fn check_last_administrator(
    conn: &mut DbConnection,
    member: &Member,
    authority: Authority,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<bool> {
    if !is_last_administrator(conn, member)? {
        return Ok(false);
    }
    match authority {
        Authority::Organization => Err(ServiceError::conflict(
            "role",
            "this member is the organization's last active ADMINISTRATOR; make another member ADMINISTRATOR first",
        )),
        Authority::IdentityProvider => {
            let event = NewAuditEvent::new(member.organization_id, events::ORGANIZATION_WITHOUT_ADMINISTRATOR)
                .about(member.id)
                .with(
                    "reason",
                    "the identity provider deactivated, removed or demoted the last active ADMINISTRATOR",
                );
            storage::insert_audit_event(conn, context, &event, now)?;
            Ok(true)
        }
    }
}

fn status_event(member: &Member, name: &'static str, after: MemberStatus) -> NewAuditEvent {
    NewAuditEvent::new(member.organization_id, name)
        .about(member.id)
        .with("old_status", member.status.as_str())
        .with("new_status", after.as_str())
}

/// ACTIVE (or SUSPENDED) → INACTIVE with a deactivation date.
pub(crate) fn deactivate_in(
    conn: &mut DbConnection,
    member: &Member,
    authority: Authority,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    deactivate_noting(conn, member, authority, MemberChanges::default(), &[], context, now)
}

/// [`deactivate_in`] with more changes to the row and more to say in the event.
fn deactivate_noting(
    conn: &mut DbConnection,
    member: &Member,
    authority: Authority,
    extra: MemberChanges,
    note: &[(&'static str, Value)],
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    let last = check_last_administrator(conn, member, authority, context, now)?;
    let changes = MemberChanges {
        status: Some(MemberStatus::Inactive.as_str().to_owned()),
        deactivated_date: Some(Some(now)),
        ..extra
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    let mut event = status_event(member, events::MEMBER_DEACTIVATE, updated.status);
    if last {
        event = event.with("last_administrator", true);
    }
    for (key, value) in note {
        event = event.with(key, value.clone());
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(updated)
}

/// INACTIVE (or SUSPENDED), registered → ACTIVE again.
pub(crate) fn reactivate_in(
    conn: &mut DbConnection,
    member: &Member,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    set_active_in(conn, member, events::MEMBER_REACTIVATE, context, now)
}

/// The member ACTIVE again (no deactivation date or reason), audited as `event_name`.
fn set_active_in(
    conn: &mut DbConnection,
    member: &Member,
    event_name: &'static str,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    let changes = MemberChanges {
        status: Some(MemberStatus::Active.as_str().to_owned()),
        deactivated_date: Some(None),
        status_reason: Some(None),
        ..MemberChanges::default()
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    storage::insert_audit_event(conn, context, &status_event(member, event_name, updated.status), now)?;
    Ok(updated)
}

/// PENDING → its invitation revoked, INACTIVE (still listed).
pub(crate) fn revoke_invitation_in(
    conn: &mut DbConnection,
    member: &Member,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    storage::close_open_invitations(conn, member.organization_id, member.id, "REVOKED", now)?;
    let changes = MemberChanges {
        status: Some(MemberStatus::Inactive.as_str().to_owned()),
        deactivated_date: Some(Some(now)),
        ..MemberChanges::default()
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    storage::insert_audit_event(
        conn,
        context,
        &status_event(member, events::MEMBER_INVITE_CANCEL, updated.status),
        now,
    )?;
    Ok(updated)
}

/// PENDING → its invitation cancelled and the member out of the lists (its history stays).
/// `extra` carries what the caller changes with it (SCIM's deletion mark).
pub(crate) fn cancel_invitation_in(
    conn: &mut DbConnection,
    member: &Member,
    extra: MemberChanges,
    note: &[(&'static str, Value)],
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    storage::close_open_invitations(conn, member.organization_id, member.id, "CANCELLED", now)?;
    let changes = MemberChanges {
        status: Some(MemberStatus::Inactive.as_str().to_owned()),
        removed_at: Some(Some(now)),
        ..extra
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    let mut event = status_event(member, events::MEMBER_INVITE_CANCEL, updated.status);
    for (key, value) in note {
        event = event.with(key, value.clone());
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(updated)
}

/// INACTIVE, never registered → PENDING with a new invitation (when there is an address).
pub(crate) fn reinvite_in(
    conn: &mut DbConnection,
    member: &Member,
    actor: &Actor,
    context: &AuditContext,
    policy: InvitationPolicy,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    let changes = MemberChanges {
        status: Some(MemberStatus::Pending.as_str().to_owned()),
        deactivated_date: Some(None),
        ..MemberChanges::default()
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    let mut event = status_event(member, events::MEMBER_INVITE, updated.status);
    if updated.email.is_some() || updated.user_id.is_some() {
        let invitation = issue_invitation(conn, &updated, actor, context, policy, now)?.id;
        event = event.with("invitation_id", invitation.to_string());
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(updated)
}

/// Sets the member's role. A role that role-bound groups own is refused natively (409, naming the
/// groups) and left as the groups say for the identity provider.
pub(crate) fn change_role_in(
    conn: &mut DbConnection,
    member: &Member,
    role: Role,
    authority: Authority,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    if role == member.role {
        return Ok(member.clone());
    }
    let groups = storage::bound_groups_of_member(conn, member.organization_id, member.id)?;
    if !groups.is_empty() {
        return match authority {
            Authority::IdentityProvider => Ok(member.clone()),
            Authority::Organization => {
                let names: Vec<String> = groups
                    .iter()
                    .map(|(_, name, role)| format!("{name} ({role})"))
                    .collect();
                Err(ServiceError::conflict(
                    "role",
                    format!(
                        "this member's role comes from its groups: {}; change the groups instead",
                        names.join(", ")
                    ),
                ))
            }
        };
    }
    let last = check_last_administrator(conn, member, authority, context, now)?;
    let changes = MemberChanges {
        role: Some(role.as_str().to_owned()),
        ..MemberChanges::default()
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    let mut event = NewAuditEvent::new(member.organization_id, events::MEMBER_MODIFY)
        .about(member.id)
        .with("old_role", member.role.as_str())
        .with("new_role", role.as_str());
    if authority == Authority::IdentityProvider {
        event = event.with("reason", "scim roles");
    }
    if last {
        event = event.with("last_administrator", true);
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(updated)
}

// ---- Provisioned members -------------------------------------------------------------------

/// A member as an identity provider sees it: the member, the attributes kept as sent, and its
/// groups (id, displayName).
#[derive(Debug, Clone)]
pub struct ProvisionedRecord {
    pub member: Member,
    pub attributes: Map<String, Value>,
    pub groups: Vec<(String, String)>,
    /// An agent's owners: (member id, name, status).
    pub owners: Vec<(String, String, String)>,
}

/// The provisioning client acts as an integration: never as a member of the organization.
const PROVISIONER: Actor = Actor::Integration { scopes: Vec::new() };

fn attributes_of(row: &MemberRow) -> Result<Map<String, Value>, StorageError> {
    match serde_json::from_str(&row.scim_attributes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!("member {} scim_attributes", row.id))),
    }
}

/// The member the provider sees (not deleted through SCIM, not a cancelled invitation), of the kind
/// asked for (an agent is no User, a person no Agent), from what a read of it found.
fn visible_of_kind(found: Result<MemberRow, StorageError>, kind: MemberKind) -> ServiceResult<MemberRow> {
    let not_found = || {
        ServiceError::NotFound(match kind {
            MemberKind::Person => "User",
            MemberKind::Agent => "Agent",
        })
    };
    match found {
        Ok(row) if row.scim_deleted_at.is_some() || row.removed_at.is_some() => Err(ServiceError::NotFound("User")),
        Ok(row) if row.kind != kind.as_str() => Err(not_found()),
        Ok(row) => Ok(row),
        Err(StorageError::NotFound) => Err(ServiceError::NotFound("User")),
        Err(e) => Err(e.into()),
    }
}

/// [`visible_of_kind`], read with `read` (locking or not).
fn visible_of(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    kind: MemberKind,
    read: fn(&mut DbConnection, OrganizationId, MemberId) -> Result<MemberRow, StorageError>,
) -> ServiceResult<MemberRow> {
    visible_of_kind(read(conn, organization_id, id), kind)
}

fn owners_of(conn: &mut DbConnection, member: &Member) -> ServiceResult<Vec<(String, String, String)>> {
    if member.kind != MemberKind::Agent {
        return Ok(Vec::new());
    }
    Ok(storage::owners_of_agents(conn, member.organization_id, &[member.id])?
        .remove(&member.id.to_string())
        .unwrap_or_default())
}

fn record(conn: &mut DbConnection, row: MemberRow, now: NaiveDateTime) -> ServiceResult<ProvisionedRecord> {
    let attributes = attributes_of(&row)?;
    let member = attach_invitation(conn, Member::try_from(row)?, now)?;
    with_groups_and_owners(conn, member, attributes)
}

fn with_groups_and_owners(
    conn: &mut DbConnection,
    member: Member,
    attributes: Map<String, Value>,
) -> ServiceResult<ProvisionedRecord> {
    let groups = storage::groups_of_member(conn, member.organization_id, member.id)?;
    let owners = owners_of(conn, &member)?;
    Ok(ProvisionedRecord {
        member,
        attributes,
        groups,
        owners,
    })
}

pub fn get_provisioned(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    kind: MemberKind,
) -> ServiceResult<ProvisionedRecord> {
    let mut conn = db.get()?;
    let (found, invitation) = super::team::find_with_invitation(&mut conn, organization_id, id, crate::domain::now());
    let row = visible_of_kind(found, kind)?;
    let attributes = attributes_of(&row)?;
    let mut member = Member::try_from(row)?;
    member.invitation = invitation;
    with_groups_and_owners(&mut conn, member, attributes)
}

/// A page of provisioned members and the total; filter, sort and paging run in SQL.
pub fn list_provisioned(
    db: &Database,
    organization_id: OrganizationId,
    kind: MemberKind,
    query: &ListQuery<MemberField>,
) -> ServiceResult<(Vec<ProvisionedRecord>, i64)> {
    let mut conn = db.get()?;
    let (rows, total) = storage::search_members(&mut conn, organization_id, kind, query)?;
    let now = crate::domain::now();
    let ids: Vec<MemberId> = rows
        .iter()
        .map(|r| stored("members.id", &r.id))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok((Vec::new(), total));
    }
    let mut groups = storage::groups_of_members(&mut conn, organization_id, &ids)?;
    let invitations = storage::latest_invitations(&mut conn, organization_id, &ids)?;
    let mut owners = if kind == MemberKind::Agent {
        storage::owners_of_agents(&mut conn, organization_id, &ids)?
    } else {
        Default::default()
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attributes = attributes_of(&row)?;
        let mut member = Member::try_from(row)?;
        member.invitation = invitations.get(&member.id.to_string()).map(|i| {
            crate::domain::invitation::InvitationSummary::at(&i.status, &i.delivery_status, i.expires_at, now)
        });
        let member_groups = groups.remove(&member.id.to_string()).unwrap_or_default();
        let member_owners = owners.remove(&member.id.to_string()).unwrap_or_default();
        out.push(ProvisionedRecord {
            member,
            attributes,
            groups: member_groups,
            owners: member_owners,
        });
    }
    Ok((out, total))
}

/// Columns from a profile, falling back to nothing for an e-mail or phone another member
/// already holds (the value stays in the attributes: provisioning never fails on it).
struct Columns {
    email: Option<(String, String)>,
    phone: Option<String>,
}

fn columns_for(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    profile: &Profile,
    this: Option<&str>,
) -> ServiceResult<Columns> {
    let email = match &profile.email {
        Some(e) => match storage::find_member_by_email(conn, organization_id, &e.key())? {
            Some(other) if Some(other.id.as_str()) != this => None,
            _ => Some((e.as_str().to_owned(), e.key())),
        },
        None => None,
    };
    let phone = match &profile.phone {
        Some(p) => match storage::find_member_by_phone(conn, organization_id, p.as_str())? {
            Some(other) if Some(other.id.as_str()) != this => None,
            _ => Some(p.as_str().to_owned()),
        },
        None => None,
    };
    Ok(Columns { email, phone })
}

fn profile_changes(profile: &Profile, columns: &Columns) -> MemberChanges {
    MemberChanges {
        user_name: Some(profile.user_name.as_str().to_owned()),
        user_name_ci: Some(profile.user_name.key()),
        external_id: Some(profile.external_id.clone()),
        display_name: Some(profile.display_name.clone()),
        first_name: Some(profile.first_name.clone()),
        last_name: Some(profile.last_name.clone()),
        email: Some(columns.email.as_ref().map(|(e, _)| e.clone())),
        email_ci: Some(columns.email.as_ref().map(|(_, k)| k.clone())),
        phone_number: Some(columns.phone.clone()),
        scim_attributes: Some(Value::Object(profile.attributes.clone()).to_string()),
        ..MemberChanges::default()
    }
}

/// The `ignored_roles` column: the values as a JSON array, or nothing.
fn ignored_roles_column(roles: &RoleDecision) -> Option<String> {
    (!roles.ignored.is_empty()).then(|| Value::from(roles.ignored.clone()).to_string())
}

/// A unique-index refusal on the userName names it; others are the native conflicts.
fn uniqueness(err: StorageError) -> ServiceError {
    if err.is_unique_on("user_name_ci") {
        ServiceError::conflict("userName", "userName is already taken in this organization")
    } else {
        unique_conflict(err)
    }
}

/// A provisioned person arrives: invited (PENDING) or INACTIVE. A userName deleted through the
/// provider earlier is a re-hire: the same member comes back, with its history, ACTIVE again if it
/// had registered.
pub fn provision(db: &Database, call: &ChangeContext<'_>, new: NewProvisioned) -> ServiceResult<ProvisionedRecord> {
    let organization_id = call.organization_id;
    let NewProvisioned {
        kind,
        profile,
        roles,
        arrival,
        owners,
    } = new;
    db.write(|conn| {
        let now = crate::domain::now();
        let default_role = super::default_role(conn, organization_id)?;
        let existing = storage::find_member_by_user_name(conn, organization_id, &profile.user_name)?;
        let role = roles.role.unwrap_or(default_role);
        // The new member's row as inserted (a returning member's is read after its updates).
        let mut inserted = None;
        let (id, rehired) = match existing {
            Some(row) if (row.scim_deleted_at.is_some() || row.removed_at.is_some()) && row.kind == kind.as_str() => {
                let columns = columns_for(conn, organization_id, &profile, Some(&row.id))?;
                let mut changes = profile_changes(&profile, &columns);
                changes.scim_deleted_at = Some(None);
                changes.removed_at = Some(None);
                changes.role = Some(role.as_str().to_owned());
                changes.ignored_roles = Some(ignored_roles_column(&roles));
                let id: MemberId = stored("members.id", &row.id)?;
                storage::update_member(conn, organization_id, id, &changes, now).map_err(uniqueness)?;
                storage::set_member_emails(conn, organization_id, id, &profile.addresses)?;
                (id, Some(row))
            }
            Some(_) => {
                return Err(ServiceError::conflict(
                    "userName",
                    "userName is already taken in this organization",
                ));
            }
            None => {
                let columns = columns_for(conn, organization_id, &profile, None)?;
                let id = MemberId::new();
                let status = match arrival {
                    Arrival::Invite => MemberStatus::Pending,
                    Arrival::Inactive => MemberStatus::Inactive,
                    Arrival::Active => MemberStatus::Active,
                };
                let row = NewMember {
                    id: id.to_string(),
                    organization_id: organization_id.to_string(),
                    user_id: None,
                    user_name: profile.user_name.as_str().to_owned(),
                    user_name_ci: profile.user_name.key(),
                    external_id: profile.external_id.clone(),
                    display_name: profile.display_name.clone(),
                    first_name: profile.first_name.clone(),
                    last_name: profile.last_name.clone(),
                    email: columns.email.as_ref().map(|(e, _)| e.clone()),
                    email_ci: columns.email.as_ref().map(|(_, k)| k.clone()),
                    phone_number: columns.phone.clone(),
                    role: role.as_str().to_owned(),
                    status: status.as_str().to_owned(),
                    scim_attributes: Value::Object(profile.attributes.clone()).to_string(),
                    added_date: now,
                    updated_at: now,
                    ignored_roles: ignored_roles_column(&roles),
                    kind: kind.as_str().to_owned(),
                };
                inserted = Some(storage::insert_member(conn, organization_id, &row).map_err(uniqueness)?);
                storage::add_member_emails(conn, organization_id, id, &profile.addresses)?;
                (id, None)
            }
        };
        // The state the arrival asks for: a returning member that had registered is ACTIVE again.
        let registered = rehired
            .as_ref()
            .is_some_and(|r| r.user_id.is_some() || r.verified_at.is_some());
        let (status, event) = match (arrival, registered) {
            (Arrival::Inactive, _) => (MemberStatus::Inactive, events::MEMBER_CREATE),
            (Arrival::Active, _) => (MemberStatus::Active, events::MEMBER_CREATE),
            (Arrival::Invite, true) => (MemberStatus::Active, events::MEMBER_REACTIVATE),
            (Arrival::Invite, false) => (MemberStatus::Pending, events::MEMBER_INVITE),
        };
        if rehired.is_some() {
            let changes = MemberChanges {
                status: Some(status.as_str().to_owned()),
                deactivated_date: Some((status == MemberStatus::Inactive).then_some(now)),
                ..MemberChanges::default()
            };
            storage::update_member(conn, organization_id, id, &changes, now)?;
        }
        let row = match inserted {
            Some(row) => row,
            None => storage::find_member(conn, organization_id, id)?,
        };
        let member = Member::try_from(row.clone())?;
        let mut audit = NewAuditEvent::new(organization_id, event)
            .about(id)
            .with("user_name", profile.user_name.as_str());
        if rehired.is_some() {
            audit = audit.with("rehire", true);
        }
        if !roles.ignored.is_empty() {
            audit = audit.with("roles_ignored", roles.ignored.clone());
        }
        if kind == MemberKind::Agent {
            audit = audit.with("kind", kind.as_str());
            if let Some(owners) = &owners {
                let ignored = set_owners(conn, organization_id, id, owners)?;
                if !ignored.is_empty() {
                    audit = audit.with("owners_ignored", ignored);
                }
            }
        }
        let mut issued = None;
        if status == MemberStatus::Pending && member.email.is_some() {
            let invitation = issue_invitation(conn, &member, &PROVISIONER, call.audit, call.policy, now)?;
            audit = audit.with("invitation_id", invitation.id.to_string());
            issued = Some(invitation.summary);
        }
        // Neither the owners nor the invitation touch the member's row: it is the row after the change.
        storage::insert_audit_event_about(conn, call.audit, &audit, &row, now)?;
        if rehired.is_some() || kind == MemberKind::Agent {
            return record(conn, row, now);
        }
        // A new member is in no group yet, and its only invitation is the one just issued.
        let mut member = member;
        member.invitation = issued;
        Ok(ProvisionedRecord {
            attributes: attributes_of(&row)?,
            member,
            groups: Vec::new(),
            owners: Vec::new(),
        })
    })
}

/// Sets an agent's owners from member references; returns the references that name no person of
/// the organization (left out, not failed).
fn set_owners(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    agent: MemberId,
    owners: &[String],
) -> ServiceResult<Vec<String>> {
    let ids: Vec<MemberId> = owners.iter().filter_map(|o| o.parse().ok()).collect();
    let unknown = storage::set_agent_owners(conn, organization_id, agent, &ids)?;
    Ok(owners
        .iter()
        .filter(|o| o.parse::<MemberId>().map_or(true, |id| unknown.contains(&id)))
        .cloned()
        .collect())
}

/// An agent suspended: SUSPENDED, and its tokens stop working at once.
fn suspend_agent_in(
    conn: &mut DbConnection,
    member: &Member,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    let changes = MemberChanges {
        status: Some(MemberStatus::Suspended.as_str().to_owned()),
        ..MemberChanges::default()
    };
    let updated = Member::try_from(storage::update_member(
        conn,
        member.organization_id,
        member.id,
        &changes,
        now,
    )?)?;
    let revoked = storage::revoke_member_tokens(conn, member.organization_id, member.id, now)?;
    let event = status_event(member, events::MEMBER_SUSPEND, updated.status).with("tokens_revoked", revoked);
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(updated)
}

/// An agent resumed: ACTIVE again (tokens revoked before stay revoked).
fn resume_agent_in(
    conn: &mut DbConnection,
    member: &Member,
    context: &AuditContext,
    now: NaiveDateTime,
) -> ServiceResult<Member> {
    set_active_in(conn, member, events::MEMBER_ACTIVATE, context, now)
}

/// A provisioned member as `decide` sees it, inside the change's transaction: the member (locked
/// until the change commits) and its attributes.
pub struct ProvisionedState {
    pub member: Member,
    pub attributes: Map<String, Value>,
    /// An agent's owners: (member id, name, status).
    pub owners: Vec<(String, String, String)>,
}

/// Changes a provisioned member: `decide` (the door's translation of its request, `If-Match`
/// included) runs on the locked member and returns the whole new profile, the role and the
/// lifecycle command; each part is then carried out by the shared commands above.
pub fn change_provisioned<E>(
    db: &Database,
    call: &ChangeContext<'_>,
    id: MemberId,
    kind: MemberKind,
    decide: impl FnOnce(&ProvisionedState) -> Result<ProvisionedChange, E>,
) -> Result<ProvisionedRecord, E>
where
    E: From<ServiceError> + From<StorageError>,
{
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let row = visible_of(conn, organization_id, id, kind, storage::lock_member)?;
        let member = Member::try_from(row.clone())?;
        let state = ProvisionedState {
            attributes: attributes_of(&row)?,
            owners: owners_of(conn, &member)?,
            member,
        };
        let change = decide(&state)?;
        Ok(apply_change(conn, call, row, state, change, now)?)
    })
}

fn apply_change(
    conn: &mut DbConnection,
    call: &ChangeContext<'_>,
    row: MemberRow,
    state: ProvisionedState,
    change: ProvisionedChange,
    now: NaiveDateTime,
) -> ServiceResult<ProvisionedRecord> {
    let organization_id = call.organization_id;
    let before = state.member;
    let id = before.id;
    let ProvisionedChange {
        profile,
        roles,
        command,
        owners,
    } = change;

    // A userName held by a member the provider no longer sees (deleted through SCIM, or removed
    // natively) is released for this one: the leaver's name is reused, and the provider's own
    // lookups cannot find the old holder to resolve the clash.
    if profile.user_name.key() != row.user_name_ci
        && let Some(holder) = storage::find_member_by_user_name(conn, organization_id, &profile.user_name)?
        && holder.id != row.id
        && (holder.scim_deleted_at.is_some() || holder.removed_at.is_some())
    {
        let released = MemberChanges {
            user_name_ci: Some(format!("{}#{}", holder.user_name_ci, holder.id)),
            ..MemberChanges::default()
        };
        let holder_id: MemberId = stored("members.id", &holder.id)?;
        storage::update_member(conn, organization_id, holder_id, &released, now)?;
    }
    // The profile, when anything in it changed.
    let columns = columns_for(conn, organization_id, &profile, Some(&row.id))?;
    let mut changes = profile_changes(&profile, &columns);
    let ignored_roles = ignored_roles_column(&roles);
    let profile_changed = changes.user_name.as_deref() != Some(row.user_name.as_str())
        || changes.external_id.as_ref() != Some(&row.external_id)
        || changes.display_name.as_ref() != Some(&row.display_name)
        || changes.first_name.as_ref() != Some(&row.first_name)
        || changes.last_name.as_ref() != Some(&row.last_name)
        || changes.email.as_ref() != Some(&row.email)
        || changes.phone_number.as_ref() != Some(&row.phone_number)
        || profile.attributes != state.attributes;
    let mut current = before.clone();
    if profile_changed || ignored_roles != row.ignored_roles {
        changes.ignored_roles = Some(ignored_roles);
        current =
            Member::try_from(storage::update_member(conn, organization_id, id, &changes, now).map_err(uniqueness)?)?;
        storage::set_member_emails(conn, organization_id, id, &profile.addresses)?;
        if profile_changed {
            let mut event = NewAuditEvent::new(organization_id, events::MEMBER_MODIFY)
                .about(id)
                .with("profile", true);
            if !roles.ignored.is_empty() {
                event = event.with("roles_ignored", roles.ignored.clone());
            }
            storage::insert_audit_event(conn, call.audit, &event, now)?;
        }
    }
    // The role, by the same command as a native change (groups that own it win).
    if let Some(role) = roles.role {
        current = change_role_in(conn, &current, role, Authority::IdentityProvider, call.audit, now)?;
    }
    // The lifecycle, by the rule table's command.
    current = match command {
        None => current,
        Some(ActiveCommand::Deactivate) => deactivate_in(conn, &current, Authority::IdentityProvider, call.audit, now)?,
        Some(ActiveCommand::RevokeInvitation) => revoke_invitation_in(conn, &current, call.audit, now)?,
        Some(ActiveCommand::Reactivate) => reactivate_in(conn, &current, call.audit, now)?,
        Some(ActiveCommand::Reinvite) => reinvite_in(conn, &current, &PROVISIONER, call.audit, call.policy, now)?,
        Some(ActiveCommand::Suspend) => suspend_agent_in(conn, &current, call.audit, now)?,
        Some(ActiveCommand::Resume) => resume_agent_in(conn, &current, call.audit, now)?,
    };
    // An agent's owners, when the request names them (their change is its own event).
    if let Some(owners) = owners {
        let mut before: Vec<String> = state.owners.iter().map(|(id, _, _)| id.clone()).collect();
        let ignored = set_owners(conn, organization_id, id, &owners)?;
        let mut after: Vec<String> = owners.iter().filter(|o| !ignored.contains(o)).cloned().collect();
        after.sort();
        before.sort();
        if after != before || !ignored.is_empty() {
            let mut event = NewAuditEvent::new(organization_id, events::MEMBER_MODIFY)
                .about(id)
                .with("owners", after)
                .with("old_owners", before);
            if !ignored.is_empty() {
                event = event.with("owners_ignored", ignored);
            }
            storage::insert_audit_event(conn, call.audit, &event, now)?;
        }
    }
    let groups = storage::groups_of_member(conn, organization_id, id)?;
    let owners = owners_of(conn, &current)?;
    Ok(ProvisionedRecord {
        member: attach_invitation(conn, current, now)?,
        attributes: profile.attributes,
        groups,
        owners,
    })
}

/// The provider deletes a member: `decide` (the rule table, `If-Match` included) says what that
/// is; the member is then hidden from the provider (404 from then on), leaves its groups, and
/// keeps its history natively.
pub fn deprovision<E>(
    db: &Database,
    call: &ChangeContext<'_>,
    id: MemberId,
    kind: MemberKind,
    decide: impl FnOnce(&Member) -> Result<Departure, E>,
) -> Result<(), E>
where
    E: From<ServiceError> + From<StorageError>,
{
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let member = Member::try_from(visible_of(conn, organization_id, id, kind, storage::lock_member)?)?;
        let departure = decide(&member)?;
        // Out of its groups first, so that the event can say which it left.
        let left = storage::remove_member_from_all_groups(conn, organization_id, id)?;
        let hidden = MemberChanges {
            scim_deleted_at: Some(Some(now)),
            ..MemberChanges::default()
        };
        let note = [
            ("scim_delete", Value::Bool(true)),
            ("groups_left", Value::from(left.clone())),
        ];
        match departure {
            Departure::CancelInvitation => {
                cancel_invitation_in(conn, &member, hidden, &note, call.audit, now)?;
            }
            Departure::Deactivate => {
                deactivate_noting(
                    conn,
                    &member,
                    Authority::IdentityProvider,
                    hidden,
                    &note,
                    call.audit,
                    now,
                )?;
            }
            Departure::Remove => {
                let gone = MemberChanges {
                    status: Some(MemberStatus::Inactive.as_str().to_owned()),
                    removed_at: Some(Some(now)),
                    deactivated_date: Some(Some(now)),
                    ..hidden
                };
                storage::update_member(conn, organization_id, id, &gone, now)?;
                let revoked = storage::revoke_member_tokens(conn, organization_id, id, now)?;
                let mut event = NewAuditEvent::new(organization_id, events::MEMBER_REMOVE)
                    .about(id)
                    .with("old_status", member.status.as_str())
                    .with("tokens_revoked", revoked);
                for (key, value) in note.clone() {
                    event = event.with(key, value);
                }
                storage::insert_audit_event(conn, call.audit, &event, now)?;
            }
            Departure::HideOnly => {
                storage::update_member(conn, organization_id, id, &hidden, now)?;
                let mut event = NewAuditEvent::new(organization_id, events::MEMBER_MODIFY)
                    .about(id)
                    .with("old_status", member.status.as_str());
                for (key, value) in note {
                    event = event.with(key, value);
                }
                storage::insert_audit_event(conn, call.audit, &event, now)?;
            }
        }
        if !left.is_empty() {
            let default_role = super::default_role(conn, organization_id)?;
            let cause = serde_json::json!({"scim_delete": true, "groups": left});
            storage::recompute_roles(
                conn,
                organization_id,
                storage::Affected::Members(&[id]),
                default_role,
                &cause,
                call.audit,
                now,
            )?;
        }
        Ok(())
    })
}
