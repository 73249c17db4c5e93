//! The HTTP layer: routing, the host allow-list, the `POST /` pipeline of PROTOCOL.md
//! 1.7 and `GET /health` (PROTOCOL.md 9.1).
//!
//! Routing is done by hand in one fallback handler so the order of checks is
//! exactly upstream's: host (404) → path (404) → method (405) → body. The
//! login back-off (step 7e) runs here, after the action, through
//! [`authnz_core::lockout`]. `GET /metrics` ([`crate::telemetry`]) is served here
//! too, behind the same host check.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authnz_api::logtext::LogText;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::limiter::{RequestLimiter, Verdict};
use crate::replay::ReplayCheck;
use crate::session_cache::CachedStore;
use crate::telemetry::{Outcome, Telemetry, names};
use authnz_core::actions::{Context, RequestType};
use authnz_core::audit::{RequestDetails, with_request};
use authnz_core::lockout;
use authnz_proto::codec::Codec;
use authnz_proto::envelope::{envelope, schema_failure};
use authnz_proto::errors::{APPLICATION_JSON, ProtocolError, TEXT_PLAIN};
use authnz_proto::python::truth::truthy;
use authnz_proto::schema;

/// Requests larger than this are answered with 400 (PROTOCOL.md 1.12 allows any limit
/// of 1 MiB or more).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How long `/health` waits for the database before calling it broken.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a `/metrics` scrape waits for each backend probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `/health` value of a hashing thread that is no longer running.
const WORKER_STOPPED: &str = "worker stopped";

/// State shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub ctx: Context,
    pub codec: Codec,
    /// Host allow-list entries, compared exactly with the lower-cased host.
    pub allowed_hosts: Vec<String>,
    /// The rate limits, `None` when `ratelimits` is `none`. When on,
    /// `client_ipaddr` is required (PROTOCOL.md 1.5) and every request and `/health`
    /// is counted (PROTOCOL.md 4.1, 9.1).
    pub limiter: Option<RequestLimiter>,
    /// Replay protection (`requestttl`), `None` when off (the default).
    pub replay: Option<ReplayCheck>,
    /// `/health` also checks the session store (when it is not the auth
    /// database, e.g. Redis).
    pub sessions_checked_by_health: bool,
    /// The metrics of this server, `None` when `metrics` is 0.
    pub telemetry: Option<Arc<Telemetry>>,
    /// Whether `/metrics` is served on this listener (false when
    /// `metricslisten` gives it its own).
    pub metrics_on_main: bool,
    /// The session cache, for its figures on `/metrics`.
    pub session_cache: Option<Arc<CachedStore>>,
    /// The auth database's dialect (`sqlite`, `postgres`, `mysql`): the
    /// `backend` label of its errors and health.
    pub database_backend: &'static str,
}

/// The router serving `/` and `/health` (and `/metrics` unless it has its
/// own listener).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// The router of the `metricslisten` listener: `GET /metrics` only (behind
/// the host check and the token), 404 for everything else.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new().fallback(metrics_only).with_state(state)
}

async fn metrics_only(State(st): State<Arc<AppState>>, req: Request) -> Response {
    if has_several_hosts(req.headers()) {
        return error(ProtocolError::BadRequest);
    }
    serve_metrics(&st, req.into_parts().0).await
}

/// The host name of a request as upstream sees it: the `Host` header lower
/// cased without a trailing `:port`, or `127.0.0.1` when absent.
pub fn request_host(headers: &HeaderMap) -> String {
    let Some(raw) = headers.get(header::HOST) else {
        return "127.0.0.1".to_owned();
    };
    // Tornado decodes header bytes as Latin-1, so a value with bytes outside
    // visible ASCII is still a host name (one no allow-list entry matches),
    // never "absent": treating it as missing would let it pass as 127.0.0.1.
    let host: String = raw
        .as_bytes()
        .iter()
        .map(|&b| char::from(b))
        .collect::<String>()
        .to_lowercase();
    // Upstream's regex `^(.+):(\d+)$`.
    if let Some((name, port)) = host.rsplit_once(':')
        && !name.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return name.to_owned();
    }
    host
}

/// True when the request carries more than one `Host` header: which one
/// counts would be ambiguous (a proxy may check one and we use the other),
/// so such a request is refused with 400 before anything else.
pub fn has_several_hosts(headers: &HeaderMap) -> bool {
    headers.get_all(header::HOST).iter().nth(1).is_some()
}

async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    match st.telemetry.clone() {
        Some(t) => t.scoped(route(st, req)).await,
        None => route(st, req).await,
    }
}

