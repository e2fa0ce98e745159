//! The SCIM endpoints.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::provision::{self, Call};
use super::{header_value, method_not_allowed, query_pairs, read_json, scim_json};
use crate::api::AppState;
use crate::api::auth::{RequestMeta, ScimAuth};
use crate::auth::Principal;
use crate::domain::query::{Condition, Direction, GroupField, ListQuery, MemberField, PageStart};
use crate::mapping::filter::{group_condition, group_sort_field, member_condition, member_sort_field};
use crate::mapping::group::group_input;
use crate::mapping::user::user_input;
use crate::scim::discovery::{Capabilities, resource_types, service_provider_config};
use crate::scim::list::{
    CursorPosition, ListParams, PageInfo, PageLimits, Paging, SortOrder, encode_cursor, list_response, parse_params,
};
use crate::scim::patch::parse_request;
use crate::scim::projection::{self, Projection};
use crate::scim::resource::canonicalise;
use crate::scim::schema::{AGENT, GROUP, ResourceSchema, USER, all_schemas};
use crate::scim::{ScimError, ScimType, filter};
use crate::service::ChangeContext;
use crate::service::groups::GroupRecord;
use crate::service::members::ProvisionedRecord;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Discovery is read-only: writes answer 405.
    let read_only = |path: &'static str, get: actix_web::Route| {
        web::resource(path)
            .route(get)
            .default_service(web::to(method_not_allowed))
    };
    cfg.service(read_only(
        "/ServiceProviderConfig",
        web::get().to(service_provider_config_handler),
    ))
    .service(read_only(
        "/serviceConfiguration",
        web::get().to(service_provider_config_handler),
    ))
    .service(read_only("/ResourceTypes", web::get().to(resource_types_handler)))
    .service(read_only("/ResourceTypes/{id}", web::get().to(resource_type_handler)))
    .service(read_only("/Schemas", web::get().to(schemas_handler)))
    .service(read_only("/Schemas/{id}", web::get().to(schema_handler)))
    .service(
        web::resource("/.search")
            .post(search_root)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/.search")
            .post(search_users)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users")
            .get(list_users)
            .post(create_user)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/{id}")
            .get(get_user)
            .put(replace_user)
            .patch(patch_user)
            .delete(delete_user)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Agents/.search")
            .post(search_agents)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Agents")
            .get(list_agents)
            .post(create_agent)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Agents/{id}")
            .get(get_agent)
            .put(replace_agent)
            .patch(patch_agent)
            .delete(delete_agent)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/.search")
            .post(search_groups)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups")
            .get(list_groups)
            .post(create_group)
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/{id}")
            .get(get_group)
            .put(replace_group)
            .patch(patch_group)
            .delete(delete_group)
            .default_service(web::to(method_not_allowed)),
    );
}

const DEFAULT_PAGE_SIZE: i64 = 100;

fn base_url(state: &AppState) -> String {
    state.settings.scim_base_url()
}

fn limits(state: &AppState) -> PageLimits {
    PageLimits {
        default: DEFAULT_PAGE_SIZE.min(state.settings.scim_max_results),
        max: state.settings.scim_max_results,
    }
}

pub(super) fn call<'a>(
    state: &'a AppState,
    principal: &Principal,
    audit: &'a crate::domain::audit::AuditContext,
) -> Call<'a> {
    Call {
        change: ChangeContext {
            organization_id: principal.organization_id,
            audit,
            policy: state.invitation_policy(),
            group_roles: &state.settings.group_roles,
        },
        role_aliases: &state.settings.role_aliases,
    }
}

// ---- Discovery ------------------------------------------------------------------------------

async fn service_provider_config_handler(
    state: web::Data<AppState>,
    auth: ScimAuth,
) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    let caps = Capabilities {
        max_bulk_operations: state.settings.scim_max_results as usize,
        max_payload_bytes: state.settings.max_body_bytes,
        max_results: state.settings.scim_max_results,
        default_page_size: limits(&state).default,
    };
    Ok(scim_json(
        StatusCode::OK,
        &service_provider_config(&base_url(&state), &caps),
    ))
}

