//! The table of configuration items (PROTOCOL.md 7.1), the one place an item is
//! declared: its key (the item name, also the TOML key), its environment
//! variable, its command-line option, its kind (how a value is parsed and
//! checked), its default and its help text.
//!
//! Everything else is derived from this table: the `authnzrv` options and
//! their `--help` text ([`super::cli`]), the layers and the generic
//! validation of the loader ([`super::load`]), the `.env` written by
//! auto-setup, and the item reference in `docs/CONFIG.md` ([`reference_markdown`],
//! kept current by a test). Adding an item is one row in [`items!`] below
//! plus reading its typed value where it is used (`docs/DESIGN.md`, "How to
//! add a config item").

use std::fmt::Write as _;

/// Where an item's default comes from when no layer sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDefault {
    /// A fixed text, parsed like any other value.
    Literal(&'static str),
    /// No default: start-up fails if no layer sets the item.
    Required,
    /// The process's current working directory (`basedir`).
    CurrentDir,
    /// The OS user running the server (`emailuser`).
    OsUser,
    /// The bundled `default-permissions-model.json` (`permissions`).
    BundledPolicy,
    /// Unset: the item stays `None` (`tls_cert_file`, `tls_cert_key`).
    Unset,
}

/// Which `http(s)://`-like URL an item takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// `http://` or `https://` (`breachcheckurl`).
    Http,
    /// `http://` or `https://` with a host (`sesendpoint`).
    HttpWithHost,
    /// `redis://`, `rediss://`, `redis+unix://` or `unix://` (`redis_url`;
    /// may hold a password, so it is never shown).
    Redis,
}

/// How an item's value is parsed and checked. Every item value is text in
/// every layer; the loader parses the winning text by the item's kind
/// ([`super::values::parse_kind`]) into an [`super::ItemValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text (kept as written).
    Text,
    /// Text that is never printed (`emailpass`).
    Password,
    /// A secret that may name a file holding it (`[[basedir]]`,
    /// `[[homedir]]` substituted, PROTOCOL.md 7.2); never printed.
    FileReadableSecret,
    /// `0` or `1` (also `true`/`false`).
    Bool,
    /// An integer in `min..=max` (Python `int()` syntax).
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
        /// Unit shown in the docs (`days`, `seconds`, ...), or empty.
        unit: &'static str,
    },
    /// A duration in whole seconds, `min..=max`.
    Seconds {
        /// Shortest accepted.
        min: u64,
        /// Longest accepted.
        max: u64,
    },
    /// A duration in milliseconds, `min..=max`.
    Millis {
        /// Shortest accepted.
        min: u64,
        /// Longest accepted.
        max: u64,
    },
    /// One of these words (case-insensitive; the value is the lower-case
    /// word).
    Choice(&'static [&'static str]),
    /// Host names separated by `;` (at least one).
    HostList,
    /// An IP address or a host name.
    ListenAddress,
    /// A database URL (`authdb`, SQLAlchemy or sqlx syntax); its password is
    /// never printed.
    DatabaseUrl,
    /// A file that must exist.
    ExistingFile,
    /// A directory (not checked).
    Dir,
    /// A URL of the given form.
    Url(UrlKind),
}

impl Kind {
    /// The placeholder shown after the option in `--help`.
    pub const fn value_name(self) -> &'static str {
        match self {
            Kind::Text | Kind::Password => "TEXT",
            Kind::FileReadableSecret => "VALUE|FILE",
            Kind::Bool => "0|1",
            Kind::Int { .. } => "N",
            Kind::Seconds { .. } => "SECONDS",
            Kind::Millis { .. } => "MS",
            Kind::Choice(_) => "WORD",
            Kind::HostList => "HOSTS",
            Kind::ListenAddress => "ADDR",
            Kind::DatabaseUrl | Kind::Url(_) => "URL",
            Kind::ExistingFile => "FILE",
            Kind::Dir => "DIR",
        }
    }

    /// Whether the value must never be printed (docs, logs, messages).
    pub const fn is_secret(self) -> bool {
        matches!(
            self,
            Kind::Password | Kind::FileReadableSecret | Kind::Url(UrlKind::Redis)
        )
    }

    /// What values are accepted, for the docs.
    pub fn describe(self) -> String {
        match self {
            Kind::Text => "text".to_owned(),
            Kind::Password => "text, never printed".to_owned(),
            Kind::FileReadableSecret => {
                "text or the path of a file holding it, never printed".to_owned()
            }
            Kind::Bool => "0 or 1".to_owned(),
            Kind::Int { min, max, unit: "" } => format!("integer {min}-{max}"),
            Kind::Int { min, max, unit } => format!("integer {min}-{max} ({unit})"),
            Kind::Seconds { min, max } => format!("{min}-{max} seconds"),
            Kind::Millis { min, max } => format!("{min}-{max} milliseconds"),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::HostList => "host names separated by ;".to_owned(),
            Kind::ListenAddress => "IP address or host name".to_owned(),
            Kind::DatabaseUrl => "database URL (password never printed)".to_owned(),
            Kind::ExistingFile => "path of an existing file".to_owned(),
            Kind::Dir => "directory".to_owned(),
            Kind::Url(UrlKind::Http | UrlKind::HttpWithHost) => {
                "http:// or https:// URL".to_owned()
            }
            Kind::Url(UrlKind::Redis) => {
                "redis://, rediss:// or unix:// URL (never printed)".to_owned()
            }
        }
    }
}

