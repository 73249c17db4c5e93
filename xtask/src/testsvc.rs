//! The testcontainers path: test services started as Docker containers by
//! `authnz-testsvc` (a workspace of its own, so testcontainers is compiled
//! only when this path is taken), one container per service for one run.
//!
//! `cargo xtask test` takes it for a service whose URL variable is unset and
//! that does not answer on its default address, when a Docker engine
//! answers (`AUTHNZ_TESTCONTAINERS=0` turns it off). `cargo xtask
//! containers` takes it for every service, on the local images.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::services::{Origin, Probe, Status};
use crate::steps;

/// Variable that turns the testcontainers path off (`0`).
pub const SWITCH_VAR: &str = "AUTHNZ_TESTCONTAINERS";

/// The manifest of the container starter, relative to the workspace root.
const MANIFEST: &str = "authnz-testsvc/Cargo.toml";

/// True unless `AUTHNZ_TESTCONTAINERS=0`.
pub fn enabled() -> bool {
    !matches!(
        std::env::var(SWITCH_VAR).as_deref().map(str::trim),
        Ok("0") | Ok("false") | Ok("no")
    )
}

/// Whether a Docker engine answers `GET /_ping` on `DOCKER_HOST` (a
/// `unix://` or `tcp://` address; default the usual Unix socket). Bounded:
/// a couple of seconds at most.
pub fn engine_answers() -> bool {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let host = host.trim();
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let timeout = Duration::from_secs(2);
    let reply = if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        let Ok(mut addrs) = std::net::ToSocketAddrs::to_socket_addrs(addr) else {
            return false;
        };
        let Some(addr) = addrs.next() else {
            return false;
        };
        TcpStream::connect_timeout(&addr, timeout).and_then(|mut s| {
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.write_all(request)?;
            let mut out = Vec::new();
            s.take(4096).read_to_end(&mut out)?;
            Ok(out)
        })
    } else {
        unix_ping(host.strip_prefix("unix://").unwrap_or(if host.is_empty() {
            "/var/run/docker.sock"
        } else {
            host
        }))
    };
    reply.is_ok_and(|r| r.starts_with(b"HTTP/1.") && r.get(9..12) == Some(b"200"))
}

#[cfg(unix)]
fn unix_ping(path: &str) -> std::io::Result<Vec<u8>> {
    let timeout = Some(Duration::from_secs(2));
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(timeout)?;
    s.set_write_timeout(timeout)?;
    s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut out = Vec::new();
    s.take(4096).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(not(unix))]
fn unix_ping(_path: &str) -> std::io::Result<Vec<u8>> {
    Err(std::io::Error::other("no Unix sockets here"))
}

/// The services that would take the testcontainers path: a default URL
/// that does not answer.
pub fn wanted(probes: &[Probe]) -> Vec<&'static str> {
    probes
        .iter()
        .filter(|p| p.origin == Origin::Default && matches!(p.status, Status::Down(_)))
        .map(|p| p.service.name)
        .collect()
}

/// Running service containers; removed on drop (stdin closed, then the
/// starter removes them and exits).
#[derive(Debug)]
pub struct Containers {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `(variable, url)` per service.
    pub urls: Vec<(String, String)>,
}

impl Drop for Containers {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Builds `authnz-testsvc` (debug) and returns its path.
pub fn build(root: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    steps::run(crate::cargo().current_dir(root).args([
        "build",
        "--locked",
        "--manifest-path",
        MANIFEST,
    ]))?;
    let bin = target_dir.join("debug").join("authnz-testsvc");
    anyhow::ensure!(bin.exists(), "built, but {} is missing", bin.display());
    Ok(bin)
}

/// Starts containers for `services` (names as in `authnz-testsvc`), with
/// `images` as `(variable, image)` overrides; returns once they answer.
pub fn start(bin: &Path, services: &[&str], images: &[(&str, &str)]) -> anyhow::Result<Containers> {
    let mut cmd = Command::new(bin);
    cmd.args(services)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (var, image) in images {
        cmd.env(var, image);
    }
    println!("$ {}", steps::show(&cmd));
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", bin.display()))?;
    let stdin = child.stdin.take();
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from authnz-testsvc"))?;
    let mut containers = Containers {
        child,
        stdin,
        urls: Vec::new(),
    };
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line == "ready" {
            ready = true;
            break;
        }
        if let Some((var, url)) = line.split_once('=') {
            println!("testcontainers: {var}={url}");
            containers.urls.push((var.to_string(), url.to_string()));
        }
    }
    if !ready {
        let status = containers.child.wait()?;
        anyhow::bail!("authnz-testsvc stopped before its services were ready ({status})");
    }
    Ok(containers)
}

/// `cargo xtask test`: starts containers for the services that are down on
/// their default address, when enabled and an engine answers, and points
/// their probes at them. `None` when nothing was started.
pub fn fill_missing(
    root: &Path,
    target_dir: &Path,
    probes: &mut [Probe],
) -> anyhow::Result<Option<Containers>> {
    let names = wanted(probes);
    if names.is_empty() || !enabled() || !engine_answers() {
        return Ok(None);
    }
    println!(
        "starting test containers for: {} (images from AUTHNZ_TESTSVC_*_IMAGE; {SWITCH_VAR}=0 turns this off)",
        names.join(", ")
    );
    let bin = build(root, target_dir)?;
    let containers = start(&bin, &names, &[])?;
    for (var, url) in &containers.urls {
        if let Some(p) = probes.iter_mut().find(|p| p.service.env_var == var) {
            p.url = url.clone();
            p.origin = Origin::Container;
            p.status = Status::Up;
        }
    }
    Ok(Some(containers))
}
