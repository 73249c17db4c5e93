//! The layer's own per-caller request limits: what the original
//! `BaseHandler` does by counting each session's requests against its
//! role's limit, here as a GCRA ("generic cell rate algorithm") per caller
//! in process.
//!
//! A caller is a session (its cookie's token) or an API key (the bearer
//! string); it is held as a 16-byte keyed hash, never as the token. Each
//! holds one instant, its *theoretical arrival time* (TAT): a caller whose
//! limit is `n` per `period` may send `n` requests at once and then one
//! every `period / n`. Memory is bounded by [`RequestLimits::capacity`]:
//! when the table is full, callers whose TAT has passed (as good as
//! unknown) are dropped; if it is still full, a new caller is let through
//! uncounted (and a warning logged, at most once a minute) rather than
//! evicting a counted one, which would let a flood of new sessions reset
//! everyone's count. authnz limits how fast sessions are made per address,
//! so such a flood is slow to build.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-caller request limits enforced by [`crate::AuthLayer`] itself,
/// before the route runs: over the limit, the request is answered with 429
/// and a `Retry-After` (whole seconds, at least 1). Off unless set with
/// [`crate::AuthConfig::request_limits`].
///
/// ```
/// use std::time::Duration;
/// use authnz_axum::RequestLimits;
///
/// // 300 requests a minute for anonymous visitors, 3,000 for everyone else.
/// let limits = RequestLimits::per_minute(3_000).role("anonymous", 300);
/// // Or per another period: 20 requests per 10 s.
/// let burst = RequestLimits::new(20, Duration::from_secs(10));
/// # let _ = (limits, burst);
/// ```
#[derive(Debug, Clone)]
pub struct RequestLimits {
    default: u32,
    roles: HashMap<String, u32>,
    period: Duration,
    capacity: usize,
}

impl RequestLimits {
    /// `n` requests per `period` for every role not named with
    /// [`RequestLimits::role`] (`n` at least 1, `period` at least 1 ms).
    pub fn new(n: u32, period: Duration) -> Self {
        Self {
            default: n.max(1),
            roles: HashMap::new(),
            period: period.max(Duration::from_millis(1)),
            capacity: 100_000,
        }
    }

    /// `n` requests a minute for every role not named otherwise.
    pub fn per_minute(n: u32) -> Self {
        Self::new(n, Duration::from_secs(60))
    }

    /// `n` requests per period for callers of `role` (`anonymous`,
    /// `authenticated`, `staff`, `superuser`, or a role of your policy).
    pub fn role(mut self, role: impl Into<String>, n: u32) -> Self {
        self.roles.insert(role.into(), n.max(1));
        self
    }

    /// At most this many callers counted at once (default 100,000; about
    /// 40 bytes each).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }

    fn limit_for(&self, role: &str) -> u32 {
        self.roles.get(role).copied().unwrap_or(self.default)
    }
}

/// The counting state of one layer.
pub(crate) struct Limiter {
    limits: RequestLimits,
    tats: Mutex<HashMap<[u8; 16], Instant>>,
    last_full_warning: Mutex<Option<Instant>>,
}

impl Limiter {
    pub(crate) fn new(limits: RequestLimits) -> Self {
        Self {
            limits,
            tats: Mutex::new(HashMap::new()),
            last_full_warning: Mutex::new(None),
        }
    }

    /// Count one request of `caller` (a keyed hash) with `role` at `now`:
    /// `Ok` when within the limit, else how long until the next request
    /// would be.
    pub(crate) fn check(&self, caller: [u8; 16], role: &str, now: Instant) -> Result<(), Duration> {
        let n = self.limits.limit_for(role);
        let interval = self.limits.period / n;
        // A caller may be up to this far ahead of `now`: the whole burst
        // but the request being counted.
        let tolerance = self.limits.period.saturating_sub(interval);
        let mut tats = self.tats.lock().unwrap_or_else(|p| p.into_inner());
        let tat = match tats.get(&caller) {
            Some(&tat) => tat.max(now),
            None => {
                if tats.len() >= self.limits.capacity {
                    tats.retain(|_, tat| *tat > now);
                    if tats.len() >= self.limits.capacity {
                        drop(tats);
                        self.warn_full(now);
                        return Ok(());
                    }
                }
                now
            }
        };
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        tats.insert(caller, tat + interval);
        Ok(())
    }

    fn warn_full(&self, now: Instant) {
        let mut last = self
            .last_full_warning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60)) {
            *last = Some(now);
            tracing::warn!(
                capacity = self.limits.capacity,
                "request limits: every slot holds an active caller; new callers go uncounted until some go quiet (raise RequestLimits::capacity)"
            );
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tats.lock().unwrap().len()
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> Duration {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(n: u8) -> [u8; 16] {
        [n; 16]
    }

    #[test]
    fn a_burst_of_n_passes_then_one_per_interval() {
        let l = Limiter::new(RequestLimits::new(3, Duration::from_secs(3)));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(caller(1), "anonymous", t0), Ok(()));
        }
        let wait = l.check(caller(1), "anonymous", t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // A refused request is not counted: the wait does not grow.
        assert_eq!(l.check(caller(1), "anonymous", t0), Err(wait));
        // Another caller has its own budget.
        assert_eq!(l.check(caller(2), "anonymous", t0), Ok(()));
        // One interval later, one more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(caller(1), "anonymous", t1), Ok(()));
        assert!(l.check(caller(1), "anonymous", t1).is_err());
        // After a quiet period, the whole burst again.
        let t2 = t1 + Duration::from_secs(10);
        for _ in 0..3 {
            assert_eq!(l.check(caller(1), "anonymous", t2), Ok(()));
        }
        assert!(l.check(caller(1), "anonymous", t2).is_err());
    }

    #[test]
    fn roles_have_their_own_limits() {
        let l = Limiter::new(RequestLimits::per_minute(5).role("anonymous", 1));
        let t0 = Instant::now();
        assert_eq!(l.check(caller(1), "anonymous", t0), Ok(()));
        assert!(l.check(caller(1), "anonymous", t0).is_err());
        for _ in 0..5 {
            assert_eq!(l.check(caller(2), "authenticated", t0), Ok(()));
        }
        assert!(l.check(caller(2), "authenticated", t0).is_err());
    }

    #[test]
    fn a_full_table_drops_quiet_callers_and_never_evicts_a_counted_one() {
        let l = Limiter::new(RequestLimits::new(1, Duration::from_secs(60)).capacity(2));
        let t0 = Instant::now();
        assert_eq!(l.check(caller(1), "a", t0), Ok(()));
        assert_eq!(l.check(caller(2), "a", t0), Ok(()));
        // Full of active callers: a third goes uncounted, the two stay.
        assert_eq!(l.check(caller(3), "a", t0), Ok(()));
        assert_eq!(l.check(caller(3), "a", t0), Ok(()));
        assert_eq!(l.len(), 2);
        assert!(l.check(caller(1), "a", t0).is_err());
        // Once they have gone quiet, their slots are reused.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.check(caller(3), "a", later), Ok(()));
        assert!(l.check(caller(3), "a", later).is_err());
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            retry_after_secs(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            retry_after_secs(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after_secs(Duration::from_millis(2001)),
            Duration::from_secs(3)
        );
    }
}
