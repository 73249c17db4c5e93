//! `authnz-bench`: the load generator behind `cargo xtask bench`.
//!
//! Starts authnz (and, unless told not to, the original Python authnzerver
//! 0.1.3 from a virtualenv it makes) on loopback, runs every scenario against
//! each server in turn for a fixed time at a fixed number of keep-alive
//! connections, measures the physical limits (Argon2, Fernet, one indexed
//! lookup), and prints one Markdown table. `--quick` runs each scenario for
//! about two seconds; `--smoke` is a shorter `--quick` against authnz only (CI
//! runs it through `cargo xtask test`), and fails
//! unless every implemented scenario reported sane non-zero figures (it
//! never asserts a speed).
//!
//! `--grow USERS:SESSIONS` runs every scenario twice per backend: on the
//! store as set up, then after bulk-loading that many users and sessions
//! (module [`grow`]), and prints the two figures side by side, with the
//! expired-session cleanup timed under `session-new` load.
//!
//! `--metrics-cost` measures `session-exists` against two servers, metrics
//! on and off, in alternating rounds (module [`metrics_cost`]), and prints
//! both figures and the difference.
//!
//! `--soak MINUTES` runs the soak test instead (module [`soak`]): a steady
//! mixed load per backend with the server's RSS sampled, failing on
//! growth or on any wrong reply.

mod client;
mod frontend;
mod grow;
mod limits;
mod load;
mod metrics_cost;
mod pg;
mod rediskeys;
mod report;
mod scenarios;
mod servers;
mod soak;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::Value;

use crate::load::{Class, LoadResult};
use crate::report::Row;
use crate::scenarios::{Builder, Fixtures, Principal, RequestKind, Scenario};
use crate::servers::{Kind, Pinning, Server};

