use chrono::NaiveDateTime;

use super::{ServiceError, ServiceResult, stored};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::{InvalidValue, OrganizationId, Role};
use crate::storage::{self, Database, DbConnection, OrganizationRow, StorageError};

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub default_role: Role,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StorageError;
    fn try_from(row: OrganizationRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: stored("organizations.id", &row.id)?,
            name: row.name,
            default_role: stored("organizations.default_role", &row.default_role)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub fn parse_organization_name(raw: &str) -> Result<String, InvalidValue> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(InvalidValue::new("name", "must not be empty"));
    }
    if name.chars().count() > 200 {
        return Err(InvalidValue::new("name", "longer than 200 characters"));
    }
    Ok(name.to_owned())
}

pub fn create_organization(
    db: &Database,
    name: &str,
    default_role: Role,
    context: &AuditContext,
) -> ServiceResult<Organization> {
    db.write(|conn| create_organization_in(conn, name, default_role, context))
}

/// [`create_organization`] inside a transaction the caller holds.
pub(crate) fn create_organization_in(
    conn: &mut DbConnection,
    name: &str,
    default_role: Role,
    context: &AuditContext,
) -> ServiceResult<Organization> {
    let name = parse_organization_name(name)?;
    let now = crate::domain::now();
    let row = storage::create_organization(conn, OrganizationId::new(), &name, default_role, now)?;
    let org = Organization::try_from(row)?;
    storage::insert_audit_event(
        conn,
        context,
        &NewAuditEvent::new(org.id, events::ORGANIZATION_CREATE)
            .with("organization_id", org.id.to_string())
            .with("name", org.name.clone()),
        now,
    )?;
    Ok(org)
}

pub fn find_organization(db: &Database, id: OrganizationId) -> ServiceResult<Organization> {
    load_organization(&mut *db.get()?, id)
}

/// Operator use (CLI): all organizations.
pub fn list_organizations(db: &Database) -> ServiceResult<Vec<Organization>> {
    let mut conn = db.get()?;
    let rows = storage::list_organizations(&mut conn)?;
    Ok(rows.into_iter().map(Organization::try_from).collect::<Result<_, _>>()?)
}

// ---- Organizations as people see them (seed 002) ------------------------------------------------
//
// A token belongs to one organization. A member token of a registered person also speaks for that
// person (`users.id`) in every other organization they are an ACTIVE member of: the organization
// endpoints resolve the caller's membership there, in the same transaction as the use case. An
// integration token only ever reaches its own organization.

use std::collections::BTreeMap;

use crate::auth::{IssuedToken, TokenSigner};
use crate::domain::{Actor, Email, Member, MemberId, MemberStatus, Permission, UserId, UserName};
use crate::storage::{MemberChanges, NewMember};

use super::team::{self, BatchFailure, MemberQuery, MemberUpdate, Page, PageRequest};

/// Who is calling, as its token says.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The organization the token belongs to.
    pub organization_id: OrganizationId,
    /// How the token acts there.
    pub actor: Actor,
    /// The registered person behind a member token.
    pub user_id: Option<UserId>,
    pub context: AuditContext,
}

/// The caller as an organization sees them.
struct Acting {
    actor: Actor,
    context: AuditContext,
}

impl Acting {
    fn member_id(&self) -> Option<MemberId> {
        match self.actor {
            Actor::Member { member_id, .. } => Some(member_id),
            _ => None,
        }
    }

    fn require(&self, permission: Permission) -> ServiceResult<()> {
        if self.actor.may(permission) {
            return Ok(());
        }
        Err(ServiceError::Forbidden(permission.refusal().into()))
    }
}

