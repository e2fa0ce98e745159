-- The native member list (and its count) walks the members who are listed, people and agents apart,
-- in id order, from the index alone: (organization_id, id) made it read every row for the filter on
-- kind and removed_at. Nothing else reads members_org_id: single members are found by primary key.
DROP INDEX members_org_id;
CREATE INDEX members_listed ON members (organization_id, kind, id) WHERE removed_at IS NULL;
