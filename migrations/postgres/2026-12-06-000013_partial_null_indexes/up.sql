-- Most members carry no phone number, and none has a user until its invitation is accepted: their
-- rows no longer pay for entries in these indexes. Every query on these columns compares them with
-- a value, which implies IS NOT NULL, so both backends still choose these indexes; uniqueness is
-- unchanged (NULLs never collided).
DROP INDEX members_org_phone_number;
CREATE UNIQUE INDEX members_org_phone_number ON members (organization_id, phone_number) WHERE phone_number IS NOT NULL;
DROP INDEX members_org_user;
CREATE UNIQUE INDEX members_org_user ON members (organization_id, user_id) WHERE user_id IS NOT NULL;
DROP INDEX members_user;
CREATE INDEX members_user ON members (user_id) WHERE user_id IS NOT NULL;
-- Likewise the audit trail: events from a SCIM token have no acting member, and organization-wide
-- events no subject member.
DROP INDEX audit_events_org_actor_time;
CREATE INDEX audit_events_org_actor_time ON audit_events (organization_id, actor_member_id, created_at) WHERE actor_member_id IS NOT NULL;
DROP INDEX audit_events_org_subject_time;
CREATE INDEX audit_events_org_subject_time ON audit_events (organization_id, subject_member_id, created_at) WHERE subject_member_id IS NOT NULL;