fn discovery_list(resources: Vec<Value>) -> Value {
    let total = resources.len() as i64;
    list_response(
        resources,
        PageInfo {
            total,
            start_index: Some(1),
            next_cursor: None,
            previous_cursor: None,
        },
    )
}

async fn resource_types_handler(state: web::Data<AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    Ok(scim_json(
        StatusCode::OK,
        &discovery_list(resource_types(&base_url(&state))),
    ))
}

async fn resource_type_handler(
    state: web::Data<AppState>,
    auth: ScimAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    resource_types(&base_url(&state))
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id:?}")))
}

async fn schemas_handler(state: web::Data<AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    Ok(scim_json(
        StatusCode::OK,
        &discovery_list(all_schemas(&base_url(&state))),
    ))
}

async fn schema_handler(
    state: web::Data<AppState>,
    auth: ScimAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    all_schemas(&base_url(&state))
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(&id)))
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id:?}")))
}

// ---- Shared -----------------------------------------------------------------------------------

fn query_params(req: &HttpRequest, state: &AppState) -> Result<(ListParams, Vec<(String, String)>), ScimError> {
    let pairs = query_pairs(req)?;
    let params = parse_params(
        |name| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| Value::String(v.clone()))
        },
        limits(state),
    )?;
    Ok((params, pairs))
}

fn body_params(body: &Value, state: &AppState) -> Result<ListParams, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "a SearchRequest is a JSON object"))?;
    parse_params(
        |name| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        },
        limits(state),
    )
}

fn projection_of(pairs: &[(String, String)], schema: &ResourceSchema) -> Projection {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    projection::parse(get("attributes"), get("excludedAttributes"), schema)
}

fn direction(order: SortOrder) -> Direction {
    match order {
        SortOrder::Ascending => Direction::Ascending,
        SortOrder::Descending => Direction::Descending,
    }
}

/// Page start and SQL limit for the paging asked for. Cursor pages fetch one extra row to know
/// whether another page follows.
fn page_start(params: &ListParams) -> Result<(PageStart, i64), ScimError> {
    Ok(match &params.paging {
        Paging::Index { start_index } => (PageStart::Offset(start_index - 1), params.count),
        _ if params.sort_by.is_some() => {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                "cursor paging runs in id order: sortBy cannot be combined with cursor",
            ));
        }
        Paging::Cursor(None) => (PageStart::Offset(0), params.count + 1),
        Paging::Cursor(Some(CursorPosition::After(id))) => (PageStart::After(id.clone()), params.count + 1),
        Paging::Cursor(Some(CursorPosition::Before(id))) => (PageStart::Before(id.clone()), params.count + 1),
    })
}

/// Trims a cursor page's extra row and computes its cursors.
fn cursor_page<T>(params: &ListParams, mut items: Vec<T>, id_of: impl Fn(&T) -> String) -> (Vec<T>, PageInfo, i64) {
    let count = params.count as usize;
    let mut info = PageInfo {
        total: 0,
        start_index: None,
        next_cursor: None,
        previous_cursor: None,
    };
    match &params.paging {
        Paging::Index { start_index } => {
            info.start_index = Some(*start_index);
        }
        Paging::Cursor(position) => {
            let backwards = matches!(position, Some(CursorPosition::Before(_)));
            let more = items.len() > count;
            if more {
                if backwards {
                    items.remove(0);
                } else {
                    items.truncate(count);
                }
            }
            let (has_next, has_previous) = match position {
                None => (more, false),
                Some(CursorPosition::After(_)) => (more, true),
                Some(CursorPosition::Before(_)) => (true, more),
            };
            if has_next && let Some(last) = items.last() {
                info.next_cursor = Some(encode_cursor(&CursorPosition::After(id_of(last))));
            }
            if has_previous && let Some(first) = items.first() {
                info.previous_cursor = Some(encode_cursor(&CursorPosition::Before(id_of(first))));
            }
        }
    }
    (items, info, 0)
}

