//! The e-mails roster sends. The outbox keeps what a message says (its template and the values that
//! fill it) and renders the bodies when the message leaves: rendered text and HTML made up most of
//! an outbox row, and a row stays for every invitation ever sent.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::Role;
use super::invitation::{InvitationDetails, html_escape, invitation_subject};

/// Replaced by the one-time console sign-in URL when the message is sent.
pub const SIGN_IN_URL_PLACEHOLDER: &str = "{{sign_in_url}}";

/// A message ready for the mailer, but for the link placeholders the sender fills in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a queued message says. Stored as short JSON (`t` names the template); the values are the
/// ones of the moment it was queued, so a message renders the same whenever it leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum EmailTemplate {
    #[serde(rename = "invitation")]
    Invitation {
        #[serde(rename = "o")]
        organization_name: String,
        #[serde(rename = "i")]
        inviter: String,
        #[serde(rename = "n", default, skip_serializing_if = "String::is_empty")]
        invitee_name: String,
        #[serde(rename = "r")]
        role: Role,
        #[serde(rename = "x")]
        expires_at: NaiveDateTime,
    },
    #[serde(rename = "sign_in")]
    SignIn {
        #[serde(rename = "o")]
        organization_name: String,
        /// How long the link works, as the message says it.
        #[serde(rename = "m")]
        minutes: i64,
    },
}

impl EmailTemplate {
    /// The subject line alone (the outbox lists it), without rendering the bodies.
    pub fn subject(&self) -> String {
        match self {
            Self::Invitation { organization_name, .. } => invitation_subject(organization_name),
            Self::SignIn { organization_name, .. } => format!("Sign in to roster: {organization_name}"),
        }
    }

    pub fn render(&self) -> RenderedEmail {
        match self {
            Self::Invitation {
                organization_name,
                inviter,
                invitee_name,
                role,
                expires_at,
            } => InvitationDetails {
                organization_name,
                inviter,
                invitee_name,
                role: *role,
                expires_at: *expires_at,
            }
            .render(),
            Self::SignIn {
                organization_name,
                minutes,
            } => RenderedEmail {
                subject: self.subject(),
                text: format!(
                    "Someone (hopefully you) asked to sign in to the roster console of {organization_name}.\n\n\
                     Sign in: {SIGN_IN_URL_PLACEHOLDER}\n\nThe link works once, for {minutes} minutes. \
                     If you did not ask for it, ignore this e-mail.\n",
                ),
                html: format!(
                    "<p>Someone (hopefully you) asked to sign in to the roster console of {org}.</p>\
                     <p><a href=\"{SIGN_IN_URL_PLACEHOLDER}\">Sign in to the console</a></p>\
                     <p>The link works once, for {minutes} minutes. If you did not ask for it, ignore this e-mail.</p>",
                    org = html_escape(organization_name),
                ),
            },
        }
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a template serialises")
    }

    pub fn from_json(stored: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_template_renders_as_the_message_it_was_queued_as() {
        let template = EmailTemplate::Invitation {
            organization_name: "A&B".into(),
            inviter: "An administrator of A&B".into(),
            invitee_name: String::new(),
            role: Role::Checker,
            expires_at: crate::domain::now(),
        };
        let stored = template.to_json();
        assert!(stored.len() < 160, "{stored}");
        let back = EmailTemplate::from_json(&stored).unwrap();
        assert_eq!(back, template);
        let mail = back.render();
        assert_eq!(mail.subject, "You are invited to join A&B");
        assert_eq!(back.subject(), mail.subject);
        assert!(mail.text.starts_with("Hello,\n") && mail.html.contains("A&amp;B"));

        let sign_in = EmailTemplate::SignIn {
            organization_name: "<Acme>".into(),
            minutes: 15,
        };
        let mail = EmailTemplate::from_json(&sign_in.to_json()).unwrap().render();
        assert!(mail.text.contains("for 15 minutes") && mail.text.contains(SIGN_IN_URL_PLACEHOLDER));
        assert!(mail.html.contains("&lt;Acme&gt;") && mail.html.contains(SIGN_IN_URL_PLACEHOLDER));
        assert!(EmailTemplate::from_json("{\"t\":\"nope\"}").is_err());
    }
}
