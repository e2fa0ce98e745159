//! Seed 000's team endpoints. Each handler: extract, authorize, call one use case, render.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::wire::{
    AgentOwner, AgentToken, AuditEventResponse, AuditLogParams, BatchUpdateRequest, InviteRequest, LifecycleRequest,
    ListMembersParams, MemberResponse, UpdateMemberRequest, parse_list, parse_sort, parse_time,
};
use crate::api::auth::RequestMeta;
use crate::api::error::ApiError;
use crate::api::{AppState, blocking};
use crate::auth::Principal;
use crate::domain::audit::Channel;
use crate::domain::team::Lifecycle;
use crate::domain::{Actor, Email, InvalidValue, MemberId, MemberKind, Permission, PhoneNumber};
use crate::service::team::{self, Invite, MemberQuery, MemberUpdate, Page, PageRequest, TimeRange};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Seed 000's paths end in a slash; the same paths without it are accepted too.
    cfg.service(web::resource(["/team/", "/team"]).get(list_members).put(update_members))
        .service(web::resource(["/team/invite/", "/team/invite"]).post(invite_member))
        .service(
            web::resource([
                "/team/members/{member_id}/audit-logs/",
                "/team/members/{member_id}/audit-logs",
            ])
            .get(member_audit_log),
        )
        .service(
            web::resource(["/team/{member_id}/invite/", "/team/{member_id}/invite"])
                .post(resend_invitation)
                .delete(cancel_invitation),
        )
        .service(web::resource(["/team/{member_id}/suspend/", "/team/{member_id}/suspend"]).post(suspend_member))
        .service(web::resource(["/team/{member_id}/block/", "/team/{member_id}/block"]).post(block_member))
        .service(web::resource(["/team/{member_id}/activate/", "/team/{member_id}/activate"]).post(activate_member))
        .service(web::resource(["/team/{member_id}/tokens/", "/team/{member_id}/tokens"]).post(create_agent_token))
        .service(
            web::resource(["/team/{member_id}/", "/team/{member_id}"])
                .get(get_member)
                .put(update_member)
                .delete(deactivate_member),
        );
}

/// The caller as the domain sees it, if it may do `permission`.
fn authorize(principal: &Principal, permission: Permission) -> Result<Actor, ApiError> {
    let actor = principal.actor();
    if actor.may(permission) {
        Ok(actor)
    } else {
        Err(ApiError::forbidden(permission.refusal()))
    }
}

/// Member ids that do not parse name no member: 404, like any unknown id.
fn member_id(raw: &str) -> Result<MemberId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("member"))
}

fn invalid(e: crate::domain::InvalidValue) -> ApiError {
    ApiError::from(crate::service::ServiceError::Invalid(e))
}

