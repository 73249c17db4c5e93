//! The session cleanup task (PROTOCOL.md 7.7), and on the same schedule the
//! audit log's retention cleanup and the removal of ended login tickets and
//! passkey ceremonies. Sessions: at start-up and then about every 24
//! hours (±10 % jitter), delete sessions that expired more than
//! `sessionexpiry` days ago. Sessions stop working at their own `expires`
//! anyway; this only bounds how long dead rows are kept.
//!
//! The wait between runs goes through the [`Sleeper`] (the real timer in
//! the server), like every other deliberate wait, so a test sees each
//! requested period and decides when it ends.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{AuditStore, Clock, SecondFactorStore, SessionStore};
use chrono::TimeDelta;
use rand::Rng as _;

use authnz_core::sleeper::Sleeper;

/// The nominal period between runs (24 hours).
pub const PERIOD: Duration = Duration::from_secs(86_400);

/// Delete sessions expired more than `keep_days` days before now.
pub async fn run_once(sessions: &dyn SessionStore, clock: &dyn Clock, keep_days: i64) -> u64 {
    let cutoff = clock.now() - TimeDelta::days(keep_days);
    match sessions.delete_sessions_expired_before(cutoff).await {
        Ok(n) => {
            tracing::info!(deleted = n, "session cleanup");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "session cleanup failed; will retry next period");
            0
        }
    }
}

/// Delete audit events older than `keep_days` days (the retention cleanup
/// of `auditretention`; the store deletes in batches).
pub async fn run_audit_once(audit: &dyn AuditStore, clock: &dyn Clock, keep_days: i64) -> u64 {
    let cutoff = clock.now() - TimeDelta::days(keep_days);
    match audit.delete_audit_events_before(cutoff).await {
        Ok(n) => {
            tracing::info!(deleted = n, "audit log retention cleanup");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "audit log retention cleanup failed; will retry next period");
            0
        }
    }
}

/// Delete ended login tickets and passkey ceremonies (`expires` not later
/// than now; they are refused from then on anyway, and the requests that
/// make new ones sweep them too). Returns the rows deleted.
pub async fn run_second_factors_once(store: &dyn SecondFactorStore, clock: &dyn Clock) -> u64 {
    let now = clock.now();
    let mut deleted = 0;
    match store.delete_login_tickets_expired(now).await {
        Ok(n) => deleted += n,
        Err(e) => tracing::warn!(error = %e, "login ticket cleanup failed; will retry next period"),
    }
    match store.delete_passkey_challenges_expired(now).await {
        Ok(n) => deleted += n,
        Err(e) => {
            tracing::warn!(error = %e, "passkey ceremony cleanup failed; will retry next period")
        }
    }
    tracing::info!(deleted, "login ticket and passkey ceremony cleanup");
    deleted
}

/// Spawn the periodic cleanup of ended login tickets and passkey
/// ceremonies, on the same schedule as the session cleanup.
pub fn spawn_second_factors(
    store: Arc<dyn SecondFactorStore>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            run_second_factors_once(store.as_ref(), clock.as_ref()).await;
            sleeper.sleep(next_wait()).await;
        }
    })
}

/// Spawn the periodic retention cleanup of the audit log, on the same
/// schedule as the session cleanup.
pub fn spawn_audit(
    audit: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    keep_days: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            run_audit_once(audit.as_ref(), clock.as_ref(), keep_days).await;
            sleeper.sleep(next_wait()).await;
        }
    })
}

/// The wait before the next run: [`PERIOD`] ±10 %.
pub fn next_wait() -> Duration {
    let jitter = rand::rng().random_range(-0.1..=0.1);
    PERIOD.mul_f64(1.0 + jitter)
}