fn member_query(params: &ListParams) -> Result<ListQuery<MemberField>, ScimError> {
    member_query_for(params, &USER)
}

/// A Users or Agents query: the schema names the attributes a filter or sort may use.
fn member_query_for(params: &ListParams, schema: &ResourceSchema) -> Result<ListQuery<MemberField>, ScimError> {
    let condition = match &params.filter {
        Some(f) => member_condition(&filter::parse(f, schema)?)?,
        None => Condition::Always,
    };
    let sort = params
        .sort_by
        .as_deref()
        // An attribute that cannot be sorted by is served in the stable default order rather than
        // refused (sorting is optional in RFC 7644 §3.4.2.3).
        .and_then(|s| member_sort_field(s, schema).ok())
        .map(|f| (f, direction(params.sort_order)));
    let (start, limit) = page_start(params)?;
    Ok(ListQuery {
        condition,
        sort,
        start,
        limit,
    })
}

fn group_query(params: &ListParams) -> Result<ListQuery<GroupField>, ScimError> {
    let condition = match &params.filter {
        Some(f) => group_condition(&filter::parse(f, &GROUP)?)?,
        None => Condition::Always,
    };
    let sort = params
        .sort_by
        .as_deref()
        // An attribute that cannot be sorted by is served in the stable default order rather than
        // refused (sorting is optional in RFC 7644 §3.4.2.3).
        .and_then(|s| group_sort_field(s, &GROUP).ok())
        .map(|f| (f, direction(params.sort_order)));
    let (start, limit) = page_start(params)?;
    Ok(ListQuery {
        condition,
        sort,
        start,
        limit,
    })
}

fn with_etag(mut response: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(value) = header::HeaderValue::from_str(&crate::mapping::etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// 304 when the client's `If-None-Match` names the current version.
fn not_modified(req: &HttpRequest, version: i64) -> bool {
    header_value(req, header::IF_NONE_MATCH).is_some_and(|h| crate::mapping::if_match_allows(&h, version))
}

/// PATCH answers 200 with the resource, or 204 to a client that accepts anything (`*/*` only).
fn wants_no_content(req: &HttpRequest) -> bool {
    header_value(req, header::ACCEPT).is_some_and(|a| a.trim() == "*/*")
}

// ---- Users ----------------------------------------------------------------------------------

fn render_users(records: &[ProvisionedRecord], projection: &Projection, base: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| projection.apply(provision::render_provisioned(r, base), &USER))
        .collect()
}

async fn user_list(
    state: web::Data<AppState>,
    auth: ScimAuth,
    params: ListParams,
    projection: Projection,
) -> Result<HttpResponse, ScimError> {
    let query = member_query(&params)?;
    let db = state.db.clone();
    let (records, total) = auth
        .run(&state, move |p| provision::list_users(&db, p.organization_id, &query))
        .await?;
    let (records, mut info, _) = cursor_page(&params, records, |r| r.member.id.to_string());
    info.total = total;
    let resources = render_users(&records, &projection, &base_url(&state));
    Ok(scim_json(StatusCode::OK, &list_response(resources, info)))
}

async fn list_users(req: HttpRequest, state: web::Data<AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    let (params, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &USER);
    user_list(state, auth, params, projection).await
}

async fn search_users(
    state: web::Data<AppState>,
    auth: ScimAuth,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(body, state.settings.max_body_bytes).await?;
    let params = body_params(&body, &state)?;
    let projection = projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        &USER,
    );
    user_list(state, auth, params, projection).await
}

async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let (db, id) = (state.db.clone(), id.into_inner());
    let record = auth
        .run(&state, move |p| provision::get_user(&db, p.organization_id, &id))
        .await?;
    if not_modified(&req, record.member.version) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), record.member.version));
    }
    let body = projection_of(&pairs, &USER).apply(provision::render_provisioned(&record, &base_url(&state)), &USER);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.member.version))
}