/// Valid sessions the session checks cycle through.
const SESSION_POOL: usize = 1000;
/// Connections used to create sessions in the untimed set-up phase.
const SETUP_CONNECTIONS: usize = 8;
/// Upper bound on any set-up phase.
const SETUP_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
#[command(
    about = "authnz load generator: authnz vs the original authnzerver, and the physical limits"
)]
struct Args {
    /// Seconds per scenario and server.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Connections for the cheap requests (session checks); Argon2-bound
    /// requests use at most 8.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Every scenario for about 2 s.
    #[arg(long)]
    quick: bool,
    /// `--quick --no-original`, 1 s per scenario at 4 connections (so the
    /// Argon2 queues drain fast), then fail unless the figures are sane.
    #[arg(long)]
    smoke: bool,
    /// Skip the original Python authnzerver.
    #[arg(long)]
    no_original: bool,
    /// Comma-separated backends: sqlite, postgres, postgres+redis (sessions,
    /// rate limits and login back-off in Redis); `<backend>:nocache` runs
    /// that backend with the session cache off (`AUTHNZERVER_SESSIONCACHE=0`).
    #[arg(long, default_value = "sqlite,postgres,postgres+redis")]
    backends: String,
    /// Comma-separated scenario names (default: all).
    #[arg(long)]
    scenarios: Option<String>,
    /// The authnzrv binary (default: next to this program).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Do not pin server and generator to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// PostgreSQL maintenance URL; the bench creates and drops its own
    /// database there.
    #[arg(
        long,
        env = "AUTHNZ_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Redis for the postgres+redis backend; the bench uses its own key
    /// prefix there and deletes its keys at the end.
    #[arg(
        long,
        env = "AUTHNZ_BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Interpreter that makes the original's virtualenv.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Soak test instead of the benchmark: this many minutes of mixed load
    /// per backend (at most 120), RSS sampled, plateau asserted.
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
    /// Soak: how much (percent) the last third's RSS peak may exceed the
    /// middle third's.
    #[arg(long, default_value_t = 10.0)]
    soak_growth_pct: f64,
    /// Also run every scenario after bulk-loading USERS users and SESSIONS
    /// sessions (one in ten of them long expired) into the server's store,
    /// and time the expired-session cleanup under load. Bare `--grow` means
    /// 100000:1000000.
    #[arg(long, value_name = "USERS:SESSIONS", num_args = 0..=1, default_missing_value = "100000:1000000")]
    grow: Option<String>,
    /// Instead of the benchmark: what authnz-axum costs a site (GET
    /// /api/whoami with no auth, through the layer with its cache off and
    /// on, and session-exists straight to authnz), at one connection and at
    /// --connections.
    #[arg(long)]
    frontend: bool,
    /// Instead of the benchmark: session-exists with metrics on and off
    /// (`AUTHNZERVER_METRICS`), alternating rounds of `--duration` each, on
    /// the sqlite and postgres entries of `--backends`.
    #[arg(long)]
    metrics_cost: bool,
    /// Working folder (virtualenv, basedirs, logs). Default: target/bench.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    match real_main(args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("authnz-bench: error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Everything about the run that goes above the table.
#[derive(Debug)]
struct Setup {
    duration: Duration,
    connections: usize,
    pinning: Pinning,
    work: PathBuf,
    run_id: String,
}

fn real_main(mut args: Args) -> anyhow::Result<bool> {
    if args.smoke {
        args.quick = true;
        args.no_original = true;
        args.duration = args.duration.min(1.0);
        args.connections = args.connections.min(4);
    }
    if args.quick {
        args.duration = args.duration.min(2.0);
    }
    anyhow::ensure!(
        args.duration > 0.0 && args.duration <= 3600.0,
        "--duration must be in (0, 3600] seconds"
    );
    let exe = std::env::current_exe().context("cannot find this program")?;
    let exe_dir = exe.parent().context("program has no folder")?;
    let server_bin = args
        .server
        .clone()
        .unwrap_or_else(|| exe_dir.join("authnzrv"));
    // Absolute: the servers are started from their own working folders.
    let server_bin = std::fs::canonicalize(&server_bin).with_context(|| {
        format!(
            "no authnzrv at {} (build it, or pass --server)",
            server_bin.display()
        )
    })?;
    // target/<profile>/authnz-bench -> target/bench
    let work = args.work_dir.clone().unwrap_or_else(|| {
        exe_dir
            .parent()
            .map_or_else(|| exe_dir.join("bench"), |t| t.join("bench"))
    });
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pinning = if cpus >= 2 && !args.no_pin {
        Pinning {
            server: Some("0".into()),
            generator: Some("1".into()),
        }
    } else {
        Pinning {
            server: None,
            generator: None,
        }
    };
    pinning.pin_self()?;
    let run_id = format!("r{}", scenarios::random_word());
    let setup = Setup {
        duration: Duration::from_secs_f64(args.duration),
        connections: args.connections.max(1),
        pinning,
        work: work.join(&run_id),
        run_id,
    };
    std::fs::create_dir_all(&setup.work)
        .with_context(|| format!("cannot create {}", setup.work.display()))?;

    let selected: Vec<Scenario> = match &args.scenarios {
        None => Scenario::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| Scenario::from_name(s.trim()).with_context(|| format!("unknown scenario {s}")))
            .collect::<anyhow::Result<_>>()?,
    };

