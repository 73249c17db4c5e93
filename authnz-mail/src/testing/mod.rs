//! Test support (feature `testing`): real mail services on ephemeral
//! loopback ports, started by the tests themselves and stopped when dropped.
//!
//! - [`python_with`] makes (once, under a file lock shared by every test
//!   process) a Python virtualenv in `<target>/authnz-test-venv` and installs
//!   the PyPI packages a test needs: `aiosmtpd` for SMTP, `moto[server]` for
//!   SES.
//! - [`SmtpSink`] runs `smtp_sink.py` (aiosmtpd; plain, STARTTLS, implicit
//!   TLS, login, recipient rejection) and reads back what it received,
//!   parsed by Python's own MIME parser.
//! - [`TestCerts`] makes a throw-away CA and a server certificate for
//!   127.0.0.1 with the `openssl` command.
//! - [`MotoServer`] runs `moto_server`, the SES emulator.
//! - [`silent_listener`] accepts TCP connections and never answers: a mail
//!   server that hangs.
//!
//! - [`contract`] is the mailer contract suite every backend runs, with
//!   harnesses for the in-memory and file backends.
//!
//! When Python or PyPI is unavailable, [`python_with`] prints `SKIPPED` and
//! returns `None`, unless `AUTHNZ_REQUIRE_SERVICES=1`, when it panics (CI).
//! Callers that must never skip (the SES test when the `ses` feature is
//! built) use [`require`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod contract;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// Set to `1` to turn every skip into a failure (CI does).
pub const REQUIRE_SERVICES_VAR: &str = "AUTHNZ_REQUIRE_SERVICES";
/// The Python used to make the virtualenv (default `python3`).
pub const PYTHON_VAR: &str = "AUTHNZ_TEST_PYTHON";

/// The aiosmtpd package, pinned to the series the sink script was written for.
pub const AIOSMTPD: &str = "aiosmtpd>=1.4,<2";
/// The SES emulator.
pub const MOTO: &str = "moto[server]>=5,<6";

const SINK_SCRIPT: &str = include_str!("smtp_sink.py");

fn required() -> bool {
    std::env::var(REQUIRE_SERVICES_VAR).is_ok_and(|v| v.trim() == "1")
}

/// Skip (print and `None`) or, when services are required, panic.
fn skip_or_fail<T>(test: &str, why: &str) -> Option<T> {
    if required() {
        panic!("{test}: {why} (and {REQUIRE_SERVICES_VAR}=1)");
    }
    let line = format!("SKIPPED ({why}): {test}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
}

/// Unwrap a service that must be there: panics with the test's name.
pub fn require<T>(service: Option<T>, test: &str, what: &str) -> T {
    service.unwrap_or_else(|| panic!("{test}: {what} could not be started"))
}

/// `<target>/authnz-test-venv`, where `<target>` is `CARGO_TARGET_DIR` or the
/// workspace's `target`.
pub fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("authnz-test-venv")
}

fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Blocking: make the venv if needed and install `package` into it.
fn ensure_package(package: &str) -> Result<PathBuf, String> {
    let dir = venv_dir();
    std::fs::create_dir_all(dir.parent().unwrap_or(&dir))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let python = dir.join("bin").join("python");
    if !python.exists() {
        let base = std::env::var(PYTHON_VAR).unwrap_or_else(|_| "python3".to_owned());
        run(std::process::Command::new(base)
            .args(["-m", "venv"])
            .arg(&dir))?;
    }
    let marker_name: String = package
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let marker = dir.join(format!(".installed-{marker_name}"));
    if !marker.exists() {
        run(std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(package))?;
        std::fs::write(&marker, b"").map_err(|e| e.to_string())?;
    }
    drop(lock);
    Ok(python)
}