async fn route(st: Arc<AppState>, req: Request) -> Response {
    if has_several_hosts(req.headers()) {
        return error(ProtocolError::BadRequest);
    }
    let host = request_host(req.headers());
    if !st.allowed_hosts.contains(&host) {
        return error(ProtocolError::NotFound);
    }
    match (req.uri().path(), req.method()) {
        ("/", &Method::POST) => api(&st, req.into_body()).await,
        ("/health", &Method::GET) => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip());
            health(&st, peer).await
        }
        ("/metrics", _) if st.metrics_on_main => serve_metrics(&st, req.into_parts().0).await,
        (JWKS_PATH, &Method::GET) => {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip());
            jwks(&st, peer).await
        }
        ("/" | "/health" | JWKS_PATH, _) => error(ProtocolError::MethodNotAllowed),
        _ => error(ProtocolError::NotFound),
    }
}

/// A non-200 response with the exact body of PROTOCOL.md 1.10.
pub fn error(e: ProtocolError) -> Response {
    let mut resp = Response::new(Body::from(e.body()));
    *resp.status_mut() = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(e.content_type()),
    );
    if let ProtocolError::TooManyRequests { retry_after_secs } = e {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    resp
}

fn sealed(st: &AppState, value: &Value) -> Response {
    let mut resp = Response::new(Body::from(st.codec.seal(value)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    resp
}

/// `POST /`, counted in `authnz_requests_total` and timed.
async fn api(st: &AppState, body: Body) -> Response {
    let started = Instant::now();
    let (kind, response, outcome) = api_inner(st, body).await;
    if let Some(t) = &st.telemetry {
        t.record_request(kind, outcome, started.elapsed());
    }
    response
}

fn refused(e: ProtocolError) -> (Option<RequestType>, Response, Outcome) {
    let outcome = Outcome::of_status(e.status());
    (None, error(e), outcome)
}

async fn api_inner(st: &AppState, body: Body) -> (Option<RequestType>, Response, Outcome) {
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return refused(ProtocolError::BadRequest);
    };
    let value = match &st.replay {
        None => st.codec.open(&bytes),
        Some(replay) => match st.codec.open_stamped(&bytes) {
            Ok((value, stamp)) => {
                if let Err(why) = replay.check(&stamp).await {
                    tracing::info!(reason = %why, "refused request token");
                    return refused(ProtocolError::Unauthorized);
                }
                Ok(value)
            }
            Err(e) => Err(e),
        },
    };
    let value = match value {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(reason = %e, "refused request body");
            return refused(ProtocolError::Unauthorized);
        }
    };
    // The label only: the request table's type, or none.
    let kind = value
        .get("request")
        .and_then(Value::as_str)
        .and_then(RequestType::from_name);
    match process(st, value).await {
        Ok(reply) => {
            let outcome = if reply.get("success") == Some(&Value::Bool(true)) {
                Outcome::Ok
            } else {
                Outcome::Failed
            };
            (kind, sealed(st, &reply), outcome)
        }
        Err(e) => {
            let (_, response, outcome) = refused(e);
            (kind, response, outcome)
        }
    }
}

/// Steps 3-7 of the pipeline (PROTOCOL.md 1.7) on a decrypted request object.
pub async fn process(st: &AppState, value: Value) -> Result<Value, ProtocolError> {
    let Value::Object(mut request) = value else {
        return Err(ProtocolError::ServerError);
    };
    let Some(request_type) = request.get("request").cloned() else {
        return Err(ProtocolError::ServerError);
    };
    if request_type.as_str() == Some("echo") {
        return Err(ProtocolError::BadRequest);
    }
    let reqid = match request.remove("reqid") {
        None | Some(Value::Null) => return Err(ProtocolError::ServerError),
        Some(id) => id,
    };
    let name = request_type.as_str().unwrap_or_default();
    if let Some(limiter) = &st.limiter {
        let Some(address) = request.get("client_ipaddr").filter(|a| truthy(a)) else {
            return Err(ProtocolError::BadRequest);
        };
        let body = match request.get("body") {
            None => return Err(ProtocolError::ServerError),
            Some(b) if name.contains("email") && !b.is_null() && !b.is_object() => {
                return Err(ProtocolError::ServerError);
            }
            Some(b) => b,
        };
        if let Verdict::Limited { retry_after_secs } =
            limiter.check_request(&request_type, address, body).await
        {
            return Err(ProtocolError::TooManyRequests { retry_after_secs });
        }
    }
    let Some(Value::Object(body)) = request.remove("body") else {
        return Err(ProtocolError::BadRequest);
    };
    let Some(kind) = RequestType::from_name(name) else {
        tracing::info!(request = %LogText(name), "unknown request type");
        return Err(ProtocolError::BadRequest);
    };
    // Events the action records carry this request's id and client address.
    let details = RequestDetails::from_envelope(Some(&reqid), request.get("client_ipaddr"));
    with_request(details, run_checked(st, kind, name, body, reqid)).await
}

