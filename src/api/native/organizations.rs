//! Seed 002's organizations in the native API's style: the calling person's organizations, create,
//! read, rename, delete (with confirmation), leave, the caller's role, a summary, and the
//! organization's people (paged and sorted; added, changed and removed several at once).
//!
//! `{organization_id}` may name any organization the calling person is an ACTIVE member of, not only
//! the token's own; an integration token reaches only its own. Anything else is 404.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::team::batch_error;
use super::wire::{MemberResponse, TIMESTAMP_FORMAT, parse_sort};
use crate::api::auth::RequestMeta;
use crate::api::error::ApiError;
use crate::api::{AppState, blocking};
use crate::auth::Principal;
use crate::domain::audit::Channel;
use crate::domain::{InvalidValue, MemberId, MemberStatus, OrganizationId, Role, UserId};
use crate::service::ServiceError;
use crate::service::organizations::{self as orgs, Caller, Membership, Summary};
use crate::service::team::{BatchFailure, MemberQuery, MemberUpdate, PageRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/organizations/", "/organizations"])
            .get(list_organizations)
            .post(create_organization),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/leave/",
            "/organizations/{organization_id}/leave",
        ])
        .post(leave_organization),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/role/",
            "/organizations/{organization_id}/role",
        ])
        .get(caller_role),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/summary/",
            "/organizations/{organization_id}/summary",
        ])
        .get(organization_summary),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/token/",
            "/organizations/{organization_id}/token",
        ])
        .post(switch_organization),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/users/",
            "/organizations/{organization_id}/users",
        ])
        .get(list_users)
        .post(add_users)
        .put(update_users)
        .delete(remove_users),
    )
    .service(
        web::resource([
            "/organizations/{organization_id}/users/{user_ids}/",
            "/organizations/{organization_id}/users/{user_ids}",
        ])
        .delete(remove_users_in_path),
    )
    .service(
        web::resource(["/organizations/{organization_id}/", "/organizations/{organization_id}"])
            .get(get_organization)
            .put(rename_organization)
            .delete(delete_organization),
    );
}

fn timestamp(t: NaiveDateTime) -> String {
    t.format(TIMESTAMP_FORMAT).to_string()
}

/// An organization and the caller's place in it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationResponse {
    #[schema(value_type = uuid::Uuid)]
    pub id: OrganizationId,
    pub organization_name: String,
    /// The role of members that no role-bound group gives one.
    pub default_role: Role,
    #[schema(value_type = String, example = "2025-08-28T17:43:19.287013")]
    pub created_at: String,
    #[schema(value_type = String)]
    pub updated_at: String,
    /// The caller's member there (`null` for an integration token).
    #[schema(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<MemberId>,
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
}

impl From<Membership> for OrganizationResponse {
    fn from(m: Membership) -> Self {
        Self {
            id: m.organization.id,
            organization_name: m.organization.name,
            default_role: m.organization.default_role,
            created_at: timestamp(m.organization.created_at),
            updated_at: timestamp(m.organization.updated_at),
            member_id: m.member_id,
            role: m.role,
            status: m.status,
        }
    }
}