/// The venv's `python` with `packages` installed, or `None` (skipped).
pub async fn python_with(packages: &[&str], test: &str) -> Option<PathBuf> {
    let packages: Vec<String> = packages.iter().map(|p| (*p).to_owned()).collect();
    let result = tokio::task::spawn_blocking(move || {
        let mut python = None;
        for p in &packages {
            python = Some(ensure_package(p)?);
        }
        python.ok_or_else(|| "no package asked for".to_owned())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match result {
        Ok(python) => Some(python),
        Err(why) => skip_or_fail(test, &format!("Python test services unavailable: {why}")),
    }
}

/// A CA, and a server certificate for `127.0.0.1` and `localhost` signed
/// by it, in a temporary folder.
#[derive(Debug)]
pub struct TestCerts {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM): what a client must trust.
    pub ca_pem: PathBuf,
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

impl TestCerts {
    /// Make them with `openssl` (EC P-256, valid two days), or `None`.
    pub fn generate(test: &str) -> Option<TestCerts> {
        match Self::try_generate() {
            Ok(c) => Some(c),
            Err(why) => skip_or_fail(test, &format!("cannot make test certificates: {why}")),
        }
    }

    fn try_generate() -> Result<TestCerts, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let p = |name: &str| dir.path().join(name);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(std::process::Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem"))
            .args(["-days", "2", "-subj", "/CN=authnz test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]))?;
        run(std::process::Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(p("server.key"))
            .arg("-out")
            .arg(p("server.csr"))
            .args(["-subj", "/CN=127.0.0.1"]))?;
        std::fs::write(
            p("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        run(std::process::Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(p("server.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .arg("-extfile")
            .arg(p("ext.cnf"))
            .arg("-out")
            .arg(p("server.pem")))?;
        Ok(TestCerts {
            ca_pem: p("ca.pem"),
            cert: p("server.pem"),
            key: p("server.key"),
            _dir: dir,
        })
    }
}

/// How an [`SmtpSink`] behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Offer STARTTLS with this (cert, key) and require it.
    pub starttls: Option<(PathBuf, PathBuf)>,
    /// Speak TLS from the first byte with this (cert, key).
    pub implicit_tls: Option<(PathBuf, PathBuf)>,
    /// Require this (user, password) login.
    pub login: Option<(String, String)>,
    /// Answer 550 to recipients ending with this.
    pub reject_suffix: Option<String>,
}

/// One message the sink accepted, as Python's `email` package parsed it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The whole record (see `smtp_sink.py`).
    pub json: Value,
}

impl ReceivedMail {
    /// A string field of the record ("" when null or absent).
    pub fn get(&self, key: &str) -> &str {
        self.json[key].as_str().unwrap_or_default()
    }

    /// The envelope recipients.
    pub fn rcpt_tos(&self) -> Vec<String> {
        self.json["rcpt_tos"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A real SMTP server (aiosmtpd) on `127.0.0.1:port`, killed on drop.
#[derive(Debug)]
pub struct SmtpSink {
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpSink {
    /// Start a sink, or `None` when Python services are unavailable (skip).
    pub async fn start(options: SinkOptions, test: &str) -> Option<SmtpSink> {
        let python = python_with(&[AIOSMTPD], test).await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("smtp_sink.py");
        std::fs::write(&script, SINK_SCRIPT).expect("write sink script");
        let out = dir.path().join("received");
        std::fs::create_dir(&out).expect("mkdir");
        let mut cmd = Command::new(python);
        cmd.args(["-W", "ignore"]).arg(&script).arg(&out);
        if let Some((cert, key)) = &options.starttls {
            cmd.arg("--starttls").arg(cert).arg(key);
        }
        if let Some((cert, key)) = &options.implicit_tls {
            cmd.arg("--implicit-tls").arg(cert).arg(key);
        }
        if let Some((user, password)) = &options.login {
            cmd.arg("--login").arg(format!("{user}:{password}"));
        }
        if let Some(suffix) = &options.reject_suffix {
            cmd.arg("--reject-suffix").arg(suffix);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return skip_or_fail(test, &format!("cannot start the SMTP sink: {e}")),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let port = match ready {
            Ok(Ok(Some(line))) => line
                .strip_prefix("READY ")
                .and_then(|p| p.trim().parse::<u16>().ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.start_kill();
            return skip_or_fail(test, "the SMTP sink did not report READY");
        };
        Some(SmtpSink { port, dir, child })
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let out = self.dir.path().join("received");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&out)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|p| ReceivedMail {
                json: serde_json::from_slice(&std::fs::read(p).expect("read")).expect("sink JSON"),
            })
            .collect()
    }

    /// Wait (at most `within`) until `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop the sink now (also done on drop).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never says a
/// word (a hung mail server). Runs until the returned task is aborted.
pub async fn silent_listener() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (port, task)
}

/// A port nothing listens on (bound and released; racy only in theory).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A minimal HTTP/1.1 exchange with 127.0.0.1:`port`: (status, body).
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The SES emulator (`moto_server`) on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    /// Its port.
    pub port: u16,
    python: PathBuf,
    child: Child,
}

impl MotoServer {
    /// Start moto, or `None` when Python services are unavailable.
    pub async fn start(test: &str) -> Option<MotoServer> {
        let python = python_with(&[MOTO], test).await?;
        let moto = python.with_file_name("moto_server");
        // moto cannot report an OS-chosen port, so pick one and retry on a
        // collision.
        for _ in 0..5 {
            let port = closed_port().await;
            let mut child = match Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
            {
                Ok(c) => c,
                Err(e) => return skip_or_fail(test, &format!("cannot start moto_server: {e}")),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok((200, _)) = http(port, "GET", "/moto-api/data.json", &[], b"").await {
                    return Some(MotoServer {
                        port,
                        python,
                        child,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill().await;
        }
        skip_or_fail(test, "moto_server did not become ready")
    }

    /// The endpoint URL to give the SES client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Verify `address` as an SES identity (else SES rejects mail from it),
    /// using boto3 from the same virtualenv.
    pub async fn verify_identity(&self, address: &str) {
        let script = "import sys, boto3\n\
            c = boto3.client('sesv2', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                aws_access_key_id='testing', aws_secret_access_key='testing')\n\
            c.create_email_identity(EmailIdentity=sys.argv[2])\n";
        let out = Command::new(&self.python)
            .args(["-c", script, &self.endpoint(), address])
            .output()
            .await
            .expect("run python");
        assert!(
            out.status.success(),
            "create_email_identity failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Everything moto stored (`GET /moto-api/data.json`).
    pub async fn data(&self) -> Value {
        let (status, body) = http(self.port, "GET", "/moto-api/data.json", &[], b"")
            .await
            .expect("moto data");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("moto JSON")
    }

    /// Stop moto now (also done on drop).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
