-- Passkeys (not upstream, PROTOCOL.md 3.12): each user's WebAuthn
-- credentials, and the state of the ceremonies in progress.
-- `credential_id` is the credential's id (base64url), unique over all
-- users; `user_handle` the handle the authenticator keeps (derived from the
-- user id); `passkey_json` the credential as the WebAuthn library
-- serialises it (public key, counter); `sign_count` the authenticator's
-- signature counter at the last use, so a cloned authenticator's replayed
-- counter is refused. A challenge is keyed by the SHA-256 hash (hex) of the
-- id the client holds (registration id, login id or login ticket), is
-- valid while `expires` is later than now and is taken once; the cleanup
-- task deletes expired ones. Every row goes with its user.
-- Upstream never reads these tables.
CREATE TABLE IF NOT EXISTS user_passkeys (
    passkey_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    credential_id VARCHAR(1400) NOT NULL,
    user_handle VARCHAR(64) NOT NULL,
    name VARCHAR(100) NOT NULL,
    passkey_json TEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    created DATETIME NOT NULL,
    last_used DATETIME,
    UNIQUE (credential_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_user_passkeys_user_id ON user_passkeys (user_id);

CREATE TABLE IF NOT EXISTS passkey_challenges (
    challenge_hash VARCHAR(64) NOT NULL,
    user_id INTEGER,
    kind VARCHAR(20) NOT NULL,
    state_json TEXT NOT NULL,
    expires DATETIME NOT NULL,
    PRIMARY KEY (challenge_hash),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_passkey_challenges_expires ON passkey_challenges (expires);
