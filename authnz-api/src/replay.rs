//! One-time use of request tokens: the [`ReplayGuard`] trait remembers which
//! tokens have been seen until they expire, so a captured request cannot be
//! sent again while it would still be accepted. The state can live in the
//! process ([`MemoryReplayGuard`]) or in a shared store such as Redis
//! (`authnz-store-redis`), which is what several server processes behind one
//! address need.
//!
//! Ids are opaque to the implementation: the caller passes a fixed-size id
//! of the token (e.g. a hash of it), never the token itself.

use crate::expiring::ExpiringKeys;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::ratelimit::epoch_micros;

/// Remembers request tokens until they expire, to refuse replays.
#[async_trait]
pub trait ReplayGuard: Send + Sync + std::fmt::Debug + 'static {
    /// Record `token_id` (an opaque fixed-size id of a request token) as
    /// seen until `until`; returns `true` if it was *not* seen before (first
    /// use), `false` for a replay.
    ///
    /// Atomic: `n` concurrent calls for one id at one instant return `true`
    /// exactly once. `now` comes from the caller's [`Clock`](crate::Clock)
    /// (implementations never read the wall clock); an entry whose `until`
    /// is `<= now` counts as unseen, so a call with `until <= now` returns
    /// `true` and records nothing lasting.
    ///
    /// Errors only when the backing service is unavailable
    /// ([`StoreError::Unavailable`]); the server decides whether to fail
    /// closed.
    async fn first_use(
        &self,
        token_id: &str,
        until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError>;
}

/// Default most ids [`MemoryReplayGuard`] holds.
pub const DEFAULT_REPLAY_GUARD_CAPACITY: usize = 100_000;

/// How many expired ids a call drops on the way, so memory shrinks when
/// traffic stops without a sweeper task.
const EXPIRE_PER_CALL: usize = 2;

/// The in-process [`ReplayGuard`]: a map from id to its `until`, lost on
/// restart and not shared between processes.
///
/// Holds at most `capacity` ids. Every call first drops up to two ids whose
/// `until` has passed (they count as unseen anyway). When a new id arrives
/// and the map is still full, the id expiring soonest (the oldest among
/// equals) is dropped: a replay of *that* token within its remaining lifetime
/// would then be accepted, so the capacity must exceed the number of tokens
/// issued per token lifetime. The
/// guard never fails or refuses because it is full. Every call is O(log n)
/// under a short, never-awaited lock.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    capacity: usize,
    inner: Mutex<ExpiringKeys>,
}

impl MemoryReplayGuard {
    /// A guard holding at most `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(ExpiringKeys::default()),
        }
    }

    /// How many ids are held (expired ones may still be counted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most ids held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drop every id expired at `now`. Calls already do this a little at a
    /// time; for a periodic sweep or tests.
    pub fn expire(&self, now: NaiveDateTime) {
        self.lock().expire(epoch_micros(now), usize::MAX);
    }

    /// Decide synchronously (the trait method only wraps this).
    pub fn record(&self, token_id: &str, until: NaiveDateTime, now: NaiveDateTime) -> bool {
        let (until, now) = (epoch_micros(until), epoch_micros(now));
        let mut s = self.lock();
        s.expire(now, EXPIRE_PER_CALL);
        match s.get(token_id) {
            Some(u) if u > now => return false,
            Some(_) => s.remove(token_id),
            None => {}
        }
        if until <= now {
            // Expired on arrival: nothing worth remembering.
            return true;
        }
        s.set(token_id, until, self.capacity);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExpiringKeys> {
        // The maps are updated together with no panicking step in between;
        // keep serving after a poisoning panic elsewhere.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new(DEFAULT_REPLAY_GUARD_CAPACITY)
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn first_use(
        &self,
        token_id: &str,
        until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.record(token_id, until, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_900_000_000 + secs, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    #[test]
    fn when_full_drops_the_id_expiring_soonest() {
        let g = MemoryReplayGuard::new(2);
        assert!(g.record("long", t(100), t(0)));
        assert!(g.record("short", t(10), t(0)));
        assert!(g.record("new", t(50), t(0)));
        assert_eq!(g.len(), 2);
        assert!(!g.record("long", t(100), t(1)), "kept");
        assert!(!g.record("new", t(50), t(1)), "kept");
        assert!(g.record("short", t(10), t(1)), "dropped, so unseen");
    }

    #[test]
    fn expired_ids_go_on_the_way() {
        let g = MemoryReplayGuard::new(100);
        g.record("a", t(1), t(0));
        g.record("b", t(1), t(0));
        assert_eq!(g.len(), 2);
        g.record("c", t(10), t(5));
        assert_eq!(g.len(), 1);
        g.expire(t(10));
        assert!(g.is_empty());
        assert_eq!(g.capacity(), 100);
    }

    #[test]
    fn expired_on_arrival_is_not_stored() {
        let g = MemoryReplayGuard::default();
        assert!(g.record("x", t(0), t(0)));
        assert!(g.is_empty());
        assert_eq!(g.capacity(), DEFAULT_REPLAY_GUARD_CAPACITY);
    }
}

/// The contract suite on the in-process guard: with the default capacity,
/// and with a small one.
#[cfg(all(test, feature = "testkit"))]
mod contract {
    use std::sync::Arc;

    use super::{MemoryReplayGuard, ReplayGuard};

    async fn memory(_test: &'static str) -> Option<Arc<dyn ReplayGuard>> {
        Some(Arc::new(MemoryReplayGuard::default()))
    }

    crate::replay_guard_tests!(memory);

    mod small {
        use super::*;

        async fn memory_small(_test: &'static str) -> Option<Arc<dyn ReplayGuard>> {
            Some(Arc::new(MemoryReplayGuard::new(64)))
        }

        crate::replay_guard_tests!(memory_small);
    }
}
