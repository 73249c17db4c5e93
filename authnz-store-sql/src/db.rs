//! What lets a store operation be written once for every dialect: the
//! [`sql!`] macro, the [`Arg`] parameter type and the [`SqlDialect`] trait.
//!
//! An operation (in `users.rs`, `sessions.rs`, `roles.rs`, `apikeys.rs`) is
//! one generic function over `D: SqlDialect`. Its SQL is written once, in a
//! neutral form that [`sql!`] turns into each dialect's text at compile time:
//!
//! - `?` is a parameter. PostgreSQL gets `$1`, `$2`, ... in order; SQLite and
//!   MySQL keep `?`. A value used twice is written (and bound) twice.
//! - `?::json` (any `?::name`) is a cast PostgreSQL needs and the others do
//!   not: kept there, dropped elsewhere.
//! - `"name"` quotes an identifier (the `desc` column): kept on PostgreSQL,
//!   written `` `name` `` for SQLite and MySQL (SQLite accepts both).
//! - Text between single quotes is copied as it is.
//!
//! Parameters are [`Arg`]s, bound by the dialect ([`SqlDialect::bind`]):
//! that is where SQLite's text datetimes live. Rows are read through
//! [`ReadColumns`] (see `rows.rs`). What cannot be said in common SQL is a
//! constant or a method of the trait, implemented in the dialect's own file
//! next to its connection set-up and migrations.

use std::future::Future;

use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::Database;

use crate::error::SqlStoreError;
use crate::json;
use crate::rows::ReadColumns;

/// How a dialect writes statement parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `?` (SQLite, MySQL); casts dropped, identifiers quoted with backticks.
    Positional,
    /// `$1`, `$2`, ... (PostgreSQL); casts and double quotes kept.
    Numbered,
}

/// One statement parameter, in the domain's terms; [`SqlDialect::bind`]
/// decides how each kind is sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bool(Option<bool>),
    /// Bound with microsecond precision (PROTOCOL.md 8.2).
    Time(Option<NaiveDateTime>),
    /// JSON already in Python's text form ([`Arg::json`]); the SQL casts it
    /// where the dialect needs one (`?::json`).
    Json(Option<String>),
}

impl Arg<'_> {
    /// A JSON column value; `None` and JSON `null` are both SQL NULL.
    pub(crate) fn json(value: Option<&Value>) -> Result<Arg<'static>, SqlStoreError> {
        Ok(Arg::Json(json::to_column(value)?))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(Some(v))
    }
}

impl From<Option<bool>> for Arg<'_> {
    fn from(v: Option<bool>) -> Self {
        Arg::Bool(v)
    }
}

impl From<NaiveDateTime> for Arg<'_> {
    fn from(v: NaiveDateTime) -> Self {
        Arg::Time(Some(v))
    }
}

impl From<Option<NaiveDateTime>> for Arg<'_> {
    fn from(v: Option<NaiveDateTime>) -> Self {
        Arg::Time(v)
    }
}

/// The parameters of one statement, in the order of its `?`s.
pub(crate) type Args<'a> = Vec<Arg<'a>>;

/// `args![a, b, ...]`: the [`Args`] of a statement, each value converted
/// with `Arg::from`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($arg)),*]
    };
}

/// What a statement that returns no rows reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Done {
    pub(crate) rows_affected: u64,
    /// The id the database gave an inserted row, where the driver reports
    /// one (SQLite, MySQL).
    pub(crate) last_insert_id: Option<i64>,
}

