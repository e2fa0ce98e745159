//! What an identity provider asks of the membership, in the domain's terms: who a person is
//! (their profile), which role their `roles` values give, and which lifecycle command a change of
//! `active` or a deletion amounts to. The SCIM mapping produces these; the service layer carries
//! them out with the same commands the native API uses.

use serde_json::{Map, Value};

use super::{Email, MemberKind, PhoneNumber, Role, UserName};

/// A person as the identity provider describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub user_name: UserName,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The address that becomes the member's e-mail, when it is one.
    pub email: Option<Email>,
    /// The number that becomes the member's phone, when it reads as E.164.
    pub phone: Option<PhoneNumber>,
    /// Every address the member is found by (all of `emails`, and `email`).
    pub addresses: Vec<String>,
    /// Everything else the provider sent, kept as sent.
    pub attributes: Map<String, Value>,
}

/// The role a provider's `roles` values give, and the values that give none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleDecision {
    pub role: Option<Role>,
    /// Kept on the resource, granting nothing; named in the audit event and the summary.
    pub ignored: Vec<String>,
}

/// How a provisioned person arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A PENDING member and an invitation (when there is an e-mail).
    Invite,
    /// An INACTIVE member, no invitation.
    Inactive,
    /// ACTIVE at once (an agent: nobody to invite).
    Active,
}

/// The lifecycle command a change of a provisioned person's `active` flag is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveCommand {
    /// ACTIVE (or SUSPENDED) → INACTIVE with a deactivation date.
    Deactivate,
    /// PENDING → the invitation is revoked, INACTIVE.
    RevokeInvitation,
    /// INACTIVE, registered before → ACTIVE.
    Reactivate,
    /// INACTIVE, never registered → invited again, PENDING.
    Reinvite,
    /// An agent set inactive: SUSPENDED, its tokens revoked at once.
    Suspend,
    /// An agent set active again: ACTIVE (its old tokens stay revoked).
    Resume,
}

/// What removing a provisioned person means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// A pending invitation is cancelled (the member leaves the lists).
    CancelInvitation,
    /// A registered member is deactivated (kept, with its history).
    Deactivate,
    /// Already inactive or blocked: nothing changes but visibility to the provider.
    HideOnly,
    /// An agent: out of the organization, its tokens revoked.
    Remove,
}

/// A new provisioned person.
#[derive(Debug, Clone)]
pub struct NewProvisioned {
    pub kind: MemberKind,
    pub profile: Profile,
    pub roles: RoleDecision,
    pub arrival: Arrival,
    /// An agent's owners (member ids), when the body names them.
    pub owners: Option<Vec<String>>,
}

/// A change of a provisioned person: the whole profile as it should be, the role, and the
/// lifecycle command (if `active` changes anything).
#[derive(Debug, Clone)]
pub struct ProvisionedChange {
    pub profile: Profile,
    pub roles: RoleDecision,
    pub command: Option<ActiveCommand>,
    /// An agent's owners as they should be, when the request names them.
    pub owners: Option<Vec<String>>,
}

/// Who decides a change, which sets the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A person or integration through the native API (or the CLI): the organization must keep an
    /// active ADMINISTRATOR, and a role owned by groups cannot be set.
    Organization,
    /// The identity provider, authoritative for identity: its deactivations and deletions go
    /// through even for the last ADMINISTRATOR (recorded, and shown in the summary), and a role
    /// that groups own is left as the groups say.
    IdentityProvider,
}

/// One change of a group's membership, by member reference (ids as the caller sent them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    /// Exactly these members afterwards.
    Replace(Vec<String>),
    RemoveAll,
}

/// A group's own attributes, as they should be.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupProfile {
    pub display_name: String,
    pub external_id: Option<String>,
    /// Everything else, kept as sent.
    pub attributes: Map<String, Value>,
    /// The role the provider binds the group to through roster's Group extension (`None`: no
    /// such binding asked for).
    pub role: Option<Role>,
}

/// A change of a group: its attributes (when they change), then its membership, in order.
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    /// The group's attributes as they should be (a provider's body or patched resource).
    pub profile: Option<GroupProfile>,
    /// A new name alone (the native API), everything else kept.
    pub rename: Option<String>,
    pub members: Vec<MembershipChange>,
    /// Refuse member references that name nobody (the native API); otherwise they are left out
    /// and reported (identity providers reference users they failed to provision).
    pub strict: bool,
}

/// A group as stored: its own attributes (members and role binding are read separately).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: super::GroupId,
    pub organization_id: super::OrganizationId,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Everything else the provider sent, kept as sent.
    pub attributes: Map<String, Value>,
    pub version: i64,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}
