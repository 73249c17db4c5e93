//! `--metrics-cost`: what `GET /metrics` costs the hot path. Two authnz
//! servers per backend, one with metrics on (the default) and one with
//! `AUTHNZERVER_METRICS=0`, both started before anything is measured; then
//! `session-exists` against each in alternating rounds (on, off, off, on,
//! ...) so drifts in machine load hit both alike. Prints both throughputs,
//! latencies and server CPU time per request, and the difference as the
//! median over the rounds of the on/off ratio of adjacent runs (robust to
//! load from other processes drifting during the run). Each server's `/metrics` is read at
//! the end: 200 with the requests counted when on, 404 when off, or the
//! run fails (it would otherwise compare two identical servers).

use std::future::Future as _;
use std::path::Path;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenarios::{Builder, Scenario};
use crate::servers::{self, Server};
use crate::{Args, SESSION_POOL, ServerState, Setup, create_sessions, pg, run_scenario};

/// Rounds per server (each `--duration` long).
const ROUNDS: usize = 6;

/// One server's measurements.
#[derive(Debug, Default)]
struct Figures {
    rates: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    /// Server CPU time per answered request, microseconds.
    cpu_us: Vec<f64>,
}

/// The median of the per-round ratios `a[i] / b[i]`, as a percentage
/// difference (`a` 2% above `b` is 2.0).
fn median_diff_pct(a: &[f64], b: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, y)| **y > 0.0)
        .map(|(x, y)| x / y)
        .collect();
    if ratios.is_empty() {
        return 0.0;
    }
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    let median = if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    };
    (median - 1.0) * 100.0
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// In process: nanoseconds the per-request instrumentation of a
/// `session-exists` costs (the request future scoped to the server's
/// recorder, one counter and one histogram sample), median of 5 batches.
fn instrumentation_ns() -> f64 {
    use authnz_server::telemetry::{Outcome, Telemetry};
    const N: u32 = 200_000;
    let telemetry = Telemetry::new(None);
    let kind = authnz_proto::request::RequestType::from_name("session-exists");
    let mut cx = Context::from_waker(Waker::noop());
    let mut batches: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..N {
                let mut fut = std::pin::pin!(telemetry.scoped(async {
                    telemetry.record_request(kind, Outcome::Ok, Duration::from_micros(700));
                }));
                let _: Poll<()> = fut.as_mut().poll(&mut cx);
            }
            started.elapsed().as_nanos() as f64 / f64::from(N)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[2]
}

