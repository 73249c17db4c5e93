//! The webhook outbox (not upstream): one row per audit event and
//! subscribed endpoint, written in the transaction that appends the event
//! ([`AuditStore::append_audit_events_with_deliveries`](crate::AuditStore::append_audit_events_with_deliveries)),
//! so an event is never logged without its deliveries and a restart loses
//! none. Delivery workers claim due rows ([`WebhookStore::claim_deliveries`]);
//! a claim is a lease (`claimed_until`), so with several instances each row
//! is worked on by one of them at a time, and a row whose worker died is
//! claimed again once its lease ends. Delivered rows are deleted; failed
//! ones wait for their next attempt, or are parked after too many.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;

/// Longest endpoint URL the outbox keeps (in characters).
pub const WEBHOOK_URL_MAX: usize = 2048;
/// Longest `last_error` the outbox keeps (in characters); the caller
/// shortens longer texts.
pub const WEBHOOK_ERROR_MAX: usize = 256;

/// One delivery to queue with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The endpoint's URL (what the delivery worker looks the endpoint's
    /// secret up by).
    pub endpoint: String,
    /// The event type's wire name.
    pub event_type: String,
    /// The JSON body to POST.
    pub body: String,
    /// When it was queued; its first attempt is due then.
    pub created: NaiveDateTime,
}

/// One queued delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub endpoint: String,
    pub event_type: String,
    pub body: String,
    pub created: NaiveDateTime,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt: NaiveDateTime,
    /// Given up on after too many failures, until retried by hand.
    pub parked: bool,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The outbox's delivery side: the `webhook_outbox` table.
#[async_trait]
pub trait WebhookStore: Send + Sync + std::fmt::Debug + 'static {
    /// Claim up to `limit` due deliveries (not parked, `next_attempt <=
    /// now`, unclaimed or with a lease ended before `now`) until `until`,
    /// oldest due first. A row is claimed by one caller only: a concurrent
    /// claim of the same row by another instance gets nothing for it.
    async fn claim_deliveries(
        &self,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Delivery `id` succeeded: delete it. False if it is gone.
    async fn delivery_done(&self, id: i64) -> Result<bool, StoreError>;

    /// An attempt at delivery `id` failed: count it, keep `error`, release
    /// the claim, and either schedule the next attempt (`next_attempt`) or
    /// park it (`None`). False if it is gone.
    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: Option<NaiveDateTime>,
    ) -> Result<bool, StoreError>;

    /// Queued deliveries (only parked ones with `parked_only`), oldest
    /// first, at most `limit`.
    async fn deliveries(&self, parked_only: bool, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Un-park delivery `id` (every parked one with `None`): attempts back
    /// to zero, due at `now`. Returns how many were un-parked.
    async fn retry_parked(&self, id: Option<i64>, now: NaiveDateTime) -> Result<u64, StoreError>;
}