    // One thread: the generator gets one core and says how much of it it used.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the generator's runtime")?;
    if let Some(minutes) = args.soak {
        anyhow::ensure!(
            minutes > 0.0 && minutes <= 120.0,
            "--soak must be in (0, 120] minutes"
        );
        let duration = Duration::from_secs_f64(minutes * 60.0);
        let result = rt.block_on(soak_backends(&args, &setup, &server_bin, duration));
        let _ = std::fs::remove_dir_all(&setup.work);
        let reports = result?;
        let mut problems = Vec::new();
        for r in &reports {
            println!("{}", r.render());
            problems.extend(r.problems(args.soak_growth_pct));
        }
        if problems.is_empty() {
            eprintln!("authnz-bench --soak: ok (no wrong reply, RSS plateaued)");
            return Ok(true);
        }
        eprintln!("authnz-bench --soak: FAILED");
        for p in &problems {
            eprintln!("  - {p}");
        }
        return Ok(false);
    }
    if args.frontend {
        let result = rt.block_on(frontend::run(
            &server_bin,
            &setup.work,
            &setup.pinning,
            setup.connections,
            setup.duration,
        ));
        let _ = std::fs::remove_dir_all(&setup.work);
        let (report, clean) = result?;
        print!("{report}");
        if !clean {
            eprintln!("authnz-bench --frontend: some requests failed (see the errors column)");
        }
        return Ok(clean);
    }
    if args.metrics_cost {
        let result = rt.block_on(metrics_cost::run(&args, &setup, &server_bin));
        let _ = std::fs::remove_dir_all(&setup.work);
        print!("{}", result?);
        return Ok(true);
    }
    let result = rt.block_on(bench(&args, &setup, &server_bin, &selected));
    let _ = std::fs::remove_dir_all(&setup.work);
    let (rows, limits) = result?;
    let uptime = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    print!(
        "{}",
        report::render(
            &rows,
            &limits,
            &setup.pinning,
            setup.duration,
            uptime.trim()
        )
    );
    if let Some(spec) = args.grow.as_deref().map(grow::Spec::parse).transpose()? {
        print!("{}", report::render_growth(&rows, &spec.label()));
    }
    if args.smoke {
        let expected: Vec<&str> = selected.iter().map(|s| s.name()).collect();
        let problems = report::smoke_problems(&rows, &limits, &expected);
        if !problems.is_empty() {
            eprintln!("authnz-bench --smoke: the figures are not sane:");
            for p in &problems {
                eprintln!("  - {p}");
            }
            return Ok(false);
        }
        eprintln!("authnz-bench --smoke: ok (figures sane; no speed asserted)");
    }
    Ok(true)
}

async fn bench(
    args: &Args,
    setup: &Setup,
    server_bin: &Path,
    selected: &[Scenario],
) -> anyhow::Result<(Vec<Row>, limits::Limits)> {
    let grow = args.grow.as_deref().map(grow::Spec::parse).transpose()?;
    eprintln!("measuring the physical limits ...");
    let limits = limits::measure(args.quick).await?;
    let mut rows = Vec::new();
    let venv = if args.no_original {
        None
    } else {
        let blocklist = workspace_root().join("data/disposable_email_blocklist.conf");
        eprintln!("preparing the original authnzerver 0.1.3 virtualenv ...");
        Some(servers::original_venv(
            setup.work.parent().unwrap_or(&setup.work),
            &args.python,
            &blocklist,
        )?)
    };
    for entry in args.backends.split(',').map(str::trim) {
        // `<backend>:nocache`: the same with the session cache off, for an
        // A/B of the cache on one machine in one run.
        let (backend, nocache) = match entry.strip_suffix(":nocache") {
            Some(b) => (b, true),
            None => (entry, false),
        };
        let cache_env: Vec<(&str, String)> = if nocache {
            vec![("AUTHNZERVER_SESSIONCACHE", "0".to_owned())]
        } else {
            Vec::new()
        };
        let workdir = entry.replace(['+', ':'], "-");
        match backend {
            "sqlite" => {
                let dir = setup.work.join(&workdir);
                let target = grow::Target::Sqlite(
                    dir.join("authnz")
                        .join("basedir")
                        .join(servers::SQLITE_FILE),
                );
                let mut running = vec![servers::start_authnz(
                    server_bin,
                    &dir.join("authnz"),
                    None,
                    &cache_env,
                    &setup.pinning,
                )?];
                if let Some(bin) = venv.as_ref().filter(|_| !nocache) {
                    match servers::start_original(bin, &dir.join("original"), &setup.pinning) {
                        Ok(s) => running.push(s),
                        Err(e) => rows.push(Row::note(
                            "sqlite",
                            "all",
                            Kind::Original,
                            &format!("{e:#}"),
                        )),
                    }
                }
                let grow = grow.map(|spec| (target, spec));
                let r = run_backend(entry, &running, setup, selected, grow).await;
                running.into_iter().for_each(Server::stop);
                rows.extend(r?);
            }
            "postgres" | "postgres+redis" => {
                let with_redis = backend == "postgres+redis";
                let db_run_id = format!(
                    "{}{}{}",
                    setup.run_id,
                    if with_redis { "r" } else { "" },
                    if nocache { "n" } else { "" }
                );
                let db = match pg::Database::create(&args.postgres_url, &db_run_id).await {
                    Ok(db) => db,
                    Err(e) => {
                        rows.push(Row::note(
                            entry,
                            "all",
                            Kind::Authnz,
                            &format!("skipped: {e:#}"),
                        ));
                        continue;
                    }
                };
                let redis = if with_redis {
                    match rediskeys::Prefix::check(&args.redis_url, &setup.run_id).await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            db.drop_database().await;
                            rows.push(Row::note(
                                entry,
                                "all",
                                Kind::Authnz,
                                &format!("skipped: {e:#}"),
                            ));
                            continue;
                        }
                    }
                } else {
                    None
                };
                let mut env: Vec<(&str, String)> = match &redis {
                    Some(p) => vec![
                        ("AUTHNZERVER_REDIS_URL", args.redis_url.clone()),
                        ("AUTHNZERVER_REDISPREFIX", p.prefix.clone()),
                        ("AUTHNZERVER_SESSIONSTORE", "redis".to_owned()),
                    ],
                    None => Vec::new(),
                };
                env.extend(cache_env);
                let started = servers::start_authnz(
                    server_bin,
                    &setup.work.join(&workdir).join("authnz"),
                    Some(&db.url),
                    &env,
                    &setup.pinning,
                );
                let target = match &redis {
                    Some(p) => grow::Target::PostgresRedis {
                        url: db.url.clone(),
                        redis_url: args.redis_url.clone(),
                        prefix: p.prefix.clone(),
                    },
                    None => grow::Target::Postgres(db.url.clone()),
                };
                let r = match started {
                    Ok(server) => {
                        let running = vec![server];
                        let grow = grow.map(|spec| (target, spec));
                        let r = run_backend(entry, &running, setup, selected, grow).await;
                        running.into_iter().for_each(Server::stop);
                        r
                    }
                    Err(e) => Err(e),
                };
                db.drop_database().await;
                if let Some(p) = redis {
                    p.delete_keys().await;
                }
                rows.extend(r?);
                if venv.is_some() && !nocache {
                    rows.push(Row::note(
                        entry,
                        "all",
                        Kind::Original,
                        "not run: the original's PostgreSQL driver is not installed by the bench",
                    ));
                }
            }
            other => bail!(
                "unknown backend {other} (sqlite, postgres, postgres+redis, each optionally with :nocache)"
            ),
        }
    }
    Ok((rows, limits))
}

