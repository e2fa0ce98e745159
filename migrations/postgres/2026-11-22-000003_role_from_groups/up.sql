-- Whether a member's role currently comes from its role-bound groups (then it is recomputed when
-- memberships or bindings change, and cannot be set directly).
ALTER TABLE members ADD COLUMN role_from_groups BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX group_role_bindings_org_role ON group_role_bindings (organization_id, role);
-- SCIM lists see members not deleted through SCIM and not cancelled: counting and paging them walks
-- this index alone instead of reading every row.
CREATE INDEX members_scim_visible ON members (organization_id, id) WHERE scim_deleted_at IS NULL AND removed_at IS NULL;
