//! `cargo xtask containers`: the Dockerfile, the compose stack and the
//! testcontainers path, exercised for real on images made locally from
//! Debian's packages (no registry needed).
//!
//! 1. Base image `authnz-local/debian:bookworm`: `debootstrap
//!    --variant=minbase` into a folder, `docker import`; skipped when the
//!    image exists (the cache between runs).
//! 2. Service images from `docker/<name>/` on that base (PostgreSQL,
//!    MariaDB, Redis, an SMTP sink), tagged with a hash of their folder, so a
//!    changed folder builds anew and an unchanged one is reused.
//! 3. The authnz image: the Dockerfile's `prebuilt` target around the host's
//!    `authnzrv` (release, or debug with `--debug`); its size, user and
//!    health check are reported and checked.
//! 4. `docker-compose.yml` up on those images (project `authnz-xtask`):
//!    authnz healthy, `/health` through the published port, a protocol round
//!    trip (`tests/e2e/stack_check.py`: the autosetup admin logs in, its
//!    session is made), then down and up again: the data volume kept the
//!    secret key and the session. Always torn down (volumes too) at the end.
//! 5. The store contract tests (PostgreSQL, MariaDB, Redis) with the service
//!    URLs unset in favour of containers started by `authnz-testsvc`
//!    (testcontainers) from the local images, removed afterwards.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::steps::{self, Steps};
use crate::{cargo, e2e, target_dir, testsvc};

/// Debian release of the local base images.
const SUITE: &str = "bookworm";
const BASE_IMAGE: &str = "authnz-local/debian:bookworm";
/// The authnz image built here.
const AUTHNZ_IMAGE: &str = "authnz-local/authnz:xtask";
/// Compose project name: its containers, network and volumes carry it.
const PROJECT: &str = "authnz-xtask";
/// Service images: folder under `docker/`, and the `authnz-testsvc`
/// variable naming it (when the store tests use it).
const SERVICE_IMAGES: [(&str, Option<&str>); 4] = [
    ("postgres", Some("AUTHNZ_TESTSVC_POSTGRES_IMAGE")),
    ("mariadb", Some("AUTHNZ_TESTSVC_MYSQL_IMAGE")),
    ("redis", Some("AUTHNZ_TESTSVC_REDIS_IMAGE")),
    ("smtp", None),
];

#[derive(Debug, Default)]
struct Opts {
    debug: bool,
    keep_up: bool,
}

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut opts = Opts::default();
    for a in args {
        match a.as_str() {
            "--debug" => opts.debug = true,
            "--keep-up" => opts.keep_up = true,
            other => anyhow::bail!("unknown option `{other}` (--debug, --keep-up)"),
        }
    }
    anyhow::ensure!(
        testsvc::engine_answers(),
        "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock); start dockerd"
    );
    let target = target_dir(root)?;
    let mut steps = Steps::default();
    let mut images: BTreeMap<&str, String> = BTreeMap::new();

    let base_ok = steps.run("local base image (debootstrap minbase, cached)", || {
        base_image(&target)
    });
    let services_ok = base_ok
        && steps.run("local service images (docker/, cached)", || {
            // Built side by side: each is mostly waiting for apt downloads.
            let built: Vec<(&str, anyhow::Result<String>)> = std::thread::scope(|scope| {
                let handles: Vec<_> = SERVICE_IMAGES
                    .iter()
                    .map(|(name, _)| (*name, scope.spawn(|| service_image(root, name))))
                    .collect();
                handles
                    .into_iter()
                    .map(|(name, h)| {
                        let result = h.join().unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("{name}: build thread panicked"))
                        });
                        (name, result)
                    })
                    .collect()
            });
            for (name, result) in built {
                images.insert(name, result?);
            }
            Ok(())
        });
    let authnz_ok = base_ok
        && steps.run(
            if opts.debug {
                "authnz image (Dockerfile target prebuilt, debug binary)"
            } else {
                "authnz image (Dockerfile target prebuilt, release binary)"
            },
            || authnz_image(root, &target, opts.debug),
        );
    if services_ok && authnz_ok {
        steps.run(
            "compose stack: health, login, volume across down/up",
            || {
                let python = e2e::ensure_venv(root, &target)?;
                let stack = Stack::new(root, &images)?;
                let result = stack.check(root, &python);
                if opts.keep_up && result.is_ok() {
                    println!("--keep-up: the stack stays up (project {PROJECT})");
                    std::mem::forget(stack);
                }
                result
            },
        );
        steps.run("store tests on testcontainers (service URLs unset)", || {
            store_tests(root, &target, &images)
        });
    } else {
        steps.skip("compose stack", "an image could not be built");
        steps.skip(
            "store tests on testcontainers",
            "an image could not be built",
        );
    }
    steps.finish("containers")
}

