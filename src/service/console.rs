//! The admin console's use cases: signing in (with an `org:admin` token, or by a single-use link
//! e-mailed to an administrator), resolving a session on each request, signing out, and reading the
//! provisioning activity log. The console's other pages call the same use cases as the native API.

use chrono::NaiveDateTime;

use super::{ServiceError, ServiceResult, stored};
use crate::auth::{AuthError, TokenSigner, authenticate, hash_token, random_secret};
use crate::domain::audit::{AuditContext, Channel, NewAuditEvent};
use crate::domain::email::EmailTemplate;
use crate::domain::{Actor, Email, MemberId, MemberStatus, OrganizationId, Role, Scope, TokenId};
use crate::storage::{self, ConsoleSessionRow, Database, DbConnection, OutboxRow, SignInLinkRow, StorageError};

/// Audit event names of the console.
pub mod events {
    pub const SIGN_IN: &str = "console.sign_in";
    pub const SIGN_OUT: &str = "console.sign_out";
    pub const SIGN_IN_LINK: &str = "console.sign_in_link";
}

/// How long an e-mailed sign-in link works.
pub const SIGN_IN_LINK_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// Shortest time between two sign-in e-mails to one administrator.
const SIGN_IN_LINK_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// Why a console request is not signed in; every case sends the browser back to the sign-in page.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not signed in")]
    Missing,
    #[error("the session has expired")]
    Expired,
    #[error("the session ended: {0}")]
    Ended(&'static str),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StorageError> for SessionError {
    fn from(e: StorageError) -> Self {
        SessionError::Service(e.into())
    }
}

/// Who is signed in to a console session, as the domain's rules see them.
#[derive(Debug, Clone)]
pub struct ConsoleIdentity {
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub actor: Actor,
    /// What the page header shows: the member's name or e-mail, or the token's name.
    pub display_name: String,
    /// The form token every state-changing request must carry.
    pub csrf_token: String,
    pub expires_at: NaiveDateTime,
    audit_actor: String,
    actor_member_id: Option<MemberId>,
    token_hash: Option<String>,
}

impl ConsoleIdentity {
    /// The console is a client of the native domain: its changes are recorded on the `api` channel.
    pub fn audit_context(&self, ip_address: Option<String>, user_agent: Option<String>) -> AuditContext {
        AuditContext {
            actor: self.audit_actor.clone(),
            actor_member_id: self.actor_member_id,
            channel: Channel::Api,
            ip_address,
            user_agent,
            token_hash: self.token_hash.clone(),
        }
    }
}

/// A new session: the cookie value to set (shown to the browser once) and when it ends.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub cookie: String,
    pub expires_at: NaiveDateTime,
}

/// `<organization id>.<secret>`: the organization scopes every lookup; only the secret's hash is kept.
fn split_credential(value: &str) -> Option<(OrganizationId, &str)> {
    let (organization, secret) = value.split_once('.')?;
    let organization_id = organization.parse().ok()?;
    (!secret.is_empty() && secret.len() <= 128).then_some((organization_id, secret))
}

