-- The webhook outbox (not upstream): one row per audit event and subscribed
-- endpoint, inserted in the transaction that appends the event to
-- `audit_events`, so an event is never logged without its deliveries and a
-- restart loses none. A delivery worker claims a due row by setting
-- `claimed_until` (a lease: another instance claims it only after the lease
-- ended), deletes it once delivered, or counts the failure and sets the
-- next attempt; after too many failures the row is parked (`parked` = 1)
-- until `authnzrv webhooks retry`. `body` is the JSON body as sent.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT,
    created DATETIME(6) NOT NULL,
    endpoint VARCHAR(2048) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt DATETIME(6) NOT NULL,
    claimed_until DATETIME(6),
    parked INT NOT NULL DEFAULT 0,
    last_error VARCHAR(256),
    PRIMARY KEY (id),
    INDEX ix_webhook_outbox_due (parked, next_attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
