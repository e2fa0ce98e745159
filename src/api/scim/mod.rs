//! The SCIM door at `/scim/v2`.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError, middleware, web};

use super::auth::require_scim_token;
use crate::scim::{SCIM_CONTENT_TYPE, ScimError};
use crate::service::ServiceError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .wrap(middleware::from_fn(require_scim_token))
            .default_service(web::to(no_such_endpoint)),
    );
}

async fn no_such_endpoint() -> Result<HttpResponse, ScimError> {
    Err(ScimError::not_found("no such SCIM endpoint"))
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
        response
            .insert_header(ContentType(SCIM_CONTENT_TYPE.parse().expect("valid media type")))
            .body(self.to_json().to_string())
    }
}

/// Maps a use case's refusal to the SCIM error it means; failures are logged and hidden.
pub fn error_from_service(err: ServiceError) -> ScimError {
    err.into()
}
