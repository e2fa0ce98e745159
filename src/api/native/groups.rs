//! `PUT` / `DELETE /api/v1/groups/{group_id}/role/`: bind a group to a role, or unbind it. Its members'
//! roles follow at once (the highest-ranked role among their role-bound groups).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::api::auth::RequestMeta;
use crate::api::error::ApiError;
use crate::api::{AppState, blocking};
use crate::auth::Principal;
use crate::domain::audit::Channel;
use crate::domain::{GroupId, Permission, Role};
use crate::service::scim_groups::bind_group_role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/groups/{group_id}/role/", "/groups/{group_id}/role"])
            .put(bind)
            .delete(unbind),
    );
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    #[schema(value_type = Role)]
    role: String,
}

fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("group"))
}

async fn change(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    raw_id: &str,
    role: Option<Role>,
) -> Result<HttpResponse, ApiError> {
    let actor = principal.actor();
    if !actor.may(Permission::WriteTeam) {
        return Err(ApiError::forbidden(
            "binding groups to roles needs team:write or an administrator role",
        ));
    }
    // Granting or removing ADMINISTRATOR through a group is an administrator's act (checked
    // against the current binding by the use case).
    let may_manage_administrators = actor.may(Permission::ManageAdministrators);
    let id = group_id(raw_id)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let role =
        blocking(move || bind_group_role(&db, organization_id, id, role, may_manage_administrators, &context)).await?;
    Ok(HttpResponse::Ok().json(json!({"group_id": id, "role": role})))
}

/// Bind a group to a role: its members get the highest-ranked role among their role-bound groups.
#[utoipa::path(put, path = "/api/v1/groups/{group_id}/role/", tag = "groups", request_body = BindRequest,
    params(("group_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Bound"), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn bind(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<BindRequest>,
) -> Result<HttpResponse, ApiError> {
    let role: Role = body
        .role
        .parse()
        .map_err(|e| ApiError::from(crate::service::ServiceError::Invalid(e)))?;
    change(state, principal.into_inner(), meta, &path, Some(role)).await
}

/// Unbind a group: its members' roles are recomputed without it.
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/role/", tag = "groups",
    params(("group_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Unbound"), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn unbind(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, principal.into_inner(), meta, &path, None).await
}
