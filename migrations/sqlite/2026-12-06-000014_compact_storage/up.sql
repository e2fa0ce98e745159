-- A queued e-mail keeps its template and the values that fill it; its bodies are rendered when it
-- leaves (see domain::email). Rows queued earlier keep their rendered bodies.
ALTER TABLE email_outbox ADD COLUMN template TEXT;

-- member_emails is nothing but its key. As a WITHOUT ROWID table the key's b-tree is the table,
-- where a rowid table stored every row twice (the table and its primary-key index) and a third
-- time in the (organization_id, value_ci) index. The key now leads with the address, which is what
-- filters look up; member_emails_member serves a member's own rows and the delete cascade.
CREATE TABLE member_emails_by_value (
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    value_ci        TEXT NOT NULL,
    PRIMARY KEY (organization_id, value_ci, member_id)
) WITHOUT ROWID;
INSERT INTO member_emails_by_value (member_id, organization_id, value_ci)
    SELECT member_id, organization_id, value_ci FROM member_emails;
DROP TABLE member_emails;
ALTER TABLE member_emails_by_value RENAME TO member_emails;
CREATE INDEX member_emails_member ON member_emails (member_id);
