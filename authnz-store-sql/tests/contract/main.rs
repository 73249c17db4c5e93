//! The backend contract suite of `authnz-api` (feature `testkit`) run on
//! every dialect of `SqlStore`, plus the SQL-specific checks: file
//! permissions, pragmas, storage formats, the schema, adopting a database
//! made by upstream, and error mapping.
//!
//! PostgreSQL runs when `AUTHNZ_TEST_POSTGRES_URL` is set (each test makes
//! and drops its own database); otherwise those tests print `SKIPPED` and
//! pass, unless `AUTHNZ_REQUIRE_SERVICES=1`. MySQL/MariaDB (Cargo feature
//! `mysql`) likewise runs when `AUTHNZ_TEST_MYSQL_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
#[cfg(feature = "mysql")]
mod mysql_specific;
#[cfg(feature = "postgres")]
mod postgres_specific;
#[cfg(all(unix, feature = "sqlite"))]
mod sqlite_specific;

#[cfg(feature = "sqlite")]
mod sqlite_memory {
    authnz_api::contract_tests!(crate::harness::sqlite_memory);
    authnz_api::signing_key_store_tests!(crate::harness::sqlite_memory);
    authnz_api::second_factor_store_tests!(crate::harness::sqlite_memory);
    authnz_api::group_store_tests!(crate::harness::sqlite_memory);
    authnz_api::audit_store_tests!(crate::harness::sqlite_memory);
    authnz_api::oauth_store_tests!(crate::harness::sqlite_memory);
    authnz_api::webhook_store_tests!(crate::harness::sqlite_memory);
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    authnz_api::contract_tests!(crate::harness::sqlite_file);
    authnz_api::signing_key_store_tests!(crate::harness::sqlite_file);
    authnz_api::second_factor_store_tests!(crate::harness::sqlite_file);
    authnz_api::group_store_tests!(crate::harness::sqlite_file);
    authnz_api::audit_store_tests!(crate::harness::sqlite_file);
    authnz_api::oauth_store_tests!(crate::harness::sqlite_file);
    authnz_api::webhook_store_tests!(crate::harness::sqlite_file);
}

#[cfg(feature = "postgres")]
mod postgres {
    authnz_api::contract_tests!(crate::harness::postgres);
    authnz_api::signing_key_store_tests!(crate::harness::postgres);
    authnz_api::second_factor_store_tests!(crate::harness::postgres);
    authnz_api::group_store_tests!(crate::harness::postgres);
    authnz_api::audit_store_tests!(crate::harness::postgres);
    authnz_api::oauth_store_tests!(crate::harness::postgres);
    authnz_api::webhook_store_tests!(crate::harness::postgres);
}

/// The invalidation bus on `LISTEN`/`NOTIFY`.
#[cfg(feature = "postgres")]
mod pg_bus {
    authnz_api::bus_tests!(crate::harness::pg_bus);
}

#[cfg(feature = "mysql")]
mod mysql {
    authnz_api::contract_tests!(crate::harness::mysql);
    authnz_api::signing_key_store_tests!(crate::harness::mysql);
    authnz_api::second_factor_store_tests!(crate::harness::mysql);
    authnz_api::group_store_tests!(crate::harness::mysql);
    authnz_api::audit_store_tests!(crate::harness::mysql);
    authnz_api::oauth_store_tests!(crate::harness::mysql);
    authnz_api::webhook_store_tests!(crate::harness::mysql);
}
