-- Deleting an organization deletes everything in it through the foreign keys' cascades. Each deleted
-- member looks up the rows that reference it, so every referencing column needs an index of its own
-- (the existing ones lead with organization_id); without them a deletion costs members × rows.
CREATE INDEX invitations_member ON invitations (member_id);
CREATE INDEX api_tokens_member ON api_tokens (member_id);
CREATE INDEX member_emails_member ON member_emails (member_id);
CREATE INDEX group_memberships_member ON group_memberships (member_id);
CREATE INDEX email_outbox_invitation_id ON email_outbox (invitation_id);
-- The organization summary's last provisioning (SCIM) activity. (Open invitations are counted through
-- invitations_org_member: an index leading with (organization_id, status) would look as selective to
-- the planner and lure a member's own invitation lookups onto it.)
CREATE INDEX audit_events_org_channel_time ON audit_events (organization_id, channel, created_at);
