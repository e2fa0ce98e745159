//! Building and running the server. `Application::build` can bind port 0, so tests start the real
//! server exactly as `roster serve` does.

use std::net::TcpListener;
use std::sync::Arc;

use actix_http::HttpService;
use actix_http::error::DispatchError;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::{AppConfig, Server};
use actix_web::{App, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::api::lenient::LenientStream;
use crate::api::logging::RedactedRootSpan;
use crate::api::{self, AppState};
use crate::auth::{self, IssuedToken, TokenSigner};
use crate::config::{MailerKind, Settings};
use crate::mail::{FileMailer, Mailer, SmtpMailer};
use crate::service::bootstrap::bootstrap_if_empty;
use crate::service::invitations::{DeliveryPolicy, DeliveryReport, deliver_due};
use crate::service::organizations::Organization;
use crate::storage::{self, Database, PoolSettings};

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    bootstrap: Option<(Organization, IssuedToken)>,
}

impl Application {
    /// Opens and migrates the database, bootstraps an empty one (if enabled), and binds the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let (db, signer) = open_database(&settings)?;
        let applied = {
            let mut conn = db.get().context("cannot connect to the database")?;
            storage::run_migrations(&mut conn).context("cannot migrate the database")?
        };
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }

        let listener =
            TcpListener::bind(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
        settings.listen = listener.local_addr()?;
        let port = settings.listen.port();

        let bootstrap = if settings.bootstrap {
            bootstrap_if_empty(&db, &signer, chrono::Duration::days(settings.token_ttl_days))
                .context("bootstrap failed")?
        } else {
            None
        };

        let mailer = build_mailer(&settings)?;
        tracing::info!(mailer = %mailer.describe(), "invitation e-mails go to");
        let (activity, activity_rx) = api::observe::activity_channel();
        let state = AppState {
            db,
            signer,
            settings: Arc::new(settings),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            activity,
        };
        api::observe::spawn_activity_writer(
            state.db.clone(),
            state.metrics.clone(),
            activity_rx,
            state.settings.activity_retention,
        );
        spawn_delivery_worker(&state, mailer);
        crate::webhooks::spawn_worker(state.db.clone(), webhook_settings(&state.settings));
        spawn_statistics_worker(&state.db);
        let server = {
            let state = state.clone();
            let workers = state.settings.workers;
            let max_body = state.settings.max_body_bytes;
            let local_addr = state.settings.listen;
            // Database work runs on the blocking pool; a few threads per worker keep it busy
            // without the context switching hundreds of them would cost on a small machine.
            let blocking_threads = (state.settings.db_pool_size as usize / workers.max(1)).max(2);
            // actix-web's HttpServer, assembled by hand so that every connection's reads pass
            // through `LenientStream` (request targets as real clients send them) first.
            actix_server::Server::build()
                .workers(workers)
                .worker_max_blocking_threads(blocking_threads)
                .shutdown_timeout(30)
                .listen("roster", listener, move || {
                    let app = App::new()
                        .wrap(actix_web::middleware::from_fn(api::scim::normalize_path))
                        .wrap(actix_web::middleware::from_fn(api::guard::guard_requests))
                        .wrap(actix_web::middleware::from_fn(api::observe::measure_requests))
                        .wrap(TracingLogger::<RedactedRootSpan>::new())
                        .app_data(web::Data::new(state.clone()))
                        .app_data(web::PayloadConfig::new(max_body))
                        .configure(|cfg| api::configure(cfg, max_body));
                    let app = app.into_factory().map_err(|err: actix_web::Error| err.error_response());
                    let config = AppConfig::__priv_test_new(false, local_addr.to_string(), local_addr);
                    fn_service(|io: actix_rt::net::TcpStream| async move {
                        // As HttpServer does: responses are small and latency matters.
                        let _ = io.set_nodelay(true);
                        let peer = io.peer_addr().ok();
                        Ok::<_, DispatchError>((LenientStream::new(io), peer))
                    })
                    .and_then(
                        HttpService::build()
                            .local_addr(local_addr)
                            .h1(map_config(app, move |_| config.clone())),
                    )
                })?
                .run()
        };
        Ok(Application {
            port,
            server,
            state,
            bootstrap,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The organization and token created on first start, if this start created them.
    pub fn bootstrap(&self) -> Option<&(Organization, IssuedToken)> {
        self.bootstrap.as_ref()
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The pool and the token signer for these settings (the signing key file is created on first use).
pub fn open_database(settings: &Settings) -> anyhow::Result<(Database, TokenSigner)> {
    open_database_with(
        settings,
        &PoolSettings {
            max_size: settings.db_pool_size,
            connect_timeout: settings.db_pool_timeout,
            ..PoolSettings::default()
        },
    )
}

/// [`open_database`] with an explicit pool shape.
pub fn open_database_with(settings: &Settings, pool: &PoolSettings) -> anyhow::Result<(Database, TokenSigner)> {
    let key = match &settings.signing_key {
        Some(key) => key.clone(),
        None => auth::load_or_create_signing_key(&settings.signing_key_path()).map_err(anyhow::Error::msg)?,
    };
    let signer = TokenSigner::new(&key, settings.token_audience.clone());
    let db = Database::open(&settings.database_url, pool)
        .with_context(|| format!("cannot open the database {}", settings.database_url))?;
    Ok((db, signer))
}

fn build_mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
    let mail = &settings.mail;
    Ok(match mail.kind {
        MailerKind::File => Arc::new(FileMailer::new(mail.from.clone(), settings.outbox_dir())),
        MailerKind::Smtp => Arc::new(SmtpMailer::new(mail.from.clone(), &mail.smtp).context("invalid SMTP settings")?),
    })
}

/// Delivers the outbox in the background for as long as the runtime runs. Every instance runs one;
/// claims keep them from sending a message twice.
/// The webhook worker's settings.
pub fn webhook_settings(settings: &Settings) -> crate::webhooks::WebhookSettings {
    let w = &settings.webhooks;
    let duration = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1));
    crate::webhooks::WebhookSettings {
        allow_private_networks: w.allow_private_networks,
        timeout: w.timeout,
        poll: w.poll,
        policy: crate::service::events::DeliveryPolicy {
            retry_base: duration(w.retry_base),
            disable_after: duration(w.disable_after),
            lease: duration(w.timeout) * 100 + chrono::Duration::seconds(30),
            batch: 100,
        },
    }
}

/// On a PostgreSQL server whose autovacuum is off, keeps the planner's statistics of roster's
/// tables fresh itself (see storage::maintenance for why a growing table needs them).
fn spawn_statistics_worker(db: &Database) {
    let keeps = db
        .get()
        .and_then(|mut conn| storage::autovacuum_keeps_statistics(&mut conn));
    match keeps {
        Ok(true) => return,
        Ok(false) => {
            tracing::warn!("PostgreSQL autovacuum is off: roster analyzes its own tables when they have changed enough")
        }
        Err(e) => tracing::warn!(error = %e, "could not read the autovacuum setting; analyzing roster's tables itself"),
    }
    let db = db.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(STATISTICS_INTERVAL).await;
            let db = db.clone();
            let analyzed = tokio::task::spawn_blocking(move || {
                db.get().and_then(|mut conn| storage::analyze_changed_tables(&mut conn))
            })
            .await;
            match analyzed {
                Ok(Ok(tables)) if !tables.is_empty() => tracing::debug!(?tables, "planner statistics refreshed"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "refreshing planner statistics failed; will retry"),
                Err(e) => tracing::error!(error = %e, "statistics worker task failed"),
            }
        }
    });
}

/// How often the statistics worker looks at the tables' change counters (a catalog read).
const STATISTICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

fn spawn_delivery_worker(state: &AppState, mailer: Arc<dyn Mailer>) {
    let settings = &state.settings;
    let policy = DeliveryPolicy {
        public_url: settings.public_url(),
        max_attempts: settings.mail.max_attempts,
        retry_base: chrono::Duration::from_std(settings.mail.retry_base).unwrap_or(chrono::Duration::seconds(30)),
        lease: chrono::Duration::minutes(2),
        batch: 20,
    };
    let poll = settings.mail.poll;
    let db = state.db.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(poll).await;
            let (db, mailer, policy) = (db.clone(), mailer.clone(), policy.clone());
            match tokio::task::spawn_blocking(move || deliver_due(&db, mailer.as_ref(), &policy)).await {
                Ok(Ok(report)) if report != DeliveryReport::default() => tracing::info!(?report, "outbox delivered"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "outbox delivery failed; will retry"),
                Err(e) => tracing::error!(error = %e, "outbox worker task failed"),
            }
        }
    });
}
