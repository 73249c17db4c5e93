//! The audit log's writing side: actions record events with one call,
//! `ctx.audit(AuditEventType::X, AuditOutcome::Ok).subject(id).emit()`,
//! and a background writer appends them to the [`AuditStore`] in batches.
//!
//! **Never in the way of the request.** Recording an event puts it on a
//! bounded in-process queue without waiting ([`AuditLog::record`]); the
//! writer task drains the queue in batches of up to [`BATCH`] events, one
//! transaction each. When the queue is full (the database is slow or down
//! and the writer is behind) the event is dropped and counted
//! (`authnz_audit_events_dropped_total`, and a warning at most once a
//! minute): the request it records goes on as if the log were not there.
//! This is the deliberate trade-off: a login never fails or waits because
//! the audit log cannot keep up, at the price of losing events under such
//! an outage. A batch the store refuses is tried again ([`RETRIES`] times,
//! with growing pauses) and then dropped and counted the same way.
//!
//! **Request details.** The request id and client address come from the
//! request being served: the server runs each action inside
//! [`with_request`], and [`AuditLog::record`] reads them from there, so an
//! action never passes them along. Events recorded outside a request (an
//! automatic lock ending, the admin commands) have neither.
//!
//! **Client address.** Stored as configured ([`AddressForm`]): as given,
//! truncated to its network (IPv4 /24, IPv6 /48), or as the salted hash the
//! logs use for personal data (the PII salt; with the salt `none`, a fixed
//! salt, so `hashed` never stores the address itself).
//!
//! **Shutdown.** [`AuditLog::close`] writes everything queued before it and
//! stops the writer; the server calls it after the last request, the admin
//! commands before they exit. [`AuditLog::flush`] waits until everything
//! queued before it is written (the listing calls it, so a client reads its
//! own events on the instance that served them).
//!
//! **Feeding a webhook outbox later.** Every event passes through
//! [`AuditWriter`] in batches, each appended in one transaction; a durable
//! outbox (one row per event and subscribed endpoint, claimed by one
//! instance for delivery) can be filled in that same transaction, so an
//! event is delivered exactly when it is logged. The event type's wire name
//! ([`AuditEventType::name`]) is the delivery's `type`, and the subject
//! and actor ids are its `data`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authnz_api::{
    AUDIT_TEXT_MAX, AuditEvent, AuditEventType, AuditOutcome, AuditStore, Clock, UserId,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::sleeper::Sleeper;
use crate::warn_gate::WarnGate;

/// Most events one append writes.
pub const BATCH: usize = 256;
/// How often a refused batch is tried again before it is dropped.
pub const RETRIES: u32 = 3;
/// The metric counting events dropped (queue full, or a batch the store
/// kept refusing).
pub const DROPPED_METRIC: &str = "authnz_audit_events_dropped_total";
/// The metric counting events written.
pub const WRITTEN_METRIC: &str = "authnz_audit_events_written_total";

/// How the client address is stored (`auditaddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressForm {
    /// As the frontend sent it.
    Full,
    /// IPv4 addresses to their /24, IPv6 to their /48; anything that is not
    /// an IP address is stored hashed.
    Truncated,
    /// The salted hash the logs use for personal data.
    #[default]
    Hashed,
}

impl AddressForm {
    /// The configuration word of each form.
    pub const WORDS: [&'static str; 3] = ["full", "truncated", "hashed"];

    /// The form of a configuration word.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "full" => Some(AddressForm::Full),
            "truncated" => Some(AddressForm::Truncated),
            "hashed" => Some(AddressForm::Hashed),
            _ => None,
        }
    }
}

/// The audit log's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// How client addresses are stored.
    pub address: AddressForm,
    /// Events the queue holds before new ones are dropped (`auditqueue`).
    pub queue: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            address: AddressForm::default(),
            queue: 10_000,
        }
    }
}

/// What the server knows of the request being served.
#[derive(Debug, Clone, Default)]
pub struct RequestDetails {
    /// The request's `reqid`.
    pub request_id: Option<String>,
    /// The request's `client_ipaddr`, as sent.
    pub client_address: Option<String>,
}