fn open_session(
    conn: &mut DbConnection,
    organization_id: OrganizationId,
    member_id: Option<MemberId>,
    token_id: Option<TokenId>,
    ttl: chrono::Duration,
    context: &AuditContext,
    method: &str,
) -> ServiceResult<NewSession> {
    let now = crate::domain::now();
    let secret = random_secret();
    let expires_at = now + ttl;
    storage::insert_console_session(
        conn,
        organization_id,
        &ConsoleSessionRow {
            id_hash: hash_token(&secret),
            organization_id: organization_id.to_string(),
            member_id: member_id.map(|m| m.to_string()),
            token_id: token_id.map(|t| t.to_string()),
            csrf_token: random_secret(),
            created_at: now,
            expires_at,
        },
    )?;
    let mut event = NewAuditEvent::new(organization_id, events::SIGN_IN).with("method", method.to_owned());
    if let Some(m) = member_id {
        event = event.about(m);
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(NewSession {
        cookie: format!("{organization_id}.{secret}"),
        expires_at,
    })
}

/// Signs in with a bearer token of the organization that carries `org:admin` (the operator's way
/// in on a first run, with the bootstrap token).
pub fn sign_in_with_token(
    db: &Database,
    signer: &TokenSigner,
    token: &str,
    ttl: chrono::Duration,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Result<NewSession, SessionError> {
    let principal = match authenticate(db, signer, token.trim(), crate::domain::now()) {
        Ok(p) => p,
        Err(AuthError::Storage(e)) => return Err(e.into()),
        Err(_) => {
            return Err(SessionError::Ended(
                "this token is not valid, or has been revoked or has expired",
            ));
        }
    };
    if !principal.has_scope(Scope::OrgAdmin) {
        return Err(SessionError::Ended(
            "the console needs a token with the org:admin scope",
        ));
    }
    let context = principal.audit_context(Channel::Api, ip_address, user_agent);
    Ok(db.write(|conn| {
        open_session(
            conn,
            principal.organization_id,
            None,
            Some(principal.token_id),
            ttl,
            &context,
            "token",
        )
    })?)
}

/// Sends a sign-in link to every organization where `email` belongs to a registered, active
/// administrator. Says nothing about whether any did (the page answers the same either way).
pub fn request_sign_in_links(db: &Database, email: &Email, context: &AuditContext) -> ServiceResult<usize> {
    db.write(|conn| {
        let now = crate::domain::now();
        let Some(user) = storage::find_user_by_email(conn, &email.key())? else {
            return Ok(0);
        };
        let mut sent = 0;
        for (organization, member) in storage::memberships_of_user(conn, stored("users.id", &user.id)?)? {
            let role: Role = stored("members.role", &member.role)?;
            if member.status != MemberStatus::Active.as_str() || !role.is_admin() {
                continue;
            }
            let organization_id: OrganizationId = stored("organizations.id", &organization.id)?;
            let member_id: MemberId = stored("members.id", &member.id)?;
            // One e-mail a minute per administrator at most: the form answers anyone.
            if storage::recent_sign_in_link(conn, organization_id, member_id, now - SIGN_IN_LINK_INTERVAL)? {
                continue;
            }
            let link_id = uuid::Uuid::now_v7().to_string();
            storage::insert_sign_in_link(
                conn,
                organization_id,
                &SignInLinkRow {
                    id: link_id.clone(),
                    organization_id: organization_id.to_string(),
                    member_id: member_id.to_string(),
                    token_hash: None,
                    created_at: now,
                    expires_at: now + SIGN_IN_LINK_TTL,
                    used_at: None,
                },
            )?;
            let template = EmailTemplate::SignIn {
                organization_name: organization.name.clone(),
                minutes: SIGN_IN_LINK_TTL.num_minutes(),
            };
            let subject = template.subject();
            storage::insert_outbox_message(
                conn,
                organization_id,
                &OutboxRow {
                    sign_in_link_id: Some(link_id.clone()),
                    ..OutboxRow::queued(organization_id, user.email.clone(), subject, template.to_json(), now)
                },
            )?;
            let event = NewAuditEvent::new(organization_id, events::SIGN_IN_LINK)
                .about(member_id)
                .with("link_id", link_id);
            storage::insert_audit_event(conn, context, &event, now)?;
            sent += 1;
        }
        Ok(sent)
    })
}

/// Mints the secret of a sign-in e-mail about to leave: its URL, or `None` when the link was used
/// or has expired meanwhile (then the e-mail is dropped).
pub(crate) fn mint_sign_in_url(
    db: &Database,
    organization_id: OrganizationId,
    link_id: &str,
    public_url: &str,
) -> ServiceResult<Option<String>> {
    db.write(|conn| {
        let link = match storage::find_sign_in_link(conn, organization_id, link_id) {
            Ok(l) => l,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if link.used_at.is_some() || link.expires_at <= crate::domain::now() {
            return Ok(None);
        }
        let secret = random_secret();
        if !storage::set_sign_in_link_token(conn, organization_id, link_id, &hash_token(&secret))? {
            return Ok(None);
        }
        Ok(Some(format!("{public_url}/console/link/{organization_id}.{secret}")))
    })
}

/// Uses an e-mailed link: a session for its member, if the member is still an active administrator.
pub fn sign_in_with_link(
    db: &Database,
    credential: &str,
    ttl: chrono::Duration,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Result<NewSession, SessionError> {
    const UNUSABLE: &str = "this sign-in link has been used, has expired or is not valid; ask for a new one";
    let (organization_id, secret) = split_credential(credential).ok_or(SessionError::Ended(UNUSABLE))?;
    db.write(|conn| {
        let now = crate::domain::now();
        let link = storage::use_sign_in_link(conn, organization_id, &hash_token(secret), now)?
            .ok_or(SessionError::Ended(UNUSABLE))?;
        if link.expires_at <= now {
            return Err(SessionError::Ended(UNUSABLE));
        }
        let member_id: MemberId = stored("console_sign_in_links.member_id", &link.member_id)?;
        let member = storage::find_member(conn, organization_id, member_id)?;
        let role: Role = stored("members.role", &member.role)?;
        if member.status != MemberStatus::Active.as_str() || member.removed_at.is_some() || !role.is_admin() {
            return Err(SessionError::Ended("this member is no longer an active administrator"));
        }
        let context = AuditContext {
            actor: member.user_id.clone().unwrap_or_else(|| member_id.to_string()),
            actor_member_id: Some(member_id),
            channel: Channel::Api,
            ip_address,
            user_agent,
            token_hash: None,
        };
        Ok(open_session(
            conn,
            organization_id,
            Some(member_id),
            None,
            ttl,
            &context,
            "email_link",
        )?)
    })
}

/// The identity behind a session cookie, checked afresh on every request: the session must be
/// unexpired, its token live, its member still an active administrator. A session that fails is
/// deleted.
pub fn resolve_session(db: &Database, cookie: &str) -> Result<ConsoleIdentity, SessionError> {
    let (organization_id, secret) = split_credential(cookie).ok_or(SessionError::Missing)?;
    let id_hash = hash_token(secret);
    let mut conn = db.get()?;
    let conn = &mut *conn;
    let session = match storage::find_console_session(conn, organization_id, &id_hash) {
        Ok(s) => s,
        Err(StorageError::NotFound) => return Err(SessionError::Missing),
        Err(e) => return Err(e.into()),
    };
    let now = crate::domain::now();
    let end = |conn: &mut DbConnection, why: SessionError| -> Result<ConsoleIdentity, SessionError> {
        storage::delete_console_session(conn, organization_id, &id_hash)?;
        Err(why)
    };
    if session.expires_at <= now {
        return end(conn, SessionError::Expired);
    }
    let organization = match storage::find_organization(conn, organization_id) {
        Ok(o) => o,
        Err(StorageError::NotFound) => return Err(SessionError::Missing),
        Err(e) => return Err(e.into()),
    };
    let mut token_hash = None;
    let mut acting_member = session
        .member_id
        .as_deref()
        .map(|m| stored::<MemberId>("console_sessions.member_id", m))
        .transpose()?;
    let mut display_name = String::new();
    let mut scopes = None;
    if let Some(token_id) = session.token_id.as_deref() {
        let token_id: TokenId = stored("console_sessions.token_id", token_id)?;
        let token = match storage::find_token(conn, organization_id, token_id) {
            Ok(t) => t,
            Err(StorageError::NotFound) => return end(conn, SessionError::Ended("its token was deleted")),
            Err(e) => return Err(e.into()),
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return end(conn, SessionError::Ended("its token was revoked or has expired"));
        }
        display_name = format!("token “{}”", token.name);
        token_hash = Some(token.token_hash.clone());
        let token_scopes = Scope::parse_list(&token.scopes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        match token.member_id.as_deref() {
            Some(m) => acting_member = Some(stored("api_tokens.member_id", m)?),
            None => scopes = Some(token_scopes),
        }
    }
    let (actor, audit_actor) = match (acting_member, scopes) {
        (Some(member_id), _) => {
            let member = match storage::find_member(conn, organization_id, member_id) {
                Ok(m) => m,
                Err(StorageError::NotFound) => return end(conn, SessionError::Ended("its member was removed")),
                Err(e) => return Err(e.into()),
            };
            let role: Role = stored("members.role", &member.role)?;
            if member.status != MemberStatus::Active.as_str() || member.removed_at.is_some() {
                return end(conn, SessionError::Ended("its member is no longer active"));
            }
            if session.token_id.is_none() && !role.is_admin() {
                return end(conn, SessionError::Ended("its member is no longer an administrator"));
            }
            if display_name.is_empty() {
                display_name = [member.first_name.as_deref(), member.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if display_name.trim().is_empty() {
                    display_name = member.email.clone().unwrap_or_else(|| member.user_name.clone());
                }
            }
            (
                Actor::Member { member_id, role },
                member.user_id.unwrap_or_else(|| member_id.to_string()),
            )
        }
        (None, Some(scopes)) => (
            Actor::Integration { scopes },
            format!("token:{}", session.token_id.as_deref().unwrap_or_default()),
        ),
        (None, None) => return end(conn, SessionError::Ended("it names no one")),
    };
    Ok(ConsoleIdentity {
        organization_id,
        organization_name: organization.name,
        actor,
        display_name,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
        audit_actor,
        actor_member_id: acting_member,
        token_hash,
    })
}

/// Ends the session behind `cookie` (if any) and records the sign-out.
pub fn sign_out(db: &Database, cookie: &str, identity: &ConsoleIdentity, context: &AuditContext) -> ServiceResult<()> {
    let Some((organization_id, secret)) = split_credential(cookie) else {
        return Ok(());
    };
    db.write(|conn| {
        storage::delete_console_session(conn, organization_id, &hash_token(secret))?;
        let mut event = NewAuditEvent::new(identity.organization_id, events::SIGN_OUT);
        if let Some(m) = identity.actor_member_id {
            event = event.about(m);
        }
        storage::insert_audit_event(conn, context, &event, crate::domain::now())?;
        Ok(())
    })
}

/// One recorded SCIM request.
#[derive(Debug, Clone)]
pub struct Activity {
    pub id: i64,
    pub at: NaiveDateTime,
    pub client: String,
    pub method: String,
    pub path: String,
    pub operation: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub status: i32,
    pub succeeded: bool,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub duration_ms: i32,
}

impl From<storage::ActivityRow> for Activity {
    fn from(r: storage::ActivityRow) -> Self {
        Self {
            id: r.id,
            at: r.at,
            client: r.client,
            method: r.method,
            path: r.path,
            operation: r.operation,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            status: r.status,
            succeeded: r.succeeded,
            scim_type: r.scim_type,
            detail: r.detail,
            duration_ms: r.duration_ms,
        }
    }
}

/// A page of the activity log (newest first) and the cursor of the next page.
pub fn list_activity(
    db: &Database,
    organization_id: OrganizationId,
    succeeded: Option<bool>,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<(Vec<Activity>, Option<i64>)> {
    let mut conn = db.get()?;
    let mut rows = storage::list_activity(&mut conn, organization_id, succeeded, before, limit + 1)?;
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    });
    Ok((rows.into_iter().map(Activity::from).collect(), next.flatten()))
}

/// Requests per hour over the last `hours` hours, oldest first: (hour start, succeeded, failed).
pub fn activity_per_hour(
    db: &Database,
    organization_id: OrganizationId,
    hours: i64,
) -> ServiceResult<Vec<(NaiveDateTime, i64, i64)>> {
    use chrono::Timelike;
    let now = crate::domain::now();
    let first = (now - chrono::Duration::hours(hours - 1))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let mut conn = db.get()?;
    let counts = storage::activity_per_hour(&mut conn, organization_id, first)?;
    let mut out: Vec<(NaiveDateTime, i64, i64)> =
        (0..hours).map(|h| (first + chrono::Duration::hours(h), 0, 0)).collect();
    for c in counts {
        let Ok(hour) = NaiveDateTime::parse_from_str(&format!("{}:00:00", c.hour), "%Y-%m-%d %H:%M:%S") else {
            continue;
        };
        let index = (hour - first).num_hours();
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
            if c.succeeded {
                slot.1 += c.requests;
            } else {
                slot.2 += c.requests;
            }
        }
    }
    Ok(out)
}