fn user_body(body: &Value) -> Result<crate::mapping::user::UserInput, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "a User is a JSON object"))?;
    user_input(&canonicalise(object, &USER, true))
}

async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let input = user_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let (db, st) = (state.db.clone(), state.clone());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::create_user(&db, &call(&st, p, audit), input)
        })
        .await?;
    let rendered = provision::render_provisioned(&record, &base_url(&state));
    let location = rendered["meta"]["location"].as_str().unwrap_or_default().to_owned();
    let mut response = with_etag(
        scim_json(
            StatusCode::CREATED,
            &projection_of(&pairs, &USER).apply(rendered, &USER),
        ),
        record.member.version,
    );
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn replace_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let input = user_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::replace_user(&db, &call(&st, p, audit), &id, input, if_match.as_deref())
        })
        .await?;
    let body = projection_of(&pairs, &USER).apply(provision::render_provisioned(&record, &base_url(&state)), &USER);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.member.version))
}

async fn patch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let operations = parse_request(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::patch_user(&db, &call(&st, p, audit), &id, &operations, if_match.as_deref())
        })
        .await?;
    if wants_no_content(&req) {
        return Ok(with_etag(HttpResponse::NoContent().finish(), record.member.version));
    }
    let body = projection_of(&pairs, &USER).apply(provision::render_provisioned(&record, &base_url(&state)), &USER);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.member.version))
}

async fn delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    auth.audited(&state, meta, move |p, audit| {
        provision::delete_user(&db, &call(&st, p, audit), &id, if_match.as_deref())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- Agents ---------------------------------------------------------------------------------

fn render_agents(records: &[ProvisionedRecord], projection: &Projection, base: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| projection.apply(provision::render_agent_record(r, base), &AGENT))
        .collect()
}

async fn agent_list(
    state: web::Data<AppState>,
    auth: ScimAuth,
    params: ListParams,
    projection: Projection,
) -> Result<HttpResponse, ScimError> {
    let query = member_query_for(&params, &AGENT)?;
    let db = state.db.clone();
    let (records, total) = auth
        .run(&state, move |p| provision::list_agents(&db, p.organization_id, &query))
        .await?;
    let (records, mut info, _) = cursor_page(&params, records, |r| r.member.id.to_string());
    info.total = total;
    let resources = render_agents(&records, &projection, &base_url(&state));
    Ok(scim_json(StatusCode::OK, &list_response(resources, info)))
}

async fn list_agents(req: HttpRequest, state: web::Data<AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    let (params, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &AGENT);
    agent_list(state, auth, params, projection).await
}

async fn search_agents(
    state: web::Data<AppState>,
    auth: ScimAuth,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(body, state.settings.max_body_bytes).await?;
    let params = body_params(&body, &state)?;
    let projection = projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        &AGENT,
    );
    agent_list(state, auth, params, projection).await
}

fn agent_body(body: &Value) -> Result<(crate::mapping::user::UserInput, Option<Vec<String>>), ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "an Agent is a JSON object"))?;
    crate::mapping::agent::agent_input(&canonicalise(object, &AGENT, true))
}

fn agent_answer(
    req: &HttpRequest,
    state: &AppState,
    record: &ProvisionedRecord,
    status: StatusCode,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(req, state)?;
    let rendered = provision::render_agent_record(record, &base_url(state));
    let location = rendered["meta"]["location"].as_str().unwrap_or_default().to_owned();
    let mut response = with_etag(
        scim_json(status, &projection_of(&pairs, &AGENT).apply(rendered, &AGENT)),
        record.member.version,
    );
    if status == StatusCode::CREATED
        && let Ok(value) = header::HeaderValue::from_str(&location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn get_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (db, id) = (state.db.clone(), id.into_inner());
    let record = auth
        .run(&state, move |p| provision::get_agent(&db, p.organization_id, &id))
        .await?;
    if not_modified(&req, record.member.version) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), record.member.version));
    }
    agent_answer(&req, &state, &record, StatusCode::OK)
}

