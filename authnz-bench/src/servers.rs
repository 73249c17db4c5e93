//! Starting, watching and stopping the servers under test: authnz (`authnzrv`)
//! and the original Python authnzerver 0.1.3 in a virtualenv the bench makes.
//!
//! Every server listens on 127.0.0.1 on a free port, gets huge rate limits
//! (throughput runs must not hit the limiter) and is optionally pinned to one
//! core with `taskset`. Memory and CPU are read from `/proc` for the server
//! process and all its descendants (the original runs worker processes).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use authnz_proto::codec::Codec;
use base64::Engine as _;

/// Rate limits far above anything a run can reach, for both servers (the
/// original 0.1.3 has no server-side limiter; authnz reads it).
/// Every limit far above what the bench sends, the built-in aggressive
/// per-type ones too (explicit overrides win over them in authnz, Q-10), so
/// the limiter does its work on every request but never refuses one.
pub const HUGE_RATELIMITS: &str = "ipaddr:100000000; user:100000000; session:100000000; \
    apikey:100000000; burst:100000000; user-new:100000000; user-login:100000000; \
    user-logout:100000000; user-edit:100000000; user-resetpass:100000000; \
    user-changepass:100000000; user-sendemail-signup:100000000; \
    user-sendemail-forgotpass:100000000; user-set-emailsent:100000000; \
    apikey-new:100000000; apikey-new-nosession:100000000; \
    apikey-refresh-nosession:100000000";

/// The password of the admin user the bench logs in as (authnz only; the
/// original generates one and writes it to its credentials file).
const ADMIN_PASSWORD: &str = "bench-Admin-pw-7c1f9e2b4d";
const ADMIN_EMAIL: &str = "bench-admin@authnz-bench.org";

/// How long a server may take to answer after start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authnz,
    Original,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Authnz => "authnz",
            Kind::Original => "original 0.1.3",
        }
    }
}

/// A running server.
/// The SQLite file `authnzrv --autosetup` makes in its base folder.
pub const SQLITE_FILE: &str = ".authdb.sqlite";

