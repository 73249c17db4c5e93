-- The authnz schema for PostgreSQL (spec 8.1).
--
-- Every statement is IF NOT EXISTS so that a database created by the upstream
-- Python authnzerver (SQLAlchemy `create_all`) is adopted as it is: the tables
-- and the `ix_<table>_<column>` indexes it made are kept, and only what is
-- missing is added.
--
-- Native types: TIMESTAMP WITHOUT TIME ZONE (naive UTC, microseconds),
-- BOOLEAN, JSON (the store writes Python `json.dumps` text, which the JSON type
-- keeps verbatim). Integer ids are SERIAL, as SQLAlchemy makes them, so a fresh
-- database numbers users 1, 2, 3 in insertion order.
--
-- Beyond upstream: indexes on the foreign-key columns that the cascades of
-- spec 8.3 search (`sessions.user_id`, `apikeys.session_token`, ...), so that
-- deleting a user or a session does not scan whole tables.

CREATE TABLE IF NOT EXISTS roles (
    name VARCHAR(100) NOT NULL,
    "desc" VARCHAR(280) NOT NULL,
    PRIMARY KEY (name)
);

CREATE TABLE IF NOT EXISTS users (
    user_id SERIAL PRIMARY KEY,
    system_id VARCHAR(50) NOT NULL,
    full_name VARCHAR(280),
    password TEXT NOT NULL,
    email VARCHAR(280) NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT false,
    is_active BOOLEAN NOT NULL DEFAULT false,
    emailverify_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    emailforgotpass_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    emailchangepass_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    last_login_success TIMESTAMP WITHOUT TIME ZONE,
    last_login_try TIMESTAMP WITHOUT TIME ZONE,
    failed_login_tries INTEGER DEFAULT 0,
    extra_info JSON,
    created_on TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    last_updated TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    user_role VARCHAR(100) NOT NULL,
    UNIQUE (email),
    FOREIGN KEY (user_role) REFERENCES roles (name)
);

CREATE UNIQUE INDEX IF NOT EXISTS ix_users_system_id ON users (system_id);
CREATE INDEX IF NOT EXISTS ix_users_full_name ON users (full_name);
CREATE INDEX IF NOT EXISTS ix_users_email_verified ON users (email_verified);
CREATE INDEX IF NOT EXISTS ix_users_is_active ON users (is_active);
CREATE INDEX IF NOT EXISTS ix_users_last_login_success ON users (last_login_success);
CREATE INDEX IF NOT EXISTS ix_users_last_login_try ON users (last_login_try);
CREATE INDEX IF NOT EXISTS ix_users_created_on ON users (created_on);
CREATE INDEX IF NOT EXISTS ix_users_last_updated ON users (last_updated);
CREATE INDEX IF NOT EXISTS ix_users_user_role ON users (user_role);

CREATE TABLE IF NOT EXISTS sessions (
    session_token VARCHAR NOT NULL,
    ip_address VARCHAR(280) NOT NULL,
    user_agent VARCHAR(280) NOT NULL,
    user_id INTEGER NOT NULL,
    created TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    expires TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    extra_info_json JSON,
    PRIMARY KEY (session_token),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_sessions_created ON sessions (created);
CREATE INDEX IF NOT EXISTS ix_sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS ix_sessions_user_id ON sessions (user_id);

CREATE TABLE IF NOT EXISTS groups (
    group_id SERIAL PRIMARY KEY,
    system_id VARCHAR(50) NOT NULL,
    group_name VARCHAR(280) NOT NULL,
    visibility VARCHAR(100) NOT NULL DEFAULT 'public',
    created_by INTEGER NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT false,
    created_on TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    last_updated TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    group_role VARCHAR(100) NOT NULL,
    extra_info JSON,
    FOREIGN KEY (created_by) REFERENCES users (user_id),
    FOREIGN KEY (group_role) REFERENCES roles (name)
);

CREATE INDEX IF NOT EXISTS ix_groups_system_id ON groups (system_id);
CREATE INDEX IF NOT EXISTS ix_groups_visibility ON groups (visibility);
CREATE INDEX IF NOT EXISTS ix_groups_is_active ON groups (is_active);
CREATE INDEX IF NOT EXISTS ix_groups_created_on ON groups (created_on);
CREATE INDEX IF NOT EXISTS ix_groups_last_updated ON groups (last_updated);
CREATE INDEX IF NOT EXISTS ix_groups_group_role ON groups (group_role);
CREATE INDEX IF NOT EXISTS ix_groups_created_by ON groups (created_by);

CREATE TABLE IF NOT EXISTS user_groups (
    user_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, group_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (group_id) REFERENCES groups (group_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_user_groups_group_id ON user_groups (group_id);

CREATE TABLE IF NOT EXISTS preferences (
    pref_id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    pref_name VARCHAR(100) NOT NULL,
    pref_value VARCHAR(280),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_preferences_user_id ON preferences (user_id);

CREATE TABLE IF NOT EXISTS apikeys (
    apikey TEXT NOT NULL,
    issued TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    expires TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    not_valid_before TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    user_id INTEGER NOT NULL,
    user_role VARCHAR(100) NOT NULL,
    session_token TEXT NOT NULL,
    PRIMARY KEY (apikey),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (user_role) REFERENCES roles (name) ON DELETE CASCADE,
    FOREIGN KEY (session_token) REFERENCES sessions (session_token) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_apikeys_expires ON apikeys (expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_not_valid_before ON apikeys (not_valid_before);
CREATE INDEX IF NOT EXISTS ix_apikeys_user_id ON apikeys (user_id);
CREATE INDEX IF NOT EXISTS ix_apikeys_session_token ON apikeys (session_token);

CREATE TABLE IF NOT EXISTS apikeys_nosession (
    apikey TEXT NOT NULL,
    issued TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    expires TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    not_valid_before TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    refresh_token TEXT NOT NULL,
    refresh_issued TIMESTAMP WITHOUT TIME ZONE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    refresh_expires TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    refresh_nbf TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    user_id INTEGER NOT NULL,
    user_role VARCHAR(100) NOT NULL,
    PRIMARY KEY (apikey),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (user_role) REFERENCES roles (name) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_expires ON apikeys_nosession (expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_not_valid_before ON apikeys_nosession (not_valid_before);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_refresh_expires ON apikeys_nosession (refresh_expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_refresh_nbf ON apikeys_nosession (refresh_nbf);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_user_id ON apikeys_nosession (user_id);

-- Upstream inserts the three built-in users with explicit ids 1, 2, 3 and so
-- leaves the users sequence behind; make the next id follow the highest one.
SELECT setval(pg_get_serial_sequence('users', 'user_id'), COALESCE(MAX(user_id), 0) + 1, false)
FROM users;
