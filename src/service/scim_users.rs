//! SCIM Users as use cases: each request is one transaction that applies the design's rule table
//! (see `mapping::lifecycle`) and writes the same audit events as the native API, with `scim` as
//! the channel.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::team::{InvitationPolicy, attach_invitation, issue_invitation, unique_conflict};
use super::{ServiceError, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::query::{ListQuery, MemberField};
use crate::domain::{Actor, Member, MemberId, MemberStatus, OrganizationId, Role};
use crate::mapping::lifecycle::{ActivePlan, CreatePlan, DeletePlan, plan_active, plan_create, plan_delete};
use crate::mapping::user::{UserInput, patchable, user_input};
use crate::mapping::{if_match_allows, user};
use crate::scim::patch::{PatchOperation, apply};
use crate::scim::schema::USER;
use crate::scim::{ScimError, ScimType};
use crate::storage::{self, Database, DbConnection, MemberChanges, MemberRow, NewMember, StorageError};

pub type ScimResult<T> = Result<T, ScimError>;

/// A User as read: the member, its stored SCIM attributes, and its groups.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub member: Member,
    pub attributes: Map<String, Value>,
    pub groups: Vec<(String, String)>,
}

/// Who is provisioning, and how invitations are made.
pub struct ScimCall<'a> {
    pub organization_id: OrganizationId,
    pub audit: &'a AuditContext,
    pub policy: InvitationPolicy,
    /// Groups that give a role by displayName (configuration).
    pub group_roles: &'a [(String, Role)],
    /// `roles` values that stand for a roster role (configuration, lower-cased names).
    pub role_aliases: &'a [(String, Role)],
}

/// The `ignored_roles` column: the values as a JSON array, or nothing.
fn ignored_roles_column(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| Value::from(ignored.to_vec()).to_string())
}

fn attributes_of(row: &MemberRow) -> Result<Map<String, Value>, StorageError> {
    match serde_json::from_str(&row.scim_attributes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!("member {} scim_attributes", row.id))),
    }
}

