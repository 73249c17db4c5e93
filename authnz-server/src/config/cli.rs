//! The `authnzrv` command line: one option per configuration item under the
//! upstream option names (spec 7.1), plus the options that exist only here.
//!
//! Item values stay raw strings: they are validated together with the values
//! of the other layers in [`super::Config::load`], so a bad `--port` and a
//! bad `AUTHNZERVER_PORT` give the same error. Clap's `env` attribute is
//! deliberately not used: the environment is a separate, lower layer. Each
//! option's help names its environment variable and its default; a test
//! checks that against the item table.
//!
//! Values may be given as `--opt=VALUE` or `--opt VALUE`, and may start with
//! `-` (generated secrets and passwords can).
//!
//! The item options carry their help in `help = "..."` rather than in doc
//! comments: the text contains `[env: ...]` and `<basedir>`, which rustdoc
//! would read as links and HTML.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    #[arg(
        long,
        value_name = "HOSTS",
        allow_hyphen_values = true,
        help = "Host names the server answers to, separated by ';' [env: AUTHNZERVER_ALLOWEDHOSTS] [default: localhost;127.0.0.1]"
    )]
    pub allowedhosts: Option<String>,

    #[arg(
        long,
        value_name = "URL",
        allow_hyphen_values = true,
        help = "Database URL (SQLAlchemy or sqlx syntax): sqlite:///relative.db, sqlite:////abs/path.db, postgresql://user:pass@host/db, mysql://... [env: AUTHNZERVER_AUTHDB] [default: none, required]"
    )]
    pub authdb: Option<String>,

    #[arg(
        long,
        value_name = "DIR",
        allow_hyphen_values = true,
        help = "Base directory: holds the admin credentials file and <basedir>/.env; the value of [[basedir]] [env: AUTHNZERVER_BASEDIR] [default: the current directory]"
    )]
    pub basedir: Option<String>,

    #[arg(
        long,
        value_name = "0|1",
        allow_hyphen_values = true,
        help = "1 enables the /echo endpoint and debug logging, 0 disables them [env: AUTHNZERVER_DEBUGMODE] [default: 0]"
    )]
    pub debugmode: Option<String>,

    #[arg(
        long,
        value_name = "ADDR",
        allow_hyphen_values = true,
        help = "Address to listen on [env: AUTHNZERVER_LISTEN] [default: 127.0.0.1]"
    )]
    pub listen: Option<String>,

    #[arg(
        long,
        value_name = "FILE",
        allow_hyphen_values = true,
        help = "Permissions policy JSON file [env: AUTHNZERVER_PERMISSIONS] [default: the bundled default-permissions-model.json]"
    )]
    pub permissions: Option<String>,

    #[arg(
        long,
        value_name = "PORT",
        allow_hyphen_values = true,
        help = "TCP port to listen on [env: PORT, AUTHNZERVER_PORT; PORT wins if both are set] [default: 13431]"
    )]
    pub port: Option<String>,

    #[arg(
        long,
        value_name = "KEY|FILE",
        allow_hyphen_values = true,
        help = "Shared Fernet key, or a file holding it ([[basedir]] and [[homedir]] are substituted) [env: AUTHNZERVER_SECRET] [default: none, required]"
    )]
    pub secret: Option<String>,

    #[arg(
        long,
        value_name = "SALT|FILE",
        allow_hyphen_values = true,
        help = "Salt for hashing PII in logs ('none' logs in clear), or a file holding it [env: AUTHNZERVER_PIISALT] [default: none, required]"
    )]
    pub piisalt: Option<String>,

    #[arg(
        long,
        value_name = "DAYS",
        allow_hyphen_values = true,
        help = "Days after its expiry at which an expired session is deleted [env: AUTHNZERVER_SESSIONEXPIRY] [default: 30]"
    )]
    pub sessionexpiry: Option<String>,

    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help = "Failed logins before an account is locked automatically [env: AUTHNZERVER_USERLOCKTRIES] [default: 10]"
    )]
    pub userlocktries: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Seconds an automatic lock lasts [env: AUTHNZERVER_USERLOCKTIME] [default: 3600]"
    )]
    pub userlocktime: Option<String>,

    #[arg(
        long,
        value_name = "POLICY",
        allow_hyphen_values = true,
        help = "Password policy [env: AUTHNZERVER_PASSPOLICY] [default: min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25]"
    )]
    pub passpolicy: Option<String>,

    #[arg(
        long,
        value_name = "LIMITS",
        allow_hyphen_values = true,
        help = "Rate limits per minute ('none' disables) [env: AUTHNZERVER_RATELIMITS] [default: ipaddr:720; user:480; session:600; apikey:720; burst:150]"
    )]
    pub ratelimits: Option<String>,

    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help = "Worker threads that run actions [env: AUTHNZERVER_WORKERS] [default: 4]"
    )]
    pub workers: Option<String>,

    #[arg(
        long,
        value_name = "HOST",
        allow_hyphen_values = true,
        help = "SMTP server host [env: AUTHNZERVER_EMAILSERVER] [default: localhost]"
    )]
    pub emailserver: Option<String>,

    #[arg(
        long,
        value_name = "PORT",
        allow_hyphen_values = true,
        help = "SMTP server port [env: AUTHNZERVER_EMAILPORT] [default: 25]"
    )]
    pub emailport: Option<String>,

    #[arg(
        long,
        value_name = "USER",
        allow_hyphen_values = true,
        help = "SMTP login user [env: AUTHNZERVER_EMAILUSER] [default: the OS user running the server]"
    )]
    pub emailuser: Option<String>,

    #[arg(
        long,
        value_name = "PASSWORD",
        allow_hyphen_values = true,
        help = "SMTP login password [env: AUTHNZERVER_EMAILPASS] [default: empty]"
    )]
    pub emailpass: Option<String>,

    #[arg(
        long,
        value_name = "ADDRESS",
        allow_hyphen_values = true,
        help = "From address of sent mail [env: AUTHNZERVER_EMAILSENDER] [default: Authnzerver <authnzerver@localhost>]"
    )]
    pub emailsender: Option<String>,

    #[arg(
        long,
        value_name = "file|smtp|ses",
        allow_hyphen_values = true,
        help = "Mail backend: file (each mail as an .eml file in --emailfiledir), smtp (--emailserver ...), ses (Amazon SES v2); a backend must be compiled in [env: AUTHNZERVER_MAILER] [default: file]"
    )]
    pub mailer: Option<String>,

    #[arg(
        long,
        value_name = "starttls|tls|none",
        allow_hyphen_values = true,
        help = "SMTP connection security: starttls (required, as upstream), tls (implicit TLS, usually port 465), none (plain text; trusted local relays only) [env: AUTHNZERVER_EMAILTLS] [default: starttls]"
    )]
    pub emailtls: Option<String>,

    #[arg(
        long,
        value_name = "FILE",
        allow_hyphen_values = true,
        help = "Extra root certificates (PEM) trusted for SMTP TLS, besides the bundled Mozilla roots [env: AUTHNZERVER_EMAILCAFILE] [default: unset]"
    )]
    pub emailcafile: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Longest time one mail send may take (connecting and each SMTP command are bounded by it too); a send that takes longer fails [env: AUTHNZERVER_EMAILTIMEOUT] [default: 10]"
    )]
    pub emailtimeout: Option<String>,

    #[arg(
        long,
        value_name = "DIR",
        allow_hyphen_values = true,
        help = "Folder the file mailer writes .eml files to; relative to the basedir [env: AUTHNZERVER_EMAILFILEDIR] [default: <basedir>/mail-outbox]"
    )]
    pub emailfiledir: Option<String>,

    #[arg(
        long,
        value_name = "REGION",
        allow_hyphen_values = true,
        help = "AWS region of SES, e.g. eu-west-1 [env: AUTHNZERVER_SESREGION] [default: the AWS chain's region]"
    )]
    pub sesregion: Option<String>,

    #[arg(
        long,
        value_name = "URL",
        allow_hyphen_values = true,
        help = "SES endpoint URL override, for SES-compatible services and emulators [env: AUTHNZERVER_SESENDPOINT] [default: the region's SES endpoint]"
    )]
    pub sesendpoint: Option<String>,

    #[arg(
        long,
        value_name = "0|1",
        allow_hyphen_values = true,
        help = "1 lets user-sendemail-* request bodies override emailsender, emailserver, emailport, emailuser and emailpass (upstream behaviour; lets a frontend point the server's mail at any host) [env: AUTHNZERVER_EMAILBODYOVERRIDES] [default: 0]"
    )]
    pub emailbodyoverrides: Option<String>,

    #[arg(
        long = "tlscertfile",
        value_name = "FILE",
        allow_hyphen_values = true,
        help = "TLS certificate chain (PEM); TLS is on when this and --tlscertkey are both set [env: AUTHNZERVER_TLSCERTFILE] [default: unset]"
    )]
    pub tls_cert_file: Option<String>,

    #[arg(
        long = "tlscertkey",
        value_name = "FILE",
        allow_hyphen_values = true,
        help = "TLS private key (PEM) [env: AUTHNZERVER_TLSCERTKEY] [default: unset]"
    )]
    pub tls_cert_key: Option<String>,

    #[arg(
        long,
        value_name = "0|1",
        allow_hyphen_values = true,
        help = "Check new passwords against the haveibeenpwned range API (fails open) [env: AUTHNZERVER_BREACHCHECK] [default: 0]"
    )]
    pub breachcheck: Option<String>,

    #[arg(
        long,
        value_name = "URL",
        allow_hyphen_values = true,
        help = "Base URL of the breach-check range API, http:// or https:// [env: AUTHNZERVER_BREACHCHECKURL] [default: https://api.pwnedpasswords.com/range/]"
    )]
    pub breachcheckurl: Option<String>,

    #[arg(
        long,
        value_name = "URL",
        allow_hyphen_values = true,
        help = "Redis (redis://[user:pass@]host:port/db, rediss:// for TLS, or unix:///path) shared by several instances: rate limits, login back-off, the replay guard and, with --sessionstore redis, sessions; needs the `redis` feature [env: AUTHNZERVER_REDIS_URL] [default: unset: all in-process]"
    )]
    pub redis_url: Option<String>,

    #[arg(
        long,
        value_name = "FILE",
        allow_hyphen_values = true,
        help = "Root certificates (PEM) to trust for a rediss:// Redis, e.g. a private CA, instead of the bundled Mozilla roots and the system's [env: AUTHNZERVER_REDISCAFILE] [default: unset: the bundled Mozilla roots and the system's]"
    )]
    pub rediscafile: Option<String>,

    #[arg(
        long,
        value_name = "TEXT",
        allow_hyphen_values = true,
        help = "Prefix of every Redis key [env: AUTHNZERVER_REDISPREFIX] [default: authnz:]"
    )]
    pub redisprefix: Option<String>,

    #[arg(
        long,
        value_name = "MS",
        allow_hyphen_values = true,
        help = "Longest time connecting to Redis or one Redis command may take, in milliseconds [env: AUTHNZERVER_REDISTIMEOUTMS] [default: 1000]"
    )]
    pub redistimeoutms: Option<String>,

    #[arg(
        long,
        value_name = "MS",
        allow_hyphen_values = true,
        help = "Longest time a database operation waits for a connection, in milliseconds [env: AUTHNZERVER_DBACQUIRETIMEOUTMS] [default: 2000]"
    )]
    pub dbacquiretimeoutms: Option<String>,

    #[arg(
        long,
        value_name = "MS",
        allow_hyphen_values = true,
        help = "Longest time one database operation may run once connected, in milliseconds [env: AUTHNZERVER_DBSTATEMENTTIMEOUTMS] [default: 2000]"
    )]
    pub dbstatementtimeoutms: Option<String>,

    #[arg(
        long,
        value_name = "sql|redis",
        allow_hyphen_values = true,
        help = "Where sessions (and session-tied API keys) live; redis needs --redis-url [env: AUTHNZERVER_SESSIONSTORE] [default: sql]"
    )]
    pub sessionstore: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Replay protection: refuse (401) request tokens older than this, more than 5 s in the future, or seen before; 0 is off, as upstream [env: AUTHNZERVER_REQUESTTTL] [default: 0]"
    )]
    pub requestttl: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Seconds a client has to send a complete request head (and finish the TLS handshake), from connecting or from the first byte of its next request [env: AUTHNZERVER_HEADERTIMEOUT] [default: 10]"
    )]
    pub headertimeout: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Seconds a client has to send the whole request body after the head [env: AUTHNZERVER_BODYTIMEOUT] [default: 20]"
    )]
    pub bodytimeout: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Seconds a kept-alive connection may wait for its next request [env: AUTHNZERVER_IDLETIMEOUT] [default: 60]"
    )]
    pub idletimeout: Option<String>,

    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help = "Client connections served at once (kept below the open-file limit); further clients wait in the listen backlog [env: AUTHNZERVER_MAXCONNECTIONS] [default: 1024]"
    )]
    pub maxconnections: Option<String>,

    #[arg(
        long,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        help = "Seconds requests in flight may take to finish after SIGTERM or SIGINT before their connections are dropped [env: AUTHNZERVER_SHUTDOWNTIMEOUT] [default: 5]"
    )]
    pub shutdowntimeout: Option<String>,

    #[arg(
        long,
        value_name = "PATH",
        allow_hyphen_values = true,
        help = "Envfile to read (INI-style KEY=VALUE lines) [default: <basedir>/.env if it exists]"
    )]
    pub envfile: Option<PathBuf>,

    #[arg(
        long,
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
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Work with permission policy files (spec section 6)
    #[command(subcommand)]
    Policy(PolicyCommand),
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

