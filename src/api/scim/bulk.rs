//! `POST /Bulk` (RFC 7644 §3.7). Each operation runs as its own transaction through the same use
//! cases as a single request. `bulkId:` references are resolved as their operations complete; an
//! operation whose reference is not resolved yet waits for a later pass, so order in the request
//! does not matter; circular or unknown references fail that operation with 409.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use serde_json::{Map, Value, json};

use super::provision::{self, Call};
use super::{read_json, scim_json};
use crate::api::AppState;
use crate::api::auth::{RequestMeta, ScimAuth};
use crate::domain::audit::Channel;
use crate::mapping::group::group_input;
use crate::mapping::user::user_input;
use crate::scim::patch::parse_request;
use crate::scim::resource::canonicalise;
use crate::scim::schema::{GROUP, USER};
use crate::scim::{ScimError, ScimType};

pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

struct Operation {
    method: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn parse(body: &Value, max_operations: usize) -> Result<(Vec<Operation>, Option<usize>), ScimError> {
    let syntax = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d);
    let object = body
        .as_object()
        .ok_or_else(|| syntax("a BulkRequest is a JSON object"))?;
    let operations = field(object, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a BulkRequest needs Operations"))?;
    if operations.len() > max_operations {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!("at most {max_operations} operations per request"),
        ));
    }
    let fail_on_errors = match field(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| syntax("failOnErrors is a positive integer"))? as usize,
        ),
    };
    let parsed = operations
        .iter()
        .map(|o| {
            let o = o.as_object().ok_or_else(|| syntax("each operation is an object"))?;
            let text = |n: &str| field(o, n).and_then(Value::as_str).map(str::to_owned);
            Ok(Operation {
                method: text("method")
                    .ok_or_else(|| syntax("an operation needs a method"))?
                    .to_ascii_uppercase(),
                bulk_id: text("bulkId"),
                version: text("version"),
                path: text("path").ok_or_else(|| syntax("an operation needs a path"))?,
                data: field(o, "data").cloned(),
            })
        })
        .collect::<Result<Vec<_>, ScimError>>()?;
    Ok((parsed, fail_on_errors))
}

/// Replaces every `bulkId:<id>` string; `Err(id)` names the first reference not yet known.
fn resolve(value: &Value, ids: &std::collections::HashMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => match s.strip_prefix("bulkId:") {
            Some(reference) => Value::String(ids.get(reference).cloned().ok_or_else(|| reference.to_owned())?),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, ids)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, ids)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// What one operation produced.
struct Outcome {
    status: u16,
    id: Option<String>,
    location: Option<String>,
    version: Option<String>,
    error: Option<ScimError>,
}

impl Outcome {
    /// A successful operation on `<base>/<kind>/<id>`; `created` means the id is reported for
    /// `bulkId` references, `version` is the resource's version when it still exists.
    fn done(status: u16, base: &str, kind: &str, id: &str, created: bool, version: Option<i64>) -> Self {
        Outcome {
            status,
            id: created.then(|| id.to_owned()),
            location: Some(format!("{base}/{kind}/{id}")),
            version: version.map(crate::mapping::etag),
            error: None,
        }
    }
}

