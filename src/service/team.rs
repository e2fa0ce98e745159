//! The native team use cases of seed 000: list, read, invite, resend, cancel, change role and/or
//! status, deactivate, and a member's audit log. Each is one transaction with its audit event.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::{ServiceError, ServiceResult, members, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::email::EmailTemplate;
use crate::domain::invitation::InvitationSummary;
use crate::domain::provisioning::Authority;
use crate::domain::team::{
    Lifecycle, StatusChange, check_deactivation, check_pending, decide_lifecycle, decide_status_change,
};
use crate::domain::{
    Actor, Email, InvalidValue, InvitationId, Member, MemberId, MemberStatus, OrganizationId, Permission, PhoneNumber,
    Role, UserName,
};
use crate::storage::{
    self, AuditEventRow, AuditQuery, Database, DbConnection, InvitationRow, MemberChanges, MemberFilter, MemberRow,
    NewMember, OutboxRow, StorageError, StorageResult,
};

impl TryFrom<MemberRow> for Member {
    type Error = StorageError;
    fn try_from(row: MemberRow) -> Result<Self, Self::Error> {
        let corrupt = |e: InvalidValue| StorageError::Corrupt(e.to_string());
        Ok(Member {
            id: stored("members.id", &row.id)?,
            organization_id: stored("members.organization_id", &row.organization_id)?,
            user_id: row
                .user_id
                .as_deref()
                .map(|u| stored("members.user_id", u))
                .transpose()?,
            user_name: UserName::parse(&row.user_name).map_err(corrupt)?,
            external_id: row.external_id,
            display_name: row.display_name,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email.as_deref().map(Email::parse).transpose().map_err(corrupt)?,
            phone_number: row
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(corrupt)?,
            role: row.role.parse().map_err(corrupt)?,
            status: row.status.parse().map_err(corrupt)?,
            status_reason: row.status_reason,
            added_date: row.added_date,
            updated_at: row.updated_at,
            last_login: row.last_login,
            deactivated_date: row.deactivated_date,
            verified_at: row.verified_at,
            version: row.version,
            removed: row.removed_at.is_some(),
            scim_deleted: row.scim_deleted_at.is_some(),
            invitation: None,
            kind: row.kind.parse().map_err(corrupt)?,
        })
    }
}

fn summary(row: &InvitationRow, now: NaiveDateTime) -> InvitationSummary {
    InvitationSummary::at(&row.status, &row.delivery_status, row.expires_at, now)
}

/// Fills in the member's latest invitation state.
pub(crate) fn attach_invitation(
    conn: &mut DbConnection,
    mut member: Member,
    now: NaiveDateTime,
) -> StorageResult<Member> {
    member.invitation =
        storage::find_latest_invitation(conn, member.organization_id, member.id)?.map(|row| summary(&row, now));
    Ok(member)
}

/// A member's row as `storage::find_member` finds it, and the state of its latest invitation, read in
/// one statement (the point reads of both doors).
pub(crate) fn find_with_invitation(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    now: NaiveDateTime,
) -> (Result<storage::MemberRow, StorageError>, Option<InvitationSummary>) {
    match storage::find_member_with_invitation(conn, organization_id, id) {
        Ok((row, invitation)) => (Ok(row), invitation.map(|row| summary(&row, now))),
        Err(e) => (Err(e), None),
    }
}

/// Fills in a page of members' invitation states in one query.
fn attach_invitations(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    mut members: Vec<Member>,
    now: NaiveDateTime,
) -> StorageResult<Vec<Member>> {
    let ids: Vec<MemberId> = members.iter().map(|m| m.id).collect();
    let latest = storage::latest_invitations(conn, organization_id, &ids)?;
    for member in &mut members {
        member.invitation = latest.get(&member.id.to_string()).map(|row| summary(row, now));
    }
    Ok(members)
}

/// One page of a listing, with the total across all pages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
}

/// Page numbers start at 1.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: i64,
    pub page_size: i64,
}

