//! `authnz-bench --soak MINUTES`: a bounded soak test (`cargo xtask soak`,
//! docs/OPERATIONS.md). Per backend, one `authnzrv` gets a steady mixed
//! load for the given time while its resident memory is sampled every
//! [`SAMPLE_EVERY`]; the run fails when memory keeps growing (the last
//! third of the run sits more than `growth_pct` above the middle third) or
//! when any reply is wrong. Thirds are compared by their floor (smallest
//! sample): Argon2 holds its memory (64 MiB per lane with the default
//! parameters) only while it hashes, so samples taken during a login or
//! sign-up spike by a few hundred MiB without any leak, while what the
//! server keeps between requests shows in the floor.
//!
//! The load is a sequence of rounds of a fixed mix, so the working set stays
//! steady and growth means a leak rather than more data: each round opens
//! anonymous sessions and checks them, logs in with the right password
//! (the admin, and a user made at set-up) and with a wrong one (that user,
//! whose right-password login each round clears its failure count, so the
//! back-off delays stay a few seconds), signs up new users, and logs out or
//! deletes what the previous round opened. Every
//! reply is checked: HTTP status (429 is counted apart, as expected under
//! rate limits), decryption, and `success` as the request type and
//! password make it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::Conn;
use crate::scenarios::{Builder, session_token};
use crate::servers::Server;

/// How often the server's RSS is read.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Concurrent keep-alive connections.
const CONNECTIONS: usize = 8;
/// The mix of one round.
const SESSION_NEW: usize = 200;
const SESSION_EXISTS: usize = 800;
const LOGIN_RIGHT: usize = 4;
const LOGIN_WRONG: usize = 2;
const USER_NEW: usize = 2;
/// Absolute slack of the plateau check, for tiny absolute changes.
const SLACK_KIB: u64 = 2048;

/// What a reply must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Success,
    Failure,
}

/// One request of a round.
#[derive(Debug)]
struct Item {
    class: &'static str,
    expect: Expect,
    bytes: Vec<u8>,
}

/// One RSS reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
}

/// The result of one backend's soak.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub backend: String,
    pub elapsed: Duration,
    pub rounds: u64,
    /// Replies as expected, by class.
    pub ok: BTreeMap<&'static str, u64>,
    /// HTTP 429 replies, by class (expected under rate limits).
    pub limited: BTreeMap<&'static str, u64>,
    /// Everything else: `class: kind` -> count.
    pub errors: BTreeMap<String, u64>,
    pub samples: Vec<Sample>,
}

/// Smallest RSS of the samples taken in `[from, to)` of the run (fractions).
fn floor_in(samples: &[Sample], total: Duration, from: f64, to: f64) -> Option<u64> {
    samples
        .iter()
        .filter(|s| {
            let f = s.at.as_secs_f64() / total.as_secs_f64().max(1e-9);
            f >= from && f < to
        })
        .map(|s| s.rss_kib)
        .min()
}

impl SoakReport {
    fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// (floor of the middle third, floor of the last third), KiB.
    pub fn thirds(&self) -> Option<(u64, u64)> {
        let total = self.samples.last()?.at;
        let mid = floor_in(&self.samples, total, 1.0 / 3.0, 2.0 / 3.0)?;
        let last = floor_in(&self.samples, total, 2.0 / 3.0, 1.01)?;
        Some((mid, last))
    }