async fn create_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let input = agent_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let (db, st) = (state.db.clone(), state.clone());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::create_agent(&db, &call(&st, p, audit), input)
        })
        .await?;
    agent_answer(&req, &state, &record, StatusCode::CREATED)
}

async fn replace_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let input = agent_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::replace_agent(&db, &call(&st, p, audit), &id, input, if_match.as_deref())
        })
        .await?;
    agent_answer(&req, &state, &record, StatusCode::OK)
}

async fn patch_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let operations = parse_request(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::patch_agent(&db, &call(&st, p, audit), &id, &operations, if_match.as_deref())
        })
        .await?;
    if wants_no_content(&req) {
        return Ok(with_etag(HttpResponse::NoContent().finish(), record.member.version));
    }
    agent_answer(&req, &state, &record, StatusCode::OK)
}

async fn delete_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    auth.audited(&state, meta, move |p, audit| {
        provision::delete_agent(&db, &call(&st, p, audit), &id, if_match.as_deref())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- Groups ---------------------------------------------------------------------------------

fn render_groups(records: &[GroupRecord], projection: &Projection, base: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| projection.apply(provision::render_group_record(r, base), &GROUP))
        .collect()
}

async fn group_list(
    state: web::Data<AppState>,
    auth: ScimAuth,
    params: ListParams,
    projection: Projection,
) -> Result<HttpResponse, ScimError> {
    let query = group_query(&params)?;
    let with_members = projection.wants("members");
    let db = state.db.clone();
    let (records, total) = auth
        .run(&state, move |p| {
            provision::list_groups(&db, p.organization_id, &query, with_members)
        })
        .await?;
    let (records, mut info, _) = cursor_page(&params, records, |r| r.group.id.to_string());
    info.total = total;
    let resources = render_groups(&records, &projection, &base_url(&state));
    Ok(scim_json(StatusCode::OK, &list_response(resources, info)))
}

async fn list_groups(req: HttpRequest, state: web::Data<AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    let (params, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &GROUP);
    group_list(state, auth, params, projection).await
}

async fn search_groups(
    state: web::Data<AppState>,
    auth: ScimAuth,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(body, state.settings.max_body_bytes).await?;
    let params = body_params(&body, &state)?;
    let projection = projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        &GROUP,
    );
    group_list(state, auth, params, projection).await
}

async fn get_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &GROUP);
    let with_members = projection.wants("members");
    let (db, id) = (state.db.clone(), id.into_inner());
    let record = auth
        .run(&state, move |p| {
            provision::get_group(&db, p.organization_id, &id, with_members)
        })
        .await?;
    if not_modified(&req, record.group.version) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), record.group.version));
    }
    let body = projection.apply(provision::render_group_record(&record, &base_url(&state)), &GROUP);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.group.version))
}

fn group_body(body: &Value) -> Result<crate::mapping::group::GroupInput, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "a Group is a JSON object"))?;
    let members = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("members"))
        .map(|(_, v)| v);
    group_input(&canonicalise(object, &GROUP, true), members)
}

async fn create_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &GROUP);
    let with_members = projection.wants("members");
    let input = group_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let (db, st) = (state.db.clone(), state.clone());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::create_group(&db, &call(&st, p, audit), input, with_members)
        })
        .await?;
    let rendered = provision::render_group_record(&record, &base_url(&state));
    let location = rendered["meta"]["location"].as_str().unwrap_or_default().to_owned();
    let mut response = with_etag(
        scim_json(StatusCode::CREATED, &projection.apply(rendered, &GROUP)),
        record.group.version,
    );
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn replace_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &GROUP);
    let with_members = projection.wants("members");
    let input = group_body(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::replace_group(&db, &call(&st, p, audit), &id, input, if_match.as_deref(), with_members)
        })
        .await?;
    let body = projection.apply(provision::render_group_record(&record, &base_url(&state)), &GROUP);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.group.version))
}

