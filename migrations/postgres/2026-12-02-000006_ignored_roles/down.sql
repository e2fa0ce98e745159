ALTER TABLE members DROP COLUMN ignored_roles;