/// Steps 7b-7e (PROTOCOL.md 1.7): the schema check, the action and the
/// login back-off, for a request of type `kind` with envelope `reqid`.
async fn run_checked(
    st: &AppState,
    kind: RequestType,
    name: &str,
    body: Map<String, Value>,
    reqid: Value,
) -> Result<Value, ProtocolError> {
    let problems = schema::check(kind.params(), &body);
    let (response, success, awaits_second_factor) = if problems.is_empty() {
        match authnz_core::actions::run(kind, &st.ctx, &body).await {
            Ok(reply) => {
                let success = reply.0.get("success") == Some(&Value::Bool(true));
                let pending = lockout::awaits_second_factor(&reply);
                (envelope(reply.into_map(), reqid.clone()), success, pending)
            }
            Err(e) => {
                tracing::warn!(request = %LogText(name), error = %e, "request failed with an unhandled error");
                return Err(ProtocolError::BadRequest);
            }
        }
    } else {
        (schema_failure(name, &problems, reqid.clone()), false, false)
    };
    // A right password that waits for its second factor is neither a
    // failure nor a success of the back-off (see `awaits_second_factor`).
    if kind.is_login_like() && !awaits_second_factor {
        // Step 7e (PROTOCOL.md 4.2), schema failures included. Upstream looks
        // `body.email` up here and fails with 400 when it is absent.
        let Some(email) = body.get("email") else {
            return Err(ProtocolError::BadRequest);
        };
        let email = match email {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(replacement) = lockout::after_attempt(&st.ctx, &email, success).await {
            return Ok(envelope(replacement.into_map(), reqid));
        }
    }
    Ok(response)
}

/// `GET /metrics`: 404 unless metrics are on, the host is allowed, the
/// method is GET and the token (when set) is given. The figures read at
/// scrape time are filled in first, one scrape at a time.
async fn serve_metrics(st: &AppState, req: axum::http::request::Parts) -> Response {
    let Some(telemetry) = &st.telemetry else {
        return error(ProtocolError::NotFound);
    };
    if !st.allowed_hosts.contains(&request_host(&req.headers))
        || req.method != Method::GET
        || req.uri.path() != "/metrics"
        || !telemetry.authorized(req.headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
    {
        return error(ProtocolError::NotFound);
    }
    let _one = telemetry.scrape.lock().await;
    let (database_up, sessions_up) = probe_backends(st).await;
    let text = telemetry.with(|| {
        fill_pulled(st);
        metrics::gauge!(names::BACKEND_UP, "backend" => st.database_backend)
            .set(f64::from(u8::from(database_up)));
        if let Some(up) = sessions_up {
            metrics::gauge!(names::BACKEND_UP, "backend" => "redis").set(f64::from(u8::from(up)));
        }
        telemetry.render()
    });
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Figures kept by other parts of the server, copied in at scrape time.
fn fill_pulled(st: &AppState) {
    let hashing = st.ctx.hasher.stats();
    metrics::counter!(names::ARGON2_OPS, "op" => "hash").absolute(hashing.hashes);
    metrics::counter!(names::ARGON2_OPS, "op" => "verify").absolute(hashing.verifications);
    let running = st.ctx.hasher.workers().iter().filter(|w| w.running).count();
    metrics::gauge!(names::ARGON2_WORKERS).set(running as f64);
    metrics::gauge!(names::ARGON2_QUEUE).set(st.ctx.hasher.queue_depth() as f64);
    if let Some(cache) = &st.session_cache {
        let (hits, misses) = cache.stats();
        metrics::counter!(names::CACHE_HITS).absolute(hits);
        metrics::counter!(names::CACHE_MISSES).absolute(misses);
        metrics::counter!(names::CACHE_EVICTIONS).absolute(cache.evictions());
        metrics::gauge!(names::CACHE_BYTES).set(cache.held_bytes() as f64);
        metrics::gauge!(names::CACHE_ENTRIES).set(cache.len() as f64);
    }
    if let Some(limiter) = &st.limiter {
        metrics::counter!(names::LIMITER_FAILED_OPEN).absolute(limiter.failed_open());
    }
}

/// Whether the auth database answers, and the session store when it is
/// elsewhere (Redis): `(database, Some(sessions))`.
async fn probe_backends(st: &AppState) -> (bool, Option<bool>) {
    let database = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, st.ctx.users.superuser_role()).await,
        Ok(Ok(_))
    );
    let sessions = if st.sessions_checked_by_health {
        let probe = st
            .ctx
            .sessions
            .active_session("-health-probe-", st.ctx.clock.now());
        Some(matches!(
            tokio::time::timeout(PROBE_TIMEOUT, probe).await,
            Ok(Ok(_))
        ))
    } else {
        None
    };
    (database, sessions)
}

/// Where the public keys of the signed tokens are published (not upstream).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `GET /.well-known/jwks.json` (not upstream): the JSON Web Key Set of the
/// published JWT signing keys (public members only), counted like
/// `/health` by the caller's address when rate limiting is on. Verifiers
/// may cache it for the key reload interval (`jwtkeyreload`). 503 when the
/// keys cannot be read.
async fn jwks(st: &AppState, peer: Option<IpAddr>) -> Response {
    if let Some(limiter) = &st.limiter {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if let Verdict::Limited { retry_after_secs } = limiter.check_health(peer).await {
            return error(ProtocolError::TooManyRequests { retry_after_secs });
        }
    }
    let (status, body) = match tokio::time::timeout(HEALTH_TIMEOUT, st.ctx.jwt.jwks()).await {
        Ok(Ok(set)) => (StatusCode::OK, set.to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "JWKS: cannot read the signing keys");
            (StatusCode::SERVICE_UNAVAILABLE, "{\"keys\":[]}".to_owned())
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "{\"keys\":[]}".to_owned()),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JSON),
    );
    let max_age = st.ctx.jwt.settings().reload_interval.as_secs();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        resp.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    resp
}

