//! This crate's own error type, and how it maps onto the semantic
//! [`StoreError`] that the rest of authnz sees.
//!
//! The mapping is the backend half of the storage contract: a unique violation
//! is a [`StoreError::Conflict`], a foreign-key violation a
//! [`StoreError::InvalidReference`], anything that says "the database cannot
//! be reached right now" (pool timeout, I/O, refused connection, server
//! shutting down, SQLite busy) is [`StoreError::Unavailable`], and the rest is
//! [`StoreError::Backend`] with the driver error kept as the source.

use std::path::PathBuf;

use authnz_api::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// Everything that can go wrong in the SQL store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlStoreError {
    /// The URL names no database this crate knows. The URL itself is not
    /// repeated because it may hold a password.
    #[error(
        "unsupported database URL: expected `sqlite:PATH`, `sqlite::memory:`, \
         `postgres://...`, `postgresql://...`, `mysql://...` or `mariadb://...`"
    )]
    UnsupportedUrl,

    /// The URL names a database whose driver was not compiled in.
    #[error("support for {0} was not compiled into this build (Cargo feature `{0}`)")]
    DialectDisabled(&'static str),

    /// An existing SQLite file has permission bits other than 0600 (PROTOCOL.md 7.5).
    #[error(
        "incorrect permissions on auth DB, will not load it: {} has mode {mode:04o}, \
         expected 0600",
        path.display()
    )]
    InsecurePermissions {
        /// The database file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The SQLite file could not be inspected or created.
    #[error("cannot open auth DB {}: {source}", path.display())]
    File {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A value read from the database is not in a form this crate understands.
    /// The value is not repeated because it may be personal data.
    #[error("invalid value stored in column `{column}`: {reason}")]
    Decode {
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A JSON value could not be serialised.
    #[error("cannot serialise JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// Running the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// An operation ran past its deadline ([`crate::SqlOptions::operation_deadline`]).
    #[error("database operation timed out after {0:?}")]
    TimedOut(std::time::Duration),

    /// Any error from the driver.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl From<SqlStoreError> for StoreError {
    fn from(e: SqlStoreError) -> Self {
        match e {
            SqlStoreError::Sqlx(e) => from_sqlx(e),
            e @ SqlStoreError::TimedOut(_) => StoreError::unavailable(e),
            SqlStoreError::Migrate(sqlx::migrate::MigrateError::Execute(inner))
                if is_unavailable(&inner) =>
            {
                StoreError::unavailable(inner)
            }
            other => StoreError::backend(other),
        }
    }
}

/// Classify a driver error.
fn from_sqlx(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // The driver's message may quote the offending value (MySQL:
        // "Duplicate entry 'someone@example.com' for key ..."), and these
        // errors are logged: keep only the constraint's name.
        let constraint = db.constraint().unwrap_or("unnamed constraint");
        match db.kind() {
            ErrorKind::UniqueViolation => {
                return StoreError::Conflict(format!("unique: {constraint}"));
            }
            ErrorKind::ForeignKeyViolation => {
                return StoreError::InvalidReference(format!("foreign key: {constraint}"));
            }
            _ => {}
        }
    }
    if is_unavailable(&e) {
        StoreError::unavailable(e)
    } else {
        StoreError::backend(e)
    }
}

/// True for errors after which a later retry may well succeed.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => is_transient_code(db.as_ref()),
        _ => false,
    }
}

/// Database error codes that mean "not now" rather than "never".
fn is_transient_code(db: &dyn DatabaseError) -> bool {
    // MySQL/MariaDB report a SQLSTATE as `code()` too, but many errors share
    // `HY000`; their error numbers say more.
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return is_transient_mysql(my.number());
    }
    let Some(code) = db.code() else {
        return false;
    };
    let code: &str = &code;
    // PostgreSQL SQLSTATE: 08 connection exception, 53 insufficient resources
    // (too many connections, disk full), 57P01-57P03 server shutting down or
    // starting up.
    // 57014 query canceled (`statement_timeout`), 55P03 lock not available
    // (`lock_timeout`).
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03" | "57014" | "55P03");
    }
    // SQLite result codes (extended codes keep the primary code in the low
    // byte): 5 SQLITE_BUSY, 6 SQLITE_LOCKED, after the busy timeout ran out.
    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

/// MySQL/MariaDB error numbers that mean "not now": 1040 too many
/// connections, 1053 server shutdown in progress, 1205 lock wait timeout
/// (the counterpart of SQLite's busy timeout), 1213 deadlock (the transaction
/// was rolled back; a retry succeeds), 1927 connection killed, 1969 MariaDB's
/// `max_statement_time` exceeded, 3024 MySQL's `max_execution_time`
/// exceeded. Connection failures proper (2002, 2013, ...) surface as I/O
/// errors.
#[cfg(feature = "mysql")]
fn is_transient_mysql(number: u16) -> bool {
    matches!(number, 1040 | 1053 | 1205 | 1213 | 1927 | 1969 | 3024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_error_names_the_file_and_the_upstream_text() {
        let e = SqlStoreError::InsecurePermissions {
            path: PathBuf::from("/srv/auth.sqlite"),
            mode: 0o644,
        };
        assert_eq!(
            e.to_string(),
            "incorrect permissions on auth DB, will not load it: /srv/auth.sqlite has mode 0644, \
             expected 0600"
        );
    }

    #[test]
    fn pool_timeout_is_unavailable() {
        let e: StoreError = SqlStoreError::Sqlx(sqlx::Error::PoolTimedOut).into();
        assert!(matches!(e, StoreError::Unavailable { .. }));
    }

    #[test]
    fn other_errors_are_backend() {
        let e: StoreError = SqlStoreError::Sqlx(sqlx::Error::RowNotFound).into();
        assert!(matches!(e, StoreError::Backend { .. }));
        let e: StoreError = SqlStoreError::UnsupportedUrl.into();
        assert!(matches!(e, StoreError::Backend { .. }));
    }
}
