//! The session cleanup task (spec 7.7): at start-up and then about every 24
//! hours (±10 % jitter), delete sessions that expired more than
//! `sessionexpiry` days ago. Sessions stop working at their own `expires`
//! anyway; this only bounds how long dead rows are kept.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{Clock, SessionStore};
use chrono::TimeDelta;
use rand::Rng as _;

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

/// Spawn the periodic task. The first run happens immediately.
pub fn spawn(
    sessions: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    keep_days: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            run_once(sessions.as_ref(), clock.as_ref(), keep_days).await;
            let jitter = rand::rng().random_range(-0.1..=0.1);
            let secs = 86_400.0 * (1.0 + jitter);
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    })
}
