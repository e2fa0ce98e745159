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

// ---- Groups (seed 003): the same use cases as SCIM Groups, in the native API's style. ----------

use crate::scim::ScimError;
use crate::service::scim_groups::{self, GroupRecord};
use crate::service::scim_users::ScimCall;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Group)]
pub struct GroupResponse {
    #[schema(value_type = uuid::Uuid)]
    pub group_id: String,
    #[schema(value_type = uuid::Uuid)]
    pub team_id: String,
    pub name: String,
    /// The role the group gives its members, if bound.
    pub role: Option<Role>,
    /// Present on single-group reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<uuid::Uuid>>)]
    pub member_ids: Option<Vec<String>>,
    #[schema(value_type = String)]
    pub created_at: String,
    #[schema(value_type = String)]
    pub updated_at: String,
}

impl From<GroupRecord> for GroupResponse {
    fn from(g: GroupRecord) -> Self {
        let format = |t: chrono::NaiveDateTime| t.format(super::wire::TIMESTAMP_FORMAT).to_string();
        Self {
            group_id: g.row.id.clone(),
            team_id: g.row.organization_id.clone(),
            name: g.row.display_name.clone(),
            role: g.role,
            member_ids: g.members.map(|m| m.into_iter().map(|(id, _)| id).collect()),
            created_at: format(g.row.created_at),
            updated_at: format(g.row.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    name: String,
    #[serde(default)]
    #[schema(value_type = Option<Role>)]
    role: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    member_ids: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameGroupRequest {
    name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIdsRequest {
    #[schema(value_type = Vec<uuid::Uuid>)]
    member_ids: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupListParams {
    page: Option<i64>,
    page_size: Option<i64>,
}

/// The group use cases answer in SCIM errors; the native door speaks its own shape.
fn native(e: ScimError) -> ApiError {
    let status =
        actix_web::http::StatusCode::from_u16(e.status).unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let code = match e.status {
        400 => "bad_request",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        412 => "precondition_failed",
        503 => "unavailable",
        _ => "internal_error",
    };
    ApiError::new(status, code, e.detail)
}

async fn run_groups<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await.unwrap_or_else(|_| {
        Err(ApiError::from(crate::service::ServiceError::Internal(
            "cancelled".into(),
        )))
    })
}

/// The group use cases' context. Native groups get their roles from explicit bindings only (the
/// `group_roles` setting names groups an identity provider pushes).
fn call<'a>(
    principal: &Principal,
    audit: &'a crate::domain::audit::AuditContext,
    invitation_ttl: chrono::Duration,
) -> ScimCall<'a> {
    ScimCall {
        organization_id: principal.organization_id,
        audit,
        policy: crate::service::team::InvitationPolicy { ttl: invitation_ttl },
        group_roles: &[],
        role_aliases: &[],
    }
}

/// Member ids must be members of the organization: unknown ones are named in a 422.
fn known_members(
    db: &crate::storage::Database,
    org: crate::domain::OrganizationId,
    raw: &[String],
) -> Result<Vec<String>, ApiError> {
    use crate::domain::query::{Condition, MemberField, Scalar};
    let mut ids = Vec::new();
    for r in raw {
        let id: crate::domain::MemberId = r.parse().map_err(|_| {
            ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{r:?} is not a member id"),
            )
            .field("member_ids", format!("{r:?} is not a member id"))
        })?;
        ids.push(id.to_string());
    }
    if ids.is_empty() {
        return Ok(ids);
    }
    let condition = Condition::In(MemberField::Id, ids.iter().cloned().map(Scalar::Text).collect());
    let mut conn = db.get().map_err(ApiError::from)?;
    let found: std::collections::HashSet<String> =
        crate::storage::find_members_matching(&mut conn, org, &condition, ids.len() as i64)
            .map_err(ApiError::from)?
            .into_iter()
            .map(|m| m.id)
            .collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
    if !missing.is_empty() {
        let mut e = ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "some member ids are not members of this organization",
        );
        for m in missing {
            e = e.field("member_ids", format!("{m} is not a member"));
        }
        return Err(e);
    }
    Ok(ids)
}

/// Changing the members of a group bound to ADMINISTRATOR grants or removes that role.
fn check_group_permission(principal: &Principal, group: &GroupRecord) -> Result<(), ApiError> {
    if group.role == Some(Role::Administrator) && !principal.actor().may(Permission::ManageAdministrators) {
        return Err(ApiError::forbidden(
            "this group gives ADMINISTRATOR: only an ADMINISTRATOR (or org:admin) changes it",
        ));
    }
    Ok(())
}

pub fn configure_groups(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/groups/", "/groups"])
            .get(list_groups)
            .post(create_group),
    )
    .service(
        web::resource(["/groups/{group_id}/members/", "/groups/{group_id}/members"])
            .post(add_members)
            .delete(remove_members),
    )
    .service(
        web::resource(["/groups/{group_id}/", "/groups/{group_id}"])
            .get(get_group)
            .put(rename_group)
            .delete(delete_group),
    );
}

