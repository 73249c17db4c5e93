//! Finds the external services the test suites use (PostgreSQL, Redis,
//! MySQL/MariaDB) and decides which URL each test process gets.
//!
//! A service is "found" when its URL's host and port accept a TCP connection.
//! The URL comes from its `AUTHNZ_TEST_*_URL` variable, or, when that is
//! unset, from a default on 127.0.0.1. Found URLs are exported to child
//! processes; a service that does not answer is removed from their
//! environment so the Rust suites skip it (loudly) instead of hanging on a
//! connect. `AUTHNZ_REQUIRE_SERVICES=1` turns a missing service into a hard
//! failure before any test runs.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::time::Duration;

/// How long one TCP connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);

/// Environment variable that makes a missing service fatal.
pub const REQUIRE_VAR: &str = "AUTHNZ_REQUIRE_SERVICES";

/// A service the tests may use.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub name: &'static str,
    pub env_var: &'static str,
    pub default_url: &'static str,
    pub default_port: u16,
}

pub const SERVICES: [Service; 3] = [
    Service {
        name: "postgres",
        env_var: "AUTHNZ_TEST_POSTGRES_URL",
        default_url: "postgres://postgres@127.0.0.1:5432/test",
        default_port: 5432,
    },
    Service {
        name: "redis",
        env_var: "AUTHNZ_TEST_REDIS_URL",
        default_url: "redis://127.0.0.1:6379",
        default_port: 6379,
    },
    Service {
        name: "mysql",
        env_var: "AUTHNZ_TEST_MYSQL_URL",
        default_url: "mysql://root@127.0.0.1:3306/test",
        default_port: 3306,
    },
];

/// Where a URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Env,
    Default,
    /// A container started for this run (the testcontainers path).
    Container,
}

/// The outcome of probing one service.
#[derive(Debug, Clone)]
pub enum Status {
    /// Answered a TCP connect.
    Up,
    /// The URL has no TCP host we can probe (e.g. a Unix socket); passed on
    /// unchecked.
    Unprobed,
    /// Did not answer; the reason says why.
    Down(String),
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub service: Service,
    pub url: String,
    pub origin: Origin,
    pub status: Status,
}

impl Probe {
    pub fn usable(&self) -> bool {
        !matches!(self.status, Status::Down(_))
    }
}

/// Probes every service.
pub fn probe_all() -> Vec<Probe> {
    SERVICES.iter().map(|s| probe(*s)).collect()
}

fn probe(service: Service) -> Probe {
    let (url, origin) = match std::env::var(service.env_var) {
        Ok(v) if !v.trim().is_empty() => (v.trim().to_string(), Origin::Env),
        _ => (service.default_url.to_string(), Origin::Default),
    };
    let status = match host_port(&url, service.default_port) {
        None => Status::Unprobed,
        Some((host, port)) => match connect(&host, port) {
            Ok(()) => Status::Up,
            Err(e) => Status::Down(format!("{host}:{port}: {e}")),
        },
    };
    Probe {
        service,
        url,
        origin,
        status,
    }
}

/// Extracts `host` and `port` from `scheme://[user[:pass]@]host[:port][/...]`.
/// Returns `None` when there is no host (Unix-socket style URLs).
pub fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    // [v6]:port or [v6]
    if let Some(stripped) = hostport.strip_prefix('[') {
        let (host, after) = stripped.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((hostport.to_string(), default_port)),
    }
}

fn connect(host: &str, port: u16) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// True when `AUTHNZ_REQUIRE_SERVICES` asks for every service.
pub fn required() -> bool {
    matches!(
        std::env::var(REQUIRE_VAR).as_deref().map(str::trim),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// Prints the table and a loud notice per missing service. `would_start`
/// names the services a test run would start containers for (the
/// `services` task; a test run has started them before it reports).
pub fn report(probes: &[Probe], would_start: &[&str]) {
    println!();
    println!("== test services ==");
    println!("{:<10} {:<9} {:<15} url", "service", "status", "path");
    for p in probes {
        let status = match &p.status {
            Status::Up => "up",
            Status::Unprobed => "unprobed",
            Status::Down(_) => "DOWN",
        };
        let path = match p.origin {
            _ if would_start.contains(&p.service.name) => "testcontainers",
            _ if !p.usable() => "missing",
            Origin::Env => "env",
            Origin::Default => "default",
            Origin::Container => "testcontainers",
        };
        let url = if p.usable() { p.url.as_str() } else { "-" };
        println!("{:<10} {:<9} {:<15} {url}", p.service.name, status, path);
    }
    println!();
    if !would_start.is_empty() {
        println!(
            "A Docker engine answers: a test run starts {} as containers \
             (authnz-testsvc; images from AUTHNZ_TESTSVC_*_IMAGE).",
            would_start.join(", ")
        );
        println!();
    }
    for p in probes {
        if would_start.contains(&p.service.name) {
            continue;
        }
        if let Status::Down(reason) = &p.status {
            let bar = "!".repeat(78);
            println!("{bar}");
            println!(
                "!!! SKIP: {} is not reachable ({reason}).",
                p.service.name.to_uppercase()
            );
            println!(
                "!!! Tests that need {} will be SKIPPED. Start it (see .ci/run), set {}, or start a Docker engine (testcontainers).",
                p.service.name, p.service.env_var
            );
            println!("!!! {REQUIRE_VAR}=1 turns this skip into a failure.");
            println!("{bar}");
            println!();
        }
    }
}

/// Exports usable URLs to `cmd` and removes the variables of missing
/// services, so tests see exactly what answered.
pub fn apply_env(cmd: &mut Command, probes: &[Probe]) {
    for p in probes {
        if p.usable() {
            cmd.env(p.service.env_var, &p.url);
        } else {
            cmd.env_remove(p.service.env_var);
        }
    }
}

/// Fails when services are required and some are missing.
pub fn enforce(probes: &[Probe]) -> anyhow::Result<()> {
    let missing: Vec<&str> = probes
        .iter()
        .filter(|p| !p.usable())
        .map(|p| p.service.name)
        .collect();
    if !missing.is_empty() && required() {
        anyhow::bail!(
            "{REQUIRE_VAR}=1 but these services do not answer: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn parses_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test", 1),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(
            host_port("redis://127.0.0.1", 6379),
            Some(("127.0.0.1".into(), 6379))
        );
        assert_eq!(
            host_port("mysql://root:p%40ss@db.example:3307/x?ssl=0", 1),
            Some(("db.example".into(), 3307))
        );
        assert_eq!(
            host_port("redis://[::1]:6380/0", 1),
            Some(("::1".into(), 6380))
        );
        assert_eq!(host_port("postgres:///test?host=/run/pg", 5432), None);
        assert_eq!(host_port("redis://h:notaport", 1), None);
    }
}
