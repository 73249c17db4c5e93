//! Rate-limit leases: the arithmetic that lets a [`RedisRateLimiter`]
//! decide most requests of a busy key in the process, without a Redis round
//! trip, and still never allow more than the limit across every instance.
//!
//! A key's state in Redis is one TAT (see [`crate::ratelimit`]): the
//! requests allowed so far occupy the time line up to it, one emission
//! interval `T` each. A *lease* is a stretch `[start, end)` of that line,
//! `n` intervals long, that one instance takes for itself in one script
//! call (Redis moves the TAT to `end`). The instance then runs GCRA on its
//! own copy of the TAT inside the stretch:
//!
//! ```text
//! t = max(local_tat, now)
//! allowed iff t + T <= end (and t + T - now <= tolerance), then local_tat = t + T
//! otherwise ask Redis again, handing back the unused tail [t, end)
//! ```
//!
//! Why this never exceeds the limit: every request allowed anywhere gets its
//! own slot `v = t + T` of the line, with `now < v <= now + tolerance`
//! (Redis grants only slots that fit the tolerance at grant time, and time
//! only moves on), and no two slots of any instances are closer than `T`:
//! stretches never overlap, because Redis hands them out from its TAT, and
//! takes a tail back only when no stretch was handed out after it. Counting
//! slots, at most `burst + (t2 - t1) / T` requests fall in any interval
//! `[t1, t2]`: the bound of GCRA itself. Time passing eats a stretch (`t =
//! max(local_tat, now)`), so a lease left unspent is not saved up for later;
//! it only keeps other instances from that stretch until it has passed,
//! which can refuse them *early*, never late.
//!
//! For one instance alone the decisions are exactly those of the one-call
//! GCRA, `retry_after` included: the local TAT is the TAT GCRA would hold,
//! and a refill starts from it (the tail handed back).
//!
//! How big a lease: a quiet key asks for one interval at a time, which is
//! the one-call GCRA; a key that needs Redis again within
//! [`HOT_WINDOW_MICROS`] after its last stretch would have passed asks for
//! twice as much as last time, up to a tenth of its per-minute limit
//! ([`max_lease`]); limits below
//! [`MIN_LEASED_PER_MINUTE`] (the aggressive per-type ones) are always
//! decided by Redis, one request at a time. Redis grants at most half of
//! the room left in the bucket (or the one slot left), so several busy
//! instances share the burst rather than the first taking all of it.
//!
//! A refusal from Redis says the earliest time any instance can be allowed
//! again (the TAT only grows); until then the instance refuses that key
//! itself, with the same `retry_after`.
//!
//! [`RedisRateLimiter`]: crate::RedisRateLimiter

use std::time::Duration;

use authnz_api::{RateDecision, RateLimit};

/// Limits below this many per minute are never leased: every request of
/// such a key is decided in Redis.
pub const MIN_LEASED_PER_MINUTE: u32 = 100;

/// A lease is at most `per_minute / LEASE_DIVISOR` requests (a tenth of a
/// minute's worth).
pub const LEASE_DIVISOR: u32 = 10;

/// A key that needs Redis again within this many microseconds after its last
/// lease's stretch would have passed doubles its next lease (up to
/// [`max_lease`]); after a quieter spell it starts again at one.
pub const HOT_WINDOW_MICROS: i64 = 1_000_000;

/// The largest lease for `limit`, in requests (1: not leased).
pub fn max_lease(limit: RateLimit) -> u64 {
    if limit.per_minute < MIN_LEASED_PER_MINUTE {
        1
    } else {
        u64::from((limit.per_minute / LEASE_DIVISOR).max(1))
    }
}

/// What the lease script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `count` intervals from `start` (µs) are the caller's.
    Slots {
        /// How many requests (at least 1).
        count: u64,
        /// Where the stretch starts on the TAT line, µs since the epoch.
        start: i64,
    },
    /// Nothing fits: the next request of this key fits in this many µs.
    Wait(i64),
}