/// One configuration item of PROTOCOL.md 7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// The item name: the key in the TOML config file and in error origins.
    pub key: &'static str,
    /// The `AUTHNZERVER_*` environment variable (and envfile key).
    pub env: &'static str,
    /// A second variable that wins over `env` when both are set in the same
    /// layer (only `PORT` for `port`).
    pub env_override: Option<&'static str>,
    /// The long command-line option, without the leading `--`.
    pub cli: &'static str,
    /// The placeholder of the option's value in `--help`.
    pub value_name: &'static str,
    /// How a value is parsed and checked.
    pub kind: Kind,
    /// Where the default comes from.
    pub default: ItemDefault,
    /// How `--help` and the docs show the default.
    pub default_display: &'static str,
    /// One-sentence help (without the env and default, which are added).
    pub help: &'static str,
}

impl Item {
    /// An item whose option is `--KEY`, with the kind's placeholder and the
    /// default shown as written (`empty` for an empty literal).
    pub const fn new(
        key: &'static str,
        env: &'static str,
        kind: Kind,
        default: ItemDefault,
        help: &'static str,
    ) -> Self {
        let default_display = match default {
            ItemDefault::Literal(value) if value.is_empty() => "empty",
            ItemDefault::Literal(value) => value,
            ItemDefault::Required => "none, required",
            ItemDefault::CurrentDir => "the current directory",
            ItemDefault::OsUser => "the OS user running the server",
            ItemDefault::BundledPolicy => "the bundled default-permissions-model.json",
            ItemDefault::Unset => "unset",
        };
        Self {
            key,
            env,
            env_override: None,
            cli: key,
            value_name: kind.value_name(),
            kind,
            default,
            default_display,
            help,
        }
    }

    /// The option is `--NAME` instead of `--KEY`.
    pub const fn cli(self, name: &'static str) -> Self {
        Self { cli: name, ..self }
    }

    /// `--help` shows `NAME` as the value placeholder.
    pub const fn value_name(self, name: &'static str) -> Self {
        Self {
            value_name: name,
            ..self
        }
    }

    /// `--help` and the docs describe the default as `text`.
    pub const fn shown_default(self, text: &'static str) -> Self {
        Self {
            default_display: text,
            ..self
        }
    }

    /// `var` wins over the item's variable within one layer.
    pub const fn env_override(self, var: &'static str) -> Self {
        Self {
            env_override: Some(var),
            ..self
        }
    }

    /// The `[env: ...]` part of the help text.
    pub fn env_help(&self) -> String {
        match self.env_override {
            Some(var) => format!("[env: {var}, {}; {var} wins if both are set]", self.env),
            None => format!("[env: {}]", self.env),
        }
    }

    /// The whole `--help` text of the item's option.
    pub fn help_text(&self) -> String {
        format!(
            "{} {} [default: {}]",
            self.help,
            self.env_help(),
            self.default_display
        )
    }
}