fn run_one(state: &AppState, call: &Call<'_>, op: &Operation, path: &str, data: Option<Value>) -> Outcome {
    let base = state.settings.scim_base_url();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let fail = |e: ScimError| Outcome {
        status: e.status,
        id: None,
        location: None,
        version: None,
        error: Some(e),
    };
    let object = || {
        data.as_ref()
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| ScimError::bad_request(ScimType::InvalidSyntax, "this operation needs a data object"))
    };
    let db = &state.db;
    let result: Result<Outcome, ScimError> = (|| match (op.method.as_str(), segments.as_slice()) {
        ("POST", ["Users"]) => {
            let input = user_input(&canonicalise(&object()?, &USER, true))?;
            let r = provision::create_user(db, call, input)?;
            let id = r.member.id.to_string();
            Ok(Outcome::done(201, &base, "Users", &id, true, Some(r.member.version)))
        }
        ("PUT", ["Users", id]) => {
            let input = user_input(&canonicalise(&object()?, &USER, true))?;
            let r = provision::replace_user(db, call, id, input, op.version.as_deref())?;
            Ok(Outcome::done(200, &base, "Users", id, true, Some(r.member.version)))
        }
        ("PATCH", ["Users", id]) => {
            let ops = parse_request(data.as_ref().unwrap_or(&Value::Null))?;
            let r = provision::patch_user(db, call, id, &ops, op.version.as_deref())?;
            Ok(Outcome::done(200, &base, "Users", id, true, Some(r.member.version)))
        }
        ("DELETE", ["Users", id]) => {
            provision::delete_user(db, call, id, op.version.as_deref())?;
            Ok(Outcome::done(204, &base, "Users", id, false, None))
        }
        ("POST", ["Groups"]) => {
            let body = object()?;
            let members = field(&body, "members").cloned();
            let input = group_input(&canonicalise(&body, &GROUP, true), members.as_ref())?;
            let r = provision::create_group(db, call, input, false)?;
            let id = r.group.id.to_string();
            Ok(Outcome::done(201, &base, "Groups", &id, true, Some(r.group.version)))
        }
        ("PUT", ["Groups", id]) => {
            let body = object()?;
            let members = field(&body, "members").cloned();
            let input = group_input(&canonicalise(&body, &GROUP, true), members.as_ref())?;
            let r = provision::replace_group(db, call, id, input, op.version.as_deref(), false)?;
            Ok(Outcome::done(200, &base, "Groups", id, true, Some(r.group.version)))
        }
        ("PATCH", ["Groups", id]) => {
            let ops = parse_request(data.as_ref().unwrap_or(&Value::Null))?;
            let r = provision::patch_group(db, call, id, &ops, op.version.as_deref(), false)?;
            Ok(Outcome::done(200, &base, "Groups", id, true, Some(r.group.version)))
        }
        ("DELETE", ["Groups", id]) => {
            provision::delete_group(db, call, id, op.version.as_deref())?;
            Ok(Outcome::done(204, &base, "Groups", id, false, None))
        }
        (method, _) => Err(ScimError::bad_request(
            ScimType::InvalidValue,
            format!("{method} {path} is not a bulk operation"),
        )),
    })();
    result.unwrap_or_else(fail)
}

pub async fn bulk(
    state: web::Data<AppState>,
    auth: ScimAuth,
    meta: RequestMeta,
    body: web::Payload,
) -> Result<HttpResponse, ScimError> {
    // A whole batch of changes: the caller is checked before its body is read.
    let principal = auth.check(&state).await?;
    let max_payload = state.settings.max_body_bytes;
    let body = read_json(body, max_payload).await?;
    let (operations, fail_on_errors) = parse(&body, state.settings.scim_max_results as usize)?;
    let audit = meta.audit_context(&principal, Channel::Scim);
    let state = state.into_inner();
    let results = crate::api::in_blocking_pool(move || {
        let call = super::handlers::call(&state, &principal, &audit);
        let mut ids = std::collections::HashMap::new();
        let mut outcomes: Vec<Option<Outcome>> = (0..operations.len()).map(|_| None).collect();
        let mut errors = 0;
        // Passes until nothing more can run: an operation waits while it references a bulkId not created yet.
        loop {
            let mut progressed = false;
            for (i, op) in operations.iter().enumerate() {
                if outcomes[i].is_some() || fail_on_errors.is_some_and(|limit| errors >= limit) {
                    continue;
                }
                // `bulkId:` references may stand in the path (`/Users/bulkId:u1`) and in the data.
                let path = op
                    .path
                    .split('/')
                    .map(|segment| resolve(&Value::String(segment.to_owned()), &ids))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|segments| segments.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("/"));
                let data = op.data.as_ref().map(|d| resolve(d, &ids)).transpose();
                let (Ok(path), Ok(data)) = (path, data) else {
                    continue;
                };
                let outcome = run_one(&state, &call, op, &path, data);
                if let (Some(bulk_id), Some(id)) = (&op.bulk_id, &outcome.id) {
                    ids.insert(bulk_id.clone(), id.clone());
                }
                if outcome.error.is_some() {
                    errors += 1;
                }
                outcomes[i] = Some(outcome);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        // Whatever is left references a bulkId that never resolved (unless failOnErrors stopped us).
        let stopped = fail_on_errors.is_some_and(|limit| errors >= limit);
        operations
            .iter()
            .zip(outcomes)
            .filter_map(|(op, outcome)| match outcome {
                Some(o) => Some((op, o)),
                None if stopped => None,
                None => Some((
                    op,
                    Outcome {
                        status: 409,
                        id: None,
                        location: None,
                        version: None,
                        error: Some(ScimError::new(
                            409,
                            Some(ScimType::InvalidValue),
                            "a bulkId reference cannot be resolved",
                        )),
                    },
                )),
            })
            .map(|(op, o)| {
                let mut entry = json!({"method": op.method, "status": o.status.to_string()});
                if let Some(b) = &op.bulk_id {
                    entry["bulkId"] = json!(b);
                }
                if let Some(l) = o.location {
                    entry["location"] = json!(l);
                }
                if let Some(v) = o.version {
                    entry["version"] = json!(v);
                }
                if let Some(e) = o.error {
                    entry["response"] = e.to_json();
                }
                entry
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ScimError::internal())?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": results}),
    ))
}