impl PageRequest {
    pub const DEFAULT_SIZE: i64 = 100;
    pub const MAX_SIZE: i64 = 1000;

    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Result<Self, InvalidValue> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(Self::DEFAULT_SIZE);
        if page < 1 {
            return Err(InvalidValue::new("page", "must be 1 or more"));
        }
        if !(1..=Self::MAX_SIZE).contains(&page_size) {
            return Err(InvalidValue::new(
                "page_size",
                format!("must be from 1 to {}", Self::MAX_SIZE),
            ));
        }
        Ok(Self { page, page_size })
    }

    fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.page_size)
    }
}

#[derive(Debug, Clone, Default)]
pub struct MemberQuery {
    pub statuses: Vec<MemberStatus>,
    pub roles: Vec<Role>,
    pub search: Option<String>,
    /// A field and "descending".
    pub sort: Option<(storage::MemberSort, bool)>,
    /// People (the default) or agents.
    pub kind: Option<crate::domain::MemberKind>,
}

/// How invitations are made: their lifetime.
#[derive(Debug, Clone, Copy)]
pub struct InvitationPolicy {
    pub ttl: chrono::Duration,
}

pub struct Invite {
    pub first_name: String,
    pub last_name: String,
    pub email: Email,
    pub phone_number: Option<PhoneNumber>,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct MemberUpdate {
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
}

fn refused(e: crate::domain::team::RefusedTransition) -> ServiceError {
    ServiceError::Conflict {
        field: Some("status"),
        message: e.0,
    }
}

/// A listed member: present and not a cancelled invitation.
pub(crate) fn load_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
) -> ServiceResult<Member> {
    listed(storage::find_member(conn, organization_id, id))
}

/// [`load_member`] for a change: the member stays locked until the transaction ends, so two
/// overlapping changes of one member apply one after the other (see `storage::lock_member`).
pub(crate) fn lock_member(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
) -> ServiceResult<Member> {
    listed(storage::lock_member(conn, organization_id, id))
}

fn listed(found: Result<storage::MemberRow, StorageError>) -> ServiceResult<Member> {
    match found {
        Ok(row) => {
            let member = Member::try_from(row)?;
            if member.removed {
                return Err(ServiceError::NotFound("member"));
            }
            Ok(member)
        }
        Err(StorageError::NotFound) => Err(ServiceError::NotFound("member")),
        Err(e) => Err(e.into()),
    }
}

/// Turns a unique-index refusal into the 409 that names the field.
pub(crate) fn unique_conflict(err: StorageError) -> ServiceError {
    if err.is_unique_on("email_ci") || err.is_unique_on("user_name_ci") {
        ServiceError::conflict("email", "a member with this e-mail already exists in the organization")
    } else if err.is_unique_on("phone_number") {
        ServiceError::conflict(
            "phone_number",
            "a member with this phone number already exists in the organization",
        )
    } else {
        err.into()
    }
}

pub fn list_members(
    db: &Database,
    organization_id: OrganizationId,
    query: &MemberQuery,
    page: PageRequest,
    context: &AuditContext,
) -> ServiceResult<Page<Member>> {
    super::audited_read(db, context, |conn, now| {
        read_members_page(conn, organization_id, query, page, now)
    })
}

/// [`list_members`] inside a transaction the caller holds.
pub(crate) fn list_members_in(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    query: &MemberQuery,
    page: PageRequest,
    context: &AuditContext,
) -> ServiceResult<Page<Member>> {
    let now = crate::domain::now();
    let (page, event) = read_members_page(conn, organization_id, query, page, now)?;
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(page)
}

