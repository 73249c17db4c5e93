//! The core stays free of HTTP and configuration parsing: `cargo tree -p
//! authnz-core -e normal --all-features` (every target platform) holds no
//! HTTP stack (server or client), no command-line or config-file parser and
//! no server crate. The server fills in the plain settings structs of this
//! crate from its configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;

/// Crates (or crate-name prefixes ending in `-`) the core must never depend
/// on.
const FORBIDDEN: &[&str] = &[
    "hyper",
    "hyper-",
    "axum",
    "axum-",
    "tower",
    "tower-",
    "http-body",
    "http-body-util",
    "reqwest",
    "aws-",
    "clap",
    "clap_builder",
    "clap_derive",
    "figment",
    "toml",
    "sqlx",
    "sqlx-",
    "redis",
    "authnz-server",
    "authnz-store-sql",
    "authnz-store-redis",
];

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| match f.strip_suffix('-') {
        Some(_) => name.starts_with(f),
        None => name == *f,
    })
}

/// The names of the crates in the normal dependency tree of authnz-core,
/// with every feature of it on.
fn normal_dependencies() -> BTreeSet<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--manifest-path",
            manifest,
            "-p",
            "authnz-core",
            "-e",
            "normal",
            "--all-features",
            "--target",
            "all",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_http_or_config_crates_in_the_normal_dependency_tree() {
    let deps = normal_dependencies();
    // The tree was really read: the crate itself and what it is built on.
    for expected in [
        "authnz-core",
        "authnz-api",
        "authnz-proto",
        "authnz-mail",
        "argon2",
        "tokio",
        "lettre",
    ] {
        assert!(deps.contains(expected), "{expected} missing from {deps:?}");
    }
    let bad: Vec<&String> = deps.iter().filter(|d| is_forbidden(d)).collect();
    assert!(bad.is_empty(), "authnz-core depends on {bad:?}");
}

#[test]
fn the_filter_recognises_forbidden_names() {
    for name in [
        "hyper",
        "hyper-util",
        "hyper-rustls",
        "axum",
        "axum-core",
        "tower-service",
        "http-body-util",
        "clap",
        "clap_builder",
        "figment",
        "aws-config",
        "sqlx-core",
        "authnz-server",
    ] {
        assert!(is_forbidden(name), "{name}");
    }
    for name in [
        "tokio",
        "lettre",
        "argon2",
        "authnz-api",
        "authnz-mail",
        "http",
        "httpdate",
        "hyperloglog",
        "towering",
    ] {
        assert!(!is_forbidden(name), "{name}");
    }
}
