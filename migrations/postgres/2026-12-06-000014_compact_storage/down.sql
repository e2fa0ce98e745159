CREATE INDEX member_emails_org_value ON member_emails (organization_id, value_ci);
ALTER TABLE member_emails DROP CONSTRAINT member_emails_pkey,
    ADD PRIMARY KEY (organization_id, member_id, value_ci);

ALTER TABLE email_outbox DROP COLUMN template;
