-- The audit log (not upstream): security-relevant events, appended in
-- batches by the server's background writer, listed by
-- `internal-audit-list` and `authnzrv audit`, deleted only by the retention
-- cleanup (`auditretention`). Rows are never updated; the trigger below
-- refuses it. No foreign keys: an event outlives the user it names.
-- `created` is the event's time; `id` is its position in the log (keyset
-- pagination goes by it). Upstream never reads this table.
CREATE TABLE IF NOT EXISTS audit_events (
    id BIGSERIAL PRIMARY KEY,
    created TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    event VARCHAR(64) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    actor_user_id BIGINT,
    subject_user_id BIGINT,
    client_address VARCHAR(128),
    request_id VARCHAR(128),
    reason VARCHAR(128)
);

CREATE INDEX IF NOT EXISTS ix_audit_events_created ON audit_events (created);
CREATE INDEX IF NOT EXISTS ix_audit_events_subject ON audit_events (subject_user_id, id);

CREATE OR REPLACE FUNCTION audit_events_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only
BEFORE UPDATE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_update();
