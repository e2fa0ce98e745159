//! Invitation delivery (the outbox worker's tick) and acceptance.
//!
//! The acceptance token is minted at each delivery attempt, right before the e-mail leaves: the
//! invitation keeps only its hash, and the e-mail is the only place the token ever is.

use chrono::NaiveDateTime;

use super::team::attach_invitation;
use super::{ServiceError, ServiceResult, stored};
use crate::auth::{hash_token, random_secret};
use crate::domain::audit::{AuditContext, Channel, NewAuditEvent, events};
use crate::domain::email::{EmailTemplate, RenderedEmail, SIGN_IN_URL_PLACEHOLDER};
use crate::domain::invitation::ACCEPT_URL_PLACEHOLDER;
use crate::domain::{InvitationId, Member, MemberId, MemberStatus, OrganizationId, Role, UserId};
use crate::mail::{Mailer, OutgoingMail};
use crate::storage::{self, Database, InvitationRow, MemberChanges, OutboxRow, StorageError, UserRow};

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Base of acceptance links: `<public_url>/invitations/<token>`.
    pub public_url: String,
    /// Attempts before a message is marked failed.
    pub max_attempts: i32,
    /// Delay before the first retry; doubled at each further one, up to an hour.
    pub retry_base: chrono::Duration,
    /// How long a claimed message is reserved for the worker that claimed it.
    pub lease: chrono::Duration,
    /// Messages claimed per tick.
    pub batch: i64,
}