    /// Problems that fail the soak.
    pub fn problems(&self, growth_pct: f64) -> Vec<String> {
        let mut out = Vec::new();
        if self.total_errors() > 0 {
            out.push(format!(
                "{}: {} wrong replies or errors",
                self.backend,
                self.total_errors()
            ));
        }
        match self.thirds() {
            None => out.push(format!(
                "{}: too few RSS samples for a plateau check",
                self.backend
            )),
            Some((mid, last)) => {
                let allowed = (mid as f64 * (1.0 + growth_pct / 100.0)) as u64 + SLACK_KIB;
                if last > allowed {
                    out.push(format!(
                        "{}: RSS still growing: floor of the last third {last} KiB, of the middle third \
                         {mid} KiB (allowed {allowed} KiB, +{growth_pct}% + {SLACK_KIB} KiB)",
                        self.backend
                    ));
                }
            }
        }
        if self.ok.values().sum::<u64>() == 0 {
            out.push(format!("{}: no request succeeded", self.backend));
        }
        out
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "## soak: {} ({:.0} s, {} rounds, {} connections)\n\n",
            self.backend,
            self.elapsed.as_secs_f64(),
            self.rounds,
            CONNECTIONS
        );
        s.push_str("| request | as expected | 429 |\n| --- | ---: | ---: |\n");
        for (class, n) in &self.ok {
            let limited = self.limited.get(class).copied().unwrap_or(0);
            s.push_str(&format!("| {class} | {n} | {limited} |\n"));
        }
        let rate = self.ok.values().sum::<u64>() as f64 / self.elapsed.as_secs_f64().max(1e-9);
        s.push_str(&format!("\nthroughput: {rate:.0} requests/s as expected\n"));
        if self.errors.is_empty() {
            s.push_str("errors: none\n");
        } else {
            s.push_str("errors:\n");
            for (k, v) in &self.errors {
                s.push_str(&format!("  - {k}: {v}\n"));
            }
        }
        let mib = |k: u64| k as f64 / 1024.0;
        if let (Some(first), Some(min), Some(max)) = (
            self.samples.first(),
            self.samples.iter().map(|s| s.rss_kib).min(),
            self.samples.iter().map(|s| s.rss_kib).max(),
        ) {
            s.push_str(&format!(
                "RSS: {} samples, first {:.1} MiB, min {:.1} MiB, max {:.1} MiB",
                self.samples.len(),
                mib(first.rss_kib),
                mib(min),
                mib(max)
            ));
            if let Some((mid, last)) = self.thirds() {
                s.push_str(&format!(
                    "; floor of middle third {:.1} MiB, of last third {:.1} MiB ({:+.1}%)",
                    mib(mid),
                    mib(last),
                    (last as f64 / mid.max(1) as f64 - 1.0) * 100.0
                ));
            }
            s.push('\n');
            let line: Vec<String> = self
                .samples
                .iter()
                .map(|x| format!("{:.0}s={:.1}", x.at.as_secs_f64(), mib(x.rss_kib)))
                .collect();
            s.push_str(&format!("RSS samples (MiB): {}\n", line.join(" ")));
        }
        s
    }
}

/// State carried from one round to the next.
#[derive(Debug, Default)]
struct Carry {
    /// Anonymous sessions opened last round: logged in with or checked.
    sessions: Vec<String>,
    /// Sessions checked last round: deleted now.
    to_delete: Vec<String>,
    /// The admin's user id, from the first right-password login.
    admin_id: Option<i64>,
    /// Signed-in sessions of the admin opened last round: logged out now.
    signed_in: Vec<String>,
}

/// Soak `server` for `duration`.
pub async fn soak(
    server: &Server,
    backend: &str,
    run_id: &str,
    duration: Duration,
) -> anyhow::Result<SoakReport> {
    let b = Builder::new(server, run_id);
    let other = set_up_other_user(server, &b).await?;
    let mut report = SoakReport {
        backend: backend.to_owned(),
        ..SoakReport::default()
    };
    let start = Instant::now();
    let deadline = start + duration;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        let rss = server.rss_probe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let sample = Sample {
                    at: start.elapsed(),
                    rss_kib: rss(),
                };
                samples.lock().await.push(sample);
            }
        })
    };
    let mut carry = Carry::default();
    while Instant::now() < deadline {
        let items = round(&b, server, &other, &mut carry);
        let replies = run_round(server, items, &mut report).await;
        for (class, value) in replies {
            match class {
                "session-new" => carry.sessions.extend(session_token(&value)),
                "session-new (signed in)" => carry.signed_in.extend(session_token(&value)),
                "user-login (right password, admin)" => {
                    let user_id = value
                        .get("response")
                        .and_then(|r| r.get("user_id"))
                        .and_then(Value::as_i64);
                    carry.admin_id = carry.admin_id.or(user_id);
                }
                _ => {}
            }
        }
        report.rounds += 1;
    }
    report.elapsed = start.elapsed();
    sampler.abort();
    report.samples = samples.lock().await.clone();
    Ok(report)
}

