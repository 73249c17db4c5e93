//! Keeps the session cache ([`crate::session_cache`]) of several instances
//! coherent: every write that bumps one instance's cache epoch is announced
//! on a shared [`InvalidationBus`] (Redis pub/sub when Redis is configured,
//! else PostgreSQL `LISTEN`/`NOTIFY` on the auth database; see
//! `app::context_parts`), and every instance bumps
//! its own epoch on every announcement it receives. Whole-cache
//! invalidation: a message says "something changed", never what (so it
//! carries no token or user data).
//!
//! The cache is *served from* only while this instance knows its
//! subscription works ([`Coherence::serving`]); otherwise every lookup goes
//! to the store. Known to work means:
//!
//! - subscribed, and its own heartbeat came back: every
//!   [`CoherenceSettings::ping_interval`] the instance publishes a ping
//!   (`p <instance> <seq>`) on the channel and notes when it receives its
//!   own. Redis delivers a subscriber's messages in the order it ran the
//!   `PUBLISH` commands, PostgreSQL in the order the `pg_notify` calls
//!   committed, so an instance that has just received its own ping has
//!   received every invalidation published before that ping;
//! - no own ping for [`CoherenceSettings::silence_limit`] (a silent break,
//!   a stalled Redis): off until the next own ping; after
//!   [`CoherenceSettings::resubscribe_after`] the subscription is dropped
//!   and made again;
//! - the subscription ends (Redis down, connection lost): off at once,
//!   subscribed again with a back-off; on again at the first own ping after
//!   that;
//! - publishing an invalidation fails even after
//!   [`CoherenceSettings::publish_attempts`] tries: off until a ping
//!   published after the failure comes back (publishing works again).
//!
//! Every switch on bumps the epoch, so nothing read while the cache was off
//! (when messages may have been missed) is ever served. What remains is the
//! delivery time of one message while all is well (sub-millisecond on one
//! host), at most `silence_limit` plus a watchdog tick for a silent break,
//! and one case no subscriber can detect: an instance that cannot reach the
//! bus while the others can (its write's message is lost, theirs are fine).
//! For that the cache has a maximum entry age
//! ([`CoherenceSettings::max_age`]): no entry is served longer than that
//! after it was read. docs/OPERATIONS.md states the bounds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authnz_api::{BusEvent, InvalidationBus};

/// Timings of the coherence protocol (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoherenceSettings {
    /// How often this instance publishes its heartbeat ping.
    pub ping_interval: Duration,
    /// The cache is off when no own ping came back for this long.
    pub silence_limit: Duration,
    /// The subscription is dropped and made again after this long without
    /// an own ping.
    pub resubscribe_after: Duration,
    /// Tries to publish one invalidation before the cache turns itself off.
    pub publish_attempts: u32,
    /// Longest one publish may take.
    pub publish_timeout: Duration,
    /// No cached entry is served longer than this after it was read.
    pub max_age: Duration,
}

impl Default for CoherenceSettings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_millis(100),
            silence_limit: Duration::from_millis(250),
            resubscribe_after: Duration::from_secs(2),
            publish_attempts: 3,
            publish_timeout: Duration::from_secs(1),
            max_age: Duration::from_secs(2),
        }
    }
}

#[derive(Debug)]
struct State {
    /// A subscription is in place.
    subscribed: bool,
    /// The sequence number of the last ping this instance published.
    sent: u64,
    /// Only own pings with a larger number count as proof of health.
    floor: u64,
    /// When the last valid own ping came back (or the subscription was
    /// made, before the first one).
    last_ping: Instant,
}

/// The coherence state of one instance's cache: the shared epoch, whether
/// the cache may be served from, and the bus.
#[derive(Debug)]
pub struct Coherence {
    bus: Arc<dyn InvalidationBus>,
    settings: CoherenceSettings,
    /// Random, per process: tells own pings from the others'.
    instance: String,
    epoch: Arc<AtomicU64>,
    open: AtomicBool,
    state: Mutex<State>,
    received: AtomicU64,
}

/// Aborts the coherence tasks when dropped.
#[derive(Debug)]
pub struct CoherenceTasks(Vec<tokio::task::JoinHandle<()>>);

impl CoherenceTasks {
    /// Stop `task` with the others.
    pub fn add(&mut self, task: tokio::task::JoinHandle<()>) {
        self.0.push(task);
    }
}

