DROP INDEX members_org_id;
CREATE INDEX members_org_id ON members (organization_id, id);