/// A statement's SQL for the dialect `D`, from the neutral form described in
/// the module documentation, made at compile time: `sql!(D, "...", ...)`
/// takes string literals (or macros that expand to them) and concatenates
/// them first.
macro_rules! sql {
    (@render $source:ident, $style:expr) => {{
        const LEN: usize = $crate::db::rendered_len($source, $style);
        const BYTES: [u8; LEN] = $crate::db::render::<LEN>($source, $style);
        const TEXT: &str = match ::std::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("sql!: rendering broke UTF-8"),
        };
        TEXT
    }};
    ($d:ty, $($part:expr),+ $(,)?) => {{
        const SOURCE: &str = concat!($($part),+);
        match <$d as $crate::db::SqlDialect>::PLACEHOLDERS {
            $crate::db::Placeholders::Positional => {
                $crate::db::sql!(@render SOURCE, $crate::db::Placeholders::Positional)
            }
            $crate::db::Placeholders::Numbered => {
                $crate::db::sql!(@render SOURCE, $crate::db::Placeholders::Numbered)
            }
        }
    }};
}

pub(crate) use {args, sql};

/// Walk `sql` as [`sql!`] renders it for `style`, writing into `out` when
/// given; returns the rendered length. One walk for both, so the length
/// always matches what is written.
const fn walk(sql: &str, style: Placeholders, mut out: Option<&mut [u8]>) -> usize {
    let src = sql.as_bytes();
    let numbered = matches!(style, Placeholders::Numbered);
    let (mut i, mut n, mut param) = (0, 0, 0u32);
    let mut in_literal = false;
    while i < src.len() {
        let b = src[i];
        i += 1;
        if in_literal || b == b'\'' {
            if b == b'\'' {
                in_literal = !in_literal;
            }
            n = put(&mut out, n, b);
        } else if b == b'?' && numbered {
            param += 1;
            n = put(&mut out, n, b'$');
            // The digits of `param`, most significant first.
            let mut scale = 1;
            while scale * 10 <= param {
                scale *= 10;
            }
            while scale > 0 {
                // A digit, so the cast cannot truncate.
                n = put(&mut out, n, b'0' + (param / scale % 10) as u8);
                scale /= 10;
            }
        } else if b == b'?' {
            n = put(&mut out, n, b'?');
            // Drop a `::name` cast.
            if i + 1 < src.len() && src[i] == b':' && src[i + 1] == b':' {
                i += 2;
                while i < src.len() && (src[i].is_ascii_alphanumeric() || src[i] == b'_') {
                    i += 1;
                }
            }
        } else if b == b'"' && !numbered {
            n = put(&mut out, n, b'`');
        } else {
            n = put(&mut out, n, b);
        }
    }
    n
}

const fn put(out: &mut Option<&mut [u8]>, n: usize, b: u8) -> usize {
    if let Some(buf) = out {
        buf[n] = b;
    }
    n + 1
}

/// The length of `sql` rendered for `style` (for [`sql!`]).
pub(crate) const fn rendered_len(sql: &str, style: Placeholders) -> usize {
    walk(sql, style, None)
}

/// `sql` rendered for `style` (for [`sql!`]); `N` is [`rendered_len`].
pub(crate) const fn render<const N: usize>(sql: &str, style: Placeholders) -> [u8; N] {
    let mut buf = [0u8; N];
    walk(sql, style, Some(&mut buf));
    buf
}

/// A SQL dialect: what the operations written once need from each database.
///
/// Implemented on sqlx's database types in `sqlite.rs`, `postgres.rs` and
/// `mysql.rs`. The running methods take a connection (a pooled one, or a
/// transaction's) so that the operations need no sqlx bounds of their own.
pub(crate) trait SqlDialect: Database<Row: ReadColumns> {
    /// How the dialect writes parameters ([`sql!`]).
    const PLACEHOLDERS: Placeholders;
    /// Whether `INSERT ... RETURNING` exists; without it the driver reports
    /// the new id ([`Done::last_insert_id`]).
    const HAS_RETURNING: bool;
    /// The statement that begins a transaction that will write (`None`:
    /// sqlx's default `BEGIN`).
    const BEGIN_WRITE: Option<&'static str>;
    /// Run after users were inserted with explicit ids, where the id
    /// generator does not move past them by itself.
    const AFTER_EXPLICIT_USER_IDS: Option<&'static str> = None;

