//! Integration tests of the client: against a real `authnzrv` over a real
//! socket (in process, on an ephemeral loopback port), against tiny
//! loopback servers for the error paths a real server never takes (a wrong
//! `reqid`, a server that never answers), and a smoke run against the
//! original Python authnzerver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod errors;
mod every_request;
#[cfg(feature = "https")]
mod https;
mod original;
mod quickstart;
