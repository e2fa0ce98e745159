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
use crate::domain::provisioning::{GroupChange, GroupProfile, MembershipChange};
use crate::domain::{GroupId, Permission, Role};
use crate::service::ChangeContext;
use crate::service::groups::{self, GroupRecord};

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
    let (db, policy) = (state.db.clone(), state.invitation_policy());
    let role = blocking(move || {
        groups::bind_group_role(
            &db,
            &context_for(&principal, &context, policy),
            id,
            role,
            may_manage_administrators,
        )
    })
    .await?;
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
            group_id: g.group.id.to_string(),
            team_id: g.group.organization_id.to_string(),
            name: g.group.display_name.clone(),
            role: g.role,
            member_ids: g.members.map(|m| m.into_iter().map(|(id, _)| id).collect()),
            created_at: format(g.group.created_at),
            updated_at: format(g.group.updated_at),
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

/// The group use cases' context. Native groups get their roles from explicit bindings only (the
/// `group_roles` setting names groups an identity provider pushes).
fn context_for<'a>(
    principal: &Principal,
    audit: &'a crate::domain::audit::AuditContext,
    policy: crate::service::team::InvitationPolicy,
) -> ChangeContext<'a> {
    ChangeContext {
        organization_id: principal.organization_id,
        audit,
        policy,
        group_roles: &[],
    }
}

fn invalid(e: crate::domain::InvalidValue) -> ApiError {
    ApiError::from(crate::service::ServiceError::Invalid(e))
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

fn require(principal: &Principal, permission: Permission, what: &str) -> Result<(), ApiError> {
    if principal.actor().may(permission) {
        Ok(())
    } else {
        Err(ApiError::forbidden(what))
    }
}

const READ_GROUPS: &str = "reading groups needs team:read or an administrator role";
const WRITE_GROUPS: &str = "changing groups needs team:write or an administrator role";

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
    require(&principal, Permission::ReadTeam, READ_GROUPS)?;
    let page = crate::service::team::PageRequest::new(params.page, params.page_size).map_err(invalid)?;
    let (db, org) = (state.db.clone(), principal.organization_id);
    let (groups, total) = blocking(move || {
        let query = crate::domain::query::ListQuery {
            condition: crate::domain::query::Condition::Always,
            sort: None,
            start: crate::domain::query::PageStart::Offset((page.page - 1) * page.page_size),
            limit: page.page_size,
        };
        groups::list_groups(&db, org, &query, false).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", total.to_string()))
        .json(groups.into_iter().map(GroupResponse::from).collect::<Vec<_>>()))
}

/// Create a group, optionally bound to a role and with members: one transaction.
#[utoipa::path(post, path = "/api/v1/groups/", tag = "groups", request_body = CreateGroupRequest,
    responses((status = 201, body = GroupResponse), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn create_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<CreateGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::WriteTeam, WRITE_GROUPS)?;
    let body = body.into_inner();
    let role: Option<Role> = body.role.as_deref().map(str::parse).transpose().map_err(invalid)?;
    if role == Some(Role::Administrator) && !principal.actor().may(Permission::ManageAdministrators) {
        return Err(ApiError::forbidden(
            "only an ADMINISTRATOR (or org:admin) binds the ADMINISTRATOR role",
        ));
    }
    let name = crate::service::organizations::parse_organization_name(&body.name).map_err(invalid)?;
    let audit = meta.audit_context(&principal, Channel::Api);
    let (db, principal, policy) = (state.db.clone(), principal.into_inner(), state.invitation_policy());
    let group = blocking(move || {
        let profile = GroupProfile {
            display_name: name,
            external_id: None,
            attributes: Default::default(),
            role: None,
        };
        groups::create_group_bound(
            &db,
            &context_for(&principal, &audit, policy),
            profile,
            &body.member_ids,
            role,
        )
        .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Created().json(GroupResponse::from(group)))
}

fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("group"))
}

/// One group, with its member ids.
#[utoipa::path(get, path = "/api/v1/groups/{group_id}/", tag = "groups", params(("group_id" = uuid::Uuid, Path)),
    responses((status = 200, body = GroupResponse), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn get_group(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ReadTeam, READ_GROUPS)?;
    let (db, org, id) = (state.db.clone(), principal.organization_id, group_id(&path)?);
    let group = blocking(move || groups::get_group(&db, org, id, true).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(GroupResponse::from(group)))
}

/// One change of a group through the shared use case (member ids must name members: 422).
async fn change_group(
    state: web::Data<AppState>,
    principal: Principal,
    meta: RequestMeta,
    raw_id: &str,
    change: GroupChange,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::WriteTeam, WRITE_GROUPS)?;
    let id = group_id(raw_id)?;
    let audit = meta.audit_context(&principal, Channel::Api);
    let (db, policy) = (state.db.clone(), state.invitation_policy());
    let group = blocking(move || {
        let current = groups::get_group(&db, principal.organization_id, id, false)?;
        check_group_permission(&principal, &current)?;
        let strict = GroupChange { strict: true, ..change };
        groups::change_group(&db, &context_for(&principal, &audit, policy), id, true, |_| {
            Ok::<_, ApiError>(strict)
        })
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
    let name = crate::service::organizations::parse_organization_name(&body.name).map_err(invalid)?;
    let change = GroupChange {
        rename: Some(name),
        ..GroupChange::default()
    };
    change_group(state, principal.into_inner(), meta, &path, change).await
}

fn member_ids(ids: Vec<String>) -> Result<Vec<String>, ApiError> {
    if ids.is_empty() {
        return Err(invalid(crate::domain::InvalidValue::new(
            "member_ids",
            "must not be empty",
        )));
    }
    Ok(ids)
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
    let change = GroupChange {
        members: vec![MembershipChange::Add(body.into_inner().member_ids)],
        ..GroupChange::default()
    };
    change_group(state, principal.into_inner(), meta, &path, change).await
}

/// Remove several members at once (all or none).
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
    let change = GroupChange {
        members: vec![MembershipChange::Remove(member_ids(body.into_inner().member_ids)?)],
        ..GroupChange::default()
    };
    change_group(state, principal.into_inner(), meta, &path, change).await
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
    require(&principal, Permission::WriteTeam, WRITE_GROUPS)?;
    let id = group_id(&path)?;
    let audit = meta.audit_context(&principal, Channel::Api);
    let (db, principal, policy) = (state.db.clone(), principal.into_inner(), state.invitation_policy());
    blocking(move || {
        let current = groups::get_group(&db, principal.organization_id, id, false)?;
        check_group_permission(&principal, &current)?;
        groups::delete_group(&db, &context_for(&principal, &audit, policy), id, |_| {
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