impl DeliveryPolicy {
    fn retry_delay(&self, attempts: i32) -> chrono::Duration {
        let exponent = (attempts.max(1) - 1).min(20) as u32;
        let delay = self.retry_base * 2i32.pow(exponent);
        delay.min(chrono::Duration::hours(1))
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// Messages whose invitation was no longer open when their turn came.
    pub dropped: usize,
}

/// One tick of the worker: claims due messages and tries each once.
pub fn deliver_due(db: &Database, mailer: &dyn Mailer, policy: &DeliveryPolicy) -> ServiceResult<DeliveryReport> {
    let now = crate::domain::now();
    let claimed = db.write(|conn| storage::claim_due_messages(conn, now, now + policy.lease, policy.batch))?;
    let mut report = DeliveryReport::default();
    for message in claimed {
        let id = message.id.clone();
        match deliver_one(db, mailer, message, policy) {
            Ok(Outcome::Sent) => report.sent += 1,
            Ok(Outcome::Retried) => report.retried += 1,
            Ok(Outcome::Failed) => report.failed += 1,
            Ok(Outcome::Dropped) => report.dropped += 1,
            // The lease runs out and another tick takes it again.
            Err(e) => tracing::error!(message_id = %id, error = %e, "delivery bookkeeping failed"),
        }
    }
    Ok(report)
}

enum Outcome {
    Sent,
    Retried,
    Failed,
    Dropped,
}

fn deliver_one(
    db: &Database,
    mailer: &dyn Mailer,
    message: OutboxRow,
    policy: &DeliveryPolicy,
) -> ServiceResult<Outcome> {
    let organization_id: OrganizationId = stored("email_outbox.organization_id", &message.organization_id)?;
    let invitation_id: Option<InvitationId> = message
        .invitation_id
        .as_deref()
        .map(|i| stored("email_outbox.invitation_id", i))
        .transpose()?;
    // Messages queued before templates were stored carry their rendered bodies.
    let rendered = match message.template.as_deref() {
        Some(stored_template) => EmailTemplate::from_json(stored_template)
            .map_err(|_| StorageError::Corrupt(format!("email_outbox {} template", message.id)))?
            .render(),
        None => RenderedEmail {
            subject: message.subject.clone(),
            text: message.body_text.clone(),
            html: message.body_html.clone(),
        },
    };
    let mut mail = OutgoingMail {
        to: message.recipient.clone(),
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    };

    // Mint this attempt's token, committed before the e-mail leaves so that the link works on arrival.
    let mut invited_member = None;
    if let Some(invitation_id) = invitation_id {
        let open = db.write(|conn| {
            let invitation = match storage::find_invitation(conn, organization_id, invitation_id) {
                Ok(i) if i.status == "SENT" => i,
                Ok(_) | Err(StorageError::NotFound) => return Ok::<_, ServiceError>(None),
                Err(e) => return Err(e.into()),
            };
            let token = random_secret();
            storage::set_invitation_token(conn, organization_id, invitation_id, &hash_token(&token))?;
            Ok(Some((invitation, token)))
        })?;
        let Some((invitation, token)) = open else {
            db.write(|conn| {
                storage::record_delivery(
                    conn,
                    organization_id,
                    &message.id,
                    "FAILED",
                    None,
                    Some("invitation closed"),
                    crate::domain::now(),
                )
            })?;
            return Ok(Outcome::Dropped);
        };
        let url = format!("{}/invitations/{token}", policy.public_url);
        mail.text = mail.text.replace(ACCEPT_URL_PLACEHOLDER, &url);
        mail.html = mail.html.replace(ACCEPT_URL_PLACEHOLDER, &url);
        invited_member = Some(stored::<MemberId>("invitations.member_id", &invitation.member_id)?);
    }

    if let Some(link_id) = message.sign_in_link_id.as_deref() {
        match super::console::mint_sign_in_url(db, organization_id, link_id, &policy.public_url)? {
            Some(url) => {
                mail.text = mail.text.replace(SIGN_IN_URL_PLACEHOLDER, &url);
                mail.html = mail.html.replace(SIGN_IN_URL_PLACEHOLDER, &url);
            }
            None => {
                db.write(|conn| {
                    storage::record_delivery(
                        conn,
                        organization_id,
                        &message.id,
                        "FAILED",
                        None,
                        Some("sign-in link used or expired"),
                        crate::domain::now(),
                    )
                })?;
                return Ok(Outcome::Dropped);
            }
        }
    }

    let result = mailer.send(&mail);
    let now = crate::domain::now();
    // A sign-in e-mail's outcome lives on its outbox row; the audit log records its request.
    let audited = message.sign_in_link_id.is_none();
    let context = AuditContext::system();
    db.write(|conn| {
        let event = |name| {
            let mut e = NewAuditEvent::new(organization_id, name).with("message_id", message.id.clone());
            if let Some(m) = invited_member {
                e = e.about(m);
            }
            if let Some(i) = invitation_id {
                e = e.with("invitation_id", i.to_string());
            }
            e
        };
        // The organization may have been deleted while the e-mail was on its way: then there is
        // nothing left to record, and no event to write after its deletion.
        let (status, retry_at) = match &result {
            Ok(()) => ("SENT", None),
            Err(_) if message.attempts >= policy.max_attempts => ("FAILED", None),
            Err(_) => ("PENDING", Some(now + policy.retry_delay(message.attempts))),
        };
        let error = result.as_ref().err().map(|e| e.to_string());
        if !storage::record_delivery(conn, organization_id, &message.id, status, retry_at, error.as_deref(), now)? {
            return Ok(Outcome::Dropped);
        }
        match &result {
            Ok(()) => {
                if let Some(i) = invitation_id {
                    storage::set_invitation_delivery(conn, organization_id, i, "SENT", Some(now))?;
                }
                if audited {
                    storage::insert_audit_event(conn, &context, &event(events::MEMBER_INVITE_DELIVERED), now)?;
                }
                Ok(Outcome::Sent)
            }
            Err(e) if message.attempts >= policy.max_attempts => {
                let error = e.to_string();
                if let Some(i) = invitation_id {
                    storage::set_invitation_delivery(conn, organization_id, i, "FAILED", None)?;
                }
                let failed = event(events::MEMBER_INVITE_DELIVERY_FAILED)
                    .with("attempts", message.attempts)
                    .with("error", error.clone());
                if audited {
                    storage::insert_audit_event(conn, &context, &failed, now)?;
                }
                tracing::warn!(message_id = %message.id, attempts = message.attempts, error = %error, "e-mail failed for good");
                Ok(Outcome::Failed)
            }
            Err(e) => {
                let next = retry_at.unwrap_or(now);
                tracing::info!(message_id = %message.id, attempts = message.attempts, retry_at = %next, error = %e, "e-mail delivery will be retried");
                Ok(Outcome::Retried)
            }
        }
    })
}

/// Why an acceptance link does not work.
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("this invitation link is not valid")]
    NotFound,
    #[error("this invitation has expired; ask for a new one")]
    Expired,
    #[error("this invitation has already been accepted")]
    AlreadyAccepted,
    #[error("this invitation was cancelled or replaced by a newer one")]
    Closed,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StorageError> for InvitationError {
    fn from(e: StorageError) -> Self {
        InvitationError::Service(e.into())
    }
}

/// A person invited by their id (without their profile) shares it by accepting: their address
/// becomes the member's e-mail and userName, with their name. When another member of the
/// organization already holds that address or userName, the member keeps its placeholder rather
/// than failing the acceptance.
fn share_profile(
    conn: &mut storage::DbConnection,
    member: &Member,
    address: &str,
    now: NaiveDateTime,
) -> Result<Member, InvitationError> {
    let Ok(email) = crate::domain::Email::parse(address) else {
        return Ok(member.clone());
    };
    let person = match member.user_id {
        Some(user_id) => storage::find_user(conn, user_id)?,
        None => None,
    };
    let user_name = crate::domain::UserName::from(&email);
    let changes = MemberChanges {
        user_name: Some(user_name.as_str().to_owned()),
        user_name_ci: Some(user_name.key()),
        email: Some(Some(email.as_str().to_owned())),
        email_ci: Some(Some(email.key())),
        first_name: Some(person.as_ref().and_then(|p| p.first_name.clone())),
        last_name: Some(person.as_ref().and_then(|p| p.last_name.clone())),
        ..MemberChanges::default()
    };
    // A savepoint: a unique-index refusal undoes this step only, not the acceptance.
    let shared = diesel::Connection::transaction(conn, |c| {
        let row = storage::update_member(c, member.organization_id, member.id, &changes, now)?;
        storage::set_member_emails(c, member.organization_id, member.id, &[email.as_str().to_owned()])?;
        Ok::<_, StorageError>(row)
    });
    match shared {
        Ok(row) => Ok(Member::try_from(row)?),
        Err(StorageError::UniqueViolation { .. }) => Ok(member.clone()),
        Err(e) => Err(e.into()),
    }
}

