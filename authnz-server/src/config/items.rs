//! The table of configuration items (spec 7.1): one row per item with its
//! key (the item name, also the TOML key), its environment variable, its
//! command-line option and its default. Every other part of the config
//! module (layers, help text tests, the `.env` written by auto-setup) walks
//! this table, so an item is added or renamed here and nowhere else.

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

/// One configuration item of spec 7.1.
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
    /// Where the default comes from.
    pub default: ItemDefault,
    /// How `--help` shows the default (same as the literal when there is one).
    pub default_display: &'static str,
}

/// Default of `allowedhosts`.
pub const DEFAULT_ALLOWEDHOSTS: &str = "localhost;127.0.0.1";
/// Default of `debugmode`.
pub const DEFAULT_DEBUGMODE: &str = "0";
/// Default of `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1";
/// Default of `port`.
pub const DEFAULT_PORT: &str = "13431";
/// Default of `sessionexpiry` (days).
pub const DEFAULT_SESSIONEXPIRY: &str = "30";
/// Default of `userlocktries`.
pub const DEFAULT_USERLOCKTRIES: &str = "10";
/// Default of `userlocktime` (seconds).
pub const DEFAULT_USERLOCKTIME: &str = "3600";
/// Default of `passpolicy` (spec 5.1).
pub const DEFAULT_PASSPOLICY: &str =
    "min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25";
/// Default of `breachcheck`: off.
pub const DEFAULT_BREACHCHECK: &str = "0";
/// Default of `breachcheckurl`: the haveibeenpwned range API (spec 5.1).
pub const DEFAULT_BREACHCHECKURL: &str = "https://api.pwnedpasswords.com/range/";
/// Default of `redisprefix`.
pub const DEFAULT_REDISPREFIX: &str = "authnz:";
/// Default of `redistimeoutms`.
pub const DEFAULT_REDISTIMEOUTMS: &str = "1000";
/// Default of `headertimeout` (seconds).
pub const DEFAULT_HEADERTIMEOUT: &str = "10";
/// Default of `bodytimeout` (seconds).
pub const DEFAULT_BODYTIMEOUT: &str = "20";
/// Default of `idletimeout` (seconds).
pub const DEFAULT_IDLETIMEOUT: &str = "60";
/// Default of `maxconnections`.
pub const DEFAULT_MAXCONNECTIONS: &str = "1024";
/// Default of `shutdowntimeout` (seconds).
pub const DEFAULT_SHUTDOWNTIMEOUT: &str = "5";
/// Default of `dbacquiretimeoutms`.
pub const DEFAULT_DBACQUIRETIMEOUTMS: &str = "2000";
/// Default of `dbstatementtimeoutms`.
pub const DEFAULT_DBSTATEMENTTIMEOUTMS: &str = "2000";
/// Default of `sessionstore`.
pub const DEFAULT_SESSIONSTORE: &str = "sql";
/// Default of `requestttl`: off.
pub const DEFAULT_REQUESTTTL: &str = "0";
/// Default of `ratelimits` (spec 4.1).
pub const DEFAULT_RATELIMITS: &str = "ipaddr:720; user:480; session:600; apikey:720; burst:150";
/// Default of `workers`.
pub const DEFAULT_WORKERS: &str = "4";
/// Default of `emailserver`.
pub const DEFAULT_EMAILSERVER: &str = "localhost";
/// Default of `emailport`.
pub const DEFAULT_EMAILPORT: &str = "25";
/// Default of `emailpass`.
pub const DEFAULT_EMAILPASS: &str = "";
/// Default of `emailsender`.
pub const DEFAULT_EMAILSENDER: &str = "Authnzerver <authnzerver@localhost>";
/// Default of `mailer`: the file outbox, so sign-up works without a mail
/// server.
pub const DEFAULT_MAILER: &str = "file";
/// Default of `emailtls`: STARTTLS required, as upstream.
pub const DEFAULT_EMAILTLS: &str = "starttls";
/// Default of `emailtimeout` (seconds).
pub const DEFAULT_EMAILTIMEOUT: &str = "10";
/// Default of `emailfiledir`: this folder in `basedir` (applied by the
/// loader, as it depends on `basedir`).
pub const DEFAULT_EMAILFILEDIR: &str = "mail-outbox";
/// Default of `emailbodyoverrides`: off.
pub const DEFAULT_EMAILBODYOVERRIDES: &str = "0";

