//! Prometheus metrics of one running instance, rendered at `/metrics` in the text exposition format.
//! Counters and histograms are updated as requests pass; gauges that describe the database (the
//! outbox backlog, the pool) are read when the page is scraped.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::storage::{self, Database};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub scim_operations: IntCounterVec,
    /// Activity rows dropped because the recorder fell behind (its queue was full).
    pub activity_dropped: IntCounter,
    outbox_depth: IntGauge,
    outbox_oldest_due_age: prometheus::Gauge,
    pool_connections: IntGaugeVec,
    pool_wait_timeouts: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("roster".into()), None).expect("a valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by door, route, method and status",
            ),
            &["door", "route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request, by door and route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["door", "route"],
        )
        .expect("valid metric");
        let scim_operations = IntCounterVec::new(
            Opts::new(
                "scim_operations_total",
                "SCIM operations, by operation, outcome (success or failure) and client (Okta, Entra ID, other)",
            ),
            &["operation", "outcome", "client"],
        )
        .expect("valid metric");
        let activity_dropped = IntCounter::new(
            "activity_dropped_total",
            "SCIM requests left out of the provisioning activity log because its writer fell behind",
        )
        .expect("valid metric");
        let outbox_depth = IntGauge::new(
            "outbox_depth",
            "E-mails waiting in the outbox (invitations, sign-in links)",
        )
        .expect("valid metric");
        let outbox_oldest_due_age = prometheus::Gauge::new(
            "outbox_oldest_due_age_seconds",
            "How long the oldest waiting e-mail has been due (0 when none is)",
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database connections of this instance, by state (in_use, idle)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool_wait_timeouts = IntCounter::new(
            "db_pool_wait_timeouts_total",
            "Requests that waited for a database connection longer than db_pool_timeout_ms",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "The running build: always 1, with the version as a label"),
            &["version"],
        )
        .expect("valid metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(scim_operations.clone()),
            Box::new(activity_dropped.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(outbox_oldest_due_age.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_wait_timeouts.clone()),
            Box::new(build_info),
        ] {
            registry.register(collector).expect("each metric is registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            scim_operations,
            activity_dropped,
            outbox_depth,
            outbox_oldest_due_age,
            pool_connections,
            pool_wait_timeouts,
        }
    }

    /// Reads the database gauges (blocking: one small query) and renders every metric.
    pub fn render(&self, db: &Database) -> String {
        let pool = db.pool_status();
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.connections - pool.idle));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        let seen = self.pool_wait_timeouts.get();
        if pool.wait_timeouts > seen {
            self.pool_wait_timeouts.inc_by(pool.wait_timeouts - seen);
        }
        match db.get().and_then(|mut conn| storage::outbox_backlog(&mut conn)) {
            Ok((depth, oldest_due)) => {
                self.outbox_depth.set(depth);
                let age = oldest_due
                    .map(|due| (crate::domain::now() - due).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                self.outbox_oldest_due_age.set(age);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox backlog"),
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Which door a path belongs to (a label of few values).
pub fn door_of(path: &str) -> &'static str {
    let lower = path.get(..12).unwrap_or(path).to_ascii_lowercase();
    if lower.starts_with("/scim/") {
        "scim"
    } else if lower.starts_with("/api/") {
        "native"
    } else if lower.starts_with("/console") {
        "console"
    } else if lower.starts_with("/invitations/") {
        "invitations"
    } else {
        "other"
    }
}
