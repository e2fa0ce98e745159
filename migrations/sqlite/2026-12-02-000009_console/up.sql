-- The admin console: its sessions, its e-mailed sign-in links, and the provisioning activity it shows.

-- A signed-in console session. The cookie carries a random secret; only its SHA-256 is kept. A session
-- acts either as a member (signed in by e-mail link) or as a token (signed in with an org:admin token),
-- and ends when that member stops being an active administrator or that token is revoked.
CREATE TABLE console_sessions (
    id_hash         TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id       TEXT REFERENCES members (id) ON DELETE CASCADE,
    token_id        TEXT REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_org ON console_sessions (organization_id, expires_at);

-- A single-use sign-in link. The secret is minted when the e-mail leaves (as invitations do), so
-- the database only ever holds its hash.
CREATE TABLE console_sign_in_links (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    token_hash      TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP
);
CREATE UNIQUE INDEX console_sign_in_links_hash ON console_sign_in_links (token_hash);
CREATE INDEX console_sign_in_links_org ON console_sign_in_links (organization_id, created_at);

ALTER TABLE email_outbox ADD COLUMN sign_in_link_id TEXT;

-- Every SCIM request of an organization as the console shows it: kept for a configurable time.
CREATE TABLE provisioning_activity (
    id              INTEGER PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    at              TIMESTAMP NOT NULL,
    client          TEXT NOT NULL,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    operation       TEXT NOT NULL,
    resource_type   TEXT,
    resource_id     TEXT,
    status          INTEGER NOT NULL,
    succeeded       BOOLEAN NOT NULL,
    scim_type       TEXT,
    detail          TEXT,
    duration_ms     INTEGER NOT NULL
);
-- A row is written for every SCIM request, so it carries as few indexes as its reads need: the
-- organization's log by time, and its failures (a partial index, kept only for them). Pruning walks
-- the primary key, whose order follows time.
CREATE INDEX provisioning_activity_org_time ON provisioning_activity (organization_id, at, id);
CREATE INDEX provisioning_activity_org_failures ON provisioning_activity (organization_id, at, id) WHERE NOT succeeded;
