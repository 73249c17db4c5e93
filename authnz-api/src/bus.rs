//! Invalidation messages between server processes: the [`InvalidationBus`]
//! trait. Several instances that cache what a shared store holds tell each
//! other, through it, that something changed; each then drops what it
//! cached. The server decides what a message means and when its cache may be
//! trusted; an implementation only carries short text messages to every
//! subscriber, in one order (e.g. Redis pub/sub in `authnz-store-redis`).
//!
//! Messages are opaque text chosen by the caller. They must never hold a
//! session token, API key, password or e-mail address: a bus is readable by
//! anything that can subscribe.

use async_trait::async_trait;

use crate::error::StoreError;

/// What a subscription reports to its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusEvent<'a> {
    /// The subscription is in place: every message published from now on
    /// reaches this listener (until the subscription breaks).
    Subscribed,
    /// One message, in the order the bus accepted them.
    Message(&'a str),
}

/// A broadcast channel shared by every process on one backing service.
#[async_trait]
pub trait InvalidationBus: Send + Sync + std::fmt::Debug + 'static {
    /// Send `message` to every current subscriber, this process's own
    /// included. `Ok` once the bus has accepted it; a message accepted
    /// after another reaches each subscriber after it.
    ///
    /// Errors: [`StoreError::Unavailable`] when the service cannot be
    /// reached within the implementation's deadline.
    async fn publish(&self, message: &str) -> Result<(), StoreError>;

    /// Subscribe on a connection of its own and run until the subscription
    /// breaks: `events` gets [`BusEvent::Subscribed`] once, when the
    /// subscription is in place, then [`BusEvent::Message`] for each
    /// message. Returns only when the subscription has ended (lost
    /// connection, failed subscribe), with the error saying why; the caller
    /// must assume messages were lost and subscribe again.
    async fn listen(&self, events: &(dyn for<'m> Fn(BusEvent<'m>) + Send + Sync)) -> StoreError;
}
