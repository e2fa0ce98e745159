//! Events out (`/events/`, `/webhooks/`) and in (`POST /audit-logs/`), and the audit export.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::team::batch_error;
use super::wire::{AuditEventResponse, parse_time};
use crate::api::auth::RequestMeta;
use crate::api::error::ApiError;
use crate::api::{AppState, blocking, in_blocking_pool};
use crate::auth::Principal;
use crate::domain::audit::Channel;
use crate::domain::events::FeedPosition;
use crate::domain::{InvalidValue, MemberId, Permission};
use crate::service::ServiceError;
use crate::service::events::{self as svc, ProductEvent, Recorded, Webhook, WebhookUpdate};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/events/", "/events"]).get(feed))
        .service(
            web::resource(["/webhooks/", "/webhooks"])
                .get(list_webhooks)
                .post(create_webhook),
        )
        .service(web::resource(["/webhooks/{id}/deliveries/", "/webhooks/{id}/deliveries"]).get(list_deliveries))
        .service(
            web::resource([
                "/webhooks/{id}/deliveries/{delivery_id}/redeliver/",
                "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            ])
            .post(redeliver),
        )
        .service(
            web::resource(["/webhooks/{id}/", "/webhooks/{id}"])
                .get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .service(web::resource(["/audit-logs/export/", "/audit-logs/export"]).get(export_audit_log))
        .service(web::resource(["/audit-logs/", "/audit-logs"]).post(record_events));
}

fn require(principal: &Principal, permission: Permission, why: &str) -> Result<(), ApiError> {
    if principal.actor().may(permission) {
        Ok(())
    } else {
        Err(ApiError::forbidden(why))
    }
}

fn invalid(e: InvalidValue) -> ApiError {
    ApiError::from(ServiceError::Invalid(e))
}

// ---- The feed -------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The `next_cursor` of the previous page; absent: from the first event.
    after: Option<String>,
    /// At most this many events (1 to 1000, default 100).
    limit: Option<i64>,
    /// Event types, comma-separated; `member.*` takes a family.
    types: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedResponse {
    /// Oldest first: `{id, type, timestamp, data}`, `data` carrying `version`, `actor`, the resource
    /// after the change (`member`) and the `changes`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Where to resume: pass it as `after`. Never skips an event, even when transactions commit
    /// out of order.
    pub next_cursor: String,
}

/// The organization's change events, oldest first, resumable from a cursor.
#[utoipa::path(get, path = "/api/v1/events/", tag = "events", params(FeedParams),
    responses((status = 200, body = FeedResponse), (status = 400, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn feed(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    params: web::Query<FeedParams>,
) -> Result<HttpResponse, ApiError> {
    require(
        &principal,
        Permission::ReadEvents,
        "reading the events feed needs events:read or an administrator role",
    )?;
    let params = params.into_inner();
    let after = match params.after.as_deref().filter(|a| !a.is_empty()) {
        Some(cursor) => FeedPosition::from_cursor(cursor).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => FeedPosition::default(),
    };
    let types: Vec<String> = params.types.unwrap_or_default().split(',').map(str::to_owned).collect();
    let (db, org, limit) = (state.db.clone(), principal.organization_id, params.limit.unwrap_or(100));
    let page = blocking(move || svc::read_feed(&db, org, after, &types, limit).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(FeedResponse {
        events: page.events.iter().map(|e| e.body()).collect(),
        next_cursor: page.next.cursor(),
    }))
}

// ---- Webhooks -------------------------------------------------------------------------------

const MANAGE: &str = "managing webhooks needs org:admin or the ADMINISTRATOR role";

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub id: String,
    pub url: String,
    /// Types delivered (empty: all).
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why deliveries stopped, when the endpoint was disabled after failing too long.
    pub disabled_reason: Option<String>,
    /// Since when deliveries have been failing.
    #[schema(value_type = Option<String>)]
    pub failing_since: Option<chrono::NaiveDateTime>,
    /// Only in the answer that created the endpoint or rotated its secret: keep it, it is not
    /// shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(value_type = String)]
    pub created_at: chrono::NaiveDateTime,
}

fn response(w: Webhook, secret: Option<String>) -> WebhookResponse {
    WebhookResponse {
        id: w.id,
        url: w.url,
        event_types: w.event_types,
        enabled: w.enabled,
        disabled_reason: w.disabled_reason,
        failing_since: w.failing_since,
        secret,
        created_at: w.created_at,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    url: String,
    /// Types to deliver (`member.deactivated`, `group.*`); absent or `["*"]`: all.
    #[serde(default)]
    event_types: Vec<String>,
}

async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    crate::webhooks::check_destination(url, state.settings.webhooks.allow_private_networks)
        .await
        .map(|(u, _)| u.to_string())
        .map_err(|why| invalid(InvalidValue::new("url", why)))
}

/// Create a webhook endpoint: it receives the events that happen from now on, signed with the
/// secret in this answer (shown once).
#[utoipa::path(post, path = "/api/v1/webhooks/", tag = "events", request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookResponse), (status = 403, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn create_webhook(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let body = body.into_inner();
    let url = checked_url(&state, &body.url).await?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, org) = (state.db.clone(), principal.organization_id);
    let (webhook, secret) =
        blocking(move || svc::create_webhook(&db, org, &context, &url, &body.event_types).map_err(ApiError::from))
            .await?;
    Ok(HttpResponse::Created().json(response(webhook, Some(secret))))
}

#[utoipa::path(get, path = "/api/v1/webhooks/", tag = "events",
    responses((status = 200, body = [WebhookResponse]), (status = 403, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn list_webhooks(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let (db, org) = (state.db.clone(), principal.organization_id);
    let hooks = blocking(move || svc::list_webhooks(&db, org).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(hooks.into_iter().map(|w| response(w, None)).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = WebhookResponse), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn get_webhook(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let (db, org, id) = (state.db.clone(), principal.organization_id, path.into_inner());
    let hook = blocking(move || svc::get_webhook(&db, org, &id).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(response(hook, None)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    /// `true` also ends a failure streak or a disablement: deliveries resume at once.
    enabled: Option<bool>,
    /// A new signing secret, returned once in the answer.
    #[serde(default)]
    rotate_secret: bool,
}

/// Change an endpoint: URL, event types, enabled, or a new signing secret.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}/", tag = "events", params(("id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses((status = 200, body = WebhookResponse), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn update_webhook(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
    body: web::Json<UpdateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let body = body.into_inner();
    let url = match &body.url {
        Some(u) => Some(checked_url(&state, u).await?),
        None => None,
    };
    let update = WebhookUpdate {
        url,
        event_types: body.event_types,
        enabled: body.enabled,
        rotate_secret: body.rotate_secret,
    };
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, org, id) = (state.db.clone(), principal.organization_id, path.into_inner());
    let (hook, secret) =
        blocking(move || svc::update_webhook(&db, org, &context, &id, update).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(response(hook, secret)))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}/", tag = "events", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn delete_webhook(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, org, id) = (state.db.clone(), principal.organization_id, path.into_inner());
    blocking(move || svc::delete_webhook(&db, org, &context, &id).map_err(ApiError::from)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: String,
    /// The event's id as receivers see it (`webhook-id`).
    pub event_id: String,
    pub event_type: String,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub succeeded: bool,
    #[schema(value_type = String)]
    pub created_at: chrono::NaiveDateTime,
}

/// The endpoint's delivery attempts, newest first, with status and latency.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = [DeliveryResponse]), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub(super) async fn list_deliveries(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let (db, org, id) = (state.db.clone(), principal.organization_id, path.into_inner());
    let rows = blocking(move || svc::list_deliveries(&db, org, &id, 100).map_err(ApiError::from)).await?;
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(|d| DeliveryResponse {
                id: d.id,
                event_id: format!("evt_{}", d.event_id),
                event_type: d.event_type,
                attempt: d.attempt,
                status_code: d.status_code,
                error: d.error,
                latency_ms: d.latency_ms,
                succeeded: d.succeeded,
                created_at: d.created_at,
            })
            .collect::<Vec<_>>(),
    ))
}

/// Send a delivery's event again, now (the receiver may have lost it); the attempt is recorded.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver/", tag = "events",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, description = "The attempt: {delivery_id, succeeded, status_code, error}"), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn redeliver(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require(&principal, Permission::ManageWebhooks, MANAGE)?;
    let (id, delivery_id) = path.into_inner();
    let (db, org) = (state.db.clone(), principal.organization_id);
    let dispatch = blocking(move || svc::redelivery(&db, org, &id, &delivery_id).map_err(ApiError::from)).await?;
    let settings = crate::startup::webhook_settings(&state.settings);
    let attempt = crate::webhooks::send(&dispatch, &settings).await;
    let db = state.db.clone();
    let (recorded, attempt) = blocking(move || {
        svc::record_redelivery(&db, &dispatch, &attempt)
            .map(|id| (id, attempt))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "delivery_id": recorded,
        "succeeded": attempt.succeeded(),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "latency_ms": attempt.latency_ms,
    })))
}

