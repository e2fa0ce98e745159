-- AI agents are members of a kind of their own: no invitation, e-mail or phone, tokens instead.
ALTER TABLE members ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
-- The members who answer for an agent (the SCIM drafts' owners).
CREATE TABLE agent_owners (
    organization_id TEXT NOT NULL,
    agent_id        TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    owner_id        TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, owner_id)
);
CREATE INDEX agent_owners_org_owner ON agent_owners (organization_id, owner_id);
-- SCIM lists people (/Users) and agents (/Agents) apart: each walks its own partial index.
DROP INDEX members_scim_visible;
CREATE INDEX members_scim_people ON members (organization_id, id) WHERE scim_deleted_at IS NULL AND removed_at IS NULL AND kind = 'person';
CREATE INDEX members_scim_agents ON members (organization_id, id) WHERE scim_deleted_at IS NULL AND removed_at IS NULL AND kind = 'agent';
