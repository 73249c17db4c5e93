//! The validated configuration ([`Config`]) the server runs with: one typed
//! field per item of PROTOCOL.md 7.1. It is built only by [`Config::load`], so every
//! value in it has passed validation. Its `Debug` output hides the secret
//! key, the PII salt, the SMTP password and database passwords, so the whole
//! struct may be logged at start-up.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::database::DatabaseTarget;
use super::secret::FernetKey;
use super::values::ItemValues;

/// The server configuration (PROTOCOL.md 7.1), validated.
#[derive(Clone)]
pub struct Config {
    /// Host allow-list: split on `;`, trimmed, empties dropped (PROTOCOL.md 1.2).
    pub allowedhosts: Vec<String>,
    /// The database to use.
    pub authdb: DatabaseTarget,
    /// `authdb` as configured (the form auto-setup writes into `.env`), the
    /// password of a server URL replaced by `***`: what start-up logs.
    pub authdb_display: String,
    /// Base directory: where the admin credentials file goes, `[[basedir]]`.
    pub basedir: PathBuf,
    /// Enables `/echo` and debug logging.
    pub debugmode: bool,
    /// Bind address: an IP address (IPv6 without brackets) or a host name.
    pub listen: String,
    /// Policy file; `None` means the bundled default policy.
    pub permissions: Option<PathBuf>,
    /// TCP port (0 lets the OS choose).
    pub port: u16,
    /// The shared Fernet key (PROTOCOL.md 1.3).
    pub secret: FernetKey,
    /// The PII salt for log hashing (PROTOCOL.md 7.8); `none` disables hashing.
    pub piisalt: String,
    /// Days after their expiry at which expired sessions are deleted.
    pub sessionexpiry: i64,
    /// Failed logins before the automatic lock (at least 1).
    pub userlocktries: u32,
    /// Seconds an automatic lock lasts.
    pub userlocktime: u64,
    /// Password policy text (PROTOCOL.md 5.1), unparsed.
    pub passpolicy: String,
    /// Rate-limit text (PROTOCOL.md 4.1), unparsed; `none` disables.
    pub ratelimits: String,
    /// Size of the action worker pool (at least 1).
    pub workers: usize,
    /// SMTP host.
    pub emailserver: String,
    /// SMTP port.
    pub emailport: u16,
    /// SMTP login user.
    pub emailuser: String,
    /// SMTP password (may be empty).
    pub emailpass: String,
    /// From address of sent mail.
    pub emailsender: String,
    /// The mail backend (compiled in: checked at load).
    pub mailer: MailerKind,
    /// SMTP connection security.
    pub emailtls: SmtpSecurity,
    /// Extra root certificates (PEM) for SMTP TLS.
    pub emailcafile: Option<PathBuf>,
    /// Longest time one mail send may take.
    pub emailtimeout: Duration,
    /// Folder of the file mailer (absolute: a relative value is taken
    /// relative to `basedir`).
    pub emailfiledir: PathBuf,
    /// AWS region of SES; `None` takes the standard AWS chain's.
    pub sesregion: Option<String>,
    /// SES endpoint URL override.
    pub sesendpoint: Option<String>,
    /// Whether `user-sendemail-*` bodies may override the mail settings
    /// off by default.
    pub emailbodyoverrides: bool,
    /// TLS certificate chain; set exactly when `tls_cert_key` is.
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key; set exactly when `tls_cert_file` is.
    pub tls_cert_key: Option<PathBuf>,
    /// Run the online breach check of PROTOCOL.md 5.1 step 6 (default off).
    pub breachcheck: bool,
    /// Base URL of the breach-check range API.
    pub breachcheckurl: String,
    /// Redis URL (may hold a password: never logged); `None` keeps
    /// everything in-process.
    pub redis_url: Option<String>,
    /// Roots trusted for `rediss://` instead of the bundled and system ones.
    pub rediscafile: Option<PathBuf>,
    /// Prefix of every Redis key.
    pub redisprefix: String,
    /// Bound on connecting to Redis and on each command.
    pub redistimeout: Duration,
    /// Where sessions live.
    pub sessionstore: SessionStoreKind,
    /// Bound on waiting for a database connection.
    pub dbacquiretimeout: Duration,
    /// Bound on one database operation once connected.
    pub dbstatementtimeout: Duration,
    /// Replay protection window; `None` is off (the default, Q-18).
    pub requestttl: Option<Duration>,
    /// Timeouts and connection cap of the HTTP listener (`headertimeout`,
    /// `bodytimeout`, `idletimeout`, `maxconnections`, `shutdowntimeout`).
    pub http_limits: crate::serving::HttpLimits,
    /// Argon2id parameters of new hashes (`argon2memory`, `argon2time`,
    /// `argon2parallelism`).
    pub hash_params: authnz_core::passwords::HashParams,
    /// Log format (`logformat`).
    pub logformat: LogFormat,
    /// The TOML config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The envfile that was read, if any.
    pub envfile: Option<PathBuf>,
    /// Every item's parsed value, by item (`config.values.duration(&items::X)`):
    /// how code reads an item that has no field above.
    pub values: ItemValues,
}

