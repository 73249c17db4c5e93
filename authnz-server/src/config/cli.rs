//! The `authnzrv` command line: one option per configuration item, built
//! from the item table ([`super::items::ITEMS`]) with clap's builder API
//! ([`ItemArgs`]), plus the options that exist only here.
//!
//! Item values stay raw strings: they are validated together with the values
//! of the other layers in [`super::Config::load`], so a bad `--port` and a
//! bad `AUTHNZERVER_PORT` give the same error. Clap's `env` attribute is
//! deliberately not used: the environment is a separate, lower layer. Each
//! option's help is the item's help text followed by its environment
//! variable and its default, all from the table.
//!
//! Values may be given as `--opt=VALUE` or `--opt VALUE`, and may start with
//! `-` (generated secrets and passwords can).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Parser, Subcommand};

use super::items::{ITEMS, Item};

/// Text after the option list of `--help`.
const AFTER_HELP: &str = "\
Precedence, lowest first: built-in defaults < --config TOML file < envfile \
(--envfile, else <basedir>/.env if present) < process environment \
(AUTHNZERVER_*, PORT) < command line. Unlike upstream authnzerver, the \
command line wins over the environment. Empty values count as unset.";

/// The authnz server: an authentication and authorization server speaking
/// the authnzerver protocol.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "authnzrv", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// One option per configuration item (see [`ItemArgs`]).
    #[command(flatten)]
    pub items: ItemArgs,

    #[arg(
        long,
        global = true,
        value_name = "PATH",
        allow_hyphen_values = true,
        help = "Envfile to read (INI-style KEY=VALUE lines) [default: <basedir>/.env if it exists]"
    )]
    pub envfile: Option<PathBuf>,

    #[arg(
        long,
        global = true,
        value_name = "PATH",
        allow_hyphen_values = true,
        help = "TOML config file; keys are the item names (port, authdb, tls_cert_file, ...) [default: none]"
    )]
    pub config: Option<PathBuf>,

    /// Set up a base directory (secrets, policy, .env, database) and exit
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false",
        value_parser = clap::builder::BoolishValueParser::new(),
        hide_default_value = true,
        hide_possible_values = true
    )]
    pub autosetup: bool,

    /// Never prompt during --autosetup (also the case when stdin is not a terminal)
    #[arg(long = "no-prompt")]
    pub no_prompt: bool,

    /// A tool to run instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands. Without one, `authnzrv` runs the server (or `--autosetup`).
/// The admin commands (`user`, `session`, `apikey`) load the configuration
/// exactly as the server does (the same options, environment, envfile and
/// TOML file), so they reach the same database.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Work with permission policy files (PROTOCOL.md 6)
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage user accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage sessions
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage API keys
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Size Argon2 for this machine
    #[command(subcommand)]
    Argon2(Argon2Command),
    /// Manage the keys that sign the tokens of session-jwt-issue
    #[command(subcommand)]
    Jwks(JwksCommand),
    /// List the audit log, newest first (the filters of internal-audit-list)
    Audit(AuditArgs),
    /// List queued webhook deliveries, or retry parked ones
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

/// `authnzrv webhooks ...`
#[derive(Debug, Clone, Subcommand)]
pub enum WebhooksCommand {
    /// List queued deliveries, oldest first: pending (waiting for their next
    /// attempt) and parked (given up after webhookattempts failures)
    List {
        /// Only parked deliveries
        #[arg(long)]
        parked: bool,
        /// Deliveries to list (1-10000)
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Make parked deliveries due again (their failure count starts over)
    Retry {
        /// The delivery's id (from `webhooks list`)
        #[arg(required_unless_present = "all_parked", conflicts_with = "all_parked")]
        id: Option<i64>,
        /// Every parked delivery
        #[arg(long)]
        all_parked: bool,
        #[command(flatten)]
        flags: AdminFlags,
    },
}

/// `authnzrv audit ...`
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditArgs {
    /// Only events about this user: a user id (also of a deleted user) or
    /// an e-mail address
    #[arg(long)]
    pub user: Option<String>,
    /// Only events of this type (login.failed, user.locked, ...)
    #[arg(long)]
    pub event: Option<String>,
    /// Only events at or after this time (YYYY-MM-DDTHH:MM:SS, UTC)
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time (YYYY-MM-DDTHH:MM:SS, UTC)
    #[arg(long)]
    pub until: Option<String>,
    /// Events to list (1-1000)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
    /// Continue after a previous listing (its next cursor)
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub flags: AdminFlags,
}

/// `authnzrv jwks ...`
#[derive(Debug, Clone, Subcommand)]
pub enum JwksCommand {
    /// Make a new current signing key; the previous one stays published
    /// (tokens it signed verify until they expire), older ones are removed.
    /// Running instances switch within jwtkeyreload seconds
    Rotate {
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// List the stored signing keys, newest (current) first
    List {
        #[command(flatten)]
        flags: AdminFlags,
    },
}

/// `authnzrv policy ...`
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and print what each role may do; exits non-zero
    /// with the error if the file is not valid
    Check {
        /// The policy JSON file
        file: PathBuf,
    },
}

/// Output and confirmation flags shared by the admin commands.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct AdminFlags {
    /// Print the result as JSON (one object or array on stdout)
    #[arg(long)]
    pub json: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// How a new password reaches the command: never on the command line.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input instead of
    /// prompting for it on the terminal
    #[arg(long)]
    pub password_stdin: bool,
}

