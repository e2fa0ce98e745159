DROP INDEX members_scim_visible;
DROP INDEX group_role_bindings_org_role;
ALTER TABLE members DROP COLUMN role_from_groups;
