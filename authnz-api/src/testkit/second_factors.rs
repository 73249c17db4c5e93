//! The [`SecondFactorStore`](crate::SecondFactorStore) contract: TOTP
//! authenticators, recovery codes and login tickets.
//!
//! A harness offers the store through
//! [`Harness::second_factors`](super::Harness::second_factors);
//! [`second_factor_store_tests!`](crate::second_factor_store_tests) runs
//! these tests on it, with the other stores of the same backend (users
//! must exist first).

use std::sync::Arc;

use super::Stores;
use super::fixtures::{assert_conflict, assert_invalid_reference, at, create, seed};
use crate::second_factor::{LoginTicket, SecondFactorStore, TotpRecord};

fn hashes(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}{i:0>63}")).collect()
}

fn ticket(tag: &str, user_id: i64, expires_secs: i64) -> LoginTicket {
    LoginTicket {
        ticket_hash: format!("{tag:x<64}"),
        user_id,
        session_hash: format!("{:s<64}", format!("session-{tag}")),
        expires: at(expires_secs),
    }
}

/// A pending authenticator round-trips; a new enrolment replaces it; an
/// unknown user is an invalid reference.
pub async fn pending_totp_round_trips_and_is_replaced(
    stores: Stores,
    s: Arc<dyn SecondFactorStore>,
) {
    seed(&stores).await;
    let u = create(&stores, "pending", at(0)).await;
    assert_eq!(s.totp(u).await.expect("totp"), None);
    let sealed = format!("v1.{}", "a".repeat(120));
    assert!(s.put_pending_totp(u, &sealed, at(1)).await.expect("put"));
    let want = TotpRecord {
        user_id: u,
        sealed_secret: sealed,
        enabled: false,
        last_step: None,
        created: at(1),
    };
    assert_eq!(s.totp(u).await.expect("totp"), Some(want));
    assert!(s.put_pending_totp(u, "v1.other", at(2)).await.expect("put"));
    let got = s.totp(u).await.expect("totp").expect("pending");
    assert_eq!(
        (got.sealed_secret.as_str(), got.created),
        ("v1.other", at(2))
    );
    assert_invalid_reference(s.put_pending_totp(999, "v1.x", at(1)).await, "unknown user");
    assert_eq!(s.totp(999).await.expect("totp"), None);
}

/// Enabling needs the very pending secret; it records the step and the
/// recovery codes; an enabled authenticator is not replaced by an
/// enrolment, nor enabled twice.
pub async fn enable_needs_the_pending_secret(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "enable", at(0)).await;
    let codes = hashes("c", 10);
    assert!(
        !s.enable_totp(u, "v1.none", 5, &codes)
            .await
            .expect("enable")
    );
    s.put_pending_totp(u, "v1.first", at(1)).await.expect("put");
    s.put_pending_totp(u, "v1.second", at(2))
        .await
        .expect("put");
    assert!(
        !s.enable_totp(u, "v1.first", 5, &codes)
            .await
            .expect("enable replaced")
    );
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 0);
    assert!(
        s.enable_totp(u, "v1.second", 5, &codes)
            .await
            .expect("enable")
    );
    let got = s.totp(u).await.expect("totp").expect("enabled");
    assert!(got.enabled);
    assert_eq!(got.last_step, Some(5));
    assert_eq!(got.sealed_secret, "v1.second");
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 10);
    assert!(
        !s.enable_totp(u, "v1.second", 6, &codes)
            .await
            .expect("enable twice")
    );
    assert!(
        !s.put_pending_totp(u, "v1.third", at(3))
            .await
            .expect("put over enabled")
    );
    let got = s.totp(u).await.expect("totp").expect("enabled");
    assert_eq!(
        (got.sealed_secret.as_str(), got.enabled),
        ("v1.second", true)
    );
}

/// Steps are accepted only when later than the last, and only on an
/// enabled authenticator.
pub async fn steps_accepted_once_in_order(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "steps", at(0)).await;
    assert!(!s.accept_totp_step(u, 1).await.expect("none"));
    s.put_pending_totp(u, "v1.s", at(1)).await.expect("put");
    assert!(!s.accept_totp_step(u, 1).await.expect("pending"));
    s.enable_totp(u, "v1.s", 100, &[]).await.expect("enable");
    assert!(!s.accept_totp_step(u, 100).await.expect("same step"));
    assert!(!s.accept_totp_step(u, 99).await.expect("earlier step"));
    assert!(s.accept_totp_step(u, 101).await.expect("next step"));
    assert!(!s.accept_totp_step(u, 101).await.expect("replayed"));
    assert!(s.accept_totp_step(u, 60_000_000_000).await.expect("large"));
    let got = s.totp(u).await.expect("totp").expect("enabled");
    assert_eq!(got.last_step, Some(60_000_000_000));
}