/// How `caller` acts in `organization_id`: as its token in the token's own organization, or as the
/// person's ACTIVE membership in another. Anything else is "not found", so that other
/// organizations' existence is not revealed.
fn act_in(conn: &mut DbConnection, caller: &Caller, organization_id: OrganizationId) -> ServiceResult<Acting> {
    if organization_id == caller.organization_id {
        return Ok(Acting {
            actor: caller.actor.clone(),
            context: caller.context.clone(),
        });
    }
    let Some(user_id) = caller.user_id else {
        return Err(ServiceError::NotFound("organization"));
    };
    let row =
        storage::find_member_by_user(conn, organization_id, user_id)?.ok_or(ServiceError::NotFound("organization"))?;
    let member = Member::try_from(row)?;
    if member.removed || member.status != MemberStatus::Active {
        return Err(ServiceError::NotFound("organization"));
    }
    let mut context = caller.context.clone();
    context.actor_member_id = Some(member.id);
    Ok(Acting {
        actor: Actor::Member {
            member_id: member.id,
            role: member.role,
        },
        context,
    })
}

fn load_organization(conn: &mut DbConnection, id: OrganizationId) -> ServiceResult<Organization> {
    match storage::find_organization(conn, id) {
        Ok(row) => Ok(row.try_into()?),
        Err(StorageError::NotFound) => Err(ServiceError::NotFound("organization")),
        Err(e) => Err(e.into()),
    }
}

/// An organization with the caller's place in it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub organization: Organization,
    /// The caller's member there (none for an integration token).
    pub member_id: Option<MemberId>,
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
}

fn membership(conn: &mut DbConnection, organization_id: OrganizationId, acting: &Acting) -> ServiceResult<Membership> {
    let organization = load_organization(conn, organization_id)?;
    let (member_id, role, status) = match acting.member_id() {
        Some(id) => {
            let member = team::load_member(conn, organization_id, id)?;
            (Some(id), Some(member.role), Some(member.status))
        }
        None => (None, None, None),
    };
    Ok(Membership {
        organization,
        member_id,
        role,
        status,
    })
}

/// The organizations the caller belongs to: every membership of the person behind a member
/// token, or the token's own organization for an integration (or an unregistered member).
pub fn organizations_of(db: &Database, caller: &Caller) -> ServiceResult<Vec<Membership>> {
    db.read(|conn| {
        let Some(user_id) = caller.user_id else {
            let acting = act_in(conn, caller, caller.organization_id)?;
            return Ok(vec![membership(conn, caller.organization_id, &acting)?]);
        };
        let mut out = Vec::new();
        for (org, member) in storage::memberships_of_user(conn, user_id)? {
            let member = Member::try_from(member)?;
            out.push(Membership {
                organization: org.try_into()?,
                member_id: Some(member.id),
                role: Some(member.role),
                status: Some(member.status),
            });
        }
        Ok(out)
    })
}

/// Creates an organization for the calling person, who becomes its first ADMINISTRATOR (ACTIVE,
/// verified as they already are).
pub fn create_organization_for(db: &Database, caller: &Caller, name: &str) -> ServiceResult<Membership> {
    let Some(user_id) = caller.user_id else {
        return Err(ServiceError::Forbidden(
            "an organization is created by a registered person (a member token), who becomes its first \
             ADMINISTRATOR; operators use `roster org create`"
                .into(),
        ));
    };
    db.write(|conn| {
        let user = storage::find_user(conn, user_id)?.ok_or(ServiceError::NotFound("user"))?;
        let member_id = MemberId::new();
        let mut context = caller.context.clone();
        context.actor_member_id = Some(member_id);
        let organization = create_organization_in(conn, name, Role::Viewer, &context)?;
        let member = add_person_in(
            conn,
            organization.id,
            &user,
            Role::Administrator,
            Joining::Direct { active: true },
            Some(member_id),
            &caller.actor,
            &context,
        )?;
        Ok(Membership {
            organization,
            member_id: Some(member.id),
            role: Some(member.role),
            status: Some(member.status),
        })
    })
}

/// One organization with the caller's role in it.
pub fn organization_for(db: &Database, caller: &Caller, organization_id: OrganizationId) -> ServiceResult<Membership> {
    db.read(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        membership(conn, organization_id, &acting)
    })
}

