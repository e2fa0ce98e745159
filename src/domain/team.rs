//! The member as the domain sees it, and the rules for changing one.

use chrono::NaiveDateTime;

use super::{Email, MemberId, MemberStatus, OrganizationId, PhoneNumber, Role, UserId, UserName};

#[derive(Debug, Clone)]
pub struct Member {
    pub id: MemberId,
    pub organization_id: OrganizationId,
    pub user_id: Option<UserId>,
    pub user_name: UserName,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone_number: Option<PhoneNumber>,
    pub role: Role,
    pub status: MemberStatus,
    pub status_reason: Option<String>,
    pub added_date: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login: Option<NaiveDateTime>,
    pub deactivated_date: Option<NaiveDateTime>,
    pub verified_at: Option<NaiveDateTime>,
    /// Increases with every change (the SCIM ETag).
    pub version: i64,
    /// The pending invitation was cancelled: no longer listed.
    pub removed: bool,
    /// Deleted through SCIM: the SCIM door answers 404; the native door keeps the history.
    pub scim_deleted: bool,
    /// The latest invitation's state, when loaded.
    pub invitation: Option<super::invitation::InvitationSummary>,
    /// A person, or an AI agent (no invitation, e-mail or phone: tokens instead).
    pub kind: MemberKind,
}

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    Person,
    Agent,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Person => "person",
            MemberKind::Agent => "agent",
        }
    }
}

impl std::str::FromStr for MemberKind {
    type Err = super::InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "person" => Ok(MemberKind::Person),
            "agent" => Ok(MemberKind::Agent),
            _ => Err(super::InvalidValue::new("kind", "expected person or agent")),
        }
    }
}

/// A status change a caller asked for, decided against the member's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Already in that status: nothing to do.
    Unchanged,
    Reactivate,
    Deactivate,
}

/// Why a transition is refused (a 409 with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RefusedTransition(pub String);

/// What `PUT status: X` means for a member in `current`.
pub fn decide_status_change(current: MemberStatus, requested: MemberStatus) -> Result<StatusChange, RefusedTransition> {
    use MemberStatus::*;
    let refuse = |why: &str| Err(RefusedTransition(why.to_owned()));
    match (current, requested) {
        (a, b) if a == b => Ok(StatusChange::Unchanged),
        (Inactive, Active) => Ok(StatusChange::Reactivate),
        (Pending, Active) => refuse("the member has not accepted the invitation yet; resend the invitation instead"),
        (Suspended | Blocked, Active) => refuse(&format!(
            "the member is {current}; lifting a suspension or a block is its own operation"
        )),
        (Active | Suspended | Blocked, Inactive) => Ok(StatusChange::Deactivate),
        (Pending, Inactive) => refuse("the member is PENDING; cancel the invitation instead"),
        (_, Pending) => refuse("a member becomes PENDING only by being invited"),
        (_, Suspended | Blocked) => refuse(&format!("{requested} cannot be set through this endpoint")),
        _ => refuse(&format!("a {current} member cannot become {requested}")),
    }
}

/// Deactivation (`DELETE /team/{id}/`): from any registered state but INACTIVE.
pub fn check_deactivation(current: MemberStatus) -> Result<(), RefusedTransition> {
    match current {
        MemberStatus::Active | MemberStatus::Suspended | MemberStatus::Blocked => Ok(()),
        MemberStatus::Inactive => Err(RefusedTransition("the member is already INACTIVE".into())),
        MemberStatus::Pending => Err(RefusedTransition(
            "the member is PENDING; cancel the invitation instead".into(),
        )),
    }
}

/// Resending or cancelling an invitation needs a pending member.
pub fn check_pending(current: MemberStatus, action: &str) -> Result<(), RefusedTransition> {
    if current == MemberStatus::Pending {
        Ok(())
    } else {
        Err(RefusedTransition(format!(
            "only a PENDING member's invitation can be {action}; this member is {current}"
        )))
    }
}

/// Seed 001's account lifecycle beside deactivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Temporary: ACTIVE → SUSPENDED.
    Suspend,
    /// Security: ACTIVE, SUSPENDED or INACTIVE → BLOCKED.
    Block,
    /// SUSPENDED, BLOCKED or INACTIVE (registered) → ACTIVE; 409 when already ACTIVE.
    Activate,
}

/// The status a lifecycle action leads to, or why it is refused.
pub fn decide_lifecycle(
    current: MemberStatus,
    registered: bool,
    action: Lifecycle,
) -> Result<MemberStatus, RefusedTransition> {
    use MemberStatus::*;
    let refuse = |why: String| Err(RefusedTransition(why));
    match (action, current) {
        (_, Pending) => refuse("the member has not accepted the invitation yet; resend or cancel it instead".into()),
        (Lifecycle::Suspend, Active) => Ok(Suspended),
        (Lifecycle::Suspend, other) => refuse(format!(
            "only an ACTIVE member can be suspended; this member is {other}"
        )),
        (Lifecycle::Block, Blocked) => refuse("the member is already BLOCKED".into()),
        (Lifecycle::Block, _) => Ok(Blocked),
        (Lifecycle::Activate, Active) => refuse("the member is already ACTIVE".into()),
        (Lifecycle::Activate, _) if !registered => {
            refuse("the member never registered; invite them again instead".into())
        }
        (Lifecycle::Activate, _) => Ok(Active),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberStatus::*;

    #[test]
    fn status_changes_follow_the_lifecycle() {
        assert_eq!(decide_status_change(Inactive, Active), Ok(StatusChange::Reactivate));
        assert_eq!(decide_status_change(Active, Inactive), Ok(StatusChange::Deactivate));
        assert_eq!(decide_status_change(Active, Active), Ok(StatusChange::Unchanged));
        for (from, to) in [
            (Pending, Active),
            (Pending, Inactive),
            (Active, Pending),
            (Blocked, Active),
            (Active, Suspended),
        ] {
            assert!(decide_status_change(from, to).is_err(), "{from} -> {to}");
        }
    }

    #[test]
    fn suspension_block_and_activation() {
        assert_eq!(decide_lifecycle(Active, true, Lifecycle::Suspend), Ok(Suspended));
        assert!(decide_lifecycle(Suspended, true, Lifecycle::Suspend).is_err());
        assert_eq!(decide_lifecycle(Suspended, true, Lifecycle::Block), Ok(Blocked));
        assert_eq!(decide_lifecycle(Inactive, true, Lifecycle::Block), Ok(Blocked));
        assert!(decide_lifecycle(Blocked, true, Lifecycle::Block).is_err());
        assert_eq!(decide_lifecycle(Blocked, true, Lifecycle::Activate), Ok(Active));
        assert!(
            decide_lifecycle(Active, true, Lifecycle::Activate)
                .unwrap_err()
                .0
                .contains("already ACTIVE")
        );
        assert!(decide_lifecycle(Inactive, false, Lifecycle::Activate).is_err());
        for action in [Lifecycle::Suspend, Lifecycle::Block, Lifecycle::Activate] {
            assert!(decide_lifecycle(Pending, false, action).is_err());
        }
    }

    #[test]
    fn deactivation_and_invitation_guards() {
        assert!(check_deactivation(Active).is_ok());
        assert!(check_deactivation(Inactive).is_err());
        assert!(
            check_deactivation(Pending)
                .unwrap_err()
                .0
                .contains("cancel the invitation")
        );
        assert!(check_pending(Pending, "resent").is_ok());
        assert!(check_pending(Active, "resent").unwrap_err().0.contains("ACTIVE"));
    }
}
