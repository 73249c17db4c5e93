//! Waiting, as a trait: the login back-off (PROTOCOL.md 4.2), the automatic-unlock
//! timers and the breach-check pause all sleep through a [`Sleeper`] held by
//! the context, so tests replace real time with a [`ManualSleeper`] and check
//! each requested delay without waiting for it.
//!
//! A sleep is an `async` wait on the tokio timer: it holds no worker thread
//! and no lock, so other requests are served meanwhile.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

/// Something that can wait for a duration.
#[async_trait]
pub trait Sleeper: Send + Sync + std::fmt::Debug + 'static {
    /// Return after `duration` (or, for test sleepers, when released).
    async fn sleep(&self, duration: Duration);
}

/// The real timer: `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A sleeper for tests: records every requested duration and returns at once,
/// or, while [`ManualSleeper::hold`] is in effect, waits until
/// [`ManualSleeper::release`].
#[derive(Debug)]
pub struct ManualSleeper {
    requested: Mutex<Vec<Duration>>,
    /// `true` while sleeps are held.
    held: watch::Sender<bool>,
    /// Sleeps currently waiting.
    waiting: watch::Sender<usize>,
}

impl Default for ManualSleeper {
    fn default() -> Self {
        Self {
            requested: Mutex::new(Vec::new()),
            held: watch::Sender::new(false),
            waiting: watch::Sender::new(0),
        }
    }
}

impl ManualSleeper {
    /// A sleeper that returns at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every duration requested so far, in order.
    pub fn requested(&self) -> Vec<Duration> {
        self.requested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forget the recorded durations.
    pub fn clear(&self) {
        self.requested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// From now on, sleeps wait until [`ManualSleeper::release`].
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// Let every waiting (and future) sleep return.
    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// Wait until at least `n` sleeps are waiting (while held).
    pub async fn until_waiting(&self, n: usize) {
        let mut rx = self.waiting.subscribe();
        let _ = rx.wait_for(|w| *w >= n).await;
    }
}

#[async_trait]
impl Sleeper for ManualSleeper {
    async fn sleep(&self, duration: Duration) {
        self.requested
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(duration);
        let mut rx = self.held.subscribe();
        if *rx.borrow() {
            self.waiting.send_modify(|w| *w += 1);
            let _ = rx.wait_for(|held| !*held).await;
            self.waiting.send_modify(|w| *w = w.saturating_sub(1));
        }
    }
}