/// The `--metrics-cost` run over `--backends` (sqlite and postgres; others
/// are reported as not run). Returns the Markdown report.
pub async fn run(args: &Args, setup: &Setup, server_bin: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    out.push_str(&format!(
        "session-exists with metrics on and off: {ROUNDS} alternating rounds of {:.1} s per server, {} connections\n\n",
        setup.duration.as_secs_f64(),
        setup.connections
    ));
    out.push_str(
        "| backend | metrics | req/s per round | mean req/s | p50 ms | p99 ms | server CPU µs/request |\n",
    );
    out.push_str("|---|---|---|--:|--:|--:|--:|\n");
    let mut summary = Vec::new();
    let per_request_ns = instrumentation_ns();
    let mut cpu_means = Vec::new();
    for backend in args.backends.split(',').map(str::trim) {
        let (on, off) = match backend {
            "sqlite" => {
                let dir = setup.work.join("metrics-cost-sqlite");
                let on = start(server_bin, &dir.join("on"), None, "1", setup)?;
                let off = start(server_bin, &dir.join("off"), None, "0", setup);
                let off = match off {
                    Ok(s) => s,
                    Err(e) => {
                        on.stop();
                        return Err(e);
                    }
                };
                let r = measure(backend, &on, &off, setup).await;
                on.stop();
                off.stop();
                r?
            }
            "postgres" => {
                let db_on =
                    pg::Database::create(&args.postgres_url, &format!("{}mon", setup.run_id))
                        .await?;
                let db_off = match pg::Database::create(
                    &args.postgres_url,
                    &format!("{}moff", setup.run_id),
                )
                .await
                {
                    Ok(db) => db,
                    Err(e) => {
                        db_on.drop_database().await;
                        return Err(e);
                    }
                };
                let dir = setup.work.join("metrics-cost-postgres");
                let r = async {
                    let on = start(server_bin, &dir.join("on"), Some(&db_on.url), "1", setup)?;
                    let off =
                        match start(server_bin, &dir.join("off"), Some(&db_off.url), "0", setup) {
                            Ok(s) => s,
                            Err(e) => {
                                on.stop();
                                return Err(e);
                            }
                        };
                    let r = measure(backend, &on, &off, setup).await;
                    on.stop();
                    off.stop();
                    r
                }
                .await;
                db_on.drop_database().await;
                db_off.drop_database().await;
                r?
            }
            other => {
                out.push_str(&format!(
                    "| {other} | | not run: --metrics-cost measures sqlite and postgres | | | | |\n"
                ));
                continue;
            }
        };
        for (label, f) in [("on", &on), ("off", &off)] {
            let rounds: Vec<String> = f.rates.iter().map(|r| format!("{r:.0}")).collect();
            out.push_str(&format!(
                "| {backend} | {label} | {} | {:.0} | {:.2} | {:.2} | {:.1} |\n",
                rounds.join(", "),
                mean(&f.rates),
                mean(&f.p50_ms),
                mean(&f.p99_ms),
                mean(&f.cpu_us)
            ));
        }
        cpu_means.push((backend, mean(&off.cpu_us)));
        summary.push(format!(
            "- {backend}: with metrics on, throughput {:+.1}% and server CPU per request {:+.1}% \
             (median of the {ROUNDS} adjacent on/off pairs; mean throughput {:+.1}%)",
            median_diff_pct(&on.rates, &off.rates),
            median_diff_pct(&on.cpu_us, &off.cpu_us),
            (mean(&on.rates) / mean(&off.rates).max(1e-9) - 1.0) * 100.0,
        ));
    }
    out.push('\n');
    for (backend, cpu_us) in cpu_means {
        summary.push(format!(
            "- {backend}: the instrumentation alone, measured in process, costs {per_request_ns:.0} ns per request = {:.2}% of the {cpu_us:.1} µs of server CPU a session-exists takes with metrics off",
            per_request_ns / 10.0 / cpu_us.max(1e-9)
        ));
    }
    for line in summary {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

fn start(
    bin: &Path,
    dir: &Path,
    authdb: Option<&str>,
    metrics: &str,
    setup: &Setup,
) -> anyhow::Result<Server> {
    servers::start_authnz(
        bin,
        dir,
        authdb,
        &[("AUTHNZERVER_METRICS", metrics.to_owned())],
        &setup.pinning,
    )
}

async fn measure(
    backend: &str,
    on: &Server,
    off: &Server,
    setup: &Setup,
) -> anyhow::Result<(Figures, Figures)> {
    let mut states = Vec::new();
    for server in [on, off] {
        let b = Builder::new(server, &format!("{}-mc", setup.run_id));
        let tokens = create_sessions(server, &b, SESSION_POOL).await?;
        states.push(ServerState { tokens });
    }
    let mut figures = [Figures::default(), Figures::default()];
    for round in 0..ROUNDS {
        // on, off, off, on, on, off, ...
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let server = [on, off][i];
            eprintln!(
                "{backend}: session-exists, metrics {} (round {}/{ROUNDS}) ...",
                ["on", "off"][i],
                round + 1
            );
            let r = run_scenario(server, &states[i], Scenario::SessionExists, setup).await?;
            let class = r.load.classes.first().context("no class measured")?;
            let errors: u64 = class.errors.values().sum();
            if class.ok == 0 || errors > 0 {
                bail!(
                    "{backend}: session-exists with metrics {}: {} ok, {errors} errors",
                    ["on", "off"][i],
                    class.ok
                );
            }
            figures[i].rates.push(r.load.rate(class.ok));
            figures[i].p50_ms.push(class.quantile_ms(0.5));
            figures[i].p99_ms.push(class.quantile_ms(0.99));
            let cpu_secs = r.server_cpu * r.load.elapsed.as_secs_f64();
            figures[i]
                .cpu_us
                .push(cpu_secs * 1e6 / (class.ok + errors).max(1) as f64);
        }
    }
    // Both servers did what their names say.
    let (status, body) = get_metrics(on).await?;
    if status != 200
        || !body.contains("authnz_requests_total{request=\"session-exists\",outcome=\"ok\"}")
    {
        bail!("{backend}: the metrics-on server does not count (GET /metrics: {status})");
    }
    let (status, _) = get_metrics(off).await?;
    if status != 404 {
        bail!("{backend}: the metrics-off server answers GET /metrics with {status}");
    }
    let [on_f, off_f] = figures;
    Ok((on_f, off_f))
}

/// `GET /metrics` from 127.0.0.1: (status, body).
async fn get_metrics(server: &Server) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .context("GET /metrics timed out")??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