/// The organization's groups, paginated.
#[utoipa::path(get, path = "/api/v1/groups/", tag = "groups", params(GroupListParams),
    responses((status = 200, body = [GroupResponse]), (status = 403, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn list_groups(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    params: web::Query<GroupListParams>,
) -> Result<HttpResponse, ApiError> {
    if !principal.actor().may(Permission::ReadTeam) {
        return Err(ApiError::forbidden(
            "reading groups needs team:read or an administrator role",
        ));
    }
    let page = crate::service::team::PageRequest::new(params.page, params.page_size)
        .map_err(|e| ApiError::from(crate::service::ServiceError::Invalid(e)))?;
    let (db, org) = (state.db.clone(), principal.organization_id);
    let (groups, total) = run_groups(move || {
        let query = crate::domain::query::ListQuery {
            condition: crate::domain::query::Condition::Always,
            sort: None,
            start: crate::domain::query::PageStart::Offset((page.page - 1) * page.page_size),
            limit: page.page_size,
        };
        scim_groups::list_groups(&db, org, &query, false).map_err(native)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(groups.into_iter().map(GroupResponse::from).collect::<Vec<_>>()))
}

/// Create a group, optionally bound to a role and with members.
#[utoipa::path(post, path = "/api/v1/groups/", tag = "groups", request_body = CreateGroupRequest,
    responses((status = 201, body = GroupResponse), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn create_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<CreateGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = principal.actor();
    if !actor.may(Permission::WriteTeam) {
        return Err(ApiError::forbidden(
            "changing groups needs team:write or an administrator role",
        ));
    }
    let body = body.into_inner();
    let role: Option<Role> = body
        .role
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| ApiError::from(crate::service::ServiceError::Invalid(e)))?;
    if role == Some(Role::Administrator) && !actor.may(Permission::ManageAdministrators) {
        return Err(ApiError::forbidden(
            "only an ADMINISTRATOR (or org:admin) binds the ADMINISTRATOR role",
        ));
    }
    let audit = meta.audit_context(&principal, Channel::Api);
    let (db, principal) = (state.db.clone(), principal.into_inner());
    let ttl = chrono::Duration::hours(state.settings.invitation_ttl_hours);
    let group = run_groups(move || {
        let members = known_members(&db, principal.organization_id, &body.member_ids)?;
        let input = crate::mapping::group::GroupInput {
            display_name: crate::service::organizations::parse_organization_name(&body.name)
                .map_err(|e| ApiError::from(crate::service::ServiceError::Invalid(e)))?,
            external_id: None,
            members: Some(members),
            attributes: Default::default(),
        };
        let created = scim_groups::create_group(&db, &call(&principal, &audit, ttl), input, true).map_err(native)?;
        let id: GroupId = created.row.id.parse().map_err(|_| ApiError::not_found("group"))?;
        if role.is_some() {
            bind_group_role(&db, principal.organization_id, id, role, true, &audit)?;
        }
        scim_groups::get_group(&db, principal.organization_id, &created.row.id, true).map_err(native)
    })
    .await?;
    Ok(HttpResponse::Created().json(GroupResponse::from(group)))
}

/// One group, with its member ids.
#[utoipa::path(get, path = "/api/v1/groups/{group_id}/", tag = "groups", params(("group_id" = uuid::Uuid, Path)),
    responses((status = 200, body = GroupResponse), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn get_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !principal.actor().may(Permission::ReadTeam) {
        return Err(ApiError::forbidden(
            "reading groups needs team:read or an administrator role",
        ));
    }
    let (db, org, id) = (state.db.clone(), principal.organization_id, path.into_inner());
    let group = run_groups(move || scim_groups::get_group(&db, org, &id, true).map_err(native)).await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(group)))
}