impl Grant {
    /// The script's reply `[count, start_or_wait]`.
    pub fn from_reply(count: i64, value: i64) -> Grant {
        match u64::try_from(count) {
            Ok(count) if count > 0 => Grant::Slots {
                count,
                start: value,
            },
            _ => Grant::Wait(value.max(1)),
        }
    }
}

/// What to send Redis for a refill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    /// How many requests to ask for.
    pub want: u64,
    /// The end of the stretch this instance holds (Redis hands the tail
    /// back only if its TAT is still exactly this), or -1 for none.
    pub expected_end: i64,
    /// Where the unused tail starts.
    pub tail: i64,
}

/// The local outcome of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Decided in the process.
    Decided(RateDecision),
    /// The lease cannot answer: ask Redis.
    AskRedis,
}

/// One key's lease in one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLease {
    /// The limit of the last request (a pending refusal holds for it only).
    limit: Option<RateLimit>,
    /// The local TAT inside the stretch, µs.
    tat: i64,
    /// Where spending must stop, µs: the end of the stretch, or where its
    /// tail was handed back (`i64::MIN`: none held).
    end: i64,
    /// The end of the stretch as Redis holds it (`i64::MIN`: none).
    redis_end: i64,
    /// Refused by Redis until then, µs.
    denied_until: i64,
    /// The size asked for last time.
    want: u64,
    /// When Redis was last asked, µs.
    last_ask: i64,
    /// How long the last stretch granted was, µs.
    last_span: i64,
    /// Completed Redis calls (so that a waiter sees whether one happened).
    pub generation: u64,
    /// Whether the last call failed.
    pub last_failed: bool,
}

impl Default for KeyLease {
    fn default() -> Self {
        Self {
            limit: None,
            tat: i64::MIN,
            end: i64::MIN,
            redis_end: i64::MIN,
            denied_until: i64::MIN,
            want: 1,
            last_ask: i64::MIN,
            last_span: 0,
            generation: 0,
            last_failed: false,
        }
    }
}

fn limited(wait_micros: i64) -> RateDecision {
    RateDecision::Limited {
        retry_after: Duration::from_micros(u64::try_from(wait_micros).unwrap_or(1).max(1)),
    }
}

impl KeyLease {
    /// Decide a request at `now` (µs) from the lease, if it can.
    pub fn spend(&mut self, limit: RateLimit, now: i64) -> Local {
        if self.limit != Some(limit) {
            // The stretch is time on the TAT line, whatever the limit: it
            // stays, and the new limit's interval and tolerance apply to it
            // (as GCRA applies a changed limit to the stored TAT). A refusal
            // was computed under the old limit: forget it.
            self.limit = Some(limit);
            self.denied_until = i64::MIN;
        }
        if now < self.denied_until {
            return Local::Decided(limited(self.denied_until - now));
        }
        let interval = limit.interval_micros();
        let t = self.tat.max(now);
        let next = t.saturating_add(interval);
        if next > self.end {
            return Local::AskRedis;
        }
        let ahead = next - now;
        let tolerance = limit.tolerance_micros();
        if ahead <= tolerance {
            self.tat = next;
            Local::Decided(RateDecision::Allowed)
        } else {
            // Only when the clock went back since the grant.
            Local::Decided(limited(ahead - tolerance))
        }
    }

    /// The call to make to Redis at `now` (after [`Local::AskRedis`]); the
    /// lease grows when the key is hot.
    pub fn refill(&mut self, limit: RateLimit, now: i64) -> Refill {
        let hot = self.hot(now);
        self.want = if hot {
            self.want.saturating_mul(2).clamp(1, max_lease(limit))
        } else {
            1
        };
        self.last_ask = now;
        let tail = self.tat.max(now);
        // The tail is offered back: nothing more may be spent from it, even
        // by a request whose clock reading is a little older than this one's.
        self.end = self.end.min(tail);
        Refill {
            want: self.want,
            expected_end: if self.redis_end == i64::MIN {
                -1
            } else {
                self.redis_end
            },
            tail,
        }
    }