// ---- Events in ------------------------------------------------------------------------------

/// Largest `entry_metadata` of one event, in bytes of JSON.
const MAX_METADATA_BYTES: usize = 8 * 1024;
const MAX_BATCH: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductEventRequest {
    /// Your id for the event: sending it again records nothing new.
    event_id: String,
    /// Dotted lower-case words: `pocket.modify`, `transaction.list`, `user.login` (which also sets
    /// the member's `last_login`).
    event_name: String,
    #[schema(value_type = uuid::Uuid)]
    member_id: String,
    /// Who did it, as the product names them (default: the calling token).
    actor: Option<String>,
    /// When it happened (default: now).
    timestamp: Option<String>,
    /// `ip_address`, `user_agent`, the ids of what was touched; at most 8 KiB of JSON.
    #[serde(default)]
    #[schema(value_type = Object)]
    entry_metadata: Map<String, Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RecordRequest {
    Batch { events: Vec<ProductEventRequest> },
    One(ProductEventRequest),
}

fn product_event(item: ProductEventRequest) -> Result<ProductEvent, InvalidValue> {
    let event_id = item.event_id.trim().to_owned();
    if event_id.is_empty() || event_id.len() > 200 || event_id.chars().any(char::is_control) {
        return Err(InvalidValue::new("event_id", "1 to 200 printable characters"));
    }
    svc::check_event_name(&item.event_name)?;
    let member_id: MemberId = item
        .member_id
        .parse()
        .map_err(|_| InvalidValue::new("member_id", "not a member id"))?;
    if item.actor.as_ref().is_some_and(|a| a.len() > 200) {
        return Err(InvalidValue::new("actor", "at most 200 characters"));
    }
    if Value::Object(item.entry_metadata.clone()).to_string().len() > MAX_METADATA_BYTES {
        return Err(InvalidValue::new("entry_metadata", "at most 8 KiB of JSON"));
    }
    Ok(ProductEvent {
        event_id,
        event_name: item.event_name,
        member_id,
        actor: item.actor,
        timestamp: item
            .timestamp
            .as_deref()
            .map(|t| parse_time("timestamp", t))
            .transpose()?,
        metadata: item.entry_metadata,
    })
}

/// Record the product's own events (logins, data listing and changes) in the organization's audit
/// log: one or a batch (`{"events": [...]}`), all or nothing, idempotent by `event_id`.
#[utoipa::path(post, path = "/api/v1/audit-logs/", tag = "audit", request_body = RecordRequest,
    responses((status = 201, description = "`{results: [{event_id, status: created|duplicate}]}`"),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn record_events(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    meta: RequestMeta,
    body: web::Json<RecordRequest>,
) -> Result<HttpResponse, ApiError> {
    require(
        &principal,
        Permission::WriteAudit,
        "recording events needs audit:write or an administrator role",
    )?;
    let items = match body.into_inner() {
        RecordRequest::Batch { events } => events,
        RecordRequest::One(one) => vec![one],
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(invalid(InvalidValue::new("events", "1 to 500 events")));
    }
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let event = product_event(item).map_err(|e| {
            batch_error(
                crate::service::team::BatchFailure {
                    index,
                    item: String::new(),
                    error: ServiceError::Invalid(e),
                },
                "events",
            )
        })?;
        events.push(event);
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let context = meta.audit_context(&principal, Channel::Api);
    let (db, org) = (state.db.clone(), principal.organization_id);
    let outcome = in_blocking_pool(move || svc::record_product_events(&db, org, &context, &events))
        .await
        .map_err(|_| ApiError::from(ServiceError::Internal("cancelled".into())))?
        .map_err(|failure| batch_error(failure, "events"))?;
    let results: Vec<Value> = ids
        .iter()
        .zip(outcome)
        .map(|(id, r)| {
            json!({"event_id": id, "status": match r { Recorded::Created => "created", Recorded::Duplicate => "duplicate" }})
        })
        .collect();
    Ok(HttpResponse::Created().json(json!({ "results": results })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// From this time (ISO 8601), inclusive.
    from: Option<String>,
    /// To this time, inclusive.
    to: Option<String>,
}

/// The organization's audit log for a time range as NDJSON (one event per line, oldest first),
/// streamed a page at a time: for SIEM ingestion.
#[utoipa::path(get, path = "/api/v1/audit-logs/export/", tag = "audit", params(ExportParams),
    responses((status = 200, description = "application/x-ndjson, one audit event per line", content_type = "application/x-ndjson"),
        (status = 400, body = ApiError), (status = 403, body = ApiError)),
    security(("bearer" = [])))]
pub(super) async fn export_audit_log(
    state: web::Data<AppState>,
    principal: web::ReqData<Principal>,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    require(
        &principal,
        Permission::ReadAudit,
        "reading audit logs needs audit:read or an administrator role",
    )?;
    let bound = |field, raw: &Option<String>| {
        raw.as_deref()
            .map(|t| parse_time(field, t))
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))
    };
    let (from, to) = (bound("from", &params.from)?, bound("to", &params.to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::bad_request("`from` is after `to`"));
    }
    let (db, org) = (state.db.clone(), principal.organization_id);
    // State: where the next page starts; `None` once the last page was sent.
    let start: Option<Option<(chrono::NaiveDateTime, String)>> = Some(None);
    let stream = futures_util::stream::unfold(start, move |state| {
        let db = db.clone();
        async move {
            let after = state?;
            let page = in_blocking_pool(move || svc::audit_page(&db, org, from, to, after, 500)).await;
            match page {
                Ok(Ok((events, next))) => {
                    let mut out = Vec::new();
                    for e in events {
                        serde_json::to_writer(&mut out, &AuditEventResponse::from(e)).ok();
                        out.push(b'\n');
                    }
                    let state = next.map(Some);
                    Some((Ok::<_, actix_web::Error>(Bytes::from(out)), state))
                }
                Ok(Err(e)) => Some((Err(ApiError::from(e).into()), None)),
                Err(_) => None,
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream))
}
