-- The audit log (not upstream): security-relevant events, appended in
-- batches by the server's background writer, listed by
-- `internal-audit-list` and `authnzrv audit`, deleted only by the retention
-- cleanup (`auditretention`). The server never updates a row (no trigger
-- here: creating one needs privileges a MySQL account may lack). No foreign
-- keys: an event outlives the user it names. `created` is the event's time;
-- `id` is its position in the log (keyset pagination goes by it). Upstream
-- never reads this table.
CREATE TABLE IF NOT EXISTS audit_events (
    id BIGINT NOT NULL AUTO_INCREMENT,
    created DATETIME(6) NOT NULL,
    event VARCHAR(64) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    actor_user_id BIGINT,
    subject_user_id BIGINT,
    client_address VARCHAR(128),
    request_id VARCHAR(128),
    reason VARCHAR(128),
    PRIMARY KEY (id),
    INDEX ix_audit_events_created (created),
    INDEX ix_audit_events_subject (subject_user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