/// What the acceptance page shows.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub organization_name: String,
    pub email: String,
    pub first_name: Option<String>,
    pub role: Role,
    pub expires_at: NaiveDateTime,
}

/// The open invitation behind a token, or why there is none.
fn open_invitation(
    conn: &mut storage::DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<InvitationRow, InvitationError> {
    // Tokens are 43 base64url characters; anything else cannot match and is not worth a query.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(InvitationError::NotFound);
    }
    let invitation =
        storage::find_invitation_by_token_hash(conn, &hash_token(token))?.ok_or(InvitationError::NotFound)?;
    match invitation.status.as_str() {
        "SENT" if invitation.expires_at <= now => Err(InvitationError::Expired),
        "SENT" => Ok(invitation),
        "ACCEPTED" => Err(InvitationError::AlreadyAccepted),
        _ => Err(InvitationError::Closed),
    }
}

pub fn describe_invitation(db: &Database, token: &str) -> Result<InvitationView, InvitationError> {
    let mut conn = db.get()?;
    let invitation = open_invitation(&mut conn, token, crate::domain::now())?;
    let organization_id: OrganizationId = stored("invitations.organization_id", &invitation.organization_id)?;
    let member_id: MemberId = stored("invitations.member_id", &invitation.member_id)?;
    let organization = storage::find_organization(&mut conn, organization_id)?;
    let member = Member::try_from(storage::find_member(&mut conn, organization_id, member_id)?)?;
    Ok(InvitationView {
        organization_name: organization.name,
        email: invitation.email,
        first_name: member.first_name,
        role: member.role,
        expires_at: invitation.expires_at,
    })
}

/// Accepts an invitation: the person is registered (or found, if they already are), the member
/// becomes ACTIVE with its `user_id`, and the token is used up.
pub fn accept_invitation(
    db: &Database,
    token: &str,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Result<Member, InvitationError> {
    db.write(|conn| {
        let now = crate::domain::now();
        let invitation = open_invitation(conn, token, now)?;
        let organization_id: OrganizationId = stored("invitations.organization_id", &invitation.organization_id)?;
        let invitation_id: InvitationId = stored("invitations.id", &invitation.id)?;
        let member_id: MemberId = stored("invitations.member_id", &invitation.member_id)?;
        let member = Member::try_from(storage::find_member(conn, organization_id, member_id)?)?;
        if member.status != MemberStatus::Pending || member.removed {
            return Err(InvitationError::Closed);
        }
        if !storage::mark_invitation_accepted(conn, organization_id, invitation_id, now)? {
            return Err(InvitationError::AlreadyAccepted);
        }
        let email_key = invitation.email.to_lowercase();
        let user_id: UserId = match storage::find_user_by_email(conn, &email_key)? {
            Some(user) => stored("users.id", &user.id)?,
            None => {
                let id = UserId::new();
                storage::insert_user(
                    conn,
                    &UserRow {
                        id: id.to_string(),
                        email: invitation.email.clone(),
                        email_ci: email_key,
                        first_name: member.first_name.clone(),
                        last_name: member.last_name.clone(),
                        created_at: now,
                        verified_at: Some(now),
                    },
                )?;
                id
            }
        };
        let changes = MemberChanges {
            user_id: Some(Some(user_id.to_string())),
            status: Some(MemberStatus::Active.as_str().to_owned()),
            verified_at: Some(Some(now)),
            ..MemberChanges::default()
        };
        let mut updated = Member::try_from(storage::update_member(conn, organization_id, member_id, &changes, now)?)?;
        if updated.email.is_none() {
            updated = share_profile(conn, &updated, &invitation.email, now)?;
        }
        let context = AuditContext {
            actor: user_id.to_string(),
            actor_member_id: Some(member_id),
            channel: Channel::Api,
            ip_address,
            user_agent,
            token_hash: None,
        };
        let event = NewAuditEvent::new(organization_id, events::MEMBER_INVITE_ACCEPT)
            .about(member_id)
            .with("invitation_id", invitation_id.to_string())
            .with("user_id", user_id.to_string());
        storage::insert_audit_event(conn, &context, &event, now)?;
        Ok(attach_invitation(conn, updated, now)?)
    })
}
