//! The [`SecondFactorStore`](crate::SecondFactorStore) contract: TOTP
//! authenticators, recovery codes, login tickets, passkeys and passkey
//! challenges.
//!
//! A harness offers the store through
//! [`Harness::second_factors`](super::Harness::second_factors);
//! [`second_factor_store_tests!`](crate::second_factor_store_tests) runs
//! these tests on it, with the other stores of the same backend (users
//! must exist first).

use std::sync::Arc;

use super::Stores;
use super::fixtures::{assert_conflict, assert_invalid_reference, at, create, seed};
use crate::second_factor::{
    LoginTicket, NewPasskey, PasskeyChallenge, PasskeyRecord, SecondFactorStore, TotpRecord,
};

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

fn passkey(tag: &str, user_id: i64, created_secs: i64) -> NewPasskey {
    NewPasskey {
        user_id,
        // Credential ids may be long (up to 1023 bytes, base64url).
        credential_id: format!("{tag}-{}", "Q".repeat(1300)),
        user_handle: format!("{:0>32}", user_id),
        name: format!("key {tag} ✓"),
        passkey_json: format!(r#"{{"cred":"{tag}","pad":"{}"}}"#, "x".repeat(2000)),
        sign_count: 0,
        created: at(created_secs),
    }
}

fn challenge(tag: &str, user_id: Option<i64>, expires_secs: i64) -> PasskeyChallenge {
    PasskeyChallenge {
        challenge_hash: format!("{tag:c<64}"),
        user_id,
        kind: "login".to_owned(),
        state_json: format!(r#"{{"state":"{tag}"}}"#),
        expires: at(expires_secs),
    }
}

/// Passkeys round-trip (by user, oldest first, and by credential id); a
/// credential id is stored once over all users; an unknown user is an
/// invalid reference; recovery codes given with a passkey replace the
/// user's, atomically with it.
pub async fn passkeys_round_trip(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "pk", at(0)).await;
    let v = create(&stores, "pk-other", at(0)).await;
    assert!(s.passkeys(u).await.expect("list").is_empty());
    assert_eq!(s.passkey_count(u).await.expect("count"), 0);
    let a = passkey("a", u, 1);
    let id_a = s.add_passkey(&a, &hashes("p", 10)).await.expect("add a");
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 10);
    let b = passkey("b", u, 2);
    let id_b = s.add_passkey(&b, &[]).await.expect("add b");
    assert_ne!(id_a, id_b);
    // No codes given: the user's stay.
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 10);
    let want_a = PasskeyRecord {
        passkey_id: id_a,
        user_id: u,
        credential_id: a.credential_id.clone(),
        user_handle: a.user_handle.clone(),
        name: a.name.clone(),
        passkey_json: a.passkey_json.clone(),
        sign_count: 0,
        created: at(1),
        last_used: None,
    };
    let listed = s.passkeys(u).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], want_a);
    assert_eq!(listed[1].passkey_id, id_b);
    assert_eq!(
        s.passkey_by_credential_id(&a.credential_id)
            .await
            .expect("by id"),
        Some(want_a)
    );
    assert_eq!(
        s.passkey_by_credential_id("missing").await.expect("by id"),
        None
    );
    assert_eq!(s.passkey_count(u).await.expect("count"), 2);
    // The same credential for another user: refused, nothing written
    // (not even the codes given with it).
    let mut dup = passkey("a", v, 3);
    dup.name = "dup".to_owned();
    assert_conflict(
        s.add_passkey(&dup, &hashes("d", 2)).await,
        "duplicate credential",
    );
    assert_eq!(s.passkey_count(v).await.expect("count"), 0);
    assert_eq!(s.recovery_codes_left(v).await.expect("left"), 0);
    assert_invalid_reference(
        s.add_passkey(&passkey("z", 999, 1), &[]).await,
        "unknown user",
    );
    assert_eq!(
        s.passkey_by_credential_id(&passkey("z", 999, 1).credential_id)
            .await
            .expect("by id"),
        None
    );
}

/// A login with a passkey is recorded only when its counter went up (or
/// stays 0 for an authenticator without one); of concurrent logins with
/// one counter value, one is recorded.
pub async fn passkey_counter_only_goes_up(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "count", at(0)).await;
    let id = s.add_passkey(&passkey("c", u, 1), &[]).await.expect("add");
    assert!(
        s.use_passkey(id, "{\"n\":0}", 0, at(5))
            .await
            .expect("zero")
    );
    let got = s.passkeys(u).await.expect("list").remove(0);
    assert_eq!((got.sign_count, got.last_used), (0, Some(at(5))));
    assert_eq!(got.passkey_json, "{\"n\":0}");
    assert!(s.use_passkey(id, "{\"n\":7}", 7, at(6)).await.expect("up"));
    assert!(
        !s.use_passkey(id, "{\"n\":7}", 7, at(7))
            .await
            .expect("same")
    );
    assert!(
        !s.use_passkey(id, "{\"n\":3}", 3, at(7))
            .await
            .expect("down")
    );
    assert!(
        !s.use_passkey(id, "{\"n\":0}", 0, at(7))
            .await
            .expect("back to 0")
    );
    assert!(
        !s.use_passkey(id + 1000, "{}", 9, at(7))
            .await
            .expect("missing")
    );
    let got = s.passkeys(u).await.expect("list").remove(0);
    assert_eq!((got.sign_count, got.last_used), (7, Some(at(6))));
    assert_eq!(got.passkey_json, "{\"n\":7}");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.use_passkey(id, "{}", 8, at(8)).await.expect("use") })
        })
        .collect();
    let mut recorded = 0;
    for t in tasks {
        recorded += usize::from(t.await.expect("task"));
    }
    assert_eq!(recorded, 1);
    assert!(
        s.use_passkey(id, "{}", 4_000_000_000, at(9))
            .await
            .expect("u32 max range")
    );
}