    /// Take Redis's answer to [`KeyLease::refill`] at `now`: the decision
    /// for the request that asked.
    pub fn granted(&mut self, limit: RateLimit, now: i64, grant: Grant) -> RateDecision {
        self.generation = self.generation.wrapping_add(1);
        self.last_failed = false;
        self.limit = Some(limit);
        match grant {
            Grant::Slots { count, start } => {
                let interval = limit.interval_micros();
                let span = i64::try_from(count)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(interval);
                self.end = start.saturating_add(span);
                self.redis_end = self.end;
                self.last_span = span;
                // The first slot is this request's.
                self.tat = start.saturating_add(interval);
                self.denied_until = i64::MIN;
                RateDecision::Allowed
            }
            Grant::Wait(wait) => {
                self.denied_until = now.saturating_add(wait.max(1));
                limited(wait)
            }
        }
    }

    /// The Redis call failed.
    pub fn failed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.last_failed = true;
    }

    /// True when forgetting this lease at `now` changes no decision: its
    /// stretch has passed, no refusal is pending and the key is not hot.
    pub fn idle(&self, now: i64) -> bool {
        self.end <= now && self.denied_until <= now && !self.hot(now)
    }

    /// Whether a call at `now` follows the last one closely: within the
    /// hot window after the last stretch would have run out had it been
    /// spent as time passed (so a key whose leases last 10 s stays hot).
    fn hot(&self, now: i64) -> bool {
        now.saturating_sub(self.last_ask) < HOT_WINDOW_MICROS.saturating_add(self.last_span)
    }
}