/// Declares each item once as a constant and lists all of them in
/// [`ITEMS`], in table order.
macro_rules! items {
    ($($(#[$doc:meta])* $name:ident = $item:expr;)+) => {
        $($(#[$doc])* pub const $name: Item = $item;)+
        /// All items, in the order of the table in PROTOCOL.md 7.1 (which is also
        /// the order of the `.env` written by auto-setup), then the items of
        /// this server that upstream does not have.
        pub const ITEMS: &[Item] = &[$($name),+];
    };
}

use ItemDefault::{BundledPolicy, CurrentDir, Literal, OsUser, Required, Unset};

/// Default of `ratelimits` (PROTOCOL.md 4.1).
pub const DEFAULT_RATELIMITS: &str = "ipaddr:720; user:480; session:600; apikey:720; burst:150";
/// Default of `emailsender`.
pub const DEFAULT_EMAILSENDER: &str = authnz_core::mail::DEFAULT_EMAILSENDER;
/// Default of `emailfiledir`: this folder in `basedir` (applied by the
/// loader, as it depends on `basedir`).
pub const DEFAULT_EMAILFILEDIR: &str = "mail-outbox";

/// Largest `argon2memory` (KiB): the bound put on stored hashes
/// ([`authnz_core::passwords`]), so every hash made here can be verified.
const MAX_ARGON2_MEMORY_KIB: i64 = authnz_core::passwords::MAX_M_COST_KIB as i64;
/// Largest `argon2time`: the bound put on stored hashes.
const MAX_ARGON2_TIME: i64 = authnz_core::passwords::MAX_T_COST as i64;
/// Largest `argon2parallelism`: the bound put on stored hashes.
const MAX_ARGON2_PARALLELISM: i64 = authnz_core::passwords::MAX_P_COST as i64;

/// Seconds in 100 years: the longest `userlocktime`.
const HUNDRED_YEARS_SECS: i64 = 3_153_600_000;

items! {
    /// `allowedhosts`: host allow-list (PROTOCOL.md 1.2).
    ALLOWEDHOSTS = Item::new(
        "allowedhosts", "AUTHNZERVER_ALLOWEDHOSTS", Kind::HostList,
        Literal("localhost;127.0.0.1"),
        "Host names the server answers to, separated by ';'",
    );
    /// `authdb`: database URL.
    AUTHDB = Item::new(
        "authdb", "AUTHNZERVER_AUTHDB", Kind::DatabaseUrl, Required,
        "Database URL (SQLAlchemy or sqlx syntax): sqlite:///relative.db, sqlite:////abs/path.db, postgresql://user:pass@host/db, mysql://...",
    );
    /// `basedir`: base directory, value of `[[basedir]]`.
    BASEDIR = Item::new(
        "basedir", "AUTHNZERVER_BASEDIR", Kind::Dir, CurrentDir,
        "Base directory: holds the admin credentials file and <basedir>/.env; the value of [[basedir]]",
    );
    /// `debugmode`: 0 or 1.
    DEBUGMODE = Item::new(
        "debugmode", "AUTHNZERVER_DEBUGMODE", Kind::Bool, Literal("0"),
        "1 enables the /echo endpoint and debug logging, 0 disables them",
    );
    /// `listen`: bind address.
    LISTEN = Item::new(
        "listen", "AUTHNZERVER_LISTEN", Kind::ListenAddress, Literal("127.0.0.1"),
        "Address to listen on",
    );
    /// `permissions`: policy file.
    PERMISSIONS = Item::new(
        "permissions", "AUTHNZERVER_PERMISSIONS", Kind::ExistingFile, BundledPolicy,
        "Permissions policy JSON file",
    );
    /// `port`: TCP port; `PORT` wins over `AUTHNZERVER_PORT`.
    PORT = Item::new(
        "port", "AUTHNZERVER_PORT", Kind::Int { min: 0, max: 65535, unit: "" }, Literal("13431"),
        "TCP port to listen on (0 lets the system choose)",
    )
    .value_name("PORT")
    .env_override("PORT");
    /// `secret`: Fernet key, file-readable.
    SECRET = Item::new(
        "secret", "AUTHNZERVER_SECRET", Kind::FileReadableSecret, Required,
        "Shared Fernet key, or a file holding it ([[basedir]] and [[homedir]] are substituted)",
    )
    .value_name("KEY|FILE");
    /// `piisalt`: PII salt, file-readable.
    PIISALT = Item::new(
        "piisalt", "AUTHNZERVER_PIISALT", Kind::FileReadableSecret, Required,
        "Salt for hashing PII in logs ('none' logs in clear), or a file holding it",
    )
    .value_name("SALT|FILE");
    /// `sessionexpiry`: days.
    SESSIONEXPIRY = Item::new(
        "sessionexpiry", "AUTHNZERVER_SESSIONEXPIRY",
        Kind::Int { min: 0, max: 36_500, unit: "days" }, Literal("30"),
        "Days after its expiry at which an expired session is deleted",
    )
    .value_name("DAYS");
    /// `userlocktries`: failures before the automatic lock.
    USERLOCKTRIES = Item::new(
        "userlocktries", "AUTHNZERVER_USERLOCKTRIES",
        Kind::Int { min: 1, max: u32::MAX as i64, unit: "" }, Literal("10"),
        "Failed logins before an account is locked automatically",
    );
    /// `userlocktime`: seconds.
    USERLOCKTIME = Item::new(
        "userlocktime", "AUTHNZERVER_USERLOCKTIME",
        Kind::Int { min: 0, max: HUNDRED_YEARS_SECS, unit: "seconds" }, Literal("3600"),
        "Seconds an automatic lock lasts",
    )
    .value_name("SECONDS");
    /// `passpolicy`: password policy string.
    PASSPOLICY = Item::new(
        "passpolicy", "AUTHNZERVER_PASSPOLICY", Kind::Text,
        Literal("min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25"),
        "Password policy",
    )
    .value_name("POLICY");
    /// `ratelimits`: rate-limit string.
    RATELIMITS = Item::new(
        "ratelimits", "AUTHNZERVER_RATELIMITS", Kind::Text, Literal(DEFAULT_RATELIMITS),
        "Rate limits per minute ('none' disables)",
    )
    .value_name("LIMITS");
    /// `workers`: size of the password-hashing thread pool.
    WORKERS = Item::new(
        "workers", "AUTHNZERVER_WORKERS", Kind::Int { min: 1, max: 1024, unit: "" }, Literal("4"),
        "Password-hashing threads: at most this many Argon2 hashes or checks run at once, further logins and sign-ups wait; /health reports each thread",
    );
    /// `emailserver`: SMTP host.
    EMAILSERVER = Item::new(
        "emailserver", "AUTHNZERVER_EMAILSERVER", Kind::Text, Literal("localhost"),
        "SMTP server host",
    )
    .value_name("HOST");
    /// `emailport`: SMTP port.
    EMAILPORT = Item::new(
        "emailport", "AUTHNZERVER_EMAILPORT", Kind::Int { min: 1, max: 65535, unit: "" }, Literal("25"),
        "SMTP server port",
    )
    .value_name("PORT");
    /// `emailuser`: SMTP login user.
    EMAILUSER = Item::new(
        "emailuser", "AUTHNZERVER_EMAILUSER", Kind::Text, OsUser,
        "SMTP login user",
    )
    .value_name("USER");
    /// `emailpass`: SMTP password.
    EMAILPASS = Item::new(
        "emailpass", "AUTHNZERVER_EMAILPASS", Kind::Password, Literal(""),
        "SMTP login password",
    )
    .value_name("PASSWORD");
    /// `emailsender`: From address.
    EMAILSENDER = Item::new(
        "emailsender", "AUTHNZERVER_EMAILSENDER", Kind::Text, Literal(DEFAULT_EMAILSENDER),
        "From address of sent mail",
    )
    .value_name("ADDRESS");
    /// `tls_cert_file`: TLS certificate (PEM).
    TLS_CERT_FILE = Item::new(
        "tls_cert_file", "AUTHNZERVER_TLSCERTFILE", Kind::ExistingFile, Unset,
        "TLS certificate chain (PEM); TLS is on when this and --tlscertkey are both set",
    )
    .cli("tlscertfile");
    /// `tls_cert_key`: TLS private key (PEM).
    TLS_CERT_KEY = Item::new(
        "tls_cert_key", "AUTHNZERVER_TLSCERTKEY", Kind::ExistingFile, Unset,
        "TLS private key (PEM)",
    )
    .cli("tlscertkey");
    /// `breachcheck` (not upstream): run the online breach check of PROTOCOL.md 5.1
    /// step 6 (upstream always runs it; here it is off by default).
    BREACHCHECK = Item::new(
        "breachcheck", "AUTHNZERVER_BREACHCHECK", Kind::Bool, Literal("0"),
        "Check new passwords against the haveibeenpwned range API (fails open)",
    );
    /// `breachcheckurl` (not upstream): base URL of the range API; the first
    /// five hex digits of the password's SHA-1 are appended.
    BREACHCHECKURL = Item::new(
        "breachcheckurl", "AUTHNZERVER_BREACHCHECKURL", Kind::Url(UrlKind::Http),
        Literal("https://api.pwnedpasswords.com/range/"),
        "Base URL of the breach-check range API, http:// or https://",
    );
    /// `mailer` (authnz only): the mail backend.
    MAILER = Item::new(
        "mailer", "AUTHNZERVER_MAILER", Kind::Choice(&["file", "smtp", "ses"]), Literal("file"),
        "Mail backend: file (each mail as an .eml file in --emailfiledir), smtp (--emailserver ...), ses (Amazon SES v2); a backend must be compiled in",
    )
    .value_name("file|smtp|ses");
    /// `emailtls` (authnz only): SMTP connection security.
    EMAILTLS = Item::new(
        "emailtls", "AUTHNZERVER_EMAILTLS", Kind::Choice(&["starttls", "tls", "none"]),
        Literal("starttls"),
        "SMTP connection security: starttls (required, as upstream), tls (implicit TLS, usually port 465), none (plain text; trusted local relays only)",
    )
    .value_name("starttls|tls|none");
    /// `emailcafile` (authnz only): extra root certificates (PEM) for SMTP TLS.
    EMAILCAFILE = Item::new(
        "emailcafile", "AUTHNZERVER_EMAILCAFILE", Kind::ExistingFile, Unset,
        "Extra root certificates (PEM) trusted for SMTP TLS, besides the bundled Mozilla roots",
    );
    /// `emailtimeout` (authnz only): seconds a mail send may take.
    EMAILTIMEOUT = Item::new(
        "emailtimeout", "AUTHNZERVER_EMAILTIMEOUT", Kind::Seconds { min: 1, max: 600 },
        Literal("10"),
        "Longest time one mail send may take (connecting and each SMTP command are bounded by it too); a send that takes longer fails",
    );
    /// `emailfiledir` (authnz only): folder of the file mailer.
    EMAILFILEDIR = Item::new(
        "emailfiledir", "AUTHNZERVER_EMAILFILEDIR", Kind::Dir, Unset,
        "Folder the file mailer writes .eml files to; relative to the basedir",
    )
    .shown_default("<basedir>/mail-outbox");
    /// `sesregion` (authnz only): AWS region of SES.
    SESREGION = Item::new(
        "sesregion", "AUTHNZERVER_SESREGION", Kind::Text, Unset,
        "AWS region of SES, e.g. eu-west-1",
    )
    .value_name("REGION")
    .shown_default("the AWS chain's region");
    /// `sesendpoint` (authnz only): SES endpoint URL override.
    SESENDPOINT = Item::new(
        "sesendpoint", "AUTHNZERVER_SESENDPOINT", Kind::Url(UrlKind::HttpWithHost), Unset,
        "SES endpoint URL override, for SES-compatible services and emulators",
    )
    .shown_default("the region's SES endpoint");
    /// `emailbodyoverrides` (authnz only): 1 lets `user-sendemail-*` bodies
    /// override the mail settings.
    EMAILBODYOVERRIDES = Item::new(
        "emailbodyoverrides", "AUTHNZERVER_EMAILBODYOVERRIDES", Kind::Bool, Literal("0"),
        "1 lets user-sendemail-* request bodies override emailsender, emailserver, emailport, emailuser and emailpass (upstream behaviour; lets a frontend point the server's mail at any host)",
    );
    /// `redis_url` (not upstream): Redis for the rate limiter, the login
    /// throttle, the replay guard and (with `sessionstore = redis`) sessions.
    REDIS_URL = Item::new(
        "redis_url", "AUTHNZERVER_REDIS_URL", Kind::Url(UrlKind::Redis), Unset,
        "Redis (redis://[user:pass@]host:port/db, rediss:// for TLS, or unix:///path) shared by several instances: rate limits, login back-off, the replay guard and, with --sessionstore redis, sessions; needs the `redis` feature",
    )
    .cli("redis-url")
    .shown_default("unset: all in-process");
    /// `rediscafile` (not upstream): root certificates (PEM) trusted for a
    /// `rediss://` Redis instead of the bundled and system roots.
    REDISCAFILE = Item::new(
        "rediscafile", "AUTHNZERVER_REDISCAFILE", Kind::ExistingFile, Unset,
        "Root certificates (PEM) to trust for a rediss:// Redis, e.g. a private CA, instead of the bundled Mozilla roots and the system's",
    )
    .shown_default("unset: the bundled Mozilla roots and the system's");
    /// `redisprefix` (not upstream): prefix of every Redis key.
    REDISPREFIX = Item::new(
        "redisprefix", "AUTHNZERVER_REDISPREFIX", Kind::Text, Literal("authnz:"),
        "Prefix of every Redis key",
    );
    /// `redistimeoutms` (not upstream): longest a Redis command (or
    /// connecting) may take.
    REDISTIMEOUTMS = Item::new(
        "redistimeoutms", "AUTHNZERVER_REDISTIMEOUTMS", Kind::Millis { min: 10, max: 60_000 },
        Literal("1000"),
        "Longest time connecting to Redis or one Redis command may take, in milliseconds",
    );
    /// `sessionstore` (not upstream): where sessions live.
    SESSIONSTORE = Item::new(
        "sessionstore", "AUTHNZERVER_SESSIONSTORE", Kind::Choice(&["sql", "redis"]), Literal("sql"),
        "Where sessions (and session-tied API keys) live; redis needs --redis-url",
    )
    .value_name("sql|redis");
    /// `sessioncache` (not upstream): cache active sessions in the process.
    SESSIONCACHE = Item::new(
        "sessioncache", "AUTHNZERVER_SESSIONCACHE", Kind::Bool, Literal("1"),
        "1 answers repeated session checks from memory: on SQLite when this process holds the database's lock file; with --redis-url on every database and session store, kept coherent between instances by invalidation messages over Redis pub/sub; without Redis on PostgreSQL, the same over PostgreSQL's LISTEN/NOTIFY (a change on one instance is seen by the others within milliseconds; the cache turns itself off while the channel is broken); MySQL without Redis caches nothing; 0 always asks the store",
    );
    /// `sessioncachemaxagems` (not upstream): last bound on a shared cache
    /// entry's age.
    SESSIONCACHEMAXAGEMS = Item::new(
        "sessioncachemaxagems", "AUTHNZERVER_SESSIONCACHEMAXAGEMS", Kind::Millis { min: 10, max: 600_000 },
        Literal("2000"),
        "With a shared cache (Redis or PostgreSQL): a cached session is read again from the store at the latest this many milliseconds after it was read; the bound on a stale answer when an instance that changed it could not reach the bus while this one could",
    );
    /// `requestttl` (not upstream): replay protection; 0 is off.
    REQUESTTTL = Item::new(
        "requestttl", "AUTHNZERVER_REQUESTTTL", Kind::Seconds { min: 0, max: 86_400 }, Literal("0"),
        "Replay protection: refuse (401) request tokens older than this, more than 5 s in the future, or seen before; 0 is off, as upstream",
    );
    /// `jwtissuer` (not upstream): the `iss` claim of `session-jwt-issue`.
    JWTISSUER = Item::new(
        "jwtissuer", "AUTHNZERVER_JWTISSUER", Kind::Text, Literal("authnzerver"),
        "The issuer (iss claim) of the signed tokens of session-jwt-issue; downstream services check it",
    )
    .value_name("ISSUER");
    /// `jwtmaxexpiry` (not upstream): the cap on a token's lifetime.
    JWTMAXEXPIRY = Item::new(
        "jwtmaxexpiry", "AUTHNZERVER_JWTMAXEXPIRY", Kind::Seconds { min: 1, max: 86_400 }, Literal("900"),
        "Longest lifetime of a signed token of session-jwt-issue, in seconds; a longer expires_seconds is cut to it",
    );
    /// `jwtkeyreload` (not upstream): how stale an instance's signing keys
    /// may be.
    JWTKEYRELOAD = Item::new(
        "jwtkeyreload", "AUTHNZERVER_JWTKEYRELOAD", Kind::Seconds { min: 1, max: 3600 }, Literal("60"),
        "Seconds a running instance keeps the JWT signing keys it read before reading them again: the longest delay before `authnzrv jwks rotate` takes effect on it",
    );
    /// `auditretention` (not upstream): how long audit events are kept.
    AUDITRETENTION = Item::new(
        "auditretention", "AUTHNZERVER_AUDITRETENTION",
        Kind::Int { min: 0, max: 36_500, unit: "days" }, Literal("365"),
        "Days an audit event is kept; older ones are deleted by a cleanup at start-up and about once a day (0 keeps every event)",
    )
    .value_name("DAYS");
    /// `auditaddress` (not upstream): how client addresses are stored in
    /// the audit log.
    AUDITADDRESS = Item::new(
        "auditaddress", "AUTHNZERVER_AUDITADDRESS", Kind::Choice(&["full", "truncated", "hashed"]),
        Literal("hashed"),
        "How the audit log stores client addresses: full (as the frontend sent them), truncated (IPv4 to /24, IPv6 to /48) or hashed (salted with piisalt, as in the logs)",
    )
    .value_name("full|truncated|hashed");
    /// `auditqueue` (not upstream): events waiting for the audit writer.
    AUDITQUEUE = Item::new(
        "auditqueue", "AUTHNZERVER_AUDITQUEUE",
        Kind::Int { min: 1, max: 1_000_000, unit: "events" }, Literal("10000"),
        "Audit events waiting to be written before new ones are dropped (and counted) rather than delay requests",
    );
    /// `headertimeout` (not upstream): time for a complete request head.
    HEADERTIMEOUT = Item::new(
        "headertimeout", "AUTHNZERVER_HEADERTIMEOUT", Kind::Seconds { min: 1, max: 3600 }, Literal("10"),
        "Seconds a client has to send a complete request head (and finish the TLS handshake), from connecting or from the first byte of its next request",
    );
    /// `bodytimeout` (not upstream): time for a whole request body.
    BODYTIMEOUT = Item::new(
        "bodytimeout", "AUTHNZERVER_BODYTIMEOUT", Kind::Seconds { min: 1, max: 3600 }, Literal("20"),
        "Seconds a client has to send the whole request body after the head",
    );
    /// `idletimeout` (not upstream): idle time of a kept-alive connection.
    IDLETIMEOUT = Item::new(
        "idletimeout", "AUTHNZERVER_IDLETIMEOUT", Kind::Seconds { min: 1, max: 86_400 }, Literal("60"),
        "Seconds a kept-alive connection may wait for its next request",
    );
    /// `maxconnections` (not upstream): client connections served at once.
    MAXCONNECTIONS = Item::new(
        "maxconnections", "AUTHNZERVER_MAXCONNECTIONS",
        Kind::Int { min: 1, max: 1_000_000, unit: "" }, Literal("1024"),
        "Client connections served at once (kept below the open-file limit); further clients wait in the listen backlog",
    );
    /// `shutdowntimeout` (not upstream): grace time after SIGTERM/SIGINT.
    SHUTDOWNTIMEOUT = Item::new(
        "shutdowntimeout", "AUTHNZERVER_SHUTDOWNTIMEOUT", Kind::Seconds { min: 0, max: 3600 }, Literal("5"),
        "Seconds requests in flight may take to finish after SIGTERM or SIGINT before their connections are dropped",
    );
    /// `dbacquiretimeoutms` (not upstream): wait for a database connection.
    DBACQUIRETIMEOUTMS = Item::new(
        "dbacquiretimeoutms", "AUTHNZERVER_DBACQUIRETIMEOUTMS", Kind::Millis { min: 10, max: 600_000 },
        Literal("2000"),
        "Longest time a database operation waits for a connection, in milliseconds",
    );
    /// `dbstatementtimeoutms` (not upstream): length of one database operation.
    DBSTATEMENTTIMEOUTMS = Item::new(
        "dbstatementtimeoutms", "AUTHNZERVER_DBSTATEMENTTIMEOUTMS", Kind::Millis { min: 10, max: 600_000 },
        Literal("2000"),
        "Longest time one database operation may run once connected, in milliseconds",
    );
    /// `argon2memory` (not upstream): Argon2id memory of new hashes, KiB.
    ARGON2MEMORY = Item::new(
        "argon2memory", "AUTHNZERVER_ARGON2MEMORY",
        Kind::Int { min: 64, max: MAX_ARGON2_MEMORY_KIB, unit: "KiB" }, Literal("65536"),
        "Argon2id memory of new password hashes, in KiB (each hashing thread uses this much while it hashes); stored hashes made with other parameters are rehashed at their next login; `authnzrv argon2 calibrate` measures what this machine affords",
    )
    .value_name("KIB");
    /// `argon2time` (not upstream): Argon2id passes of new hashes.
    ARGON2TIME = Item::new(
        "argon2time", "AUTHNZERVER_ARGON2TIME",
        Kind::Int { min: 1, max: MAX_ARGON2_TIME, unit: "" }, Literal("3"),
        "Argon2id passes (iterations) of new password hashes",
    );
    /// `argon2parallelism` (not upstream): Argon2id lanes of new hashes.
    ARGON2PARALLELISM = Item::new(
        "argon2parallelism", "AUTHNZERVER_ARGON2PARALLELISM",
        Kind::Int { min: 1, max: MAX_ARGON2_PARALLELISM, unit: "" }, Literal("4"),
        "Argon2id lanes of new password hashes (at most argon2memory / 8)",
    );
    /// `logformat` (not upstream): text for people, json for log shippers.
    LOGFORMAT = Item::new(
        "logformat", "AUTHNZERVER_LOGFORMAT", Kind::Choice(&["text", "json"]), Literal("text"),
        "Log format on stderr: text (one readable line per event) or json (one JSON object per line, for log shippers); the same fields either way, personal data hashed in both",
    )
    .value_name("text|json");
    /// `metrics` (not upstream): serve `GET /metrics`.
    METRICS = Item::new(
        "metrics", "AUTHNZERVER_METRICS", Kind::Bool, Literal("1"),
        "1 keeps Prometheus metrics and serves them at GET /metrics to callers that pass the allowed-hosts check (and give metricstoken when it is set); anyone else gets 404; 0 keeps none",
    );
    /// `metricstoken` (not upstream): bearer token required on `/metrics`.
    METRICSTOKEN = Item::new(
        "metricstoken", "AUTHNZERVER_METRICSTOKEN", Kind::Password, Literal(""),
        "When set, GET /metrics also requires the header `Authorization: Bearer <token>` with this token (compared in constant time)",
    );
    /// `metricslisten` (not upstream): a listener of its own for `/metrics`.
    METRICSLISTEN = Item::new(
        "metricslisten", "AUTHNZERVER_METRICSLISTEN", Kind::Text, Unset,
        "HOST:PORT of a separate listener serving only GET /metrics (then not served on the protocol's port; TLS as on the main port); unset serves it on the main port",
    )
    .value_name("HOST:PORT");
    /// `oauthproviders` (not upstream): the social-login providers.
    OAUTHPROVIDERS = Item::new(
        "oauthproviders", "AUTHNZERVER_OAUTHPROVIDERS", Kind::ExistingFile, Unset,
        "JSON file listing the social-login providers (OpenID Connect, Google, GitHub, Twitter/X) for user-oauth-start and user-oauth-finish; unset turns social login off (needs the oauth Cargo feature)",
    );
    /// `webauthnorigins` (not upstream): the origins of passkey ceremonies.
    WEBAUTHNORIGINS = Item::new(
        "webauthnorigins", "AUTHNZERVER_WEBAUTHNORIGINS", Kind::Text, Unset,
        "Comma-separated origins of the pages that register and use passkeys (WebAuthn), e.g. https://example.org or http://localhost:9000; unset turns passkeys off (needs the passkeys Cargo feature)",
    )
    .value_name("ORIGINS");
    /// `webauthnrpid` (not upstream): the WebAuthn relying party id.
    WEBAUTHNRPID = Item::new(
        "webauthnrpid", "AUTHNZERVER_WEBAUTHNRPID", Kind::Text, Unset,
        "WebAuthn relying party id: the host of the origins or a parent domain of it (passkeys are bound to it; changing it makes every registered passkey unusable); unset: the host of the first of webauthnorigins",
    )
    .value_name("DOMAIN");
    /// `webauthnrpname` (not upstream): the name passkey prompts show.
    WEBAUTHNRPNAME = Item::new(
        "webauthnrpname", "AUTHNZERVER_WEBAUTHNRPNAME", Kind::Text, Literal("authnz"),
        "Name of this service in the browser's passkey prompts",
    );
    /// `webhooks` (not upstream): the endpoints audit events are POSTed to.
    WEBHOOKS = Item::new(
        "webhooks", "AUTHNZERVER_WEBHOOKS", Kind::ExistingFile, Unset,
        "JSON file listing webhook endpoints, [{\"url\", \"secret\": \"whsec_<base64>\", \"events\": [...] or [\"*\"]}]: audit events delivered in the Standard Webhooks format from a durable outbox; unset turns webhooks off",
    );
    /// `webhookattempts` (not upstream): failures before a delivery is parked.
    WEBHOOKATTEMPTS = Item::new(
        "webhookattempts", "AUTHNZERVER_WEBHOOKATTEMPTS",
        Kind::Int { min: 1, max: 100, unit: "attempts" }, Literal("8"),
        "Failed attempts (non-2xx answer, connection error, timeout) before a webhook delivery is parked until `authnzrv webhooks retry`",
    );
    /// `webhooktimeout` (not upstream): time for one delivery attempt.
    WEBHOOKTIMEOUT = Item::new(
        "webhooktimeout", "AUTHNZERVER_WEBHOOKTIMEOUT", Kind::Seconds { min: 1, max: 300 }, Literal("10"),
        "Seconds one webhook delivery attempt may take, connecting included; a slower one counts as failed",
    );
}

/// Marker line before the generated item reference in `docs/CONFIG.md`.
pub const DOCS_BEGIN: &str = "<!-- BEGIN GENERATED ITEMS: written from authnz-server/src/config/items.rs; do not edit by hand -->";
/// Marker line after the generated item reference in `docs/CONFIG.md`.
pub const DOCS_END: &str = "<!-- END GENERATED ITEMS -->";

/// The item reference of `docs/CONFIG.md` (between [`DOCS_BEGIN`] and
/// [`DOCS_END`]): one entry per item, in table order, with its option,
/// variable, accepted values, default and help text.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    for item in ITEMS {
        let _ = writeln!(out, "### `{}`\n", item.key);
        let stop = if item.help.ends_with('.') { "" } else { "." };
        let _ = writeln!(out, "{}{stop}\n", markdown_text(item.help));
        let _ = write!(
            out,
            "- option: `--{} {}`\n- variable: `{}`",
            item.cli, item.value_name, item.env
        );
        if let Some(var) = item.env_override {
            let _ = write!(out, " (`{var}` wins if both are set)");
        }
        let _ = write!(
            out,
            "\n- value: {}\n- default: {}\n\n",
            item.kind.describe(),
            match item.default {
                ItemDefault::Literal(value) if !value.is_empty() => format!("`{value}`"),
                _ => markdown_text(item.default_display),
            }
        );
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Plain text for Markdown: `<basedir>` must not read as an HTML tag.
fn markdown_text(text: &str) -> String {
    text.replace('<', "\\<")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_env_names_and_options_are_unique() {
        for (i, a) in ITEMS.iter().enumerate() {
            for b in &ITEMS[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.env, b.env);
                assert_ne!(a.cli, b.cli);
            }
            assert!(a.env.starts_with("AUTHNZERVER_"), "{}", a.env);
        }
    }

    #[test]
    fn every_item_has_help_env_and_default() {
        assert_eq!(ITEMS.len(), 67);
        for item in ITEMS {
            assert!(!item.help.trim().is_empty(), "{}: no help", item.key);
            assert!(!item.default_display.is_empty(), "{}", item.key);
            assert!(!item.value_name.is_empty(), "{}", item.key);
            let help = item.help_text();
            assert!(
                help.contains(&format!("[env: {}", item.env))
                    || help.contains(&format!(", {}", item.env)),
                "{help}"
            );
            assert!(
                help.ends_with(&format!("[default: {}]", item.default_display)),
                "{help}"
            );
        }
    }
}
