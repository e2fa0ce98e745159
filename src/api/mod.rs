//! The HTTP doors: the native API under `/api/v1`, SCIM under `/scim/v2`, and health probes.
//! Handlers are thin: extract, authorize, call one service function (off the async workers), render.

pub mod auth;
pub mod error;
pub mod guard;
pub mod health;
pub mod invitations;
pub mod lenient;
pub mod logging;
pub mod native;
pub mod scim;

use std::sync::Arc;

use actix_web::web;

use crate::auth::TokenSigner;
use crate::config::Settings;
use crate::storage::Database;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub signer: TokenSigner,
    pub settings: Arc<Settings>,
}

/// Runs blocking database work on the blocking thread pool.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static + From<crate::service::ServiceError>,
{
    match web::block(f).await {
        Ok(result) => result,
        Err(_) => Err(E::from(crate::service::ServiceError::Internal(
            "blocking task was cancelled".into(),
        ))),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    // Invitation routes first: they share the /api/v1 prefix but are reached without a bearer token.
    cfg.route(lenient::UNREADABLE_PATH, web::get().to(lenient::unreadable_request))
        .configure(health::configure)
        .configure(invitations::configure)
        .configure(|cfg| native::configure(cfg, max_body_bytes))
        .configure(scim::configure);
}
