//! Use-case refusals as SCIM errors. Unexpected failures are logged with their chain and shown as
//! a generic message.

use crate::scim::{ScimError, ScimType};
use crate::service::ServiceError;
use crate::storage::StorageError;

fn log_chain(err: &(dyn std::error::Error + 'static)) {
    crate::telemetry::log_error_chain(err, "SCIM request failed");
}

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

impl From<StorageError> for ScimError {
    fn from(err: StorageError) -> Self {
        ServiceError::from(err).into()
    }
}
