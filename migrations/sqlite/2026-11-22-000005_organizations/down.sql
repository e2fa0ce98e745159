DROP INDEX audit_events_org_channel_time;
DROP INDEX email_outbox_invitation_id;
DROP INDEX group_memberships_member;
DROP INDEX member_emails_member;
DROP INDEX api_tokens_member;
DROP INDEX invitations_member;
