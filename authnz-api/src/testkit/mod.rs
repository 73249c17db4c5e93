//! The backend contract suite: the behaviour of [`UserStore`],
//! [`SessionStore`], [`RoleStore`] and [`ApiKeyStore`], written once and run by every backend
//! crate against its real service.
//!
//! A backend provides a factory: an `async fn(&'static str) -> Option<Box<dyn
//! Harness>>` that gets the test's name and returns a fresh, isolated, empty
//! but migrated backend (or `None` to skip, see [`service_url`]). The
//! [`contract_tests!`](crate::contract_tests) macro then expands to one
//! `#[tokio::test]` per contract test, grouped in the modules `user_store`,
//! `session_store`, `role_store` and `apikey_store`:
//!
//! ```ignore
//! // authnz-store-foo/tests/contract.rs  (needs tokio as a dev-dependency)
//! use authnz_api::testkit::{Harness, Stores};
//!
//! async fn foo_backend(test: &'static str) -> Option<Box<dyn Harness>> {
//!     let url = authnz_api::testkit::service_url("AUTHNZ_TEST_FOO_URL", test)?;
//!     // ... make a fresh database, return a harness that drops it in teardown
//! }
//!
//! authnz_api::contract_tests!(foo_backend);
//! ```
//!
//! Each test body runs in its own task; the harness is torn down after it
//! whether it passed or panicked, then the panic is re-raised. Tests use
//! explicit timestamps (never the wall clock, never sleeps), so expiry
//! boundaries are exact.
//!
//! The test functions are public (`users::create_and_lookup`, ...) so a
//! backend that supports only part of a trait can instantiate a subset by
//! hand with [`run`].

// Test-support code: a failed expectation is reported by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod apikeys;
pub mod audit;
pub mod bus;
pub mod fixtures;
pub mod groups;
pub mod oauth;
pub mod ratelimit;
pub mod replay;
pub mod roles;
pub mod second_factors;
pub mod sessions;
pub mod signing_keys;
pub mod throttle;
pub mod users;
pub mod webhooks;

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::audit::AuditStore;
use crate::groups::GroupStore;
use crate::oauth::OAuthStore;
use crate::second_factor::SecondFactorStore;
use crate::signing_keys::SigningKeyStore;
use crate::store::{ApiKeyStore, RoleStore, SessionStore, UserStore};

/// The stores one contract test works on.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The user store.
    pub users: Arc<dyn UserStore>,
    /// The session store.
    pub sessions: Arc<dyn SessionStore>,
    /// The role store.
    pub roles: Arc<dyn RoleStore>,
    /// The API-key store.
    pub apikeys: Arc<dyn ApiKeyStore>,
}

impl Stores {
    /// All views of one backend that implements every trait.
    pub fn from_store<S>(store: Arc<S>) -> Stores
    where
        S: UserStore + SessionStore + RoleStore + ApiKeyStore,
    {
        Stores {
            users: store.clone(),
            sessions: store.clone(),
            roles: store.clone(),
            apikeys: store,
        }
    }
}

/// A fresh, isolated, empty (but migrated) backend for one test.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// The stores under test. Called once per test.
    fn stores(&self) -> Stores;

    /// The signing-key store under test, for a backend that has one (the
    /// SQL store); `None` (the default) for the others.
    fn signing_keys(&self) -> Option<Arc<dyn SigningKeyStore>> {
        None
    }

    /// The second-factor store under test, for a backend that has one (the
    /// SQL store); `None` (the default) for the others.
    fn second_factors(&self) -> Option<Arc<dyn SecondFactorStore>> {
        None
    }

    /// The group store under test, for a backend that has one (the SQL
    /// store); `None` (the default) for the others.
    fn groups(&self) -> Option<Arc<dyn GroupStore>> {
        None
    }

    /// The audit store under test, for a backend that has one (the SQL
    /// store); `None` (the default) for the others.
    fn audit(&self) -> Option<Arc<dyn AuditStore>> {
        None
    }

    /// The social-login store under test, for a backend that has one (the
    /// SQL store); `None` (the default) for the others.
    fn oauth(&self) -> Option<Arc<dyn OAuthStore>> {
        None
    }

    /// The audit and webhook-outbox sides of one store under test, for a
    /// backend that has an outbox (the SQL store); `None` (the default) for
    /// the others.
    fn webhooks(&self) -> Option<webhooks::Pair> {
        None
    }

    /// Release everything the harness made (close pools, drop the database,
    /// remove files). Runs after the test body, also when it panicked.
    async fn teardown(self: Box<Self>);
}