/// The caller's role in an organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrganizationRole)]
pub struct RoleResponse {
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub member_id: Option<MemberId>,
    /// `null` for an integration token, which acts by its scopes.
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
    /// The token's scopes when it is an integration token of this organization.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCounts {
    pub total: i64,
    /// Every status, with 0 where nobody has it.
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_status: BTreeMap<&'static str, i64>,
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_role: BTreeMap<&'static str, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCounts {
    /// Open and within their lifetime.
    pub pending: i64,
    /// Open but past their expiry.
    pub expired: i64,
    /// Open, but their e-mail could not be delivered.
    pub undeliverable: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCounts {
    pub total: i64,
    pub role_bound: i64,
}

/// What an organization holds.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrganizationSummary)]
pub struct SummaryResponse {
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub members: MemberCounts,
    pub invitations: InvitationCounts,
    pub groups: GroupCounts,
    /// The last request an identity provider made through SCIM (`null`: never).
    #[schema(value_type = Option<String>)]
    pub last_provisioning_activity: Option<String>,
    /// SCIM `roles` values (e.g. Entra app roles) that name no roster role and no `role_aliases`
    /// entry, with how many members carry each: they grant nothing until mapped.
    pub ignored_role_values: BTreeMap<String, i64>,
    /// ACTIVE members with the ADMINISTRATOR role. 0: nobody can administer the organization
    /// natively until the identity provider (or an operator's token) makes someone ADMINISTRATOR.
    pub active_administrators: i64,
    /// AI agents, counted apart from people.
    pub agents: AgentCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCounts {
    pub total: i64,
    pub by_status: BTreeMap<&'static str, i64>,
    /// Agents none of whose owners is still an ACTIVE member: nobody answers for them.
    pub without_active_owner: i64,
}

impl From<Summary> for SummaryResponse {
    fn from(s: Summary) -> Self {
        Self {
            organization_id: s.organization.id,
            organization_name: s.organization.name,
            members: MemberCounts {
                total: s.members_total,
                by_status: s.members_by_status,
                by_role: s.members_by_role,
            },
            invitations: InvitationCounts {
                pending: s.pending_invitations,
                expired: s.expired_invitations,
                undeliverable: s.undeliverable_invitations,
            },
            groups: GroupCounts {
                total: s.groups,
                role_bound: s.role_bound_groups,
            },
            last_provisioning_activity: s.last_provisioning_at.map(timestamp),
            ignored_role_values: s.ignored_role_values,
            active_administrators: s.active_administrators,
            agents: AgentCounts {
                total: s.agents_by_status.values().sum(),
                by_status: s.agents_by_status,
                without_active_owner: s.agents_without_owner,
            },
        }
    }
}

/// A page of the organization's people.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrganizationUsers)]
pub struct UsersPage {
    pub users: Vec<MemberResponse>,
    /// From 0.
    pub page_number: i64,
    pub page_size: i64,
    /// People matching, across all pages.
    pub total_count: i64,
    pub total_pages: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationNameRequest {
    #[schema(example = "SajMix inc")]
    pub organization_name: String,
    /// Optional on rename; when given it must be the organization in the path.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub id: Option<String>,
}

/// Person ids as a JSON array or as one comma-separated string (seed 002 shows both).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UserIds {
    #[schema(value_type = Vec<uuid::Uuid>)]
    List(Vec<String>),
    Csv(String),
}

impl UserIds {
    fn items(&self) -> Vec<&str> {
        match self {
            UserIds::List(v) => v.iter().map(|s| s.trim()).collect(),
            UserIds::Csv(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect(),
        }
    }
}

/// `POST` (add) and `PUT` (update) on `/organizations/{organization_id}/users/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsersRequest {
    pub user_ids: UserIds,
    /// Required to add; optional to update.
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// ACTIVE (`true`) or INACTIVE (`false`); required to add, optional to update.
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersParams {
    /// From 0 (default 0).
    pub page_number: Option<i64>,
    /// 1 to 1000 (default 100).
    pub page_size: Option<i64>,
    /// `added_date` (default), `first_name`, `last_name`, `email`, `role`, `status` or `last_login`.
    pub sort_by: Option<String>,
    /// `true` (default) or `false`.
    pub sort_ascending: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveUsersParams {
    /// Comma-separated person ids (or give them in the path).
    pub user_ids: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// The organization's name, repeated to confirm the deletion.
    pub confirm: Option<String>,
}

/// A token acting as the caller in the organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MemberSessionToken)]
pub struct SessionTokenResponse {
    /// Shown once; send it as `Authorization: Bearer …`.
    pub token: String,
    #[schema(value_type = uuid::Uuid)]
    pub token_id: crate::domain::TokenId,
    #[schema(value_type = uuid::Uuid)]
    pub team_id: OrganizationId,
    #[schema(value_type = uuid::Uuid)]
    pub member_id: MemberId,
    #[schema(value_type = String)]
    pub expires_at: String,
}

/// Member tokens speak for the registered person behind them; integration tokens only for
/// themselves.
fn caller(principal: &Principal, meta: &RequestMeta) -> Caller {
    Caller {
        organization_id: principal.organization_id,
        actor: principal.actor(),
        user_id: principal
            .member
            .as_ref()
            .and_then(|m| m.user_id.as_deref())
            .and_then(|u| u.parse().ok()),
        context: meta.audit_context(principal, Channel::Api),
    }
}

/// Unknown and malformed organization ids alike name no organization the caller can see.
fn organization_id(raw: &str) -> Result<OrganizationId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("organization"))
}

fn invalid(e: InvalidValue) -> ApiError {
    ApiError::from(ServiceError::Invalid(e))
}

/// Parses person ids (1 to 1000, no repeats); a bad one is named by its position.
fn user_ids(raw: &[&str]) -> Result<Vec<UserId>, ApiError> {
    if raw.is_empty() || raw.len() > 1000 {
        return Err(invalid(InvalidValue::new("user_ids", "give 1 to 1000 person ids")));
    }
    let mut ids: Vec<UserId> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let id: UserId = r.parse().map_err(|_| {
            invalid(InvalidValue::new(
                "user_ids",
                format!("user_ids[{i}]: {r:?} is not a person id"),
            ))
        })?;
        if ids.contains(&id) {
            return Err(invalid(InvalidValue::new(
                "user_ids",
                format!("user_ids[{i}]: {id} is given twice"),
            )));
        }
        ids.push(id);
    }
    Ok(ids)
}

fn role(raw: Option<&str>) -> Result<Option<Role>, ApiError> {
    raw.map(str::parse).transpose().map_err(invalid)
}

async fn batch<T: Send + 'static>(f: impl FnOnce() -> Result<T, BatchFailure> + Send + 'static) -> Result<T, ApiError> {
    match crate::api::in_blocking_pool(f).await {
        Ok(result) => result.map_err(|failure| batch_error(failure, "user_ids")),
        Err(_) => Err(ServiceError::Internal("cancelled".into()).into()),
    }
}

