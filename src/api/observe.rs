//! What the service shows about itself: request metrics for every door, the provisioning activity
//! log of the SCIM door (written in batches off the request path), and the `/metrics` page.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use tokio::sync::mpsc;

use super::AppState;
use super::auth::ScimAuth;
use crate::metrics::door_of;
use crate::scim::ScimError;
use crate::storage::{self, Database, NewActivityRow};

/// Counts and times every request by door and route (the route's pattern, never the raw path, so
/// that ids do not become label values).
pub async fn measure_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let door = door_of(req.path());
    // Known methods only: any other token a client sends must not become a new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res.request().match_pattern();
        let route = route.as_deref().unwrap_or("(unmatched)");
        let status = res.status();
        let metrics = &state.metrics;
        metrics
            .http_requests
            .with_label_values(&[door, route, method, status.as_str()])
            .inc();
        metrics
            .http_duration
            .with_label_values(&[door, route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// The identity provider behind a SCIM request, from its User-Agent.
pub fn client_of(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or_default().to_ascii_lowercase();
    if ua.contains("okta") {
        "Okta"
    } else if ua.contains("azure") || ua.contains("microsoft") || ua.contains("entra") || ua.contains("aad") {
        "Entra ID"
    } else {
        "other"
    }
}

/// A SCIM request in the words of the activity log: its operation and the resource it was about.
#[derive(Debug, PartialEq, Eq)]
pub struct ScimOperation {
    pub operation: &'static str,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
}

/// Classifies `method path` under `/scim/v2/`.
pub fn classify(method: &str, path: &str) -> ScimOperation {
    let rest = path
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("/scim/v2/"))
        .map(|_| &path[9..])
        .unwrap_or(path.trim_start_matches('/'));
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let first = segments.next().unwrap_or_default();
    let second = segments.next();
    let resource_type = match first.to_ascii_lowercase().as_str() {
        "users" => Some("User"),
        "groups" => Some("Group"),
        "agents" => Some("Agent"),
        _ => None,
    };
    let operation = match (first.to_ascii_lowercase().as_str(), second, method) {
        ("bulk", _, _) => "bulk",
        (".search", _, _) | (_, Some(".search"), _) => "search",
        ("serviceproviderconfig" | "schemas" | "resourcetypes", _, _) => "discovery",
        (_, None, "GET") if resource_type.is_some() => "list",
        (_, None, "POST") if resource_type.is_some() => "create",
        (_, Some(_), "GET") => "get",
        (_, Some(_), "PUT") => "replace",
        (_, Some(_), "PATCH") => "update",
        (_, Some(_), "DELETE") => "delete",
        _ => "other",
    };
    let resource_id = second
        .filter(|s| *s != ".search")
        .map(|s| s.chars().take(100).collect());
    ScimOperation {
        operation,
        resource_type,
        resource_id,
    }
}

/// Records every SCIM request whose token names an organization, after it is answered: in the
/// metrics at once, in the activity log through the batch writer.
pub async fn record_scim_activity(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let at = crate::domain::now();
    let organization_id = req.extensions().get::<ScimAuth>().map(ScimAuth::organization_id);
    let method = req.method().as_str().to_owned();
    let path: String = req.path().chars().take(300).collect();
    let client = client_of(req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    let Some(state) = state else { return Ok(res) };

    let status = res.status();
    let succeeded = status.as_u16() < 400;
    let mut op = classify(&method, &path);
    if op.operation == "create" && succeeded {
        // The new resource's id is the last segment of its Location.
        op.resource_id = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.rsplit('/').next())
            .map(|id| id.chars().take(100).collect());
    }
    let (scim_type, detail) = match res.response().error().and_then(|e| e.as_error::<ScimError>()) {
        Some(e) => (
            e.scim_type.map(|t| t.as_str().to_owned()),
            Some(e.detail.chars().take(1000).collect()),
        ),
        None if !succeeded => (None, status.canonical_reason().map(str::to_owned)),
        None => (None, None),
    };
    state
        .metrics
        .scim_operations
        .with_label_values(&[op.operation, if succeeded { "success" } else { "failure" }, client])
        .inc();
    if let Some(organization_id) = organization_id {
        let row = NewActivityRow {
            organization_id: organization_id.to_string(),
            at,
            client: client.to_owned(),
            method,
            path,
            operation: op.operation.to_owned(),
            resource_type: op.resource_type.map(str::to_owned),
            resource_id: op.resource_id,
            status: i32::from(status.as_u16()),
            succeeded,
            scim_type,
            detail,
            duration_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
        };
        if state.activity.try_send(row).is_err() {
            state.metrics.activity_dropped.inc();
        }
    }
    Ok(res)
}

/// Where the SCIM door hands its activity rows to the writer.
pub type ActivitySender = mpsc::Sender<NewActivityRow>;

/// Rows waiting for the writer at most; past it rows are dropped (and counted), never the request.
const ACTIVITY_QUEUE: usize = 10_000;
/// Rows written per transaction at most.
const ACTIVITY_BATCH: usize = 1_000;
/// How long the writer gathers rows before it writes them (the log is this much behind at most,
/// besides the write itself).
const ACTIVITY_GATHER: std::time::Duration = std::time::Duration::from_millis(250);

pub fn activity_channel() -> (ActivitySender, mpsc::Receiver<NewActivityRow>) {
    mpsc::channel(ACTIVITY_QUEUE)
}

/// Writes queued activity rows in batches (one transaction each, so a busy SCIM door costs the
/// database one write per batch, not one per request), and prunes old rows and ended console
/// sessions once an hour.
pub fn spawn_activity_writer(
    db: Database,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut rx: mpsc::Receiver<NewActivityRow>,
    retention: chrono::Duration,
) {
    tokio::spawn(async move {
        let mut last_prune: Option<Instant> = None;
        let mut batch = Vec::with_capacity(ACTIVITY_BATCH);
        loop {
            let prune_due = last_prune.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600));
            if prune_due {
                last_prune = Some(Instant::now());
                let db = db.clone();
                let pruned = tokio::task::spawn_blocking(move || prune(&db, retention)).await;
                match pruned {
                    Ok(Ok(n)) if n > 0 => tracing::info!(rows = n, "pruned old activity and console sessions"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "pruning activity failed; will retry"),
                    Err(e) => tracing::error!(error = %e, "activity pruning task failed"),
                }
            }
            let received = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                rx.recv_many(&mut batch, ACTIVITY_BATCH),
            )
            .await;
            match received {
                Err(_) => continue,
                Ok(0) => return,
                Ok(_) => {}
            }
            // Gather for a moment more: each commit rewrites the index pages it touched, so a
            // few large transactions a second cost far less than one per request or two. The
            // writer sleeps through it rather than waking for every row, then takes what came.
            if batch.len() < ACTIVITY_BATCH {
                tokio::time::sleep(ACTIVITY_GATHER).await;
                while batch.len() < ACTIVITY_BATCH {
                    match rx.try_recv() {
                        Ok(row) => batch.push(row),
                        Err(_) => break,
                    }
                }
            }
            let rows = std::mem::replace(&mut batch, Vec::with_capacity(ACTIVITY_BATCH));
            let count = rows.len() as u64;
            let db = db.clone();
            // Rows of an organization deleted meanwhile are left out (they would fail their
            // foreign key and take the batch with them); a failed batch is tried once more.
            let written = tokio::task::spawn_blocking(move || {
                let attempt = || db.write(|conn| storage::insert_activity(conn, &rows));
                attempt().or_else(|_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    attempt()
                })
            })
            .await;
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    metrics.activity_dropped.inc_by(count);
                    tracing::warn!(error = %e, rows = count, "writing provisioning activity failed; batch dropped")
                }
                Err(e) => {
                    metrics.activity_dropped.inc_by(count);
                    tracing::error!(error = %e, "activity writer task failed")
                }
            }
        }
    });
}

