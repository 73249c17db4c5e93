//! The source of "now" for every decision that depends on time.
//!
//! All timestamps in authnz are naive UTC with microsecond precision (PROTOCOL.md 1.6),
//! so a clock hands out [`chrono::NaiveDateTime`] values already truncated to
//! microseconds.

use std::sync::Mutex;

use chrono::{NaiveDateTime, TimeDelta, Utc};

use crate::time::truncate_micros;

/// Something that tells the current UTC time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Current naive UTC time, truncated to microseconds.
    fn now(&self) -> NaiveDateTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        truncate_micros(Utc::now().naive_utc())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<NaiveDateTime>,
}

impl ManualClock {
    /// A manual clock starting at `start`.
    pub fn new(start: NaiveDateTime) -> Self {
        Self {
            now: Mutex::new(truncate_micros(start)),
        }
    }

    /// A manual clock starting at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Move the clock forward (or backward, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = truncate_micros(*now + by);
    }

    /// Set the clock to an absolute time.
    pub fn set(&self, to: NaiveDateTime) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now = truncate_micros(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}
