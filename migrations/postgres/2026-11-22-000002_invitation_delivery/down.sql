ALTER TABLE invitations DROP COLUMN delivered_at;
ALTER TABLE invitations DROP COLUMN delivery_status;
