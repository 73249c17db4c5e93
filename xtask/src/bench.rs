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
    // `cargo xtask bench -- --grow …` and `cargo xtask bench --grow …` mean
    // the same: a leading `--` would end authnz-bench's options.
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
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

/// Default soak time per backend, minutes.
const SOAK_MINUTES: f64 = 10.0;
/// Upper bound of `--minutes` (the soak is bounded by design).
const SOAK_MAX_MINUTES: f64 = 120.0;

/// `cargo xtask soak [--minutes N] [--backends LIST] [--release]`: builds
/// `authnzrv` and `authnz-bench` (debug unless `--release`) and runs
/// `authnz-bench --soak` against the test services.
pub fn soak(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut minutes = SOAK_MINUTES;
    let mut backends = "sqlite,postgres+redis".to_string();
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--minutes needs a value"))?;
                minutes = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--minutes: expected a number, got `{v}`"))?;
            }
            "--backends" => {
                backends = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--backends needs a value"))?
                    .clone();
            }
            "--release" => release = true,
            other => anyhow::bail!(
                "unknown soak option `{other}` (--minutes N, --backends LIST, --release)"
            ),
        }
    }
    anyhow::ensure!(
        minutes > 0.0 && minutes <= SOAK_MAX_MINUTES,
        "--minutes must be in (0, {SOAK_MAX_MINUTES}]"
    );
    let probes = services::probe_all();
    services::report(&probes, &[]);
    let url = |name: &str| {
        probes
            .iter()
            .find(|p| p.service.name == name && p.usable())
            .map(|p| p.url.clone())
    };
    let wants = |name: &str| backends.split(',').any(|b| b.trim().contains(name));
    if wants("postgres") && url("postgres").is_none() {
        anyhow::bail!(
            "the soak on PostgreSQL needs the PostgreSQL test service; start it or pass --backends sqlite"
        );
    }
    if wants("redis") && url("redis").is_none() {
        anyhow::bail!(
            "the soak on Redis needs the Redis test service; start it or pass --backends sqlite"
        );
    }
    let mut build = cargo();
    build.current_dir(root).args([
        "build",
        "-p",
        "authnz-server",
        "-p",
        "authnz-bench",
        "--bins",
    ]);
    if release {
        build.arg("--release");
    }
    steps::run(&mut build)?;
    let dir = crate::target_dir(root)?.join(if release { "release" } else { "debug" });
    let mut cmd = std::process::Command::new(dir.join("authnz-bench"));
    cmd.current_dir(root)
        .arg("--server")
        .arg(dir.join("authnzrv"))
        .arg("--soak")
        .arg(minutes.to_string())
        .args(["--backends", &backends]);
    if let Some(u) = url("postgres") {
        cmd.args(["--postgres-url", &u]);
    }
    if let Some(u) = url("redis") {
        cmd.args(["--redis-url", &u]);
    }
    steps::run(&mut cmd)
}
