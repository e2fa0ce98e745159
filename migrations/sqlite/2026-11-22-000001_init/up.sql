-- The whole membership model. The same statements run on SQLite and PostgreSQL: ids are UUID text,
-- timestamps are UTC without zone, JSON lives in TEXT. Every table but organizations carries
-- organization_id so that every query can be scoped to one tenant.

CREATE TABLE organizations (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    default_role TEXT NOT NULL DEFAULT 'VIEWER'
        CHECK (default_role IN ('VIEWER', 'MARKET', 'CHECKER', 'NON_TRANSACTIONAL_ADMIN', 'ADMINISTRATOR')),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- A person who has registered (accepted an invitation). One person may be a member of several organizations.
CREATE TABLE users (
    id          TEXT PRIMARY KEY NOT NULL,
    email       TEXT NOT NULL,
    email_ci    TEXT NOT NULL,
    first_name  TEXT,
    last_name   TEXT,
    created_at  TIMESTAMP NOT NULL,
    verified_at TIMESTAMP
);
CREATE UNIQUE INDEX users_email_ci ON users (email_ci);

-- One row per person per organization: the native member and the SCIM User at once.
CREATE TABLE members (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          TEXT REFERENCES users (id),
    user_name        TEXT NOT NULL,
    user_name_ci     TEXT NOT NULL,
    external_id      TEXT,
    display_name     TEXT,
    first_name       TEXT,
    last_name        TEXT,
    email            TEXT,
    email_ci         TEXT,
    phone_number     TEXT,
    role             TEXT NOT NULL
        CHECK (role IN ('VIEWER', 'MARKET', 'CHECKER', 'NON_TRANSACTIONAL_ADMIN', 'ADMINISTRATOR')),
    status           TEXT NOT NULL
        CHECK (status IN ('PENDING', 'ACTIVE', 'INACTIVE', 'SUSPENDED', 'BLOCKED')),
    status_reason    TEXT,
    -- SCIM attributes that have no column of their own, kept as sent (JSON object).
    scim_attributes  TEXT NOT NULL DEFAULT '{}',
    -- Set by SCIM DELETE: the SCIM door answers 404 from then on; the native API keeps the history.
    scim_deleted_at  TIMESTAMP,
    -- Set when a pending invitation is cancelled: the member is no longer listed.
    removed_at       TIMESTAMP,
    version          BIGINT NOT NULL DEFAULT 1,
    added_date       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    last_login       TIMESTAMP,
    deactivated_date TIMESTAMP,
    verified_at      TIMESTAMP
);
CREATE UNIQUE INDEX members_org_user_name_ci ON members (organization_id, user_name_ci);
CREATE UNIQUE INDEX members_org_email_ci ON members (organization_id, email_ci);
CREATE UNIQUE INDEX members_org_phone_number ON members (organization_id, phone_number);
CREATE UNIQUE INDEX members_org_user ON members (organization_id, user_id);
CREATE INDEX members_org_id ON members (organization_id, id);
CREATE INDEX members_org_external_id ON members (organization_id, external_id);
CREATE INDEX members_org_display_name ON members (organization_id, display_name);
CREATE INDEX members_org_status ON members (organization_id, status, id);
CREATE INDEX members_org_role ON members (organization_id, role, id);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE member_groups (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    display_name    TEXT NOT NULL,
    display_name_ci TEXT NOT NULL,
    external_id     TEXT,
    description     TEXT,
    scim_attributes TEXT NOT NULL DEFAULT '{}',
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX member_groups_org_id ON member_groups (organization_id, id);
CREATE INDEX member_groups_org_display_name_ci ON member_groups (organization_id, display_name_ci);
CREATE INDEX member_groups_org_external_id ON member_groups (organization_id, external_id);

CREATE TABLE group_memberships (
    group_id        TEXT NOT NULL REFERENCES member_groups (id) ON DELETE CASCADE,
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    added_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_memberships_org_member ON group_memberships (organization_id, member_id);

-- A group bound to a role gives that role to its members (highest rank wins).
CREATE TABLE group_role_bindings (
    group_id        TEXT PRIMARY KEY NOT NULL REFERENCES member_groups (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL
        CHECK (role IN ('VIEWER', 'MARKET', 'CHECKER', 'NON_TRANSACTIONAL_ADMIN', 'ADMINISTRATOR')),
    source          TEXT NOT NULL CHECK (source IN ('api', 'scim', 'config')),
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX group_role_bindings_org ON group_role_bindings (organization_id);

CREATE TABLE invitations (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    -- SHA-256 of the acceptance token; the token itself is only ever in the e-mail.
    token_hash      TEXT NOT NULL,
    email           TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('SENT', 'ACCEPTED', 'CANCELLED', 'REVOKED', 'SUPERSEDED')),
    invited_by      TEXT,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    accepted_at     TIMESTAMP,
    cancelled_at    TIMESTAMP
);
CREATE UNIQUE INDEX invitations_token_hash ON invitations (token_hash);
CREATE INDEX invitations_org_member ON invitations (organization_id, member_id, created_at);

CREATE TABLE email_outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    invitation_id   TEXT REFERENCES invitations (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
CREATE INDEX email_outbox_invitation ON email_outbox (organization_id, invitation_id);

-- Audit events outlive what they describe (an organization's deletion keeps them): no foreign keys.
CREATE TABLE audit_events (
    id                TEXT PRIMARY KEY NOT NULL,
    organization_id   TEXT NOT NULL,
    actor             TEXT NOT NULL,
    actor_member_id   TEXT,
    channel           TEXT NOT NULL CHECK (channel IN ('api', 'scim', 'cli', 'system')),
    event_name        TEXT NOT NULL,
    subject_member_id TEXT,
    ip_address        TEXT,
    user_agent        TEXT,
    token_hash        TEXT,
    metadata          TEXT NOT NULL DEFAULT '{}',
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_org_time ON audit_events (organization_id, created_at, id);
CREATE INDEX audit_events_org_actor_time ON audit_events (organization_id, actor_member_id, created_at);
CREATE INDEX audit_events_org_subject_time ON audit_events (organization_id, subject_member_id, created_at);

-- Issued bearer tokens. The JWT is never stored: its id (jti) and the SHA-256 of the whole token are.
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    member_id       TEXT REFERENCES members (id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP,
    last_used_at    TIMESTAMP
);
CREATE UNIQUE INDEX api_tokens_token_hash ON api_tokens (token_hash);
CREATE INDEX api_tokens_org_created ON api_tokens (organization_id, created_at);