/// Whether `image` exists in the engine.
fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker ...` output, trimmed; fails on a non-zero exit.
fn docker_output(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn base_image(target: &Path) -> anyhow::Result<()> {
    if image_exists(BASE_IMAGE) {
        println!("{BASE_IMAGE} exists: reused");
        return Ok(());
    }
    let mirror = std::env::var("AUTHNZ_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".to_string());
    let dir = target.join("containers").join("rootfs");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let began = Instant::now();
    let built = (|| {
        steps::run(
            Command::new("debootstrap")
                .args(["--variant=minbase", SUITE])
                .arg(&dir)
                .arg(&mirror)
                .stdout(Stdio::null()),
        )?;
        // Documentation and the package cache are of no use in an image.
        for sub in ["usr/share/doc", "usr/share/man", "usr/share/info"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p)?;
                std::fs::create_dir_all(&p)?;
            }
        }
        for d in ["var/cache/apt/archives", "var/lib/apt/lists"] {
            for e in std::fs::read_dir(dir.join(d))?.flatten() {
                if e.path().is_file() {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        let tar = format!(
            "tar -C '{}' -c . | docker import --change 'CMD [\"bash\"]' - {BASE_IMAGE}",
            dir.display()
        );
        steps::run(Command::new("sh").args(["-c", &tar]))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    built?;
    println!(
        "{BASE_IMAGE}: made in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// FNV-1a over the folder's file names and contents (sorted): the tag of
/// its image, so a change to the folder builds a new image.
fn folder_hash(dir: &Path) -> anyhow::Result<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(BASE_IMAGE.as_bytes());
    for f in files {
        eat(f
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default());
        eat(&[0]);
        eat(&std::fs::read(&f)?);
        eat(&[0]);
    }
    Ok(format!("{h:016x}").chars().take(12).collect())
}

fn service_image(root: &Path, name: &str) -> anyhow::Result<String> {
    let dir = root.join("docker").join(name);
    let repo = format!("authnz-local/{name}");
    let image = format!("{repo}:{SUITE}-{}", folder_hash(&dir)?);
    if image_exists(&image) {
        println!("{image} exists: reused");
        return Ok(image);
    }
    let began = Instant::now();
    steps::run(
        Command::new("docker")
            .args(["build", "--quiet", "--build-arg"])
            .arg(format!("BASE={BASE_IMAGE}"))
            .args(["-t", &image])
            .arg(&dir),
    )?;
    println!("{image}: built in {:.0} s", began.elapsed().as_secs_f64());
    // Older builds of this folder are stale now.
    let tags = docker_output(&["image", "ls", &repo, "--format", "{{.Repository}}:{{.Tag}}"])?;
    for old in tags
        .lines()
        .filter(|t| *t != image && !t.ends_with(":<none>"))
    {
        let _ = Command::new("docker")
            .args(["rmi", old])
            .stdout(Stdio::null())
            .status();
    }
    Ok(image)
}

fn authnz_image(root: &Path, target: &Path, debug: bool) -> anyhow::Result<()> {
    let mut build = cargo();
    build.current_dir(root).args([
        "build",
        "--locked",
        "-p",
        "authnz-server",
        "--bin",
        "authnzrv",
    ]);
    if !debug {
        build.arg("--release");
    }
    steps::run(&mut build)?;
    let bin = target
        .join(if debug { "debug" } else { "release" })
        .join("authnzrv");
    let ctx = target.join("containers").join("context");
    if ctx.exists() {
        std::fs::remove_dir_all(&ctx)?;
    }
    std::fs::create_dir_all(&ctx)?;
    std::fs::copy(&bin, ctx.join("authnzrv"))?;
    let began = Instant::now();
    let built = steps::run(
        Command::new("docker")
            .args(["build", "--quiet", "-f"])
            .arg(root.join("Dockerfile"))
            .args(["--target", "prebuilt", "--build-arg"])
            .arg(format!("DEBIAN_IMAGE={BASE_IMAGE}"))
            .args(["-t", AUTHNZ_IMAGE])
            .arg(&ctx),
    );
    let _ = std::fs::remove_dir_all(&ctx);
    built?;
    let size: u64 = docker_output(&["image", "inspect", "--format", "{{.Size}}", AUTHNZ_IMAGE])?
        .parse()
        .unwrap_or(0);
    let base: u64 = docker_output(&["image", "inspect", "--format", "{{.Size}}", BASE_IMAGE])?
        .parse()
        .unwrap_or(0);
    let bin_size = std::fs::metadata(&bin)?.len();
    println!(
        "{AUTHNZ_IMAGE}: built in {:.0} s; {:.0} MB (base {:.0} MB, authnzrv {:.0} MB)",
        began.elapsed().as_secs_f64(),
        size as f64 / 1e6,
        base as f64 / 1e6,
        bin_size as f64 / 1e6
    );
    let user = docker_output(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}",
        AUTHNZ_IMAGE,
    ])?;
    anyhow::ensure!(
        user == "authnz",
        "the image runs as `{user}`, not the non-root user authnz"
    );
    let health = docker_output(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        AUTHNZ_IMAGE,
    ])?;
    anyhow::ensure!(
        health.contains("/health"),
        "the image has no HEALTHCHECK on /health: {health}"
    );
    println!("{AUTHNZ_IMAGE}: user {user}, health check {health}");
    Ok(())
}

/// The compose program: `docker compose` when the plugin works, else
/// Debian's `docker-compose`.
fn compose_program() -> Vec<String> {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if plugin {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

/// The compose stack of this run; `down -v` on drop.
#[derive(Debug)]
struct Stack {
    program: Vec<String>,
    file: PathBuf,
    env: Vec<(String, String)>,
    /// Published authnz port on 127.0.0.1.
    port: u16,
}

impl Stack {
    fn new(root: &Path, images: &BTreeMap<&str, String>) -> anyhow::Result<Stack> {
        let image = |name: &str| {
            images
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no {name} image"))
        };
        let mut env = vec![
            ("AUTHNZ_IMAGE".to_string(), AUTHNZ_IMAGE.to_string()),
            ("AUTHNZ_POSTGRES_IMAGE".to_string(), image("postgres")?),
            ("AUTHNZ_REDIS_IMAGE".to_string(), image("redis")?),
            ("AUTHNZ_SMTP_IMAGE".to_string(), image("smtp")?),
        ];
        let port = match std::env::var("AUTHNZ_PORT") {
            Ok(p) => p
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("AUTHNZ_PORT is not a port: {p}"))?,
            Err(_) => 13431,
        };
        env.push(("AUTHNZ_PORT".to_string(), port.to_string()));
        let stack = Stack {
            program: compose_program(),
            file: root.join("docker-compose.yml"),
            env,
            port,
        };
        // Leftovers of an interrupted run go first.
        let _ = stack.compose(&["down", "--volumes", "--remove-orphans"]);
        Ok(stack)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .args(["--project-name", PROJECT, "--file"])
            .arg(&self.file)
            .args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn compose(&self, args: &[&str]) -> anyhow::Result<()> {
        steps::run(&mut self.command(args))
    }

    /// A file from the authnz container's /data (never printed).
    fn read_data_file(&self, name: &str) -> anyhow::Result<String> {
        let out = self
            .command(&["exec", "-T", "authnz", "cat", &format!("/data/{name}")])
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "cannot read /data/{name} in the authnz container: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn up(&self) -> anyhow::Result<()> {
        let began = Instant::now();
        self.compose(&["up", "--detach", "--no-build"])?;
        self.wait_healthy()?;
        println!(
            "stack up, authnz healthy in {:.0} s",
            began.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Until the engine reports the authnz container healthy (its
    /// HEALTHCHECK) and `/health` answers 200 through the published port.
    fn wait_healthy(&self) -> anyhow::Result<()> {
        let out = self.command(&["ps", "-q", "authnz"]).output()?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        anyhow::ensure!(!id.is_empty(), "no authnz container in the stack");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = docker_output(&["inspect", "--format", "{{.State.Health.Status}}", &id])?;
            if status == "healthy" {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.compose(&["logs", "--tail", "50"]);
                anyhow::bail!("authnz is `{status}`, not healthy, after 120 s");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let (code, body) = http_get(self.port, "/health")?;
        anyhow::ensure!(
            code == 200 && body.contains("\"Health-Ok\":true"),
            "GET /health through 127.0.0.1:{}: {code} {body}",
            self.port
        );
        println!("GET http://127.0.0.1:{}/health: 200 {body}", self.port);
        Ok(())
    }

    fn check(&self, root: &Path, python: &Path) -> anyhow::Result<()> {
        self.up()?;
        let key = self.read_data_file(".authnzerver-secret-key")?;
        let admin = self.read_data_file(".authnzerver-admin-credentials")?;
        let script = root.join("tests").join("e2e").join("stack_check.py");
        let url = format!("http://127.0.0.1:{}/", self.port);
        // Secrets and the session token go by environment, never on a
        // logged command line.
        let run_check = |mode: &str, session: &str| -> anyhow::Result<String> {
            let mut cmd = Command::new(python);
            cmd.arg(&script)
                .arg(mode)
                .env("AUTHNZ_URL", &url)
                .env("AUTHNZ_KEY", &key)
                .env("AUTHNZ_ADMIN", &admin)
                .env("AUTHNZ_SESSION", session)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stderr(Stdio::inherit());
            println!("$ {}", steps::show(&cmd));
            let out = cmd.output()?;
            anyhow::ensure!(out.status.success(), "stack_check.py {mode} failed");
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let token = run_check("login", "")?;
        anyhow::ensure!(!token.is_empty(), "stack_check.py login printed no session");

        // The volume survives down/up: same key, same admin, same session.
        self.compose(&["down"])?;
        self.up()?;
        let key_after = self.read_data_file(".authnzerver-secret-key")?;
        anyhow::ensure!(
            key_after == key,
            "the secret key changed across down/up: the data volume was not kept"
        );
        println!("secret key unchanged across down/up");
        run_check("check", &token)?;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "--volumes", "--remove-orphans"]);
    }
}

/// `GET path` on 127.0.0.1:port: (status, body), bounded.
fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let timeout = Some(Duration::from_secs(5));
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(timeout)?;
    s.set_write_timeout(timeout)?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// The store contract tests on containers from the local images.
fn store_tests(root: &Path, target: &Path, images: &BTreeMap<&str, String>) -> anyhow::Result<()> {
    let bin = testsvc::build(root, target)?;
    let overrides: Vec<(&str, &str)> = SERVICE_IMAGES
        .iter()
        .filter_map(|(name, var)| Some(((*var)?, images.get(name)?.as_str())))
        .collect();
    let containers = testsvc::start(&bin, &["postgres", "mysql", "redis"], &overrides)?;
    let env = |cmd: &mut Command| {
        for s in crate::services::SERVICES {
            cmd.env_remove(s.env_var);
        }
        for (var, url) in &containers.urls {
            cmd.env(var, url);
        }
        cmd.env("AUTHNZ_REQUIRE_SERVICES", "1");
    };
    // The same builds as `cargo xtask test`'s steps (so CI reuses them):
    // the MySQL/MariaDB contract with the `mysql` feature, and PostgreSQL
    // and Redis from the workspace's test build.
    let mut mysql = cargo();
    mysql.current_dir(root).args([
        "test",
        "-p",
        "authnz-store-sql",
        "--features",
        "mysql",
        "--test",
        "contract",
        "mysql",
    ]);
    env(&mut mysql);
    let mut others = cargo();
    if crate::nextest_installed() {
        others.current_dir(root).args([
            "nextest",
            "run",
            "--workspace",
            "-E",
            "binary(contract) & ((package(authnz-store-sql) & test(/postgres/)) | package(authnz-store-redis))",
        ]);
    } else {
        others.current_dir(root).args([
            "test",
            "-p",
            "authnz-store-sql",
            "-p",
            "authnz-store-redis",
            "--test",
            "contract",
            "--",
            "postgres",
            "limiter",
            "throttle",
            "replay",
            "session",
        ]);
    }
    env(&mut others);
    let mysql_result = steps::run(&mut mysql);
    let others_result = steps::run(&mut others);
    drop(containers);
    let left = docker_output(&["ps", "-aq", "--filter", "label=org.authnz.testsvc"])?;
    anyhow::ensure!(left.is_empty(), "test containers left behind: {left}");
    println!("test containers removed");
    mysql_result?;
    others_result
}