impl RequestDetails {
    /// The details of a request envelope's `reqid` and `client_ipaddr`
    /// (texts as they are, other JSON values as their JSON text).
    pub fn from_envelope(reqid: Option<&Value>, client_ipaddr: Option<&Value>) -> Self {
        let text = |v: &Value| match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        Self {
            request_id: reqid.and_then(text),
            client_address: client_ipaddr.and_then(text),
        }
    }
}

tokio::task_local! {
    static REQUEST: RequestDetails;
}

/// Run `f` (an action, the login back-off) with `details` as the request
/// that events recorded inside it belong to.
pub async fn with_request<F: Future>(details: RequestDetails, f: F) -> F::Output {
    REQUEST.scope(details, f).await
}

enum Message {
    Event(AuditEvent),
    /// Reply once every event queued before is written (or dropped).
    Flush(oneshot::Sender<()>),
    /// As `Flush`, then stop.
    Close(oneshot::Sender<()>),
}

/// The recording side of the audit log, shared by every request.
#[derive(Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<Message>,
    settings: AuditSettings,
    salt: Arc<str>,
    clock: Arc<dyn Clock>,
    dropped: Arc<AtomicU64>,
    warn: Arc<WarnGate>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Event(e) => f.debug_tuple("Event").field(&e.event).finish(),
            Message::Flush(_) => f.write_str("Flush"),
            Message::Close(_) => f.write_str("Close"),
        }
    }
}

/// The ways to end an event under construction: see [`AuditLog::event`].
#[must_use = "an audit event is recorded only by .emit()"]
#[derive(Debug)]
pub struct Pending<'a> {
    log: &'a AuditLog,
    event: AuditEvent,
}

impl Pending<'_> {
    /// Who did it.
    pub fn actor(mut self, user_id: UserId) -> Self {
        self.event.actor_user_id = Some(user_id);
        self
    }

    /// Whom it concerns.
    pub fn subject(mut self, user_id: UserId) -> Self {
        self.event.subject_user_id = Some(user_id);
        self
    }

    /// Who did it and whom it concerns: the same user.
    pub fn user(self, user_id: UserId) -> Self {
        self.actor(user_id).subject(user_id)
    }

    /// Why it failed, or how it happened: a short class such as
    /// `wrong-password`, never client text.
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.event.reason = Some(reason.to_owned());
        self
    }

    /// Queue the event (never waits; see the module docs).
    pub fn emit(self) {
        self.log.record(self.event);
    }
}

impl AuditLog {
    /// A log and the writer that drains it into `store`; spawn the writer
    /// ([`AuditWriter::spawn`]) for events to be written.
    pub fn new(
        settings: AuditSettings,
        pii_salt: Arc<str>,
        clock: Arc<dyn Clock>,
        store: Arc<dyn AuditStore>,
        sleeper: Arc<dyn Sleeper>,
    ) -> (Arc<AuditLog>, AuditWriter) {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let warn = Arc::new(WarnGate::new(Duration::from_secs(60)));
        let log = Arc::new(AuditLog {
            tx,
            settings,
            salt: pii_salt,
            clock,
            dropped: dropped.clone(),
            warn: warn.clone(),
        });
        let writer = AuditWriter {
            rx,
            store,
            sleeper,
            dropped,
            warn,
            webhooks: None,
        };
        (log, writer)
    }

