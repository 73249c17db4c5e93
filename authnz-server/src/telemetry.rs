//! Prometheus metrics: `GET /metrics` (docs/OPERATIONS.md, "Metrics").
//!
//! Instrumented code counts through the `metrics` facade macros
//! (`metrics::counter!`, `histogram!`, `gauge!`): a line each, no handle to
//! pass around. Where they land is this server's [`Telemetry`]: every
//! request future is polled inside [`metrics::with_local_recorder`]
//! ([`Telemetry::scoped`]), so two servers in one process (the integration
//! tests) keep separate figures; the binary also installs its recorder
//! globally ([`Telemetry::install_global`]) so background tasks count too.
//! With metrics off there is no recorder and the macros do nothing.
//!
//! Figures that already live elsewhere (Argon2 work, the session cache,
//! backend health) are read when scraped ([`crate::http`] fills them in
//! before [`Telemetry::render`]).
//!
//! No label value comes from client data: request types are the request
//! table's names or [`UNKNOWN_REQUEST`], everything else a fixed word.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use authnz_proto::request::RequestType;
use blake2::{Blake2b512, Digest};
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit,
    describe_counter, describe_gauge, describe_histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use subtle::ConstantTimeEq;

/// Label value of request types not in the request table (and of requests
/// refused before their type could be read).
pub const UNKNOWN_REQUEST: &str = "unknown";

/// How often histogram samples are folded in when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Buckets of the request duration histogram, seconds.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of the Argon2 queue wait histogram, seconds.
const WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Metric names, one place (docs/OPERATIONS.md lists each).
pub mod names {
    pub const REQUESTS: &str = "authnz_requests_total";
    pub const REQUEST_DURATION: &str = "authnz_request_duration_seconds";
    pub const RATE_LIMITED: &str = "authnz_rate_limited_total";
    pub const LOGINS: &str = "authnz_logins_total";
    pub const ACCOUNT_LOCKS: &str = "authnz_account_locks_total";
    pub const ARGON2_QUEUE: &str = "authnz_argon2_queue_depth";
    pub const ARGON2_WAIT: &str = "authnz_argon2_wait_seconds";
    pub const ARGON2_OPS: &str = "authnz_argon2_operations_total";
    pub const ARGON2_WORKERS: &str = "authnz_argon2_workers";
    pub const CACHE_HITS: &str = "authnz_session_cache_hits_total";
    pub const CACHE_MISSES: &str = "authnz_session_cache_misses_total";
    pub const CACHE_EVICTIONS: &str = "authnz_session_cache_evictions_total";
    pub const CACHE_BYTES: &str = "authnz_session_cache_bytes";
    pub const CACHE_ENTRIES: &str = "authnz_session_cache_entries";
    pub const STORE_ERRORS: &str = "authnz_store_errors_total";
    pub const BACKEND_UP: &str = "authnz_backend_up";
    pub const LIMITER_FAILED_OPEN: &str = "authnz_rate_limiter_failed_open_total";
    pub const AUDIT_DROPPED: &str = authnz_core::audit::DROPPED_METRIC;
    pub const AUDIT_WRITTEN: &str = authnz_core::audit::WRITTEN_METRIC;
    pub const BUILD_INFO: &str = "authnz_build_info";
}

/// The outcome label of `authnz_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with `success: true`.
    Ok,
    /// 200 with `success: false` (schema failures and the lock reply too).
    Failed,
    /// 400.
    BadRequest,
    /// 401 (token not decrypted, expired or replayed).
    Unauthorized,
    /// 429.
    RateLimited,
    /// 500, and anything else.
    Error,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::BadRequest,
        Outcome::Unauthorized,
        Outcome::RateLimited,
        Outcome::Error,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
            Outcome::RateLimited => "rate_limited",
            Outcome::Error => "error",
        }
    }

    /// The outcome of a non-200 status.
    pub fn of_status(status: u16) -> Self {
        match status {
            400 => Outcome::BadRequest,
            401 => Outcome::Unauthorized,
            429 => Outcome::RateLimited,
            _ => Outcome::Error,
        }
    }
}

/// The request label of a request type.
pub fn request_label(kind: Option<RequestType>) -> &'static str {
    kind.map_or(UNKNOWN_REQUEST, RequestType::name)
}

/// Metadata of the handles registered directly.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Slot of a request label in the per-request handle tables: the request
/// table's order, then `unknown`.
fn request_slot(kind: Option<RequestType>) -> usize {
    kind.and_then(|k| RequestType::ALL.iter().position(|t| *t == k))
        .unwrap_or(RequestType::ALL.len())
}

