-- Social login (not upstream). `oauth_identities`: the identities a user has
-- at the configured OAuth 2.0 / OpenID Connect providers, one per provider
-- and user, each (provider, subject) linked to one user; removed with the
-- user. `oauth_states`: a login in progress (`user-oauth-start` to
-- `user-oauth-finish`), bound to a session, used once, kept at most ten
-- minutes; the PKCE verifier and the nonce never leave the server. No
-- foreign key to `sessions`: sessions may live in Redis. Upstream never
-- reads these tables.
CREATE TABLE IF NOT EXISTS oauth_identities (
    provider VARCHAR(100) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    user_id INTEGER NOT NULL,
    created DATETIME(6) NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS oauth_states (
    state VARCHAR(64) NOT NULL,
    provider VARCHAR(100) NOT NULL,
    session_token VARCHAR(512) NOT NULL,
    pkce_verifier VARCHAR(128) NOT NULL,
    nonce VARCHAR(128) NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires DATETIME(6) NOT NULL,
    PRIMARY KEY (state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_oauth_states_expires ON oauth_states (expires);
