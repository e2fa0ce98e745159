//! `GET /api/v1/token/`: what the calling token is (organization, scopes, acting member), so that an
//! integration can check its credentials.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::auth::Principal;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(current_token);
}

#[get("/token/")]
async fn current_token(principal: web::ReqData<Principal>) -> HttpResponse {
    let p = principal.into_inner();
    HttpResponse::Ok().json(json!({
        "token_id": p.token_id,
        "team_id": p.organization_id,
        "scopes": p.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "member_id": p.member.as_ref().map(|m| m.member_id),
        "role": p.member.as_ref().map(|m| m.role),
    }))
}
