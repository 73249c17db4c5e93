//! The failed-login counter behind the back-off and automatic lock of PROTOCOL.md
//! 4.2, as a trait so the state can live in the process
//! ([`MemoryLoginThrottle`]) or in a shared store such as Redis
//! (`authnz-store-redis`), and one in-process implementation.
//!
//! The trait only counts; the decisions (how long to wait, when to lock) are
//! the server's, computed from the count it returns. Keys are opaque to the
//! implementation: the server passes a salted hash of the e-mail, never the
//! address itself, so no backend holds personal data.
//!
//! # No one can reset another account's count
//!
//! Upstream's table (and this crate's first one) held 1,000 e-mails and
//! evicted the oldest: 1,000 cheap junk logins (schema failures, no Argon2)
//! with distinct e-mails pushed a victim's count out, so the next guess was
//! "the first" again. The contract is now that a count is never forgotten to
//! make room; it ends only with a success ([`LoginThrottle::clear`]) or
//! after the key has had no failure for the idle expiry (24 h by default
//! here and on Redis), and memory is still bounded:
//!
//! - The server tells the throttle whether the e-mail belongs to an account
//!   ([`LoginThrottle::record_failure`]) or not
//!   ([`LoginThrottle::record_unknown_failure`]). Only the first kind is
//!   protected: the count of an e-mail that has no account guards no
//!   password, it only exists so that unknown e-mails get the same delays
//!   and lock response as known ones. Junk e-mails cost the protected table
//!   nothing; the unknown ones live in a small table that evicts its oldest.
//! - The protected table is bounded in bytes ([`DEFAULT_ACCOUNT_BYTES`],
//!   32 MiB, about 150,000 keys) and evicts only keys whose idle expiry has
//!   passed. Filling it takes failed logins on that many *existing*
//!   accounts within a day.
//! - At the bound (full of live counts) a new key is not stored and
//!   [`UNTRACKED`] is returned, which the server treats as over every limit:
//!   the account is locked as after `userlocktries` failures. The options
//!   weighed: storing nothing and answering "1" would let an attacker who
//!   filled the table guess freely on every other account (a longer delay
//!   alone does not help, requests run in parallel); evicting a live count
//!   is the defect itself. Locking fails closed, and costs innocent users
//!   only while someone keeps failures going on more existing accounts than
//!   the table holds; anyone knowing an e-mail can already lock its account
//!   with `userlocktries + 1` failures (PROTOCOL.md 4.2), so this gives an attacker
//!   no new power over a chosen account.
//!
//! What an adversary can still do to the in-process table: evict unknown
//! e-mails' counts (which protect nothing), and so learn by timing whether
//! an e-mail it has failed on before has an account; `user-new` answers
//! that question directly anyway.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{NaiveDateTime, TimeDelta};

use crate::error::StoreError;

/// What [`LoginThrottle::record_failure`] returns when a bounded
/// implementation cannot hold another key: treat it as over every limit.
pub const UNTRACKED: u32 = u32::MAX;

/// Counts consecutive failed logins per key.
#[async_trait]
pub trait LoginThrottle: Send + Sync + std::fmt::Debug + 'static {
    /// Record one failed attempt at `now` for `key`, which belongs to an
    /// existing account, and return the number of failures now recorded for
    /// it, this one included (at least 1). Must be atomic: `n` concurrent
    /// calls for a fresh key return `1..=n`, each once.
    ///
    /// A recorded count is never forgotten to make room for other keys: it
    /// ends only with [`clear`](Self::clear), or once the key has had no
    /// failure for the implementation's idle expiry (hours, not minutes; a
    /// later failure then counts from 1 again). A bounded implementation that
    /// has no room for a new key returns [`UNTRACKED`] instead of storing it;
    /// the caller must treat that as over every limit. Errors only when the
    /// backing service is unavailable ([`StoreError::Unavailable`]); the
    /// server then applies no back-off.
    async fn record_failure(&self, key: &str, now: NaiveDateTime) -> Result<u32, StoreError>;

    /// Like [`record_failure`](Self::record_failure), for a key that belongs
    /// to no account (as far as the caller knows). Counts the same way, but
    /// a bounded implementation may forget such keys (only such keys) to
    /// make room, and never returns [`UNTRACKED`]. A key already counted
    /// through `record_failure` keeps its protected count. By default the
    /// same as `record_failure` (an unbounded store needs no distinction).
    async fn record_unknown_failure(
        &self,
        key: &str,
        now: NaiveDateTime,
    ) -> Result<u32, StoreError> {
        self.record_failure(key, now).await
    }

    /// Forget the failures of `key` (after a successful login). A key with no
    /// failures is not an error.
    async fn clear(&self, key: &str) -> Result<(), StoreError>;

    /// The failures currently recorded for `key` (0 if none), without
    /// changing anything. For tests and diagnostics.
    async fn failures(&self, key: &str) -> Result<u32, StoreError>;
}