pub fn rename_organization(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    name: &str,
) -> ServiceResult<Membership> {
    let name = parse_organization_name(name)?;
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        acting.require(Permission::ManageOrganization)?;
        let before = load_organization(conn, organization_id)?;
        let now = crate::domain::now();
        storage::rename_organization(conn, organization_id, &name, now)?;
        let event = NewAuditEvent::new(organization_id, events::ORGANIZATION_MODIFY)
            .with("old_name", before.name)
            .with("new_name", name.clone());
        storage::insert_audit_event(conn, &acting.context, &event, now)?;
        membership(conn, organization_id, &acting)
    })
}

/// Deletes an organization with everything in it, once the caller repeats its name in
/// `confirmation`. Its audit events stay, with the deletion as the last of them.
pub fn delete_organization(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    confirmation: Option<&str>,
) -> ServiceResult<()> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        acting.require(Permission::ManageOrganization)?;
        let organization = load_organization(conn, organization_id)?;
        if confirmation.map(str::trim) != Some(organization.name.as_str()) {
            return Err(InvalidValue::new(
                "confirm",
                format!(
                    "deleting an organization removes its members, groups, invitations and tokens for good; \
                     repeat its name to confirm: ?confirm={}",
                    organization.name
                ),
            )
            .into());
        }
        let counts = storage::count_organization(conn, organization_id, crate::domain::now())?;
        let members: i64 = counts.members.iter().map(|(_, _, n)| n).sum();
        if !storage::delete_organization(conn, organization_id)? {
            return Err(ServiceError::NotFound("organization"));
        }
        // Stamped once the deletion holds its locks: a delivery the worker was recording when the
        // deletion began is then earlier in the history, never after the deletion.
        let now = crate::domain::now();
        let event = NewAuditEvent::new(organization_id, events::ORGANIZATION_DELETE)
            .with("name", organization.name.clone())
            .with("members", members)
            .with("groups", counts.groups);
        storage::insert_audit_event(conn, &acting.context, &event, now)?;
        Ok(())
    })
}

/// What an organization holds, for its summary.
#[derive(Debug, Clone)]
pub struct Summary {
    pub organization: Organization,
    pub members_total: i64,
    pub members_by_status: BTreeMap<&'static str, i64>,
    pub members_by_role: BTreeMap<&'static str, i64>,
    pub pending_invitations: i64,
    pub expired_invitations: i64,
    pub undeliverable_invitations: i64,
    pub groups: i64,
    pub role_bound_groups: i64,
    pub last_provisioning_at: Option<NaiveDateTime>,
    /// SCIM `roles` values that map to no roster role, with how many members carry each.
    pub ignored_role_values: BTreeMap<String, i64>,
    /// ACTIVE members with the ADMINISTRATOR role: 0 means nobody administers the organization
    /// natively (the identity provider can take the last one away; see the README).
    pub active_administrators: i64,
    /// AI agents by status (apart from the people above).
    pub agents_by_status: BTreeMap<&'static str, i64>,
    /// Agents none of whose owners is still an ACTIVE member: nobody answers for them.
    pub agents_without_owner: i64,
}