/// Longest a single contract test may run before it is failed.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Run one contract test on a harness: the body in its own task, then the
/// teardown, then re-raise the body's panic (or fail on timeout).
pub async fn run<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let task = tokio::spawn(test(harness.stores()));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(TEST_TIMEOUT, task).await;
    abort.abort();
    harness.teardown().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Ok(Err(join)) => panic!("contract test task failed: {join}"),
        Err(_) => panic!("contract test timed out after {TEST_TIMEOUT:?}"),
    }
}

/// [`run`] for a [`SigningKeyStore`] contract test: the harness must offer
/// one ([`Harness::signing_keys`]).
pub async fn run_signing_keys<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Arc<dyn SigningKeyStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(keys) = harness.signing_keys() else {
        harness.teardown().await;
        panic!("this harness offers no SigningKeyStore (Harness::signing_keys)");
    };
    run(harness, move |_| test(keys)).await;
}

/// [`run`] for a [`SecondFactorStore`] contract test: the harness must
/// offer one ([`Harness::second_factors`]); the test also gets the other
/// stores of the backend.
pub async fn run_second_factors<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Stores, Arc<dyn SecondFactorStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(store) = harness.second_factors() else {
        harness.teardown().await;
        panic!("this harness offers no SecondFactorStore (Harness::second_factors)");
    };
    run(harness, move |stores| test(stores, store)).await;
}

/// [`run`] for a [`GroupStore`] contract test: the harness must offer one
/// ([`Harness::groups`]); the test gets the other stores too (users to add).
pub async fn run_groups<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Stores, Arc<dyn GroupStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(groups) = harness.groups() else {
        harness.teardown().await;
        panic!("this harness offers no GroupStore (Harness::groups)");
    };
    run(harness, move |stores| test(stores, groups)).await;
}

/// [`run`] for an [`AuditStore`] contract test: the harness must offer
/// one ([`Harness::audit`]).
pub async fn run_audit<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Arc<dyn AuditStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(audit) = harness.audit() else {
        harness.teardown().await;
        panic!("this harness offers no AuditStore (Harness::audit)");
    };
    run(harness, move |_| test(audit)).await;
}

/// [`run`] for a [`WebhookStore`](crate::WebhookStore) contract test: the
/// harness must offer one ([`Harness::webhooks`]).
pub async fn run_webhooks<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(webhooks::Pair) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(pair) = harness.webhooks() else {
        harness.teardown().await;
        panic!("this harness offers no WebhookStore (Harness::webhooks)");
    };
    run(harness, move |_| test(pair)).await;
}

/// [`run`] for an [`OAuthStore`] contract test: the harness must offer
/// one ([`Harness::oauth`]); the test also gets the other stores (to make
/// the users identities belong to).
pub async fn run_oauth<F, Fut>(harness: Box<dyn Harness>, test: F)
where
    F: FnOnce(Stores, Arc<dyn OAuthStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(oauth) = harness.oauth() else {
        harness.teardown().await;
        panic!("this harness offers no OAuthStore (Harness::oauth)");
    };
    run(harness, move |stores| test(stores, oauth)).await;
}

/// The environment variable that turns a skipped service test into a
/// failure (CI sets it).
pub const REQUIRE_SERVICES_VAR: &str = "AUTHNZ_REQUIRE_SERVICES";