/// A page of members and the audit event that records reading it.
fn read_members_page(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    query: &MemberQuery,
    page: PageRequest,
    now: NaiveDateTime,
) -> ServiceResult<(Page<Member>, NewAuditEvent)> {
    let filter = MemberFilter {
        statuses: query.statuses.iter().map(|s| s.as_str().to_owned()).collect(),
        roles: query.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        search: query
            .search
            .clone()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        include_removed: false,
        sort: query.sort,
        kind: query.kind,
    };
    let (rows, total) = storage::list_members(conn, organization_id, &filter, page.offset(), page.page_size)?;
    let items = rows.into_iter().map(Member::try_from).collect::<Result<Vec<_>, _>>()?;
    let items = attach_invitations(conn, organization_id, items, now)?;
    let event = NewAuditEvent::new(organization_id, events::TEAM_LIST)
        .with("page", page.page)
        .with("page_size", page.page_size)
        .with("returned", items.len());
    Ok((
        Page {
            items,
            total,
            page: page.page,
            page_size: page.page_size,
        },
        event,
    ))
}

pub fn get_member(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    context: &AuditContext,
) -> ServiceResult<Member> {
    super::audited_read(db, context, |conn, now| {
        let (found, invitation) = find_with_invitation(conn, organization_id, id, now);
        let mut member = listed(found)?;
        member.invitation = invitation;
        Ok((
            member,
            NewAuditEvent::new(organization_id, events::MEMBER_GET).about(id),
        ))
    })
}

/// Invites a person: a PENDING member, an invitation and its e-mail in the outbox. A member whose
/// earlier invitation was cancelled is invited again under the same id.
pub fn invite_member(
    db: &Database,
    organization_id: OrganizationId,
    invite: Invite,
    actor: &Actor,
    context: &AuditContext,
    policy: InvitationPolicy,
) -> ServiceResult<Member> {
    if invite.role == Role::Administrator && !actor.may(Permission::ManageAdministrators) {
        return Err(ServiceError::Forbidden(
            "only an ADMINISTRATOR can grant the ADMINISTRATOR role".into(),
        ));
    }
    let first_name = required_name("first_name", &invite.first_name)?;
    let last_name = required_name("last_name", &invite.last_name)?;
    db.write(|conn| {
        let now = crate::domain::now();
        let email_key = invite.email.key();
        let existing = storage::find_member_by_email(conn, organization_id, &email_key)?;
        if let Some(phone) = &invite.phone_number
            && let Some(holder) = storage::find_member_by_phone(conn, organization_id, phone.as_str())?
            && existing.as_ref().is_none_or(|e| e.id != holder.id)
        {
            return Err(ServiceError::conflict(
                "phone_number",
                "a member with this phone number already exists in the organization",
            ));
        }
        let member_id = match existing {
            Some(row) if row.removed_at.is_some() => {
                let id: MemberId = stored("members.id", &row.id)?;
                let changes = MemberChanges {
                    first_name: Some(Some(first_name.clone())),
                    last_name: Some(Some(last_name.clone())),
                    email: Some(Some(invite.email.as_str().to_owned())),
                    email_ci: Some(Some(email_key.clone())),
                    phone_number: Some(invite.phone_number.as_ref().map(|p| p.as_str().to_owned())),
                    role: Some(invite.role.as_str().to_owned()),
                    status: Some(MemberStatus::Pending.as_str().to_owned()),
                    status_reason: Some(None),
                    removed_at: Some(None),
                    deactivated_date: Some(None),
                    ..MemberChanges::default()
                };
                storage::update_member(conn, organization_id, id, &changes, now).map_err(unique_conflict)?;
                id
            }
            Some(row) => {
                return Err(ServiceError::conflict(
                    "email",
                    format!(
                        "a member with this e-mail already exists in the organization (member_id {}, status {})",
                        row.id, row.status
                    ),
                ));
            }
            None => {
                let id = MemberId::new();
                let user_name = UserName::from(&invite.email);
                let row = NewMember {
                    id: id.to_string(),
                    organization_id: organization_id.to_string(),
                    user_id: None,
                    user_name: user_name.as_str().to_owned(),
                    user_name_ci: user_name.key(),
                    external_id: None,
                    display_name: None,
                    first_name: Some(first_name.clone()),
                    last_name: Some(last_name.clone()),
                    email: Some(invite.email.as_str().to_owned()),
                    email_ci: Some(email_key),
                    phone_number: invite.phone_number.as_ref().map(|p| p.as_str().to_owned()),
                    role: invite.role.as_str().to_owned(),
                    status: MemberStatus::Pending.as_str().to_owned(),
                    scim_attributes: "{}".to_owned(),
                    added_date: now,
                    updated_at: now,
                    ignored_roles: None,
                    kind: "person".to_owned(),
                };
                storage::insert_member(conn, organization_id, &row).map_err(unique_conflict)?;
                id
            }
        };
        let member = lock_member(conn, organization_id, member_id)?;
        storage::set_member_emails(conn, organization_id, member_id, &[invite.email.as_str().to_owned()])?;
        let invitation_id = issue_invitation(conn, &member, actor, context, policy, now)?.id;
        let event = NewAuditEvent::new(organization_id, events::MEMBER_INVITE)
            .about(member_id)
            .with("invitation_id", invitation_id.to_string())
            .with("role", member.role.as_str())
            .with("email", invite.email.as_str());
        storage::insert_audit_event(conn, context, &event, now)?;
        Ok(attach_invitation(conn, member, now)?)
    })
}