/// The per-request handles, registered on first use (a request type never
/// seen does not appear in the output).
struct RequestHandles {
    /// `[slot * 6 + outcome]`.
    counts: Box<[OnceLock<Counter>]>,
    /// `[slot]`.
    durations: Box<[OnceLock<Histogram>]>,
}

impl RequestHandles {
    fn new() -> Self {
        let slots = RequestType::ALL.len() + 1;
        Self {
            counts: (0..slots * Outcome::ALL.len())
                .map(|_| OnceLock::new())
                .collect(),
            durations: (0..slots).map(|_| OnceLock::new()).collect(),
        }
    }
}

/// One server's metrics: its recorder, the handle that renders it, and who
/// may read them.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// BLAKE2b of `metricstoken`, when set: compared in constant time.
    token_digest: Option<[u8; 64]>,
    /// One scrape at a time (a scrape probes the backends).
    pub(crate) scrape: tokio::sync::Mutex<()>,
    requests: RequestHandles,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("token", &self.token_digest.map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

fn digest(token: &[u8]) -> [u8; 64] {
    Blake2b512::digest(token).into()
}

impl Telemetry {
    /// A fresh recorder; `token` (when `Some` and not empty) is required as
    /// `Authorization: Bearer <token>` on `/metrics`.
    pub fn new(token: Option<&str>) -> Arc<Self> {
        // The bucket calls fail only on an empty list.
        let recorder = PrometheusBuilder::new()
            .set_buckets(REQUEST_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(names::ARGON2_WAIT.to_owned()),
                    WAIT_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        let telemetry = Arc::new(Self {
            recorder,
            handle,
            token_digest: token
                .filter(|t| !t.is_empty())
                .map(|t| digest(t.as_bytes())),
            scrape: tokio::sync::Mutex::new(()),
            requests: RequestHandles::new(),
        });
        telemetry.with(describe_all);
        telemetry
    }

    /// Count one answered request: `authnz_requests_total` and
    /// `authnz_request_duration_seconds`, through handles kept per request
    /// type (an atomic add and a histogram sample, no look-up).
    pub fn record_request(&self, kind: Option<RequestType>, outcome: Outcome, took: Duration) {
        let slot = request_slot(kind);
        let request = request_label(kind);
        let outcome_index = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        if let Some(cell) = self
            .requests
            .counts
            .get(slot * Outcome::ALL.len() + outcome_index)
        {
            cell.get_or_init(|| {
                let key = Key::from_parts(
                    names::REQUESTS,
                    vec![
                        Label::from_static_parts("request", request),
                        Label::from_static_parts("outcome", outcome.label()),
                    ],
                );
                self.recorder.register_counter(&key, &METADATA)
            })
            .increment(1);
        }
        if let Some(cell) = self.requests.durations.get(slot) {
            cell.get_or_init(|| {
                let key = Key::from_parts(
                    names::REQUEST_DURATION,
                    vec![Label::from_static_parts("request", request)],
                );
                self.recorder.register_histogram(&key, &METADATA)
            })
            .record(took);
        }
    }

    /// Run `f` with this server's recorder as the one the macros use.
    pub fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// `fut`, counting into this server's recorder on every poll.
    pub fn scoped<F: Future>(self: &Arc<Self>, fut: F) -> Scoped<F> {
        Scoped {
            telemetry: Arc::clone(self),
            inner: Box::pin(fut),
        }
    }

    /// Make this recorder the process-wide one (the binary's single
    /// server), so tasks outside a request (unlock timers, mail) count
    /// too. False if another was installed first.
    pub fn install_global(self: &Arc<Self>) -> bool {
        metrics::set_global_recorder(Global(Arc::clone(self))).is_ok()
    }

    /// Fold histogram samples in every few seconds for as long as the
    /// server lives, so memory stays bounded without scrapes. Needs a
    /// Tokio runtime.
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(UPKEEP_EVERY).await;
                match weak.upgrade() {
                    Some(t) => t.handle.run_upkeep(),
                    None => return,
                }
            }
        });
    }

    /// Whether an `Authorization` header value lets the caller read the
    /// metrics: always when no token is set; otherwise only `Bearer
    /// <token>` with the exact token (compared in constant time).
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let Some(value) = authorization else {
            return false;
        };
        let Some(given) = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
            .and_then(|_| value.get(7..))
        else {
            return false;
        };
        bool::from(digest(given).ct_eq(expected))
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// A future counting into one server's recorder ([`Telemetry::scoped`]).
pub struct Scoped<F> {
    telemetry: Arc<Telemetry>,
    inner: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped").finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let inner = &mut this.inner;
        metrics::with_local_recorder(&this.telemetry.recorder, || inner.as_mut().poll(cx))
    }
}

