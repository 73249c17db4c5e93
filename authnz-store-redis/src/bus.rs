//! [`InvalidationBus`] on Redis pub/sub: `PUBLISH` on the shared connection,
//! `SUBSCRIBE` on a dedicated one per [`InvalidationBus::listen`] call.

use async_trait::async_trait;
use authnz_api::{BusEvent, InvalidationBus, StoreError};
use futures_util::StreamExt as _;

use crate::backend::{RedisBackend, bounded};
use crate::error::RedisStoreError;

/// Invalidation messages over one Redis pub/sub channel. Every process
/// subscribed to the same channel of the same Redis server receives every
/// message, in the order Redis ran the `PUBLISH` commands. Pub/sub is
/// fire-and-forget: a subscriber that is disconnected misses what was
/// published meanwhile, which is why [`InvalidationBus::listen`] returns
/// when its connection ends. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    backend: RedisBackend,
    channel: String,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    pub(crate) fn new(backend: RedisBackend, channel: String) -> Self {
        Self { backend, channel }
    }

    /// The pub/sub channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

#[async_trait]
impl InvalidationBus for RedisBus {
    async fn publish(&self, message: &str) -> Result<(), StoreError> {
        let mut c = self.backend.conn.clone();
        let _receivers: i64 = self
            .backend
            .run(
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(message)
                    .query_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn listen(&self, events: &(dyn for<'m> Fn(BusEvent<'m>) + Send + Sync)) -> StoreError {
        let deadline = self.backend.deadline;
        let mut pubsub = match bounded(deadline, self.backend.client.get_async_pubsub()).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        if let Err(e) = bounded(deadline, pubsub.subscribe(&self.channel)).await {
            return e;
        }
        events(BusEvent::Subscribed);
        let mut stream = pubsub.into_on_message();
        while let Some(msg) = stream.next().await {
            // Messages this crate's users publish are text; anything else
            // on the channel is not theirs and is skipped.
            if let Ok(text) = std::str::from_utf8(msg.get_payload_bytes()) {
                events(BusEvent::Message(text));
            }
        }
        RedisStoreError::Redis(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "the subscription connection ended",
        )))
        .into()
    }
}
