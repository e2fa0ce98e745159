//! Bearer authentication for both doors, as middleware on each door's scope, so that no route of a
//! door can be reached without a valid token. Each door renders the failure in its own format.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::AppState;
use super::error::ApiError;
use crate::auth::{AuthError, Principal, VerifiedToken, authenticate, authenticate_verified};
use crate::domain::Scope;
use crate::domain::audit::{AuditContext, Channel};
use crate::scim::ScimError;
use crate::service::ServiceError;

/// Longest Authorization header value looked at; anything longer is not one of ours.
const MAX_TOKEN_LEN: usize = 4096;

fn bearer_token(req: &ServiceRequest) -> Result<String, AuthError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed);
    }
    Ok(token.to_owned())
}

async fn authenticate_request(req: &ServiceRequest) -> Result<Principal, AuthError> {
    let token = bearer_token(req)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered on the app")
        .clone();
    match crate::api::in_blocking_pool(move || authenticate(&state.db, &state.signer, &token, crate::domain::now()))
        .await
    {
        Ok(result) => result,
        Err(_) => Err(AuthError::Storage(crate::storage::StorageError::Corrupt(
            "authentication task cancelled".into(),
        ))),
    }
}

/// The native door: any valid token of the organization; endpoints check permissions themselves.
pub async fn require_api_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let principal = authenticate_request(&req).await.map_err(ApiError::from)?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The SCIM door: a valid token carrying the `scim` scope. The signature is checked here, on the
/// async worker (no database); the registry check (revocation, expiry, acting member, the `scim`
/// scope) runs in the handler's own blocking call through [`ScimAuth`], so that a SCIM request
/// crosses to the blocking pool once. No handler gets at the request's identity without it.
pub async fn require_scim_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let token = bearer_token(&req).map_err(scim_auth_error)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered on the app")
        .clone();
    let verified = VerifiedToken::verify(&state.signer, &token).map_err(scim_auth_error)?;
    req.extensions_mut().insert(ScimAuth(verified));
    next.call(req).await
}

fn scim_auth_error(e: AuthError) -> ScimError {
    match e {
        AuthError::Storage(s) => super::scim::error_from_service(ServiceError::from(s)),
        other => ScimError::unauthorized(other.to_string()),
    }
}

/// A SCIM request's verified bearer token, not yet checked against the registry: the only way to
/// the caller's [`Principal`] is [`ScimAuth::run`] (or [`ScimAuth::check`]), which checks it.
#[derive(Debug, Clone)]
pub struct ScimAuth(VerifiedToken);

impl ScimAuth {
    /// The organization the token names (signature checked, registry not yet).
    pub fn organization_id(&self) -> crate::domain::OrganizationId {
        self.0.organization_id()
    }

    fn principal(&self, state: &AppState) -> Result<Principal, ScimError> {
        let principal = authenticate_verified(&state.db, &self.0, crate::domain::now()).map_err(scim_auth_error)?;
        if !principal.has_scope(Scope::Scim) {
            return Err(ScimError::forbidden("this token does not carry the scim scope"));
        }
        Ok(principal)
    }

    /// Checks the token and runs `f` as its principal, in one blocking call.
    pub async fn run<T: Send + 'static>(
        self,
        state: &web::Data<AppState>,
        f: impl FnOnce(Principal) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let state = state.clone();
        crate::api::in_blocking_pool(move || f(self.principal(&state)?))
            .await
            .unwrap_or_else(|_| Err(ScimError::internal()))
    }

    /// [`ScimAuth::run`] for a change: `f` also gets the audit context of the caller.
    pub async fn audited<T: Send + 'static>(
        self,
        state: &web::Data<AppState>,
        meta: RequestMeta,
        f: impl FnOnce(&Principal, &AuditContext) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        self.run(state, move |principal| {
            let audit = meta.audit_context(&principal, Channel::Scim);
            f(&principal, &audit)
        })
        .await
    }

    /// Checks the token (for handlers with no database work of their own).
    pub async fn check(self, state: &web::Data<AppState>) -> Result<Principal, ScimError> {
        self.run(state, Ok).await
    }
}

impl FromRequest for ScimAuth {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<ScimAuth>()
                .cloned()
                .ok_or_else(|| ScimError::unauthorized(AuthError::Missing.to_string()).into()),
        )
    }
}

/// The caller's network context, recorded on audit events.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub fn audit_context(&self, principal: &Principal, channel: Channel) -> AuditContext {
        principal.audit_context(channel, self.ip_address.clone(), self.user_agent.clone())
    }
}

impl FromRequest for RequestMeta {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        ready(Ok(RequestMeta {
            ip_address: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent,
        }))
    }
}
