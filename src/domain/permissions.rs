//! Who may do what on the native API. A token acts either as a member (the member's role decides)
//! or as an integration of the organization (the token's scopes decide).

use super::{MemberId, Role, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Member {
        member_id: MemberId,
        role: Role,
    },
    Integration {
        scopes: Vec<Scope>,
    },
    /// The operator's CLI and the system itself.
    Operator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// List and read members.
    ReadTeam,
    /// Invite, resend, cancel, change role or status, deactivate.
    WriteTeam,
    /// Read audit logs.
    ReadAudit,
    /// Grant the ADMINISTRATOR role, or change or deactivate an ADMINISTRATOR.
    ManageAdministrators,
    /// Rename or delete the organization.
    ManageOrganization,
    /// Read the change-events feed.
    ReadEvents,
    /// Record the product's events (logins, data access) in the audit log.
    WriteAudit,
    /// Create, change and delete webhook endpoints.
    ManageWebhooks,
}

impl Permission {
    /// Why a caller without this permission is refused, in the native API's words.
    pub fn refusal(self) -> &'static str {
        match self {
            Permission::ReadTeam => "reading the team needs the team:read scope or an administrator role",
            Permission::WriteTeam => "changing the team needs the team:write scope or an administrator role",
            Permission::ReadAudit => "reading audit logs needs the audit:read scope or an administrator role",
            Permission::ManageAdministrators => "this needs an ADMINISTRATOR",
            Permission::ManageOrganization => "this needs an ADMINISTRATOR of the organization or the org:admin scope",
            Permission::ReadEvents => "reading the events feed needs the events:read scope or an administrator role",
            Permission::WriteAudit => "recording events needs the audit:write scope or an administrator role",
            Permission::ManageWebhooks => "managing webhooks needs the org:admin scope or the ADMINISTRATOR role",
        }
    }
}

impl Actor {
    pub fn may(&self, permission: Permission) -> bool {
        match self {
            Actor::Operator => true,
            Actor::Member { role, .. } => match permission {
                Permission::ReadTeam
                | Permission::WriteTeam
                | Permission::ReadAudit
                | Permission::ReadEvents
                | Permission::WriteAudit => role.is_admin(),
                Permission::ManageAdministrators | Permission::ManageOrganization | Permission::ManageWebhooks => {
                    *role == Role::Administrator
                }
            },
            Actor::Integration { scopes } => {
                let has = |s: Scope| scopes.contains(&s);
                match permission {
                    // Writing implies reading what was written.
                    Permission::ReadTeam => has(Scope::TeamRead) || has(Scope::TeamWrite),
                    Permission::WriteTeam => has(Scope::TeamWrite),
                    Permission::ReadAudit => has(Scope::AuditRead),
                    Permission::ManageAdministrators => has(Scope::TeamWrite) && has(Scope::OrgAdmin),
                    Permission::ManageOrganization | Permission::ManageWebhooks => has(Scope::OrgAdmin),
                    Permission::ReadEvents => has(Scope::EventsRead),
                    Permission::WriteAudit => has(Scope::AuditWrite),
                }
            }
        }
    }

    /// Whether this actor is the member `id` (anyone may read their own record).
    pub fn is_member(&self, id: MemberId) -> bool {
        matches!(self, Actor::Member { member_id, .. } if *member_id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Actor {
        Actor::Member {
            member_id: MemberId::new(),
            role,
        }
    }

    #[test]
    fn roles_decide_for_members() {
        for role in [Role::Viewer, Role::Market, Role::Checker] {
            assert!(!member(role).may(Permission::ReadTeam), "{role}");
            assert!(!member(role).may(Permission::WriteTeam), "{role}");
        }
        let nta = member(Role::NonTransactionalAdmin);
        assert!(nta.may(Permission::WriteTeam) && nta.may(Permission::ReadAudit));
        assert!(!nta.may(Permission::ManageAdministrators) && !nta.may(Permission::ManageOrganization));
        assert!(member(Role::Administrator).may(Permission::ManageAdministrators));
    }

    #[test]
    fn scopes_decide_for_integrations() {
        let read = Actor::Integration {
            scopes: vec![Scope::TeamRead],
        };
        assert!(read.may(Permission::ReadTeam) && !read.may(Permission::WriteTeam));
        let write = Actor::Integration {
            scopes: vec![Scope::TeamWrite],
        };
        assert!(write.may(Permission::ReadTeam) && write.may(Permission::WriteTeam));
        assert!(!write.may(Permission::ManageAdministrators) && !write.may(Permission::ReadAudit));
        let admin = Actor::Integration {
            scopes: vec![Scope::TeamWrite, Scope::OrgAdmin],
        };
        assert!(admin.may(Permission::ManageAdministrators) && admin.may(Permission::ManageOrganization));
        assert!(!write.may(Permission::ManageOrganization));
        let scim_only = Actor::Integration {
            scopes: vec![Scope::Scim],
        };
        assert!(!scim_only.may(Permission::ReadTeam));
    }
}