pub fn organization_summary(db: &Database, caller: &Caller, organization_id: OrganizationId) -> ServiceResult<Summary> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        acting.require(Permission::ReadTeam)?;
        let organization = load_organization(conn, organization_id)?;
        let now = crate::domain::now();
        let counts = storage::count_organization(conn, organization_id, now)?;
        // Every status and role is listed, with zero when nobody has it.
        let mut by_status: BTreeMap<&'static str, i64> = MemberStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        let mut by_role: BTreeMap<&'static str, i64> = Role::ALL.iter().map(|r| (r.as_str(), 0)).collect();
        let mut active_administrators = 0;
        for (status, role, n) in &counts.members {
            let status: MemberStatus = stored("members.status", status)?;
            let role: Role = stored("members.role", role)?;
            if status == MemberStatus::Active && role == Role::Administrator {
                active_administrators += n;
            }
            *by_status.entry(status.as_str()).or_default() += n;
            *by_role.entry(role.as_str()).or_default() += n;
        }
        storage::insert_audit_event(
            conn,
            &acting.context,
            &NewAuditEvent::new(organization_id, events::ORGANIZATION_SUMMARY),
            now,
        )?;
        Ok(Summary {
            organization,
            members_total: by_status.values().sum(),
            members_by_status: by_status,
            members_by_role: by_role,
            pending_invitations: counts.pending_invitations,
            expired_invitations: counts.expired_invitations,
            undeliverable_invitations: counts.undeliverable_invitations,
            groups: counts.groups,
            role_bound_groups: counts.role_bound_groups,
            last_provisioning_at: counts.last_provisioning_at,
            ignored_role_values: tally_ignored_roles(&counts.ignored_roles),
            active_administrators,
            agents_by_status: {
                let mut by: BTreeMap<&'static str, i64> = MemberStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
                for (status, n) in &counts.agents {
                    let status: MemberStatus = stored("members.status", status)?;
                    *by.entry(status.as_str()).or_default() += n;
                }
                by
            },
            agents_without_owner: counts.agents_without_owner,
        })
    })
}

fn tally_ignored_roles(columns: &[String]) -> BTreeMap<String, i64> {
    let mut tally = BTreeMap::new();
    for column in columns {
        let values: Vec<String> = serde_json::from_str(column).unwrap_or_default();
        for value in values {
            *tally.entry(value).or_default() += 1;
        }
    }
    tally
}

/// The organization's people, a page at a time, sorted as asked.
pub fn organization_users(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    query: &MemberQuery,
    page: PageRequest,
) -> ServiceResult<Page<Member>> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        acting.require(Permission::ReadTeam)?;
        team::list_members_in(conn, organization_id, query, page, &acting.context)
    })
}

/// How a registered person joins an organization.
#[derive(Debug, Clone, Copy)]
pub enum Joining {
    /// At once, ACTIVE or INACTIVE: the caller already shares an organization with the person (or
    /// the person creates the organization).
    Direct { active: bool },
    /// With their consent: PENDING, with an invitation to their address that they accept. Nothing
    /// of their profile is shown to the organization until then.
    Invited { policy: team::InvitationPolicy },
}