/// Of many concurrent requests with one step, exactly one is accepted.
pub async fn concurrent_step_accepted_once(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "race", at(0)).await;
    s.put_pending_totp(u, "v1.r", at(1)).await.expect("put");
    s.enable_totp(u, "v1.r", 1, &[]).await.expect("enable");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.accept_totp_step(u, 2).await.expect("accept") })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.expect("task"));
    }
    assert_eq!(accepted, 1);
}

/// Recovery codes are used once each, per user; enabling again replaces
/// them; deleting the authenticator removes them.
pub async fn recovery_codes_single_use(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "codes", at(0)).await;
    let v = create(&stores, "other", at(0)).await;
    let codes = hashes("r", 3);
    s.put_pending_totp(u, "v1.c", at(1)).await.expect("put");
    s.enable_totp(u, "v1.c", 1, &codes).await.expect("enable");
    assert!(!s.use_recovery_code(v, &codes[0]).await.expect("other user"));
    assert!(s.use_recovery_code(u, &codes[0]).await.expect("use"));
    assert!(!s.use_recovery_code(u, &codes[0]).await.expect("reuse"));
    assert!(!s.use_recovery_code(u, "unknown").await.expect("unknown"));
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 2);
    assert_eq!(s.delete_totp(u).await.expect("delete"), 1);
    assert_eq!(s.delete_totp(u).await.expect("delete again"), 0);
    assert_eq!(s.totp(u).await.expect("totp"), None);
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 0);
    assert!(!s.use_recovery_code(u, &codes[1]).await.expect("gone"));
    // A new enrolment brings a new set, replacing any left.
    s.put_pending_totp(u, "v1.d", at(2)).await.expect("put");
    s.enable_totp(u, "v1.d", 1, &codes[..1])
        .await
        .expect("enable");
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 1);
    s.put_pending_totp(v, "v1.e", at(2)).await.expect("put");
    s.enable_totp(v, "v1.e", 1, &codes)
        .await
        .expect("same hashes, other user");
    assert_eq!(s.recovery_codes_left(v).await.expect("left"), 3);
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 1);
}

/// Tickets round-trip, expire at `expires` (exclusive), are used once, and
/// refuse duplicates and unknown users.
pub async fn login_tickets_expire_and_are_used_once(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "ticket", at(0)).await;
    let t = ticket("a", u, 300);
    s.create_login_ticket(&t).await.expect("create");
    assert_conflict(s.create_login_ticket(&t).await, "duplicate ticket");
    assert_invalid_reference(
        s.create_login_ticket(&ticket("b", 999, 300)).await,
        "unknown user",
    );
    assert_eq!(
        s.login_ticket(&t.ticket_hash, at(299)).await.expect("read"),
        Some(t.clone())
    );
    assert_eq!(
        s.login_ticket(&t.ticket_hash, at(300)).await.expect("read"),
        None
    );
    assert_eq!(s.login_ticket("missing", at(0)).await.expect("read"), None);
    assert!(
        !s.consume_login_ticket(&t.ticket_hash, at(300))
            .await
            .expect("expired")
    );
    assert!(
        s.consume_login_ticket(&t.ticket_hash, at(299))
            .await
            .expect("use")
    );
    assert!(
        !s.consume_login_ticket(&t.ticket_hash, at(1))
            .await
            .expect("reuse")
    );
    assert_eq!(
        s.login_ticket(&t.ticket_hash, at(1)).await.expect("read"),
        None
    );
}

/// Expired tickets are deleted; valid ones stay; a user's go with the user.
pub async fn login_tickets_cleanup_and_cascade(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "clean", at(0)).await;
    for (tag, exp) in [("e1", 10), ("e2", 20), ("v1", 30)] {
        s.create_login_ticket(&ticket(tag, u, exp))
            .await
            .expect("create");
    }
    assert_eq!(
        s.delete_login_tickets_expired(at(20))
            .await
            .expect("cleanup"),
        2
    );
    let valid = ticket("v1", u, 30);
    assert!(
        s.login_ticket(&valid.ticket_hash, at(21))
            .await
            .expect("read")
            .is_some()
    );
    s.put_pending_totp(u, "v1.x", at(1)).await.expect("put");
    s.enable_totp(u, "v1.x", 1, &hashes("z", 2))
        .await
        .expect("enable");
    assert_eq!(stores.users.delete_user(u).await.expect("delete user"), 1);
    assert_eq!(
        s.login_ticket(&valid.ticket_hash, at(21))
            .await
            .expect("read"),
        None
    );
    assert_eq!(s.totp(u).await.expect("totp"), None);
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 0);
}