/// The organizations the caller belongs to, with their role and status in each.
#[utoipa::path(get, path = "/api/v1/organizations/", tag = "organizations",
    responses((status = 200, body = [OrganizationResponse]), (status = 401, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn list_organizations(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let list = blocking(move || orgs::organizations_of(&db, &caller)).await?;
    Ok(HttpResponse::Ok().json(list.into_iter().map(OrganizationResponse::from).collect::<Vec<_>>()))
}

/// Create an organization; the calling person becomes its first ADMINISTRATOR.
#[utoipa::path(post, path = "/api/v1/organizations/", tag = "organizations", request_body = OrganizationNameRequest,
    responses((status = 201, body = OrganizationResponse), (status = 403, description = "Not a registered person's token", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn create_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<OrganizationNameRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.id.is_some() {
        return Err(invalid(InvalidValue::new(
            "id",
            "a new organization's id is chosen by roster",
        )));
    }
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let created = blocking(move || orgs::create_organization_for(&db, &caller, &body.organization_name)).await?;
    Ok(HttpResponse::Created().json(OrganizationResponse::from(created)))
}

/// One organization, with the caller's role in it.
#[utoipa::path(get, path = "/api/v1/organizations/{organization_id}/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)),
    responses((status = 200, body = OrganizationResponse), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn get_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let found = blocking(move || orgs::organization_for(&db, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(OrganizationResponse::from(found)))
}

/// Rename an organization (its ADMINISTRATOR, or `org:admin`).
#[utoipa::path(put, path = "/api/v1/organizations/{organization_id}/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)), request_body = OrganizationNameRequest,
    responses((status = 200, body = OrganizationResponse), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn rename_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<OrganizationNameRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let body = body.into_inner();
    if body.id.as_deref().is_some_and(|given| given.trim() != id.to_string()) {
        return Err(invalid(InvalidValue::new(
            "id",
            "must be the organization named in the path",
        )));
    }
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let renamed = blocking(move || orgs::rename_organization(&db, &caller, id, &body.organization_name)).await?;
    Ok(HttpResponse::Ok().json(OrganizationResponse::from(renamed)))
}

/// Delete an organization with everything in it (`?confirm=<its name>`); its audit events stay.
#[utoipa::path(delete, path = "/api/v1/organizations/{organization_id}/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path), DeleteParams),
    responses((status = 204, description = "Deleted"), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 422, description = "Missing or wrong confirmation", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn delete_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    params: web::Query<DeleteParams>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let confirm = params.into_inner().confirm;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    blocking(move || orgs::delete_organization(&db, &caller, id, confirm.as_deref())).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Leave an organization (refused for its last active ADMINISTRATOR).
#[utoipa::path(post, path = "/api/v1/organizations/{organization_id}/leave/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Left"), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "The last active ADMINISTRATOR", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn leave_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    blocking(move || orgs::leave_organization(&db, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's role in an organization.
#[utoipa::path(get, path = "/api/v1/organizations/{organization_id}/role/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)),
    responses((status = 200, body = RoleResponse), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn caller_role(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let found = blocking(move || orgs::organization_for(&db, &caller, id)).await?;
    let scopes = match found.member_id {
        None => principal.scopes.iter().map(|s| s.as_str()).collect(),
        Some(_) => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(RoleResponse {
        organization_id: found.organization.id,
        member_id: found.member_id,
        role: found.role,
        status: found.status,
        scopes,
    }))
}

/// Members by status and role, open invitations, groups and the last provisioning activity.
#[utoipa::path(get, path = "/api/v1/organizations/{organization_id}/summary/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)),
    responses((status = 200, body = SummaryResponse), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn organization_summary(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let summary = blocking(move || orgs::organization_summary(&db, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(SummaryResponse::from(summary)))
}

/// A token acting as the calling person in that organization, to use its team and group endpoints.
#[utoipa::path(post, path = "/api/v1/organizations/{organization_id}/token/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)),
    responses((status = 201, body = SessionTokenResponse), (status = 403, description = "Not a person's token", body = ApiError),
        (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn switch_organization(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let (db, signer, caller) = (state.db.clone(), state.signer.clone(), caller(&principal, &meta));
    // A session, not a credential to keep: at most a day, and never beyond the tokens' lifetime.
    let ttl = chrono::Duration::days(state.settings.token_ttl_days).min(chrono::Duration::days(1));
    let (issued, member_id) = blocking(move || orgs::issue_member_token(&db, &signer, &caller, id, ttl)).await?;
    Ok(HttpResponse::Created().json(SessionTokenResponse {
        token: issued.token,
        token_id: issued.id,
        team_id: id,
        member_id,
        expires_at: timestamp(issued.expires_at),
    }))
}

/// The organization's people, paginated from page 0 and sorted by a named field.
#[utoipa::path(get, path = "/api/v1/organizations/{organization_id}/users/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path), UsersParams),
    responses((status = 200, body = UsersPage), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn list_users(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    params: web::Query<UsersParams>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let params = params.into_inner();
    let page_number = params.page_number.unwrap_or(0);
    if page_number < 0 {
        return Err(invalid(InvalidValue::new("page_number", "must be 0 or more")));
    }
    let page = PageRequest::new(Some(page_number.saturating_add(1)), params.page_size).map_err(invalid)?;
    let order = match params.sort_ascending {
        Some(false) => Some("desc"),
        _ => None,
    };
    let query = MemberQuery {
        sort: parse_sort(params.sort_by.as_deref(), order).map_err(invalid)?,
        ..MemberQuery::default()
    };
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let page = blocking(move || orgs::organization_users(&db, &caller, id, &query, page)).await?;
    Ok(HttpResponse::Ok().json(UsersPage {
        page_number,
        page_size: page.page_size,
        total_count: page.total,
        total_pages: (page.total + page.page_size - 1) / page.page_size,
        users: page.items.into_iter().map(MemberResponse::from).collect(),
    }))
}

/// Add several registered people at once with one role, active or not: all or nothing.
#[utoipa::path(post, path = "/api/v1/organizations/{organization_id}/users/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)), request_body = UsersRequest,
    responses((status = 201, body = [MemberResponse]), (status = 403, body = ApiError),
        (status = 404, description = "An id names no person; nothing was changed", body = ApiError),
        (status = 409, description = "A person is already a member; nothing was changed", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn add_users(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<UsersRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let body = body.into_inner();
    let ids = user_ids(&body.user_ids.items())?;
    let role = role(body.role.as_deref())?.ok_or_else(|| invalid(InvalidValue::new("role", "is required")))?;
    let active = body
        .is_active
        .ok_or_else(|| invalid(InvalidValue::new("is_active", "is required")))?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let policy = state.invitation_policy();
    let added = batch(move || orgs::add_people(&db, &caller, id, &ids, role, active, policy)).await?;
    Ok(HttpResponse::Created().json(added.into_iter().map(MemberResponse::from).collect::<Vec<_>>()))
}

/// Change the role and/or active state of several people at once: all or nothing.
#[utoipa::path(put, path = "/api/v1/organizations/{organization_id}/users/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path)), request_body = UsersRequest,
    responses((status = 200, body = [MemberResponse]), (status = 403, body = ApiError),
        (status = 404, description = "An id names no person of the organization; nothing was changed", body = ApiError),
        (status = 409, description = "A change is refused; nothing was changed", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn update_users(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<UsersRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(&path)?;
    let body = body.into_inner();
    let ids = user_ids(&body.user_ids.items())?;
    let update = MemberUpdate {
        role: role(body.role.as_deref())?,
        status: body.is_active.map(|active| {
            if active {
                MemberStatus::Active
            } else {
                MemberStatus::Inactive
            }
        }),
    };
    if update.role.is_none() && update.status.is_none() {
        return Err(invalid(InvalidValue::new("role", "give role, is_active, or both")));
    }
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    let updated = batch(move || orgs::update_people(&db, &caller, id, &ids, update)).await?;
    Ok(HttpResponse::Ok().json(updated.into_iter().map(MemberResponse::from).collect::<Vec<_>>()))
}

async fn remove(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    organization: &str,
    raw_ids: &str,
) -> Result<HttpResponse, ApiError> {
    let id = organization_id(organization)?;
    let ids = user_ids(
        &raw_ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>(),
    )?;
    let (db, caller) = (state.db.clone(), caller(&principal, &meta));
    batch(move || orgs::remove_people(&db, &caller, id, &ids)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove several people (`?user_ids=a,b,c`) at once: all or nothing.
#[utoipa::path(delete, path = "/api/v1/organizations/{organization_id}/users/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path), RemoveUsersParams),
    responses((status = 204, description = "Removed"), (status = 403, body = ApiError),
        (status = 404, description = "An id names no person of the organization; nothing was changed", body = ApiError),
        (status = 409, description = "The last active ADMINISTRATOR; nothing was changed", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn remove_users(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    params: web::Query<RemoveUsersParams>,
) -> Result<HttpResponse, ApiError> {
    let raw = params.into_inner().user_ids.unwrap_or_default();
    remove(state, principal, meta, &path, &raw).await
}

/// Remove several people, their ids comma-separated in the path: all or nothing.
#[utoipa::path(delete, path = "/api/v1/organizations/{organization_id}/users/{user_ids}/", tag = "organizations",
    params(("organization_id" = uuid::Uuid, Path), ("user_ids" = String, Path, description = "comma-separated person ids")),
    responses((status = 204, description = "Removed"), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn remove_users_in_path(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (organization, raw) = path.into_inner();
    remove(state, principal, meta, &organization, &raw).await
}
