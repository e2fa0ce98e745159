//! The invitation e-mail. The acceptance link holds a one-time token that is minted when the message
//! is sent and never stored, so the stored message carries a placeholder for it.

use chrono::NaiveDateTime;

/// Replaced by the acceptance URL when the message is sent.
pub const ACCEPT_URL_PLACEHOLDER: &str = "{{accept_url}}";

pub struct InvitationEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct InvitationDetails<'a> {
    pub organization_name: &'a str,
    pub inviter: &'a str,
    pub invitee_name: &'a str,
    pub role: super::Role,
    pub expires_at: NaiveDateTime,
}

impl InvitationEmail {
    pub fn render(d: &InvitationDetails<'_>) -> Self {
        let expires = d.expires_at.format("%Y-%m-%d %H:%M UTC");
        let greeting = if d.invitee_name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {},", d.invitee_name)
        };
        let subject = format!("You are invited to join {}", d.organization_name);
        let text = format!(
            "{greeting}\n\n{inviter} invited you to join {org} as {role}.\n\n\
             Accept the invitation: {url}\n\nThe link is valid until {expires} and can be used once.\n",
            inviter = d.inviter,
            org = d.organization_name,
            role = d.role,
            url = ACCEPT_URL_PLACEHOLDER,
        );
        let html = format!(
            "<!doctype html><html><body><p>{greeting}</p><p>{inviter} invited you to join <strong>{org}</strong> as {role}.</p>\
             <p><a href=\"{url}\">Accept the invitation</a></p><p>The link is valid until {expires} and can be used once.</p></body></html>",
            greeting = html_escape(&greeting),
            inviter = html_escape(d.inviter),
            org = html_escape(d.organization_name),
            role = d.role,
            url = ACCEPT_URL_PLACEHOLDER,
        );
        Self { subject, text, html }
    }
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
        let mail = InvitationEmail::render(&InvitationDetails {
            organization_name: "A&B <Corp>",
            inviter: "Eve",
            invitee_name: "Bob",
            role: super::super::Role::Checker,
            expires_at: crate::domain::now(),
        });
        assert!(mail.html.contains("A&amp;B &lt;Corp&gt;"));
        assert!(mail.text.contains(ACCEPT_URL_PLACEHOLDER) && mail.html.contains(ACCEPT_URL_PLACEHOLDER));
        assert!(mail.subject.contains("A&B <Corp>"));
    }
}
