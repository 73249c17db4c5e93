-- The authnz schema for MySQL / MariaDB (spec 8.1).
--
-- Every statement is IF NOT EXISTS so that tables laid out as upstream's
-- SQLAlchemy models (same table, column and `ix_<table>_<column>` index
-- names) are adopted as they are and only what is missing is added, provided
-- they are exact (see the check below). Upstream's own `create_all` cannot
-- run on MySQL (an unbounded VARCHAR key, a TEXT primary key).
-- (`CREATE INDEX IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`, `BEGIN NOT
-- ATOMIC` and `utf8mb4_nopad_bin` are MariaDB; MySQL 8 would need other
-- forms and `utf8mb4_0900_bin`.)
--
-- Types: DATETIME(6) (naive UTC, microseconds), BOOLEAN (TINYINT(1)), JSON
-- (on MariaDB an alias of LONGTEXT with a JSON_VALID check, so the Python
-- `json.dumps` text the store writes is kept verbatim, as on PostgreSQL).
-- Every text column is utf8mb4 with the collation `utf8mb4_nopad_bin`:
-- comparisons, unique keys and ORDER BY are exact and in byte order, with no
-- case folding and no trailing-space padding (MySQL's default collations fold
-- case and `utf8mb4_bin` ignores trailing spaces; both would break the
-- storage contract's exact e-mail and token matching).
--
-- Upstream's unbounded `VARCHAR`/`TEXT` key columns (session tokens, API
-- keys) cannot be keys in MySQL; they are VARCHAR(512) here (tokens are
-- a few dozen characters).
--
-- Beyond upstream: indexes on the foreign-key columns that the cascades of
-- spec 8.3 search (InnoDB would make them anyway).

-- Tables made beforehand (by hand, or by anything else than these
-- migrations) are adopted only if their text columns are exact
-- (`utf8mb4_nopad_bin`) and their timestamps keep microseconds; otherwise the
-- storage contract would silently not hold (case-folded e-mails, expiry
-- rounded to the second), and MariaDB could not make the foreign keys from
-- the new tables to them anyway. Stop with a clear message instead.
BEGIN NOT ATOMIC
    IF EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = DATABASE()
          AND table_name IN ('roles', 'users', 'sessions', 'groups', 'user_groups',
                             'preferences', 'apikeys', 'apikeys_nosession')
          AND ((data_type IN ('varchar', 'char', 'text')
                AND collation_name <> 'utf8mb4_nopad_bin')
               OR (data_type = 'datetime' AND datetime_precision <> 6))
    ) THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
            'authnz: existing tables must use the collation utf8mb4_nopad_bin for text columns and DATETIME(6) for timestamps; convert them first';
    END IF;
END;

