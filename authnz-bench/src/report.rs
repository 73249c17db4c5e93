//! The printed report: one Markdown table (rows per backend, scenario class
//! and server, with the ratio authnz / original), the physical limits with
//! the fraction of each reached, and the smoke test's sanity checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::limits::Limits;
use crate::servers::{Kind, Pinning};

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub backend: String,
    pub scenario: String,
    /// The traffic class (equals the scenario except in `mixed`).
    pub class: String,
    pub kind: Kind,
    pub connections: usize,
    /// Successful requests per second.
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    /// Server CPU use during the timed phase, in cores.
    pub server_cpu: f64,
    /// Generator CPU use during the timed phase, in cores.
    pub generator_cpu: f64,
    pub exhausted: bool,
    /// Set for rows that did not run; the reason.
    pub note: Option<String>,
}

impl Row {
    pub fn note(backend: &str, scenario: &str, kind: Kind, note: &str) -> Self {
        Self {
            backend: backend.to_owned(),
            scenario: scenario.to_owned(),
            class: scenario.to_owned(),
            kind,
            connections: 0,
            rate: 0.0,
            p50: 0.0,
            p99: 0.0,
            p999: 0.0,
            ok: 0,
            errors: BTreeMap::new(),
            idle_rss_kib: 0,
            peak_rss_kib: 0,
            server_cpu: 0.0,
            generator_cpu: 0.0,
            exhausted: false,
            note: Some(note.to_owned()),
        }
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".to_owned();
        }
        self.errors
            .iter()
            .map(|(k, v)| format!("{v}× {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The ratio authnz / original for an authnz row, or why there is none.
fn ratio(rows: &[Row], row: &Row) -> String {
    if row.kind != Kind::Authnz {
        return String::new();
    }
    let original = rows.iter().find(|o| {
        o.kind == Kind::Original
            && o.backend == row.backend
            && (o.class == row.class || (o.note.is_some() && o.scenario == row.scenario))
    });
    match original {
        None => "—".to_owned(),
        Some(o) => match &o.note {
            Some(n) => n.clone(),
            None if o.rate > 0.0 => format!("{:.1}×", row.rate / o.rate),
            None => "∞ (original: 0/s)".to_owned(),
        },
    }
}

pub fn render(
    rows: &[Row],
    limits: &Limits,
    pinning: &Pinning,
    duration: Duration,
    loadavg: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nauthnz bench: {:.0} s per scenario and server; HTTP/1.1 keep-alive connections \
         (the Python client opens a new connection per request); {}; load average before \
         printing: {loadavg}\n",
        duration.as_secs_f64(),
        pinning.describe(),
    );
    s.push_str(
        "| backend | scenario | server | conns | req/s | authnz / original | p50 ms | p99 ms | p99.9 ms | errors | RSS idle / peak MiB | server CPU | generator CPU |\n",
    );
    s.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|\n");
    for row in rows {
        if let Some(note) = &row.note {
            let _ = writeln!(
                s,
                "| {} | {} | {} | | {} | | | | | | | | |",
                row.backend,
                row.scenario,
                row.kind.label(),
                note
            );
            continue;
        }
        let rate = if row.exhausted {
            format!("{:.1} (ran out of prepared requests)", row.rate)
        } else {
            format!("{:.1}", row.rate)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} / {} | {:.0}% | {:.0}% |",
            row.backend,
            row.class,
            row.kind.label(),
            row.connections,
            rate,
            ratio(rows, row),
            row.p50,
            row.p99,
            row.p999,
            row.errors_text(),
            mib(row.idle_rss_kib),
            mib(row.peak_rss_kib),
            row.server_cpu * 100.0,
            row.generator_cpu * 100.0,
        );
    }
    let cores = pinning.server_cores();
    let _ = writeln!(
        s,
        "\nPhysical limits (measured in-process on the generator's core, no load running; \
         the server has {cores} core{}):",
        if cores == 1 { "" } else { "s" }
    );
    let best = |class: &str| {
        rows.iter()
            .filter(|r| {
                r.kind == Kind::Authnz
                    && r.backend == "sqlite"
                    && r.class == class
                    && r.note.is_none()
            })
            .map(|r| r.rate)
            .next()
    };
    let login_limit = limits.login_limit(cores);
    let _ = writeln!(
        s,
        "- Argon2id m=65536 t=3 p=4: {:.1} ms per hash -> login limit {cores} / hash = {login_limit:.1}/s \
         (authnz spends one hash per login){}",
        limits.argon2.as_secs_f64() * 1000.0,
        best("user-login").map_or(String::new(), |r| format!(
            "; authnz user-login on SQLite: {r:.1}/s = {:.0}% of it",
            100.0 * r / login_limit
        )),
    );
    let session_limit = limits.session_limit(cores);
    let _ = writeln!(
        s,
        "- Fernet open+seal {:.1} µs + SQLite indexed session lookup {:.1} µs -> session-exists limit \
         {cores} / (fernet + lookup) = {session_limit:.0}/s{}",
        limits.fernet.as_secs_f64() * 1e6,
        limits.lookup.as_secs_f64() * 1e6,
        best("session-exists").map_or(String::new(), |r| format!(
            "; authnz session-exists on SQLite: {r:.0}/s = {:.0}% of it",
            100.0 * r / session_limit
        )),
    );
    let cached_limit = limits.cached_session_limit(cores);
    let _ = writeln!(
        s,
        "- authnz on its own SQLite file answers repeated session checks from its session cache: \
         Fernet {:.1} µs + cache hit {:.2} µs -> limit {cores} / (fernet + hit) = {cached_limit:.0}/s{}",
        limits.fernet.as_secs_f64() * 1e6,
        limits.cached_lookup.as_secs_f64() * 1e6,
        best("session-exists").map_or(String::new(), |r| format!(
            "; authnz session-exists on SQLite: {r:.0}/s = {:.0}% of it",
            100.0 * r / cached_limit
        )),
    );
    s
}

/// `--grow`: each authnz figure on the grown store next to the same class
/// on the store as set up, with the ratio (target: within 10 %).
pub fn render_growth(rows: &[Row], label: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nGrowth: the same requests before and after adding {label}\n"
    );
    s.push_str("| backend | request | req/s before | req/s after | after / before | p99 ms before | p99 ms after |\n");
    s.push_str("|---|---|--:|--:|--:|--:|--:|\n");
    let suffix = format!(" @ {label}");
    for grown in rows
        .iter()
        .filter(|r| r.kind == Kind::Authnz && r.note.is_none())
    {
        let Some(class) = grown.class.strip_suffix(&suffix) else {
            continue;
        };
        let Some(before) = rows.iter().find(|r| {
            r.kind == Kind::Authnz
                && r.note.is_none()
                && r.backend == grown.backend
                && r.class == class
        }) else {
            continue;
        };
        let ratio = if before.rate > 0.0 {
            format!("{:.0}%", 100.0 * grown.rate / before.rate)
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            s,
            "| {} | {class} | {:.1} | {:.1} | {ratio} | {:.2} | {:.2} |",
            grown.backend, before.rate, grown.rate, before.p99, grown.p99
        );
    }
    let during = format!(" @ {label}, during cleanup");
    s.push('\n');
    for row in rows.iter().filter(|r| r.kind == Kind::Authnz) {
        if let Some(note) = &row.note
            && row.scenario.starts_with("cleanup @ ")
        {
            let _ = writeln!(s, "- {}: cleanup: {note}", row.backend);
        }
        if row.note.is_none()
            && let Some(class) = row.class.strip_suffix(&during)
        {
            let _ = writeln!(
                s,
                "- {}: {class} while the cleanup ran: {:.1} req/s, p99 {:.2} ms, p99.9 {:.2} ms, errors {}",
                row.backend,
                row.rate,
                row.p99,
                row.p999,
                row.errors_text()
            );
        }
    }
    s
}