/// Spawn the periodic task. The first run happens immediately; every wait
/// is `sleeper.sleep(next_wait())`.
pub fn spawn(
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    keep_days: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            run_once(sessions.as_ref(), clock.as_ref(), keep_days).await;
            sleeper.sleep(next_wait()).await;
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use authnz_api::{ManualClock, Session, StoreError, User, UserId};
    use chrono::NaiveDateTime;

    use super::*;

    /// Records the cut-off of every cleanup; nothing else is called.
    #[derive(Debug, Default)]
    struct Cutoffs(Mutex<Vec<NaiveDateTime>>);

    impl Cutoffs {
        fn seen(&self) -> Vec<NaiveDateTime> {
            self.0.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl SessionStore for Cutoffs {
        async fn create_session(&self, _: &Session) -> Result<(), StoreError> {
            panic!("not used by the cleanup")
        }
        async fn active_session(
            &self,
            _: &str,
            _: NaiveDateTime,
        ) -> Result<Option<(Session, User)>, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn delete_session(&self, _: &str) -> Result<u64, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn delete_user_session(&self, _: UserId, _: &str) -> Result<u64, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn delete_user_sessions(
            &self,
            _: UserId,
            _: Option<&str>,
        ) -> Result<u64, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn user_sessions(
            &self,
            _: UserId,
            _: NaiveDateTime,
        ) -> Result<Vec<Session>, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn set_session_extra(
            &self,
            _: &str,
            _: Option<&serde_json::Value>,
            _: NaiveDateTime,
        ) -> Result<u64, StoreError> {
            panic!("not used by the cleanup")
        }
        async fn delete_sessions_expired_before(
            &self,
            before: NaiveDateTime,
        ) -> Result<u64, StoreError> {
            self.0.lock().unwrap().push(before);
            Ok(0)
        }
    }

    /// A sleeper that lets one period end per [`Steps::step`]: it records
    /// each requested wait and counts the waits begun. (The shared
    /// [`authnz_core::sleeper::ManualSleeper`] releases every wait at once, and a
    /// released cleanup loop would spin.)
    #[derive(Debug)]
    struct Steps {
        asked: Mutex<Vec<Duration>>,
        go: tokio::sync::Semaphore,
        begun: tokio::sync::watch::Sender<usize>,
    }

    impl Steps {
        fn new() -> Self {
            Steps {
                asked: Mutex::new(Vec::new()),
                go: tokio::sync::Semaphore::new(0),
                begun: tokio::sync::watch::Sender::new(0),
            }
        }

        async fn until_begun(&self, n: usize) {
            let _ = self.begun.subscribe().wait_for(|b| *b >= n).await;
        }

        fn step(&self) {
            self.go.add_permits(1);
        }
    }

    #[async_trait]
    impl Sleeper for Steps {
        async fn sleep(&self, duration: Duration) {
            self.asked.lock().unwrap().push(duration);
            self.begun.send_modify(|b| *b += 1);
            self.go.acquire().await.unwrap().forget();
        }
    }

    /// Waits a jittered day through the sleeper, then runs again with the
    /// clock's new time; no real time passes.
    #[tokio::test(flavor = "current_thread")]
    async fn waits_through_the_sleeper() {
        let store = Arc::new(Cutoffs::default());
        let clock = Arc::new(ManualClock::starting_now());
        let sleeper = Arc::new(Steps::new());
        let task = spawn(store.clone(), clock.clone(), sleeper.clone(), 30);
        sleeper.until_begun(1).await;
        let first = clock.now() - TimeDelta::days(30);
        assert_eq!(store.seen(), [first], "the first run is immediate");
        let asked = sleeper.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(
            asked[0] >= PERIOD.mul_f64(0.9) && asked[0] <= PERIOD.mul_f64(1.1),
            "{asked:?}"
        );

        clock.advance(TimeDelta::days(1));
        sleeper.step();
        sleeper.until_begun(2).await;
        assert_eq!(
            store.seen(),
            [first, first + TimeDelta::days(1)],
            "the second run uses the clock's time"
        );
        task.abort();
    }
}