/// A second user, for the wrong-password logins: `(email, password)`.
async fn set_up_other_user(server: &Server, b: &Builder<'_>) -> anyhow::Result<(String, String)> {
    let (email, password) = b.new_credentials();
    let mut conn = Conn::new(server.addr);
    for request in [
        b.user_new_with(&email, &password),
        b.user_set_emailverified(&email),
    ] {
        let reply = conn.send(&request).await?;
        anyhow::ensure!(reply.status == 200, "set-up: HTTP {}", reply.status);
        let value = server
            .codec
            .open(&reply.body)
            .map_err(|e| anyhow::anyhow!("set-up: bad reply: {e}"))?;
        anyhow::ensure!(
            value.get("success") == Some(&Value::Bool(true)),
            "set-up failed: {value}"
        );
    }
    Ok((email, password))
}

/// The requests of one round, interleaved so every class runs throughout.
fn round(
    b: &Builder<'_>,
    server: &Server,
    other: &(String, String),
    carry: &mut Carry,
) -> Vec<Item> {
    let mut classes: Vec<Vec<Item>> = Vec::new();
    let item = |class, expect, bytes| Item {
        class,
        expect,
        bytes,
    };
    classes.push(
        (0..SESSION_NEW)
            .map(|_| item("session-new", Expect::Success, b.session_new()))
            .collect(),
    );
    let previous = std::mem::take(&mut carry.sessions);
    // Logins consume sessions (a login replaces the presented session).
    let (for_login, rest) = previous.split_at(previous.len().min(LOGIN_RIGHT + LOGIN_WRONG));
    let mut logins = Vec::new();
    for (i, t) in for_login.iter().enumerate() {
        logins.push(if i == 0 {
            item(
                "user-login (right password)",
                Expect::Success,
                b.user_login(t, &other.0, &other.1),
            )
        } else if i < LOGIN_RIGHT {
            item(
                "user-login (right password, admin)",
                Expect::Success,
                b.user_login(t, &server.admin_email, &server.admin_password),
            )
        } else {
            item(
                "user-login (wrong password)",
                Expect::Failure,
                b.user_login(t, &other.0, "not the password at all"),
            )
        });
    }
    classes.push(logins);
    if !rest.is_empty() {
        classes.push(
            (0..SESSION_EXISTS)
                .map(|i| {
                    item(
                        "session-exists",
                        Expect::Success,
                        b.session_exists(&rest[i % rest.len()]),
                    )
                })
                .collect(),
        );
    }
    let to_delete = std::mem::replace(&mut carry.to_delete, rest.to_vec());
    if !to_delete.is_empty() {
        classes.push(
            to_delete
                .iter()
                .map(|t| {
                    item(
                        "session-delete",
                        Expect::Success,
                        b.request("session-delete", json!({ "session_token": t })),
                    )
                })
                .collect(),
        );
    }
    // After a login the frontend opens a session for the user; the next
    // round logs it out.
    if let Some(id) = carry.admin_id {
        let signed_in = std::mem::take(&mut carry.signed_in);
        classes.push(
            signed_in
                .iter()
                .map(|t| {
                    item(
                        "user-logout",
                        Expect::Success,
                        b.request("user-logout", json!({ "session_token": t, "user_id": id })),
                    )
                })
                .collect(),
        );
        classes.push(
            (0..LOGIN_RIGHT)
                .map(|_| {
                    item(
                        "session-new (signed in)",
                        Expect::Success,
                        b.session_new_for(Some(id)),
                    )
                })
                .collect(),
        );
    }
    classes.push(
        (0..USER_NEW)
            .map(|_| item("user-new", Expect::Success, b.user_new()))
            .collect(),
    );
    interleave(classes)
}