/// The page as a JSON array (seed 000's shape), with the paging in headers:
/// `X-Total-Count`, `X-Page`, `X-Page-Size` and an RFC 8288 `Link` to the next and previous pages.
fn paginated<T, R: serde::Serialize>(req: &HttpRequest, page: Page<T>, render: impl Fn(T) -> R) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("X-Total-Count", page.total.to_string()))
        .insert_header(("X-Page", page.page.to_string()))
        .insert_header(("X-Page-Size", page.page_size.to_string()));
    let link_to = |n: i64| {
        let mut pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != "page")
            .collect();
        pairs.push(("page".into(), n.to_string()));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("<{}?{}>", req.path(), query.join("&"))
    };
    let mut links = Vec::new();
    if page.page * page.page_size < page.total {
        links.push(format!("{}; rel=\"next\"", link_to(page.page + 1)));
    }
    if page.page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page.page - 1)));
    }
    if !links.is_empty() {
        response.insert_header(("Link", links.join(", ")));
    }
    response.json(page.items.into_iter().map(render).collect::<Vec<_>>())
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// List the organization's members (cancelled invitations excluded), oldest first.
#[utoipa::path(get, path = "/api/v1/team/", tag = "team", params(ListMembersParams),
    responses(
        (status = 200, description = "One page of members; paging in the headers", body = [MemberResponse],
            headers(("X-Total-Count" = i64, description = "members matching, all pages"),
                    ("X-Page" = i64), ("X-Page-Size" = i64),
                    ("Link" = String, description = "RFC 8288 links to the next and previous pages"))),
        (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn list_members(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    params: web::Query<ListMembersParams>,
) -> Result<HttpResponse, ApiError> {
    authorize(&principal, Permission::ReadTeam)?;
    let params = params.into_inner();
    let kind = params
        .kind
        .as_deref()
        .map(str::parse::<MemberKind>)
        .transpose()
        .map_err(invalid)?;
    let query = MemberQuery {
        statuses: parse_list(params.status.as_deref()).map_err(invalid)?,
        roles: parse_list(params.role.as_deref()).map_err(invalid)?,
        sort: parse_sort(params.sort.as_deref(), params.order.as_deref()).map_err(invalid)?,
        search: params.search,
        kind,
    };
    let page = PageRequest::new(params.page, params.page_size).map_err(invalid)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let organization_id = principal.organization_id;
    let db = state.db.clone();
    let (page, details) = blocking(move || {
        let page = team::list_members(&db, organization_id, &query, page, &context)?;
        let details = if kind == Some(MemberKind::Agent) {
            let ids: Vec<MemberId> = page.items.iter().map(|m| m.id).collect();
            Some(team::agent_details(&db, organization_id, &ids)?)
        } else {
            None
        };
        Ok::<_, ApiError>((page, details))
    })
    .await?;
    let details = std::cell::RefCell::new(details);
    Ok(paginated(&req, page, move |member| {
        let mut response = MemberResponse::from(member);
        let found = details
            .borrow_mut()
            .as_mut()
            .and_then(|d| d.remove(&response.member_id.to_string()));
        if let Some((owners, tokens)) = found {
            response.owners = Some(
                owners
                    .into_iter()
                    .map(|(member_id, name, status)| AgentOwner {
                        member_id,
                        name,
                        status,
                    })
                    .collect(),
            );
            response.tokens = Some(
                tokens
                    .into_iter()
                    .map(|t| AgentToken {
                        token_id: t.id.to_string(),
                        name: t.name,
                        expires_at: t.expires_at,
                        revoked: t.revoked_at.is_some(),
                    })
                    .collect(),
            );
        }
        response
    }))
}

/// One member.
#[utoipa::path(get, path = "/api/v1/team/{member_id}/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, description = "No such member in the caller's organization", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn get_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = member_id(&path)?;
    // Anyone may read their own record; the team needs the read permission.
    if !principal.actor().is_member(id) {
        authorize(&principal, Permission::ReadTeam)?;
    }
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let member = blocking(move || team::get_member(&db, organization_id, id, &context)).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// Invite a person: a `PENDING` member, an invitation and its e-mail.
#[utoipa::path(post, path = "/api/v1/team/invite/", tag = "team", request_body = InviteRequest,
    responses((status = 201, body = MemberResponse), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError),
        (status = 409, description = "E-mail or phone number already in the organization", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn invite_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let body = body.into_inner();
    let invite = Invite {
        first_name: body.first_name,
        last_name: body.last_name,
        email: Email::parse(&body.email).map_err(invalid)?,
        phone_number: body
            .phone_number
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(invalid)?,
        role: body.role.parse().map_err(invalid)?,
    };
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id, policy) = (state.db.clone(), principal.organization_id, state.invitation_policy());
    let member = blocking(move || team::invite_member(&db, organization_id, invite, &actor, &context, policy)).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(MemberResponse::from(member)))
}

/// Resend a `PENDING` member's invitation (new token, new expiry).
#[utoipa::path(post, path = "/api/v1/team/{member_id}/invite/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "The member is not PENDING", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn resend_invitation(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let id = member_id(&path)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id, policy) = (state.db.clone(), principal.organization_id, state.invitation_policy());
    let member = blocking(move || team::resend_invitation(&db, organization_id, id, &actor, &context, policy)).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// Cancel a `PENDING` member's invitation; the member leaves the list.