fn required_name(field: &'static str, raw: &str) -> Result<String, InvalidValue> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(InvalidValue::new(field, "must be at most 200 printable characters"));
    }
    Ok(value.to_owned())
}

/// Writes an invitation and its e-mail (to the outbox) for a pending member.
pub(crate) fn issue_invitation(
    conn: &mut DbConnection,
    member: &Member,
    actor: &Actor,
    context: &AuditContext,
    policy: InvitationPolicy,
    now: NaiveDateTime,
) -> ServiceResult<IssuedInvitation> {
    // A registered person invited by their id keeps their address to themselves until they
    // accept: the invitation goes to the address they registered with.
    let email = match (&member.email, member.user_id) {
        (Some(email), _) => email.clone(),
        (None, Some(user_id)) => {
            let person = storage::find_user(conn, user_id)?.ok_or(ServiceError::NotFound("person"))?;
            Email::parse(&person.email).map_err(|e| StorageError::Corrupt(e.to_string()))?
        }
        (None, None) => {
            return Err(InvalidValue::new("email", "the member has no e-mail address to invite").into());
        }
    };
    let email = &email;
    let organization = storage::find_organization(conn, member.organization_id)?;
    let inviter = match actor {
        Actor::Member { member_id, .. } => {
            let m = Member::try_from(storage::find_member(conn, member.organization_id, *member_id)?)?;
            full_name(&m).unwrap_or_else(|| m.user_name.to_string())
        }
        _ => format!("An administrator of {}", organization.name),
    };
    let id = InvitationId::new();
    let expires_at = now + policy.ttl;
    // The acceptance token is minted when the e-mail is sent (and only its hash kept then); until
    // then the column holds the hash of a random value nobody knows.
    let unguessable = crate::auth::hash_token(&uuid::Uuid::new_v4().to_string());
    let invitation = InvitationRow {
        id: id.to_string(),
        organization_id: member.organization_id.to_string(),
        member_id: member.id.to_string(),
        token_hash: unguessable,
        email: email.as_str().to_owned(),
        status: "SENT".to_owned(),
        invited_by: Some(context.actor.clone()),
        created_at: now,
        expires_at,
        accepted_at: None,
        cancelled_at: None,
        delivery_status: "PENDING".to_owned(),
        delivered_at: None,
    };
    storage::insert_invitation(conn, member.organization_id, &invitation)?;
    let template = EmailTemplate::Invitation {
        organization_name: organization.name,
        inviter,
        invitee_name: full_name(member).unwrap_or_default(),
        role: member.role,
        expires_at,
    };
    let subject = template.subject();
    storage::insert_outbox_message(
        conn,
        member.organization_id,
        &OutboxRow {
            invitation_id: Some(id.to_string()),
            ..OutboxRow::queued(
                member.organization_id,
                email.as_str().to_owned(),
                subject,
                template.to_json(),
                now,
            )
        },
    )?;
    Ok(IssuedInvitation {
        id,
        summary: summary(&invitation, now),
    })
}

