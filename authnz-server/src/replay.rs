//! Opt-in replay protection (`requestttl`, not upstream: Q-18 keeps it off by
//! default, because upstream never rejects a token for its timestamp and
//! frontends with skewed clocks would break).
//!
//! When on, right after a request body is decrypted (PROTOCOL.md 1.7 step 2) its
//! Fernet token is refused with 401 when
//!
//! - its timestamp is more than `requestttl` seconds in the past,
//! - or more than [`MAX_FUTURE_SKEW`] in the future,
//! - or the same token (by its HMAC, see
//!   [`TokenStamp`](authnz_proto::codec::TokenStamp)) was seen before
//!   within the window.
//!
//! The seen-set is a [`ReplayGuard`]: in the process, or in Redis so that a
//! token replayed against another instance is refused too. An entry is kept
//! until the token is too old anyway (`timestamp + requestttl`), so memory
//! is bounded by the request rate times the window.
//!
//! If the guard's store fails, the check **fails open**: the age check still
//! applies, the request goes through, and a warning is logged at most every
//! [`WARN_EVERY`](crate::limiter::WARN_EVERY).

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{Clock, ReplayGuard};
use chrono::{DateTime, NaiveDateTime, TimeDelta};

use crate::limiter::WARN_EVERY;
use authnz_core::warn_gate::WarnGate;
use authnz_proto::codec::TokenStamp;

/// How far in the future a token's timestamp may be (sender clock ahead).
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5);

/// Why a token was refused (all are 401 on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("request token is older than requestttl")]
    TooOld,
    #[error("request token is dated in the future")]
    InTheFuture,
    #[error("request token was seen before (replay)")]
    Replayed,
}

/// The replay check of one server.
#[derive(Debug)]
pub struct ReplayCheck {
    ttl: Duration,
    guard: Arc<dyn ReplayGuard>,
    clock: Arc<dyn Clock>,
    warn: WarnGate,
}

impl ReplayCheck {
    /// Refuse tokens older than `ttl` or seen before in `guard`.
    pub fn new(ttl: Duration, guard: Arc<dyn ReplayGuard>, clock: Arc<dyn Clock>) -> Self {
        Self {
            ttl,
            guard,
            clock,
            warn: WarnGate::new(WARN_EVERY),
        }
    }

    /// Check one verified token; `Ok` lets the request on.
    pub async fn check(&self, stamp: &TokenStamp) -> Result<(), Refused> {
        let now = self.clock.now();
        let issued = i64::try_from(stamp.issued_at)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(|d| d.naive_utc())
            .ok_or(Refused::InTheFuture)?;
        let ttl = TimeDelta::from_std(self.ttl).unwrap_or(TimeDelta::MAX);
        let skew = TimeDelta::from_std(MAX_FUTURE_SKEW).unwrap_or_default();
        if issued > now.checked_add_signed(skew).unwrap_or(NaiveDateTime::MAX) {
            return Err(Refused::InTheFuture);
        }
        let until = issued.checked_add_signed(ttl).unwrap_or(NaiveDateTime::MAX);
        if until <= now {
            return Err(Refused::TooOld);
        }
        match self.guard.first_use(&stamp.id, until, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refused::Replayed),
            Err(e) => {
                if self.warn.ready() {
                    tracing::warn!(
                        error = %e,
                        "replay guard backend failed: request allowed (fail-open)"
                    );
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authnz_api::{ManualClock, MemoryReplayGuard};

    fn stamp(at: i64, id: &str) -> TokenStamp {
        TokenStamp {
            issued_at: u64::try_from(at).unwrap(),
            id: id.to_owned(),
        }
    }

    #[tokio::test]
    async fn age_future_and_replay() {
        let t0 = 1_700_000_000;
        let clock = Arc::new(ManualClock::new(
            DateTime::from_timestamp(t0, 0).unwrap().naive_utc(),
        ));
        let check = ReplayCheck::new(
            Duration::from_secs(60),
            Arc::new(MemoryReplayGuard::default()),
            clock.clone(),
        );
        assert_eq!(check.check(&stamp(t0, "a")).await, Ok(()));
        assert_eq!(check.check(&stamp(t0, "a")).await, Err(Refused::Replayed));
        assert_eq!(check.check(&stamp(t0 - 59, "b")).await, Ok(()));
        assert_eq!(
            check.check(&stamp(t0 - 60, "c")).await,
            Err(Refused::TooOld)
        );
        assert_eq!(check.check(&stamp(t0 + 5, "d")).await, Ok(()));
        assert_eq!(
            check.check(&stamp(t0 + 6, "e")).await,
            Err(Refused::InTheFuture)
        );
        // Still refused as a replay until it is too old, then as too old.
        clock.advance(TimeDelta::seconds(59));
        assert_eq!(check.check(&stamp(t0, "a")).await, Err(Refused::Replayed));
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(check.check(&stamp(t0, "a")).await, Err(Refused::TooOld));
        assert_eq!(
            check.check(&stamp(i64::MAX, "f")).await,
            Err(Refused::InTheFuture)
        );
    }
}
