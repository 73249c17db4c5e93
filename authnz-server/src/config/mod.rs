//! Configuration of the authnz server: the `authnzrv` command line
//! ([`Cli`]), the layered loader that turns defaults, a TOML file, an
//! envfile, the environment and the command line into one validated
//! [`Config`] (PROTOCOL.md 7.1-7.3), and the file half of `--autosetup` (PROTOCOL.md 7.4,
//! [`prepare_basedir`]).
//!
//! Start-up in `main` looks like:
//!
//! ```text
//! let cli = Cli::parse();
//! let env = Environment::from_process();
//! if cli.autosetup {
//!     let basedir = Config::resolve_basedir(&cli, &env)?;
//!     let seed = AutosetupSeed::from_cli_and_environment(&cli, &env);
//!     let plan = prepare_basedir_with(&basedir, &seed, cli.autosetup_interactive(), &mut StdioPrompter)?;
//!     // create plan.authdb (SQLite file 0600, WAL), insert the initial rows, then
//!     // write_admin_credentials(&plan.basedir, &plan.admin_email, plan.credentials_password(&generated))
//!     println!("Start the server with: {}", plan.start_command());
//!     return Ok(());
//! }
//! let config = Config::load(&cli, &env)?;
//! ```
//!
//! Precedence, lowest first: defaults < `--config` TOML < envfile <
//! environment < command line (the `load` module says why this differs from
//! upstream). Every item error names the item's environment variable.

mod autosetup;
mod cli;
mod database;
mod envfile;
mod environment;
mod error;
mod files;
pub mod items;
mod load;
mod prompt;
mod random;
mod secret;
mod settings;
mod values;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use autosetup::{
    ADMIN_CREDENTIALS_FILE, ADMIN_EMAIL_ENV, ADMIN_PASSWORD_ENV, AutosetupPlan, AutosetupSeed,
    DEFAULT_POLICY_JSON, FALLBACK_ADMIN_EMAIL, GENERATED_PASSWORD_BYTES, POLICY_FILE, SALT_FILE,
    SECRET_KEY_FILE, SQLITE_FILE, USER_GENERATED_PASSWORD_MARKER, prepare_basedir,
    prepare_basedir_with, write_admin_credentials, write_admin_credentials_at,
};
pub use cli::{
    AdminFlags, ApikeyCommand, Argon2Command, AuditArgs, Cli, Command, JwksCommand, PasswordSource,
    PolicyCommand, SessionCommand, UserCommand, WebhooksCommand,
};
pub use database::DatabaseTarget;
pub use envfile::{Envfile, escape_value};
pub use environment::Environment;
pub use error::{AutosetupError, ConfigError, RandomError};
pub use items::{ITEMS, Item, ItemDefault, Kind, UrlKind};
pub use load::{BASEDIR_ENVFILE, redacted_database_url};
pub use prompt::{Prompter, ScriptedPrompter, StdioPrompter};
pub use random::{generate_fernet_key, random_bytes, random_urlsafe_token};
pub use secret::{FernetKey, FileReadable, resolve_file_readable};
pub use settings::{Config, LogFormat, MailerKind, SessionStoreKind, SmtpSecurity, TlsFiles};
pub use values::{ItemValue, ItemValues};
