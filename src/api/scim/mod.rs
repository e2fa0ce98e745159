//! The SCIM door at `/scim/v2`: thin handlers over the SCIM use cases. Every response is
//! `application/scim+json`; every error is a SCIM Error; bodies are parsed here so that malformed
//! JSON is `400 invalidSyntax` and an oversized one `413`.

mod bulk;
mod handlers;
mod provision;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, ResponseError, middleware, web};
use futures_util::StreamExt;
use serde_json::Value;

use super::auth::{ScimAuth, require_scim_token};
use crate::scim::{SCIM_CONTENT_TYPE, ScimError, ScimType};
use crate::service::ServiceError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            // Inside the token check, so that each recorded request knows its organization.
            .wrap(middleware::from_fn(super::observe::record_scim_activity))
            .wrap(middleware::from_fn(require_scim_token))
            .configure(handlers::configure)
            .service(
                web::resource("/Bulk")
                    .post(bulk::bulk)
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(no_such_endpoint)),
    );
}

async fn no_such_endpoint(state: web::Data<crate::api::AppState>, auth: ScimAuth) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    Err(ScimError::not_found("no such SCIM endpoint"))
}

/// For routes that exist but not with this method (writes to discovery endpoints, …).
pub(crate) async fn method_not_allowed(
    req: HttpRequest,
    state: web::Data<crate::api::AppState>,
    auth: ScimAuth,
) -> Result<HttpResponse, ScimError> {
    auth.check(&state).await?;
    Err(ScimError::new(
        405,
        None,
        format!("{} is not supported on {}", req.method(), req.path()),
    ))
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status == 401 {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if self.status == 503 {
            response.insert_header(("Retry-After", crate::api::error::RETRY_AFTER_SECONDS));
        }
        response
            .insert_header(ContentType(SCIM_CONTENT_TYPE.parse().expect("valid media type")))
            .body(self.to_json().to_string())
    }
}

/// Maps a use case's refusal to the SCIM error it means; failures are logged and hidden.
pub fn error_from_service(err: ServiceError) -> ScimError {
    err.into()
}

fn log_chain(err: &(dyn std::error::Error + 'static)) {
    crate::telemetry::log_error_chain(err, "SCIM request failed");
}

/// Domain refusals as SCIM errors (RFC 7644 §3.12): the one place where the service layer's
/// errors meet SCIM's statuses and `scimType`s.
impl From<ServiceError> for ScimError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
            ServiceError::Invalid(v) => ScimError::bad_request(ScimType::InvalidValue, v.to_string()),
            ServiceError::Conflict { message, .. } => ScimError::new(409, Some(ScimType::Uniqueness), message),
            ServiceError::Forbidden(message) => ScimError::forbidden(message),
            ServiceError::PreconditionFailed => {
                ScimError::new(412, None, "the resource has changed since that version (If-Match)")
            }
            ServiceError::Storage(e) if e.is_unavailable() => {
                log_chain(&e);
                ScimError::new(503, None, "the database is unavailable; retry later")
            }
            other => {
                log_chain(&other);
                ScimError::internal()
            }
        }
    }
}

impl From<crate::storage::StorageError> for ScimError {
    fn from(err: crate::storage::StorageError) -> Self {
        ServiceError::from(err).into()
    }
}

/// A SCIM JSON response.
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(ContentType(SCIM_CONTENT_TYPE.parse().expect("valid media type")))
        .body(body.to_string())
}

/// Reads a JSON body up to `limit` bytes.
pub(crate) async fn read_json(mut payload: web::Payload, limit: usize) -> Result<Value, ScimError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ScimError::new(
                413,
                None,
                format!("the body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("malformed JSON: {e}")))
}

/// Query parameters; `+` reads as a space. An `&` inside a quoted filter value that the client
/// left unencoded (`filter=department eq "R&D"`) stays part of the value.
pub(crate) fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ScimError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&quoted_ampersands_encoded(req.query_string()))
        .map_err(|e| ScimError::bad_request(ScimType::InvalidValue, format!("malformed query string: {e}")))
}

