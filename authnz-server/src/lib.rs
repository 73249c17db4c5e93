//! The authnz server: a Rust successor of the Python `authnzerver`, speaking
//! its Fernet-encrypted protocol (see `docs/PROTOCOL.md`).
//!
//! Layout: `authnz_proto` (the wire contract: framing, errors, envelope,
//! schema, request table) → [`http`]
//! (routing and the request pipeline) → [`actions`] (one function per request
//! type, over the storage traits of `authnz-api`). [`passwords`] runs Argon2
//! on a bounded pool, [`validate`] holds the sign-up rules, [`lockout`] the
//! login back-off and automatic lock, [`limiter`] the request rate limits
//! ([`ratelimit`] their configuration), [`breach`] the optional breach check,
//! [`mail`] the mail backend and templates, [`config`] the layered
//! configuration and auto-setup, [`app`] the start-up wiring, [`notify`]
//! the readiness notices to systemd, [`calibrate`] the Argon2 sizing.
//!
//! The `authnzrv` binary adds two modules of its own, declared in
//! `main.rs`: `launch` (from the command line to a running server) and
//! `admin` (the operator's subcommands: users, sessions, API keys, Argon2).

pub mod actions;
pub mod app;
pub mod breach;
pub mod cache_bus;
pub mod calibrate;
pub mod cleanup;
pub mod config;
pub mod context;
pub mod http;
pub mod limiter;
pub mod lockout;
pub mod mail;
pub mod notify;
pub mod passwords;
pub mod policy;
pub mod ratelimit;
pub mod replay;
pub mod serving;
pub mod session_cache;
pub mod shared;
pub mod sleeper;
pub mod telemetry;
pub mod tls;
pub mod validate;
pub mod warn_gate;
