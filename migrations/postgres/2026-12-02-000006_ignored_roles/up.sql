-- The `roles` values an identity provider sent for a member that name no roster role and no
-- alias (a JSON array of strings, NULL when there are none): they grant nothing, and the
-- organization summary lists them so that an administrator can map them (`role_aliases`).
ALTER TABLE members ADD COLUMN ignored_roles TEXT;
