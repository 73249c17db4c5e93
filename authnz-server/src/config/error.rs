//! Errors of configuration loading ([`ConfigError`]) and of the file half of
//! auto-setup ([`AutosetupError`]). Item errors always name the item by its
//! environment variable, the way upstream does, so an operator can find the
//! setting whichever layer it came from; they never repeat the value of a
//! secret item.

use std::io;
use std::path::PathBuf;

/// Why the configuration could not be loaded. Start-up stops on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required item is set by no layer (or only to an empty value).
    /// The text is upstream's, byte for byte.
    #[error("Config item: \"{env}\" is invalid/missing, no default provided.")]
    Missing {
        /// The item's environment variable, e.g. `AUTHNZERVER_AUTHDB`.
        env: &'static str,
    },
    /// An item is set but its value is unusable.
    #[error("Config item: \"{env}\" is invalid: {reason}{}", origin_suffix(.origin.as_deref()))]
    Invalid {
        /// The item's environment variable, e.g. `AUTHNZERVER_PORT`.
        env: &'static str,
        /// What is wrong, e.g. `expected an integer, got "abc"`.
        reason: String,
        /// Which layer supplied the value (`the command line`, `envfile
        /// /x/.env`, ...), when known.
        origin: Option<String>,
    },
    /// The envfile could not be parsed (PROTOCOL.md 7.3 syntax).
    #[error("envfile {}: line {line}: {reason}", path.display())]
    Envfile {
        /// The envfile.
        path: PathBuf,
        /// 1-based line number of the offending entry.
        line: usize,
        /// What is wrong. Never contains a value from the file.
        reason: String,
    },
    /// The envfile or the TOML config file could not be read.
    #[error("could not read the {what} {}: {source}", path.display())]
    Read {
        /// `envfile` or `config file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The TOML config file (`--config`) is not valid TOML or has a key that
    /// is not an item name.
    #[error("config file {}: {reason}", path.display())]
    ConfigFile {
        /// The TOML file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No `basedir` was configured and the current directory is unknown.
    #[error(
        "Config item: \"AUTHNZERVER_BASEDIR\" is invalid/missing: the current directory (its default) is unavailable: {0}"
    )]
    CurrentDir(#[source] io::Error),
}

fn origin_suffix(origin: Option<&str>) -> String {
    origin.map(|o| format!(" (from {o})")).unwrap_or_default()
}

/// The operating system's random number generator failed. Nothing sensible
/// can be generated without it, so callers stop.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(pub getrandom::Error);

/// Why the file half of auto-setup stopped. Files already written stay in
/// place; each is complete (written to a temporary name, then moved).
#[derive(Debug, thiserror::Error)]
pub enum AutosetupError {
    /// A file-system operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `write`, `create the directory`.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Reading an answer from the prompter failed.
    #[error("could not read an answer: {0}")]
    Prompt(#[source] io::Error),
    /// Random bytes were unavailable.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A value given to auto-setup (an answer after the last retry, or a
    /// preset value) is unusable.
    #[error("auto-setup: {what} is invalid: {reason}")]
    Invalid {
        /// Which value, e.g. `the database URL`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file auto-setup keeps (secret key, salt) exists but is unusable.
    #[error("auto-setup: existing file {} is unusable: {reason}; fix or remove it", path.display())]
    Existing {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl AutosetupError {
    pub(super) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
