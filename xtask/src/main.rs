//! `cargo xtask <task>`: project automation without shell scripts.
//!
//! - `test`: probe the test services, run the Rust tests (nextest when
//!   installed, plus doc-tests; among them authnz-client's smoke test
//!   against the original Python authnzerver, installed from PyPI into a
//!   virtualenv under the target dir), build `authnzrv` and run the Python
//!   end-to-end suite in `tests/e2e` against it.
//! - `ci`: `cargo fmt --check`, `cargo clippy -D warnings`, then `test`.
//! - `run`: build a release `authnzrv`, auto-set-up `./authnz-data` on first
//!   use, then serve from it.
//! - `services`: show which test services answer and which path each takes
//!   (URL variable, default address, or a container: testcontainers).
//! - `containers`: local base images, the authnz image, the compose stack
//!   checked end to end, and the store tests on testcontainers.
//! - `bench`: build `authnzrv` and the `authnz-bench` load generator in
//!   release and run the benchmark (authnz vs the original Python
//!   authnzerver, physical limits); `test` runs its `--smoke` mode against a
//!   debug build.
//! - `fuzz`: build the cargo-fuzz targets in `fuzz/` and run each for a
//!   bounded time (docs/FUZZING.md); `test` runs it (about a minute).
//! - `soak`: a bounded mixed-load run against `authnzrv` on SQLite and on
//!   PostgreSQL + Redis that samples the server's RSS and asserts a plateau
//!   (docs/OPERATIONS.md). Not part of `test`.
//!
//! Dependencies stay tiny on purpose (anyhow only): this crate is compiled
//! before anything else in every CI run.

mod bench;
mod containers;
mod e2e;
mod fuzz;
mod services;
mod steps;
mod testsvc;

use std::path::{Path, PathBuf};
use std::process::Command;

use steps::Steps;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  test [--no-e2e | --only-e2e] [--no-ses] [--no-mysql] [--no-bench] [--no-fuzz]
       [FILTER]
        probe services, run Rust tests (nextest + doc-tests; they include
        authnz-client's smoke test against the original Python authnzerver,
        whose virtualenv is cached under the target dir), the SES mail
        backend against a local emulator (not with --no-ses), the Rust
        client over HTTPS (its `https` feature), the storage
        contract suite on MySQL/MariaDB (feature `mysql`; not with
        --no-mysql), the bench smoke
        test (authnz only, debug build, ~2 s per scenario; not with
        --no-bench), the fuzz targets for 8 s each (needs cargo-fuzz; not
        with --no-fuzz), build authnzrv, run the Python e2e suite. FILTER
        selects tests by name in both (nextest filter / pytest -k) and skips
        the SES, MySQL, bench and fuzz steps.
  ci   [--no-e2e | --only-e2e] [--no-ses] [--no-mysql] [--no-bench] [--no-fuzz]
       [FILTER]
        cargo fmt --check, cargo clippy -D warnings, then `test`.
  run  [ARGS...]
        build release authnzrv, autosetup ./authnz-data on first use, then
        run `authnzrv --basedir ./authnz-data ARGS...`.
  services
        print which test services (PostgreSQL, Redis, MySQL) answer, and
        which path each takes: its URL variable, its default address, or a
        container started for the run (testcontainers, when the default
        address does not answer and a Docker engine does).
  containers [--debug] [--keep-up]
        build the local base images when missing (debootstrap + Debian
        packages, docker/), the authnz image (Dockerfile target `prebuilt`,
        release binary; --debug: the debug binary), run the compose stack on
        them and check it end to end (/health, autosetup credentials and a
        login through the published port, data volume across down/up), then
        the store tests against testcontainers on the local images.
        Needs a Docker engine, debootstrap and docker-compose.
  docs
        rewrite the item reference in docs/CONFIG.md from the config item
        table (authnz-server/src/config/items.rs).
  bench [--quick] [ARGS...]
        build authnzrv and authnz-bench in release, run the benchmark against
        authnz and the original Python authnzerver 0.1.3 (virtualenv under
        target/bench). `cargo xtask bench --help` lists the options.
  fuzz [--seconds N] [--max-len BYTES] [TARGET...]
        build the fuzz targets (fuzz/, cargo-fuzz) and run each (default:
        all) for N seconds (default 8) from its seeds; fails on any crash.
  soak [--minutes N] [--backends sqlite,postgres+redis] [--release]
        mixed load against authnzrv for N minutes per backend (default 10,
        at most 120), RSS sampled, plateau asserted, errors counted.

