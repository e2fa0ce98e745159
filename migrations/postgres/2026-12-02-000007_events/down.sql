DROP INDEX audit_events_org_source_event;
ALTER TABLE audit_events DROP COLUMN source_event_id;
ALTER TABLE audit_events DROP COLUMN source;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE events;