/// An invitation just issued, and its state as the member shows it.
pub(crate) struct IssuedInvitation {
    pub id: InvitationId,
    pub summary: InvitationSummary,
}

fn full_name(m: &Member) -> Option<String> {
    let name = [m.first_name.as_deref(), m.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.trim().is_empty()).then_some(name)
}

/// A new invitation (new token, new expiry) for a PENDING member; the previous one stops working.
pub fn resend_invitation(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    actor: &Actor,
    context: &AuditContext,
    policy: InvitationPolicy,
) -> ServiceResult<Member> {
    db.write(|conn| {
        let now = crate::domain::now();
        let member = lock_member(conn, organization_id, id)?;
        check_pending(member.status, "resent").map_err(refused)?;
        storage::close_open_invitations(conn, organization_id, id, "SUPERSEDED", now)?;
        let invitation_id = issue_invitation(conn, &member, actor, context, policy, now)?.id;
        let event = NewAuditEvent::new(organization_id, events::MEMBER_INVITE_RESEND)
            .about(id)
            .with("invitation_id", invitation_id.to_string());
        storage::insert_audit_event(conn, context, &event, now)?;
        Ok(attach_invitation(conn, member, now)?)
    })
}

/// Cancels a PENDING member's invitation: the member leaves the list (its history stays).
pub fn cancel_invitation(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    context: &AuditContext,
) -> ServiceResult<()> {
    db.write(|conn| {
        let now = crate::domain::now();
        let member = lock_member(conn, organization_id, id)?;
        check_pending(member.status, "cancelled").map_err(refused)?;
        members::cancel_invitation_in(conn, &member, MemberChanges::default(), &[], context, now)?;
        Ok(())
    })
}

/// Seed 000's `PUT /team/{member_id}/`: change the role, reactivate (or deactivate), or both.
pub fn update_member(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    update: MemberUpdate,
    actor: &Actor,
    context: &AuditContext,
) -> ServiceResult<Member> {
    db.write(|conn| update_member_in(conn, organization_id, id, update, actor, context))
}

/// [`update_member`] inside a transaction the caller holds (batches run several in one).
pub(crate) fn update_member_in(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    id: MemberId,
    update: MemberUpdate,
    actor: &Actor,
    context: &AuditContext,
) -> ServiceResult<Member> {
    if update.role.is_none() && update.status.is_none() {
        return Err(InvalidValue::new("role", "give role, status, or both").into());
    }
    {
        let now = crate::domain::now();
        let member = lock_member(conn, organization_id, id)?;
        let status_change = match update.status {
            Some(requested) => decide_status_change(member.status, requested).map_err(refused)?,
            None => StatusChange::Unchanged,
        };
        let new_role = update.role.filter(|r| *r != member.role);
        let touches_administrator = new_role == Some(Role::Administrator)
            || (member.role == Role::Administrator
                && (new_role.is_some() || status_change == StatusChange::Deactivate));
        if touches_administrator && !actor.may(Permission::ManageAdministrators) {
            return Err(ServiceError::Forbidden(
                "only an ADMINISTRATOR can grant the ADMINISTRATOR role or change an ADMINISTRATOR".into(),
            ));
        }
        // The shared commands: the same rules and events as a change from the identity provider.
        let mut current = member;
        if let Some(role) = new_role {
            current = members::change_role_in(conn, &current, role, Authority::Organization, context, now)?;
        }
        current = match status_change {
            StatusChange::Unchanged => current,
            StatusChange::Reactivate => members::reactivate_in(conn, &current, context, now)?,
            StatusChange::Deactivate => members::deactivate_in(conn, &current, Authority::Organization, context, now)?,
        };
        Ok(attach_invitation(conn, current, now)?)
    }
}

/// Why a batch stopped: the position and the id (member or person) of the item that failed.
#[derive(Debug)]
pub struct BatchFailure {
    pub index: usize,
    pub item: String,
    pub error: ServiceError,
}

