//! The wire contract stays free of I/O: `cargo tree -p authnz-proto -e
//! normal` (every target platform) holds no async runtime, HTTP stack,
//! database driver or mail client. A client or a frontend layer can then
//! depend on this crate without pulling in a server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;

/// Crates (or crate-name prefixes ending in `-`) the wire contract must
/// never depend on.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "tokio-",
    "hyper",
    "hyper-",
    "axum",
    "axum-",
    "tower",
    "tower-",
    "mio",
    "sqlx",
    "sqlx-",
    "redis",
    "lettre",
    "reqwest",
    "aws-",
    "rustls",
    "openssl",
    "openssl-sys",
    "authnz-api",
    "authnz-server",
];

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| match f.strip_suffix('-') {
        Some(_) => name.starts_with(f),
        None => name == *f,
    })
}

/// The names of the crates in the normal dependency tree of authnz-proto.
fn normal_dependencies() -> BTreeSet<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--manifest-path",
            manifest,
            "-p",
            "authnz-proto",
            "-e",
            "normal",
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
fn no_io_crates_in_the_normal_dependency_tree() {
    let deps = normal_dependencies();
    // The tree was really read: the crate itself and what it is built on.
    for expected in ["authnz-proto", "serde", "serde_json", "fernet", "base64"] {
        assert!(deps.contains(expected), "{expected} missing from {deps:?}");
    }
    let bad: Vec<&String> = deps.iter().filter(|d| is_forbidden(d)).collect();
    assert!(bad.is_empty(), "authnz-proto depends on {bad:?}");
}

#[test]
fn the_filter_recognises_forbidden_names() {
    for name in [
        "tokio",
        "tokio-util",
        "hyper",
        "sqlx-core",
        "redis",
        "lettre",
        "aws-config",
    ] {
        assert!(is_forbidden(name), "{name}");
    }
    for name in [
        "serde",
        "serde_json",
        "fernet",
        "base64",
        "tokenizer",
        "hyperloglog",
    ] {
        assert!(!is_forbidden(name), "{name}");
    }
}
