//! `GET /api/v1/token/`: what the calling token is (organization, scopes, acting member), so that an
//! integration can check its credentials.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::auth::Principal;
use crate::domain::{MemberId, OrganizationId, Role, TokenId};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/token/", "/token"]).get(current_token));
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CurrentToken)]
pub struct CurrentTokenResponse {
    #[schema(value_type = uuid::Uuid)]
    pub token_id: TokenId,
    /// The organization the token belongs to.
    #[schema(value_type = uuid::Uuid)]
    pub team_id: OrganizationId,
    #[schema(example = json!(["team:read", "team:write"]))]
    pub scopes: Vec<&'static str>,
    /// The member the token acts as, if any.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<MemberId>,
    /// That member's role.
    pub role: Option<Role>,
    /// The registered person the member is (the id other organizations add them by).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub user_id: Option<String>,
}

/// The calling token.
#[utoipa::path(get, path = "/api/v1/token/", tag = "token",
    responses((status = 200, body = CurrentTokenResponse), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn current_token(principal: web::ReqData<Principal>) -> HttpResponse {
    let p = principal.into_inner();
    HttpResponse::Ok().json(CurrentTokenResponse {
        token_id: p.token_id,
        team_id: p.organization_id,
        scopes: p.scopes.iter().map(|s| s.as_str()).collect(),
        member_id: p.member.as_ref().map(|m| m.member_id),
        role: p.member.as_ref().map(|m| m.role),
        user_id: p.member.and_then(|m| m.user_id),
    })
}