/// The soak test on each backend of `--backends`, one after another.
async fn soak_backends(
    args: &Args,
    setup: &Setup,
    server_bin: &Path,
    duration: Duration,
) -> anyhow::Result<Vec<soak::SoakReport>> {
    let mut reports = Vec::new();
    for backend in args.backends.split(',').map(str::trim) {
        eprintln!(
            "soak: {backend} for {:.0} s (RSS every {} s) ...",
            duration.as_secs_f64(),
            soak::SAMPLE_EVERY.as_secs()
        );
        let dir = setup
            .work
            .join(format!("soak-{}", backend.replace('+', "-")));
        let report = match backend {
            "sqlite" => {
                let server = servers::start_authnz(server_bin, &dir, None, &[], &setup.pinning)?;
                let r = soak::soak(&server, backend, &setup.run_id, duration).await;
                server.stop();
                r?
            }
            "postgres" | "postgres+redis" => {
                let with_redis = backend == "postgres+redis";
                let db_run_id = format!("{}s{}", setup.run_id, if with_redis { "r" } else { "" });
                let db = pg::Database::create(&args.postgres_url, &db_run_id).await?;
                let redis = if with_redis {
                    match rediskeys::Prefix::check(&args.redis_url, &setup.run_id).await {
                        Ok(p) => Some(p),
                        Err(e) => {
                            db.drop_database().await;
                            return Err(e);
                        }
                    }
                } else {
                    None
                };
                let env: Vec<(&str, String)> = match &redis {
                    Some(p) => vec![
                        ("AUTHNZERVER_REDIS_URL", args.redis_url.clone()),
                        ("AUTHNZERVER_REDISPREFIX", p.prefix.clone()),
                        ("AUTHNZERVER_SESSIONSTORE", "redis".to_owned()),
                    ],
                    None => Vec::new(),
                };
                let r = match servers::start_authnz(
                    server_bin,
                    &dir,
                    Some(&db.url),
                    &env,
                    &setup.pinning,
                ) {
                    Ok(server) => {
                        let r = soak::soak(&server, backend, &setup.run_id, duration).await;
                        server.stop();
                        r
                    }
                    Err(e) => Err(e),
                };
                db.drop_database().await;
                if let Some(p) = redis {
                    p.delete_keys().await;
                }
                r?
            }
            other => bail!("unknown backend {other} (sqlite, postgres, postgres+redis)"),
        };
        reports.push(report);
    }
    Ok(reports)
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Per-server state kept across scenarios.
#[derive(Debug, Default)]
struct ServerState {
    tokens: Vec<String>,
}

/// Run the scenarios against every server, interleaved (scenario by
/// scenario, server by server).
async fn run_backend(
    backend: &str,
    running: &[Server],
    setup: &Setup,
    selected: &[Scenario],
    grow: Option<(grow::Target, grow::Spec)>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut states: Vec<ServerState> = Vec::new();
    // Let the servers settle, then read the idle RSS.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle: Vec<u64> = running.iter().map(|s| s.rss_kib().0).collect();
    for server in running {
        let b = Builder::new(server, &setup.run_id);
        let tokens = create_sessions(server, &b, SESSION_POOL).await?;
        states.push(ServerState { tokens });
    }
    for &scenario in selected {
        for (i, server) in running.iter().enumerate() {
            if let Some(why) = scenario.unavailable(server.kind) {
                rows.push(Row::note(backend, scenario.name(), server.kind, why));
                continue;
            }
            eprintln!(
                "{backend}: {} on {} ...",
                scenario.name(),
                server.kind.label()
            );
            let result = run_scenario(server, &states[i], scenario, setup).await?;
            rows.extend(result.rows(backend, server.kind, idle[i]));
        }
    }
    if let Some((target, spec)) = grow {
        // Only authnz: the original keeps its own SQLite file.
        let Some(i) = running.iter().position(|s| s.kind == Kind::Authnz) else {
            return Ok(rows);
        };
        rows.extend(
            run_grown(
                backend,
                &running[i],
                &states[i],
                idle[i],
                setup,
                selected,
                &target,
                spec,
            )
            .await?,
        );
    }
    Ok(rows)
}

/// The grown half of `--grow`: bulk-load, run the scenarios again, then
/// time the expired-session cleanup while `session-new` load runs.
#[allow(clippy::too_many_arguments)]
async fn run_grown(
    backend: &str,
    server: &Server,
    state: &ServerState,
    idle_kib: u64,
    setup: &Setup,
    selected: &[Scenario],
    target: &grow::Target,
    spec: grow::Spec,
) -> anyhow::Result<Vec<Row>> {
    let label = spec.label();
    eprintln!("{backend}: bulk-loading {label} ...");
    let loaded = grow::load(target, spec).await?;
    eprintln!(
        "{backend}: loaded {label} in {:.1} s",
        loaded.took.as_secs_f64()
    );
    let mut rows = Vec::new();
    let relabel = |mut r: Row, what: &str| {
        r.scenario = format!("{} @ {what}", r.scenario);
        r.class = format!("{} @ {what}", r.class);
        r
    };
    for &scenario in selected {
        eprintln!("{backend}: {} on {label} ...", scenario.name());
        let result = run_scenario(server, state, scenario, setup).await?;
        rows.extend(
            result
                .rows(backend, server.kind, idle_kib)
                .into_iter()
                .map(|r| relabel(r, &label)),
        );
    }
    eprintln!(
        "{backend}: expired-session cleanup ({} expired) under session-new load (writes: what a long cleanup would block) ...",
        loaded.expired_sessions
    );
    let store = grow::session_store(target).await?;
    let delay = setup.duration / 4;
    let (load, cleanup) = tokio::join!(
        run_scenario(server, state, Scenario::SessionNew, setup),
        async {
            tokio::time::sleep(delay).await;
            grow::cleanup(store.as_ref()).await
        }
    );
    let (deleted, took) = cleanup?;
    rows.extend(
        load?
            .rows(backend, server.kind, idle_kib)
            .into_iter()
            .map(|r| relabel(r, &format!("{label}, during cleanup"))),
    );
    rows.push(Row::note(
        backend,
        &format!("cleanup @ {label}"),
        server.kind,
        &format!(
            "deleted {deleted} expired sessions in {:.2} s (bulk load took {:.1} s)",
            took.as_secs_f64(),
            loaded.took.as_secs_f64()
        ),
    ));
    Ok(rows)
}

/// Create `count` anonymous sessions (untimed) and return their tokens.
async fn create_sessions(
    server: &Server,
    b: &Builder<'_>,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let class = Class {
        name: "set-up: session-new".into(),
        connections: SETUP_CONNECTIONS,
        requests: (0..count).map(|_| b.session_new()).collect(),
    };
    let result = load::run(
        server.addr,
        Arc::clone(&server.codec),
        vec![class],
        SETUP_LIMIT,
        true,
    )
    .await;
    let tokens: Vec<String> = result
        .classes
        .iter()
        .flat_map(|c| c.replies.iter().filter_map(scenarios::session_token))
        .collect();
    if tokens.len() < count {
        let errors: Vec<String> = result
            .classes
            .iter()
            .flat_map(|c| c.errors.iter().map(|(k, v)| format!("{k} x{v}")))
            .collect();
        bail!(
            "{}: only {} of {count} set-up sessions were created ({})",
            server.kind.label(),
            tokens.len(),
            errors.join(", ")
        );
    }
    Ok(tokens)
}