/// Deleting passkeys: only the user's own; the recovery codes go with the
/// last second factor (no passkey left and no enabled TOTP), and stay while
/// one is left; disabling TOTP keeps them while a passkey is left.
pub async fn passkeys_deleted_with_their_codes(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "del", at(0)).await;
    let v = create(&stores, "del-other", at(0)).await;
    let a = s
        .add_passkey(&passkey("a", u, 1), &hashes("a", 3))
        .await
        .expect("add");
    let b = s.add_passkey(&passkey("b", u, 1), &[]).await.expect("add");
    let w = s.add_passkey(&passkey("w", v, 1), &[]).await.expect("add");
    assert!(!s.delete_passkey(u, w).await.expect("other user's"));
    assert_eq!(s.passkey_count(v).await.expect("count"), 1);
    assert!(s.delete_passkey(u, a).await.expect("delete"));
    assert!(!s.delete_passkey(u, a).await.expect("again"));
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 3);
    assert!(s.delete_passkey(u, b).await.expect("delete last"));
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 0);

    // With TOTP enabled, the codes outlive the passkeys; then disabling
    // TOTP while a passkey is left keeps them too.
    s.put_pending_totp(u, "v1.t", at(2)).await.expect("put");
    s.enable_totp(u, "v1.t", 1, &hashes("t", 4))
        .await
        .expect("enable");
    let c = s.add_passkey(&passkey("c", u, 3), &[]).await.expect("add");
    assert!(s.delete_passkey(u, c).await.expect("delete"));
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 4);
    s.add_passkey(&passkey("d", u, 3), &[]).await.expect("add");
    s.add_passkey(&passkey("e", u, 3), &[]).await.expect("add");
    assert_eq!(s.delete_totp(u).await.expect("disable"), 1);
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 4);
    assert_eq!(s.delete_passkeys(u).await.expect("delete all"), 2);
    assert_eq!(s.passkey_count(u).await.expect("count"), 0);
    assert_eq!(s.recovery_codes_left(u).await.expect("left"), 0);
    assert_eq!(s.delete_passkeys(u).await.expect("none left"), 0);
    assert_eq!(s.passkey_count(v).await.expect("count"), 1);
}

/// Challenges are taken once while valid (`expires` exclusive), replaced by
/// one with the same hash, refused for an unknown user, cleaned up when
/// expired, and go with their user (as the user's passkeys do).
pub async fn passkey_challenges_taken_once(stores: Stores, s: Arc<dyn SecondFactorStore>) {
    seed(&stores).await;
    let u = create(&stores, "chal", at(0)).await;
    let anon = challenge("anon", None, 300);
    s.put_passkey_challenge(&anon).await.expect("put");
    assert_eq!(
        s.take_passkey_challenge(&anon.challenge_hash, at(300))
            .await
            .expect("expired"),
        None
    );
    assert_eq!(
        s.take_passkey_challenge(&anon.challenge_hash, at(299))
            .await
            .expect("take"),
        Some(anon.clone())
    );
    assert_eq!(
        s.take_passkey_challenge(&anon.challenge_hash, at(1))
            .await
            .expect("again"),
        None
    );
    let mut mine = challenge("mine", Some(u), 300);
    s.put_passkey_challenge(&mine).await.expect("put");
    mine.state_json = "{\"replaced\":true}".to_owned();
    mine.kind = "second-factor".to_owned();
    s.put_passkey_challenge(&mine).await.expect("replace");
    assert_eq!(
        s.take_passkey_challenge(&mine.challenge_hash, at(1))
            .await
            .expect("take"),
        Some(mine.clone())
    );
    assert_invalid_reference(
        s.put_passkey_challenge(&challenge("ghost", Some(999), 300))
            .await,
        "unknown user",
    );
    let race = challenge("race", Some(u), 300);
    s.put_passkey_challenge(&race).await.expect("put");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            let hash = race.challenge_hash.clone();
            tokio::spawn(async move {
                s.take_passkey_challenge(&hash, at(1))
                    .await
                    .expect("take")
                    .is_some()
            })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        taken += usize::from(t.await.expect("task"));
    }
    assert_eq!(taken, 1);

    for (tag, exp) in [("e1", 10), ("e2", 20), ("v1", 30)] {
        s.put_passkey_challenge(&challenge(tag, Some(u), exp))
            .await
            .expect("put");
    }
    s.put_passkey_challenge(&challenge("e3", None, 15))
        .await
        .expect("put");
    assert_eq!(
        s.delete_passkey_challenges_expired(at(20))
            .await
            .expect("cleanup"),
        3
    );
    let valid = challenge("v1", Some(u), 30);
    let kept = challenge("kept", Some(u), 30);
    s.put_passkey_challenge(&kept).await.expect("put");
    s.add_passkey(&passkey("k", u, 1), &hashes("k", 1))
        .await
        .expect("add");
    assert_eq!(stores.users.delete_user(u).await.expect("delete user"), 1);
    for c in [&valid, &kept] {
        assert_eq!(
            s.take_passkey_challenge(&c.challenge_hash, at(21))
                .await
                .expect("take"),
            None
        );
    }
    assert!(s.passkeys(u).await.expect("list").is_empty());
    assert_eq!(
        s.passkey_by_credential_id(&passkey("k", u, 1).credential_id)
            .await
            .expect("by id"),
        None
    );
}
