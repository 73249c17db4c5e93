//! The config loader with arbitrary input: the input is split at NUL bytes
//! into a TOML config file, an envfile and environment variables
//! (`NAME=VALUE` lines); the two files are written into a private temporary
//! folder (the basedir) and `Config::load` runs over all layers. Nothing
//! else is written; the loader itself only reads.

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::PathBuf;
use std::sync::LazyLock;

use authnz_server::config::{Cli, Config, Environment};
use libfuzzer_sys::fuzz_target;

/// One folder per fuzzing process, reused for every input.
static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("authnz-fuzz-config-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
});

/// File-readable items (`secret`, `piisalt`) read any file they name. Keep
/// the fuzzer away from endless device files (`/dev/zero`) and from names
/// spelled with TOML escapes or envfile interpolation, which could form one.
fn reaches_special_files(data: &[u8]) -> bool {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    has(b"dev") || has(b"proc") || has(b"sys") || has(b"\\u") || has(b"\\U") || has(b"%(")
}

fuzz_target!(|data: &[u8]| {
    if reaches_special_files(data) {
        return;
    }
    let parts = common::fields(data, 3);
    let dir = &*DIR;
    let toml = dir.join("config.toml");
    let envfile = dir.join("fuzz.env");
    if std::fs::write(&toml, &parts[0]).is_err() || std::fs::write(&envfile, &parts[1]).is_err() {
        panic!("cannot write into {}", dir.display());
    }
    let mut env = Environment::new();
    for line in parts[2].lines() {
        if let Some((name, value)) = line.split_once('=') {
            env = env.with(name, value);
        }
    }
    let args = [
        format!("--basedir={}", dir.to_string_lossy()),
        format!("--config={}", toml.to_string_lossy()),
        format!("--envfile={}", envfile.to_string_lossy()),
    ];
    let cli = match Cli::from_args(args) {
        Ok(cli) => cli,
        Err(e) => panic!("the fuzz target's own command line does not parse: {e}"),
    };
    let _ = Config::load(&cli, &env);
    // Without the files: the environment alone (basedir from there too).
    let _ = Config::load(&Cli::default(), &env);
});