/// Default byte budget of [`MemoryLoginThrottle`]'s table of accounts'
/// counts (estimated; about 150,000 keys of the server's size).
pub const DEFAULT_ACCOUNT_BYTES: usize = 32 << 20;

/// Default byte budget of [`MemoryLoginThrottle`]'s table of unknown
/// e-mails' counts (about 18,000 keys), which evicts its oldest when full.
pub const DEFAULT_UNKNOWN_BYTES: usize = 4 << 20;

/// Default time without a failure after which [`MemoryLoginThrottle`]
/// forgets a key (as the Redis throttle's default idle expiry).
pub const DEFAULT_IDLE_EXPIRY: TimeDelta = TimeDelta::hours(24);

/// Estimated bookkeeping per key besides the key text (held twice).
const KEY_OVERHEAD: usize = 160;

fn key_bytes(key: &str) -> usize {
    KEY_OVERHEAD + 2 * key.len()
}

/// The in-process [`LoginThrottle`], lost on restart (as upstream's): two
/// byte-bounded tables, one for accounts' counts that never evicts a live
/// count, one for unknown e-mails that evicts its oldest (see the
/// [module docs](self)). Every operation is O(log n) under a short,
/// never-awaited lock, except that making room may drop many expired keys
/// at once (each dropped once).
#[derive(Debug)]
pub struct MemoryLoginThrottle {
    idle_expiry: TimeDelta,
    inner: Mutex<Tables>,
}

#[derive(Debug)]
struct Tables {
    accounts: Table,
    unknown: Table,
    next_seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last: NaiveDateTime,
    seq: u64,
}

/// Keys with their count, ordered by latest failure for eviction.
#[derive(Debug)]
struct Table {
    by_key: HashMap<String, Counter>,
    by_age: BTreeMap<(NaiveDateTime, u64), String>,
    bytes: usize,
    max_bytes: usize,
}

impl Table {
    fn new(max_bytes: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            by_age: BTreeMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    fn remove(&mut self, key: &str) -> Option<Counter> {
        let c = self.by_key.remove(key)?;
        self.by_age.remove(&(c.last, c.seq));
        self.bytes = self.bytes.saturating_sub(key_bytes(key));
        Some(c)
    }

    /// Store `failures` for `key` at `now` (the key must not be held).
    fn put(&mut self, key: &str, failures: u32, now: NaiveDateTime, seq: u64) {
        let c = Counter {
            failures,
            last: now,
            seq,
        };
        self.by_key.insert(key.to_owned(), c);
        self.by_age.insert((now, seq), key.to_owned());
        self.bytes += key_bytes(key);
    }

    /// One more failure for a held key; a key idle past `idle` counts from
    /// 1 again. `None` when `key` is not held.
    fn bump(&mut self, key: &str, now: NaiveDateTime, seq: u64, idle: TimeDelta) -> Option<u32> {
        let old = self.remove(key)?;
        let failures = if expired(old.last, now, idle) {
            1
        } else {
            old.failures.saturating_add(1)
        };
        self.put(key, failures, now, seq);
        Some(failures)
    }

    fn has_room_for(&self, key: &str) -> bool {
        self.bytes + key_bytes(key) <= self.max_bytes
    }

    /// Drop keys idle past `idle` until `key` fits. True if it fits.
    fn make_room_from_expired(&mut self, key: &str, now: NaiveDateTime, idle: TimeDelta) -> bool {
        while !self.has_room_for(key) {
            let Some((&(last, _), _)) = self.by_age.first_key_value() else {
                return false;
            };
            if !expired(last, now, idle) {
                return false;
            }
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.by_key.remove(&oldest);
                self.bytes = self.bytes.saturating_sub(key_bytes(&oldest));
            }
        }
        true
    }

    /// Drop the keys with the oldest failures until `key` fits. True if it
    /// fits (false only for a key larger than the whole budget).
    fn make_room_from_oldest(&mut self, key: &str) -> bool {
        while !self.has_room_for(key) {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                return false;
            };
            self.by_key.remove(&oldest);
            self.bytes = self.bytes.saturating_sub(key_bytes(&oldest));
        }
        true
    }

    /// The live count of `key` at `now` (0 if none or expired).
    fn live(&self, key: &str, now: NaiveDateTime, idle: TimeDelta) -> u32 {
        self.by_key
            .get(key)
            .filter(|c| !expired(c.last, now, idle))
            .map_or(0, |c| c.failures)
    }
}

