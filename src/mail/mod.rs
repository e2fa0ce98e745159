//! Sending e-mail: over SMTP (lettre, with TLS or STARTTLS and credentials) in production, or as
//! `.eml` files in a directory on the zero-set-up default.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

/// A message ready to go.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("delivery failed: {0}")]
    Delivery(String),
}

pub trait Mailer: Send + Sync {
    /// Sends one message. An error means it may be retried.
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
    /// Where messages go, for logs.
    fn describe(&self) -> String;
}

fn build(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail.to.parse().map_err(|_| MailError::Address(mail.to.clone()))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(|e| MailError::Build(e.to_string()))
}

/// Writes each message as `<uuid>.eml` in a directory, and logs the path.
pub struct FileMailer {
    from: Mailbox,
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(from: Mailbox, dir: PathBuf) -> Self {
        Self { from, dir }
    }
}

impl Mailer for FileMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(&self.from, mail)?;
        std::fs::create_dir_all(&self.dir).map_err(|e| MailError::Delivery(format!("{}: {e}", self.dir.display())))?;
        // Written aside, then renamed: whoever picks up `*.eml` files never reads half a message.
        let name = uuid::Uuid::now_v7();
        let (partial, path) = (
            self.dir.join(format!("{name}.part")),
            self.dir.join(format!("{name}.eml")),
        );
        std::fs::write(&partial, message.formatted())
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| MailError::Delivery(format!("{}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), "e-mail written to file");
        Ok(())
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Implicit TLS (SMTPS, usually port 465).
    Tls,
    /// STARTTLS, required (usually port 587): nothing is sent unencrypted.
    StartTls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub timeout: Duration,
}

pub struct SmtpMailer {
    from: Mailbox,
    transport: SmtpTransport,
    target: String,
}

impl SmtpMailer {
    pub fn new(from: Mailbox, settings: &SmtpSettings) -> Result<Self, MailError> {
        let builder = match settings.security {
            SmtpSecurity::Tls => SmtpTransport::relay(&settings.host),
            SmtpSecurity::StartTls => SmtpTransport::starttls_relay(&settings.host),
            SmtpSecurity::None => Ok(SmtpTransport::builder_dangerous(&settings.host)),
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            from,
            transport: builder.build(),
            target: format!("smtp {}:{} ({:?})", settings.host, settings.port, settings.security),
        })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(&self.from, mail)?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| MailError::Delivery(e.to_string()))
    }

    fn describe(&self) -> String {
        self.target.clone()
    }
}

/// Parses a sender such as `roster <no-reply@example.com>`.
pub fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.parse().map_err(|e| format!("not an e-mail address: {e}"))
}
