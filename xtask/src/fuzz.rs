//! `cargo xtask fuzz` and the bounded fuzz step of `cargo xtask test`.
//!
//! The targets live in `fuzz/` (a cargo-fuzz crate with a workspace of its
//! own; docs/FUZZING.md). They are built with `cargo fuzz` on the stable
//! toolchain: `RUSTC_BOOTSTRAP=1` lets stable rustc accept the sanitizer
//! flag cargo-fuzz passes. The instrumented build goes to `<target>/fuzz`,
//! so its flags never invalidate the normal build.
//!
//! Each target runs for a bounded time from its committed seeds
//! (`fuzz/corpus/<target>`), with a scratch corpus under the target dir so
//! the committed seeds stay as they are; any crash, panic, timeout or
//! out-of-memory fails the step, and libFuzzer writes the input that shows
//! it to `fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::steps;

/// Every target, in the order they run.
pub const TARGETS: &[&str] = &[
    "request_token",
    "request_json",
    "policy",
    "envfile",
    "config",
    "pyjson",
    "validators",
];

/// Seconds per target in CI: about a minute for all of them.
pub const CI_SECONDS: u32 = 8;

/// Longest input in CI: large enough for whole requests, policies and
/// config files, small enough that many inputs run per second and a CPU
/// bound failing means a super-linear validator, not a huge input.
pub const CI_MAX_LEN: u32 = 4096;

/// How to install the tool when it is missing.
pub const INSTALL: &str = "cargo install cargo-fuzz --locked";

/// Options of `cargo xtask fuzz`.
#[derive(Debug)]
pub struct FuzzOpts {
    pub seconds: u32,
    pub max_len: u32,
    pub targets: Vec<String>,
}

impl FuzzOpts {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut opts = FuzzOpts {
            seconds: CI_SECONDS,
            max_len: CI_MAX_LEN,
            targets: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut number = |name: &str| -> anyhow::Result<u32> {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
                v.parse()
                    .map_err(|_| anyhow::anyhow!("{name}: expected a number, got `{v}`"))
            };
            match a.as_str() {
                "--seconds" => opts.seconds = number("--seconds")?,
                "--max-len" => opts.max_len = number("--max-len")?,
                s if s.starts_with('-') => anyhow::bail!("unknown option `{s}`"),
                s if TARGETS.contains(&s) => opts.targets.push(s.to_string()),
                s => anyhow::bail!(
                    "unknown fuzz target `{s}`; the targets: {}",
                    TARGETS.join(", ")
                ),
            }
        }
        anyhow::ensure!(opts.seconds > 0, "--seconds must be at least 1");
        if opts.targets.is_empty() {
            opts.targets = TARGETS.iter().map(|t| t.to_string()).collect();
        }
        Ok(opts)
    }
}

/// True when `cargo fuzz` runs.
pub fn installed() -> bool {
    crate::cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo fuzz` with the stable-toolchain settings and the separate target
/// dir.
fn cargo_fuzz(root: &Path, target: &Path) -> Command {
    let mut cmd = crate::cargo();
    cmd.current_dir(root.join("fuzz"))
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target.join("fuzz"))
        .arg("fuzz");
    cmd
}

/// Build flags shared by `build` and `run` (they must agree, or `run`
/// rebuilds): optimised, with debug assertions (overflow checks).
const BUILD_FLAGS: &[&str] = &["-O", "--debug-assertions"];

/// Builds every target, then runs the chosen ones for `seconds` each.
pub fn run(root: &Path, target: &Path, opts: &FuzzOpts) -> anyhow::Result<()> {
    let mut build = cargo_fuzz(root, target);
    build.arg("build").args(BUILD_FLAGS);
    steps::run(&mut build)?;
    let scratch = target.join("fuzz-scratch");
    let mut failed = Vec::new();
    for name in &opts.targets {
        let corpus = scratch.join("corpus").join(name);
        std::fs::create_dir_all(&corpus)?;
        let mut cmd = cargo_fuzz(root, target);
        cmd.arg("run")
            .args(BUILD_FLAGS)
            .arg(name)
            .arg(&corpus)
            .arg(PathBuf::from("corpus").join(name))
            .arg("--")
            .arg(format!("-max_total_time={}", opts.seconds))
            .arg(format!("-max_len={}", opts.max_len))
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            // The config target writes its two input files under TMPDIR.
            .env("TMPDIR", &scratch)
            .stdin(Stdio::null());
        let status = steps::status(&mut cmd)?;
        if !status.success() {
            eprintln!(
                "xtask: fuzz target {name} failed ({status}); the input is in fuzz/artifacts/{name}/ \
                 (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O --debug-assertions {name} fuzz/artifacts/{name}/<file>)"
            );
            failed.push(name.clone());
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "fuzz targets failed: {}",
        failed.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_fuzz_options() {
        let o = FuzzOpts::parse(&args(&[])).unwrap();
        assert_eq!(
            (o.seconds, o.max_len, o.targets.len()),
            (8, 4096, TARGETS.len())
        );
        let o = FuzzOpts::parse(&args(&["--seconds", "60", "pyjson"])).unwrap();
        assert_eq!((o.seconds, o.targets), (60, vec!["pyjson".to_string()]));
        assert!(FuzzOpts::parse(&args(&["nope"])).is_err());
        assert!(FuzzOpts::parse(&args(&["--seconds", "0"])).is_err());
        assert!(FuzzOpts::parse(&args(&["--max-len"])).is_err());
    }

    #[test]
    fn every_target_is_declared_and_seeded() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        for t in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{t}\"")),
                "{t} missing from fuzz/Cargo.toml"
            );
            let seeds = std::fs::read_dir(fuzz.join("corpus").join(t))
                .unwrap()
                .count();
            assert!(seeds > 0, "no seeds for {t}");
        }
        let declared = manifest.matches("[[bin]]").count();
        assert_eq!(
            declared,
            TARGETS.len(),
            "a target in fuzz/Cargo.toml is not run by xtask"
        );
    }
}
