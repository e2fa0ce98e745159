//! The native API at `/api/v1` (seed 000's paths, trailing slashes included).

mod events;
mod groups;
pub mod openapi;
mod organizations;
mod team;
mod token;
pub mod wire;

use actix_web::{HttpResponse, middleware, web};

use super::auth::require_api_token;
use super::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(middleware::from_fn(require_api_token))
            .app_data(json_config(max_body_bytes))
            .app_data(query_config())
            .app_data(path_config())
            .configure(token::configure)
            .configure(team::configure)
            .configure(groups::configure)
            .configure(groups::configure_groups)
            .configure(organizations::configure)
            .configure(events::configure)
            .default_service(web::to(no_such_endpoint)),
    );
}

async fn no_such_endpoint() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("endpoint"))
}

/// Malformed bodies, queries and paths answer in the native error shape.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(|err, _req| {
        let message = match &err {
            actix_web::error::JsonPayloadError::ContentType => {
                "expected a JSON body (Content-Type: application/json)".to_owned()
            }
            actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
            | actix_web::error::JsonPayloadError::Overflow { .. } => {
                return ApiError::new(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body too large",
                )
                .into();
            }
            other => format!("malformed JSON body: {other}"),
        };
        ApiError::bad_request(message).into()
    })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| ApiError::bad_request(format!("invalid query string: {err}")).into())
}

fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| ApiError::bad_request(format!("invalid path: {err}")).into())
}