/// Whether a key whose latest failure was at `last` is idle past `idle` at
/// `now`. A clock that went backwards expires nothing.
fn expired(last: NaiveDateTime, now: NaiveDateTime, idle: TimeDelta) -> bool {
    last.checked_add_signed(idle).is_some_and(|end| end <= now)
}

impl MemoryLoginThrottle {
    /// A throttle holding at most `account_bytes` (estimated) of accounts'
    /// counts and `unknown_bytes` of unknown e-mails' counts, forgetting a
    /// key after [`DEFAULT_IDLE_EXPIRY`] without failures.
    pub fn new(account_bytes: usize, unknown_bytes: usize) -> Self {
        Self {
            idle_expiry: DEFAULT_IDLE_EXPIRY,
            inner: Mutex::new(Tables {
                accounts: Table::new(account_bytes),
                unknown: Table::new(unknown_bytes),
                next_seq: 0,
            }),
        }
    }

    /// Forget a key once it has had no failure for `idle_expiry` (at least
    /// one second).
    pub fn with_idle_expiry(mut self, idle_expiry: TimeDelta) -> Self {
        self.idle_expiry = idle_expiry.max(TimeDelta::seconds(1));
        self
    }

    /// How many keys are held (both tables).
    pub fn len(&self) -> usize {
        let t = self.lock();
        t.accounts.by_key.len() + t.unknown.by_key.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held by (accounts' table, unknown e-mails' table).
    pub fn held_bytes(&self) -> (usize, usize) {
        let t = self.lock();
        (t.accounts.bytes, t.unknown.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding this lock cannot leave the maps inconsistent
        // in a way that matters more than losing a count; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryLoginThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_ACCOUNT_BYTES, DEFAULT_UNKNOWN_BYTES)
    }
}

impl Tables {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

#[async_trait]
impl LoginThrottle for MemoryLoginThrottle {
    async fn record_failure(&self, key: &str, now: NaiveDateTime) -> Result<u32, StoreError> {
        let idle = self.idle_expiry;
        let mut t = self.lock();
        let seq = t.seq();
        if let Some(n) = t.accounts.bump(key, now, seq, idle) {
            return Ok(n);
        }
        if !t.accounts.make_room_from_expired(key, now, idle) {
            return Ok(UNTRACKED);
        }
        // Failures counted while the e-mail had no account carry over.
        let before = t.unknown.live(key, now, idle);
        t.unknown.remove(key);
        let failures = before.saturating_add(1);
        t.accounts.put(key, failures, now, seq);
        Ok(failures)
    }

    async fn record_unknown_failure(
        &self,
        key: &str,
        now: NaiveDateTime,
    ) -> Result<u32, StoreError> {
        let idle = self.idle_expiry;
        let mut t = self.lock();
        let seq = t.seq();
        if let Some(n) = t.accounts.bump(key, now, seq, idle) {
            return Ok(n);
        }
        if let Some(n) = t.unknown.bump(key, now, seq, idle) {
            return Ok(n);
        }
        if t.unknown.make_room_from_oldest(key) {
            t.unknown.put(key, 1, now, seq);
        }
        Ok(1)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut t = self.lock();
        t.accounts.remove(key);
        t.unknown.remove(key);
        Ok(())
    }

    async fn failures(&self, key: &str) -> Result<u32, StoreError> {
        let t = self.lock();
        let held = |table: &Table| table.by_key.get(key).map(|c| c.failures);
        Ok(held(&t.accounts).or_else(|| held(&t.unknown)).unwrap_or(0))
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

    fn hours(h: i64) -> NaiveDateTime {
        t() + TimeDelta::hours(h)
    }

    fn record(th: &MemoryLoginThrottle, key: &str, now: NaiveDateTime) -> u32 {
        ready(th.record_failure(key, now)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn record_unknown(th: &MemoryLoginThrottle, key: &str, now: NaiveDateTime) -> u32 {
        ready(th.record_unknown_failure(key, now)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn failures(th: &MemoryLoginThrottle, key: &str) -> u32 {
        ready(th.failures(key)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Room for exactly `n` keys of `key`'s length.
    fn budget(n: usize, key: &str) -> usize {
        n * key_bytes(key)
    }

    #[test]
    fn a_full_account_table_never_evicts_a_live_count() {
        let th = MemoryLoginThrottle::new(budget(3, "k0"), budget(2, "k0"));
        for k in ["k0", "k1", "k2"] {
            assert_eq!(record(&th, k, t()), 1);
        }
        assert_eq!(record(&th, "k0", t()), 2);
        // Full of live counts: a new key is not stored, and says so.
        assert_eq!(record(&th, "k3", hours(1)), UNTRACKED);
        assert_eq!(record(&th, "k3", hours(1)), UNTRACKED);
        assert_eq!(failures(&th, "k3"), 0);
        for (k, n) in [("k0", 2), ("k1", 1), ("k2", 1)] {
            assert_eq!(failures(&th, k), n, "{k} kept");
        }
        // Held keys keep counting.
        assert_eq!(record(&th, "k1", hours(2)), 2);
        // A flood of unknown keys touches neither the accounts nor their
        // budget, and never fails.
        for i in 0..100 {
            assert_eq!(record_unknown(&th, &format!("j{i}"), hours(2)), 1);
        }
        assert_eq!(th.held_bytes().0, budget(3, "k0"));
        assert!(th.held_bytes().1 <= budget(2, "k0"));
        assert_eq!(failures(&th, "k0"), 2);
        // Once k0 and k2 are idle past the expiry, they make room (k1 failed
        // later and is still live).
        let later = t() + DEFAULT_IDLE_EXPIRY;
        assert_eq!(record(&th, "k3", later), 1);
        assert_eq!(record(&th, "k4", later), 1);
        assert_eq!(record(&th, "k5", later), UNTRACKED);
        assert_eq!(failures(&th, "k1"), 2);
        assert_eq!(record(&th, "k1", later), 3);
    }

    #[test]
    fn unknown_keys_evict_the_oldest_unknown_only() {
        let th = MemoryLoginThrottle::new(budget(10, "u0"), budget(3, "u0"));
        assert_eq!(record(&th, "victim", t()), 1);
        assert_eq!(record_unknown(&th, "u0", t()), 1);
        assert_eq!(record_unknown(&th, "u1", t()), 1);
        assert_eq!(record_unknown(&th, "u2", t()), 1);
        assert_eq!(record_unknown(&th, "u0", t()), 2);
        assert_eq!(record_unknown(&th, "u3", t()), 1);
        assert_eq!(failures(&th, "u1"), 0, "the oldest unknown was evicted");
        assert_eq!(failures(&th, "u0"), 2);
        // An account's key keeps its protected count even when reported
        // as unknown (the account was deleted meanwhile, say).
        assert_eq!(record_unknown(&th, "victim", t()), 2);
        for i in 0..1_000 {
            record_unknown(&th, &format!("junk{i}"), t());
        }
        assert_eq!(failures(&th, "victim"), 2);
        assert_eq!(record(&th, "victim", t()), 3);
    }

    #[test]
    fn unknown_failures_carry_over_when_the_account_appears() {
        let th = MemoryLoginThrottle::default();
        assert_eq!(record_unknown(&th, "new", t()), 1);
        assert_eq!(record_unknown(&th, "new", t()), 2);
        assert_eq!(record(&th, "new", t()), 3);
        assert_eq!(th.len(), 1);
        // ... unless they had expired.
        assert_eq!(record_unknown(&th, "old", t()), 1);
        assert_eq!(record(&th, "old", t() + DEFAULT_IDLE_EXPIRY), 1);
    }

    #[test]
    fn an_idle_key_counts_from_one_again() {
        let th = MemoryLoginThrottle::default().with_idle_expiry(TimeDelta::hours(2));
        assert_eq!(record(&th, "a", t()), 1);
        assert_eq!(record(&th, "a", hours(1)), 2);
        assert_eq!(record(&th, "a", hours(2)), 3, "idle for 1 h only");
        assert_eq!(record(&th, "a", hours(4)), 1, "idle for 2 h");
        // A clock that went backwards expires nothing.
        assert_eq!(record(&th, "a", hours(-10)), 2);
    }

    #[test]
    fn clear_frees_the_room() {
        let th = MemoryLoginThrottle::new(budget(2, "a"), budget(2, "a"));
        record(&th, "a", t());
        record(&th, "b", t());
        assert_eq!(record(&th, "c", t()), UNTRACKED);
        ready(th.clear("a")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record(&th, "c", t()), 1);
        assert_eq!(failures(&th, "b"), 1);
        assert!(!th.is_empty());
    }
}
