//! The native API's one error shape: `{"code", "message", "details": [{"field", "message"}]}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::service::ServiceError;
use crate::storage::StorageError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, thiserror::Error, utoipa::ToSchema)]
#[error("{code}: {message}")]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    #[schema(ignore)]
    pub status: StatusCode,
    #[schema(value_type = String, example = "not_found")]
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.details.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", RETRY_AFTER_SECONDS));
        }
        response.json(self)
    }
}

/// What a 503 (the database unavailable) asks a client to wait before retrying, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "2";

/// Unexpected failures are logged with their whole chain and shown as a generic message.
pub fn log_internal(err: &(dyn std::error::Error + 'static)) {
    crate::telemetry::log_error_chain(err, "request failed");
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        ServiceError::from(err).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(what) => ApiError::not_found(what),
            ServiceError::Invalid(v) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", v.to_string())
                    .field(v.field, v.message)
            }
            ServiceError::Conflict { field, message } => {
                let e = ApiError::new(StatusCode::CONFLICT, "conflict", message.clone());
                match field {
                    Some(f) => e.field(f, message),
                    None => e,
                }
            }
            ServiceError::Forbidden(message) => ApiError::forbidden(message),
            ServiceError::PreconditionFailed => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "the member has changed since that version",
            ),
            ServiceError::Storage(e) if e.is_unavailable() => {
                log_internal(&e);
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry later",
                )
            }
            other => {
                log_internal(&other);
                ApiError::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Storage(e) => e.into(),
            other => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", other.to_string()),
        }
    }
}
