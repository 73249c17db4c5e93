//! The failed-login counter behind the back-off and automatic lock of spec
//! 4.2, as a trait so the state can live in the process
//! ([`MemoryLoginThrottle`]) or in a shared store such as Redis
//! (`authnz-store-redis`), and one in-process implementation.
//!
//! The trait only counts; the decisions (how long to wait, when to lock) are
//! the server's, computed from the count it returns. Keys are opaque to the
//! implementation: the server passes a salted hash of the e-mail, never the
//! address itself, so no backend holds personal data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;

/// Counts consecutive failed logins per key.
#[async_trait]
pub trait LoginThrottle: Send + Sync + std::fmt::Debug + 'static {
    /// Record one failed attempt for `key` at `now` and return the number of
    /// failures now recorded for it, this one included (at least 1). Must be
    /// atomic: `n` concurrent calls for a fresh key return `1..=n`, each once.
    ///
    /// A bounded implementation may forget other keys to make room (spec Q-7:
    /// evict the oldest), but must never fail or refuse because it is full.
    /// Errors only when the backing service is unavailable
    /// ([`StoreError::Unavailable`]); the server then applies no back-off.
    async fn record_failure(&self, key: &str, now: NaiveDateTime) -> Result<u32, StoreError>;

    /// Forget the failures of `key` (after a successful login). A key with no
    /// failures is not an error.
    async fn clear(&self, key: &str) -> Result<(), StoreError>;

    /// The failures currently recorded for `key` (0 if none), without
    /// changing anything. For tests and diagnostics.
    async fn failures(&self, key: &str) -> Result<u32, StoreError>;
}

/// Default most keys [`MemoryLoginThrottle`] holds (upstream's limit, Q-7).
pub const DEFAULT_THROTTLE_CAPACITY: usize = 1_000;

/// The in-process [`LoginThrottle`]: a map from key to failure count, lost on
/// restart (as upstream's). Holds at most `capacity` keys; recording a new
/// key when full forgets the key whose latest failure is the oldest (Q-7
/// fixed). Every operation is O(log n) under a short, never-awaited lock.
#[derive(Debug)]
pub struct MemoryLoginThrottle {
    capacity: usize,
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// key -> (failures, sequence number of the latest failure).
    by_key: HashMap<String, (u32, u64)>,
    /// sequence number of the latest failure -> key, oldest first.
    by_age: BTreeMap<u64, String>,
    next_seq: u64,
}

impl MemoryLoginThrottle {
    /// A throttle holding at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Counters::default()),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding this lock cannot leave the maps inconsistent
        // in a way that matters more than losing a count; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryLoginThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_THROTTLE_CAPACITY)
    }
}

#[async_trait]
impl LoginThrottle for MemoryLoginThrottle {
    async fn record_failure(&self, key: &str, _now: NaiveDateTime) -> Result<u32, StoreError> {
        let mut c = self.lock();
        let seq = c.next_seq;
        c.next_seq += 1;
        let count = match c.by_key.get(key).copied() {
            Some((count, old_seq)) => {
                c.by_age.remove(&old_seq);
                count.saturating_add(1)
            }
            None => {
                while c.by_key.len() >= self.capacity {
                    let Some((_, oldest)) = c.by_age.pop_first() else {
                        break;
                    };
                    c.by_key.remove(&oldest);
                }
                1
            }
        };
        c.by_key.insert(key.to_owned(), (count, seq));
        c.by_age.insert(seq, key.to_owned());
        Ok(count)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.lock();
        if let Some((_, seq)) = c.by_key.remove(key) {
            c.by_age.remove(&seq);
        }
        Ok(())
    }

    async fn failures(&self, key: &str) -> Result<u32, StoreError> {
        Ok(self.lock().by_key.get(key).map_or(0, |(n, _)| *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// The memory throttle never awaits: poll its futures once.
    fn ready<T>(f: impl Future<Output = T>) -> T {
        let mut cx = Context::from_waker(Waker::noop());
        match pin!(f).poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("memory throttle future was pending"),
        }
    }

    fn t() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_900_000_000, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    fn record(th: &MemoryLoginThrottle, key: &str) -> u32 {
        ready(th.record_failure(key, t())).unwrap_or_else(|e| panic!("{e}"))
    }

    fn failures(th: &MemoryLoginThrottle, key: &str) -> u32 {
        ready(th.failures(key)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn evicts_the_oldest_key_when_full() {
        let th = MemoryLoginThrottle::new(3);
        assert_eq!(record(&th, "a"), 1);
        assert_eq!(record(&th, "b"), 1);
        assert_eq!(record(&th, "c"), 1);
        // "a" fails again: now "b" is the oldest.
        assert_eq!(record(&th, "a"), 2);
        assert_eq!(record(&th, "d"), 1);
        assert_eq!(th.len(), 3);
        assert_eq!(failures(&th, "b"), 0, "b was evicted");
        assert_eq!(failures(&th, "a"), 2);
        assert_eq!(failures(&th, "c"), 1);
        assert_eq!(failures(&th, "d"), 1);
        // Updating a held key never evicts.
        assert_eq!(record(&th, "c"), 2);
        assert_eq!(th.len(), 3);
    }

    #[test]
    fn default_capacity_is_a_thousand_and_never_fails() {
        let th = MemoryLoginThrottle::default();
        for i in 0..2_500 {
            assert_eq!(record(&th, &format!("k{i}")), 1);
        }
        assert_eq!(th.len(), DEFAULT_THROTTLE_CAPACITY);
        assert_eq!(failures(&th, "k0"), 0);
        assert_eq!(failures(&th, "k2499"), 1);
        assert_eq!(failures(&th, "k1500"), 1);
        assert_eq!(failures(&th, "k1499"), 0);
    }

    #[test]
    fn clear_frees_the_slot() {
        let th = MemoryLoginThrottle::new(2);
        record(&th, "a");
        record(&th, "b");
        ready(th.clear("a")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(th.len(), 1);
        record(&th, "c");
        assert_eq!(failures(&th, "b"), 1, "no eviction needed after a clear");
        assert!(!th.is_empty());
    }
}