/// What is wrong with a smoke run's figures (empty when sane). Speed is
/// never judged: only that every scenario in `expected` ran against authnz
/// on every backend that ran, answered, and produced non-zero measurements.
pub fn smoke_problems(rows: &[Row], limits: &Limits, expected: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let ran: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == Kind::Authnz && r.note.is_none())
        .collect();
    if ran.is_empty() {
        problems.push("no scenario ran against authnz".to_owned());
    }
    let mut backends: Vec<&str> = ran.iter().map(|r| r.backend.as_str()).collect();
    backends.dedup();
    for backend in backends {
        for scenario in expected {
            if !ran
                .iter()
                .any(|r| r.backend == backend && r.scenario == *scenario)
            {
                let why = rows
                    .iter()
                    .find(|r| {
                        r.kind == Kind::Authnz && r.backend == backend && r.scenario == *scenario
                    })
                    .and_then(|r| r.note.clone())
                    .unwrap_or_else(|| "no row".to_owned());
                problems.push(format!("{backend} {scenario} did not run: {why}"));
            }
        }
    }
    for r in rows.iter().filter(|r| r.kind == Kind::Authnz) {
        if let Some(note) = &r.note
            && note.starts_with("skipped")
        {
            problems.push(format!("{} was skipped: {note}", r.backend));
        }
    }
    for r in ran {
        let what = format!("{} {}", r.backend, r.class);
        if r.ok == 0 || r.rate <= 0.0 {
            problems.push(format!("{what}: no successful request"));
        }
        if !r.errors.is_empty() {
            problems.push(format!("{what}: errors {}", r.errors_text()));
        }
        if r.p50 <= 0.0 || r.p99 < r.p50 || r.p999 < r.p99 {
            problems.push(format!(
                "{what}: latencies not sane (p50 {} p99 {} p99.9 {})",
                r.p50, r.p99, r.p999
            ));
        }
        if r.idle_rss_kib == 0 || r.peak_rss_kib == 0 {
            problems.push(format!("{what}: no RSS reading"));
        }
        if r.server_cpu <= 0.0 {
            problems.push(format!("{what}: no server CPU reading"));
        }
    }
    // The generator idles through the Argon2 scenarios (0 ticks is right
    // there); it must have used some CPU somewhere.
    if !rows.iter().any(|r| r.generator_cpu > 0.0) {
        problems.push("no generator CPU reading".to_owned());
    }
    for (name, d) in [
        ("argon2", limits.argon2),
        ("fernet", limits.fernet),
        ("lookup", limits.lookup),
    ] {
        if d.is_zero() {
            problems.push(format!("physical limit {name}: zero time"));
        }
    }
    problems
}
