//! [`InvalidationBus`] on PostgreSQL `LISTEN`/`NOTIFY`: `pg_notify` on the
//! store's pool, `LISTEN` on a connection of its own per
//! [`InvalidationBus::listen`] call (sqlx's [`PgListener`]).
//!
//! PostgreSQL delivers a notification to every session listening on its
//! channel in the same database, once the notifying transaction commits,
//! and notifications of different transactions in commit order. A
//! `pg_notify` outside a transaction commits at once, so the messages one
//! listener gets are in the order the bus accepted them, which is what the
//! trait promises. Like Redis pub/sub, nothing is kept for a session that is
//! not listening: [`InvalidationBus::listen`] returns when its connection
//! ends (and never reconnects by itself), so the caller knows messages may
//! have been lost.

use std::time::Duration;

use async_trait::async_trait;
use authnz_api::{BusEvent, InvalidationBus, StoreError};
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::error::SqlStoreError;

/// The `application_name` of the listening connections, so that they can
/// be told apart in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "authnz-bus";

/// Invalidation messages over one PostgreSQL notification channel of the
/// auth database. Every process listening on the same channel of the same
/// database receives every message. Cheap to clone.
#[derive(Clone)]
pub struct PgBus {
    pool: PgPool,
    channel: String,
    /// The longest a publish, or setting up a subscription, may take.
    deadline: Duration,
}

impl std::fmt::Debug for PgBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBus")
            .field("channel", &self.channel)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl PgBus {
    pub(crate) fn new(pool: PgPool, channel: String, deadline: Duration) -> Self {
        Self {
            pool,
            channel,
            deadline,
        }
    }

    /// The notification channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// A pool of one connection, made like the store's but named
    /// [`LISTENER_APPLICATION_NAME`], for one subscription: a connection
    /// that broke is never handed to the next subscription.
    async fn listener(&self) -> Result<PgListener, SqlStoreError> {
        let options = (*self.pool.connect_options())
            .clone()
            .application_name(LISTENER_APPLICATION_NAME);
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own).await?;
        // A lost connection ends the subscription (the caller subscribes
        // again), rather than being replaced silently.
        listener.eager_reconnect(false);
        listener.listen(&self.channel).await?;
        Ok(listener)
    }
}

fn lost(what: &str) -> StoreError {
    SqlStoreError::Sqlx(sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        what.to_owned(),
    )))
    .into()
}

#[async_trait]
impl InvalidationBus for PgBus {
    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        // A notification needs no durability (a listener that loses its
        // connection, a crash included, assumes messages were lost), so
        // its commit does not wait for a WAL flush: one less disk wait on
        // every write and every heartbeat. Delivery still happens at
        // commit, in commit order.
        let send =
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
                .bind(&self.channel)
                .bind(message)
                .execute(&self.pool);
        match tokio::time::timeout(self.deadline, send).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SqlStoreError::from(e).into()),
            Err(_) => Err(SqlStoreError::TimedOut(self.deadline).into()),
        }
    }

    async fn listen(&self, events: &(dyn for<'m> Fn(BusEvent<'m>) + Send + Sync)) -> StoreError {
        let mut listener = match tokio::time::timeout(self.deadline, self.listener()).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return e.into(),
            Err(_) => return SqlStoreError::TimedOut(self.deadline).into(),
        };
        events(BusEvent::Subscribed);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => events(BusEvent::Message(n.payload())),
                Ok(None) => return lost("the LISTEN connection ended"),
                Err(e) => return SqlStoreError::from(e).into(),
            }
        }
    }
}
