-- Only product events carry a source event id; roster's own events (nearly all rows) no longer
-- pay for an entry in this unique index, as on PostgreSQL already.
DROP INDEX audit_events_org_source_event;
CREATE UNIQUE INDEX audit_events_org_source_event ON audit_events (organization_id, source_event_id) WHERE source_event_id IS NOT NULL;