impl Cli {
    /// The raw command-line value of each item, keyed by item name. Empty
    /// and whitespace-only values are left out (they count as unset).
    pub(super) fn item_values(&self) -> Vec<(&'static str, String)> {
        use super::items;
        let values = [
            (items::ALLOWEDHOSTS.key, &self.allowedhosts),
            (items::AUTHDB.key, &self.authdb),
            (items::BASEDIR.key, &self.basedir),
            (items::DEBUGMODE.key, &self.debugmode),
            (items::LISTEN.key, &self.listen),
            (items::PERMISSIONS.key, &self.permissions),
            (items::PORT.key, &self.port),
            (items::SECRET.key, &self.secret),
            (items::PIISALT.key, &self.piisalt),
            (items::SESSIONEXPIRY.key, &self.sessionexpiry),
            (items::USERLOCKTRIES.key, &self.userlocktries),
            (items::USERLOCKTIME.key, &self.userlocktime),
            (items::PASSPOLICY.key, &self.passpolicy),
            (items::RATELIMITS.key, &self.ratelimits),
            (items::WORKERS.key, &self.workers),
            (items::EMAILSERVER.key, &self.emailserver),
            (items::EMAILPORT.key, &self.emailport),
            (items::EMAILUSER.key, &self.emailuser),
            (items::EMAILPASS.key, &self.emailpass),
            (items::EMAILSENDER.key, &self.emailsender),
            (items::TLS_CERT_FILE.key, &self.tls_cert_file),
            (items::TLS_CERT_KEY.key, &self.tls_cert_key),
            (items::BREACHCHECK.key, &self.breachcheck),
            (items::BREACHCHECKURL.key, &self.breachcheckurl),
            (items::MAILER.key, &self.mailer),
            (items::EMAILTLS.key, &self.emailtls),
            (items::EMAILCAFILE.key, &self.emailcafile),
            (items::EMAILTIMEOUT.key, &self.emailtimeout),
            (items::EMAILFILEDIR.key, &self.emailfiledir),
            (items::SESREGION.key, &self.sesregion),
            (items::SESENDPOINT.key, &self.sesendpoint),
            (items::EMAILBODYOVERRIDES.key, &self.emailbodyoverrides),
            (items::REDIS_URL.key, &self.redis_url),
            (items::REDISCAFILE.key, &self.rediscafile),
            (items::REDISPREFIX.key, &self.redisprefix),
            (items::REDISTIMEOUTMS.key, &self.redistimeoutms),
            (items::SESSIONSTORE.key, &self.sessionstore),
            (items::REQUESTTTL.key, &self.requestttl),
            (items::HEADERTIMEOUT.key, &self.headertimeout),
            (items::BODYTIMEOUT.key, &self.bodytimeout),
            (items::IDLETIMEOUT.key, &self.idletimeout),
            (items::MAXCONNECTIONS.key, &self.maxconnections),
            (items::SHUTDOWNTIMEOUT.key, &self.shutdowntimeout),
            (items::DBACQUIRETIMEOUTMS.key, &self.dbacquiretimeoutms),
            (items::DBSTATEMENTTIMEOUTMS.key, &self.dbstatementtimeoutms),
        ];
        values
            .into_iter()
            .filter_map(|(key, value)| {
                value
                    .as_ref()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (key, v.clone()))
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