/// Makes the registered person `user` a member of the organization with `role`, as `joining`
/// says. A membership they left (or a cancelled invitation to their address) comes back under its
/// old id; a current one is a conflict.
#[allow(clippy::too_many_arguments)]
fn add_person_in(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    user: &storage::UserRow,
    role: Role,
    joining: Joining,
    new_id: Option<MemberId>,
    actor: &Actor,
    context: &AuditContext,
) -> ServiceResult<Member> {
    let now = crate::domain::now();
    let email = Email::parse(&user.email).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let invited = matches!(joining, Joining::Invited { .. });
    let active = matches!(joining, Joining::Direct { active: true });
    let status = match joining {
        Joining::Direct { active: true } => MemberStatus::Active,
        Joining::Direct { active: false } => MemberStatus::Inactive,
        Joining::Invited { .. } => MemberStatus::Pending,
    };
    let user_id = user.id.clone();
    let existing = match storage::find_member_by_user(conn, organization_id, stored("users.id", &user.id)?)? {
        Some(row) => Some(row),
        None => storage::find_member_by_email(conn, organization_id, &email.key())?,
    };
    let member_id = match existing {
        Some(row) if row.removed_at.is_some() && row.user_id.as_ref().is_none_or(|u| *u == user_id) => {
            let id: MemberId = stored("members.id", &row.id)?;
            let changes = MemberChanges {
                user_id: Some(Some(user_id.clone())),
                first_name: Some(row.first_name.or(user.first_name.clone())),
                last_name: Some(row.last_name.or(user.last_name.clone())),
                role: Some(role.as_str().to_owned()),
                role_from_groups: Some(false),
                status: Some(status.as_str().to_owned()),
                status_reason: Some(None),
                removed_at: Some(None),
                scim_deleted_at: Some(None),
                deactivated_date: Some((!active && !invited).then_some(now)),
                verified_at: Some(row.verified_at.or(user.verified_at)),
                ..MemberChanges::default()
            };
            storage::update_member(conn, organization_id, id, &changes, now).map_err(team::unique_conflict)?;
            // Back with the role given: no group membership of a cancelled invitation lingers to
            // contradict it.
            storage::remove_member_from_all_groups(conn, organization_id, id)?;
            id
        }
        Some(row) if row.user_id.as_deref() == Some(user_id.as_str()) => {
            return Err(ServiceError::conflict(
                "user_ids",
                format!(
                    "this person is already in the organization (member_id {}, status {})",
                    row.id, row.status
                ),
            ));
        }
        // Naming the member would tell a caller who does not know the person their address.
        Some(_) if invited => {
            return Err(ServiceError::conflict(
                "user_ids",
                "this person cannot be invited: a member of the organization already uses their e-mail address",
            ));
        }
        Some(row) => {
            return Err(ServiceError::conflict(
                "user_ids",
                format!(
                    "another member of the organization has this person's e-mail address (member_id {}, status {})",
                    row.id, row.status
                ),
            ));
        }
        None if invited => {
            // The profile stays with the person until they accept; the member is known by the
            // person's id meanwhile (its userName), which the caller already has.
            let id = new_id.unwrap_or_default();
            let user_name = UserName::parse(&user_id).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let row = NewMember {
                id: id.to_string(),
                organization_id: organization_id.to_string(),
                user_id: Some(user_id.clone()),
                user_name: user_name.as_str().to_owned(),
                user_name_ci: user_name.key(),
                external_id: None,
                display_name: None,
                first_name: None,
                last_name: None,
                email: None,
                email_ci: None,
                phone_number: None,
                role: role.as_str().to_owned(),
                status: status.as_str().to_owned(),
                scim_attributes: "{}".to_owned(),
                added_date: now,
                updated_at: now,
                ignored_roles: None,
                kind: "person".to_owned(),
            };
            storage::insert_member(conn, organization_id, &row).map_err(team::unique_conflict)?;
            id
        }
        None => {
            let id = new_id.unwrap_or_default();
            let user_name = UserName::from(&email);
            let row = NewMember {
                id: id.to_string(),
                organization_id: organization_id.to_string(),
                user_id: Some(user_id.clone()),
                user_name: user_name.as_str().to_owned(),
                user_name_ci: user_name.key(),
                external_id: None,
                display_name: None,
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                email: Some(email.as_str().to_owned()),
                email_ci: Some(email.key()),
                phone_number: None,
                role: role.as_str().to_owned(),
                status: status.as_str().to_owned(),
                scim_attributes: "{}".to_owned(),
                added_date: now,
                updated_at: now,
                ignored_roles: None,
                kind: "person".to_owned(),
            };
            storage::insert_member(conn, organization_id, &row).map_err(team::unique_conflict)?;
            let changes = MemberChanges {
                verified_at: Some(user.verified_at),
                deactivated_date: Some((!active).then_some(now)),
                ..MemberChanges::default()
            };
            storage::update_member(conn, organization_id, id, &changes, now)?;
            storage::set_member_emails(conn, organization_id, id, &[email.as_str().to_owned()])?;
            id
        }
    };
    let member = team::load_member(conn, organization_id, member_id)?;
    let mut event = NewAuditEvent::new(
        organization_id,
        if invited {
            events::MEMBER_INVITE
        } else {
            events::MEMBER_ADD
        },
    )
    .about(member_id)
    .with("user_id", user_id)
    .with("role", role.as_str())
    .with("status", status.as_str());
    if let Joining::Invited { policy } = joining {
        let invitation = team::issue_invitation(conn, &member, actor, context, policy, now)?.id;
        event = event
            .with("consent", "invitation")
            .with("invitation_id", invitation.to_string());
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(team::attach_invitation(conn, member, now)?)
}

/// Adds several registered people at once with one role: all or nothing. A person who already
/// shares an organization with the calling person joins at once, ACTIVE or INACTIVE as asked;
/// anyone else (and anyone an integration token adds) is invited instead, so that nobody becomes
/// a member, or has their profile shown, without consenting.
pub fn add_people(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    user_ids: &[UserId],
    role: Role,
    active: bool,
    policy: team::InvitationPolicy,
) -> Result<Vec<Member>, BatchFailure> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id).map_err(BatchFailure::at(usize::MAX, ""))?;
        acting
            .require(Permission::WriteTeam)
            .and_then(|()| {
                if role == Role::Administrator {
                    acting.require(Permission::ManageAdministrators)
                } else {
                    Ok(())
                }
            })
            .map_err(BatchFailure::at(usize::MAX, ""))?;
        let known_organizations = acquainted_organizations(conn, caller.user_id, organization_id)
            .map_err(BatchFailure::at(usize::MAX, ""))?;
        let mut out = Vec::with_capacity(user_ids.len());
        for (index, user_id) in user_ids.iter().enumerate() {
            let add = |conn: &mut DbConnection| -> ServiceResult<Member> {
                let user = storage::find_user(conn, *user_id)?.ok_or(ServiceError::NotFound("person"))?;
                let acquainted = storage::memberships_of_user(conn, *user_id)?
                    .iter()
                    .any(|(organization, _)| known_organizations.contains(&organization.id));
                let joining = if acquainted {
                    Joining::Direct { active }
                } else {
                    Joining::Invited { policy }
                };
                add_person_in(
                    conn,
                    organization_id,
                    &user,
                    role,
                    joining,
                    None,
                    &acting.actor,
                    &acting.context,
                )
            };
            out.push(add(conn).map_err(BatchFailure::at(index, user_id))?);
        }
        Ok(out)
    })
}