const fn item(
    key: &'static str,
    env: &'static str,
    cli: &'static str,
    default: ItemDefault,
    default_display: &'static str,
) -> Item {
    Item {
        key,
        env,
        env_override: None,
        cli,
        default,
        default_display,
    }
}

const fn literal(
    key: &'static str,
    env: &'static str,
    cli: &'static str,
    value: &'static str,
) -> Item {
    item(key, env, cli, ItemDefault::Literal(value), value)
}

/// `allowedhosts`: host allow-list (spec 1.2).
pub const ALLOWEDHOSTS: Item = literal(
    "allowedhosts",
    "AUTHNZERVER_ALLOWEDHOSTS",
    "allowedhosts",
    DEFAULT_ALLOWEDHOSTS,
);
/// `authdb`: database URL.
pub const AUTHDB: Item = item(
    "authdb",
    "AUTHNZERVER_AUTHDB",
    "authdb",
    ItemDefault::Required,
    "none, required",
);
/// `basedir`: base directory, value of `[[basedir]]`.
pub const BASEDIR: Item = item(
    "basedir",
    "AUTHNZERVER_BASEDIR",
    "basedir",
    ItemDefault::CurrentDir,
    "the current directory",
);
/// `debugmode`: 0 or 1.
pub const DEBUGMODE: Item = literal(
    "debugmode",
    "AUTHNZERVER_DEBUGMODE",
    "debugmode",
    DEFAULT_DEBUGMODE,
);
/// `listen`: bind address.
pub const LISTEN: Item = literal("listen", "AUTHNZERVER_LISTEN", "listen", DEFAULT_LISTEN);
/// `permissions`: policy file.
pub const PERMISSIONS: Item = item(
    "permissions",
    "AUTHNZERVER_PERMISSIONS",
    "permissions",
    ItemDefault::BundledPolicy,
    "the bundled default-permissions-model.json",
);
/// `port`: TCP port; `PORT` wins over `AUTHNZERVER_PORT`.
pub const PORT: Item = Item {
    key: "port",
    env: "AUTHNZERVER_PORT",
    env_override: Some("PORT"),
    cli: "port",
    default: ItemDefault::Literal(DEFAULT_PORT),
    default_display: DEFAULT_PORT,
};
/// `secret`: Fernet key, file-readable.
pub const SECRET: Item = item(
    "secret",
    "AUTHNZERVER_SECRET",
    "secret",
    ItemDefault::Required,
    "none, required",
);
/// `piisalt`: PII salt, file-readable.
pub const PIISALT: Item = item(
    "piisalt",
    "AUTHNZERVER_PIISALT",
    "piisalt",
    ItemDefault::Required,
    "none, required",
);
/// `sessionexpiry`: days.
pub const SESSIONEXPIRY: Item = literal(
    "sessionexpiry",
    "AUTHNZERVER_SESSIONEXPIRY",
    "sessionexpiry",
    DEFAULT_SESSIONEXPIRY,
);
/// `userlocktries`: failures before the automatic lock.
pub const USERLOCKTRIES: Item = literal(
    "userlocktries",
    "AUTHNZERVER_USERLOCKTRIES",
    "userlocktries",
    DEFAULT_USERLOCKTRIES,
);
/// `userlocktime`: seconds.
pub const USERLOCKTIME: Item = literal(
    "userlocktime",
    "AUTHNZERVER_USERLOCKTIME",
    "userlocktime",
    DEFAULT_USERLOCKTIME,
);
/// `passpolicy`: password policy string.
pub const PASSPOLICY: Item = literal(
    "passpolicy",
    "AUTHNZERVER_PASSPOLICY",
    "passpolicy",
    DEFAULT_PASSPOLICY,
);
/// `ratelimits`: rate-limit string.
pub const RATELIMITS: Item = literal(
    "ratelimits",
    "AUTHNZERVER_RATELIMITS",
    "ratelimits",
    DEFAULT_RATELIMITS,
);
/// `workers`: size of the action pool.
pub const WORKERS: Item = literal("workers", "AUTHNZERVER_WORKERS", "workers", DEFAULT_WORKERS);
/// `emailserver`: SMTP host.
pub const EMAILSERVER: Item = literal(
    "emailserver",
    "AUTHNZERVER_EMAILSERVER",
    "emailserver",
    DEFAULT_EMAILSERVER,
);
/// `emailport`: SMTP port.
pub const EMAILPORT: Item = literal(
    "emailport",
    "AUTHNZERVER_EMAILPORT",
    "emailport",
    DEFAULT_EMAILPORT,
);
/// `emailuser`: SMTP login user.
pub const EMAILUSER: Item = item(
    "emailuser",
    "AUTHNZERVER_EMAILUSER",
    "emailuser",
    ItemDefault::OsUser,
    "the OS user running the server",
);
/// `emailpass`: SMTP password.
pub const EMAILPASS: Item = item(
    "emailpass",
    "AUTHNZERVER_EMAILPASS",
    "emailpass",
    ItemDefault::Literal(DEFAULT_EMAILPASS),
    "empty",
);
/// `emailsender`: From address.
pub const EMAILSENDER: Item = literal(
    "emailsender",
    "AUTHNZERVER_EMAILSENDER",
    "emailsender",
    DEFAULT_EMAILSENDER,
);
/// `mailer` (authnz only): the mail backend, `file`, `smtp` or `ses`.
pub const MAILER: Item = literal("mailer", "AUTHNZERVER_MAILER", "mailer", DEFAULT_MAILER);
/// `emailtls` (authnz only): SMTP connection security, `starttls`, `tls` or
/// `none`.
pub const EMAILTLS: Item = literal(
    "emailtls",
    "AUTHNZERVER_EMAILTLS",
    "emailtls",
    DEFAULT_EMAILTLS,
);
/// `emailcafile` (authnz only): extra root certificates (PEM) for SMTP TLS.
pub const EMAILCAFILE: Item = item(
    "emailcafile",
    "AUTHNZERVER_EMAILCAFILE",
    "emailcafile",
    ItemDefault::Unset,
    "unset",
);
/// `emailtimeout` (authnz only): seconds a mail send may take.
pub const EMAILTIMEOUT: Item = literal(
    "emailtimeout",
    "AUTHNZERVER_EMAILTIMEOUT",
    "emailtimeout",
    DEFAULT_EMAILTIMEOUT,
);
/// `emailfiledir` (authnz only): folder of the file mailer.
pub const EMAILFILEDIR: Item = item(
    "emailfiledir",
    "AUTHNZERVER_EMAILFILEDIR",
    "emailfiledir",
    ItemDefault::Unset,
    "<basedir>/mail-outbox",
);
/// `sesregion` (authnz only): AWS region of SES.
pub const SESREGION: Item = item(
    "sesregion",
    "AUTHNZERVER_SESREGION",
    "sesregion",
    ItemDefault::Unset,
    "the AWS chain's region",
);
/// `sesendpoint` (authnz only): SES endpoint URL override.
pub const SESENDPOINT: Item = item(
    "sesendpoint",
    "AUTHNZERVER_SESENDPOINT",
    "sesendpoint",
    ItemDefault::Unset,
    "the region's SES endpoint",
);
/// `emailbodyoverrides` (authnz only): 1 lets `user-sendemail-*` bodies
/// override the mail settings.
pub const EMAILBODYOVERRIDES: Item = literal(
    "emailbodyoverrides",
    "AUTHNZERVER_EMAILBODYOVERRIDES",
    "emailbodyoverrides",
    DEFAULT_EMAILBODYOVERRIDES,
);
/// `tls_cert_file`: TLS certificate (PEM).
pub const TLS_CERT_FILE: Item = item(
    "tls_cert_file",
    "AUTHNZERVER_TLSCERTFILE",
    "tlscertfile",
    ItemDefault::Unset,
    "unset",
);
/// `tls_cert_key`: TLS private key (PEM).
pub const TLS_CERT_KEY: Item = item(
    "tls_cert_key",
    "AUTHNZERVER_TLSCERTKEY",
    "tlscertkey",
    ItemDefault::Unset,
    "unset",
);

