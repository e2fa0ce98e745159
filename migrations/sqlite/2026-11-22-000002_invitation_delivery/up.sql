-- Delivery state of an invitation's e-mail, so that a member's invitation state reads in one place.
ALTER TABLE invitations ADD COLUMN delivery_status TEXT NOT NULL DEFAULT 'PENDING'
    CHECK (delivery_status IN ('PENDING', 'SENT', 'FAILED'));
ALTER TABLE invitations ADD COLUMN delivered_at TIMESTAMP;
