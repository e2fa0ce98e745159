DROP INDEX members_scim_agents;
DROP INDEX members_scim_people;
CREATE INDEX members_scim_visible ON members (organization_id, id) WHERE scim_deleted_at IS NULL AND removed_at IS NULL;
DROP TABLE agent_owners;
ALTER TABLE members DROP COLUMN kind;
