//! Failed-login back-off and automatic account lock (PROTOCOL.md 4.2), run by the
//! pipeline after `user-login` and `user-passcheck-nosession` (step 7e).
//!
//! Failures are counted per e-mail in the context's
//! [`LoginThrottle`](authnz_api::LoginThrottle) (keyed by a salted hash).
//! Up to `userlocktries` failures are answered after
//! `min(1.5^(n-1), 40)` seconds, waited through the context's
//! [`Sleeper`](crate::sleeper::Sleeper): an async wait holding no thread and
//! no lock. The next failure locks the account through the same toggle as
//! `internal-user-lock`, with its end stored on the user (`locked_until`), and
//! answers with the fixed lock response. A success clears the counter.
//!
//! Every failure first looks the e-mail up (one indexed query, for known
//! and unknown e-mails alike, so timing tells nothing) and records it as an
//! account's failure or an unknown e-mail's
//! ([`LoginThrottle::record_unknown_failure`](authnz_api::LoginThrottle::record_unknown_failure)):
//! a bounded in-process throttle may forget unknown e-mails' counts to make
//! room, but never an account's, so a flood of junk logins cannot reset a
//! victim's count (issue 11). A throttle too full to hold a new account's
//! count answers [`UNTRACKED`], treated as over the limit: the account is
//! locked rather than left uncounted (see the `authnz_api::throttle` module
//! docs for why). A lookup that fails counts the e-mail as unknown: no
//! password can have been checked against a database that does not answer.
//!
//! A lock ends (Q-17 fixed) by whichever comes first: the in-process timer
//! armed when it was set, the next login-like request or lookup touching the
//! user after its end ([`lift_if_expired`]), or the start-up pass over every
//! stored deadline ([`resume`]), so a restart never leaves an account locked.

use std::time::Duration;

use std::sync::LazyLock;

use authnz_api::{StoreError, UNTRACKED, User, UserId};
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;

use crate::actions::internal::{LockAction, restore_role, toggle_lock};
use crate::actions::reply::Reply;
use crate::context::Context;
use crate::warn_gate::WarnGate;

/// At most one warning a minute about a login throttle with no room.
static FULL_WARNING: LazyLock<WarnGate> = LazyLock::new(|| WarnGate::new(Duration::from_secs(60)));

/// At most one warning a minute about failed e-mail lookups (a request can
/// cause one at will, e.g. with a NUL on PostgreSQL).
static LOOKUP_WARNING: LazyLock<WarnGate> =
    LazyLock::new(|| WarnGate::new(Duration::from_secs(60)));

/// The message of the lock response (PROTOCOL.md 4.2).
pub const LOCKED_MESSAGE: &str = "Your user account has been locked after repeated login \
                                  failures. Try again in an hour or contact the server admins.";

/// Longest back-off delay.
pub const MAX_DELAY: Duration = Duration::from_secs(40);

/// Extra wait of an unlock timer past the deadline, so a timer that fires a
/// little early on a drifting wall clock still finds the lock due.
const TIMER_SLACK: Duration = Duration::from_secs(1);

/// The delay after the `failures`-th consecutive failure:
/// `min(1.5^(failures-1), 40)` seconds.
pub fn backoff_delay(failures: u32) -> Duration {
    let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
    let secs = 1.5_f64.powi(exponent.min(64));
    if secs >= MAX_DELAY.as_secs_f64() {
        MAX_DELAY
    } else {
        Duration::from_secs_f64(secs)
    }
}

/// The response that replaces the action's after the lock: no
/// `failure_reason`, so the envelope has none either.
pub fn lock_response() -> Reply {
    Reply::failure_without_reason(&[LOCKED_MESSAGE]).with("user_id", Value::Null)
}

/// Whether `reply` is the password step of a login that now waits for its
/// second factor: neither a failure (the password was right) nor a success
/// (that would clear the count the second step's failures add to), so step
/// 7e leaves the counter alone.
pub fn awaits_second_factor(reply: &Reply) -> bool {
    reply.0.get("failure_reason").and_then(Value::as_str)
        == Some(crate::actions::second_factor::SECOND_FACTOR_REQUIRED)
}

