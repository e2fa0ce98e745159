//! What templates show: display-ready values built from domain types, so templates stay simple.

use chrono::NaiveDateTime;

use super::Flash;
use crate::domain::invitation::InvitationState;
use crate::domain::{Member, MemberStatus, Role};

/// The frame around every signed-in page.
pub struct Layout {
    pub organization: String,
    pub user: String,
    pub csrf: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    pub flash: Option<Flash>,
}

impl Layout {
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section { "page" } else { "false" }
    }
}

/// A UTC timestamp as people read it.
pub fn when(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: Option<NaiveDateTime>) -> String {
    t.map(when).unwrap_or_else(|| "never".to_owned())
}

/// One member as a row of the people list or the head of the member page.
pub struct MemberView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub status_reason: String,
    pub invitation: String,
    pub last_login: String,
    pub added: String,
    pub user_name: String,
    pub external_id: String,
    pub pending: bool,
    pub active: bool,
    pub registered: bool,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        let name = [m.first_name.as_deref(), m.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name.trim().is_empty() {
            m.display_name
                .clone()
                .unwrap_or_else(|| m.user_name.as_str().to_owned())
        } else {
            name
        };
        Self {
            id: m.id.to_string(),
            name,
            email: m.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            role: m.role.as_str(),
            status: m.status.as_str(),
            status_reason: m.status_reason.clone().unwrap_or_default(),
            invitation: m
                .invitation
                .as_ref()
                .map(|i| invitation_label(i.state, i.expires_at))
                .unwrap_or_else(|| "none".to_owned()),
            last_login: when_opt(m.last_login),
            added: when(m.added_date),
            user_name: m.user_name.as_str().to_owned(),
            external_id: m.external_id.clone().unwrap_or_default(),
            pending: m.status == MemberStatus::Pending,
            active: m.status == MemberStatus::Active,
            registered: m.user_id.is_some() || m.verified_at.is_some(),
        }
    }
}

pub fn invitation_label(state: InvitationState, expires_at: NaiveDateTime) -> String {
    match state {
        InvitationState::Queued => format!("queued, expires {}", when(expires_at)),
        InvitationState::Sent => format!("sent, expires {}", when(expires_at)),
        InvitationState::Expired => format!("expired {}", when(expires_at)),
        InvitationState::Accepted => "accepted".to_owned(),
        InvitationState::Cancelled => "cancelled".to_owned(),
        InvitationState::DeliveryFailed => "e-mail could not be delivered".to_owned(),
    }
}

/// A choice of a `<select>`.
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

pub fn role_choices(selected: Option<&str>) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str(),
            selected: selected == Some(r.as_str()),
        })
        .collect()
}

pub fn status_choices(selected: Option<&str>) -> Vec<Choice> {
    MemberStatus::ALL
        .iter()
        .map(|s| Choice {
            value: s.as_str(),
            selected: selected == Some(s.as_str()),
        })
        .collect()
}
