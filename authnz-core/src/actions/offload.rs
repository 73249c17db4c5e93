//! Runs the CPU-bound checks on client input (the password policy, the
//! sign-up e-mail and full-name rules) off the async workers.
//!
//! Every check is bounded by input caps (see `validate::password` and
//! `validate::suffix`), so one call costs at most a few milliseconds; but a
//! few milliseconds on an async worker still delay every other request that
//! worker owns, and a flood of them would add up. So the checks run on
//! tokio's blocking threads, at most [`max_concurrent`] at a time; further
//! callers wait asynchronously for a permit, holding no thread.
//!
//! Why not the Argon2 pool (`passwords.rs`): its threads are few, niced and
//! busy for hundreds of milliseconds per hash under login load, so a
//! millisecond check queued there would wait behind every pending hash and
//! `user-validatepass` latency would follow login traffic. A separate small
//! bound keeps the checks cheap to wait for while still limiting how many
//! cores they can take. The semaphore is process-wide because the limit is
//! about the machine's cores, not about one server instance.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use super::ActionError;

/// At most this many checks run at once: the number of cores, between 1
/// and 4.
pub fn max_concurrent() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4)
}

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(max_concurrent()))
}

/// Runs `check` on a blocking thread once a permit is free.
pub async fn run<T: Send + 'static>(
    check: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ActionError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| ActionError::internal("input check permits", e))?;
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| ActionError::internal("input check", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_off_the_calling_thread() {
        let caller = std::thread::current().id();
        let ran_on = run(|| std::thread::current().id()).await;
        assert!(matches!(ran_on, Ok(id) if id != caller));
    }

    /// A check that panics is an internal error that keeps the join error
    /// (and so the panic) as its source, not just a text.
    #[tokio::test(flavor = "current_thread")]
    #[allow(clippy::panic, clippy::unwrap_used)]
    async fn a_failed_check_keeps_its_source() {
        let e = run(|| -> u8 { panic!("check blew up") }).await.unwrap_err();
        assert!(
            matches!(
                e,
                ActionError::Internal {
                    what: "input check",
                    ..
                }
            ),
            "{e:?}"
        );
        let source = std::error::Error::source(&e).expect("the join error is kept");
        let join = source
            .downcast_ref::<tokio::task::JoinError>()
            .expect("a tokio join error");
        assert!(join.is_panic());
    }

    #[test]
    fn bound_is_small() {
        assert!((1..=4).contains(&max_concurrent()));
    }
}
