-- The native member list and its count filter on kind and removed_at: carried in the index that
-- walks an organization's members in id order, they are tested there, and neither the count nor the
-- rows an OFFSET skips read the table.
DROP INDEX members_org_id;
CREATE INDEX members_org_id ON members (organization_id, id, kind, removed_at);