async fn patch_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let (_, pairs) = query_params(&req, &state)?;
    let projection = projection_of(&pairs, &GROUP);
    let no_content = wants_no_content(&req);
    let with_members = projection.wants("members") && !no_content;
    let operations = parse_request(&read_json(body, state.settings.max_body_bytes).await?)?;
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    let record = auth
        .audited(&state, meta, move |p, audit| {
            provision::patch_group(
                &db,
                &call(&st, p, audit),
                &id,
                &operations,
                if_match.as_deref(),
                with_members,
            )
        })
        .await?;
    if no_content {
        return Ok(with_etag(HttpResponse::NoContent().finish(), record.group.version));
    }
    let body = projection.apply(provision::render_group_record(&record, &base_url(&state)), &GROUP);
    Ok(with_etag(scim_json(StatusCode::OK, &body), record.group.version))
}

async fn delete_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let if_match = header_value(&req, header::IF_MATCH);
    let (db, st, id) = (state.db.clone(), state.clone(), id.into_inner());
    auth.audited(&state, meta, move |p, audit| {
        provision::delete_group(&db, &call(&st, p, audit), &id, if_match.as_deref())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- Root search ------------------------------------------------------------------------------

/// `POST /.search`: Users then Groups, index-paged across both. A filter that names attributes of
/// one type only selects from that type.
async fn search_root(
    state: web::Data<AppState>,
    auth: ScimAuth,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(body, state.settings.max_body_bytes).await?;
    let params = body_params(&body, &state)?;
    let Paging::Index { start_index } = params.paging else {
        return Err(ScimError::bad_request(
            ScimType::InvalidValue,
            "a search across resource types pages by startIndex",
        ));
    };
    let user_condition = params
        .filter
        .as_deref()
        .map(|f| filter::parse(f, &USER).and_then(|f| member_condition(&f)));
    let group_condition_ = params
        .filter
        .as_deref()
        .map(|f| filter::parse(f, &GROUP).and_then(|f| group_condition(&f)));
    let (user_condition, group_condition_) = match (user_condition, group_condition_) {
        (None, None) => (Condition::Always, Condition::Always),
        (Some(Err(e)), Some(Err(_))) => return Err(e),
        (Some(u), Some(g)) => (u.unwrap_or(Condition::Never), g.unwrap_or(Condition::Never)),
        _ => unreachable!("both or neither"),
    };
    let (offset, count) = (start_index - 1, params.count);
    let db = state.db.clone();
    let (users, user_total, groups, group_total) = auth
        .run(&state, move |p| {
            let organization_id = p.organization_id;
            let users_query = ListQuery {
                condition: user_condition,
                sort: None,
                start: PageStart::Offset(offset),
                limit: count,
            };
            let (users, user_total) = provision::list_users(&db, organization_id, &users_query)?;
            let remaining = count - users.len() as i64;
            let group_offset = (offset - user_total).max(0);
            let groups_query = ListQuery {
                condition: group_condition_,
                sort: None,
                start: PageStart::Offset(group_offset),
                limit: remaining.max(0),
            };
            let (groups, group_total) = provision::list_groups(&db, organization_id, &groups_query, false)?;
            Ok((users, user_total, groups, group_total))
        })
        .await?;
    let base = base_url(&state);
    let user_projection = projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        &USER,
    );
    let group_projection = projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        &GROUP,
    );
    let mut resources = render_users(&users, &user_projection, &base);
    resources.extend(render_groups(&groups, &group_projection, &base));
    let info = PageInfo {
        total: user_total + group_total,
        start_index: Some(start_index),
        next_cursor: None,
        previous_cursor: None,
    };
    Ok(scim_json(StatusCode::OK, &list_response(resources, info)))
}