/// The SCIM-visible member, or 404 (deleted through SCIM, or a cancelled invitation).
fn load_row(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> ScimResult<MemberRow> {
    visible_row(conn, organization_id, id, storage::find_member)
}

/// [`load_row`] for a change: locked until the transaction ends, so the version checked against
/// `If-Match` and the attributes a PATCH starts from are still current when the change is written.
fn lock_row(conn: &mut DbConnection, organization_id: OrganizationId, id: &str) -> ScimResult<MemberRow> {
    visible_row(conn, organization_id, id, storage::lock_member)
}

fn visible_row(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: &str,
    read: fn(&mut DbConnection, OrganizationId, MemberId) -> Result<MemberRow, StorageError>,
) -> ScimResult<MemberRow> {
    let not_found = || ScimError::not_found(format!("User {id} not found"));
    let member_id: MemberId = id.parse().map_err(|_| not_found())?;
    match read(conn, organization_id, member_id) {
        Ok(row) if row.scim_deleted_at.is_none() && row.removed_at.is_none() => Ok(row),
        Ok(_) | Err(StorageError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn record(conn: &mut DbConnection, row: MemberRow, now: NaiveDateTime) -> ScimResult<UserRecord> {
    let attributes = attributes_of(&row)?;
    let member = attach_invitation(conn, Member::try_from(row)?, now)?;
    let groups = storage::groups_of_member(conn, member.organization_id, member.id)?;
    Ok(UserRecord {
        member,
        attributes,
        groups,
    })
}

fn check_version(if_match: Option<&str>, version: i64) -> ScimResult<()> {
    match if_match {
        Some(header) if !if_match_allows(header, version) => Err(ServiceError::PreconditionFailed.into()),
        _ => Ok(()),
    }
}

pub fn get_user(db: &Database, organization_id: OrganizationId, id: &str) -> ScimResult<UserRecord> {
    let mut conn = db.get()?;
    let row = load_row(&mut conn, organization_id, id)?;
    record(&mut conn, row, crate::domain::now())
}

/// A page of Users and the total; filter, sort and paging run in SQL.
pub fn list_users(
    db: &Database,
    organization_id: OrganizationId,
    query: &ListQuery<MemberField>,
) -> ScimResult<(Vec<UserRecord>, i64)> {
    let mut conn = db.get()?;
    let (rows, total) = storage::search_members(&mut conn, organization_id, query)?;
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
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attributes = attributes_of(&row)?;
        let mut member = Member::try_from(row)?;
        member.invitation = invitations.get(&member.id.to_string()).map(|i| {
            crate::domain::invitation::InvitationSummary::at(&i.status, &i.delivery_status, i.expires_at, now)
        });
        let member_groups = groups.remove(&member.id.to_string()).unwrap_or_default();
        out.push(UserRecord {
            member,
            attributes,
            groups: member_groups,
        });
    }
    Ok((out, total))
}

/// Columns from a User body, falling back to nothing for an e-mail or phone another member
/// already holds (the value stays in the attributes: provisioning never fails on it).
struct Columns {
    email: Option<(String, String)>,
    phone: Option<String>,
}

fn columns_for(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    input: &UserInput,
    this: Option<&str>,
) -> ScimResult<Columns> {
    let email = match &input.email {
        Some(e) => match storage::find_member_by_email(conn, organization_id, &e.key())? {
            Some(other) if Some(other.id.as_str()) != this => None,
            _ => Some((e.as_str().to_owned(), e.key())),
        },
        None => None,
    };
    let phone = match &input.phone {
        Some(p) => match storage::find_member_by_phone(conn, organization_id, p.as_str())? {
            Some(other) if Some(other.id.as_str()) != this => None,
            _ => Some(p.as_str().to_owned()),
        },
        None => None,
    };
    Ok(Columns { email, phone })
}

fn profile_changes(input: &UserInput, columns: &Columns) -> ScimResult<MemberChanges> {
    Ok(MemberChanges {
        user_name: Some(input.user_name.as_str().to_owned()),
        user_name_ci: Some(input.user_name.key()),
        external_id: Some(input.external_id.clone()),
        display_name: Some(input.display_name.clone()),
        first_name: Some(input.first_name.clone()),
        last_name: Some(input.last_name.clone()),
        email: Some(columns.email.as_ref().map(|(e, _)| e.clone())),
        email_ci: Some(columns.email.as_ref().map(|(_, k)| k.clone())),
        phone_number: Some(columns.phone.clone()),
        scim_attributes: Some(Value::Object(input.attributes.clone()).to_string()),
        ..MemberChanges::default()
    })
}

fn uniqueness(err: StorageError) -> ScimError {
    if err.is_unique_on("user_name_ci") {
        ScimError::new(
            409,
            Some(ScimType::Uniqueness),
            "userName is already taken in this organization",
        )
    } else {
        unique_conflict(err).into()
    }
}

const SCIM_ACTOR: Actor = Actor::Integration { scopes: Vec::new() };

/// The addresses a member is found by: every `emails` value and the member's own e-mail.
fn all_emails(input: &UserInput) -> Vec<String> {
    emails_of(&input.attributes, input.email.as_ref().map(|e| e.as_str()))
}

fn emails_of(attributes: &Map<String, Value>, email: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = attributes
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if let Some(e) = email {
        out.push(e.to_owned());
    }
    out
}

/// `POST /Users`: invite (active true or absent) or create INACTIVE (active false). A userName
/// deleted through SCIM earlier is a re-hire: the same member comes back, with its history.
pub fn create_user(db: &Database, call: &ScimCall<'_>, input: UserInput) -> ScimResult<UserRecord> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let now = crate::domain::now();
        let default_role = super::default_role(conn, organization_id)?;
        let existing = storage::find_member_by_user_name(conn, organization_id, &input.user_name)?;
        let plan = plan_create(input.active);
        let roles = input.decide_role(call.role_aliases);
        let (id, rehired) = match existing {
            Some(row) if row.scim_deleted_at.is_some() || row.removed_at.is_some() => {
                let columns = columns_for(conn, organization_id, &input, Some(&row.id))?;
                let mut changes = profile_changes(&input, &columns)?;
                changes.scim_deleted_at = Some(None);
                changes.removed_at = Some(None);
                changes.role = Some(roles.role.unwrap_or(default_role).as_str().to_owned());
                changes.ignored_roles = Some(ignored_roles_column(&roles.ignored));
                let id: MemberId = stored("members.id", &row.id)?;
                storage::update_member(conn, organization_id, id, &changes, now).map_err(uniqueness)?;
                (id, Some(row))
            }
            Some(_) => {
                return Err(ScimError::new(
                    409,
                    Some(ScimType::Uniqueness),
                    "userName is already taken in this organization",
                ));
            }
            None => {
                let columns = columns_for(conn, organization_id, &input, None)?;
                let id = MemberId::new();
                let status = match plan {
                    CreatePlan::Invite => MemberStatus::Pending,
                    CreatePlan::CreateInactive => MemberStatus::Inactive,
                };
                let row = NewMember {
                    id: id.to_string(),
                    organization_id: organization_id.to_string(),
                    user_id: None,
                    user_name: input.user_name.as_str().to_owned(),
                    user_name_ci: input.user_name.key(),
                    external_id: input.external_id.clone(),
                    display_name: input.display_name.clone(),
                    first_name: input.first_name.clone(),
                    last_name: input.last_name.clone(),
                    email: columns.email.as_ref().map(|(e, _)| e.clone()),
                    email_ci: columns.email.as_ref().map(|(_, k)| k.clone()),
                    phone_number: columns.phone.clone(),
                    role: roles.role.unwrap_or(default_role).as_str().to_owned(),
                    status: status.as_str().to_owned(),
                    scim_attributes: Value::Object(input.attributes.clone()).to_string(),
                    added_date: now,
                    updated_at: now,
                    ignored_roles: ignored_roles_column(&roles.ignored),
                };
                storage::insert_member(conn, organization_id, &row).map_err(uniqueness)?;
                (id, None)
            }
        };

        if rehired.is_some() {
            storage::set_member_emails(conn, organization_id, id, &all_emails(&input))?;
        } else {
            storage::add_member_emails(conn, organization_id, id, &all_emails(&input))?;
        }
        // The state the rule table asks for.
        let registered = rehired
            .as_ref()
            .is_some_and(|r| r.user_id.is_some() || r.verified_at.is_some());
        let (status, event) = match (plan, registered) {
            (CreatePlan::CreateInactive, _) => (MemberStatus::Inactive, events::MEMBER_CREATE),
            (CreatePlan::Invite, true) => (MemberStatus::Active, events::MEMBER_REACTIVATE),
            (CreatePlan::Invite, false) => (MemberStatus::Pending, events::MEMBER_INVITE),
        };
        if rehired.is_some() {
            let changes = MemberChanges {
                status: Some(status.as_str().to_owned()),
                deactivated_date: Some(if status == MemberStatus::Inactive {
                    Some(now)
                } else {
                    None
                }),
                ..MemberChanges::default()
            };
            storage::update_member(conn, organization_id, id, &changes, now)?;
        }
        let row = storage::find_member(conn, organization_id, id)?;
        let member = Member::try_from(row.clone())?;
        let mut audit = NewAuditEvent::new(organization_id, event)
            .about(id)
            .with("user_name", input.user_name.as_str());
        if rehired.is_some() {
            audit = audit.with("rehire", true);
        }
        if !roles.ignored.is_empty() {
            audit = audit.with("roles_ignored", roles.ignored.clone());
        }
        if status == MemberStatus::Pending && member.email.is_some() {
            let invitation = issue_invitation(conn, &member, &SCIM_ACTOR, call.audit, call.policy, now)?;
            audit = audit.with("invitation_id", invitation.to_string());
        }
        storage::insert_audit_event(conn, call.audit, &audit, now)?;
        // The invitation does not touch the member row; a new member is in no group yet.
        if rehired.is_some() {
            record(conn, row, now)
        } else {
            Ok(UserRecord {
                attributes: attributes_of(&row)?,
                member: attach_invitation(conn, member, now)?,
                groups: Vec::new(),
            })
        }
    })
}

/// Applies a full User body to an existing member: profile, then `active` by the rule table.
fn apply_input(
    conn: &mut DbConnection,
    call: &ScimCall<'_>,
    row: MemberRow,
    input: UserInput,
) -> ScimResult<UserRecord> {
    let organization_id = call.organization_id;
    let now = crate::domain::now();
    let before = Member::try_from(row.clone())?;
    let id = before.id;
    let columns = columns_for(conn, organization_id, &input, Some(&row.id))?;
    let mut changes = profile_changes(&input, &columns)?;
    // A `roles` value sets the role, unless role-bound groups own it.
    let roles = input.decide_role(call.role_aliases);
    if let Some(role) = roles.role.filter(|r| *r != before.role && !row.role_from_groups) {
        changes.role = Some(role.as_str().to_owned());
    }
    let ignored_roles = ignored_roles_column(&roles.ignored);
    if ignored_roles != row.ignored_roles {
        changes.ignored_roles = Some(ignored_roles);
    }
    let registered = before.user_id.is_some() || before.verified_at.is_some();
    let plan = input
        .active
        .map_or(ActivePlan::Unchanged, |a| plan_active(before.status, registered, a));
    match plan {
        ActivePlan::Deactivate | ActivePlan::RevokeInvitation => {
            changes.status = Some(MemberStatus::Inactive.as_str().to_owned());
            changes.deactivated_date = Some(Some(now));
        }
        ActivePlan::Reactivate => {
            changes.status = Some(MemberStatus::Active.as_str().to_owned());
            changes.deactivated_date = Some(None);
        }
        ActivePlan::Reinvite => {
            changes.status = Some(MemberStatus::Pending.as_str().to_owned());
            changes.deactivated_date = Some(None);
        }
        ActivePlan::Unchanged | ActivePlan::KeepBlocked => {}
    }
    let after_row = storage::update_member(conn, organization_id, id, &changes, now).map_err(uniqueness)?;
    let after = Member::try_from(after_row.clone())?;
    storage::set_member_emails(conn, organization_id, id, &all_emails(&input))?;

    let profile_changed = before.user_name != after.user_name
        || before.external_id != after.external_id
        || before.display_name != after.display_name
        || before.first_name != after.first_name
        || before.last_name != after.last_name
        || before.email != after.email
        || before.phone_number != after.phone_number
        || attributes_of(&row)? != input.attributes;
    if profile_changed || before.role != after.role {
        let mut event = NewAuditEvent::new(organization_id, events::MEMBER_MODIFY).about(id);
        if before.role != after.role {
            event = event
                .with("old_role", before.role.as_str())
                .with("new_role", after.role.as_str())
                .with("reason", "scim roles");
        }
        if profile_changed {
            event = event.with("profile", true);
        }
        if !roles.ignored.is_empty() {
            event = event.with("roles_ignored", roles.ignored.clone());
        }
        storage::insert_audit_event(conn, call.audit, &event, now)?;
    }
    let lifecycle_event = match plan {
        ActivePlan::Deactivate => Some(events::MEMBER_DEACTIVATE),
        ActivePlan::RevokeInvitation => {
            storage::close_open_invitations(conn, organization_id, id, "REVOKED", now)?;
            Some(events::MEMBER_INVITE_CANCEL)
        }
        ActivePlan::Reactivate => Some(events::MEMBER_REACTIVATE),
        ActivePlan::Reinvite => {
            if after.email.is_some() {
                issue_invitation(conn, &after, &SCIM_ACTOR, call.audit, call.policy, now)?;
            }
            Some(events::MEMBER_INVITE)
        }
        ActivePlan::Unchanged | ActivePlan::KeepBlocked => None,
    };
    if let Some(name) = lifecycle_event {
        let event = NewAuditEvent::new(organization_id, name)
            .about(id)
            .with("old_status", before.status.as_str())
            .with("new_status", after.status.as_str());
        storage::insert_audit_event(conn, call.audit, &event, now)?;
    }
    // Invitations and events do not touch the member row: the updated one is current.
    record(conn, after_row, now)
}

/// `PUT /Users/{id}`.
pub fn replace_user(
    db: &Database,
    call: &ScimCall<'_>,
    id: &str,
    input: UserInput,
    if_match: Option<&str>,
) -> ScimResult<UserRecord> {
    db.write(|conn| {
        let row = lock_row(conn, call.organization_id, id)?;
        check_version(if_match, row.version)?;
        apply_input(conn, call, row, input)
    })
}

/// `PATCH /Users/{id}`: the operations are applied to the User's canonical form, and the result is
/// applied like a PUT (so every attribute path means the same as in a body).
pub fn patch_user(
    db: &Database,
    call: &ScimCall<'_>,
    id: &str,
    operations: &[PatchOperation],
    if_match: Option<&str>,
) -> ScimResult<UserRecord> {
    db.write(|conn| {
        let row = lock_row(conn, call.organization_id, id)?;
        check_version(if_match, row.version)?;
        let member = Member::try_from(row.clone())?;
        let current = patchable(&member, &attributes_of(&row)?);
        let patched = apply(&current, operations, &USER)?;
        let input = user_input(&patched)?;
        apply_input(conn, call, row, input)
    })
}

/// `DELETE /Users/{id}`: cancels a pending invitation or deactivates; SCIM answers 404 from then
/// on, while the native API keeps the member and its history.
pub fn delete_user(db: &Database, call: &ScimCall<'_>, id: &str, if_match: Option<&str>) -> ScimResult<()> {
    let organization_id = call.organization_id;
    db.write(|conn| {
        let row = lock_row(conn, organization_id, id)?;
        check_version(if_match, row.version)?;
        let now = crate::domain::now();
        let member = Member::try_from(row)?;
        let mut changes = MemberChanges {
            scim_deleted_at: Some(Some(now)),
            ..MemberChanges::default()
        };
        let event = match plan_delete(member.status) {
            DeletePlan::CancelInvitation => {
                storage::close_open_invitations(conn, organization_id, member.id, "CANCELLED", now)?;
                changes.status = Some(MemberStatus::Inactive.as_str().to_owned());
                changes.removed_at = Some(Some(now));
                Some(events::MEMBER_INVITE_CANCEL)
            }
            DeletePlan::Deactivate => {
                changes.status = Some(MemberStatus::Inactive.as_str().to_owned());
                changes.deactivated_date = Some(Some(now));
                Some(events::MEMBER_DEACTIVATE)
            }
            DeletePlan::HideOnly => None,
        };
        storage::update_member(conn, organization_id, member.id, &changes, now)?;
        let left = storage::remove_member_from_all_groups(conn, organization_id, member.id)?;
        if !left.is_empty() {
            let default_role = super::default_role(conn, organization_id)?;
            let cause = serde_json::json!({"scim_delete": true, "groups": left});
            storage::recompute_roles(
                conn,
                organization_id,
                storage::Affected::Members(&[member.id]),
                default_role,
                &cause,
                call.audit,
                now,
            )?;
        }
        let audit = NewAuditEvent::new(organization_id, event.unwrap_or(events::MEMBER_MODIFY))
            .about(member.id)
            .with("scim_delete", true)
            .with("old_status", member.status.as_str())
            .with("groups_left", left);
        storage::insert_audit_event(conn, call.audit, &audit, now)?;
        Ok(())
    })
}

/// Renders a record for the wire.
pub fn render(record: &UserRecord, base_url: &str) -> Value {
    user::render_user(&user::UserView {
        member: &record.member,
        attributes: &record.attributes,
        groups: &record.groups,
        base_url,
    })
}
