//! What every request passes before a door sees it: bodies bounded in size and in time, NUL
//! characters refused (PostgreSQL cannot hold them, so neither backend takes them), and a panic
//! answered (and logged) instead of dropping the connection.
//! Refusals are written in the format of the door the request was for.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, middleware, web};
use futures_util::{FutureExt, StreamExt};

use super::AppState;
use super::error::ApiError;
use crate::scim::{ScimError, ScimType};

/// A refusal in the format of the door `path` belongs to.
fn refusal(
    path: &str,
    status: StatusCode,
    scim_type: Option<ScimType>,
    code: &'static str,
    message: &str,
) -> actix_web::Error {
    if path.starts_with("/scim/") {
        ScimError::new(status.as_u16(), scim_type, message).into()
    } else {
        ApiError::new(status, code, message).into()
    }
}

pub async fn guard_requests(
    mut req: ServiceRequest,
    next: middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    // `%00` is the only way a NUL reaches a decoded query value; PostgreSQL cannot store or compare
    // one, and no attribute, filter or search needs it.
    if req.query_string().contains("%00") {
        let response = refusal(
            &path,
            StatusCode::BAD_REQUEST,
            Some(ScimType::InvalidValue),
            "bad_request",
            "the query string contains a NUL character (%00)",
        );
        return Ok(req.into_response(response.error_response()));
    }
    let (limit, timeout) = match req.app_data::<web::Data<AppState>>() {
        Some(state) => (state.settings.max_body_bytes, state.settings.body_timeout),
        None => (usize::MAX, Duration::from_secs(15)),
    };
    // A declared length over the limit is refused before a byte of it is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let response = refusal(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            "payload_too_large",
            &format!("the body is larger than {limit} bytes"),
        );
        return Ok(req.into_response(response.error_response()));
    }
    let has_body = declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body {
        match read_body(req.take_payload(), limit, timeout).await {
            Ok(body) => req.set_payload(Payload::from(body)),
            Err(refused) => {
                let response = match refused {
                    BodyRefused::TooLarge => refusal(
                        &path,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        None,
                        "payload_too_large",
                        &format!("the body is larger than {limit} bytes"),
                    ),
                    BodyRefused::TooSlow => refusal(
                        &path,
                        StatusCode::REQUEST_TIMEOUT,
                        None,
                        "request_timeout",
                        "the request body was not received in time",
                    ),
                    BodyRefused::Unreadable(why) => refusal(
                        &path,
                        StatusCode::BAD_REQUEST,
                        Some(ScimType::InvalidSyntax),
                        "bad_request",
                        &format!("cannot read the body: {why}"),
                    ),
                    BodyRefused::Nul => refusal(
                        &path,
                        StatusCode::BAD_REQUEST,
                        Some(ScimType::InvalidValue),
                        "bad_request",
                        "the body contains a NUL character (\\u0000), which no value may hold",
                    ),
                };
                return Ok(req.into_response(response.error_response()));
            }
        }
    }

    // The request cannot be kept for a response (routing needs it unshared), so a panic becomes an
    // error, which actix renders with the door's ResponseError.
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            tracing::error!(panic = %what, path = %path, "request handler panicked");
            Err(refusal(
                &path,
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "internal_error",
                "internal error",
            ))
        }
    }
}

enum BodyRefused {
    TooLarge,
    TooSlow,
    Unreadable(String),
    Nul,
}

/// Reads the whole body, at most `limit` bytes within `timeout` (a client that declares a huge
/// chunk and stalls cannot hold a worker), and refuses a JSON NUL. Bodies are small (SCIM and
/// native requests), and the doors read them whole anyway.
async fn read_body(mut payload: Payload, limit: usize, timeout: Duration) -> Result<Bytes, BodyRefused> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => return Err(BodyRefused::TooSlow),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyRefused::Unreadable(e.to_string())),
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyRefused::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    // JSON carries a NUL only as the escape `\u0000`; parse to be sure only when that text is there
    // (it may be an escaped backslash followed by "u0000").
    if body.windows(6).any(|w| w == b"\\u0000")
        && serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| holds_nul(&v))
    {
        return Err(BodyRefused::Nul);
    }
    Ok(body.freeze())
}

/// True when a string or a key anywhere in `value` contains a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}