impl Drop for CoherenceTasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Coherence {
    /// A closed (not yet serving) coherence state on `bus`; start it with
    /// [`Coherence::spawn`].
    pub fn new(bus: Arc<dyn InvalidationBus>, settings: CoherenceSettings) -> Self {
        let mut id = [0u8; 8];
        // A clash only makes two instances take each other's pings as
        // their own, which keeps a cache on that should be off: use the OS
        // generator, and fall back to the time and pid if it fails.
        if getrandom::fill(&mut id).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            id = (t ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
        }
        Self {
            bus,
            settings,
            instance: id.iter().map(|b| format!("{b:02x}")).collect(),
            epoch: Arc::new(AtomicU64::new(0)),
            open: AtomicBool::new(false),
            state: Mutex::new(State {
                subscribed: false,
                sent: 0,
                floor: 0,
                last_ping: Instant::now(),
            }),
            received: AtomicU64::new(0),
        }
    }

    /// The cache epoch this state bumps (shared with the cache).
    pub(crate) fn epoch(&self) -> Arc<AtomicU64> {
        self.epoch.clone()
    }

    /// The settings.
    pub fn settings(&self) -> &CoherenceSettings {
        &self.settings
    }

    /// True while the cache may be served from.
    pub fn serving(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Messages received so far (pings included).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn close(&self, why: &'static str) {
        if self.open.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                reason = why,
                "session cache off until the invalidation bus is healthy"
            );
        }
        self.bump();
    }

    fn on_event(&self, event: BusEvent<'_>) {
        match event {
            BusEvent::Subscribed => {
                let mut st = self.lock();
                st.subscribed = true;
                st.floor = st.sent;
                st.last_ping = Instant::now();
                drop(st);
                self.bump();
            }
            BusEvent::Message(m) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                let mut parts = m.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("p"), Some(id), Some(seq)) if id == self.instance => {
                        let Ok(seq) = seq.parse::<u64>() else { return };
                        let mut st = self.lock();
                        if !st.subscribed || seq <= st.floor {
                            return;
                        }
                        st.last_ping = Instant::now();
                        if !self.open.load(Ordering::Acquire) {
                            // Bump before opening: nothing read while off
                            // is served.
                            self.bump();
                            self.open.store(true, Ordering::Release);
                            tracing::info!("session cache on: invalidation bus healthy");
                        }
                    }
                    (Some("p"), _, _) => {}
                    // An invalidation (ours or another instance's), or
                    // anything unknown: drop everything.
                    _ => self.bump(),
                }
            }
        }
    }

    /// Announce a write (after bumping the local epoch): publish, retrying
    /// briefly; if it cannot be published, the cache turns itself off until
    /// a later ping proves publishing works again.
    pub async fn publish_invalidation(&self) {
        let message = format!("i {}", self.instance);
        let attempts = if self.serving() {
            self.settings.publish_attempts.max(1)
        } else {
            1
        };
        for n in 0..attempts {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Ok(Ok(())) =
                tokio::time::timeout(self.settings.publish_timeout, self.bus.publish(&message))
                    .await
            {
                return;
            }
        }
        {
            let mut st = self.lock();
            st.floor = st.sent;
        }
        self.close("cannot publish an invalidation");
    }

    /// Start the subscriber (with its watchdog) and the heartbeat; they
    /// run until the returned guard is dropped.
    pub fn spawn(self: &Arc<Self>) -> CoherenceTasks {
        let listen = tokio::spawn(self.clone().listen_loop());
        let ping = tokio::spawn(self.clone().ping_loop());
        CoherenceTasks(vec![listen, ping])
    }

    async fn listen_loop(self: Arc<Self>) {
        const MIN_DELAY: Duration = Duration::from_millis(50);
        const MAX_DELAY: Duration = Duration::from_secs(1);
        let mut delay = MIN_DELAY;
        let mut reported = false;
        loop {
            let started = Instant::now();
            let on_event = |e: BusEvent<'_>| self.on_event(e);
            let why = tokio::select! {
                e = self.bus.listen(&on_event) => format!("subscription ended: {e}"),
                () = self.watch() => "no heartbeat came back: subscribing again".to_owned(),
            };
            self.lock().subscribed = false;
            self.close("invalidation bus subscription lost");
            if started.elapsed() > Duration::from_secs(5) {
                delay = MIN_DELAY;
                reported = false;
            }
            if !reported {
                tracing::warn!(error = %why, "session cache invalidation bus");
                reported = true;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }

    /// Returns when the subscription has been silent for
    /// `resubscribe_after`; turns the cache off after `silence_limit`.
    async fn watch(&self) {
        let tick = (self.settings.ping_interval / 2).max(Duration::from_millis(5));
        loop {
            tokio::time::sleep(tick).await;
            let st = self.lock();
            if !st.subscribed {
                continue;
            }
            let silent = st.last_ping.elapsed();
            drop(st);
            if silent > self.settings.resubscribe_after {
                return;
            }
            if silent > self.settings.silence_limit && self.serving() {
                self.close("no heartbeat from the invalidation bus");
            }
        }
    }

    async fn ping_loop(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.settings.ping_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let seq = {
                let mut st = self.lock();
                st.sent += 1;
                st.sent
            };
            let ping = format!("p {} {seq}", self.instance);
            // A failed ping needs no handling: its absence is the signal.
            let _ =
                tokio::time::timeout(self.settings.publish_timeout, self.bus.publish(&ping)).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The coherence state machine on an in-memory bus whose faults the
    //! test controls: messages delivered or silently dropped, publishing
    //! working or failing, the subscription ended on demand.

    use std::sync::atomic::AtomicBool;

    use authnz_api::StoreError;
    use tokio::sync::{Notify, broadcast};

    use super::*;

    #[derive(Debug)]
    struct FakeBus {
        tx: broadcast::Sender<String>,
        /// Subscribers see messages (false: a silent break).
        deliver: AtomicBool,
        /// `publish` succeeds.
        publish_ok: AtomicBool,
        /// Subscribers queue what they receive instead of handling it
        /// (messages delayed in flight).
        hold: AtomicBool,
        /// Wakes subscribers to hand over what they queued.
        release: Notify,
        /// Ends every current subscription.
        kill: Notify,
    }

    impl FakeBus {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                tx: broadcast::channel(1024).0,
                deliver: AtomicBool::new(true),
                publish_ok: AtomicBool::new(true),
                hold: AtomicBool::new(false),
                release: Notify::new(),
                kill: Notify::new(),
            })
        }
    }

    fn unavailable() -> StoreError {
        StoreError::Unavailable {
            source: "fake bus down".into(),
        }
    }

    #[async_trait::async_trait]
    impl InvalidationBus for FakeBus {
        async fn publish(&self, message: &str) -> Result<(), StoreError> {
            if !self.publish_ok.load(Ordering::SeqCst) {
                return Err(unavailable());
            }
            let _ = self.tx.send(message.to_owned());
            Ok(())
        }

        async fn listen(
            &self,
            events: &(dyn for<'m> Fn(BusEvent<'m>) + Send + Sync),
        ) -> StoreError {
            let mut rx = self.tx.subscribe();
            let mut held: Vec<String> = Vec::new();
            events(BusEvent::Subscribed);
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Ok(m) if self.hold.load(Ordering::SeqCst) => held.push(m),
                        Ok(m) if self.deliver.load(Ordering::SeqCst) => events(BusEvent::Message(&m)),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return unavailable(),
                    },
                    () = self.release.notified() => {
                        for m in held.drain(..) {
                            events(BusEvent::Message(&m));
                        }
                    }
                    () = self.kill.notified() => return unavailable(),
                }
            }
        }
    }

    fn fast() -> CoherenceSettings {
        CoherenceSettings {
            ping_interval: Duration::from_millis(10),
            silence_limit: Duration::from_millis(40),
            resubscribe_after: Duration::from_millis(300),
            publish_attempts: 2,
            publish_timeout: Duration::from_millis(200),
            max_age: Duration::from_secs(60),
        }
    }

    /// Wait (bounded) until `cond` holds; panics with `what` otherwise.
    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(Instant::now() < deadline, "never happened: {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn epoch(c: &Coherence) -> u64 {
        c.epoch().load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn serves_only_after_its_own_ping_returns() {
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), fast()));
        assert!(!c.serving(), "closed before it is started");
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
    }

    #[tokio::test]
    async fn another_instances_invalidation_bumps_the_epoch() {
        let bus = FakeBus::new();
        let a = Arc::new(Coherence::new(bus.clone(), fast()));
        let b = Arc::new(Coherence::new(bus.clone(), fast()));
        let (_ta, _tb) = (a.spawn(), b.spawn());
        eventually("b on", || b.serving()).await;
        let before = epoch(&b);
        a.publish_invalidation().await;
        eventually("b's epoch moved", || epoch(&b) > before).await;
        assert!(
            b.serving(),
            "an invalidation empties the cache, it does not close it"
        );
    }

    #[tokio::test]
    async fn a_silent_break_turns_the_cache_off_and_recovery_bumps_the_epoch() {
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), fast()));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        bus.deliver.store(false, Ordering::SeqCst);
        eventually("cache off after silence", || !c.serving()).await;
        let off_epoch = epoch(&c);
        bus.deliver.store(true, Ordering::SeqCst);
        eventually("cache on again", || c.serving()).await;
        assert!(
            epoch(&c) > off_epoch,
            "switching on must empty what was read while off"
        );
    }

    #[tokio::test]
    async fn a_failed_publish_closes_until_publishing_works_again() {
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), fast()));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        bus.publish_ok.store(false, Ordering::SeqCst);
        c.publish_invalidation().await;
        assert!(
            !c.serving(),
            "a lost invalidation must close the cache at once"
        );
        // Pings published before the failure may still arrive; they must
        // not reopen it while publishing fails.
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!c.serving(), "reopened while publishing still fails");
        bus.publish_ok.store(true, Ordering::SeqCst);
        eventually("cache on once pings get through", || c.serving()).await;
    }

    #[tokio::test]
    async fn pings_sent_before_a_failed_publish_do_not_reopen_the_cache() {
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), fast()));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        // Pings published now are held in flight ...
        bus.hold.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(25)).await;
        // ... then an invalidation cannot be published ...
        bus.publish_ok.store(false, Ordering::SeqCst);
        c.publish_invalidation().await;
        assert!(!c.serving());
        // ... and the held pings, older than the failure, arrive: they
        // prove nothing about the lost invalidation.
        bus.hold.store(false, Ordering::SeqCst);
        bus.release.notify_waiters();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !c.serving(),
            "a ping older than the failed publish reopened the cache"
        );
        bus.publish_ok.store(true, Ordering::SeqCst);
        eventually("cache on once new pings get through", || c.serving()).await;
    }

    #[tokio::test]
    async fn a_lost_subscription_closes_at_once_and_resubscribes() {
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), fast()));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        let before = epoch(&c);
        bus.kill.notify_waiters();
        eventually("cache off", || !c.serving()).await;
        assert!(epoch(&c) > before);
        eventually("cache on after resubscribing", || c.serving()).await;
    }

    /// A cache over SQLite kept by `c` (max age 300 ms), with one session.
    async fn cache_with_session(
        c: Arc<Coherence>,
    ) -> (
        Arc<crate::session_cache::CachedStore>,
        Arc<authnz_store_sql::SqlStore>,
        String,
        authnz_api::UserId,
    ) {
        use authnz_api::SessionStore as _;
        use authnz_api::testkit::fixtures::{at, create, seed, session, t0};
        let store = Arc::new(
            authnz_store_sql::SqlStore::connect("sqlite::memory:", &Default::default())
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let stores = authnz_api::testkit::Stores::from_store(store.clone());
        seed(&stores).await;
        let uid = create(&stores, "hot", t0()).await;
        let s = session("hot", uid, t0(), at(3600));
        store.create_session(&s).await.unwrap();
        let cache = Arc::new(
            crate::session_cache::CachedStore::new(store.clone(), store.clone(), 1 << 20)
                .with_coherence(c),
        );
        (cache, store, s.session_token, uid)
    }

    fn with_max_age(ms: u64) -> CoherenceSettings {
        CoherenceSettings {
            max_age: Duration::from_millis(ms),
            ..fast()
        }
    }

    /// A session looked up all the time is read again in the background
    /// before it reaches the maximum age: after the first miss every
    /// lookup is a hit, over several maximum ages.
    #[tokio::test]
    async fn hot_entries_are_refreshed_before_they_age_out() {
        use authnz_api::SessionStore as _;
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), with_max_age(300)));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        let (cache, _store, token, _) = cache_with_session(c.clone()).await;
        let _refresher = cache.spawn_refresher().expect("a refresher");
        let now = authnz_api::testkit::fixtures::at(1);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            assert!(cache.active_session(&token, now).await.unwrap().is_some());
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let (hits, misses) = cache.stats();
        assert!(
            misses <= 2,
            "{misses} misses over 5 maximum ages ({hits} hits, {} refreshes)",
            cache.refreshes()
        );
        assert!(cache.refreshes() >= 3, "{} refreshes", cache.refreshes());
    }

    /// Refreshing ahead does not stretch the bound: a change the cache is
    /// not told about (an instance that could not publish) is seen within
    /// the maximum age, while the session is looked up all the time.
    #[tokio::test]
    async fn an_unannounced_change_is_seen_within_the_maximum_age() {
        use authnz_api::{SessionStore as _, UserStore as _};
        let bus = FakeBus::new();
        let c = Arc::new(Coherence::new(bus.clone(), with_max_age(300)));
        let _tasks = c.spawn();
        eventually("cache on", || c.serving()).await;
        let (cache, store, token, uid) = cache_with_session(c.clone()).await;
        let _refresher = cache.spawn_refresher().expect("a refresher");
        let now = authnz_api::testkit::fixtures::at(1);
        for _ in 0..50 {
            cache.active_session(&token, now).await.unwrap().unwrap();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        // Straight to the store: no epoch bump, no message.
        let patch = authnz_api::UserPatch {
            user_role: Some("staff".into()),
            ..Default::default()
        };
        store.update_user(uid, &patch, None, now).await.unwrap();
        let changed = Instant::now();
        loop {
            let (_, user) = cache.active_session(&token, now).await.unwrap().unwrap();
            if user.user_role == "staff" {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_millis(300 + 50),
                "stale past the maximum age: {:?}",
                changed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