    /// An event of type `event` ending with `outcome`, at the clock's now,
    /// with the current request's id and client address; finish it with
    /// `.actor(..)`, `.subject(..)`, `.reason(..)` and `.emit()`.
    pub fn event(&self, event: AuditEventType, outcome: AuditOutcome) -> Pending<'_> {
        let (request_id, client_address) = REQUEST
            .try_with(|r| {
                (
                    r.request_id.as_deref().map(clip),
                    r.client_address.as_deref().map(|a| self.address(a)),
                )
            })
            .unwrap_or_default();
        Pending {
            log: self,
            event: AuditEvent {
                time: self.clock.now(),
                event,
                outcome,
                actor_user_id: None,
                subject_user_id: None,
                client_address,
                request_id,
                reason: None,
            },
        }
    }

    /// Queue `event` without waiting; dropped and counted if the queue is
    /// full or the writer has stopped.
    pub fn record(&self, event: AuditEvent) {
        if let Err(e) = self.tx.try_send(Message::Event(event)) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the audit queue is full",
                mpsc::error::TrySendError::Closed(_) => "the audit writer has stopped",
            };
            note_dropped(&self.dropped, &self.warn, 1, why);
        }
    }

    /// Events dropped so far (queue full, writer stopped, batch refused).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Wait until every event queued before this call is written (or
    /// dropped), at most `limit`. True if it was.
    pub async fn flush(&self, limit: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let asked =
            async { self.tx.send(Message::Flush(done)).await.is_ok() && wait.await.is_ok() };
        tokio::time::timeout(limit, asked).await.unwrap_or(false)
    }

    /// Write every event queued before this call, then stop the writer;
    /// events recorded afterwards are dropped (and counted). Waits at most
    /// `limit`. True if everything queued was written.
    pub async fn close(&self, limit: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let asked =
            async { self.tx.send(Message::Close(done)).await.is_ok() && wait.await.is_ok() };
        tokio::time::timeout(limit, asked).await.unwrap_or(false)
    }

    /// `address` in the configured form, at most [`AUDIT_TEXT_MAX`]
    /// characters.
    pub fn address(&self, address: &str) -> String {
        match self.settings.address {
            AddressForm::Full => clip(address),
            AddressForm::Truncated => match address.trim().parse::<IpAddr>() {
                Ok(ip) => truncate_ip(ip),
                Err(_) => self.hashed(address),
            },
            AddressForm::Hashed => self.hashed(address),
        }
    }

    fn hashed(&self, address: &str) -> String {
        let salt: &str = if &*self.salt == crate::validate::pii::PII_SALT_NONE {
            "authnz-audit-address"
        } else {
            &self.salt
        };
        crate::validate::pii::pii_hash(address, salt)
    }
}

fn note_dropped(dropped: &AtomicU64, warn: &WarnGate, n: u64, why: &str) {
    let total = dropped.fetch_add(n, Ordering::Relaxed) + n;
    metrics::counter!(DROPPED_METRIC).increment(n);
    if warn.ready() {
        tracing::warn!(
            dropped_total = total,
            "{why}: audit events dropped (the requests they record went on)"
        );
    }
}

/// `text` cut to [`AUDIT_TEXT_MAX`] characters.
fn clip(text: &str) -> String {
    text.chars().take(AUDIT_TEXT_MAX).collect()
}

/// An IPv4 address to its /24, an IPv6 address to its /48 (an IPv4-mapped
/// IPv6 address as the IPv4 address).
pub fn truncate_ip(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            std::net::Ipv4Addr::new(a, b, c, 0).to_string()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
        }
    }
}

/// The background writer: drains the queue into the store.
#[derive(Debug)]
pub struct AuditWriter {
    rx: mpsc::Receiver<Message>,
    store: Arc<dyn AuditStore>,
    sleeper: Arc<dyn Sleeper>,
    dropped: Arc<AtomicU64>,
    warn: Arc<WarnGate>,
    webhooks: Option<Arc<crate::webhooks::Webhooks>>,
}

impl AuditWriter {
    /// Queue each event's webhook deliveries in the outbox, in the
    /// transaction that appends the events (see [`crate::webhooks`]).
    pub fn with_webhooks(mut self, webhooks: Arc<crate::webhooks::Webhooks>) -> Self {
        self.webhooks = Some(webhooks).filter(|w| !w.endpoints.is_empty());
        self
    }