fn patch(
    op: crate::scim::patch::OpKind,
    path: Option<&str>,
    value: serde_json::Value,
) -> Vec<crate::scim::patch::PatchOperation> {
    vec![crate::scim::patch::PatchOperation {
        op,
        path: path.map(str::to_owned),
        value: Some(value),
    }]
}

async fn change_group(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    id: String,
    build: impl FnOnce(&crate::storage::Database, &Principal) -> Result<Vec<crate::scim::patch::PatchOperation>, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    if !principal.actor().may(Permission::WriteTeam) {
        return Err(ApiError::forbidden(
            "changing groups needs team:write or an administrator role",
        ));
    }
    let audit = meta.audit_context(&principal, Channel::Api);
    let db = state.db.clone();
    let ttl = chrono::Duration::hours(state.settings.invitation_ttl_hours);
    let group = run_groups(move || {
        let current = scim_groups::get_group(&db, principal.organization_id, &id, false).map_err(native)?;
        check_group_permission(&principal, &current)?;
        let ops = build(&db, &principal)?;
        scim_groups::patch_group(&db, &call(&principal, &audit, ttl), &id, &ops, None, true).map_err(native)
    })
    .await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(group)))
}

/// Rename a group.
#[utoipa::path(put, path = "/api/v1/groups/{group_id}/", tag = "groups", request_body = RenameGroupRequest,
    params(("group_id" = uuid::Uuid, Path)), responses((status = 200, body = GroupResponse), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn rename_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<RenameGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    let name = crate::service::organizations::parse_organization_name(&body.name)
        .map_err(|e| ApiError::from(crate::service::ServiceError::Invalid(e)))?;
    change_group(state, principal.into_inner(), meta, path.into_inner(), move |_, _| {
        Ok(patch(
            crate::scim::patch::OpKind::Replace,
            Some("displayName"),
            json!(name),
        ))
    })
    .await
}

/// Add several members at once (all or none).
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/members/", tag = "groups", request_body = MemberIdsRequest,
    params(("group_id" = uuid::Uuid, Path)), responses((status = 200, body = GroupResponse), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn add_members(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<MemberIdsRequest>,
) -> Result<HttpResponse, ApiError> {
    let ids = body.into_inner().member_ids;
    change_group(state, principal.into_inner(), meta, path.into_inner(), move |db, p| {
        let ids = known_members(db, p.organization_id, &ids)?;
        Ok(patch(
            crate::scim::patch::OpKind::Add,
            Some("members"),
            json!(ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()),
        ))
    })
    .await
}

/// Remove several members at once.
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/members/", tag = "groups", request_body = MemberIdsRequest,
    params(("group_id" = uuid::Uuid, Path)), responses((status = 200, body = GroupResponse), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn remove_members(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<MemberIdsRequest>,
) -> Result<HttpResponse, ApiError> {
    let ids = body.into_inner().member_ids;
    change_group(state, principal.into_inner(), meta, path.into_inner(), move |db, p| {
        let ids = known_members(db, p.organization_id, &ids)?;
        if ids.is_empty() {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "member_ids is empty",
            )
            .field("member_ids", "must not be empty"));
        }
        Ok(patch(
            crate::scim::patch::OpKind::Remove,
            Some("members"),
            json!(ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()),
        ))
    })
    .await
}

/// Delete a group; its members' roles are recomputed without it.
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/", tag = "groups", params(("group_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn delete_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !principal.actor().may(Permission::WriteTeam) {
        return Err(ApiError::forbidden(
            "changing groups needs team:write or an administrator role",
        ));
    }
    let audit = meta.audit_context(&principal, Channel::Api);
    let (db, principal, id) = (state.db.clone(), principal.into_inner(), path.into_inner());
    let ttl = chrono::Duration::hours(state.settings.invitation_ttl_hours);
    run_groups(move || {
        let current = scim_groups::get_group(&db, principal.organization_id, &id, false).map_err(native)?;
        check_group_permission(&principal, &current)?;
        scim_groups::delete_group(&db, &call(&principal, &audit, ttl), &id, None).map_err(native)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
