-- Change events for the product: one row per change, written in the change's transaction. On
-- SQLite writers are serialized, so ids are assigned in commit order and `id` alone orders the feed.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    subject_id      TEXT,
    payload         TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    txid            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_org_position ON events (organization_id, txid, id);

-- Webhook endpoints of an organization; `cursor_txid`/`cursor_id` is the position of the last event
-- delivered (or skipped as not subscribed), so deliveries go out in feed order.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    event_types     TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    cursor_txid     BIGINT NOT NULL,
    cursor_id       BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    failing_since   TIMESTAMP,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (enabled, next_attempt_at);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id, created_at);

-- Every delivery attempt, for the deliveries listing and redelivery.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    latency_ms      BIGINT NOT NULL,
    succeeded       BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- Events the product records itself (`source = 'product'`), idempotent by the client's event id.
ALTER TABLE audit_events ADD COLUMN source TEXT NOT NULL DEFAULT 'roster';
ALTER TABLE audit_events ADD COLUMN source_event_id TEXT;
CREATE UNIQUE INDEX audit_events_org_source_event ON audit_events (organization_id, source_event_id);
