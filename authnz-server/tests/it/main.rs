//! The server's integration tests, in one binary (one link of the whole
//! server instead of one per file). Each module is one former test file;
//! `common` is the shared support: a real server on a loopback port, a
//! fresh database per test, and a client speaking the real protocol.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod accounts;
mod admin_cli;
mod apikeys;
mod audit;
mod backoff;
mod breach;
mod cache_coherence;
mod cleanup;
mod email;
mod fernet_vectors;
mod flow;
mod groups;
mod http_limits;
mod jwt;
mod log_injection;
mod metrics;
mod multi_instance;
mod my_sessions;
mod oauth;
mod passkey;
mod policy_cli;
mod protocol;
mod ratelimit;
mod redis_fault;
mod redis_sessions;
mod replay;
mod request_names;
mod session_cache_contract;
mod store_edges;
mod throttle_contract;
mod tls;
mod totp;
mod validator_cost;
mod webhooks;