/// The global recorder: forwards to a server's.
struct Global(Arc<Telemetry>);

impl Recorder for Global {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_counter(key, unit, description);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_gauge(key, unit, description);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.recorder.describe_histogram(key, unit, description);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.recorder.register_counter(key, metadata)
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.recorder.register_gauge(key, metadata)
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.recorder.register_histogram(key, metadata)
    }
}

/// The values of `authnz_logins_total`'s `result` label.
pub const LOGIN_RESULTS: [&str; 4] = ["ok", "wrong_password", "locked", "unknown"];
/// The values of `authnz_rate_limited_total`'s `class` label.
pub const RATE_CLASSES: [&str; 4] = ["address", "email", "missing_email", "health"];

/// HELP texts, build info, and the small label sets at zero (so `rate()`
/// works from the first scrape).
fn describe_all() {
    use names::*;
    describe_counter!(
        REQUESTS,
        "Requests to POST / answered, by request type and outcome"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from reading a POST / request to its response, by request type"
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429, by the limit that refused them"
    );
    describe_counter!(LOGINS, "user-login attempts by result");
    describe_counter!(
        ACCOUNT_LOCKS,
        "Accounts locked automatically after repeated login failures"
    );
    describe_gauge!(
        ARGON2_QUEUE,
        "Password hashes waiting for a free Argon2 thread"
    );
    describe_histogram!(
        ARGON2_WAIT,
        Unit::Seconds,
        "Time a password hash waited for a free Argon2 thread"
    );
    describe_counter!(
        ARGON2_OPS,
        "Argon2 operations run (op: hash, verify); rate() gives hashes per second"
    );
    describe_gauge!(ARGON2_WORKERS, "Argon2 hashing threads running");
    describe_counter!(
        CACHE_HITS,
        "Session lookups answered from the session cache"
    );
    describe_counter!(
        CACHE_MISSES,
        "Session lookups the session cache passed to the store"
    );
    describe_counter!(
        CACHE_EVICTIONS,
        "Entries dropped from the session cache to stay within its memory budget"
    );
    describe_gauge!(
        CACHE_BYTES,
        Unit::Bytes,
        "Estimated memory held by the session cache"
    );
    describe_gauge!(CACHE_ENTRIES, "Sessions held by the session cache");
    describe_counter!(
        STORE_ERRORS,
        "Storage failures that failed a request, by backend"
    );
    describe_gauge!(
        BACKEND_UP,
        "1 if the backend answered the last scrape's probe, else 0"
    );
    describe_counter!(
        LIMITER_FAILED_OPEN,
        "Rate-limit decisions let through because the limiter's backend failed"
    );
    describe_counter!(
        AUDIT_DROPPED,
        "Audit events dropped (queue full, or the store kept refusing a batch); the requests they record were not held up"
    );
    describe_counter!(AUDIT_WRITTEN, "Audit events written to the audit log");
    metrics::counter!(AUDIT_DROPPED).absolute(0);
    describe_gauge!(BUILD_INFO, "Always 1; the version in a label");
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for result in LOGIN_RESULTS {
        metrics::counter!(LOGINS, "result" => result).absolute(0);
    }
    for class in RATE_CLASSES {
        metrics::counter!(RATE_LIMITED, "class" => class).absolute(0);
    }
    metrics::counter!(ACCOUNT_LOCKS).absolute(0);
    metrics::gauge!(ARGON2_QUEUE).set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check() {
        let open = Telemetry::new(None);
        assert!(open.authorized(None));
        let t = Telemetry::new(Some("s3cret"));
        assert!(!t.authorized(None));
        assert!(!t.authorized(Some(b"s3cret")));
        assert!(!t.authorized(Some(b"Bearer s3cre")));
        assert!(!t.authorized(Some(b"Bearer s3cret ")));
        assert!(!t.authorized(Some(b"Basic s3cret")));
        assert!(t.authorized(Some(b"Bearer s3cret")));
        assert!(t.authorized(Some(b"bearer s3cret")));
        // An empty token is no token.
        assert!(Telemetry::new(Some("")).authorized(None));
    }

    #[test]
    fn local_recorders_are_separate() {
        let a = Telemetry::new(None);
        let b = Telemetry::new(None);
        a.record_request(None, Outcome::BadRequest, Duration::from_millis(1));
        assert!(
            a.render()
                .contains("authnz_requests_total{request=\"unknown\",outcome=\"bad_request\"} 1")
        );
        assert!(!b.render().contains("outcome=\"bad_request\""));
        assert!(b.render().contains("authnz_build_info{version="));
    }
}
