-- A queued e-mail keeps its template and the values that fill it; its bodies are rendered when it
-- leaves (see domain::email). Rows queued earlier keep their rendered bodies.
ALTER TABLE email_outbox ADD COLUMN template TEXT;

-- The primary key leads with the address, which is what filters look up, so the separate
-- (organization_id, value_ci) index is no longer needed; member_emails_member serves a member's own
-- rows and the delete cascade.
ALTER TABLE member_emails DROP CONSTRAINT member_emails_pkey,
    ADD PRIMARY KEY (organization_id, value_ci, member_id);
DROP INDEX member_emails_org_value;
