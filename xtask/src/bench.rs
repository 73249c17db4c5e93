//! `cargo xtask bench` and the bench smoke step of `cargo xtask test`.
//!
//! The load generator lives in its own crate (`authnz-bench`) so this crate
//! stays small; here we only build it and run it.
//!
//! - `bench`: release builds of `authnzrv` and `authnz-bench`, then the
//!   benchmark with the given options (`--quick` for ~2 s per scenario).
//! - smoke step: debug builds (the test step has compiled most of them
//!   already; a release build would cost minutes), `authnz-bench --smoke`
//!   against authnz only (the Python original is left out to keep CI lean),
//!   on SQLite and, when it answers, PostgreSQL. It fails unless every
//!   scenario ran and reported sane non-zero figures; it asserts no speed.

use std::path::Path;

use crate::services::{self, Probe};
use crate::{cargo, steps};

pub fn full(root: &Path, args: &[String]) -> anyhow::Result<()> {
    steps::run(cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "authnz-server",
        "-p",
        "authnz-bench",
        "--bins",
    ]))?;
    let target = crate::target_dir(root)?.join("release");
    let mut cmd = std::process::Command::new(target.join("authnz-bench"));
    cmd.current_dir(root)
        .arg("--server")
        .arg(target.join("authnzrv"))
        .args(args);
    steps::run(&mut cmd)
}

pub fn smoke(root: &Path, target: &Path, probes: &[Probe]) -> anyhow::Result<()> {
    steps::run(cargo().current_dir(root).args([
        "build",
        "-p",
        "authnz-server",
        "-p",
        "authnz-bench",
        "--bins",
    ]))?;
    let debug = target.join("debug");
    let postgres = probes
        .iter()
        .find(|p| p.service.name == "postgres" && p.usable());
    let mut cmd = std::process::Command::new(debug.join("authnz-bench"));
    cmd.current_dir(root)
        .arg("--smoke")
        .arg("--server")
        .arg(debug.join("authnzrv"));
    let redis = probes
        .iter()
        .find(|p| p.service.name == "redis" && p.usable());
    match (postgres, redis) {
        (Some(p), Some(r)) => {
            cmd.args(["--backends", "sqlite,postgres,postgres+redis"])
                .args(["--postgres-url", &p.url, "--redis-url", &r.url]);
        }
        (Some(p), None) => {
            cmd.args(["--backends", "sqlite,postgres", "--postgres-url", &p.url]);
        }
        (None, _) => {
            cmd.args(["--backends", "sqlite"]);
        }
    }
    services::apply_env(&mut cmd, probes);
    steps::run(&mut cmd)
}
