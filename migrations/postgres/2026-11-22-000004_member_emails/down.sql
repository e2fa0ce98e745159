DROP TABLE member_emails;