/// `authnzrv user ...`. USER is a user id or an e-mail address.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add an active, verified user; the password is prompted for (or read
    /// with --password-stdin) and must pass the server's password policy
    Add {
        /// The user's e-mail address
        email: String,
        /// The user's role (a role of the permission policy)
        #[arg(long, default_value = "authenticated")]
        role: String,
        /// The user's full name
        #[arg(long, allow_hyphen_values = true)]
        full_name: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// List every user
    List {
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Show one user (never the password hash)
    Show {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Lock a user by hand: role `locked`, inactive, sessions deleted, until
    /// unlocked
    Lock {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Unlock a user (a lock by hand or an automatic one) and restore the role
    /// it had
    Unlock {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Change a user's role
    SetRole {
        /// User id or e-mail address
        user: String,
        /// The new role (a role of the permission policy)
        role: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Set a user's password; it must pass the server's password policy
    SetPassword {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        password: PasswordSource,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Delete a user with their sessions and API keys
    Delete {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Remove a user's TOTP authenticator and recovery codes (when they lost
    /// it, or the server secret changed) and end their sessions
    TotpDisable {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Remove every passkey of a user (lost devices) and, without an
    /// enabled TOTP authenticator, their recovery codes; end their sessions
    PasskeysRemove {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
}

/// `authnzrv session ...`
#[derive(Debug, Clone, Subcommand)]
pub enum SessionCommand {
    /// Delete every session that has expired
    PurgeExpired {
        #[command(flatten)]
        flags: AdminFlags,
    },
    /// Delete every session of a user (logs them out everywhere)
    DeleteUser {
        /// User id or e-mail address
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
}

/// `authnzrv apikey ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ApikeyCommand {
    /// Revoke every no-session API key of a user (session-tied keys end with
    /// their sessions: `authnzrv session delete-user`)
    RevokeAll {
        /// User id or e-mail address
        #[arg(long)]
        user: String,
        #[command(flatten)]
        flags: AdminFlags,
    },
}

/// `authnzrv argon2 ...`
#[derive(Debug, Clone, Subcommand)]
pub enum Argon2Command {
    /// Measure this machine and print the Argon2id parameters (argon2memory,
    /// argon2time, argon2parallelism) that make one hash take about
    /// --target-ms, and the login rate they allow with --workers hashing
    /// threads (default 4). Reads no other configuration
    Calibrate {
        /// How long one hash should take, in milliseconds
        #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
        target_ms: u64,
        /// The most memory one hash may use: KiB, or with a unit (64M, 1G)
        #[arg(long, value_name = "SIZE", default_value = "64M")]
        max_memory: String,
        /// Argon2 lanes (argon2parallelism)
        #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
        parallelism: u32,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

/// The item options: built from [`ITEMS`], read back into raw values keyed
/// by item name.
#[derive(Debug, Clone, Default)]
pub struct ItemArgs {
    values: BTreeMap<&'static str, String>,
}

/// The option of one item: `--CLI <VALUE_NAME>`, help from the table.
fn item_arg(item: &'static Item) -> Arg {
    Arg::new(item.key)
        .long(item.cli)
        .value_name(item.value_name)
        .allow_hyphen_values(true)
        .action(ArgAction::Set)
        .global(true)
        .value_parser(clap::value_parser!(String))
        .help(item.help_text())
}

impl clap::Args for ItemArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ITEMS.iter().fold(cmd, |cmd, item| cmd.arg(item_arg(item)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for ItemArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for item in ITEMS {
            if let Some(value) = matches.get_one::<String>(item.key) {
                self.values.insert(item.key, value.clone());
            }
        }
        Ok(())
    }
}

impl Cli {
    /// The command-line value of `item` as typed, if the option was given.
    /// Parse `args` (without the program name) as the command line of
    /// `authnzrv`; for callers that build a command line in code (tests,
    /// the config fuzz target).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, clap::Error> {
        Self::try_parse_from(std::iter::once("authnzrv".to_owned()).chain(args))
    }

    pub fn item(&self, item: &Item) -> Option<&str> {
        self.items.values.get(item.key).map(String::as_str)
    }

    /// The raw command-line value of each item, keyed by item name, in table
    /// order. Empty and whitespace-only values are left out (they count as
    /// unset).
    pub(super) fn item_values(&self) -> Vec<(&'static str, String)> {
        ITEMS
            .iter()
            .filter_map(|item| {
                self.item(item)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (item.key, v.to_owned()))
            })
            .collect()
    }

    /// Whether `--autosetup` may prompt: not with `--no-prompt`, and only
    /// when stdin is a terminal.
    pub fn autosetup_interactive(&self) -> bool {
        use std::io::IsTerminal as _;
        !self.no_prompt && std::io::stdin().is_terminal()
    }
}