/// Round-robin over the classes, spreading the small ones through the big.
fn interleave(classes: Vec<Vec<Item>>) -> Vec<Item> {
    let total: usize = classes.iter().map(Vec::len).sum();
    let mut tagged: Vec<(f64, Item)> = Vec::with_capacity(total);
    for class in classes {
        let n = class.len().max(1) as f64;
        for (i, item) in class.into_iter().enumerate() {
            tagged.push(((i as f64 + 0.5) / n, item));
        }
    }
    tagged.sort_by(|a, b| a.0.total_cmp(&b.0));
    tagged.into_iter().map(|(_, item)| item).collect()
}

/// Send a round's requests over [`CONNECTIONS`] connections; count the
/// outcomes into `report` and return the successful replies by class.
async fn run_round(
    server: &Server,
    items: Vec<Item>,
    report: &mut SoakReport,
) -> Vec<(&'static str, Value)> {
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let items = Arc::clone(&items);
        let next = Arc::clone(&next);
        let codec = Arc::clone(&server.codec);
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    break;
                };
                let outcome = match conn.send(&item.bytes).await {
                    Err(e) => Outcome::Error(format!("io: {}", e.kind())),
                    Ok(reply) if reply.status == 429 => Outcome::Limited,
                    Ok(reply) if reply.status != 200 => {
                        Outcome::Error(format!("HTTP {}", reply.status))
                    }
                    Ok(reply) => match codec.open(&reply.body) {
                        Err(e) => Outcome::Error(format!("bad reply: {e}")),
                        Ok(value) => {
                            let success = value.get("success") == Some(&Value::Bool(true));
                            match (item.expect, success) {
                                (Expect::Success, true) | (Expect::Failure, false) => {
                                    Outcome::Ok(value)
                                }
                                (Expect::Success, false) => Outcome::Error(format!(
                                    "success=false: {}",
                                    value
                                        .get("failure_reason")
                                        .and_then(Value::as_str)
                                        .unwrap_or("no failure_reason")
                                )),
                                (Expect::Failure, true) => {
                                    Outcome::Error("success=true, expected a failure".into())
                                }
                            }
                        }
                    },
                };
                out.push((item.class, outcome));
            }
            out
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        let Ok(outcomes) = task.await else {
            *report.errors.entry("task panicked".into()).or_default() += 1;
            continue;
        };
        for (class, outcome) in outcomes {
            match outcome {
                Outcome::Ok(value) => {
                    *report.ok.entry(class).or_default() += 1;
                    replies.push((class, value));
                }
                Outcome::Limited => *report.limited.entry(class).or_default() += 1,
                Outcome::Error(kind) => {
                    *report.errors.entry(format!("{class}: {kind}")).or_default() += 1;
                }
            }
        }
    }
    replies
}

#[derive(Debug)]
enum Outcome {
    Ok(Value),
    Limited,
    Error(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rss: &[u64]) -> SoakReport {
        SoakReport {
            backend: "t".into(),
            ok: BTreeMap::from([("session-new", 1)]),
            samples: rss
                .iter()
                .enumerate()
                .map(|(i, &r)| Sample {
                    at: Duration::from_secs(2 * (i as u64 + 1)),
                    rss_kib: r,
                })
                .collect(),
            ..SoakReport::default()
        }
    }

    #[test]
    fn plateau_passes_and_growth_fails() {
        let flat = report(&[
            10_000, 30_000, 31_000, 30_500, 250_000, 30_800, 31_200, 260_000, 30_900,
        ]);
        assert!(flat.problems(10.0).is_empty(), "{:?}", flat.problems(10.0));
        let growing = report(&[
            10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000,
        ]);
        assert_eq!(growing.problems(10.0).len(), 1);
        let mut errors = report(&[10_000; 9]);
        errors.errors.insert("x: HTTP 500".into(), 1);
        assert_eq!(errors.problems(10.0).len(), 1);
        assert_eq!(report(&[1]).problems(10.0).len(), 1);
    }
}
