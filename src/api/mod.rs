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
pub mod observe;
pub mod reference;
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
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The SCIM door's activity rows, on their way to the batch writer.
    pub activity: observe::ActivitySender,
}

impl AppState {
    /// How invitations are made, from the settings; the same for every door.
    pub fn invitation_policy(&self) -> crate::service::team::InvitationPolicy {
        crate::service::team::InvitationPolicy {
            ttl: chrono::Duration::hours(self.settings.invitation_ttl_hours),
        }
    }
}

/// Runs `f` on the blocking thread pool inside the current tracing span, so that what it logs
/// carries the request's `request_id` like everything else the request logs. Every handler's
/// database work goes through here.
pub async fn in_blocking_pool<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, actix_web::error::BlockingError> {
    let span = tracing::Span::current();
    web::block(move || span.in_scope(f)).await
}

/// Runs blocking database work on the blocking thread pool (see [`in_blocking_pool`]).
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static + From<crate::service::ServiceError>,
{
    match in_blocking_pool(f).await {
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
        .route("/metrics", web::get().to(observe::metrics_page))
        // The API's description is public: before the native door's scope, which needs a token.
        .route("/api/v1/openapi.json", web::get().to(native::openapi::openapi_json))
        .route("/api/v1/reference", web::get().to(reference::reference))
        .configure(invitations::configure)
        .configure(crate::console::configure)
        .configure(|cfg| native::configure(cfg, max_body_bytes))
        .configure(scim::configure);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    /// Records the request id of the span each event was logged in.
    struct Seen(Arc<Mutex<Vec<Option<String>>>>);

    impl<S> tracing_subscriber::Layer<S> for Seen
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
            let name = ctx.event_span(event).map(|s| s.name().to_owned());
            self.0.lock().unwrap().push(name);
        }
    }

    #[actix_web::test]
    async fn blocking_work_logs_inside_the_request_span() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Seen(seen.clone()));
        // The blocking pool's threads use the global dispatcher, as in production.
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this test binary");
        let span = tracing::info_span!("request_span_under_test");
        let entered = span.clone();
        let _guard = entered.enter();
        super::in_blocking_pool(|| tracing::info!("inside the blocking call"))
            .await
            .unwrap();
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [Some("request_span_under_test".to_owned())]
        );
    }
}