/// `GET /health` (PROTOCOL.md 9.1): rate limited by the caller's TCP address when
/// rate limiting is on (`peer` is `None` only for a router served without
/// connection info; such callers share one bucket).
async fn health(st: &AppState, peer: Option<IpAddr>) -> Response {
    if let Some(limiter) = &st.limiter {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if let Verdict::Limited { retry_after_secs } = limiter.check_health(peer).await {
            return error(ProtocolError::TooManyRequests { retry_after_secs });
        }
    }
    let started = Instant::now();
    let check = tokio::time::timeout(HEALTH_TIMEOUT, st.ctx.users.superuser_role()).await;
    let mut status = match check {
        Ok(Ok(Some(role))) if role == "superuser" => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database error");
            "database broken"
        }
        _ => "database broken",
    };
    if status == "ok" && st.sessions_checked_by_health {
        // A lookup of a token that cannot exist: one round trip to the
        // session store.
        let probe = st
            .ctx
            .sessions
            .active_session("-health-probe-", st.ctx.clock.now());
        match tokio::time::timeout(HEALTH_TIMEOUT, probe).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: session store error");
                status = "session store broken";
            }
            Err(_) => status = "session store broken",
        }
    }
    // One entry per Argon2 hashing thread, as the original has one per
    // worker process: the database answer (checked once, by the async
    // runtime, which is where every query runs), or "worker stopped" for a
    // thread that is no longer running.
    let workers = st.ctx.hasher.workers();
    let expected = workers.len();
    let entries: Map<String, Value> = workers
        .into_iter()
        .map(|w| {
            let value = if w.running { status } else { WORKER_STOPPED };
            (w.name, Value::from(value))
        })
        .collect();
    let healthy = status == "ok" && entries.values().all(|v| v == "ok");
    let body = json!({
        "Expected-Workers": expected,
        "Workers": entries,
        "Check-Time": started.elapsed().as_secs_f64(),
        "Health-Ok": healthy,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = if healthy {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JSON),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: Option<&str>) -> String {
        let mut m = HeaderMap::new();
        if let Some(h) = h {
            m.insert(header::HOST, HeaderValue::from_str(h).expect("header"));
        }
        request_host(&m)
    }

    #[test]
    fn host_names() {
        assert_eq!(host(None), "127.0.0.1");
        assert_eq!(host(Some("LocalHost:13431")), "localhost");
        assert_eq!(host(Some("[::1]:13431")), "[::1]");
        assert_eq!(host(Some("example.com")), "example.com");
        assert_eq!(host(Some(":80")), ":80");
    }

    #[test]
    fn non_ascii_host_is_not_taken_for_a_missing_one() {
        let mut m = HeaderMap::new();
        m.insert(
            header::HOST,
            HeaderValue::from_bytes(b"localh\xf6st:13431").expect("header"),
        );
        assert_eq!(request_host(&m), "localh\u{f6}st");
        m.insert(
            header::HOST,
            HeaderValue::from_bytes(b"evil.example\xff").expect("header"),
        );
        assert_ne!(request_host(&m), "127.0.0.1");
    }

    #[test]
    fn several_host_headers() {
        let mut m = HeaderMap::new();
        assert!(!has_several_hosts(&m));
        m.append(header::HOST, HeaderValue::from_static("localhost"));
        assert!(!has_several_hosts(&m));
        m.append(header::HOST, HeaderValue::from_static("localhost"));
        assert!(has_several_hosts(&m));
    }
}