/// `breachcheck` (not upstream): run the online breach check of spec 5.1
/// step 6 (upstream always runs it; here it is off by default).
pub const BREACHCHECK: Item = literal(
    "breachcheck",
    "AUTHNZERVER_BREACHCHECK",
    "breachcheck",
    DEFAULT_BREACHCHECK,
);
/// `breachcheckurl` (not upstream): base URL of the range API; the first
/// five hex digits of the password's SHA-1 are appended.
pub const BREACHCHECKURL: Item = literal(
    "breachcheckurl",
    "AUTHNZERVER_BREACHCHECKURL",
    "breachcheckurl",
    DEFAULT_BREACHCHECKURL,
);

/// `redis_url` (not upstream): Redis for the rate limiter, the login
/// throttle, the replay guard and (with `sessionstore = redis`) sessions.
pub const REDIS_URL: Item = item(
    "redis_url",
    "AUTHNZERVER_REDIS_URL",
    "redis-url",
    ItemDefault::Unset,
    "unset: all in-process",
);
/// `rediscafile` (not upstream): root certificates (PEM) trusted for a
/// `rediss://` Redis instead of the bundled and system roots.
pub const REDISCAFILE: Item = item(
    "rediscafile",
    "AUTHNZERVER_REDISCAFILE",
    "rediscafile",
    ItemDefault::Unset,
    "unset: the bundled Mozilla roots and the system's",
);
/// `redisprefix` (not upstream): prefix of every Redis key, so deployments
/// can share one Redis.
pub const REDISPREFIX: Item = literal(
    "redisprefix",
    "AUTHNZERVER_REDISPREFIX",
    "redisprefix",
    DEFAULT_REDISPREFIX,
);
/// `redistimeoutms` (not upstream): longest a Redis command (or connecting)
/// may take, milliseconds.
pub const REDISTIMEOUTMS: Item = literal(
    "redistimeoutms",
    "AUTHNZERVER_REDISTIMEOUTMS",
    "redistimeoutms",
    DEFAULT_REDISTIMEOUTMS,
);
/// `dbacquiretimeoutms` (not upstream): longest a database operation waits
/// for a connection (also how long a refused or stalled connection takes to
/// be reported), milliseconds.
pub const DBACQUIRETIMEOUTMS: Item = literal(
    "dbacquiretimeoutms",
    "AUTHNZERVER_DBACQUIRETIMEOUTMS",
    "dbacquiretimeoutms",
    DEFAULT_DBACQUIRETIMEOUTMS,
);
/// `dbstatementtimeoutms` (not upstream): longest one database operation may
/// run once connected, milliseconds.
pub const DBSTATEMENTTIMEOUTMS: Item = literal(
    "dbstatementtimeoutms",
    "AUTHNZERVER_DBSTATEMENTTIMEOUTMS",
    "dbstatementtimeoutms",
    DEFAULT_DBSTATEMENTTIMEOUTMS,
);
/// `sessionstore` (not upstream): where sessions live, `sql` or `redis`.
pub const SESSIONSTORE: Item = literal(
    "sessionstore",
    "AUTHNZERVER_SESSIONSTORE",
    "sessionstore",
    DEFAULT_SESSIONSTORE,
);
/// `requestttl` (not upstream): replay protection, seconds; 0 is off.
pub const REQUESTTTL: Item = literal(
    "requestttl",
    "AUTHNZERVER_REQUESTTTL",
    "requestttl",
    DEFAULT_REQUESTTTL,
);