/// The lease script's arithmetic, in Rust: what Redis answers and the TAT it
/// stores, given the stored TAT. The script in [`crate::ratelimit`] does
/// exactly this; tests model Redis with it.
#[cfg(test)]
pub fn model_script(
    stored: Option<i64>,
    now: i64,
    limit: RateLimit,
    refill: Refill,
) -> (Grant, Option<i64>) {
    let interval = limit.interval_micros();
    let tolerance = limit.tolerance_micros();
    let tat = match stored {
        Some(s) if s == refill.expected_end => refill.tail.max(now),
        Some(s) => s.max(now),
        None => now,
    };
    let room = (tolerance - (tat - now)).div_euclid(interval);
    if room < 1 {
        return (Grant::Wait(tat + interval - now - tolerance), stored);
    }
    let room = u64::try_from(room).unwrap_or(0);
    let mut n = refill.want.min(room);
    if n > 1 && n > room / 2 {
        n = (room / 2).max(1);
    }
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    (
        Grant::Slots {
            count: n,
            start: tat,
        },
        Some(tat + count * interval),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use authnz_api::ratelimit::gcra;

    /// One instance with its lease in front of a modelled Redis.
    #[derive(Default)]
    struct Instance {
        lease: KeyLease,
        asks: usize,
    }

    impl Instance {
        fn check(&mut self, redis: &mut Option<i64>, limit: RateLimit, now: i64) -> RateDecision {
            if max_lease(limit) <= 1 && self.lease == KeyLease::default() {
                // Not leased and no lease held: one call per request, as
                // the limiter does.
                self.asks += 1;
                let r = Refill {
                    want: 1,
                    expected_end: -1,
                    tail: now,
                };
                let (g, stored) = model_script(*redis, now, limit, r);
                *redis = stored;
                return match g {
                    Grant::Slots { .. } => RateDecision::Allowed,
                    Grant::Wait(w) => limited(w),
                };
            }
            match self.lease.spend(limit, now) {
                Local::Decided(d) => d,
                Local::AskRedis => {
                    self.asks += 1;
                    let r = self.lease.refill(limit, now);
                    let (g, stored) = model_script(*redis, now, limit, r);
                    *redis = stored;
                    self.lease.granted(limit, now, g)
                }
            }
        }
    }

    /// A small deterministic generator (xorshift) for request times.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const T0: i64 = 1_700_000_000_000_000;

    fn limits() -> Vec<RateLimit> {
        vec![
            RateLimit::new(600, 150),
            RateLimit::new(6_000, 20),
            RateLimit::new(1_200, 1),
            RateLimit::new(100, 100),
            RateLimit::new(99, 50),
            RateLimit::new(100_000_000, 100_000_000),
        ]
    }

    /// Request times: bursts at one instant, steady runs and pauses, and
    /// after some pauses a hammering of 200 requests at one instant.
    fn times(rng: &mut Rng, limit: RateLimit, n: usize) -> Vec<i64> {
        let interval = limit.interval_micros();
        let mut now = T0;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match rng.below(10) {
                0..=3 => {}
                4..=7 => now += i64::try_from(rng.below(2 * interval as u64 + 1)).unwrap(),
                8 => now += i64::try_from(rng.below(50 * interval as u64 + 1)).unwrap(),
                _ => {
                    now += 2_000_000 + i64::try_from(rng.below(5_000_000)).unwrap();
                    if rng.below(3) == 0 {
                        out.extend(std::iter::repeat_n(now, 200));
                    }
                }
            }
            out.push(now);
        }
        out.truncate(n);
        out
    }

    #[test]
    fn max_lease_is_a_tenth_above_the_threshold() {
        assert_eq!(max_lease(RateLimit::new(5, 5)), 1);
        assert_eq!(max_lease(RateLimit::new(99, 99)), 1);
        assert_eq!(max_lease(RateLimit::new(100, 1)), 10);
        assert_eq!(max_lease(RateLimit::new(600, 150)), 60);
        assert_eq!(
            max_lease(RateLimit::new(u32::MAX, 1)),
            u64::from(u32::MAX / 10)
        );
    }

    #[test]
    fn the_model_without_a_lease_is_gcra() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for limit in limits() {
            let mut redis = None;
            let mut tat = None;
            for now in times(&mut rng, limit, 2_000) {
                let r = Refill {
                    want: 1,
                    expected_end: -1,
                    tail: now,
                };
                let (g, stored) = model_script(redis, now, limit, r);
                redis = stored;
                let (d, t) = gcra(tat, limit, now);
                tat = Some(t);
                let got = match g {
                    Grant::Slots { count: 1, .. } => RateDecision::Allowed,
                    Grant::Wait(w) => limited(w),
                    other => panic!("{other:?}"),
                };
                assert_eq!(got, d, "{limit:?} at {now}");
            }
        }
    }

    /// One instance alone decides exactly as the one-call GCRA, with far
    /// fewer calls for the busy keys.
    #[test]
    fn one_instance_with_leases_is_exactly_gcra() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for limit in limits() {
            let mut redis = None;
            let mut tat = None;
            let mut one = Instance::default();
            let ts = times(&mut rng, limit, 5_000);
            let mut allowed = 0;
            for &now in &ts {
                let got = one.check(&mut redis, limit, now);
                let (want, t) = gcra(tat, limit, now);
                tat = Some(t);
                assert_eq!(got, want, "{limit:?} at {}", now - T0);
                allowed += usize::from(got.is_allowed());
            }
            assert!(allowed > 0, "{limit:?}");
            if max_lease(limit) == 1 {
                assert_eq!(one.asks, ts.len());
            } else if limit.burst >= 10 && limit.per_minute >= 600 {
                // (A burst of 1 leaves room for one request at a time; at
                // 100/min these times are mostly more than the hot window
                // apart, so leases stay small.)
                assert!(one.asks < ts.len() / 2, "{limit:?}: {} asks", one.asks);
            }
        }
    }

    /// A hammering client gets its burst, then the rate, and one Redis call
    /// serves many requests.
    #[test]
    fn a_burst_then_the_rate_with_few_calls() {
        let limit = RateLimit::new(600, 150);
        let mut redis = None;
        let mut one = Instance::default();
        let allowed = (0..1_000)
            .filter(|_| one.check(&mut redis, limit, T0).is_allowed())
            .count();
        assert_eq!(allowed, 150);
        // After the burst, refusals are answered locally with the exact wait.
        let asks = one.asks;
        assert_eq!(one.check(&mut redis, limit, T0 + 40_000), limited(60_000));
        assert_eq!(one.asks, asks);
        // 10 s later: 100 more (one per 100 ms).
        let later = T0 + 10_000_000;
        let allowed = (0..1_000)
            .filter(|_| one.check(&mut redis, limit, later).is_allowed())
            .count();
        assert_eq!(allowed, 100);
        assert!(one.asks < 40, "{} asks", one.asks);
    }

    /// A key busy for a long time keeps leases of full size: about one
    /// call per lease, not a new ramp from one request after each.
    #[test]
    fn a_steadily_busy_key_keeps_its_lease_size() {
        // The bench's limits: 1 µs intervals, leases of up to 10 s.
        let limit = RateLimit::new(100_000_000, 100_000_000);
        let mut redis = None;
        let mut one = Instance::default();
        // 25,000 requests a second for 60 s.
        for k in 0..1_500_000i64 {
            assert!(one.check(&mut redis, limit, T0 + k * 40).is_allowed());
        }
        // A ramp of about 24 doublings, then one call per 10 s.
        assert!(one.asks <= 24 + 8, "{} asks", one.asks);
    }

    /// Two or five instances sharing one Redis: every allowed request still
    /// fits the limit (the merged stream passes a fresh GCRA), and together
    /// they get at least what one would, less the stretches held unspent.
    #[test]
    fn several_instances_never_exceed_the_limit() {
        let mut rng = Rng(0x6a09_e667_f3bc_c909);
        for instances in [2usize, 5] {
            for limit in limits() {
                let mut redis = None;
                let mut all: Vec<Instance> = (0..instances).map(|_| Instance::default()).collect();
                let mut allowed_at = Vec::new();
                for now in times(&mut rng, limit, 6_000) {
                    let i = usize::try_from(rng.below(instances as u64)).unwrap();
                    if all[i].check(&mut redis, limit, now).is_allowed() {
                        allowed_at.push(now);
                    }
                }
                assert!(!allowed_at.is_empty());
                allowed_at.sort_unstable();
                let mut tat = None;
                for (k, &now) in allowed_at.iter().enumerate() {
                    let (d, t) = gcra(tat, limit, now);
                    assert!(
                        d.is_allowed(),
                        "{instances} instances, {limit:?}: allowed request {k} at {} exceeds the limit",
                        now - T0
                    );
                    tat = Some(t);
                }
            }
        }
    }

    /// What a lease did not spend is not saved up: instances that took
    /// leases, then went quiet, get exactly the burst when they hammer
    /// again at one instant.
    #[test]
    fn a_lease_is_not_saved_up() {
        let limit = RateLimit::new(600, 150);
        for instances in [1usize, 2, 3] {
            let mut redis = None;
            let mut all: Vec<Instance> = (0..instances).map(|_| Instance::default()).collect();
            // 4 requests a second through each for 10 s: leases grow.
            let mut now = T0;
            for _ in 0..40 {
                for one in &mut all {
                    assert!(one.check(&mut redis, limit, now).is_allowed());
                }
                now += 250_000;
            }
            assert!(
                all.iter()
                    .any(|i| i.lease.last_span > limit.interval_micros())
            );
            // A minute later, all at once.
            now += 60_000_000;
            let allowed = (0..1_000)
                .filter(|k| {
                    all[k % instances]
                        .check(&mut redis, limit, now)
                        .is_allowed()
                })
                .count();
            assert_eq!(allowed, 150, "{instances} instances");
        }
    }

    /// Instances hammering one key at one instant share the burst exactly.
    #[test]
    fn a_shared_burst_is_never_exceeded_and_is_used_up() {
        let limit = RateLimit::new(6_000, 500);
        let mut redis = None;
        let mut all: Vec<Instance> = (0..3).map(|_| Instance::default()).collect();
        let mut allowed = 0;
        for k in 0..3_000 {
            if all[k % 3].check(&mut redis, limit, T0).is_allowed() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 500);
    }

    /// A key whose limit changes keeps its stretch; the new limit applies
    /// to it at once, exactly as GCRA applies it to a stored TAT.
    #[test]
    fn limit_changes_are_exact() {
        let mut rng = Rng(0xbb67_ae85_84ca_a73b);
        let all = limits();
        let mut redis = None;
        let mut tat = None;
        let mut one = Instance::default();
        let mut now = T0;
        for i in 0..20_000 {
            let limit = all[usize::try_from(rng.below(all.len() as u64)).unwrap()];
            now += match rng.below(4) {
                0 => 0,
                1 => i64::try_from(rng.below(1_000)).unwrap(),
                2 => i64::try_from(rng.below(300_000)).unwrap(),
                _ => i64::try_from(rng.below(5_000_000)).unwrap(),
            };
            let got = one.check(&mut redis, limit, now);
            let (want, t) = gcra(tat, limit, now);
            tat = Some(t);
            assert_eq!(got, want, "decision {i}: {limit:?}");
        }
    }

    /// Once the tail of a stretch is offered back to Redis, a request whose
    /// clock reading is older than the refill's spends only before it.
    #[test]
    fn the_offered_tail_is_not_spent() {
        let limit = RateLimit::new(600, 150);
        let mut lease = KeyLease::default();
        assert_eq!(lease.spend(limit, T0), Local::AskRedis);
        let r = lease.refill(limit, T0);
        assert_eq!(r.expected_end, -1);
        let grant = Grant::Slots {
            count: 10,
            start: T0,
        };
        assert!(lease.granted(limit, T0, grant).is_allowed());
        // 950 ms on, the next slot would end past the stretch (1 s).
        assert_eq!(lease.spend(limit, T0 + 950_000), Local::AskRedis);
        let r = lease.refill(limit, T0 + 950_000);
        assert_eq!((r.expected_end, r.tail), (T0 + 1_000_000, T0 + 950_000));
        // Older readings: a slot ending before the tail is fine, one
        // reaching into it is not.
        assert_eq!(
            lease.spend(limit, T0 + 100_000),
            Local::Decided(RateDecision::Allowed)
        );
        assert_eq!(lease.spend(limit, T0 + 900_000), Local::AskRedis);
    }

    #[test]
    fn idle_leases_can_be_forgotten() {
        let limit = RateLimit::new(600, 150);
        let mut redis = None;
        let mut one = Instance::default();
        assert!(one.check(&mut redis, limit, T0).is_allowed());
        // A first lease of one request: 100 ms of the line.
        assert!(!one.lease.idle(T0));
        assert!(!one.lease.idle(T0 + HOT_WINDOW_MICROS + 100_000 - 1));
        assert!(one.lease.idle(T0 + HOT_WINDOW_MICROS + 100_000));
        assert!(KeyLease::default().idle(T0));
    }

    #[test]
    fn replies_become_grants() {
        assert_eq!(Grant::from_reply(3, 7), Grant::Slots { count: 3, start: 7 });
        assert_eq!(Grant::from_reply(0, 7), Grant::Wait(7));
        assert_eq!(Grant::from_reply(0, 0), Grant::Wait(1));
        assert_eq!(Grant::from_reply(-1, 5), Grant::Wait(5));
    }
}
