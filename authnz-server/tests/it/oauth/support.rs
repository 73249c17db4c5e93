//! Test support for social login: a real OpenID Connect provider (the npm
//! package `oidc-provider`, installed once into a directory under the
//! target dir and started per test on a free loopback port, see
//! `provider.mjs`), and a cookie-keeping HTTP agent that drives its
//! development login form with plain HTTP/1.1 requests, as a browser would
//! (no JavaScript is needed).
//!
//! Self-contained (no server, no `crate::` paths): the tests of
//! `authnz-axum` include this file too, and tests/e2e/oidc_provider.py
//! starts the same `provider.mjs` from the same install directory.
//!
//! Without `node` and `npm` (or without the npm registry) the tests print
//! what to install and pass as skips; with `AUTHNZ_REQUIRE_SERVICES=1` that
//! is a failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The pinned provider release.
const PACKAGE: &str = "oidc-provider@9.13.3";
const INSTALL: &str = "apt-get install nodejs npm";
const READY_MARK: &str = ".authnz-oidc-provider-ready";
const SCRIPT: &str = include_str!("provider.mjs");

pub const CLIENT_ID: &str = "authnz-test-client";
pub const CLIENT_SECRET: &str = "authnz-test-client-secret-0123456789";
/// The redirect URIs the test client has at the provider and authnz allows.
/// Nothing listens there: the agent stops at the redirect and reads it.
pub const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";
pub const OTHER_CALLBACK: &str = "http://127.0.0.1:9/oauth/other-callback";
/// The provider's name in authnz's configuration.
pub const PROVIDER: &str = "testop";

fn required() -> bool {
    std::env::var("AUTHNZ_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skip (printed) or, when services are required, fail.
fn unavailable(why: &str) {
    let text = format!(
        "the OpenID Connect test provider is unavailable: {why}; install Node.js 20 or later \
         and npm with `{INSTALL}` (and let npm reach its registry)"
    );
    if required() {
        panic!("{text} (AUTHNZ_REQUIRE_SERVICES=1 makes this a failure)");
    }
    eprintln!("SKIPPED: {text}");
}

fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The provider's directory, with the package installed (once per target
/// dir; every test of the binary waits for the first install).
fn installed() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-provider");
        if !dir.join(READY_MARK).exists() {
            run(std::process::Command::new("node").arg("--version"))?;
            run(std::process::Command::new("npm").arg("--version"))?;
            // A half-made install from an interrupted run is made again.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(
                dir.join("package.json"),
                "{\"private\": true, \"type\": \"module\"}\n",
            )
            .map_err(|e| e.to_string())?;
            run(std::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", PACKAGE])
                .current_dir(&dir))?;
            std::fs::write(dir.join(READY_MARK), "ok\n").map_err(|e| e.to_string())?;
        }
        std::fs::write(dir.join("provider.mjs"), SCRIPT).map_err(|e| e.to_string())?;
        Ok(dir)
    })
    .clone()
}

/// A running `oidc-provider`; killed (this child only) when dropped.
pub struct OidcProvider {
    child: Child,
    /// Its issuer URL, `http://127.0.0.1:<port>`.
    pub issuer: String,
}

impl OidcProvider {
    /// Start the provider with the test client, or `None` (skip) when Node
    /// is missing.
    pub async fn start() -> Option<Self> {
        let dir = match installed() {
            Ok(dir) => dir,
            Err(why) => {
                unavailable(&why);
                return None;
            }
        };
        let config = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [CALLBACK, OTHER_CALLBACK],
        });
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(config.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the provider starts within 60 s")
            .expect("read the provider's output")
            .expect("the provider prints its issuer");
        let issuer = line
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("unexpected provider output: {line}"))
            .to_owned();
        // Keep reading what it prints: a closed pipe would end it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Self { child, issuer })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// authnz's provider list for `issuer` (the test client), with `extra`
/// fields merged into the entry.
pub fn providers_json(issuer: &str, extra: Value) -> String {
    let mut entry = json!({
        "name": PROVIDER,
        "kind": "oidc",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "issuer": issuer,
        "redirect_uris": [CALLBACK, OTHER_CALLBACK],
        "timeout_seconds": 5,
    });
    if let (Some(e), Value::Object(more)) = (entry.as_object_mut(), extra) {
        e.extend(more);
    }
    json!([entry]).to_string()
}

