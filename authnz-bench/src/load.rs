//! The timed phase: keep a fixed number of connections busy with pre-built
//! requests for a fixed time, and record what happened.
//!
//! Each connection is one task on the generator's single-threaded runtime. It
//! takes the next pre-built request of its class (an atomic index into an
//! immutable list), sends it, waits for the reply, records the latency and
//! checks the reply: HTTP status, then the decrypted envelope's `success`.
//! A task stops at the deadline or when its class runs out of prepared
//! requests, so every loop ends by itself; a request in flight at the deadline
//! is allowed to finish (each request is bounded by the client's timeout).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authnz_proto::codec::Codec;
use serde_json::Value;

use crate::client::Conn;

/// One kind of traffic: its own requests and its own connections.
#[derive(Debug)]
pub struct Class {
    pub name: String,
    pub connections: usize,
    pub requests: Vec<Vec<u8>>,
}

/// What one class did during the timed phase.
#[derive(Debug, Default, Clone)]
pub struct ClassResult {
    pub name: String,
    pub connections: usize,
    /// Requests answered with HTTP 200 and `success: true`.
    pub ok: u64,
    /// Latency of every completed request (ok or not), microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Errors by kind: `HTTP 500`, `success=false: <reason>`, `io: ...`.
    pub errors: BTreeMap<String, u64>,
    /// True when the prepared requests ran out before the deadline.
    pub exhausted: bool,
    /// Successful replies (decrypted JSON), kept only when asked for.
    pub replies: Vec<Value>,
}

impl ClassResult {
    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let last = self.latencies_us.len() - 1;
        let i = ((last as f64) * q).round() as usize;
        f64::from(self.latencies_us[i.min(last)]) / 1000.0
    }
}

/// The whole timed phase.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub classes: Vec<ClassResult>,
    /// From the first request to the last reply.
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn rate(&self, completed: u64) -> f64 {
        completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Default)]
struct TaskResult {
    ok: u64,
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    replies: Vec<Value>,
}

/// Run `classes` against `addr` for `duration`. Replies are checked with
/// `codec`; with `keep_replies`, successful decrypted replies are returned
/// (used to collect session tokens in the untimed set-up phase).
pub async fn run(
    addr: SocketAddr,
    codec: Arc<Codec>,
    classes: Vec<Class>,
    duration: Duration,
    keep_replies: bool,
) -> LoadResult {
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::new();
    let mut meta = Vec::new();
    for class in classes {
        let requests = Arc::new(class.requests);
        let next = Arc::new(AtomicUsize::new(0));
        let exhausted = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..class.connections.max(1) {
            let requests = Arc::clone(&requests);
            let next = Arc::clone(&next);
            let exhausted = Arc::clone(&exhausted);
            let codec = Arc::clone(&codec);
            tasks.push(tokio::spawn(async move {
                connection_loop(
                    addr,
                    &codec,
                    &requests,
                    &next,
                    &exhausted,
                    deadline,
                    keep_replies,
                )
                .await
            }));
        }
        handles.push(tasks);
        meta.push((class.name, class.connections.max(1), exhausted));
    }
    let mut classes = Vec::new();
    for (tasks, (name, connections, exhausted)) in handles.into_iter().zip(meta) {
        let mut result = ClassResult {
            name,
            connections,
            ..ClassResult::default()
        };
        for task in tasks {
            let t = match task.await {
                Ok(t) => t,
                Err(e) => {
                    *result.errors.entry(format!("task: {e}")).or_default() += 1;
                    continue;
                }
            };
            result.ok += t.ok;
            result.latencies_us.extend(t.latencies_us);
            for (k, v) in t.errors {
                *result.errors.entry(k).or_default() += v;
            }
            result.replies.extend(t.replies);
        }
        result.latencies_us.sort_unstable();
        result.exhausted = exhausted.load(Ordering::Relaxed);
        classes.push(result);
    }
    LoadResult {
        classes,
        elapsed: start.elapsed(),
    }
}

async fn connection_loop(
    addr: SocketAddr,
    codec: &Codec,
    requests: &[Vec<u8>],
    next: &AtomicUsize,
    exhausted: &AtomicBool,
    deadline: Instant,
    keep_replies: bool,
) -> TaskResult {
    let mut conn = Conn::new(addr);
    let mut out = TaskResult {
        latencies_us: Vec::with_capacity(1024),
        ..TaskResult::default()
    };
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else {
            exhausted.store(true, Ordering::Relaxed);
            break;
        };
        let sent = Instant::now();
        let reply = conn.send(request).await;
        let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        match reply {
            Err(e) => {
                *out.errors.entry(format!("io: {}", e.kind())).or_default() += 1;
            }
            Ok(reply) => {
                out.latencies_us.push(micros);
                match check(codec, reply.status, &reply.body) {
                    Ok(value) => {
                        out.ok += 1;
                        if keep_replies {
                            out.replies.push(value);
                        }
                    }
                    Err(kind) => *out.errors.entry(kind).or_default() += 1,
                }
            }
        }
    }
    out
}

/// A reply is good when it is HTTP 200, decrypts, and says `success: true`.
fn check(codec: &Codec, status: u16, body: &[u8]) -> Result<Value, String> {
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let value = codec.open(body).map_err(|e| format!("bad reply: {e}"))?;
    if value.get("success") == Some(&Value::Bool(true)) {
        return Ok(value);
    }
    let reason = value
        .get("failure_reason")
        .and_then(Value::as_str)
        .unwrap_or("no failure_reason");
    Err(format!("success=false: {reason}"))
}