/// The organizations, other than `organization_id`, where the calling person is ACTIVE: whoever
/// is a member there is someone the caller already knows. An integration token knows nobody.
fn acquainted_organizations(
    conn: &mut DbConnection,
    caller: Option<UserId>,
    organization_id: OrganizationId,
) -> ServiceResult<std::collections::HashSet<String>> {
    let Some(person) = caller else {
        return Ok(Default::default());
    };
    Ok(storage::memberships_of_user(conn, person)?
        .into_iter()
        .filter(|(organization, member)| {
            organization.id != organization_id.to_string() && member.status == MemberStatus::Active.as_str()
        })
        .map(|(organization, _)| organization.id)
        .collect())
}

/// The organization's current member that is the person `user_id`.
fn member_of_person(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    user_id: UserId,
) -> ServiceResult<Member> {
    match storage::find_member_by_user(conn, organization_id, user_id)? {
        Some(row) if row.removed_at.is_none() => Ok(Member::try_from(row)?),
        _ => Err(ServiceError::NotFound("person in this organization")),
    }
}

/// Changes the role and/or the active state of several people at once: all or nothing.
pub fn update_people(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    user_ids: &[UserId],
    update: MemberUpdate,
) -> Result<Vec<Member>, BatchFailure> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id).map_err(BatchFailure::at(usize::MAX, ""))?;
        acting
            .require(Permission::WriteTeam)
            .map_err(BatchFailure::at(usize::MAX, ""))?;
        let mut out = Vec::with_capacity(user_ids.len());
        for (index, user_id) in user_ids.iter().enumerate() {
            let change = |conn: &mut DbConnection| -> ServiceResult<Member> {
                let member = member_of_person(conn, organization_id, *user_id)?;
                team::update_member_in(conn, organization_id, member.id, update, &acting.actor, &acting.context)
            };
            out.push(change(conn).map_err(BatchFailure::at(index, user_id))?);
        }
        Ok(out)
    })
}

