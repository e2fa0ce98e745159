//! The invitation e-mail. The acceptance link holds a one-time token that is minted when the message
//! is sent and never stored, so the stored message carries a placeholder for it.

use chrono::NaiveDateTime;

use super::email::RenderedEmail;

/// Replaced by the acceptance URL when the message is sent.
pub const ACCEPT_URL_PLACEHOLDER: &str = "{{accept_url}}";

/// What a member's latest invitation amounts to, as shown with the member (seed 003's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvitationState {
    /// Open and not expired, its e-mail not delivered yet (waiting for the worker, or for a mail
    /// server that refused or could not be reached; retried with backoff).
    Queued,
    /// Open and not expired, its e-mail handed to the mail server.
    Sent,
    /// Open, but past its expiry: resend it.
    Expired,
    Accepted,
    Cancelled,
    /// The e-mail could not be delivered after every retry.
    DeliveryFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationSummary {
    pub state: InvitationState,
    pub expires_at: NaiveDateTime,
}

impl InvitationSummary {
    /// Reads an invitation's stored status and delivery status at `now`.
    pub fn at(status: &str, delivery_status: &str, expires_at: NaiveDateTime, now: NaiveDateTime) -> Self {
        let state = match status {
            "ACCEPTED" => InvitationState::Accepted,
            "SENT" if delivery_status == "FAILED" => InvitationState::DeliveryFailed,
            "SENT" if expires_at <= now => InvitationState::Expired,
            "SENT" if delivery_status == "SENT" => InvitationState::Sent,
            "SENT" => InvitationState::Queued,
            _ => InvitationState::Cancelled,
        };
        Self { state, expires_at }
    }
}

pub struct InvitationDetails<'a> {
    pub organization_name: &'a str,
    pub inviter: &'a str,
    pub invitee_name: &'a str,
    pub role: super::Role,
    pub expires_at: NaiveDateTime,
}

impl InvitationDetails<'_> {
    pub fn render(&self) -> RenderedEmail {
        let expires = self.expires_at.format("%Y-%m-%d %H:%M UTC");
        let greeting = if self.invitee_name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {},", self.invitee_name)
        };
        let subject = invitation_subject(self.organization_name);
        let text = format!(
            "{greeting}\n\n{inviter} invited you to join {org} as {role}.\n\n\
             Accept the invitation: {url}\n\nThe link is valid until {expires} and can be used once.\n",
            inviter = self.inviter,
            org = self.organization_name,
            role = self.role,
            url = ACCEPT_URL_PLACEHOLDER,
        );
        let html = format!(
            "<!doctype html><html><body><p>{greeting}</p><p>{inviter} invited you to join <strong>{org}</strong> as {role}.</p>\
             <p><a href=\"{url}\">Accept the invitation</a></p><p>The link is valid until {expires} and can be used once.</p></body></html>",
            greeting = html_escape(&greeting),
            inviter = html_escape(self.inviter),
            org = html_escape(self.organization_name),
            role = self.role,
            url = ACCEPT_URL_PLACEHOLDER,
        );
        RenderedEmail { subject, text, html }
    }
}

pub fn invitation_subject(organization_name: &str) -> String {
    format!("You are invited to join {organization_name}")
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_the_link_is_a_placeholder() {
        let mail = (InvitationDetails {
            organization_name: "A&B <Corp>",
            inviter: "Eve",
            invitee_name: "Bob",
            role: super::super::Role::Checker,
            expires_at: crate::domain::now(),
        })
        .render();
        assert!(mail.html.contains("A&amp;B &lt;Corp&gt;"));
        assert!(mail.text.contains(ACCEPT_URL_PLACEHOLDER) && mail.html.contains(ACCEPT_URL_PLACEHOLDER));
        assert!(mail.subject.contains("A&B <Corp>"));
    }

    #[test]
    fn an_invitation_reads_sent_only_once_its_e_mail_left() {
        let now = crate::domain::now();
        let later = now + chrono::Duration::hours(1);
        let state = |status, delivery| InvitationSummary::at(status, delivery, later, now).state;
        assert_eq!(state("SENT", "PENDING"), InvitationState::Queued);
        assert_eq!(state("SENT", "SENT"), InvitationState::Sent);
        assert_eq!(state("SENT", "FAILED"), InvitationState::DeliveryFailed);
        assert_eq!(state("ACCEPTED", "SENT"), InvitationState::Accepted);
        assert_eq!(state("REVOKED", "PENDING"), InvitationState::Cancelled);
        assert_eq!(
            InvitationSummary::at("SENT", "PENDING", now, later).state,
            InvitationState::Expired
        );
    }
}
