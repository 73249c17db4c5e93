//! `--metrics-cost`: what `GET /metrics` costs the hot path. Two authnz
//! servers per backend, one with metrics on (the default) and one with
//! `AUTHNZERVER_METRICS=0`, both started before anything is measured; then
//! `session-exists` against each in alternating rounds (on, off, off, on,
//! ...) so drifts in machine load hit both alike. Prints both throughputs
//! and latencies and the difference. Each server's `/metrics` is read at
//! the end: 200 with the requests counted when on, 404 when off, or the
//! run fails (it would otherwise compare two identical servers).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenarios::{Builder, Scenario};
use crate::servers::{self, Server};
use crate::{Args, SESSION_POOL, ServerState, Setup, create_sessions, pg, run_scenario};

/// Rounds per server (each `--duration` long).
const ROUNDS: usize = 4;

/// One server's measurements.
#[derive(Debug, Default)]
struct Figures {
    rates: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
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
    out.push_str("| backend | metrics | req/s per round | mean req/s | p50 ms | p99 ms |\n");
    out.push_str("|---|---|---|--:|--:|--:|\n");
    let mut summary = Vec::new();
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
                    "| {other} | | not run: --metrics-cost measures sqlite and postgres | | | |\n"
                ));
                continue;
            }
        };
        for (label, f) in [("on", &on), ("off", &off)] {
            let rounds: Vec<String> = f.rates.iter().map(|r| format!("{r:.0}")).collect();
            out.push_str(&format!(
                "| {backend} | {label} | {} | {:.0} | {:.2} | {:.2} |\n",
                rounds.join(", "),
                mean(&f.rates),
                mean(&f.p50_ms),
                mean(&f.p99_ms)
            ));
        }
        let diff = (mean(&off.rates) - mean(&on.rates)) / mean(&off.rates).max(1e-9) * 100.0;
        summary.push(format!(
            "- {backend}: metrics on is {diff:.1}% slower than off (negative: faster; noise included)"
        ));
    }
    out.push('\n');
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
