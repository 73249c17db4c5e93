//! `authnzrv argon2 calibrate`: the library's calibration
//! ([`authnz_server::calibrate`]) with its result printed as configuration
//! lines, or as JSON. Needs no configuration and no database.

use std::time::Duration;

use authnz_server::calibrate::{CalibrationRequest, calibrate, parse_memory_kib};
use authnz_server::config::items::{ARGON2MEMORY, ARGON2PARALLELISM, ARGON2TIME, WORKERS};
use authnz_server::config::{Argon2Command, Cli};
use serde_json::json;

use super::print_json;

/// Hashing threads assumed when `--workers` is not given (its default).
const DEFAULT_WORKERS: usize = 4;

pub fn run(cli: &Cli, command: &Argon2Command) -> anyhow::Result<()> {
    let Argon2Command::Calibrate {
        target_ms,
        max_memory,
        parallelism,
        json,
    } = command;
    let workers = match cli.item(&WORKERS) {
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| anyhow::anyhow!("--workers: expected 1-1024, got {text:?}"))?,
        None => DEFAULT_WORKERS,
    };
    let max_memory_kib =
        parse_memory_kib(max_memory).map_err(|e| anyhow::anyhow!("--max-memory: {e}"))?;
    let request = CalibrationRequest {
        target: Duration::from_millis(*target_ms),
        max_memory_kib,
        parallelism: *parallelism,
    };
    let found = calibrate(&request)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let p = found.params;
    let measured_ms = found.measured.as_secs_f64() * 1000.0;
    let per_second = found.checks_per_second(workers, cores);
    let peak_kib = found.peak_memory_kib(workers);
    if *json {
        return print_json(&json!({
            "argon2memory": p.m_cost_kib,
            "argon2time": p.t_cost,
            "argon2parallelism": p.p_cost,
            "target_ms": target_ms,
            "measured_ms": (measured_ms * 10.0).round() / 10.0,
            "target_reached": found.target_reached,
            "cores": cores,
            "workers": workers,
            "password_checks_per_second": (per_second * 10.0).round() / 10.0,
            "peak_memory_kib": peak_kib,
        }));
    }
    println!(
        "Argon2id m={} KiB, t={}, p={}: {measured_ms:.0} ms per hash on this machine (target {target_ms} ms).",
        p.m_cost_kib, p.t_cost, p.p_cost
    );
    if !found.target_reached {
        println!(
            "The target is out of reach with {} passes over {max_memory}: allow more memory (--max-memory).",
            p.t_cost
        );
    }
    println!("\nConfiguration (in <basedir>/.env, the environment, or as options):\n");
    println!("{}={}", ARGON2MEMORY.env, p.m_cost_kib);
    println!("{}={}", ARGON2TIME.env, p.t_cost);
    println!("{}={}", ARGON2PARALLELISM.env, p.p_cost);
    println!(
        "\nWith workers = {workers} hashing threads on {cores} core(s): about {per_second:.1} \
         password checks (logins, sign-ups, password changes) per second at most, and up to \
         {} MiB held by hashing when all threads are busy. Stored hashes are rehashed with the \
         new parameters at each user's next login.",
        peak_kib / 1024
    );
    Ok(())
}
