use chrono::NaiveDateTime;

use super::{ServiceError, ServiceResult, stored};
use crate::auth::{IssuedToken, TokenSigner};
use crate::domain::audit::{AuditContext, NewAuditEvent, events};
use crate::domain::{InvalidValue, MemberId, MemberStatus, OrganizationId, Scope, TokenId};
use crate::storage::{self, ApiTokenRow, Database, DbConnection, NewApiToken, StorageError};

/// A registered token, as listed (never the secret).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: TokenId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub member_id: Option<MemberId>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

impl TryFrom<ApiTokenRow> for TokenInfo {
    type Error = StorageError;
    fn try_from(row: ApiTokenRow) -> Result<Self, Self::Error> {
        Ok(Self {
            id: stored("api_tokens.id", &row.id)?,
            organization_id: stored("api_tokens.organization_id", &row.organization_id)?,
            name: row.name,
            scopes: Scope::parse_list(&row.scopes).map_err(|e| StorageError::Corrupt(e.to_string()))?,
            member_id: row
                .member_id
                .as_deref()
                .map(|m| stored("api_tokens.member_id", m))
                .transpose()?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
        })
    }
}

pub struct CreateToken<'a> {
    pub organization_id: OrganizationId,
    pub name: &'a str,
    pub scopes: &'a [Scope],
    pub member_id: Option<MemberId>,
    pub ttl: chrono::Duration,
}

/// Signs a token and registers it (its id and hash) with its audit event.
pub fn create_token(
    db: &Database,
    signer: &TokenSigner,
    request: CreateToken<'_>,
    context: &AuditContext,
) -> ServiceResult<IssuedToken> {
    db.write(|conn| create_token_in(conn, signer, request, context))
}

/// [`create_token`] inside a transaction the caller holds.
pub(crate) fn create_token_in(
    conn: &mut DbConnection,
    signer: &TokenSigner,
    request: CreateToken<'_>,
    context: &AuditContext,
) -> ServiceResult<IssuedToken> {
    if request.scopes.is_empty() && request.member_id.is_none() {
        return Err(InvalidValue::new("scope", "a token needs at least one scope or a member to act as").into());
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InvalidValue::new("name", "must be 1 to 200 characters").into());
    }
    let now = crate::domain::now();
    match storage::find_organization(conn, request.organization_id) {
        Err(StorageError::NotFound) => return Err(ServiceError::NotFound("organization")),
        other => other?,
    };
    if let Some(member_id) = request.member_id {
        let member = match storage::find_member(conn, request.organization_id, member_id) {
            Err(StorageError::NotFound) => return Err(ServiceError::NotFound("member")),
            other => other?,
        };
        if member.status != MemberStatus::Active.as_str() {
            return Err(ServiceError::conflict(
                "member",
                format!(
                    "member {member_id} is {}; only an ACTIVE member can have a token",
                    member.status
                ),
            ));
        }
    }
    let issued = signer
        .issue(
            request.organization_id,
            request.scopes,
            request.member_id,
            now,
            request.ttl,
        )
        .map_err(|e| ServiceError::Internal(format!("signing failed: {e}")))?;
    storage::insert_token(
        conn,
        request.organization_id,
        &NewApiToken {
            id: issued.id.to_string(),
            organization_id: request.organization_id.to_string(),
            name: name.to_owned(),
            scopes: Scope::join(request.scopes),
            member_id: request.member_id.map(|m| m.to_string()),
            token_hash: issued.token_hash.clone(),
            created_at: now,
            expires_at: issued.expires_at,
        },
    )?;
    let mut event = NewAuditEvent::new(request.organization_id, events::TOKEN_CREATE)
        .with("token_id", issued.id.to_string())
        .with("scopes", Scope::join(request.scopes));
    if let Some(member_id) = request.member_id {
        event = event.about(member_id);
    }
    storage::insert_audit_event(conn, context, &event, now)?;
    Ok(issued)
}

pub fn list_tokens(db: &Database, organization_id: OrganizationId) -> ServiceResult<Vec<TokenInfo>> {
    let mut conn = db.get()?;
    let rows = storage::list_tokens(&mut conn, organization_id)?;
    Ok(rows.into_iter().map(TokenInfo::try_from).collect::<Result<_, _>>()?)
}

pub fn revoke_token(
    db: &Database,
    organization_id: OrganizationId,
    token_id: TokenId,
    context: &AuditContext,
) -> ServiceResult<()> {
    db.write(|conn| {
        let now = crate::domain::now();
        if !storage::revoke_token(conn, organization_id, token_id, now)? {
            return Err(ServiceError::NotFound("live token"));
        }
        storage::insert_audit_event(
            conn,
            context,
            &NewAuditEvent::new(organization_id, events::TOKEN_REVOKE).with("token_id", token_id.to_string()),
            now,
        )?;
        Ok(())
    })
}

/// A token acting as an AI agent of the organization (with the agent's role); only for an ACTIVE
/// agent.
pub fn create_agent_token(
    db: &Database,
    signer: &TokenSigner,
    organization_id: OrganizationId,
    agent: MemberId,
    name: &str,
    ttl: chrono::Duration,
    context: &AuditContext,
) -> ServiceResult<IssuedToken> {
    db.write(|conn| {
        let row = match storage::find_member(conn, organization_id, agent) {
            Ok(row) if row.removed_at.is_none() => row,
            Ok(_) | Err(StorageError::NotFound) => return Err(ServiceError::NotFound("member")),
            Err(e) => return Err(e.into()),
        };
        if row.kind != crate::domain::MemberKind::Agent.as_str() {
            return Err(ServiceError::conflict(
                "member_id",
                "tokens are minted here for AI agents; people sign in to the product",
            ));
        }
        create_token_in(
            conn,
            signer,
            CreateToken {
                organization_id,
                name,
                scopes: &[],
                member_id: Some(agent),
                ttl,
            },
            context,
        )
    })
}