environment:
  AUTHNZ_TEST_POSTGRES_URL, AUTHNZ_TEST_REDIS_URL, AUTHNZ_TEST_MYSQL_URL
        service URLs (default: the usual port on 127.0.0.1, if it answers)
  AUTHNZ_REQUIRE_SERVICES=1
        a service that does not answer is a failure, not a skip
  AUTHNZ_TESTCONTAINERS=0
        never start test services as containers
  AUTHNZ_TESTSVC_POSTGRES_IMAGE, AUTHNZ_TESTSVC_MYSQL_IMAGE,
  AUTHNZ_TESTSVC_REDIS_IMAGE
        images of those containers (default postgres:16, mariadb:11, redis:7)
  AUTHNZ_PYTHON
        interpreter used to create the e2e virtualenv (default python3)";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();
    match task.as_str() {
        "test" => test(&root, &TestOpts::parse(&rest)?, Steps::default(), "test"),
        "ci" => ci(&root, &TestOpts::parse(&rest)?),
        "run" => run(&root, &rest),
        "bench" => bench::full(&root, &rest),
        "docs" => docs(&root),
        "fuzz" => fuzz_task(&root, &rest),
        "soak" => bench::soak(&root, &rest),
        "services" => {
            let probes = services::probe_all();
            let mut would_start = testsvc::wanted(&probes);
            let docker = testsvc::enabled() && testsvc::engine_answers();
            if !docker {
                would_start.clear();
            }
            services::report(&probes, &would_start);
            if would_start.is_empty() {
                services::enforce(&probes)
            } else {
                Ok(())
            }
        }
        "containers" => containers::run(&root, &rest),
        "" | "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => anyhow::bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo xtask docs`: the config docs test, told to rewrite
/// `docs/CONFIG.md` rather than fail when it is stale.
fn docs(root: &Path) -> anyhow::Result<()> {
    let status = cargo()
        .current_dir(root)
        .args([
            "test",
            "-p",
            "authnz-server",
            "--lib",
            "config::tests::docs::config_md_item_reference_is_current",
        ])
        .env("AUTHNZ_UPDATE_DOCS", "1")
        .status()?;
    anyhow::ensure!(status.success(), "the docs test failed");
    println!("docs/CONFIG.md: item reference written from the item table");
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

#[derive(Debug, Default)]
struct TestOpts {
    rust: bool,
    e2e: bool,
    /// Build and test the SES mail backend (the heaviest dependency, off by
    /// default in every crate): once, in its own step.
    ses: bool,
    /// Build `authnz-store-sql` with its `mysql` feature (off by default) and
    /// run its MySQL/MariaDB tests: once, in their own step.
    mysql: bool,
    bench: bool,
    /// Build the fuzz targets and run each for a few seconds.
    fuzz: bool,
    filter: Option<String>,
}

impl TestOpts {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut opts = TestOpts {
            rust: true,
            e2e: true,
            ses: true,
            mysql: true,
            bench: true,
            fuzz: true,
            filter: None,
        };
        for a in args {
            match a.as_str() {
                "--no-e2e" => opts.e2e = false,
                "--only-e2e" => opts.rust = false,
                "--no-ses" => opts.ses = false,
                "--no-mysql" => opts.mysql = false,
                "--no-bench" => opts.bench = false,
                "--no-fuzz" => opts.fuzz = false,
                "--" => {}
                s if s.starts_with('-') => anyhow::bail!("unknown option `{s}`\n\n{USAGE}"),
                s if opts.filter.is_none() => opts.filter = Some(s.to_string()),
                s => anyhow::bail!("only one FILTER is supported, got another: `{s}`"),
            }
        }
        if !opts.rust && !opts.e2e {
            anyhow::bail!("--no-e2e and --only-e2e together leave nothing to run");
        }
        Ok(opts)
    }
}

fn ci(root: &Path, opts: &TestOpts) -> anyhow::Result<()> {
    let mut steps = Steps::default();
    steps.run("cargo fmt --check", || {
        steps::run(
            cargo()
                .current_dir(root)
                .args(["fmt", "--all", "--", "--check"]),
        )?;
        // The fuzz crate is a workspace of its own (docs/FUZZING.md), and
        // so is the test-container starter (xtask/src/testsvc.rs).
        for manifest in ["fuzz/Cargo.toml", "authnz-testsvc/Cargo.toml"] {
            steps::run(cargo().current_dir(root).args([
                "fmt",
                "--manifest-path",
                manifest,
                "--",
                "--check",
            ]))?;
        }
        Ok(())
    });
    // --all-features: the features that ship off by default (`mysql`,
    // `ses`) are linted on every run too, not only the default build.
    steps.run("cargo clippy --all-features -D warnings", || {
        steps::run(cargo().current_dir(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    });
    test(root, opts, steps, "ci")
}

fn test(root: &Path, opts: &TestOpts, mut steps: Steps, task: &str) -> anyhow::Result<()> {
    let mut probes = services::probe_all();
    // Services down on their default address: containers for this run when
    // a Docker engine answers (removed when `_containers` drops).
    let _containers = testsvc::fill_missing(root, &target_dir(root)?, &mut probes)?;
    services::report(&probes, &[]);
    services::enforce(&probes)?;
    let filter = opts.filter.as_deref();

    if opts.rust && !e2e::python_venv_available() {
        // authnz-client's smoke test against the original Python
        // authnzerver (a virtualenv from PyPI under the target dir) then
        // skips inside the test run, where its notice is easy to miss.
        println!(
            "!!! python3 with its venv module is missing: the authnz-client smoke test \
             against the original authnzerver will skip; install it with \
             `apt-get install python3 python3-venv`"
        );
        println!(
            "!!! {}=1 turns this skip into a failure.",
            services::REQUIRE_VAR
        );
    }

    if opts.rust {
        if nextest_installed() {
            steps.run("cargo nextest run --workspace", || {
                let mut cmd = cargo();
                cmd.current_dir(root)
                    .args(["nextest", "run", "--workspace", "--no-tests=warn"]);
                cmd.args(filter);
                services::apply_env(&mut cmd, &probes);
                steps::run(&mut cmd)
            });
            steps.run("cargo test --workspace --doc", || {
                let mut cmd = cargo();
                cmd.current_dir(root).args(["test", "--workspace", "--doc"]);
                cmd.args(filter);
                services::apply_env(&mut cmd, &probes);
                steps::run(&mut cmd)
            });
        } else {
            steps.run("cargo test --workspace", || {
                let mut cmd = cargo();
                cmd.current_dir(root).args(["test", "--workspace"]);
                cmd.args(filter);
                services::apply_env(&mut cmd, &probes);
                steps::run(&mut cmd)
            });
        }
    }

    if opts.rust && opts.ses && filter.is_none() {
        // The SES backend against a local SES emulator (moto, installed by
        // the test into a virtualenv under the target dir).
        steps.run("SES mail backend (cargo test --features ses)", || {
            let mut cmd = cargo();
            cmd.current_dir(root).args([
                "test",
                "-p",
                "authnz-mail",
                "--features",
                "ses",
                "--test",
                "ses",
            ]);
            services::apply_env(&mut cmd, &probes);
            steps::run(&mut cmd)
        });
    }

    if opts.rust && filter.is_none() {
        // The client's `https` feature is off in the workspace build; its
        // TLS test is built and run with it here.
        steps.run(
            "authnz-client over HTTPS (cargo test -p authnz-client --features https)",
            || {
                let mut cmd = cargo();
                cmd.current_dir(root).args([
                    "test",
                    "-p",
                    "authnz-client",
                    "--features",
                    "https",
                    "--test",
                    "it",
                    "https",
                ]);
                services::apply_env(&mut cmd, &probes);
                steps::run(&mut cmd)
            },
        );
    }

    if opts.rust && opts.mysql && filter.is_none() {
        // The `mysql` feature is off in the workspace build; only the
        // storage crate's MySQL tests (contract suite + MySQL-specific
        // checks) are built and run with it.
        steps.run(
            "MySQL/MariaDB storage (cargo test -p authnz-store-sql --features mysql)",
            || {
                let mut cmd = cargo();
                cmd.current_dir(root).args([
                    "test",
                    "-p",
                    "authnz-store-sql",
                    "--features",
                    "mysql",
                    "--test",
                    "contract",
                    "mysql",
                ]);
                services::apply_env(&mut cmd, &probes);
                steps::run(&mut cmd)
            },
        );
    }

    if opts.rust && opts.bench {
        if filter.is_some() {
            steps.skip("bench smoke test", "a FILTER was given");
        } else {
            steps.run("bench smoke test (authnz only, debug build)", || {
                bench::smoke(root, &target_dir(root)?, &probes)
            });
        }
    }

    if opts.rust && opts.fuzz {
        let name = "fuzz targets (8 s each)";
        if filter.is_some() {
            steps.skip(name, "a FILTER was given");
        } else if !fuzz::installed() {
            let why = format!(
                "cargo-fuzz is not installed; install it with `{}`",
                fuzz::INSTALL
            );
            if services::required() {
                steps.run(name, || anyhow::bail!("{why}"));
            } else {
                println!("!!! {why} (or pass --no-fuzz)");
                println!(
                    "!!! {}=1 turns this skip into a failure.",
                    services::REQUIRE_VAR
                );
                steps.skip(name, &why);
            }
        } else {
            steps.run(name, || {
                fuzz::run(root, &target_dir(root)?, &fuzz::FuzzOpts::parse(&[])?)
            });
        }
    }

    if opts.e2e {
        let mut server = None;
        steps.run("build authnzrv and authnz-example-frontend (debug)", || {
            steps::run(cargo().current_dir(root).args([
                "build",
                "-p",
                "authnz-server",
                "--bin",
                "authnzrv",
                "-p",
                "authnz-example-frontend",
            ]))?;
            let debug = target_dir(root)?.join("debug");
            let bins = (
                debug.join("authnzrv"),
                debug.join("authnz-example-frontend"),
            );
            for bin in [&bins.0, &bins.1] {
                anyhow::ensure!(bin.exists(), "built, but {} is missing", bin.display());
            }
            server = Some(bins);
            Ok(())
        });
        if !e2e::chromium_available() {
            println!(
                "!!! chromium or chromedriver is missing: the browser test of the example \
                 site will skip; install them with `{}`",
                e2e::CHROMIUM_INSTALL
            );
            println!(
                "!!! {}=1 turns this skip into a failure.",
                services::REQUIRE_VAR
            );
        }
        let mut python = None;
        steps.run("python e2e virtualenv", || {
            python = Some(e2e::ensure_venv(root, &target_dir(root)?)?);
            Ok(())
        });
        match (server, python) {
            (Some((server, frontend)), Some(python)) => {
                steps.run("pytest tests/e2e", || {
                    e2e::pytest(
                        root,
                        &target_dir(root)?,
                        &python,
                        (&server, &frontend),
                        filter,
                        &probes,
                    )
                });
            }
            _ => steps.skip("pytest tests/e2e", "server build or virtualenv failed"),
        }
    }
    steps.finish(task)
}

fn fuzz_task(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = fuzz::FuzzOpts::parse(args)?;
    anyhow::ensure!(
        fuzz::installed(),
        "cargo-fuzz is not installed; install it with `{}`",
        fuzz::INSTALL
    );
    fuzz::run(root, &target_dir(root)?, &opts)
}

pub(crate) fn nextest_installed() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The target directory cargo uses for this workspace (honours
/// `CARGO_TARGET_DIR` and config), from `cargo metadata`.
fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let out = cargo()
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    json_string_field(&text, "target_directory")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("cargo metadata has no target_directory"))
}

/// The value of the first `"key":"..."` string field in `json`: enough for
/// `cargo metadata` without a JSON dependency.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\":\"");
    let start = json.find(&needle)? + needle.len();
    let mut out = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn run(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    steps::run(cargo().current_dir(root).args([
        "build",
        "--release",
        "-p",
        "authnz-server",
        "--bin",
        "authnzrv",
    ]))?;
    let bin = target_dir(root)?.join("release").join("authnzrv");
    let basedir = root.join("authnz-data");
    if !basedir.join(".env").exists() {
        println!("first run: setting up {}", basedir.display());
        steps::run(
            Command::new(&bin)
                .current_dir(root)
                .args(["--autosetup", "--no-prompt", "--basedir"])
                .arg(&basedir),
        )?;
    }
    let creds = basedir.join(".authnzerver-admin-credentials");
    if creds.exists() {
        println!(
            "admin credentials (`<email> <password>`): {}",
            creds.display()
        );
    } else {
        println!(
            "no admin credentials file at {} (the database existed before setup?)",
            creds.display()
        );
    }
    let mut cmd = Command::new(&bin);
    cmd.current_dir(root)
        .arg("--basedir")
        .arg(&basedir)
        .args(extra);
    println!("$ {}", steps::show(&cmd));
    exec(cmd)
}

#[cfg(unix)]
fn exec(mut cmd: Command) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let err = cmd.exec();
    anyhow::bail!("cannot exec authnzrv: {err}")
}

#[cfg(not(unix))]
fn exec(mut cmd: Command) -> anyhow::Result<()> {
    let status = cmd.status()?;
    std::process::exit(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::{TestOpts, json_string_field};

    #[test]
    fn reads_metadata_field() {
        let j = r#"{"packages":[],"target_directory":"/a/b \"c\"/t","version":1}"#;
        assert_eq!(
            json_string_field(j, "target_directory").as_deref(),
            Some("/a/b \"c\"/t")
        );
        assert_eq!(json_string_field(j, "missing"), None);
    }

    #[test]
    fn parses_test_options() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = TestOpts::parse(&args(&["--no-e2e", "login"]));
        assert!(o.is_ok_and(|o| o.rust && !o.e2e && o.filter.as_deref() == Some("login")));
        assert!(TestOpts::parse(&args(&["--no-e2e", "--only-e2e"])).is_err());
        assert!(TestOpts::parse(&args(&["--bogus"])).is_err());
        let o = TestOpts::parse(&args(&["--no-bench"]));
        assert!(o.is_ok_and(|o| o.rust && o.e2e && !o.bench && o.mysql));
        let o = TestOpts::parse(&args(&["--no-mysql"]));
        assert!(o.is_ok_and(|o| o.rust && o.e2e && o.bench && !o.mysql && o.fuzz));
        let o = TestOpts::parse(&args(&["--no-fuzz"]));
        assert!(o.is_ok_and(|o| o.rust && o.e2e && o.bench && o.mysql && !o.fuzz));
    }
}