/// The URL of an external service for `test`, from the environment variable
/// `var` (e.g. `AUTHNZ_TEST_POSTGRES_URL`).
///
/// When `var` is unset or empty: if `AUTHNZ_REQUIRE_SERVICES=1`, panic with a
/// message naming the variable (the test fails); otherwise print
/// `SKIPPED (<var> unset): <test>` to stderr (uncaptured, so it shows in a
/// plain `cargo test` run) and return `None`; the test should then return
/// without checking anything.
pub fn service_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ => {
            let required = std::env::var(REQUIRE_SERVICES_VAR).is_ok_and(|v| v.trim() == "1");
            if required {
                panic!(
                    "{var} is unset but {REQUIRE_SERVICES_VAR}=1: cannot run {test}; \
                     point {var} at a running service"
                );
            }
            // Straight to the process's stderr: `eprintln!` would be captured
            // by the test harness and shown only for failing tests.
            let line = format!("SKIPPED ({var} unset): {test}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// A name no other test (in this or another process) will use, for a
/// database, a key prefix or a directory: `<prefix>_<16 hex digits>`.
pub fn unique_name(prefix: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    format!("{prefix}_{:016x}", h.finish())
}

/// `base` (a `scheme://authority/...` URL, e.g. a PostgreSQL or MySQL
/// service URL) with its path replaced by `/<database>`; the query string is
/// kept. For pointing a test at the fresh database it made.
pub fn url_with_database(base: &str, database: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split('/').next().unwrap_or_default();
    let mut url = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Instantiate the whole contract suite as `#[tokio::test]`s, given the path
/// of an `async fn(&'static str) -> Option<Box<dyn Harness>>`.
///
/// Expands to the modules `user_store`, `session_store`, `role_store` and
/// `apikey_store`
/// (see [`user_store_tests!`](crate::user_store_tests) and friends), each
/// doing `use super::*;` so a factory defined next to the macro call is in
/// scope. The calling crate needs `tokio` (features `macros`, `rt`).
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::user_store_tests!($make);
        $crate::session_store_tests!($make);
        $crate::role_store_tests!($make);
        $crate::apikey_store_tests!($make);
    };
}

/// The [`ApiKeyStore`] contract as a module `apikey_store` of
/// `#[tokio::test]`s.
#[macro_export]
macro_rules! apikey_store_tests {
    ($make:path) => {
        $crate::__contract_group!(
            $make,
            apikey_store,
            apikeys,
            [
                session_key_round_trip_and_window,
                session_key_matches_token_user_and_role,
                session_key_unknown_references,
                session_key_duplicate_token_conflicts,
                session_key_dies_with_its_session,
                session_key_delete,
                nosession_key_round_trip_and_window,
                nosession_refresh_window,
                nosession_key_delete_and_delete_all,
                nosession_keys_survive_session_delete_but_not_user_delete,
                nosession_key_unknown_references,
            ]
        );
    };
}

/// The [`UserStore`] contract as a module `user_store` of `#[tokio::test]`s.
#[macro_export]
macro_rules! user_store_tests {
    ($make:path) => {
        $crate::__contract_group!(
            $make,
            user_store,
            users,
            [
                create_and_lookup,
                list_users_ordered_by_id,
                create_duplicate_email_conflicts,
                create_duplicate_system_id_conflicts,
                create_unknown_role_is_invalid_reference,
                email_match_is_exact,
                update_each_field,
                update_writes_null,
                update_empty_patch_sets_last_updated,
                update_only_if_active,
                update_missing_user_changes_nothing,
                update_duplicate_email_conflicts,
                update_unknown_role_is_invalid_reference,
                delete_user_cascades_sessions,
                superuser_role_of_user_one,
                datetimes_round_trip_to_the_microsecond,
                json_round_trips,
                concurrent_creates,
                find_users_by_each_kind,
                find_users_by_extra_info_values,
                nul_characters_behave_the_same_everywhere,
                lock_deadlines_lift_once_when_due,
            ]
        );
    };
}

/// The [`SessionStore`] contract as a module `session_store` of
/// `#[tokio::test]`s.
#[macro_export]
macro_rules! session_store_tests {
    ($make:path) => {
        $crate::__contract_group!(
            $make,
            session_store,
            sessions,
            [
                create_and_read_active,
                create_unknown_user_is_invalid_reference,
                create_duplicate_token_conflicts,
                expiry_boundary_is_exclusive,
                unknown_token_is_none,
                delete_session_expired_or_not,
                delete_user_sessions_all,
                delete_user_sessions_keep,
                user_sessions_active_in_created_order,
                delete_user_session_only_their_own,
                user_sessions_follow_deletes,
                set_extra_only_on_active,
                delete_expired_before,
                delete_expired_before_in_many_batches,
                datetimes_and_json_round_trip,
            ]
        );
    };
}

/// The [`RoleStore`] contract as a module `role_store` of `#[tokio::test]`s.
#[macro_export]
macro_rules! role_store_tests {
    ($make:path) => {
        $crate::__contract_group!(
            $make,
            role_store,
            roles,
            [
                fresh_store_is_empty,
                initialize_seeds_roles_and_users,
                initialize_twice_writes_nothing,
                initialize_is_atomic_on_unknown_role,
                initialize_is_atomic_on_duplicate_email,
                list_roles_byte_order,
            ]
        );
    };
}

/// The [`SigningKeyStore`] contract as a module `signing_key_store` of
/// `#[tokio::test]`s, for a factory whose harness offers
/// [`Harness::signing_keys`] (a harness that offers none fails the tests).
#[macro_export]
macro_rules! signing_key_store_tests {
    ($make:path) => {
        mod signing_key_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__signing_key_tests!(
                $make,
                [
                    fresh_store_has_no_keys,
                    key_round_trips,
                    keys_listed_newest_first,
                    duplicate_kid_conflicts,
                    delete_removes_one_key,
                ]
            );
        }
    };
}