/// `headertimeout` (not upstream): seconds a client has to send a complete
/// request head (and finish a TLS handshake), from connecting or from the
/// first byte of a next request on a kept-alive connection.
pub const HEADERTIMEOUT: Item = literal(
    "headertimeout",
    "AUTHNZERVER_HEADERTIMEOUT",
    "headertimeout",
    DEFAULT_HEADERTIMEOUT,
);
/// `bodytimeout` (not upstream): seconds a client has to send a whole
/// request body after its head.
pub const BODYTIMEOUT: Item = literal(
    "bodytimeout",
    "AUTHNZERVER_BODYTIMEOUT",
    "bodytimeout",
    DEFAULT_BODYTIMEOUT,
);
/// `idletimeout` (not upstream): seconds a kept-alive connection may wait
/// for its next request.
pub const IDLETIMEOUT: Item = literal(
    "idletimeout",
    "AUTHNZERVER_IDLETIMEOUT",
    "idletimeout",
    DEFAULT_IDLETIMEOUT,
);
/// `maxconnections` (not upstream): client connections served at once;
/// further clients wait in the listen backlog.
pub const MAXCONNECTIONS: Item = literal(
    "maxconnections",
    "AUTHNZERVER_MAXCONNECTIONS",
    "maxconnections",
    DEFAULT_MAXCONNECTIONS,
);
/// `shutdowntimeout` (not upstream): seconds requests in flight may take to
/// finish after SIGTERM/SIGINT before their connections are dropped.
pub const SHUTDOWNTIMEOUT: Item = literal(
    "shutdowntimeout",
    "AUTHNZERVER_SHUTDOWNTIMEOUT",
    "shutdowntimeout",
    DEFAULT_SHUTDOWNTIMEOUT,
);

