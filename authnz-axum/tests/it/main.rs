//! Integration tests of the layer: a real `authnzrv` (in process, on a
//! loopback port) behind a real axum site, driven over HTTP/1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod common;
mod layer;
mod oauth;
mod passkeys;
mod readme;
mod softkey;
mod totp;
