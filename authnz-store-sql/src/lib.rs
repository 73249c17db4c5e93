//! authnz storage on SQL databases through sqlx: SQLite (Cargo feature
//! `sqlite`), PostgreSQL (feature `postgres`) and MySQL/MariaDB (feature
//! `mysql`, not default).
//!
//! [`SqlStore`] implements [`UserStore`], [`SessionStore`], [`RoleStore`] and
//! [`ApiKeyStore`] on one connection pool; the server holds it as
//! `Arc<dyn Trait>` for each.
//! The schema is PROTOCOL.md 8.1, created by embedded migrations
//! ([`SqlStore::migrate`]) that adopt a database made by the upstream Python
//! authnzerver as it is. On SQLite every value is stored in upstream's format
//! (PROTOCOL.md 8.2), so both servers can share one database file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), authnz_api::StoreError> {
//! use authnz_store_sql::{SqlOptions, SqlStore};
//!
//! let store = SqlStore::connect("sqlite:/srv/authnz/.authdb.sqlite", &SqlOptions::default()).await?;
//! store.migrate().await?;
//! // ... hand out Arc<SqlStore> as Arc<dyn UserStore> etc.
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! # One operation, one place
//!
//! Each store operation is written once, as a function generic over the
//! dialect, in `users.rs`, `sessions.rs`, `roles.rs` or `apikeys.rs`. Its SQL
//! is written once too: `sql!` (in `db.rs`) turns `?` parameters into `$1`,
//! `$2`, ... for PostgreSQL at compile time, keeps `?::json`-style casts only
//! there and quotes identifiers for each dialect. What the dialects cannot
//! share (binding datetimes as text on SQLite, `RETURNING` or
//! `LAST_INSERT_ID()`, how a writing transaction begins, how far SQL can
//! narrow an `extra_info` search) is the small `SqlDialect` trait, which
//! `sqlite.rs`, `postgres.rs` and `mysql.rs` implement next to their
//! connection set-up and migrations.
//!
//! Adding an operation therefore touches one place in this crate: write the
//! generic function once, next to its siblings, and call it from the trait
//! implementation in `store.rs` with `dispatch!(self, module::op(args))`.
//! No dialect file changes unless the operation needs something SQL cannot
//! say the same way on all three.
//!
//! Errors map onto [`StoreError`] as the traits require (see [`error`]).
//! The crate's own [`SqlStoreError`] carries the details and is the `source`.

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "authnz-store-sql needs at least one of the features `sqlite`, `postgres` and `mysql`"
);

mod apikeys;
mod audit;
#[cfg(feature = "postgres")]
mod bus;
mod db;
pub mod error;
mod groups;
mod json;
#[cfg(feature = "mysql")]
mod mysql;
mod oauth;
#[cfg(feature = "postgres")]
mod postgres;
mod roles;
mod rows;
mod second_factors;
mod sessions;
mod signing_keys;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod url;
mod users;
mod webhooks;

use std::time::Duration;

pub use authnz_api::{ApiKeyStore, RoleStore, SessionStore, StoreError, UserStore};
#[cfg(feature = "postgres")]
pub use bus::{LISTENER_APPLICATION_NAME, PgBus};
pub use error::SqlStoreError;
pub use sqlx;
pub use store::SqlStore;
pub use url::Dialect;

#[cfg(feature = "testing")]
pub mod testing;

/// Connection-pool and database settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlOptions {
    /// The most connections the pool opens. An in-memory SQLite database
    /// always uses exactly one (its data lives in that connection).
    pub max_connections: u32,
    /// How long an operation waits for a free connection, or for a new one to
    /// be established, before failing with [`StoreError::Unavailable`]. This
    /// is also how long a refused connection takes to be reported.
    pub acquire_timeout: Duration,
    /// How long one operation may run once it has its connection. The
    /// database enforces it per statement where it can (PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`, MySQL
    /// `max_execution_time` for reads, InnoDB lock waits), and every operation
    /// as a whole is cut after `acquire_timeout + statement_timeout` on every
    /// dialect, failing with [`StoreError::Unavailable`].
    pub statement_timeout: Duration,
    /// SQLite: how long a statement waits on a locked database (capped at
    /// `statement_timeout`).
    pub busy_timeout: Duration,
    /// SQLite: create the database file (with mode 0600) if it is missing.
    /// When false, a missing file is an error.
    pub create_if_missing: bool,
}

impl SqlOptions {
    /// The longest one store operation may take: waiting for a connection,
    /// then running.
    pub fn operation_deadline(&self) -> Duration {
        self.acquire_timeout.saturating_add(self.statement_timeout)
    }
}

/// Defaults well under the 5 s after which the original's client gives up,
/// so a frontend gets an answer (a failure) rather than a timeout when the
/// database is down or stuck.
impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(2),
            busy_timeout: Duration::from_secs(2),
            create_if_missing: true,
        }
    }
}