/// Step 7e for one login-like request: `email` is `body.email` as text,
/// `success` the action's (false for a schema failure). Returns the reply
/// that replaces the action's, if any. Never fails: a throttle that cannot
/// be reached means no back-off (logged).
pub async fn after_attempt(ctx: &Context, email: &str, success: bool) -> Option<Reply> {
    let key = ctx.throttle_key(email);
    if success {
        if let Err(e) = ctx.throttle.clear(&key).await {
            tracing::warn!(error = %e, "login throttle: cannot clear the counter");
        }
        return None;
    }
    let user = match ctx.users.user_by_email(email).await {
        Ok(user) => user,
        Err(e) => {
            if LOOKUP_WARNING.ready() {
                tracing::warn!(error = %e, "login throttle: cannot look the e-mail up; counted as unknown");
            }
            None
        }
    };
    let now = ctx.clock.now();
    let recorded = if user.is_some() {
        ctx.throttle.record_failure(&key, now).await
    } else {
        ctx.throttle.record_unknown_failure(&key, now).await
    };
    let failures = match recorded {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "login throttle unavailable; no back-off applied");
            return None;
        }
    };
    if failures == UNTRACKED {
        if FULL_WARNING.ready() {
            tracing::warn!(
                "login throttle full of live counts: failures of accounts it cannot hold lock them at once"
            );
        }
    } else if failures <= ctx.lockout.tries {
        ctx.sleeper.sleep(backoff_delay(failures)).await;
        return None;
    }
    if let Some(user) = user {
        lock_after_failures(ctx, user).await;
    }
    Some(lock_response())
}

/// Lock `user` until `now + userlocktime`.
async fn lock_after_failures(ctx: &Context, user: User) {
    let lock_time = TimeDelta::from_std(ctx.lockout.lock_time).unwrap_or(TimeDelta::MAX);
    let until = ctx
        .clock
        .now()
        .checked_add_signed(lock_time)
        .unwrap_or(NaiveDateTime::MAX);
    match toggle_lock(ctx, user.user_id, LockAction::Lock, Some(until), None).await {
        Ok(change) if change.newly_locked => {
            metrics::counter!("authnz_account_locks_total").increment(1);
            tracing::warn!(user = %ctx.pii(&user.user_id.to_string()), "account locked after repeated login failures");
            schedule_unlock(ctx, user.user_id, until);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "automatic lock failed"),
    }
}

/// Arm the in-process timer that lifts the automatic lock of `user_id` at
/// `until`.
pub fn schedule_unlock(ctx: &Context, user_id: UserId, until: NaiveDateTime) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let wait = (until - ctx.clock.now()).to_std().unwrap_or_default() + TIMER_SLACK;
        ctx.sleeper.sleep(wait).await;
        if let Err(e) = lift_if_due(&ctx, user_id).await {
            tracing::warn!(error = %e, "unlock timer: cannot lift the lock");
        }
    });
}

/// Lift the automatic lock of `user_id` if its time has come. True if lifted.
pub async fn lift_if_due(ctx: &Context, user_id: UserId) -> Result<bool, StoreError> {
    let Some(user) = ctx.users.user_by_id(user_id).await? else {
        return Ok(false);
    };
    lift_user_if_due(ctx, &user).await
}

async fn lift_user_if_due(ctx: &Context, user: &User) -> Result<bool, StoreError> {
    let now = ctx.clock.now();
    if user.locked_until.is_none_or(|t| t > now) {
        return Ok(false);
    }
    let lifted = ctx
        .users
        .lift_lock_if_due(user.user_id, &restore_role(user), now)
        .await?;
    if lifted {
        tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "automatic lock lifted");
        ctx.audit(
            authnz_api::AuditEventType::UserUnlocked,
            authnz_api::AuditOutcome::Ok,
        )
        .subject(user.user_id)
        .reason("automatic")
        .emit();
    }
    Ok(lifted)
}

/// `user` as it is once an expired automatic lock is lifted (re-read when
/// this call lifted it). For requests that touch a user.
pub async fn lift_if_expired(
    ctx: &Context,
    user: Option<User>,
) -> Result<Option<User>, StoreError> {
    match user {
        Some(u) if lift_user_if_due(ctx, &u).await? => ctx.users.user_by_id(u.user_id).await,
        other => Ok(other),
    }
}

/// At start-up: lift every automatic lock that ended while the server was
/// down, and re-arm the timers of the others. Returns (lifted, armed).
pub async fn resume(ctx: &Context) -> Result<(usize, usize), StoreError> {
    let now = ctx.clock.now();
    let (mut lifted, mut armed) = (0, 0);
    for user in ctx.users.users_with_lock_deadline().await? {
        let Some(until) = user.locked_until else {
            continue;
        };
        if until > now {
            schedule_unlock(ctx, user.user_id, until);
            armed += 1;
        } else if lift_user_if_due(ctx, &user).await? {
            lifted += 1;
        }
    }
    Ok((lifted, armed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_half_and_cap_at_forty() {
        let d: Vec<f64> = (1..=12).map(|n| backoff_delay(n).as_secs_f64()).collect();
        let want = [
            1.0,
            1.5,
            2.25,
            3.375,
            5.0625,
            7.59375,
            11.390625,
            17.0859375,
            25.62890625,
            38.443359375,
            40.0,
            40.0,
        ];
        for (got, want) in d.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert_eq!(backoff_delay(u32::MAX), MAX_DELAY);
        assert_eq!(backoff_delay(0), Duration::from_secs(1));
    }
}