impl BatchFailure {
    /// Wraps an item's error with its position and id.
    pub(crate) fn at(index: usize, item: impl ToString) -> impl FnOnce(ServiceError) -> BatchFailure {
        let item = item.to_string();
        move |error| BatchFailure { index, item, error }
    }
}

/// Several role/status changes at once, all or nothing: the first failure rolls everything back and
/// is reported with its position.
pub fn update_members(
    db: &Database,
    organization_id: OrganizationId,
    updates: Vec<(MemberId, MemberUpdate)>,
    actor: &Actor,
    context: &AuditContext,
) -> Result<Vec<Member>, BatchFailure> {
    db.write(|conn| {
        let mut out = Vec::with_capacity(updates.len());
        for (index, (id, update)) in updates.iter().enumerate() {
            out.push(
                update_member_in(conn, organization_id, *id, *update, actor, context)
                    .map_err(BatchFailure::at(index, id))?,
            );
        }
        Ok(out)
    })
}

/// A failure of the transaction itself (not of an item): `index` is `usize::MAX`.
impl From<StorageError> for BatchFailure {
    fn from(e: StorageError) -> Self {
        BatchFailure {
            index: usize::MAX,
            item: String::new(),
            error: e.into(),
        }
    }
}

/// Seed 000's `DELETE /team/{member_id}/`: the member becomes INACTIVE with a deactivation date.
pub fn deactivate_member(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    actor: &Actor,
    context: &AuditContext,
) -> ServiceResult<Member> {
    db.write(|conn| {
        let now = crate::domain::now();
        let member = lock_member(conn, organization_id, id)?;
        check_deactivation(member.status).map_err(refused)?;
        if member.role == Role::Administrator && !actor.may(Permission::ManageAdministrators) {
            return Err(ServiceError::Forbidden(
                "only an ADMINISTRATOR can deactivate an ADMINISTRATOR".into(),
            ));
        }
        let updated = members::deactivate_in(conn, &member, Authority::Organization, context, now)?;
        Ok(attach_invitation(conn, updated, now)?)
    })
}

/// Seed 001's suspend, block and activate, with an optional reason (kept on the member and in the
/// audit event). A member's tokens stop working as soon as it is no longer ACTIVE.
pub fn change_lifecycle(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    action: Lifecycle,
    reason: Option<String>,
    actor: &Actor,
    context: &AuditContext,
) -> ServiceResult<Member> {
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(InvalidValue::new("reason", "at most 500 characters").into());
    }
    db.write(|conn| {
        let now = crate::domain::now();
        let member = lock_member(conn, organization_id, id)?;
        let registered = member.user_id.is_some() || member.verified_at.is_some();
        let next = decide_lifecycle(member.status, registered, action).map_err(refused)?;
        if member.role == Role::Administrator && !actor.may(Permission::ManageAdministrators) {
            return Err(ServiceError::Forbidden(
                "only an ADMINISTRATOR can change an ADMINISTRATOR's status".into(),
            ));
        }
        if next != MemberStatus::Active {
            members::check_last_administrator(conn, &member, Authority::Organization, context, now)?;
        }
        let changes = MemberChanges {
            status: Some(next.as_str().to_owned()),
            status_reason: Some(reason.clone()),
            deactivated_date: Some(if next == MemberStatus::Active {
                None
            } else {
                member.deactivated_date
            }),
            ..MemberChanges::default()
        };
        let updated = Member::try_from(storage::update_member(conn, organization_id, id, &changes, now)?)?;
        let name = match action {
            Lifecycle::Suspend => events::MEMBER_SUSPEND,
            Lifecycle::Block => events::MEMBER_BLOCK,
            Lifecycle::Activate => events::MEMBER_ACTIVATE,
        };
        let mut event = NewAuditEvent::new(organization_id, name)
            .about(id)
            .with("old_status", member.status.as_str())
            .with("new_status", next.as_str());
        if let Some(r) = &reason {
            event = event.with("reason", r.clone());
        }
        storage::insert_audit_event(conn, context, &event, now)?;
        Ok(attach_invitation(conn, updated, now)?)
    })
}