/// The query string with every `&` that falls inside a double-quoted string encoded as `%26`.
/// Quotes count raw or encoded (`%22`); a quote after a backslash (`\"`, `%5C%22`) does not.
fn quoted_ampersands_encoded(query: &str) -> std::borrow::Cow<'_, str> {
    if !query.contains('&') || !(query.contains('"') || query.contains("%22")) {
        return std::borrow::Cow::Borrowed(query);
    }
    let bytes = query.as_bytes();
    let mut out = String::with_capacity(query.len() + 8);
    let (mut inside, mut escaped, mut i) = (false, false, 0);
    while i < bytes.len() {
        let rest = &query[i..];
        let (token, len) = if rest.starts_with("%22") {
            ('"', 3)
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("%5C") {
            ('\\', 3)
        } else {
            (
                rest.chars().next().unwrap_or_default(),
                rest.chars().next().map_or(1, char::len_utf8),
            )
        };
        match token {
            '&' if inside => out.push_str("%26"),
            '"' if !escaped => {
                inside = !inside;
                out.push_str(&rest[..len]);
            }
            _ => out.push_str(&rest[..len]),
        }
        escaped = token == '\\' && !escaped;
        i += len;
    }
    std::borrow::Cow::Owned(out)
}

pub(crate) fn header_value(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// SCIM endpoint names match case-insensitively (`/scim/v2/users`) and a trailing slash is ignored
/// (`/Users/?filter=…`), as clients send both. Runs before routing, like actix's `NormalizePath`.
pub async fn normalize_path(
    mut req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if let Some(rewritten) = canonical_path(req.path()) {
        let query = req.query_string().to_owned();
        let path_and_query = if query.is_empty() {
            rewritten
        } else {
            format!("{rewritten}?{query}")
        };
        if let Ok(uri) = path_and_query.parse::<actix_web::http::Uri>() {
            req.match_info_mut().get_mut().update(&uri);
            req.head_mut().uri = uri;
        }
    }
    next.call(req).await
}

const ENDPOINTS: [&str; 10] = [
    "Agents",
    "Users",
    "Groups",
    "Schemas",
    "ResourceTypes",
    "ServiceProviderConfig",
    "serviceConfiguration",
    "Bulk",
    ".search",
    "Me",
];

/// The canonical form of a SCIM path, when it differs.
pub fn canonical_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/scim/v2/")?;
    let rest = rest.trim_end_matches('/');
    let mut segments: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if let Some(first) = segments.first_mut()
        && let Some(known) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(first))
    {
        *first = (*known).to_owned();
    }
    if segments.len() == 2 && segments[1].eq_ignore_ascii_case(".search") {
        segments[1] = ".search".to_owned();
    }
    let canonical = format!("/scim/v2/{}", segments.join("/"));
    (canonical != path).then_some(canonical)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ampersands_inside_quoted_values_stay_in_them() {
        let fixed = |q| super::quoted_ampersands_encoded(q).into_owned();
        assert_eq!(
            fixed("filter=department%20eq%20%22R&D%22&count=5"),
            "filter=department%20eq%20%22R%26D%22&count=5"
        );
        assert_eq!(fixed(r#"filter=a eq "x&y"&b=1"#), r#"filter=a eq "x%26y"&b=1"#);
        assert_eq!(fixed(r#"filter=a eq "q\"&r"&c=2"#), r#"filter=a eq "q\"%26r"&c=2"#);
        assert_eq!(fixed("count=1&startIndex=2"), "count=1&startIndex=2");
        assert_eq!(
            fixed("é=%22&x"),
            "é=%22%26x",
            "an unbalanced quote takes the rest, as the filter would"
        );
    }

    #[test]
    fn paths_are_made_canonical() {
        assert_eq!(
            super::canonical_path("/scim/v2/users").as_deref(),
            Some("/scim/v2/Users")
        );
        assert_eq!(
            super::canonical_path("/scim/v2/Users/").as_deref(),
            Some("/scim/v2/Users")
        );
        assert_eq!(
            super::canonical_path("/scim/v2/GROUPS/abc/").as_deref(),
            Some("/scim/v2/Groups/abc")
        );
        assert_eq!(
            super::canonical_path("/scim/v2/users/.SEARCH").as_deref(),
            Some("/scim/v2/Users/.search")
        );
        assert_eq!(super::canonical_path("/scim/v2/Users"), None);
        assert_eq!(super::canonical_path("/api/v1/team/"), None);
    }
}
