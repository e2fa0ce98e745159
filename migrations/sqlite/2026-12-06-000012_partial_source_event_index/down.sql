DROP INDEX audit_events_org_source_event;
CREATE UNIQUE INDEX audit_events_org_source_event ON audit_events (organization_id, source_event_id);
