//! A thin actix-web front end over the `scim-server` crate (pinned at 0.5.3),
//! used as the peer in roster's `benches/scim_load.rs`.
//!
//! Every request goes through the crate's own `ScimServer` (schema
//! validation, resource-type/operation checks) and its
//! `StandardResourceProvider` over either `InMemoryStorage` or
//! `SqliteStorage`. This file only does HTTP plumbing: argument parsing,
//! routing, body/query parsing, and mapping results to status codes.
//!
//! Usage:
//!   scim-server-peer --storage memory|sqlite [--port N] [--sqlite PATH] [--workers N]
//!
//! The first line on stdout is `listening on 127.0.0.1:PORT`.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use scim_server::providers::StandardResourceProvider;
use scim_server::storage::{InMemoryStorage, SqliteStorage, StorageProvider};
use scim_server::{
    create_user_resource_handler, RequestContext, ResourceProvider, ScimError, ScimOperation, ScimServer,
    ScimServerBuilder,
};
use serde_json::{json, Value};

const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Clone, Copy, PartialEq, Eq)]
enum StorageKind {
    Memory,
    Sqlite,
}

struct Args {
    storage: StorageKind,
    port: u16,
    sqlite_path: String,
    workers: Option<usize>,
}

fn usage() -> ! {
    eprintln!("usage: scim-server-peer --storage memory|sqlite [--port N] [--sqlite PATH] [--workers N]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut storage = None;
    let mut port = 0u16;
    let mut sqlite_path = None;
    let mut workers = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--storage" => {
                storage = Some(match value().as_str() {
                    "memory" => StorageKind::Memory,
                    "sqlite" => StorageKind::Sqlite,
                    _ => usage(),
                })
            }
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--sqlite" => sqlite_path = Some(value()),
            "--workers" => workers = Some(value().parse().unwrap_or_else(|_| usage())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let storage = storage.unwrap_or_else(|| usage());
    let sqlite_path = match (storage, sqlite_path) {
        (_, Some(p)) => p,
        (StorageKind::Sqlite, None) => {
            eprintln!("--storage sqlite needs --sqlite PATH");
            std::process::exit(2);
        }
        (StorageKind::Memory, None) => String::new(),
    };
    Args {
        storage,
        port,
        sqlite_path,
        workers,
    }
}

type Server<S> = ScimServer<StandardResourceProvider<S>>;

/// Builds the crate's `ScimServer` with the User resource type registered.
fn build_scim_server<S: StorageProvider>(storage: S, base_url: String) -> Server<S> {
    let provider = StandardResourceProvider::new(storage);
    let mut server = ScimServerBuilder::new(provider)
        .with_base_url(base_url)
        .build()
        .expect("scim-server: build ScimServer");
    let user_schema = server
        .get_schema_by_id(USER_SCHEMA)
        .expect("scim-server ships the core User schema")
        .clone();
    server
        .register_resource_type(
            "User",
            create_user_resource_handler(user_schema),
            vec![
                ScimOperation::Create,
                ScimOperation::Read,
                ScimOperation::Update,
                ScimOperation::Patch,
                ScimOperation::Delete,
                ScimOperation::List,
                ScimOperation::Search,
            ],
        )
        .expect("scim-server: register User");
    server
}

fn scim_response(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

fn error_response(status: StatusCode, detail: impl Into<String>) -> HttpResponse {
    let body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail.into(),
    });
    scim_response(status, &body)
}

