//! The design's rule table for SCIM `active` and `DELETE`: which domain operation each request is,
//! given the member's native state. Pure; the service layer carries the plan out.

use crate::domain::MemberStatus;

/// What creating a User means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePlan {
    /// `active` true or absent: a PENDING member and an invitation (when there is an e-mail).
    Invite,
    /// `active: false`: an INACTIVE member, no invitation.
    CreateInactive,
}

pub fn plan_create(active: Option<bool>) -> CreatePlan {
    if active == Some(false) {
        CreatePlan::CreateInactive
    } else {
        CreatePlan::Invite
    }
}

/// What a change of `active` means for a member in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivePlan {
    /// Nothing to do (the member already reads as requested).
    Unchanged,
    /// ACTIVE (or SUSPENDED) → INACTIVE with a deactivation date.
    Deactivate,
    /// PENDING → the invitation is revoked, INACTIVE.
    RevokeInvitation,
    /// INACTIVE, registered before → ACTIVE.
    Reactivate,
    /// INACTIVE, never registered → invited again, PENDING.
    Reinvite,
    /// BLOCKED natively: stays BLOCKED whatever the IdP sends (the response says so).
    KeepBlocked,
}

pub fn plan_active(current: MemberStatus, registered: bool, requested: bool) -> ActivePlan {
    use MemberStatus::*;
    match (current, requested) {
        (Blocked, _) => ActivePlan::KeepBlocked,
        (Pending | Active, true) | (Inactive, false) => ActivePlan::Unchanged,
        (Active | Suspended, false) => ActivePlan::Deactivate,
        (Pending, false) => ActivePlan::RevokeInvitation,
        (Inactive | Suspended, true) if registered => ActivePlan::Reactivate,
        (Inactive | Suspended, true) => ActivePlan::Reinvite,
    }
}

/// What `DELETE /Users/{id}` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletePlan {
    /// A pending invitation is cancelled.
    CancelInvitation,
    /// A registered member is deactivated (kept, with its history).
    Deactivate,
    /// Already inactive or blocked: only hidden from SCIM.
    HideOnly,
}

pub fn plan_delete(current: MemberStatus) -> DeletePlan {
    match current {
        MemberStatus::Pending => DeletePlan::CancelInvitation,
        MemberStatus::Active | MemberStatus::Suspended => DeletePlan::Deactivate,
        MemberStatus::Inactive | MemberStatus::Blocked => DeletePlan::HideOnly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberStatus::*;

    #[test]
    fn creation() {
        assert_eq!(plan_create(None), CreatePlan::Invite);
        assert_eq!(plan_create(Some(true)), CreatePlan::Invite);
        assert_eq!(plan_create(Some(false)), CreatePlan::CreateInactive);
    }

    #[test]
    fn active_changes_follow_the_design_table() {
        assert_eq!(plan_active(Active, true, false), ActivePlan::Deactivate);
        assert_eq!(plan_active(Pending, false, false), ActivePlan::RevokeInvitation);
        assert_eq!(plan_active(Inactive, true, true), ActivePlan::Reactivate);
        assert_eq!(plan_active(Inactive, false, true), ActivePlan::Reinvite);
        assert_eq!(plan_active(Active, true, true), ActivePlan::Unchanged);
        assert_eq!(plan_active(Pending, false, true), ActivePlan::Unchanged);
        assert_eq!(plan_active(Inactive, true, false), ActivePlan::Unchanged);
        assert_eq!(plan_active(Suspended, true, false), ActivePlan::Deactivate);
        assert_eq!(plan_active(Suspended, true, true), ActivePlan::Reactivate);
        for requested in [true, false] {
            assert_eq!(plan_active(Blocked, true, requested), ActivePlan::KeepBlocked);
        }
    }

    #[test]
    fn deletion() {
        assert_eq!(plan_delete(Pending), DeletePlan::CancelInvitation);
        assert_eq!(plan_delete(Active), DeletePlan::Deactivate);
        assert_eq!(plan_delete(Inactive), DeletePlan::HideOnly);
        assert_eq!(plan_delete(Blocked), DeletePlan::HideOnly);
    }
}
