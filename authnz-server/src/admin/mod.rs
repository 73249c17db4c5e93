//! The operator's subcommands of `authnzrv`: `user`, `session`, `apikey`,
//! `jwks` and `argon2` (`policy check` lives in `main.rs`).
//!
//! The database commands load the configuration like the server
//! ([`crate::launch::load_config`]) and build their action context the
//! same way ([`crate::launch::server_options`], then
//! [`authnz_server::app::context`]), so they act on the same database,
//! Redis, session placement, password policy and Argon2 parameters, and
//! they go through the same actions as the protocol's requests where one
//! exists (the lock toggle, the password policy).
//!
//! **SQLite and a running server.** A server on SQLite caches active
//! sessions and their users in its process, which is correct only while it
//! sees every write ([`authnz_server::session_cache`]); it holds an
//! exclusive lock on `<database>.authnzrv-lock` meanwhile. The commands that
//! change or remove existing users or sessions take that lock for their
//! whole run and refuse, with a message saying so, when a server holds it
//! ([`guard`]). Reading commands, `user add`, `session purge-expired` and
//! `apikey revoke-all` cannot make the cache serve anything stale (inserts,
//! expired sessions and API keys are never cached) and run beside a server.
//! PostgreSQL and MySQL servers cache nothing; every command runs beside them.
//!
//! Output is text for people, or one JSON value with `--json`. Failures
//! (unknown user, a refused password, a server holding the lock, ...) go to
//! stderr with a non-zero exit status.

pub mod argon2;
mod audit;
mod guard;
mod jwks;
mod password;
mod sessions;
mod users;
mod webhooks;

use std::sync::Arc;

use anyhow::Context as _;
use authnz_api::{User, UserId};
use authnz_core::context::Context;
use authnz_server::app;
use authnz_server::config::{ApikeyCommand, Cli, Command, Config, Environment, UserCommand};
use authnz_store_sql::SqlStore;
use serde_json::Value;

use crate::launch;

/// The longest a command waits for its audit events to be written.
const AUDIT_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An opened database and the action context over it.
struct Admin {
    ctx: Context,
    store: Arc<SqlStore>,
    /// Held (SQLite, changing commands) until the command ends.
    _lock: Option<std::fs::File>,
}

/// Run a database command (`user`, `session`, `apikey`).
pub async fn run(cli: &Cli, env: &Environment, command: &Command) -> anyhow::Result<()> {
    let config = launch::load_config(cli, env)?;
    launch::init_logging("warn", config.logformat);
    let admin = Admin::open(&config, env, changes_cached_rows(command)).await?;
    let result = match command {
        Command::User(user) => users::run(&admin, user).await,
        Command::Session(session) => sessions::run_session(&admin, session).await,
        Command::Apikey(ApikeyCommand::RevokeAll { user, flags }) => {
            sessions::revoke_all_apikeys(&admin, user, *flags).await
        }
        Command::Jwks(jwks) => jwks::run(&admin, jwks).await,
        Command::Audit(args) => audit::run(&admin, args).await,
        Command::Webhooks(command) => webhooks::run(&admin, command).await,
        Command::Policy(_) | Command::Argon2(_) => {
            Err(anyhow::anyhow!("this command does not use the database"))
        }
    };
    // Events the command recorded (locks, deletions, ...) are written
    // before it exits.
    if !admin.ctx.audit_log.close(AUDIT_CLOSE_LIMIT).await {
        eprintln!("warning: not every audit event of this command could be written");
    }
    admin.store.close().await;
    result
}

/// Whether `command` updates or deletes existing users or sessions: what a
/// SQLite server's session cache must not miss (see the module docs).
fn changes_cached_rows(command: &Command) -> bool {
    use authnz_server::config::SessionCommand;
    match command {
        Command::User(user) => !matches!(
            user,
            UserCommand::Add { .. } | UserCommand::List { .. } | UserCommand::Show { .. }
        ),
        Command::Session(SessionCommand::DeleteUser { .. }) => true,
        Command::Session(SessionCommand::PurgeExpired { .. })
        | Command::Apikey(_)
        | Command::Jwks(_)
        | Command::Audit(_)
        | Command::Webhooks(_)
        | Command::Policy(_)
        | Command::Argon2(_) => false,
    }
}

impl Admin {
    async fn open(config: &Config, env: &Environment, exclusive: bool) -> anyhow::Result<Self> {
        let lock = guard::check(config, exclusive)?;
        let shared = launch::shared_state(config).await?;
        let mut opts = launch::server_options(config, env, shared, false)?;
        // One command hashes at most one password.
        opts.workers = 1;
        let store = Arc::new(
            app::open_database(&opts.database_url, &opts.db)
                .await
                .with_context(|| format!("database {}", config.authdb_display))?,
        );
        let roles = authnz_api::RoleStore::list_roles(store.as_ref()).await?;
        if roles.is_empty() {
            store.close().await;
            anyhow::bail!(
                "the auth database {} is not initialised: start authnzrv once (or run `authnzrv --autosetup`) first",
                config.authdb_display
            );
        }
        let ctx = app::context(&opts, store.clone()).await?;
        Ok(Self {
            ctx,
            store,
            _lock: lock,
        })
    }

    /// The user named by `given`: a user id, or an e-mail address (as
    /// stored, else normalised like sign-up does).
    async fn user(&self, given: &str) -> anyhow::Result<User> {
        let given = given.trim();
        let found = if !given.is_empty() && given.bytes().all(|b| b.is_ascii_digit()) {
            let id: UserId = given
                .parse()
                .map_err(|_| anyhow::anyhow!("no user with id {given}"))?;
            self.ctx.users.user_by_id(id).await?
        } else {
            match self.ctx.users.user_by_email(given).await? {
                Some(user) => Some(user),
                None => {
                    let normalized = authnz_core::validate::email::normalize_email(given);
                    self.ctx.users.user_by_email(&normalized).await?
                }
            }
        };
        found.ok_or_else(|| {
            if given.contains('@') {
                anyhow::anyhow!("no user with e-mail address {given}")
            } else {
                anyhow::anyhow!("no user with id {given}")
            }
        })
    }
}

/// Print `value` as JSON on stdout.
fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
