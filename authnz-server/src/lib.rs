//! The authnz server: a Rust successor of the Python `authnzerver`, speaking
//! its Fernet-encrypted protocol (see `docs/PROTOCOL.md`).
//!
//! Layout: `authnz_proto` (the wire contract: framing, errors, envelope,
//! schema, request table) → [`http`] (routing and the request pipeline:
//! [`limiter`] the request rate limits, [`ratelimit`] their configuration,
//! [`replay`] the replay guard) → `authnz_core::actions` (one function per
//! request type, over the storage traits of `authnz-api`). `authnz-core`
//! also holds the policy, the validators, the Argon2 pool and the login
//! back-off; this crate wires them up: [`config`] the layered configuration
//! and auto-setup, [`app`] the start-up wiring, [`mail`] building the mail
//! backend, [`breach`] the HTTP breach check, [`oauth`] the social-login
//! providers, [`tls`] the listener's TLS,
//! [`notify`] the readiness notices to systemd, [`calibrate`] the Argon2
//! sizing.
//!
//! The `authnzrv` binary adds two modules of its own, declared in
//! `main.rs`: `launch` (from the command line to a running server) and
//! `admin` (the operator's subcommands: users, sessions, API keys, Argon2).

pub mod app;
pub mod breach;
pub mod cache_bus;
pub mod calibrate;
pub mod cleanup;
pub mod config;
pub mod http;
pub mod limiter;
pub mod mail;
pub mod notify;
pub mod oauth;
pub mod passkeys;
pub mod ratelimit;
pub mod replay;
pub mod serving;
pub mod session_cache;
pub mod shared;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
