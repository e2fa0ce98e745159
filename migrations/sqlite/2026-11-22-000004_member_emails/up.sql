-- Every e-mail address of every member (SCIM `emails` is multi-valued, and addresses may repeat
-- across members), so that `emails.value` filters run on an index.
CREATE TABLE member_emails (
    member_id       TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    value_ci        TEXT NOT NULL,
    PRIMARY KEY (organization_id, member_id, value_ci)
);
CREATE INDEX member_emails_org_value ON member_emails (organization_id, value_ci);
INSERT INTO member_emails (member_id, organization_id, value_ci)
    SELECT id, organization_id, email_ci FROM members WHERE email_ci IS NOT NULL;
