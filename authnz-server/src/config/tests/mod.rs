//! Tests of the config module as a whole: layering and validation through
//! `Config::load`, the command line, and auto-setup on temporary
//! directories. Environments are injected snapshots; the real process
//! environment is never read or changed, and every test sets `basedir` to a
//! temporary directory so no stray `.env` in the working directory is read.

mod autosetup;
mod cli;
mod docs;
mod load;

use std::path::Path;

use clap::Parser as _;

use super::{Cli, Environment};

/// A valid key in the URL-safe alphabet (canonical, 44 characters).
const KEY: &str = "q-p_-yP7TSbPl0nyK6oj-GVHp6Q8eRJ2Y1D-vYn4Z0k=";

/// Parses `authnzrv ARGS...`.
fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("authnzrv").chain(args.iter().copied()))
        .expect("command line parses")
}

/// An environment from pairs.
fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().copied().collect()
}

/// The smallest environment that loads: the three required items, and
/// `basedir` pointing at `dir`.
fn base_env(dir: &Path) -> Environment {
    Environment::new()
        .with("AUTHNZERVER_AUTHDB", "sqlite://")
        .with("AUTHNZERVER_SECRET", KEY)
        .with("AUTHNZERVER_PIISALT", "salt")
        .with("AUTHNZERVER_BASEDIR", dir.to_string_lossy())
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