/// Takes a member out of the organization: it leaves the lists and its groups, becomes INACTIVE,
/// and its tokens are revoked. Its history stays; adding the person again brings it back.
fn remove_member_in(
    conn: &mut DbConnection,
    member: &Member,
    event_name: &'static str,
    context: &AuditContext,
) -> ServiceResult<()> {
    let now = crate::domain::now();
    super::members::check_last_administrator(
        conn,
        member,
        crate::domain::provisioning::Authority::Organization,
        context,
        now,
    )?;
    let organization_id = member.organization_id;
    storage::close_open_invitations(conn, organization_id, member.id, "CANCELLED", now)?;
    let changes = MemberChanges {
        status: Some(MemberStatus::Inactive.as_str().to_owned()),
        removed_at: Some(Some(now)),
        role_from_groups: Some(false),
        deactivated_date: Some(member.deactivated_date.or(Some(now))),
        ..MemberChanges::default()
    };
    storage::update_member(conn, organization_id, member.id, &changes, now)?;
    let groups = storage::remove_member_from_all_groups(conn, organization_id, member.id)?;
    let tokens = storage::revoke_member_tokens(conn, organization_id, member.id, now)?;
    let event = NewAuditEvent::new(organization_id, event_name)
        .about(member.id)
        .with("old_status", member.status.as_str())
        .with("role", member.role.as_str())
        .with("groups_left", groups)
        .with("tokens_revoked", tokens);
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(())
}

/// Removes several people from the organization at once: all or nothing.
pub fn remove_people(
    db: &Database,
    caller: &Caller,
    organization_id: OrganizationId,
    user_ids: &[UserId],
) -> Result<(), BatchFailure> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id).map_err(BatchFailure::at(usize::MAX, ""))?;
        acting
            .require(Permission::WriteTeam)
            .map_err(BatchFailure::at(usize::MAX, ""))?;
        for (index, user_id) in user_ids.iter().enumerate() {
            let remove = |conn: &mut DbConnection| -> ServiceResult<()> {
                let member = member_of_person(conn, organization_id, *user_id)?;
                if member.role == Role::Administrator {
                    acting.require(Permission::ManageAdministrators)?;
                }
                remove_member_in(conn, &member, events::MEMBER_REMOVE, &acting.context)
            };
            remove(conn).map_err(BatchFailure::at(index, user_id))?;
        }
        Ok(())
    })
}

/// The caller leaves the organization (refused for its last active ADMINISTRATOR).
pub fn leave_organization(db: &Database, caller: &Caller, organization_id: OrganizationId) -> ServiceResult<()> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        let Some(member_id) = acting.member_id() else {
            return Err(ServiceError::Forbidden(
                "an integration token is not a member: there is nothing to leave".into(),
            ));
        };
        let member = team::lock_member(conn, organization_id, member_id)?;
        remove_member_in(conn, &member, events::MEMBER_LEAVE, &acting.context)
    })
}

/// A token acting as the calling person in another of their organizations (an "account switch"),
/// so that the team and group endpoints can be used there.
pub fn issue_member_token(
    db: &Database,
    signer: &TokenSigner,
    caller: &Caller,
    organization_id: OrganizationId,
    ttl: chrono::Duration,
) -> ServiceResult<(IssuedToken, MemberId)> {
    db.write(|conn| {
        let acting = act_in(conn, caller, organization_id)?;
        let Some(member_id) = acting.member_id() else {
            return Err(ServiceError::Forbidden(
                "an integration token does not act as a person; operators use `roster token create`".into(),
            ));
        };
        let issued = super::tokens::create_token_in(
            conn,
            signer,
            super::tokens::CreateToken {
                organization_id,
                name: "member session",
                scopes: &[],
                member_id: Some(member_id),
                ttl,
            },
            &acting.context,
        )?;
        Ok((issued, member_id))
    })
}
