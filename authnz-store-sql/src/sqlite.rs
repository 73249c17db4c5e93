//! The SQLite dialect: opening the file safely, migrations, reading rows,
//! and what [`SqlDialect`] needs (the operations are written once, in
//! `users.rs` and its siblings).
//!
//! Storage follows PROTOCOL.md 8.2 so that a database can be shared with upstream:
//! datetimes are TEXT `YYYY-MM-DD HH:MM:SS.ffffff` and every datetime
//! parameter (including `now`) is bound in that same form, because SQLite
//! compares them as text; booleans are 0/1; JSON is Python-style text or SQL
//! NULL. Every connection enforces foreign keys (the cascades depend on it)
//! and waits a few seconds on a locked database before giving up. Transactions
//! that write start with `BEGIN IMMEDIATE`, so they take the write lock up
//! front instead of failing when a read lock cannot be upgraded.

use std::path::Path;
use std::str::FromStr;

use authnz_api::time::{parse_stored_text, to_sqlite_text, truncate_micros};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite};

use crate::db::{self, Arg, Done, Placeholders, Query, SqlDialect, args};
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{ReadColumns, user_columns};
use crate::{SqlOptions, url};

/// The migrations for this dialect, embedded at build time.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("migrations/sqlite");

/// `journal_size_limit` as upstream sets it (5 MiB).
const JOURNAL_SIZE_LIMIT: &str = "5242880";

/// Open a pool on a `sqlite:` URL.
///
/// A file database is checked (an existing file must have mode 0600) or
/// created with mode 0600 before SQLite touches it, and put in WAL mode with
/// `synchronous=NORMAL`: in WAL mode that keeps the database consistent
/// across crashes and power loss (a commit is durable once the WAL is synced
/// at the next checkpoint, so a power cut can lose the last commits, never
/// corrupt the file), and a commit no longer waits for an fsync, which made
/// every session-new, login (it deletes its session) and sign-up pay one. An
/// in-memory database gets exactly one connection that is never recycled,
/// since the data lives only as long as that connection.
pub(crate) async fn connect(
    target: &url::SqliteTarget,
    opts: &SqlOptions,
) -> Result<SqlitePool, SqlStoreError> {
    let mut options = SqliteConnectOptions::from_str(&target.url)?
        .foreign_keys(true)
        .busy_timeout(opts.busy_timeout.min(opts.statement_timeout));
    let mut pool = SqlitePoolOptions::new().acquire_timeout(opts.acquire_timeout);

    if target.in_memory {
        pool = pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        let path = options.get_filename().to_path_buf();
        prepare_file(&path, opts.create_if_missing)?;
        options = options
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT);
        pool = pool.max_connections(opts.max_connections.max(1));
    }

    Ok(pool.connect_with(options).await?)
}

/// Spec 7.5: refuse an existing database file whose permission bits are not
/// exactly 0600; create a missing one with mode 0600 (SQLite gives its `-wal`
/// and `-shm` files the same mode).
#[cfg(unix)]
fn prepare_file(path: &Path, create: bool) -> Result<(), SqlStoreError> {
    use std::fs::{self, OpenOptions, Permissions};
    use std::io::ErrorKind;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let file_error = |source| SqlStoreError::File {
        path: path.to_path_buf(),
        source,
    };
    match fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode != 0o600 {
                return Err(SqlStoreError::InsecurePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound && create => {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(file_error)?;
            // The umask may have cleared bits of 0600; set them exactly.
            fs::set_permissions(path, Permissions::from_mode(0o600)).map_err(file_error)?;
            tracing::info!(path = %path.display(), "created SQLite auth DB with mode 0600");
            Ok(())
        }
        Err(e) => Err(file_error(e)),
    }
}

/// Without Unix permission bits there is nothing to check; SQLite creates the
/// file if allowed.
#[cfg(not(unix))]
fn prepare_file(path: &Path, create: bool) -> Result<(), SqlStoreError> {
    if !create && !path.exists() {
        return Err(SqlStoreError::File {
            path: path.to_path_buf(),
            source: std::io::ErrorKind::NotFound.into(),
        });
    }
    Ok(())
}

/// A datetime parameter in the stored text form.
impl ReadColumns for SqliteRow {
    fn text(&self, i: usize, _column: &'static str) -> Result<String, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize, _column: &'static str) -> Result<Option<String>, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn int(&self, i: usize, _column: &'static str) -> Result<i64, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_int(&self, i: usize, _column: &'static str) -> Result<Option<i64>, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn flag(&self, i: usize, _column: &'static str) -> Result<bool, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_datetime(
        &self,
        i: usize,
        column: &'static str,
    ) -> Result<Option<NaiveDateTime>, SqlStoreError> {
        let text: Option<String> = self.try_get(i)?;
        text.map(|t| {
            parse_stored_text(&t).ok_or_else(|| SqlStoreError::Decode {
                column,
                reason: "not a `YYYY-MM-DD HH:MM:SS.ffffff` datetime".to_owned(),
            })
        })
        .transpose()
    }

    fn json(&self, i: usize, column: &'static str) -> Result<Option<Value>, SqlStoreError> {
        match self.try_get::<Option<String>, _>(i) {
            Ok(text) => json::from_column(text, column),
            // A column declared JSON has NUMERIC affinity: SQLite stores the
            // text of a top-level JSON number (`42`, `2.5`) as a number.
            Err(sqlx::Error::ColumnDecode { .. }) => {
                if let Ok(n) = self.try_get::<i64, _>(i) {
                    return Ok(Some(Value::from(n)));
                }
                let f: f64 = self.try_get(i)?;
                Ok(serde_json::Number::from_f64(f).map(Value::Number))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl SqlDialect for Sqlite {
    const PLACEHOLDERS: Placeholders = Placeholders::Positional;
    const HAS_RETURNING: bool = true;
    /// Take the write lock up front instead of failing when a read lock
    /// cannot be upgraded.
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");

    fn bind(query: Query<Self>, arg: Arg<'_>) -> Query<Self> {
        match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            // sqlx binds a bool as the integer 0 or 1 (PROTOCOL.md 8.2).
            Arg::Bool(v) => query.bind(v),
            // Compared as text: bound in the stored form.
            Arg::Time(v) => query.bind(v.map(|t| to_sqlite_text(&truncate_micros(t)))),
            Arg::Json(v) => query.bind(v),
        }
    }

    db::run_methods!(|r| Done {
        rows_affected: r.rows_affected(),
        last_insert_id: Some(r.last_insert_rowid()),
    });

    /// The objects that have the first wanted key (the nested CASE keeps
    /// `json_each` away from text that is not JSON, which would make it
    /// raise).
    async fn extra_info_candidates(
        conn: &mut SqliteConnection,
        wanted: &serde_json::Map<String, Value>,
    ) -> Result<Vec<SqliteRow>, SqlStoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE CASE WHEN json_valid(extra_info) THEN \
               CASE WHEN json_type(extra_info) = 'object' THEN \
                 EXISTS (SELECT 1 FROM json_each(users.extra_info) AS j WHERE j.key = ?) \
               ELSE 0 END \
             ELSE 0 END ORDER BY user_id"
        );
        let first_key = wanted.keys().next().map(String::as_str);
        Ok(Self::fetch_all(conn, sql, args![first_key]).await?)
    }
}
