//! The [`OAuthStore`](crate::OAuthStore) contract: linked identities and
//! login states of the social login.
//!
//! A harness offers the store through [`Harness::oauth`](super::Harness::oauth);
//! [`oauth_store_tests!`](crate::oauth_store_tests) runs these tests on it.

use std::sync::Arc;

use super::Stores;
use super::fixtures::{assert_conflict, assert_invalid_reference, at, create, plus_micros, seed};
use crate::oauth::{OAuthIdentity, OAuthState, OAuthStore};
use crate::types::UserId;

fn state(value: &str, expires_secs: i64) -> OAuthState {
    OAuthState {
        state: value.to_owned(),
        provider: "test-provider".to_owned(),
        session_token: format!("{value:-<43}").chars().take(43).collect(),
        pkce_verifier: "v".repeat(128),
        nonce: "n".repeat(128),
        redirect_uri: "https://app.example.org/oauth/callback?x=1&y=é".to_owned(),
        expires: at(expires_secs),
    }
}

fn identity(provider: &str, subject: &str, user_id: UserId) -> OAuthIdentity {
    OAuthIdentity {
        provider: provider.to_owned(),
        subject: subject.to_owned(),
        user_id,
        created: at(1),
    }
}

/// A state round-trips through `take`, once: the second take finds nothing.
pub async fn state_taken_once(_: Stores, s: Arc<dyn OAuthStore>) {
    let mut st = state(&"s".repeat(64), 600);
    st.expires = plus_micros(at(600), 123_457);
    s.add_oauth_state(&st).await.expect("add");
    assert_eq!(
        s.take_oauth_state(&st.state).await.expect("take"),
        Some(st.clone())
    );
    assert_eq!(
        s.take_oauth_state(&st.state).await.expect("take again"),
        None
    );
    assert_eq!(
        s.take_oauth_state("missing").await.expect("take missing"),
        None
    );
}

/// An expired state is still returned by `take` (the caller judges expiry).
pub async fn expired_state_is_returned(_: Stores, s: Arc<dyn OAuthStore>) {
    let st = state("old", -10);
    s.add_oauth_state(&st).await.expect("add");
    assert_eq!(s.take_oauth_state("old").await.expect("take"), Some(st));
}

/// A duplicate state value conflicts and keeps the first.
pub async fn duplicate_state_conflicts(_: Stores, s: Arc<dyn OAuthStore>) {
    let first = state("dup", 600);
    s.add_oauth_state(&first).await.expect("add");
    let mut second = state("dup", 700);
    second.nonce = "other".into();
    assert_conflict(s.add_oauth_state(&second).await, "duplicate state");
    assert_eq!(s.take_oauth_state("dup").await.expect("take"), Some(first));
}

/// Purging removes exactly the states expired before the instant.
pub async fn purge_removes_expired_states(_: Stores, s: Arc<dyn OAuthStore>) {
    for st in [state("a", 10), state("b", 20), state("c", 30)] {
        s.add_oauth_state(&st).await.expect("add");
    }
    assert_eq!(
        s.delete_oauth_states_expired_before(at(20))
            .await
            .expect("purge"),
        1
    );
    assert_eq!(s.take_oauth_state("a").await.expect("take a"), None);
    assert!(s.take_oauth_state("b").await.expect("take b").is_some());
    assert!(s.take_oauth_state("c").await.expect("take c").is_some());
}

/// Identities round-trip, are listed by provider, and one per provider per
/// user; a (provider, subject) is linked at most once.
pub async fn identities_link_and_list(stores: Stores, s: Arc<dyn OAuthStore>) {
    seed(&stores).await;
    let alice = create(&stores, "alice", at(0)).await;
    let bob = create(&stores, "bob", at(0)).await;
    let sub = "x".repeat(255);
    let a1 = identity("zeta", &sub, alice);
    let a2 = identity("alpha", "1234", alice);
    s.add_oauth_identity(&a1).await.expect("add a1");
    s.add_oauth_identity(&a2).await.expect("add a2");
    assert_eq!(
        s.oauth_identity("zeta", &sub).await.expect("lookup"),
        Some(a1.clone())
    );
    assert_eq!(s.oauth_identity("alpha", &sub).await.expect("lookup"), None);
    assert_eq!(
        s.user_oauth_identities(alice).await.expect("list"),
        vec![a2.clone(), a1.clone()]
    );
    assert_eq!(s.user_oauth_identities(bob).await.expect("list"), vec![]);
    // The same subject again, for another user: a conflict.
    assert_conflict(
        s.add_oauth_identity(&identity("zeta", &sub, bob)).await,
        "same identity twice",
    );
    // A second identity of alice at the same provider: a conflict.
    assert_conflict(
        s.add_oauth_identity(&identity("alpha", "5678", alice))
            .await,
        "two identities at one provider",
    );
    assert_eq!(s.user_oauth_identities(bob).await.expect("list"), vec![]);
}

/// An identity of a missing user is refused.
pub async fn identity_of_missing_user_refused(_: Stores, s: Arc<dyn OAuthStore>) {
    assert_invalid_reference(
        s.add_oauth_identity(&identity("p", "s", 424_242)).await,
        "identity of a missing user",
    );
    assert_eq!(s.oauth_identity("p", "s").await.expect("lookup"), None);
}

/// Unlinking removes exactly one identity; deleting the user removes all.
pub async fn unlink_and_user_delete(stores: Stores, s: Arc<dyn OAuthStore>) {
    seed(&stores).await;
    let alice = create(&stores, "alice", at(0)).await;
    s.add_oauth_identity(&identity("p1", "s1", alice))
        .await
        .expect("add");
    s.add_oauth_identity(&identity("p2", "s2", alice))
        .await
        .expect("add");
    assert_eq!(s.delete_oauth_identity(alice, "p1").await.expect("del"), 1);
    assert_eq!(s.delete_oauth_identity(alice, "p1").await.expect("del"), 0);
    assert_eq!(s.oauth_identity("p1", "s1").await.expect("lookup"), None);
    assert_eq!(s.user_oauth_identities(alice).await.expect("list").len(), 1);
    stores.users.delete_user(alice).await.expect("delete user");
    assert_eq!(s.oauth_identity("p2", "s2").await.expect("lookup"), None);
}
