//! Audit events: who did what, through which door, to whom.

use std::fmt;

use serde_json::{Map, Value};

use super::{MemberId, OrganizationId};

/// The door a change came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Api,
    Scim,
    Cli,
    System,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Scim => "scim",
            Channel::Cli => "cli",
            Channel::System => "system",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acted, and the request's context, as recorded on every event it causes.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The acting identity: the member's `user_id` (or member id while unregistered), or `token:<id>`
    /// for an integration token, or `cli` / `system`.
    pub actor: String,
    pub actor_member_id: Option<MemberId>,
    pub channel: Channel,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 of the bearer token, base64url; never the token.
    pub token_hash: Option<String>,
}

impl AuditContext {
    pub fn cli() -> Self {
        Self {
            actor: "cli".into(),
            actor_member_id: None,
            channel: Channel::Cli,
            ip_address: None,
            user_agent: None,
            token_hash: None,
        }
    }

    pub fn system() -> Self {
        Self {
            actor: "system".into(),
            channel: Channel::System,
            ..Self::cli()
        }
    }
}

/// One event to write, in the same transaction as the change it records.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub organization_id: OrganizationId,
    pub event_name: &'static str,
    pub subject_member_id: Option<MemberId>,
    /// Ids of what was touched and any detail worth keeping (never a secret).
    pub metadata: Map<String, Value>,
}

impl NewAuditEvent {
    pub fn new(organization_id: OrganizationId, event_name: &'static str) -> Self {
        Self {
            organization_id,
            event_name,
            subject_member_id: None,
            metadata: Map::new(),
        }
    }

    pub fn about(mut self, member_id: MemberId) -> Self {
        self.subject_member_id = Some(member_id);
        self.metadata
            .insert("member_id".into(), Value::String(member_id.to_string()));
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }
}

/// Event names (seed 000's style).
pub mod events {
    pub const ORGANIZATION_CREATE: &str = "team.create";
    pub const ORGANIZATION_MODIFY: &str = "team.modify";
    pub const ORGANIZATION_DELETE: &str = "team.delete";
    pub const ORGANIZATION_SUMMARY: &str = "team.summary";
    pub const MEMBER_ADD: &str = "team_member.add";
    pub const MEMBER_REMOVE: &str = "team_member.remove";
    pub const MEMBER_LEAVE: &str = "team_member.leave";
    pub const TOKEN_CREATE: &str = "api_token.create";
    pub const TOKEN_REVOKE: &str = "api_token.revoke";
    pub const TEAM_LIST: &str = "team.list";
    pub const MEMBER_GET: &str = "team_member.get";
    pub const MEMBER_INVITE: &str = "team_member.invite";
    pub const MEMBER_CREATE: &str = "team_member.create";
    pub const MEMBER_INVITE_RESEND: &str = "team_member.invite_resend";
    pub const MEMBER_INVITE_CANCEL: &str = "team_member.invite_cancel";
    pub const MEMBER_MODIFY: &str = "team_member.modify";
    pub const MEMBER_REACTIVATE: &str = "team_member.reactivate";
    pub const MEMBER_DEACTIVATE: &str = "team_member.deactivate";
    pub const MEMBER_SUSPEND: &str = "team_member.suspend";
    pub const MEMBER_BLOCK: &str = "team_member.block";
    pub const MEMBER_ACTIVATE: &str = "team_member.activate";
    pub const AUDIT_LOG_LIST: &str = "audit_log.list";
    pub const MEMBER_INVITE_DELIVERED: &str = "team_member.invite_delivered";
    pub const MEMBER_INVITE_DELIVERY_FAILED: &str = "team_member.invite_delivery_failed";
    pub const MEMBER_INVITE_ACCEPT: &str = "team_member.invite_accept";
    /// The identity provider took away the organization's last active ADMINISTRATOR.
    pub const ORGANIZATION_WITHOUT_ADMINISTRATOR: &str = "team.without_administrator";
}