/// One scenario against one server, with its resource readings.
#[derive(Debug)]
struct ScenarioResult {
    scenario: Scenario,
    load: LoadResult,
    peak_rss_kib: u64,
    server_cpu: f64,
    generator_cpu: f64,
}

impl ScenarioResult {
    fn rows(&self, backend: &str, kind: Kind, idle_kib: u64) -> Vec<Row> {
        self.load
            .classes
            .iter()
            .map(|c| Row {
                backend: backend.to_owned(),
                scenario: self.scenario.name().to_owned(),
                class: c.name.clone(),
                kind,
                connections: c.connections,
                rate: self.load.rate(c.ok),
                p50: c.quantile_ms(0.50),
                p99: c.quantile_ms(0.99),
                p999: c.quantile_ms(0.999),
                ok: c.ok,
                errors: c.errors.clone(),
                idle_rss_kib: idle_kib,
                peak_rss_kib: self.peak_rss_kib,
                server_cpu: self.server_cpu,
                generator_cpu: self.generator_cpu,
                exhausted: c.exhausted,
                note: None,
            })
            .collect()
    }
}

async fn run_scenario(
    server: &Server,
    state: &ServerState,
    scenario: Scenario,
    setup: &Setup,
) -> anyhow::Result<ScenarioResult> {
    let b = Builder::new(server, &format!("{}-{}", setup.run_id, scenario.name()));
    let plans = scenario.plan(server.kind, setup.connections);
    let secs = setup.duration.as_secs_f64();
    let count = |cap: f64| (cap * secs).ceil() as usize + 16;
    // Fresh anonymous sessions for the logins: each login consumes one.
    let login_sessions: usize = plans
        .iter()
        .filter(|p| p.kind == RequestKind::UserLogin)
        .map(|p| count(p.cap_per_sec))
        .sum();
    let mut login_tokens = create_sessions(server, &b, login_sessions).await?;
    let fixtures = if plans.iter().any(|p| p.kind.needs_principal()) {
        set_up_fixtures(server, &b, &plans).await?
    } else {
        Fixtures::default()
    };
    let classes: Vec<Class> = plans
        .iter()
        .map(|p| {
            scenarios::prepare(
                &b,
                p,
                count(p.cap_per_sec),
                server,
                &state.tokens,
                &mut login_tokens,
                &fixtures,
            )
        })
        .collect();

    server.reset_peak_rss();
    let me = std::process::id();
    let (server_cpu0, gen_cpu0) = (server.cpu_time(), servers::proc_cpu(me));
    let started = Instant::now();
    let load = load::run(
        server.addr,
        Arc::clone(&server.codec),
        classes,
        setup.duration,
        false,
    )
    .await;
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let server_cpu = (server.cpu_time().saturating_sub(server_cpu0)).as_secs_f64() / wall;
    let generator_cpu = (servers::proc_cpu(me).saturating_sub(gen_cpu0)).as_secs_f64() / wall;
    let peak_rss_kib = server.rss_kib().1;
    Ok(ScenarioResult {
        scenario,
        load,
        peak_rss_kib,
        server_cpu,
        generator_cpu,
    })
}

