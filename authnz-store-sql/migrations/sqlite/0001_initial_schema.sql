-- The authnz schema for SQLite (spec 8.1, storage formats 8.2).
--
-- Every statement is IF NOT EXISTS so that a database created by the upstream
-- Python authnzerver (SQLAlchemy `create_all`) is adopted as it is: the tables
-- and the `ix_<table>_<column>` indexes it made are kept, and only what is
-- missing is added.
--
-- Storage formats: DATETIME is TEXT `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC),
-- BOOLEAN is 0/1, JSON is Python `json.dumps` text or NULL. The column
-- defaults below follow the same formats; the store always writes every value
-- itself, they only matter for rows written by other tools.
--
-- Beyond upstream: indexes on the foreign-key columns that the cascades of
-- spec 8.3 search (`sessions.user_id`, `apikeys.session_token`, ...), so that
-- deleting a user or a session does not scan whole tables.

CREATE TABLE IF NOT EXISTS roles (
    name VARCHAR(100) NOT NULL,
    "desc" VARCHAR(280) NOT NULL,
    PRIMARY KEY (name)
);

-- `user_id INTEGER PRIMARY KEY` is an alias of the rowid, without
-- AUTOINCREMENT, exactly as upstream: the highest id can be reused after the
-- user is deleted.
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY,
    system_id VARCHAR(50) NOT NULL,
    full_name VARCHAR(280),
    password TEXT NOT NULL,
    email VARCHAR(280) NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 0,
    emailverify_sent_datetime DATETIME,
    emailforgotpass_sent_datetime DATETIME,
    emailchangepass_sent_datetime DATETIME,
    last_login_success DATETIME,
    last_login_try DATETIME,
    failed_login_tries INTEGER DEFAULT 0,
    extra_info JSON,
    created_on DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    last_updated DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
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
    created DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    expires DATETIME NOT NULL,
    extra_info_json JSON,
    PRIMARY KEY (session_token),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_sessions_created ON sessions (created);
CREATE INDEX IF NOT EXISTS ix_sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS ix_sessions_user_id ON sessions (user_id);

CREATE TABLE IF NOT EXISTS groups (
    group_id INTEGER PRIMARY KEY,
    system_id VARCHAR(50) NOT NULL,
    group_name VARCHAR(280) NOT NULL,
    visibility VARCHAR(100) NOT NULL DEFAULT 'public',
    created_by INTEGER NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 0,
    created_on DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    last_updated DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
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
    pref_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    pref_name VARCHAR(100) NOT NULL,
    pref_value VARCHAR(280),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS ix_preferences_user_id ON preferences (user_id);

CREATE TABLE IF NOT EXISTS apikeys (
    apikey TEXT NOT NULL,
    issued DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    expires DATETIME NOT NULL,
    not_valid_before DATETIME NOT NULL,
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
    issued DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    expires DATETIME NOT NULL,
    not_valid_before DATETIME NOT NULL,
    refresh_token TEXT NOT NULL,
    refresh_issued DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    refresh_expires DATETIME NOT NULL,
    refresh_nbf DATETIME NOT NULL,
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