/// The [`OAuthStore`] contract as a module `oauth_store` of
/// `#[tokio::test]`s, for a factory whose harness offers
/// [`Harness::oauth`] (a harness that offers none fails the tests).
#[macro_export]
macro_rules! oauth_store_tests {
    ($make:path) => {
        mod oauth_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__oauth_tests!(
                $make,
                [
                    state_taken_once,
                    expired_state_is_returned,
                    duplicate_state_conflicts,
                    purge_removes_expired_states,
                    identities_link_and_list,
                    identity_of_missing_user_refused,
                    unlink_and_user_delete,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __oauth_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_oauth(harness, $crate::testkit::oauth::$test).await;
                }
            }
        )*
    };
}

/// The [`SecondFactorStore`] contract as a module `second_factor_store` of
/// `#[tokio::test]`s, for a factory whose harness offers
/// [`Harness::second_factors`] (a harness that offers none fails the
/// tests).
#[macro_export]
macro_rules! second_factor_store_tests {
    ($make:path) => {
        mod second_factor_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__second_factor_tests!(
                $make,
                [
                    pending_totp_round_trips_and_is_replaced,
                    enable_needs_the_pending_secret,
                    steps_accepted_once_in_order,
                    concurrent_step_accepted_once,
                    recovery_codes_single_use,
                    login_tickets_expire_and_are_used_once,
                    login_tickets_cleanup_and_cascade,
                    passkeys_round_trip,
                    passkey_counter_only_goes_up,
                    passkeys_deleted_with_their_codes,
                    passkey_challenges_taken_once,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __second_factor_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_second_factors(
                        harness,
                        $crate::testkit::second_factors::$test,
                    )
                    .await;
                }
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __signing_key_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_signing_keys(
                        harness,
                        $crate::testkit::signing_keys::$test,
                    )
                    .await;
                }
            }
        )*
    };
}

/// The [`GroupStore`] contract as a module `group_store` of
/// `#[tokio::test]`s, for a factory whose harness offers
/// [`Harness::groups`] (a harness that offers none fails the tests).
#[macro_export]
macro_rules! group_store_tests {
    ($make:path) => {
        mod group_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__group_tests!(
                $make,
                [
                    create_and_read_group,
                    create_group_checks_references,
                    members_added_listed_and_removed,
                    memberships_of_a_user,
                    add_member_checks_references,
                    delete_group_removes_memberships,
                    delete_user_removes_memberships,
                    concurrent_adds_make_one_membership,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __group_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_groups(harness, $crate::testkit::groups::$test).await;
                }
            }
        )*
    };
}

/// The [`AuditStore`] contract as a module `audit_store` of
/// `#[tokio::test]`s, for a factory whose harness offers
/// [`Harness::audit`] (a harness that offers none fails the tests).
#[macro_export]
macro_rules! audit_store_tests {
    ($make:path) => {
        mod audit_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__audit_tests!(
                $make,
                [
                    fresh_log_is_empty,
                    event_round_trips,
                    listed_newest_first_with_limit,
                    filters_match,
                    keyset_pages_are_stable,
                    retention_deletes_older_events,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __audit_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_audit(harness, $crate::testkit::audit::$test).await;
                }
            }
        )*
    };
}

/// The [`WebhookStore`](crate::WebhookStore) contract as a module
/// `webhook_store` of `#[tokio::test]`s, for a factory whose harness
/// offers [`Harness::webhooks`] (a harness that offers none fails the
/// tests).
#[macro_export]
macro_rules! webhook_store_tests {
    ($make:path) => {
        mod webhook_store {
            #[allow(unused_imports)]
            use super::*;

            $crate::__webhook_tests!(
                $make,
                [
                    deliveries_are_appended_with_their_events,
                    refused_append_writes_nothing,
                    claims_are_leases,
                    concurrent_claims_never_overlap,
                    failures_reschedule_then_park,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __webhook_tests {
    ($make:path, [$($test:ident),* $(,)?]) => {
        $(
            #[::tokio::test]
            async fn $test() {
                let name = concat!(module_path!(), "::", stringify!($test));
                if let Some(harness) = $make(name).await {
                    $crate::testkit::run_webhooks(harness, $crate::testkit::webhooks::$test).await;
                }
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_group {
    ($make:path, $module:ident, $suite:ident, [$($test:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[::tokio::test]
                async fn $test() {
                    let name = concat!(module_path!(), "::", stringify!($test));
                    if let Some(harness) = $make(name).await {
                        $crate::testkit::run(harness, $crate::testkit::$suite::$test).await;
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/test", "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            url_with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(url_with_database("mysql://h:3306", "x"), "mysql://h:3306/x");
    }

    #[test]
    fn unique_names_differ() {
        let a = unique_name("authnz_t");
        let b = unique_name("authnz_t");
        assert_ne!(a, b);
        assert!(a.starts_with("authnz_t_") && a.len() == "authnz_t_".len() + 16);
    }
}