/// All items, in the order of the table in spec 7.1 (which is also the
/// order of the `.env` written by auto-setup), then the items of this
/// server that upstream does not have.
pub const ITEMS: [Item; 45] = [
    ALLOWEDHOSTS,
    AUTHDB,
    BASEDIR,
    DEBUGMODE,
    LISTEN,
    PERMISSIONS,
    PORT,
    SECRET,
    PIISALT,
    SESSIONEXPIRY,
    USERLOCKTRIES,
    USERLOCKTIME,
    PASSPOLICY,
    RATELIMITS,
    WORKERS,
    EMAILSERVER,
    EMAILPORT,
    EMAILUSER,
    EMAILPASS,
    EMAILSENDER,
    TLS_CERT_FILE,
    TLS_CERT_KEY,
    BREACHCHECK,
    BREACHCHECKURL,
    MAILER,
    EMAILTLS,
    EMAILCAFILE,
    EMAILTIMEOUT,
    EMAILFILEDIR,
    SESREGION,
    SESENDPOINT,
    EMAILBODYOVERRIDES,
    REDIS_URL,
    REDISCAFILE,
    REDISPREFIX,
    REDISTIMEOUTMS,
    SESSIONSTORE,
    REQUESTTTL,
    HEADERTIMEOUT,
    BODYTIMEOUT,
    IDLETIMEOUT,
    MAXCONNECTIONS,
    SHUTDOWNTIMEOUT,
    DBACQUIRETIMEOUTMS,
    DBSTATEMENTTIMEOUTMS,
];

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
}