/// Maps the crate's error to an HTTP status. Provider errors reach us as
/// strings (`ScimError::ProviderError(String)`), so those are classified
/// by their text.
fn from_scim_error(err: ScimError) -> HttpResponse {
    let status = match &err {
        ScimError::Validation(_) | ScimError::InvalidRequest { .. } | ScimError::Json(_) => StatusCode::BAD_REQUEST,
        ScimError::ResourceNotFound { .. } => StatusCode::NOT_FOUND,
        ScimError::UnsupportedResourceType(_) | ScimError::UnsupportedOperation { .. } => StatusCode::NOT_IMPLEMENTED,
        ScimError::ProviderError(msg) => {
            if msg.contains("Duplicate") {
                StatusCode::CONFLICT
            } else if msg.contains("not found") {
                StatusCode::NOT_FOUND
            } else if msg.contains("Invalid")
                || msg.contains("Patch operation failed")
                || msg.contains("Cannot modify")
                || msg.contains("Unsupported PATCH")
            {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, err.to_string())
}

fn parse_body(body: &[u8]) -> Result<Value, HttpResponse> {
    serde_json::from_slice(body).map_err(|e| error_response(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// The crate has no SCIM filter parser; it offers lookup by a single
/// attribute value (`ScimServer::find_resource_by_attribute`). So only the
/// form `ATTR eq "VALUE"` is accepted here and handed to that API.
fn parse_eq_filter(filter: &str) -> Option<(String, String)> {
    let (attr, rest) = filter.trim().split_once(char::is_whitespace)?;
    let (op, value) = rest.trim_start().split_once(char::is_whitespace)?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    match serde_json::from_str::<Value>(value.trim()).ok()? {
        Value::String(s) => Some((attr.to_string(), s)),
        _ => None,
    }
}

fn list_response(resources: Vec<Value>) -> HttpResponse {
    let n = resources.len();
    let body = json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": n,
        "startIndex": 1,
        "itemsPerPage": n,
        "Resources": resources,
    });
    scim_response(StatusCode::OK, &body)
}

async fn create_user<P>(server: web::Data<ScimServer<P>>, body: web::Bytes) -> HttpResponse
where
    P: ResourceProvider + Send + Sync + 'static,
{
    let data = match parse_body(&body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let ctx = RequestContext::with_generated_id();
    let created = match server.create_resource("User", data, &ctx).await {
        Ok(r) => r,
        Err(e) => return from_scim_error(e),
    };
    match server.serialize_resource_with_refs(&created, ctx.tenant_id()) {
        Ok(json) => {
            let mut resp = scim_response(StatusCode::CREATED, &json);
            if let Some(loc) = json.pointer("/meta/location").and_then(Value::as_str) {
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(loc) {
                    resp.headers_mut().insert(actix_web::http::header::LOCATION, v);
                }
            }
            resp
        }
        Err(e) => from_scim_error(e),
    }
}

async fn get_user<P>(server: web::Data<ScimServer<P>>, id: web::Path<String>) -> HttpResponse
where
    P: ResourceProvider + Send + Sync + 'static,
{
    let ctx = RequestContext::with_generated_id();
    match server.get_resource("User", &id, &ctx).await {
        Ok(Some(res)) => match server.serialize_resource_with_refs(&res, ctx.tenant_id()) {
            Ok(json) => scim_response(StatusCode::OK, &json),
            Err(e) => from_scim_error(e),
        },
        Ok(None) => error_response(StatusCode::NOT_FOUND, format!("User {} not found", id)),
        Err(e) => from_scim_error(e),
    }
}

async fn list_users<P>(server: web::Data<ScimServer<P>>, query: web::Query<HashMap<String, String>>) -> HttpResponse
where
    P: ResourceProvider + Send + Sync + 'static,
{
    let ctx = RequestContext::with_generated_id();
    let found = match query.get("filter") {
        Some(filter) => {
            let Some((attr, value)) = parse_eq_filter(filter) else {
                let body = json!({
                    "schemas": [ERROR_SCHEMA],
                    "status": "400",
                    "scimType": "invalidFilter",
                    "detail": "only filters of the form: attribute eq \"value\" are supported",
                });
                return scim_response(StatusCode::BAD_REQUEST, &body);
            };
            server
                .find_resource_by_attribute("User", &attr, &Value::String(value), &ctx)
                .await
                .map(|opt| opt.into_iter().collect::<Vec<_>>())
        }
        None => server.list_resources("User", &ctx).await,
    };
    let resources = match found {
        Ok(r) => r,
        Err(e) => return from_scim_error(e),
    };
    let mut out = Vec::with_capacity(resources.len());
    for r in &resources {
        match server.serialize_resource_with_refs(r, ctx.tenant_id()) {
            Ok(json) => out.push(json),
            Err(e) => return from_scim_error(e),
        }
    }
    list_response(out)
}

async fn patch_user<P>(server: web::Data<ScimServer<P>>, id: web::Path<String>, body: web::Bytes) -> HttpResponse
where
    P: ResourceProvider + Send + Sync + 'static,
{
    let patch = match parse_body(&body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let ctx = RequestContext::with_generated_id();
    match server.patch_resource("User", &id, &patch, &ctx).await {
        Ok(res) => match server.serialize_resource_with_refs(&res, ctx.tenant_id()) {
            Ok(json) => scim_response(StatusCode::OK, &json),
            Err(e) => from_scim_error(e),
        },
        Err(e) => from_scim_error(e),
    }
}

async fn serve<S>(storage: S, listener: TcpListener, workers: Option<usize>) -> std::io::Result<()>
where
    S: StorageProvider + Send + Sync + 'static,
{
    let addr = listener.local_addr()?;
    let scim = build_scim_server(storage, format!("http://{addr}/scim"));
    let data = web::Data::new(scim);

    let mut http = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            // Bodies are parsed by hand so both application/json and
            // application/scim+json are accepted.
            .app_data(web::PayloadConfig::new(1 << 20))
            .service(
                web::resource("/scim/v2/Users")
                    .route(web::post().to(create_user::<StandardResourceProvider<S>>))
                    .route(web::get().to(list_users::<StandardResourceProvider<S>>)),
            )
            .service(
                web::resource("/scim/v2/Users/{id}")
                    .route(web::get().to(get_user::<StandardResourceProvider<S>>))
                    .route(web::patch().to(patch_user::<StandardResourceProvider<S>>)),
            )
    })
    .listen(listener)?;
    if let Some(n) = workers {
        http = http.workers(n);
    }

    println!("listening on {addr}");
    std::io::stdout().flush()?;
    http.run().await
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = parse_args();
    let listener = TcpListener::bind(("127.0.0.1", args.port))?;
    match args.storage {
        StorageKind::Memory => serve(InMemoryStorage::new(), listener, args.workers).await,
        StorageKind::Sqlite => {
            let storage = SqliteStorage::new_with_path(&args.sqlite_path)
                .await
                .map_err(|e| std::io::Error::other(format!("sqlite storage: {e}")))?;
            serve(storage, listener, args.workers).await
        }
    }
}