/// An audit event as read back.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: String,
    pub organization_id: OrganizationId,
    pub actor: String,
    pub event_name: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub token_hash: Option<String>,
    pub metadata: Map<String, Value>,
    pub timestamp: NaiveDateTime,
    /// `roster`, or `product` for an event the product recorded.
    pub source: String,
}

impl TryFrom<AuditEventRow> for AuditEvent {
    type Error = StorageError;
    fn try_from(row: AuditEventRow) -> Result<Self, Self::Error> {
        let metadata = match serde_json::from_str(&row.metadata) {
            Ok(Value::Object(map)) => map,
            _ => return Err(StorageError::Corrupt(format!("audit event {} metadata", row.id))),
        };
        Ok(AuditEvent {
            organization_id: stored("audit_events.organization_id", &row.organization_id)?,
            id: row.id,
            actor: row.actor,
            event_name: row.event_name,
            ip_address: row.ip_address,
            user_agent: row.user_agent,
            token_hash: row.token_hash,
            metadata,
            timestamp: row.created_at,
            source: row.source,
        })
    }
}

/// A closed time window; either end may be open.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

impl TimeRange {
    pub fn new(from: Option<NaiveDateTime>, to: Option<NaiveDateTime>) -> Result<Self, InvalidValue> {
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(InvalidValue::new("from", "`from` is after `to`"));
        }
        Ok(Self { from, to })
    }
}

/// The events a member performed or underwent, oldest first.
pub fn member_audit_log(
    db: &Database,
    organization_id: OrganizationId,
    id: MemberId,
    range: TimeRange,
    page: PageRequest,
    context: &AuditContext,
) -> ServiceResult<Page<AuditEvent>> {
    super::audited_read(db, context, |conn, _now| {
        // The history outlives a cancelled invitation: removed members are found too.
        match storage::find_member(conn, organization_id, id) {
            Err(StorageError::NotFound) => return Err(ServiceError::NotFound("member")),
            other => other?,
        };
        let query = AuditQuery {
            member_id: Some(id),
            from: range.from,
            to: range.to,
            offset: page.offset(),
            limit: page.page_size,
        };
        let (rows, total) = storage::list_audit_events(conn, organization_id, &query)?;
        let items = rows
            .into_iter()
            .map(AuditEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // Recorded after the read, so the listing does not contain its own event.
        let event = NewAuditEvent::new(organization_id, events::AUDIT_LOG_LIST)
            .with("member_id", id.to_string())
            .with("returned", items.len());
        Ok((
            Page {
                items,
                total,
                page: page.page,
                page_size: page.page_size,
            },
            event,
        ))
    })
}

/// An agent's owners and tokens, for listings: agent id → (owners (id, name, status), tokens).
pub type AgentDetails =
    std::collections::HashMap<String, (Vec<(String, String, String)>, Vec<crate::service::tokens::TokenInfo>)>;

/// The owners and tokens of these agents, in two queries.
pub fn agent_details(
    db: &Database,
    organization_id: OrganizationId,
    agents: &[MemberId],
) -> ServiceResult<AgentDetails> {
    let mut conn = db.get()?;
    let mut owners = storage::owners_of_agents(&mut conn, organization_id, agents)?;
    let ids: std::collections::HashSet<String> = agents.iter().map(|a| a.to_string()).collect();
    let mut out: AgentDetails = Default::default();
    for row in storage::list_tokens(&mut conn, organization_id)? {
        if let Some(member) = row.member_id.clone().filter(|m| ids.contains(m)) {
            let info = crate::service::tokens::TokenInfo::try_from(row)?;
            out.entry(member).or_default().1.push(info);
        }
    }
    for id in ids {
        let entry = out.entry(id.clone()).or_default();
        entry.0 = owners.remove(&id).unwrap_or_default();
    }
    Ok(out)
}
