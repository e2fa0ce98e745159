DROP TABLE provisioning_activity;
ALTER TABLE email_outbox DROP COLUMN sign_in_link_id;
DROP TABLE console_sign_in_links;
DROP TABLE console_sessions;