#[derive(Debug)]
pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub codec: Arc<Codec>,
    pub admin_email: String,
    pub admin_password: String,
    child: Child,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stop the server (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory of the server and its descendants: (current, peak)
    /// in KiB, from `VmRSS` and `VmHWM`.
    pub fn rss_kib(&self) -> (u64, u64) {
        let mut now = 0;
        let mut peak = 0;
        for pid in process_tree(self.pid()) {
            now += status_kib(pid, "VmRSS:").unwrap_or(0);
            peak += status_kib(pid, "VmHWM:").unwrap_or(0);
        }
        (now, peak)
    }

    /// A reader of the current RSS (KiB) of the server and its descendants
    /// that can be moved into a task.
    pub fn rss_probe(&self) -> impl Fn() -> u64 + Send + 'static {
        let pid = self.pid();
        move || {
            process_tree(pid)
                .into_iter()
                .map(|p| status_kib(p, "VmRSS:").unwrap_or(0))
                .sum()
        }
    }

    /// Reset the peak-RSS counters of the server's processes (Linux
    /// `clear_refs` 5), so the next peak belongs to the next scenario.
    pub fn reset_peak_rss(&self) {
        for pid in process_tree(self.pid()) {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// CPU time (user + system) of the server and its descendants.
    pub fn cpu_time(&self) -> Duration {
        process_tree(self.pid()).into_iter().map(proc_cpu).sum()
    }
}

/// How the processes share the cores.
#[derive(Debug, Clone)]
pub struct Pinning {
    /// `taskset -c` list for servers, or none.
    pub server: Option<String>,
    /// `taskset -c` list for the generator, or none.
    pub generator: Option<String>,
}

impl Pinning {
    pub fn describe(&self) -> String {
        match (&self.server, &self.generator) {
            (Some(s), Some(g)) => format!("server on CPU {s}, generator on CPU {g} (taskset)"),
            _ => "not pinned".to_owned(),
        }
    }

    /// Cores the server may use.
    pub fn server_cores(&self) -> usize {
        match &self.server {
            Some(list) => list.split(',').count(),
            None => std::thread::available_parallelism().map_or(1, usize::from),
        }
    }

    /// Pin this process (all its threads) to the generator's core.
    pub fn pin_self(&self) -> anyhow::Result<()> {
        if let Some(list) = &self.generator {
            let pid = std::process::id().to_string();
            let status = Command::new("taskset")
                .args(["-a", "-p", "-c", list, &pid])
                .stdout(Stdio::null())
                .status()
                .context("cannot run taskset")?;
            if !status.success() {
                bail!("taskset could not pin the generator to CPU {list}");
            }
        }
        Ok(())
    }

    fn command(&self, program: &Path) -> Command {
        match &self.server {
            Some(list) => {
                let mut c = Command::new("taskset");
                c.args(["-c", list]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot bind a free port")?;
    Ok(l.local_addr()?.port())
}

fn read_codec(basedir: &Path) -> anyhow::Result<Arc<Codec>> {
    let path = basedir.join(".authnzerver-secret-key");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.trim().trim_matches('"');
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .context("secret key is not base64")?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("secret key is not 32 bytes"))?;
    Ok(Arc::new(Codec::new(&key)))
}

/// Start authnz from `binary` with a fresh autosetup basedir under `dir`;
/// `authdb` overrides the database (PostgreSQL runs), `env` adds variables
/// (the Redis items).
pub fn start_authnz(
    binary: &Path,
    dir: &Path,
    authdb: Option<&str>,
    env: &[(&str, String)],
    pinning: &Pinning,
) -> anyhow::Result<Server> {
    let basedir = dir.join("basedir");
    std::fs::create_dir_all(dir)?;
    let setup = Command::new(binary)
        .args(["--autosetup", "--no-prompt", "--basedir"])
        .arg(&basedir)
        .env("AUTHNZERVER_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("AUTHNZERVER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} --autosetup", binary.display()))?;
    if !setup.status.success() {
        bail!(
            "authnzrv --autosetup failed: {}",
            String::from_utf8_lossy(&setup.stderr)
        );
    }
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = pinning.command(binary);
    cmd.arg("--basedir")
        .arg(&basedir)
        .args(["--listen", "127.0.0.1", "--port", &port.to_string()])
        .env("AUTHNZERVER_RATELIMITS", HUGE_RATELIMITS)
        .env("AUTHNZERVER_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("AUTHNZERVER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(url) = authdb {
        cmd.args(["--authdb", url]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let server = Server {
        kind: Kind::Authnz,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        codec: read_codec(&basedir)?,
        admin_email: ADMIN_EMAIL.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        child,
    };
    wait_ready(server, dir)
}

/// The virtualenv with the original authnzerver 0.1.3, made on first use
/// (with the three fixes its 2020 wheel needs; see docs/PERFORMANCE.md). Returns its `bin` folder.
pub fn original_venv(work: &Path, python: &str, blocklist: &Path) -> anyhow::Result<PathBuf> {
    let venv = work.join("original-venv");
    let bin = venv.join("bin");
    let marker = venv.join(".authnz-bench-ready");
    if marker.exists() {
        return Ok(bin);
    }
    if !bin.join("python").exists() {
        run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    }
    // Fix 1: the 2020 release breaks on SQLAlchemy 1.4+.
    run(Command::new(bin.join("pip")).args([
        "install",
        "-q",
        "authnzerver==0.1.3",
        "sqlalchemy<1.4",
    ]))?;
    // Fix 2: the wheel lacks the disposable-domain list.
    let out = Command::new(bin.join("python"))
        .args([
            "-c",
            "import os, importlib.util; print(os.path.dirname(importlib.util.find_spec('authnzerver').origin))",
        ])
        .output()?;
    let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::copy(blocklist, pkg.join("disposable_email_blocklist.conf"))
        .context("cannot install the disposable-domain list into the original's package")?;
    std::fs::write(&marker, "ok\n")?;
    Ok(bin)
}

/// Start the original with its own auto-setup (fix 3: called as a function,
/// since `--autosetup` prompts without a terminal) in `dir`.
pub fn start_original(venv_bin: &Path, dir: &Path, pinning: &Pinning) -> anyhow::Result<Server> {
    let basedir = dir.join("basedir");
    std::fs::create_dir_all(&basedir)?;
    run(Command::new(venv_bin.join("python"))
        .args([
            "-c",
            "import sys; from authnzerver.autosetup import autogen_secrets_authdb; \
             autogen_secrets_authdb(sys.argv[1], interactive=False)",
        ])
        .arg(&basedir)
        .current_dir(dir))?;
    let creds = std::fs::read_to_string(basedir.join(".authnzerver-admin-credentials"))
        .context("the original wrote no admin credentials")?;
    let (email, password) = creds
        .trim_end_matches('\n')
        .split_once(' ')
        .context("unexpected admin credentials format")?;
    let port = free_port()?;
    let b = basedir.display();
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = pinning.command(&venv_bin.join("authnzrv"));
    cmd.env(
        "AUTHNZERVER_AUTHDB",
        format!("sqlite:///{b}/.authdb.sqlite"),
    )
    .env("AUTHNZERVER_BASEDIR", &basedir)
    .env(
        "AUTHNZERVER_SECRET",
        basedir.join(".authnzerver-secret-key"),
    )
    .env("AUTHNZERVER_PIISALT", basedir.join(".authnzerver-salt"))
    .env("AUTHNZERVER_LISTEN", "127.0.0.1")
    .env("AUTHNZERVER_PORT", port.to_string())
    .env("PORT", port.to_string())
    .env("AUTHNZERVER_CACHEDIR", basedir.join("cache"))
    .env("AUTHNZERVER_RATELIMITS", HUGE_RATELIMITS)
    .current_dir(dir)
    .stdin(Stdio::null())
    .stdout(log.try_clone()?)
    .stderr(log);
    let child = cmd.spawn().context("cannot start the original authnzrv")?;
    let server = Server {
        kind: Kind::Original,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        codec: read_codec(&basedir)?,
        admin_email: email.to_owned(),
        admin_password: password.to_owned(),
        child,
    };
    wait_ready(server, dir)
}

/// Wait until a garbage `POST /` is answered (401 on both servers).
fn wait_ready(mut server: Server, dir: &Path) -> anyhow::Result<Server> {
    let until = Instant::now() + START_TIMEOUT;
    let probe = crate::client::post_request(server.port(), "garbage");
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!(
                "{} exited with {status} during start; see {}",
                server.kind.label(),
                dir.join("server.log").display()
            );
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = [0u8; 12];
            if s.write_all(&probe).is_ok() && s.read_exact(&mut head).is_ok() {
                return Ok(server);
            }
        }
        if Instant::now() > until {
            server.stop();
            bail!("server did not answer within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `pid` and all its descendants.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for task in tasks.flatten() {
                let children = std::fs::read_to_string(task.path().join("children"));
                for c in children.unwrap_or_default().split_whitespace() {
                    if let Ok(c) = c.parse::<u32>()
                        && !all.contains(&c)
                    {
                        all.push(c);
                    }
                }
            }
        }
        i += 1;
    }
    all
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// User + system CPU time of one process from `/proc/PID/stat`.
pub fn proc_cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // `rest` starts at field 3, so utime (14) is index 11 and stime index 12.
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks() as f64)
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; asked once anyway).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}