/// Where sessions live (`sessionstore`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStoreKind {
    /// The `sessions` table of the auth database.
    Sql,
    /// Redis (`redis_url`).
    Redis,
}

impl SessionStoreKind {
    /// Parse the config spelling (`sql` or `redis`, case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sql" => Some(Self::Sql),
            "redis" => Some(Self::Redis),
            _ => None,
        }
    }
}

/// How log events are written (`logformat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Parse the config spelling (`text` or `json`, case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// The mail backends (`mailer`): `authnz-mail`'s list, which also knows
/// which of them this build has.
pub use authnz_mail::MailerKind;

/// SMTP connection security (`emailtls`), defined with the mail settings
/// of `authnz-core`.
pub use authnz_core::mail::SmtpSecurity;

/// The two TLS files, present only together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFiles<'a> {
    /// Certificate chain (PEM).
    pub cert_file: &'a Path,
    /// Private key (PEM).
    pub cert_key: &'a Path,
}

impl Config {
    /// The TLS files when TLS is on (both items set), else `None`.
    pub fn tls(&self) -> Option<TlsFiles<'_>> {
        match (&self.tls_cert_file, &self.tls_cert_key) {
            (Some(cert_file), Some(cert_key)) => Some(TlsFiles {
                cert_file,
                cert_key,
            }),
            _ => None,
        }
    }

    /// `false` when `piisalt` is `none`: PII is then logged in clear.
    pub fn hashes_pii(&self) -> bool {
        self.piisalt != "none"
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REDACTED: &str = "<redacted>";
        f.debug_struct("Config")
            .field("allowedhosts", &self.allowedhosts)
            .field("authdb", &self.authdb)
            .field("authdb_display", &self.authdb_display)
            .field("basedir", &self.basedir)
            .field("debugmode", &self.debugmode)
            .field("listen", &self.listen)
            .field("permissions", &self.permissions)
            .field("port", &self.port)
            .field("secret", &self.secret)
            .field(
                "piisalt",
                if self.hashes_pii() {
                    &REDACTED
                } else {
                    &"none"
                },
            )
            .field("sessionexpiry", &self.sessionexpiry)
            .field("userlocktries", &self.userlocktries)
            .field("userlocktime", &self.userlocktime)
            .field("passpolicy", &self.passpolicy)
            .field("ratelimits", &self.ratelimits)
            .field("workers", &self.workers)
            .field("emailserver", &self.emailserver)
            .field("emailport", &self.emailport)
            .field("emailuser", &self.emailuser)
            .field(
                "emailpass",
                if self.emailpass.is_empty() {
                    &""
                } else {
                    &REDACTED
                },
            )
            .field("emailsender", &self.emailsender)
            .field("mailer", &self.mailer)
            .field("emailtls", &self.emailtls)
            .field("emailcafile", &self.emailcafile)
            .field("emailtimeout", &self.emailtimeout)
            .field("emailfiledir", &self.emailfiledir)
            .field("sesregion", &self.sesregion)
            .field("sesendpoint", &self.sesendpoint)
            .field("emailbodyoverrides", &self.emailbodyoverrides)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_cert_key", &self.tls_cert_key)
            .field("breachcheck", &self.breachcheck)
            .field("breachcheckurl", &self.breachcheckurl)
            .field("redis_url", &self.redis_url.as_ref().map(|_| REDACTED))
            .field("rediscafile", &self.rediscafile)
            .field("redisprefix", &self.redisprefix)
            .field("redistimeout", &self.redistimeout)
            .field("sessionstore", &self.sessionstore)
            .field("dbacquiretimeout", &self.dbacquiretimeout)
            .field("dbstatementtimeout", &self.dbstatementtimeout)
            .field("requestttl", &self.requestttl)
            .field("http_limits", &self.http_limits)
            .field("hash_params", &self.hash_params)
            .field("logformat", &self.logformat)
            .field("config_file", &self.config_file)
            .field("envfile", &self.envfile)
            .finish()
    }
}
