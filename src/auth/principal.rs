use chrono::NaiveDateTime;

use super::{AuthError, TokenSigner, hash_token};
use crate::domain::audit::{AuditContext, Channel};
use crate::domain::{Actor, MemberId, MemberStatus, OrganizationId, Role, Scope, TokenId};
use crate::storage::{self, Database, StorageError};

/// Who is calling: an organization's token, acting either as one of its members (the member's
/// role decides) or as an integration (the token's scopes decide).
#[derive(Debug, Clone)]
pub struct Principal {
    pub organization_id: OrganizationId,
    pub token_id: TokenId,
    pub token_hash: String,
    pub scopes: Vec<Scope>,
    pub member: Option<ActingMember>,
}

#[derive(Debug, Clone)]
pub struct ActingMember {
    pub member_id: MemberId,
    /// The person's `user_id` when registered; audit events name them by it.
    pub user_id: Option<String>,
    pub role: Role,
}

impl Principal {
    /// What the domain's permission rules see.
    pub fn actor(&self) -> Actor {
        match &self.member {
            Some(m) => Actor::Member {
                member_id: m.member_id,
                role: m.role,
            },
            None => Actor::Integration {
                scopes: self.scopes.clone(),
            },
        }
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The identity audit events record for this caller.
    pub fn audit_context(
        &self,
        channel: Channel,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> AuditContext {
        let (actor, actor_member_id) = match &self.member {
            Some(m) => (
                m.user_id.clone().unwrap_or_else(|| m.member_id.to_string()),
                Some(m.member_id),
            ),
            None => (format!("token:{}", self.token_id), None),
        };
        AuditContext {
            actor,
            actor_member_id,
            channel,
            ip_address,
            user_agent,
            token_hash: Some(self.token_hash.clone()),
        }
    }
}

/// Verifies a bearer token and checks it against the registry: it must exist for its organization,
/// match the stored hash, be neither revoked nor expired, and, when it acts as a member, that
/// member must be active. Blocking: run it off the async workers.
pub fn authenticate(
    db: &Database,
    signer: &TokenSigner,
    token: &str,
    now: NaiveDateTime,
) -> Result<Principal, AuthError> {
    authenticate_verified(db, &VerifiedToken::verify(signer, token)?, now)
}

/// A bearer token whose signature, audience, issuer and expiry have been checked (CPU only, no
/// database): what is left is [`authenticate_verified`]'s look at the registry.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    organization_id: OrganizationId,
    token_id: TokenId,
    hash: String,
}

impl VerifiedToken {
    pub fn verify(signer: &TokenSigner, token: &str) -> Result<Self, AuthError> {
        let claims = signer.verify(token)?;
        Ok(Self {
            organization_id: claims.sub.parse().map_err(|_| AuthError::Invalid)?,
            token_id: claims.jti.parse().map_err(|_| AuthError::Invalid)?,
            hash: hash_token(token),
        })
    }

    /// The organization the (signed, so authentic) token was issued for; not yet checked for revocation.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }
}

/// The registry half of [`authenticate`], for a token already verified: so that a request can run
/// it in the same blocking call as its use case.
pub fn authenticate_verified(db: &Database, token: &VerifiedToken, now: NaiveDateTime) -> Result<Principal, AuthError> {
    let (organization_id, token_id) = (token.organization_id, token.token_id);
    let presented_hash = token.hash.clone();

    let mut conn = db.get()?;
    let row = match storage::find_token(&mut conn, organization_id, token_id) {
        Ok(row) => row,
        Err(StorageError::NotFound) => return Err(AuthError::Revoked),
        Err(e) => return Err(e.into()),
    };
    if !constant_time_eq(row.token_hash.as_bytes(), presented_hash.as_bytes()) {
        return Err(AuthError::Invalid);
    }
    if row.revoked_at.is_some() {
        return Err(AuthError::Revoked);
    }
    if row.expires_at <= now {
        return Err(AuthError::Expired);
    }
    let scopes = Scope::parse_list(&row.scopes).map_err(|e| StorageError::Corrupt(e.to_string()))?;

    let member = match row.member_id.as_deref() {
        None => None,
        Some(id) => {
            let member_id: MemberId = id
                .parse()
                .map_err(|_| StorageError::Corrupt(format!("member id {id:?}")))?;
            let m = match storage::find_member(&mut conn, organization_id, member_id) {
                Ok(m) => m,
                Err(StorageError::NotFound) => return Err(AuthError::Revoked),
                Err(e) => return Err(e.into()),
            };
            // A suspended, blocked or deactivated member's tokens stop working at once.
            if m.status != MemberStatus::Active.as_str() || m.removed_at.is_some() {
                return Err(AuthError::Revoked);
            }
            // Using a member's token is how a member signs in to roster: that is its last login.
            if m.last_login.is_none_or(|t| now - t > chrono::Duration::seconds(60)) {
                storage::touch_member_login(&mut conn, organization_id, member_id, now)?;
            }
            Some(ActingMember {
                member_id,
                user_id: m.user_id,
                role: m
                    .role
                    .parse()
                    .map_err(|e: crate::domain::InvalidValue| StorageError::Corrupt(e.to_string()))?,
            })
        }
    };

    // Last use is recorded at most once a minute, so that reads stay reads.
    if row.last_used_at.is_none_or(|t| now - t > chrono::Duration::seconds(60)) {
        storage::touch_token(&mut conn, organization_id, token_id, now)?;
    }

    Ok(Principal {
        organization_id,
        token_id,
        token_hash: presented_hash,
        scopes,
        member,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