    /// Add one parameter to `query`.
    fn bind(query: Query<Self>, arg: Arg<'_>) -> Query<Self>;

    /// Run `sql` with `args`; every row.
    fn fetch_all(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;

    /// Run `sql` with `args`; the first row, if any.
    fn fetch_optional(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send;

    /// Run `sql` with `args`, a statement that returns no rows.
    fn execute(
        conn: &mut Self::Connection,
        sql: &'static str,
        args: Args<'_>,
    ) -> impl Future<Output = Result<Done, sqlx::Error>> + Send;

    /// The users (every column, ordered by id) whose `extra_info` may match
    /// `wanted` (not empty): at least those that do. The caller then
    /// compares exactly, so every dialect matches the same way; how far SQL
    /// can narrow down differs.
    fn extra_info_candidates(
        conn: &mut Self::Connection,
        wanted: &serde_json::Map<String, Value>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, SqlStoreError>> + Send;
}

/// A statement of dialect `D` being given its parameters.
pub(crate) type Query<D> = sqlx::query::Query<'static, D, <D as Database>::Arguments>;

/// The three running methods of [`SqlDialect`], the same text in every
/// dialect (each with its concrete types); `$done` makes a [`Done`] from the
/// driver's query result.
macro_rules! run_methods {
    ($done:expr) => {
        fn fetch_all(
            conn: &mut Self::Connection,
            sql: &'static str,
            args: $crate::db::Args<'_>,
        ) -> impl ::std::future::Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send {
            let query = $crate::db::bind_all::<Self>(sql, args);
            query.fetch_all(conn)
        }

        fn fetch_optional(
            conn: &mut Self::Connection,
            sql: &'static str,
            args: $crate::db::Args<'_>,
        ) -> impl ::std::future::Future<Output = Result<Option<Self::Row>, sqlx::Error>> + Send {
            let query = $crate::db::bind_all::<Self>(sql, args);
            query.fetch_optional(conn)
        }

        fn execute(
            conn: &mut Self::Connection,
            sql: &'static str,
            args: $crate::db::Args<'_>,
        ) -> impl ::std::future::Future<Output = Result<$crate::db::Done, sqlx::Error>> + Send {
            let query = $crate::db::bind_all::<Self>(sql, args);
            async move { query.execute(conn).await.map($done) }
        }
    };
}

pub(crate) use run_methods;

/// `sql` with every one of `args` bound.
pub(crate) fn bind_all<D: SqlDialect>(sql: &'static str, args: Args<'_>) -> Query<D> {
    args.into_iter().fold(sqlx::query(sql), D::bind)
}

// Pool-level shortcuts: take a connection for one statement.

pub(crate) async fn fetch_all<D: SqlDialect>(
    pool: &sqlx::Pool<D>,
    sql: &'static str,
    args: Args<'_>,
) -> Result<Vec<D::Row>, SqlStoreError> {
    let mut conn = pool.acquire().await?;
    Ok(D::fetch_all(&mut conn, sql, args).await?)
}

pub(crate) async fn fetch_optional<D: SqlDialect>(
    pool: &sqlx::Pool<D>,
    sql: &'static str,
    args: Args<'_>,
) -> Result<Option<D::Row>, SqlStoreError> {
    let mut conn = pool.acquire().await?;
    Ok(D::fetch_optional(&mut conn, sql, args).await?)
}

pub(crate) async fn execute<D: SqlDialect>(
    pool: &sqlx::Pool<D>,
    sql: &'static str,
    args: Args<'_>,
) -> Result<u64, SqlStoreError> {
    let mut conn = pool.acquire().await?;
    Ok(D::execute(&mut conn, sql, args).await?.rows_affected)
}

/// Rows one batched cleanup statement deletes at most: the `LIMIT` literal
/// of every statement given to [`delete_in_batches`] (a test checks them).
pub(crate) const CLEANUP_BATCH: u64 = 1_000;

/// Pause between cleanup batches, so writers waiting for the database (on
/// SQLite: its one write lock) get it between two batches.
const CLEANUP_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// Run `sql` (a `DELETE` of at most [`CLEANUP_BATCH`] rows older than its
/// one parameter, `before`) until a batch deletes fewer: one statement over
/// 100,000 expired sessions held SQLite's write lock for 2.3 s (measured
/// with `authnz-bench --grow`), so cleanups go in bounded batches with a
/// pause between them. The total deleted.
pub(crate) async fn delete_in_batches<D: SqlDialect>(
    pool: &sqlx::Pool<D>,
    sql: &'static str,
    before: chrono::NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let mut total = 0;
    loop {
        let n = execute(pool, sql, args![before]).await?;
        total += n;
        if n < CLEANUP_BATCH {
            return Ok(total);
        }
        tokio::time::sleep(CLEANUP_PAUSE).await;
    }
}

/// Begin a transaction that will write ([`SqlDialect::BEGIN_WRITE`]).
pub(crate) async fn begin_write<D: SqlDialect>(
    pool: &sqlx::Pool<D>,
) -> Result<sqlx::Transaction<'static, D>, SqlStoreError> {
    Ok(match D::BEGIN_WRITE {
        Some(statement) => pool.begin_with(statement).await?,
        None => pool.begin().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every batched cleanup statement limits itself to [`CLEANUP_BATCH`]
    /// rows (the literal has to be spelt out inside `sql!`).
    #[test]
    fn cleanup_statement_limits_are_the_batch_size() {
        let literal = format!("\"{CLEANUP_BATCH}\",\n        \") AS batch)\"");
        for (file, text) in [
            ("sessions.rs", include_str!("sessions.rs")),
            ("audit.rs", include_str!("audit.rs")),
        ] {
            assert!(
                text.contains("db::delete_in_batches(") && text.contains(&literal),
                "{file}: the LIMIT literal must equal CLEANUP_BATCH"
            );
        }
    }

    fn rendered(sql: &str, style: Placeholders) -> String {
        let mut buf = vec![0u8; rendered_len(sql, style)];
        walk(sql, style, Some(&mut buf));
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn positional_keeps_marks_and_drops_casts() {
        let sql = r#"INSERT INTO roles (name, "desc") VALUES (?, ?::json) -- é"#;
        assert_eq!(
            rendered(sql, Placeholders::Positional),
            "INSERT INTO roles (name, `desc`) VALUES (?, ?) -- é"
        );
        assert_eq!(
            rendered(
                "WHERE (?::boolean IS NULL OR x = ?)",
                Placeholders::Positional
            ),
            "WHERE (? IS NULL OR x = ?)"
        );
    }

    #[test]
    fn numbered_counts_past_nine_and_keeps_casts() {
        let sql = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::json, ?, ?)";
        assert_eq!(
            rendered(sql, Placeholders::Numbered),
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::json, $11, $12)"
        );
        assert_eq!(
            rendered(r#"SELECT "desc""#, Placeholders::Numbered),
            r#"SELECT "desc""#
        );
    }

    #[test]
    fn quoted_text_is_left_alone() {
        let sql = r#"SELECT '?"''?' AS q WHERE a = ?"#;
        assert_eq!(
            rendered(sql, Placeholders::Numbered),
            r#"SELECT '?"''?' AS q WHERE a = $1"#
        );
        assert_eq!(
            rendered(sql, Placeholders::Positional),
            r#"SELECT '?"''?' AS q WHERE a = ?"#
        );
    }

    #[test]
    fn the_macro_renders_at_compile_time() {
        const SRC: &str = "a = ? AND b = ?::text";
        const NUMBERED: &str = sql!(@render SRC, Placeholders::Numbered);
        const POSITIONAL: &str = sql!(@render SRC, Placeholders::Positional);
        assert_eq!(NUMBERED, "a = $1 AND b = $2::text");
        assert_eq!(POSITIONAL, "a = ? AND b = ?");
    }
}
