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
-- task deletes expired ones. (MySQL: `credential_id` is ASCII, so its
-- unique index fits the key length limit.) Every row goes with its user.
-- Upstream never reads these tables.
CREATE TABLE IF NOT EXISTS user_passkeys (
    passkey_id INTEGER NOT NULL AUTO_INCREMENT,
    user_id INTEGER NOT NULL,
    credential_id VARCHAR(1400) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_handle VARCHAR(64) NOT NULL,
    name VARCHAR(100) NOT NULL,
    passkey_json MEDIUMTEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    created DATETIME(6) NOT NULL,
    last_used DATETIME(6),
    PRIMARY KEY (passkey_id),
    UNIQUE (credential_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_user_passkeys_user_id ON user_passkeys (user_id);

CREATE TABLE IF NOT EXISTS passkey_challenges (
    challenge_hash VARCHAR(64) NOT NULL,
    user_id INTEGER,
    kind VARCHAR(20) NOT NULL,
    state_json MEDIUMTEXT NOT NULL,
    expires DATETIME(6) NOT NULL,
    PRIMARY KEY (challenge_hash),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_passkey_challenges_expires ON passkey_challenges (expires);