/// Send one request in the set-up phase and return its reply, or fail
/// unless it succeeded.
async fn call(server: &Server, what: &str, request: Vec<u8>) -> anyhow::Result<Value> {
    let class = Class {
        name: format!("set-up: {what}"),
        connections: 1,
        requests: vec![request],
    };
    let result = load::run(
        server.addr,
        Arc::clone(&server.codec),
        vec![class],
        SETUP_LIMIT,
        true,
    )
    .await;
    let class = result.classes.into_iter().next().unwrap_or_default();
    if let Some(reply) = class.replies.into_iter().next() {
        return Ok(reply);
    }
    let errors: Vec<String> = class
        .errors
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect();
    bail!(
        "{}: set-up {what} failed ({})",
        server.kind.label(),
        errors.join(", ")
    )
}

/// `reply.response.<field>`.
fn response_field<'v>(reply: &'v Value, field: &str) -> Option<&'v Value> {
    reply.get("response").and_then(|r| r.get(field))
}

/// A verified user, logged in as a frontend does it: sign up, mark the
/// address verified, log in on an anonymous session, open a session for the
/// user, and read its `user_id` and `user_role` from `session-exists`. Then,
/// for the API-key scenario, one `apikey-new-nosession` whose claims JSON
/// string is kept as the frontend would keep it. Untimed; three Argon2
/// hashes (sign-up, login, the key's refresh token).
async fn set_up_fixtures(
    server: &Server,
    b: &Builder<'_>,
    plans: &[scenarios::ClassPlan],
) -> anyhow::Result<Fixtures> {
    // The original 0.1.3 now and then refuses a sign-up without a reason
    // (its `user-new` rows); a few fresh addresses get past that.
    let mut signed_up = None;
    let mut last_error = None;
    for _ in 0..3 {
        let (email, password) = b.new_credentials();
        match call(server, "user-new", b.user_new_with(&email, &password)).await {
            Ok(_) => {
                signed_up = Some((email, password));
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some((email, password)) = signed_up else {
        return Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no sign-up attempted")));
    };
    call(
        server,
        "verify the e-mail address",
        b.user_set_emailverified(&email),
    )
    .await?;
    let anonymous = call(server, "session-new", b.session_new()).await?;
    let anonymous = scenarios::session_token(&anonymous).context("session-new gave no token")?;
    let login = call(
        server,
        "user-login",
        b.user_login(&anonymous, &email, &password),
    )
    .await?;
    let user_id = response_field(&login, "user_id")
        .or_else(|| login.get("user_id"))
        .and_then(Value::as_i64)
        .context("user-login gave no user_id")?;
    let session = call(server, "session-new", b.session_new_for(Some(user_id))).await?;
    let session_token = scenarios::session_token(&session).context("session-new gave no token")?;
    let exists = call(server, "session-exists", b.session_exists(&session_token)).await?;
    let info = response_field(&exists, "session_info").context("no session_info")?;
    let principal = Principal {
        user_id: info
            .get("user_id")
            .and_then(Value::as_i64)
            .context("session_info has no user_id")?,
        user_role: info
            .get("user_role")
            .and_then(Value::as_str)
            .context("session_info has no user_role")?
            .to_owned(),
    };
    anyhow::ensure!(
        principal.user_id == user_id,
        "the user's session belongs to user {} instead of {user_id}",
        principal.user_id
    );
    let apikey_dict = if plans
        .iter()
        .any(|p| p.kind == RequestKind::ApikeyVerifyNosession)
    {
        let key = call(
            server,
            "apikey-new-nosession",
            b.apikey_new_nosession(&principal),
        )
        .await?;
        // The claims travel as a JSON string; the frontend decodes it and
        // sends the object back as `apikey_dict` (PROTOCOL.md 3.6).
        let text = response_field(&key, "apikey")
            .and_then(Value::as_str)
            .context("apikey-new-nosession gave no apikey string")?;
        Some(serde_json::from_str::<Value>(text).context("the apikey string is not JSON")?)
    } else {
        None
    };
    Ok(Fixtures {
        principal: Some(principal),
        apikey_dict,
    })
}
