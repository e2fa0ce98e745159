CREATE TABLE member_emails_with_rowid (
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    value_ci        TEXT NOT NULL,
    PRIMARY KEY (organization_id, member_id, value_ci)
);
INSERT INTO member_emails_with_rowid (member_id, organization_id, value_ci)
    SELECT member_id, organization_id, value_ci FROM member_emails;
DROP TABLE member_emails;
ALTER TABLE member_emails_with_rowid RENAME TO member_emails;
CREATE INDEX member_emails_org_value ON member_emails (organization_id, value_ci);
CREATE INDEX member_emails_member ON member_emails (member_id);

ALTER TABLE email_outbox DROP COLUMN template;
