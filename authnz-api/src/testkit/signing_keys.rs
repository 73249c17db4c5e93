//! The [`SigningKeyStore`](crate::SigningKeyStore) contract: the JWT signing
//! keys shared by every instance.
//!
//! A harness offers the store through [`Harness::signing_keys`](super::Harness::signing_keys);
//! [`signing_key_store_tests!`](crate::signing_key_store_tests) runs these
//! tests on it.

use std::sync::Arc;

use super::fixtures::{assert_conflict, at, plus_micros};
use crate::signing_keys::{SigningKeyRecord, SigningKeyStore};

fn key(kid: &str, created_secs: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: format!("public-{kid}"),
        sealed_private_key: format!("v1.sealed-{kid}-{}", "x".repeat(200)),
        created: at(created_secs),
    }
}

/// A fresh store has no keys.
pub async fn fresh_store_has_no_keys(s: Arc<dyn SigningKeyStore>) {
    assert_eq!(s.signing_keys().await.expect("signing_keys"), vec![]);
}

/// Every field round-trips, `created` to the microsecond.
pub async fn key_round_trips(s: Arc<dyn SigningKeyStore>) {
    let mut k = key(
        "kid-round-trip_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
        0,
    );
    k.created = plus_micros(at(5), 123_457);
    s.add_signing_key(&k).await.expect("add");
    assert_eq!(s.signing_keys().await.expect("signing_keys"), vec![k]);
}

/// Keys are listed newest first; keys of the same microsecond by `kid`
/// descending.
pub async fn keys_listed_newest_first(s: Arc<dyn SigningKeyStore>) {
    for k in [key("b", 10), key("a", 30), key("c", 20), key("d", 30)] {
        s.add_signing_key(&k).await.expect("add");
    }
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .expect("signing_keys")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["d", "a", "c", "b"]);
}

/// A second key with the same `kid` is a conflict and changes nothing.
pub async fn duplicate_kid_conflicts(s: Arc<dyn SigningKeyStore>) {
    let first = key("same", 1);
    s.add_signing_key(&first).await.expect("add");
    let mut second = key("same", 2);
    second.public_key = "another".into();
    assert_conflict(s.add_signing_key(&second).await, "duplicate kid");
    assert_eq!(s.signing_keys().await.expect("signing_keys"), vec![first]);
}

/// `delete_signing_key` removes exactly the named key and says how many.
pub async fn delete_removes_one_key(s: Arc<dyn SigningKeyStore>) {
    for k in [key("k1", 1), key("k2", 2), key("k3", 3)] {
        s.add_signing_key(&k).await.expect("add");
    }
    assert_eq!(s.delete_signing_key("k2").await.expect("delete"), 1);
    assert_eq!(s.delete_signing_key("k2").await.expect("delete again"), 0);
    assert_eq!(s.delete_signing_key("missing").await.expect("delete"), 0);
    let kids: Vec<String> = s
        .signing_keys()
        .await
        .expect("signing_keys")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k3", "k1"]);
}
