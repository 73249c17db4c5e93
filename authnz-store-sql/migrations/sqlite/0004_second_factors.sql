-- Second factors of a login (not upstream): each user's TOTP authenticator
-- (`enabled` false while the enrolment waits for its first code), the
-- single-use recovery codes, and the login tickets that link the password
-- step of a login to its second step (valid while `expires` is later than
-- now, bound to the session of the password step by `session_hash`).
-- `sealed_secret` is the TOTP secret encrypted with a key derived from the
-- server secret; codes, tickets and session tokens are stored only as
-- SHA-256 hashes (hex). `last_step` is the last accepted TOTP time step, so
-- a code is never accepted twice. Every row goes with its user.
-- Upstream never reads these tables.
CREATE TABLE IF NOT EXISTS user_totp (
    user_id INTEGER NOT NULL,
    sealed_secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 0,
    last_step BIGINT,
    created DATETIME NOT NULL,
    PRIMARY KEY (user_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS user_recovery_codes (
    user_id INTEGER NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    PRIMARY KEY (user_id, code_hash),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS login_tickets (
    ticket_hash VARCHAR(64) NOT NULL,
    user_id INTEGER NOT NULL,
    session_hash VARCHAR(64) NOT NULL,
    expires DATETIME NOT NULL,
    PRIMARY KEY (ticket_hash),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_login_tickets_user_id ON login_tickets (user_id);
CREATE INDEX IF NOT EXISTS ix_login_tickets_expires ON login_tickets (expires);