fn prune(db: &Database, retention: chrono::Duration) -> Result<usize, storage::StorageError> {
    let now = crate::domain::now();
    let mut total = db.write(|conn| storage::prune_console(conn, now))?;
    loop {
        let n = db.write(|conn| storage::prune_activity(conn, now - retention, 5_000))?;
        total += n;
        if n < 5_000 {
            return Ok(total);
        }
    }
}

/// `/metrics`: open, or behind `Authorization: Bearer <metrics_token>` when that is set.
pub async fn metrics_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = state.settings.metrics_token.as_deref() {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let matches = presented
            .is_some_and(|p| crate::auth::hash_token(p).as_bytes() == crate::auth::hash_token(expected).as_bytes());
        if !matches {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .body("metrics need the metrics token\n");
        }
    }
    let db = state.db.clone();
    let metrics = state.metrics.clone();
    match super::in_blocking_pool(move || metrics.render(&db)).await {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(body),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_requests_are_named_by_operation_and_resource() {
        let c = |m, p| classify(m, p);
        assert_eq!(c("POST", "/scim/v2/Users").operation, "create");
        assert_eq!(c("GET", "/scim/v2/Users").operation, "list");
        let get = c("GET", "/scim/v2/Users/abc");
        assert_eq!(
            (get.operation, get.resource_type, get.resource_id.as_deref()),
            ("get", Some("User"), Some("abc"))
        );
        assert_eq!(c("PATCH", "/scim/v2/Groups/g1").operation, "update");
        assert_eq!(c("PUT", "/scim/v2/Users/u1").operation, "replace");
        assert_eq!(c("DELETE", "/scim/v2/Agents/a1").resource_type, Some("Agent"));
        assert_eq!(c("POST", "/scim/v2/Users/.search").operation, "search");
        assert_eq!(c("POST", "/scim/v2/Users/.search").resource_id, None);
        assert_eq!(c("POST", "/scim/v2/Bulk").operation, "bulk");
        assert_eq!(c("GET", "/scim/v2/ServiceProviderConfig").operation, "discovery");
    }

    #[test]
    fn clients_are_told_apart_by_user_agent() {
        assert_eq!(client_of(Some("Okta SCIM Client 1.0.0")), "Okta");
        assert_eq!(client_of(Some("Azure Active Directory SCIM Client")), "Entra ID");
        assert_eq!(client_of(Some("curl/8.5.0")), "other");
        assert_eq!(client_of(None), "other");
    }
}