#[utoipa::path(delete, path = "/api/v1/team/{member_id}/invite/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 204, description = "Cancelled"), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "The member is not PENDING", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn cancel_invitation(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorize(&principal, Permission::WriteTeam)?;
    let id = member_id(&path)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    blocking(move || team::cancel_invitation(&db, organization_id, id, &context)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change a member's role, status (reactivate or deactivate), or both.
#[utoipa::path(put, path = "/api/v1/team/{member_id}/", tag = "team", request_body = UpdateMemberRequest,
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "A transition that makes no sense, or the last ADMINISTRATOR", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn update_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<UpdateMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let id = member_id(&path)?;
    let update = MemberUpdate {
        role: body.role.as_deref().map(str::parse).transpose().map_err(invalid)?,
        status: body.status.as_deref().map(str::parse).transpose().map_err(invalid)?,
    };
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let member = blocking(move || team::update_member(&db, organization_id, id, update, &actor, &context)).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// Deactivate a member: `INACTIVE`, with `deactivated_date`.
#[utoipa::path(delete, path = "/api/v1/team/{member_id}/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, description = "Already INACTIVE, PENDING, or the last ADMINISTRATOR", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn deactivate_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let id = member_id(&path)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let member = blocking(move || team::deactivate_member(&db, organization_id, id, &actor, &context)).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// The events a member performed or underwent, oldest first.
#[utoipa::path(get, path = "/api/v1/team/members/{member_id}/audit-logs/", tag = "audit",
    params(("member_id" = uuid::Uuid, Path), AuditLogParams),
    responses(
        (status = 200, body = [AuditEventResponse], headers(("X-Total-Count" = i64), ("Link" = String))),
        (status = 400, description = "A bad or reversed time range", body = ApiError),
        (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn member_audit_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    params: web::Query<AuditLogParams>,
) -> Result<HttpResponse, ApiError> {
    authorize(&principal, Permission::ReadAudit)?;
    let id = member_id(&path)?;
    let params = params.into_inner();
    let range = TimeRange::new(
        params
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()
            .map_err(bad_range)?,
        params
            .to
            .as_deref()
            .map(|v| parse_time("to", v))
            .transpose()
            .map_err(bad_range)?,
    )
    .map_err(bad_range)?;
    let page = PageRequest::new(params.page, params.page_size).map_err(invalid)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let page = blocking(move || team::member_audit_log(&db, organization_id, id, range, page, &context)).await?;
    Ok(paginated(&req, page, AuditEventResponse::from))
}

async fn lifecycle(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Bytes,
    action: Lifecycle,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let id = member_id(&path)?;
    // The body is optional; when present it must be a well-formed LifecycleRequest.
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<LifecycleRequest>(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?
            .reason
    };
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let member =
        blocking(move || team::change_lifecycle(&db, organization_id, id, action, reason, &actor, &context)).await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// Suspend a member temporarily (seed 001); their tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/team/{member_id}/suspend/", tag = "team", request_body = Option<LifecycleRequest>,
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "Not ACTIVE, or the last ADMINISTRATOR", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn suspend_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    lifecycle(state, principal, meta, path, body, Lifecycle::Suspend).await
}

/// Block a member for security reasons (seed 001); their tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/team/{member_id}/block/", tag = "team", request_body = Option<LifecycleRequest>,
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "Already BLOCKED, PENDING, or the last ADMINISTRATOR", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn block_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    lifecycle(state, principal, meta, path, body, Lifecycle::Block).await
}

/// Activate a SUSPENDED, BLOCKED or INACTIVE member (seed 001); 409 when already ACTIVE.
#[utoipa::path(post, path = "/api/v1/team/{member_id}/activate/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberResponse), (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "Already ACTIVE, or never registered", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn activate_member(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    lifecycle(state, principal, meta, path, body, Lifecycle::Activate).await
}