CREATE TABLE IF NOT EXISTS roles (
    name VARCHAR(100) NOT NULL,
    `desc` VARCHAR(280) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER NOT NULL AUTO_INCREMENT,
    system_id VARCHAR(50) NOT NULL,
    full_name VARCHAR(280),
    password TEXT NOT NULL,
    email VARCHAR(280) NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT false,
    is_active BOOLEAN NOT NULL DEFAULT false,
    emailverify_sent_datetime DATETIME(6),
    emailforgotpass_sent_datetime DATETIME(6),
    emailchangepass_sent_datetime DATETIME(6),
    last_login_success DATETIME(6),
    last_login_try DATETIME(6),
    failed_login_tries INTEGER DEFAULT 0,
    extra_info JSON,
    created_on DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    last_updated DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    user_role VARCHAR(100) NOT NULL,
    PRIMARY KEY (user_id),
    UNIQUE (email),
    FOREIGN KEY (user_role) REFERENCES roles (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

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
    session_token VARCHAR(512) NOT NULL,
    ip_address VARCHAR(280) NOT NULL,
    user_agent VARCHAR(280) NOT NULL,
    user_id INTEGER NOT NULL,
    created DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    expires DATETIME(6) NOT NULL,
    extra_info_json JSON,
    PRIMARY KEY (session_token),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_sessions_created ON sessions (created);
CREATE INDEX IF NOT EXISTS ix_sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS ix_sessions_user_id ON sessions (user_id);

CREATE TABLE IF NOT EXISTS `groups` (
    group_id INTEGER NOT NULL AUTO_INCREMENT,
    system_id VARCHAR(50) NOT NULL,
    group_name VARCHAR(280) NOT NULL,
    visibility VARCHAR(100) NOT NULL DEFAULT 'public',
    created_by INTEGER NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT false,
    created_on DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    last_updated DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    group_role VARCHAR(100) NOT NULL,
    extra_info JSON,
    PRIMARY KEY (group_id),
    FOREIGN KEY (created_by) REFERENCES users (user_id),
    FOREIGN KEY (group_role) REFERENCES roles (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_groups_system_id ON `groups` (system_id);
CREATE INDEX IF NOT EXISTS ix_groups_visibility ON `groups` (visibility);
CREATE INDEX IF NOT EXISTS ix_groups_is_active ON `groups` (is_active);
CREATE INDEX IF NOT EXISTS ix_groups_created_on ON `groups` (created_on);
CREATE INDEX IF NOT EXISTS ix_groups_last_updated ON `groups` (last_updated);
CREATE INDEX IF NOT EXISTS ix_groups_group_role ON `groups` (group_role);
CREATE INDEX IF NOT EXISTS ix_groups_created_by ON `groups` (created_by);

CREATE TABLE IF NOT EXISTS user_groups (
    user_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, group_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (group_id) REFERENCES `groups` (group_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_user_groups_group_id ON user_groups (group_id);

CREATE TABLE IF NOT EXISTS preferences (
    pref_id INTEGER NOT NULL AUTO_INCREMENT,
    user_id INTEGER NOT NULL,
    pref_name VARCHAR(100) NOT NULL,
    pref_value VARCHAR(280),
    PRIMARY KEY (pref_id),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_preferences_user_id ON preferences (user_id);

CREATE TABLE IF NOT EXISTS apikeys (
    apikey VARCHAR(512) NOT NULL,
    issued DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    expires DATETIME(6) NOT NULL,
    not_valid_before DATETIME(6) NOT NULL,
    user_id INTEGER NOT NULL,
    user_role VARCHAR(100) NOT NULL,
    session_token VARCHAR(512) NOT NULL,
    PRIMARY KEY (apikey),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (user_role) REFERENCES roles (name) ON DELETE CASCADE,
    FOREIGN KEY (session_token) REFERENCES sessions (session_token) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_apikeys_expires ON apikeys (expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_not_valid_before ON apikeys (not_valid_before);
CREATE INDEX IF NOT EXISTS ix_apikeys_user_id ON apikeys (user_id);
CREATE INDEX IF NOT EXISTS ix_apikeys_session_token ON apikeys (session_token);

CREATE TABLE IF NOT EXISTS apikeys_nosession (
    apikey VARCHAR(512) NOT NULL,
    issued DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    expires DATETIME(6) NOT NULL,
    not_valid_before DATETIME(6) NOT NULL,
    refresh_token TEXT NOT NULL,
    refresh_issued DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    refresh_expires DATETIME(6) NOT NULL,
    refresh_nbf DATETIME(6) NOT NULL,
    user_id INTEGER NOT NULL,
    user_role VARCHAR(100) NOT NULL,
    PRIMARY KEY (apikey),
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    FOREIGN KEY (user_role) REFERENCES roles (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_expires ON apikeys_nosession (expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_not_valid_before ON apikeys_nosession (not_valid_before);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_refresh_expires ON apikeys_nosession (refresh_expires);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_refresh_nbf ON apikeys_nosession (refresh_nbf);
CREATE INDEX IF NOT EXISTS ix_apikeys_nosession_user_id ON apikeys_nosession (user_id);

-- InnoDB moves AUTO_INCREMENT past explicitly inserted ids by itself, so
-- upstream's built-in users 1, 2, 3 need no sequence fix-up here.
