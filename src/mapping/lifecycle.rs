//! The design's rule table for SCIM `active` and `DELETE`: which domain command each request is,
//! given the member's native state. Pure; the service layer carries the commands out.

use crate::domain::MemberStatus;
use crate::domain::provisioning::{ActiveCommand, Arrival, Departure};

/// `POST /Users`: `active` false is an INACTIVE member; true or absent, an invitation.
pub fn plan_create(active: Option<bool>) -> Arrival {
    if active == Some(false) {
        Arrival::Inactive
    } else {
        Arrival::Invite
    }
}

/// A requested `active` for a member in a given state: the command it is, or nothing (the member
/// already reads as requested, or is BLOCKED natively and stays so whatever the IdP sends).
pub fn plan_active(current: MemberStatus, registered: bool, requested: bool) -> Option<ActiveCommand> {
    use MemberStatus::*;
    match (current, requested) {
        (Blocked, _) | (Pending | Active, true) | (Inactive, false) => None,
        (Active | Suspended, false) => Some(ActiveCommand::Deactivate),
        (Pending, false) => Some(ActiveCommand::RevokeInvitation),
        (Inactive | Suspended, true) if registered => Some(ActiveCommand::Reactivate),
        (Inactive | Suspended, true) => Some(ActiveCommand::Reinvite),
    }
}

/// A requested `active` for an agent: false suspends it (its tokens revoked), true resumes it;
/// an agent BLOCKED natively stays so.
pub fn plan_agent_active(current: MemberStatus, requested: bool) -> Option<ActiveCommand> {
    use MemberStatus::*;
    match (current, requested) {
        (Active, false) => Some(ActiveCommand::Suspend),
        (Suspended | Inactive, true) => Some(ActiveCommand::Resume),
        _ => None,
    }
}

/// `DELETE /Users/{id}`.
pub fn plan_delete(current: MemberStatus) -> Departure {
    match current {
        MemberStatus::Pending => Departure::CancelInvitation,
        MemberStatus::Active | MemberStatus::Suspended => Departure::Deactivate,
        MemberStatus::Inactive | MemberStatus::Blocked => Departure::HideOnly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberStatus::*;

    #[test]
    fn creation() {
        assert_eq!(plan_create(None), Arrival::Invite);
        assert_eq!(plan_create(Some(true)), Arrival::Invite);
        assert_eq!(plan_create(Some(false)), Arrival::Inactive);
    }

    #[test]
    fn active_changes_follow_the_design_table() {
        use ActiveCommand::*;
        assert_eq!(plan_active(Active, true, false), Some(Deactivate));
        assert_eq!(plan_active(Pending, false, false), Some(RevokeInvitation));
        assert_eq!(plan_active(Inactive, true, true), Some(Reactivate));
        assert_eq!(plan_active(Inactive, false, true), Some(Reinvite));
        assert_eq!(plan_active(Active, true, true), None);
        assert_eq!(plan_active(Pending, false, true), None);
        assert_eq!(plan_active(Inactive, true, false), None);
        assert_eq!(plan_active(Suspended, true, false), Some(Deactivate));
        assert_eq!(plan_active(Suspended, true, true), Some(Reactivate));
        for requested in [true, false] {
            assert_eq!(plan_active(Blocked, true, requested), None, "BLOCKED stays BLOCKED");
        }
    }

    #[test]
    fn agents_are_suspended_and_resumed() {
        assert_eq!(plan_agent_active(Active, false), Some(ActiveCommand::Suspend));
        assert_eq!(plan_agent_active(Suspended, true), Some(ActiveCommand::Resume));
        assert_eq!(plan_agent_active(Active, true), None);
        assert_eq!(plan_agent_active(Blocked, true), None);
    }

    #[test]
    fn deletion() {
        assert_eq!(plan_delete(Pending), Departure::CancelInvitation);
        assert_eq!(plan_delete(Active), Departure::Deactivate);
        assert_eq!(plan_delete(Inactive), Departure::HideOnly);
        assert_eq!(plan_delete(Blocked), Departure::HideOnly);
    }
}