/// Change several members at once (seed 002): all or nothing; a failure names the item and why.
#[utoipa::path(put, path = "/api/v1/team/", tag = "team", request_body = BatchUpdateRequest,
    responses((status = 200, body = [MemberResponse]),
        (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, description = "An item names no member of the organization", body = ApiError),
        (status = 409, description = "An item's change is refused; nothing was changed", body = ApiError),
        (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn update_members(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<BatchUpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = authorize(&principal, Permission::WriteTeam)?;
    let items = body.into_inner().members;
    if items.is_empty() || items.len() > 1000 {
        return Err(invalid(crate::domain::InvalidValue::new(
            "members",
            "give 1 to 1000 changes",
        )));
    }
    let mut updates = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = |e: crate::domain::InvalidValue| invalid(e).field(format!("members[{i}]"), "this item is invalid");
        let id = item
            .member_id
            .parse()
            .map_err(|_| ApiError::not_found("member").field(format!("members[{i}].member_id"), "no such member"))?;
        let update = MemberUpdate {
            role: item.role.as_deref().map(str::parse).transpose().map_err(at)?,
            status: item.status.as_deref().map(str::parse).transpose().map_err(at)?,
        };
        updates.push((id, update));
    }
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, organization_id) = (state.db.clone(), principal.organization_id);
    let result =
        crate::api::in_blocking_pool(move || team::update_members(&db, organization_id, updates, &actor, &context))
            .await
            .map_err(|_| ApiError::from(crate::service::ServiceError::Internal("cancelled".into())))?;
    let members = result.map_err(|f| batch_error(f, "members"))?;
    Ok(HttpResponse::Ok().json(members.into_iter().map(MemberResponse::from).collect::<Vec<_>>()))
}

/// A batch's refusal names the failing item (`members[2]`, `user_ids[0]`) and its id, then what the
/// item's own error said; the status is the item's.
pub(super) fn batch_error(failure: team::BatchFailure, list: &str) -> ApiError {
    if failure.index == usize::MAX {
        return failure.error.into();
    }
    let error = ApiError::from(failure.error);
    let message = format!(
        "{list}[{}] ({}): {}; nothing was changed",
        failure.index, failure.item, error.message
    );
    let inner = error.details.clone();
    let mut batch = ApiError {
        message: message.clone(),
        details: Vec::new(),
        ..error
    }
    .field(format!("{list}[{}]", failure.index), message);
    batch.details.extend(inner);
    batch
}

/// A bad or reversed time range is a 400.
fn bad_range(e: crate::domain::InvalidValue) -> ApiError {
    ApiError::bad_request(e.to_string()).field(e.field, e.message)
}

/// `POST /team/{member_id}/tokens/`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTokenRequest {
    /// A label for the token.
    name: Option<String>,
    /// Lifetime in days (default 90, at most 365).
    expires_in_days: Option<i64>,
}

/// Mint a token for an AI agent: it acts with the agent's role, and stops working as soon as the
/// agent is suspended or removed. The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/team/{member_id}/tokens/", tag = "team",
    params(("member_id" = uuid::Uuid, Path)), request_body = AgentTokenRequest,
    responses((status = 201, description = "`{token_id, token, expires_at}`"), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "Not an ACTIVE agent", body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn create_agent_token(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<AgentTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    authorize(&principal, Permission::ManageOrganization)?;
    let id = member_id(&path)?;
    let body = body.into_inner();
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        return Err(invalid(InvalidValue::new("expires_in_days", "from 1 to 365")));
    }
    let name = body.name.unwrap_or_else(|| "agent".to_owned());
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, signer, organization_id) = (state.db.clone(), state.signer.clone(), principal.organization_id);
    let issued = blocking(move || {
        crate::service::tokens::create_agent_token(
            &db,
            &signer,
            organization_id,
            id,
            &name,
            chrono::Duration::days(days),
            &context,
        )
        .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "token_id": issued.id.to_string(),
        "token": issued.token,
        "expires_at": issued.expires_at.format(super::wire::TIMESTAMP_FORMAT).to_string(),
    })))
}