    /// Run the writer on the current runtime until [`AuditLog::close`] (or
    /// until every [`AuditLog`] is gone).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let mut messages = Vec::with_capacity(BATCH);
        let mut events = Vec::with_capacity(BATCH);
        loop {
            if self.rx.recv_many(&mut messages, BATCH).await == 0 {
                return;
            }
            for message in messages.drain(..) {
                match message {
                    Message::Event(e) => events.push(e),
                    Message::Flush(done) => {
                        self.write(&mut events).await;
                        let _ = done.send(());
                    }
                    Message::Close(done) => {
                        self.write(&mut events).await;
                        self.rx.close();
                        // What was queued before the queue closed.
                        while let Some(m) = self.rx.recv().await {
                            match m {
                                Message::Event(e) => {
                                    events.push(e);
                                    if events.len() >= BATCH {
                                        self.write(&mut events).await;
                                    }
                                }
                                Message::Flush(d) | Message::Close(d) => {
                                    self.write(&mut events).await;
                                    let _ = d.send(());
                                }
                            }
                        }
                        self.write(&mut events).await;
                        let _ = done.send(());
                        return;
                    }
                }
            }
            self.write(&mut events).await;
        }
    }

    /// Append `events` (then empty it), trying again [`RETRIES`] times.
    async fn write(&self, events: &mut Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        let deliveries = self
            .webhooks
            .as_ref()
            .map(|w| w.deliveries(events))
            .unwrap_or_default();
        let mut pause = Duration::from_millis(200);
        for attempt in 0..=RETRIES {
            match self
                .store
                .append_audit_events_with_deliveries(events, &deliveries)
                .await
            {
                Ok(()) => {
                    metrics::counter!(WRITTEN_METRIC).increment(events.len() as u64);
                    events.clear();
                    return;
                }
                Err(e) if attempt < RETRIES => {
                    if self.warn.ready() {
                        tracing::warn!(error = %e, "cannot write audit events; trying again");
                    }
                    self.sleeper.sleep(pause).await;
                    pause *= 4;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "audit batch refused");
                }
            }
        }
        note_dropped(
            &self.dropped,
            &self.warn,
            events.len() as u64,
            "the audit store kept refusing a batch",
        );
        events.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_truncate_to_their_network() {
        let t = |s: &str| truncate_ip(s.parse().unwrap());
        assert_eq!(t("203.0.113.77"), "203.0.113.0");
        assert_eq!(t("2001:db8:1:2:3:4:5:6"), "2001:db8:1::");
        assert_eq!(t("::ffff:198.51.100.9"), "198.51.100.0");
    }

    /// Keeps appended events; refuses while `refuse` is set; can be made
    /// to block appends until released.
    #[derive(Debug, Default)]
    struct Fake {
        events: std::sync::Mutex<Vec<AuditEvent>>,
        refuse: std::sync::atomic::AtomicBool,
        gate: tokio::sync::RwLock<()>,
    }

    #[async_trait::async_trait]
    impl AuditStore for Fake {
        async fn append_audit_events(
            &self,
            events: &[AuditEvent],
        ) -> Result<(), authnz_api::StoreError> {
            let _open = self.gate.read().await;
            if self.refuse.load(Ordering::Relaxed) {
                return Err(authnz_api::StoreError::backend("refused"));
            }
            self.events.lock().unwrap().extend_from_slice(events);
            Ok(())
        }
        async fn audit_events(
            &self,
            _: &authnz_api::AuditQuery,
        ) -> Result<Vec<authnz_api::AuditRecord>, authnz_api::StoreError> {
            Ok(Vec::new())
        }
        async fn delete_audit_events_before(
            &self,
            _: chrono::NaiveDateTime,
        ) -> Result<u64, authnz_api::StoreError> {
            Ok(0)
        }
    }

    fn log(store: Arc<Fake>, queue: usize, address: AddressForm) -> (Arc<AuditLog>, AuditWriter) {
        AuditLog::new(
            AuditSettings { address, queue },
            "salt".into(),
            Arc::new(authnz_api::SystemClock),
            store,
            Arc::new(crate::sleeper::ManualSleeper::new()),
        )
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn events_carry_the_request_and_are_written_in_order() {
        let store = Arc::new(Fake::default());
        let (log, writer) = log(store.clone(), 100, AddressForm::Truncated);
        writer.spawn();
        let details = RequestDetails::from_envelope(
            Some(&Value::from(42)),
            Some(&Value::from("203.0.113.77")),
        );
        with_request(details, async {
            log.event(AuditEventType::LoginFailed, AuditOutcome::Failed)
                .subject(5)
                .reason("wrong-password")
                .emit();
        })
        .await;
        log.event(AuditEventType::UserUnlocked, AuditOutcome::Ok)
            .subject(5)
            .emit();
        assert!(log.flush(LONG).await);
        let events = store.events.lock().unwrap().clone();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].request_id.as_deref(), Some("42"));
        assert_eq!(events[0].client_address.as_deref(), Some("203.0.113.0"));
        assert_eq!(events[0].reason.as_deref(), Some("wrong-password"));
        assert_eq!(events[1].event, AuditEventType::UserUnlocked);
        assert_eq!(
            (
                events[1].request_id.as_deref(),
                events[1].client_address.as_deref()
            ),
            (None, None)
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let store = Arc::new(Fake::default());
        let (log, writer) = log(store.clone(), 2, AddressForm::Hashed);
        // The writer is not running: nothing drains the queue.
        for _ in 0..5 {
            log.event(AuditEventType::Logout, AuditOutcome::Ok).emit();
        }
        assert_eq!(log.dropped(), 3);
        writer.spawn();
        assert!(log.close(LONG).await);
        assert_eq!(store.events.lock().unwrap().len(), 2);
        // After close: dropped, counted.
        log.event(AuditEventType::Logout, AuditOutcome::Ok).emit();
        assert_eq!(log.dropped(), 4);
    }

    #[tokio::test]
    async fn close_writes_what_was_queued_behind_a_slow_store() {
        let store = Arc::new(Fake::default());
        let (log, writer) = log(store.clone(), 1000, AddressForm::Full);
        let blocked = store.gate.write().await;
        writer.spawn();
        for _ in 0..600 {
            log.event(AuditEventType::LoginSucceeded, AuditOutcome::Ok)
                .emit();
        }
        let closing = {
            let log = log.clone();
            tokio::spawn(async move { log.close(LONG).await })
        };
        drop(blocked);
        assert!(closing.await.unwrap());
        assert_eq!(store.events.lock().unwrap().len(), 600);
        assert_eq!(log.dropped(), 0);
    }

    #[tokio::test]
    async fn a_refused_batch_is_retried_then_dropped_and_counted() {
        let store = Arc::new(Fake::default());
        store.refuse.store(true, Ordering::Relaxed);
        let (log, writer) = log(store.clone(), 100, AddressForm::Hashed);
        writer.spawn();
        log.event(AuditEventType::Logout, AuditOutcome::Ok).emit();
        assert!(log.flush(LONG).await);
        assert_eq!(log.dropped(), 1);
        store.refuse.store(false, Ordering::Relaxed);
        log.event(AuditEventType::Logout, AuditOutcome::Ok).emit();
        assert!(log.flush(LONG).await);
        assert_eq!(store.events.lock().unwrap().len(), 1);
    }

    #[test]
    fn hashed_addresses_never_store_the_address() {
        let (log, _w) = AuditLog::new(
            AuditSettings {
                address: AddressForm::Hashed,
                queue: 1,
            },
            crate::validate::pii::PII_SALT_NONE.into(),
            Arc::new(authnz_api::SystemClock),
            Arc::new(Fake::default()),
            Arc::new(crate::sleeper::ManualSleeper::new()),
        );
        let stored = log.address("203.0.113.77");
        assert_ne!(stored, "203.0.113.77");
        assert_eq!(stored.len(), 24);
    }

    #[test]
    fn forms_read_from_their_words() {
        for w in AddressForm::WORDS {
            assert!(AddressForm::from_word(w).is_some(), "{w}");
        }
        assert_eq!(AddressForm::from_word("clear"), None);
    }
}
