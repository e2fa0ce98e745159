DROP INDEX members_listed;
CREATE INDEX members_org_id ON members (organization_id, id);