/// One HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// A cookie-keeping HTTP agent for `http://127.0.0.1:<port>` URLs.
#[derive(Debug, Default)]
pub struct Browser {
    /// (path, name, value)
    cookies: Vec<(String, String, String)>,
}

impl Browser {
    pub async fn get(&mut self, url: &str) -> Response {
        self.request("GET", url, None).await
    }

    pub async fn post_form(&mut self, url: &str, form: &str) -> Response {
        self.request("POST", url, Some(form)).await
    }

    async fn request(&mut self, method: &str, url: &str, form: Option<&str>) -> Response {
        let uri: hyper::Uri = url.parse().unwrap_or_else(|e| panic!("URL {url}: {e}"));
        let host = uri.host().expect("host");
        let port = uri.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .filter(|(p, _, v)| uri.path().starts_with(p.as_str()) && !v.is_empty())
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n");
        if !cookie.is_empty() {
            head.push_str(&format!("Cookie: {}\r\n", cookie.join("; ")));
        }
        let body = form.unwrap_or("");
        if form.is_some() {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut stream = TcpStream::connect((host, port)).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
            .await
            .expect("the provider answers within 30 s")
            .expect("read");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("response head");
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut location = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("location") {
                location = Some(absolute(&uri, value));
            } else if name.eq_ignore_ascii_case("set-cookie") {
                self.set_cookie(value);
            }
        }
        Response {
            status,
            location,
            body: body.to_owned(),
        }
    }

    fn set_cookie(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.trim().split_once('=')) else {
            return;
        };
        let path = parts
            .filter_map(|a| a.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("path"))
            .map_or("/".to_owned(), |(_, v)| v.to_owned());
        self.cookies.retain(|(p, n, _)| !(p == &path && n == name));
        self.cookies.push((path, name.to_owned(), value.to_owned()));
    }
}

/// `location` resolved against the URL it came from.
fn absolute(base: &hyper::Uri, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!(
            "{}://{}{location}",
            base.scheme_str().unwrap_or("http"),
            base.authority().expect("authority")
        )
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The value of query parameter `name` in `url` (percent-decoded).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8")
}

/// What the browser brings back to the frontend's redirect URI.
#[derive(Debug)]
pub struct Callback {
    pub code: String,
    pub state: String,
}

/// Go through the provider as a person would: open `authorize_url`, fill
/// in the development login form with `login` (any password), follow the
/// redirects up to the redirect back to the frontend, and read `code` and
/// `state` from it.
pub async fn log_in_at_provider(authorize_url: &str, login: &str) -> Callback {
    let mut browser = Browser::default();
    let r = browser.get(authorize_url).await;
    assert_eq!(r.status, 303, "authorization request: {r:?}");
    let interaction = r.location.expect("to the login interaction");
    let r = browser.get(&interaction).await;
    assert_eq!(r.status, 200, "login form: {r:?}");
    assert!(
        r.body.contains("name=\"login\""),
        "a login form: {}",
        r.body
    );
    let action = r
        .body
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's action")
        .replace("&amp;", "&");
    let form = format!(
        "prompt=login&login={}&password=any-password",
        form_encode(login)
    );
    let r = browser.post_form(&action, &form).await;
    assert_eq!(r.status, 303, "login: {r:?}");
    let mut next = r.location.expect("back to the authorization");
    // Follow the provider's own redirects until it sends the browser back.
    for _ in 0..5 {
        if next.starts_with(CALLBACK) || next.starts_with(OTHER_CALLBACK) {
            let code = query_param(&next, "code")
                .unwrap_or_else(|| panic!("a code in the callback: {next}"));
            let state = query_param(&next, "state").expect("state in the callback");
            return Callback { code, state };
        }
        let r = browser.get(&next).await;
        assert_eq!(r.status, 303, "resume: {r:?}");
        next = r.location.expect("a redirect");
    }
    panic!("the provider did not send the browser back: {next}");
}
