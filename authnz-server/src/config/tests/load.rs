//! `Config::load`: defaults, the precedence of every layer, `PORT`, envfile
//! discovery, file-readable secrets, key validation and error texts.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::super::{
    Config, ConfigError, DatabaseTarget, Environment, FernetKey, MailerKind, SessionStoreKind,
    SmtpSecurity,
};
use super::{KEY, base_env, cli, env};

fn load(args: &[&str], environment: &Environment) -> Result<Config, ConfigError> {
    Config::load(&cli(args), environment)
}

fn err(args: &[&str], environment: &Environment) -> String {
    load(args, environment).unwrap_err().to_string()
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn defaults_fill_every_optional_item() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(dir.path()).with("USER", "alice")).unwrap();
    assert_eq!(config.allowedhosts, vec!["localhost", "127.0.0.1"]);
    assert_eq!(config.authdb, DatabaseTarget::SqliteMemory);
    assert_eq!(config.basedir, dir.path());
    assert!(!config.debugmode);
    assert_eq!(config.listen, "127.0.0.1");
    assert_eq!(config.permissions, None);
    assert_eq!(config.port, 13431);
    assert_eq!(config.secret, FernetKey::parse(KEY).unwrap());
    assert_eq!(config.piisalt, "salt");
    assert_eq!(config.sessionexpiry, 30);
    assert_eq!(config.userlocktries, 10);
    assert_eq!(config.userlocktime, 3600);
    assert_eq!(
        config.passpolicy,
        "min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25"
    );
    assert_eq!(
        config.ratelimits,
        "ipaddr:720; user:480; session:600; apikey:720; burst:150"
    );
    assert_eq!(config.workers, 4);
    assert_eq!(config.emailserver, "localhost");
    assert_eq!(config.emailport, 25);
    assert_eq!(config.emailuser, "alice");
    assert_eq!(config.emailpass, "");
    assert_eq!(config.emailsender, "Authnzerver <authnzerver@localhost>");
    assert_eq!(config.mailer, MailerKind::File);
    assert_eq!(config.emailtls, SmtpSecurity::StartTls);
    assert_eq!(config.emailcafile, None);
    assert_eq!(config.emailtimeout, std::time::Duration::from_secs(10));
    assert_eq!(config.emailfiledir, dir.path().join("mail-outbox"));
    assert_eq!(config.sesregion, None);
    assert_eq!(config.sesendpoint, None);
    assert!(!config.emailbodyoverrides);
    assert_eq!(config.tls(), None);
    assert_eq!(config.config_file, None);
    assert_eq!(config.envfile, None);
}

#[test]
fn os_user_follows_getpass_order() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path()).with("USER", "u").with("LOGNAME", "l");
    assert_eq!(load(&[], &e).unwrap().emailuser, "l");
    let e = base_env(dir.path()).with("USERNAME", "w");
    assert_eq!(load(&[], &e).unwrap().emailuser, "w");
    assert_eq!(load(&[], &base_env(dir.path())).unwrap().emailuser, "");
}

/// `workers` set in each layer: the highest layer present wins.
#[test]
fn every_layer_beats_the_ones_below() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(dir.path(), "c.toml", "workers = 5\n");
    let envfile = write(dir.path(), "e.env", "AUTHNZERVER_WORKERS=6\n");
    let workers = |args: &[&str], e: &Environment| load(args, e).unwrap().workers;

    let plain = base_env(dir.path());
    let with_env = base_env(dir.path()).with("AUTHNZERVER_WORKERS", "7");
    assert_eq!(workers(&[], &plain), 4);
    assert_eq!(workers(&["--config", &toml], &plain), 5);
    assert_eq!(
        workers(&["--config", &toml, "--envfile", &envfile], &plain),
        6
    );
    assert_eq!(
        workers(&["--config", &toml, "--envfile", &envfile], &with_env),
        7
    );
    assert_eq!(
        workers(
            &["--config", &toml, "--envfile", &envfile, "--workers=8"],
            &with_env
        ),
        8
    );
    // Each layer on its own over the defaults.
    assert_eq!(workers(&["--envfile", &envfile], &plain), 6);
    assert_eq!(workers(&[], &with_env), 7);
    assert_eq!(workers(&["--workers", "8"], &plain), 8);
}

/// A bad value names the item and the layer it came from.
#[test]
fn errors_name_the_item_and_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(dir.path(), "c.toml", "workers = \"five\"\n");
    let envfile = write(dir.path(), "e.env", "AUTHNZERVER_WORKERS=six\n");
    let plain = base_env(dir.path());
    let prefix = "Config item: \"AUTHNZERVER_WORKERS\" is invalid: expected an integer, got";
    let cases = [
        (
            err(&["--config", &toml], &plain),
            format!("{prefix} \"five\" (from config file {toml})"),
        ),
        (
            err(&["--envfile", &envfile], &plain),
            format!("{prefix} \"six\" (from envfile {envfile})"),
        ),
        (
            err(&[], &plain.clone().with("AUTHNZERVER_WORKERS", "seven")),
            format!("{prefix} \"seven\" (from the environment)"),
        ),
        (
            err(&["--workers=eight"], &plain),
            format!("{prefix} \"eight\" (from the command line)"),
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn bad_port_message() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path());
    let message = err(&["--port=abc"], &e);
    assert!(
        message.starts_with(
            "Config item: \"AUTHNZERVER_PORT\" is invalid: expected an integer, got \"abc\""
        ),
        "{message}"
    );
    let message = err(&["--port=70000"], &e);
    assert!(
        message.contains("expected an integer from 0 to 65535, got \"70000\""),
        "{message}"
    );
    let message = err(&[], &e.clone().with("PORT", "x"));
    assert!(
        message.ends_with("(from the environment, variable PORT)"),
        "{message}"
    );
}

#[test]
fn port_variable_wins_over_authnzerver_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = |args: &[&str], e: &Environment| load(args, e).unwrap().port;
    let e = base_env(dir.path());
    assert_eq!(port(&[], &e.clone().with("AUTHNZERVER_PORT", "2000")), 2000);
    assert_eq!(port(&[], &e.clone().with("PORT", "3000")), 3000);
    let both = e
        .clone()
        .with("AUTHNZERVER_PORT", "2000")
        .with("PORT", "3000");
    assert_eq!(port(&[], &both), 3000);
    // A blank PORT does not hide AUTHNZERVER_PORT.
    let blank = e.clone().with("AUTHNZERVER_PORT", "2000").with("PORT", " ");
    assert_eq!(port(&[], &blank), 2000);
    // The command line beats both.
    assert_eq!(port(&["--port=4000"], &both), 4000);

    // Same rule inside an envfile; the environment still beats the envfile.
    let envfile = write(dir.path(), "e.env", "AUTHNZERVER_PORT=5000\nPORT=6000\n");
    assert_eq!(port(&["--envfile", &envfile], &e), 6000);
    assert_eq!(
        port(
            &["--envfile", &envfile],
            &e.clone().with("AUTHNZERVER_PORT", "2000")
        ),
        2000
    );
}

#[test]
fn blank_values_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path()).with("AUTHNZERVER_WORKERS", "  ");
    assert_eq!(load(&[], &e).unwrap().workers, 4);
    // A blank command-line value lets the environment show through.
    let e = base_env(dir.path()).with("AUTHNZERVER_WORKERS", "7");
    assert_eq!(load(&["--workers="], &e).unwrap().workers, 7);
    // A blank TOML value too.
    let toml = write(dir.path(), "c.toml", "workers = \"\"\n");
    assert_eq!(
        load(&["--config", &toml], &base_env(dir.path()))
            .unwrap()
            .workers,
        4
    );
    // A blank required item is missing.
    let e = base_env(dir.path()).with("AUTHNZERVER_AUTHDB", " \t");
    assert_eq!(
        err(&[], &e),
        "Config item: \"AUTHNZERVER_AUTHDB\" is invalid/missing, no default provided."
    );
}

#[test]
fn missing_required_items_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().to_string_lossy().into_owned();
    let full = [
        ("AUTHNZERVER_AUTHDB", "sqlite://"),
        ("AUTHNZERVER_SECRET", KEY),
        ("AUTHNZERVER_PIISALT", "salt"),
    ];
    for missing in [
        "AUTHNZERVER_AUTHDB",
        "AUTHNZERVER_SECRET",
        "AUTHNZERVER_PIISALT",
    ] {
        let pairs: Vec<(&str, &str)> = full
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .chain([("AUTHNZERVER_BASEDIR", basedir.as_str())])
            .collect();
        assert_eq!(
            err(&[], &env(&pairs)),
            format!("Config item: \"{missing}\" is invalid/missing, no default provided.")
        );
    }
}

#[test]
fn envfile_in_basedir_is_found_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().to_string_lossy().into_owned();
    write(
        dir.path(),
        ".env",
        &format!(
            "AUTHNZERVER_AUTHDB=sqlite:///x.db\nAUTHNZERVER_SECRET={KEY}\nAUTHNZERVER_PIISALT=s\nAUTHNZERVER_WORKERS=9\n"
        ),
    );
    let dotenv = dir.path().join(".env");

    // basedir from the command line, the environment or the TOML file.
    let config = load(&["--basedir", &basedir], &Environment::new()).unwrap();
    assert_eq!(config.workers, 9);
    assert_eq!(config.envfile.as_deref(), Some(dotenv.as_path()));
    let config = load(&[], &env(&[("AUTHNZERVER_BASEDIR", &basedir)])).unwrap();
    assert_eq!(config.workers, 9);
    let other = tempfile::tempdir().unwrap();
    let toml = write(other.path(), "c.toml", &format!("basedir = {basedir:?}\n"));
    let config = load(&["--config", &toml], &Environment::new()).unwrap();
    assert_eq!(config.workers, 9);
    assert_eq!(config.basedir, dir.path());

    // --envfile replaces the discovery.
    let named = write(other.path(), "named.env", "AUTHNZERVER_WORKERS=3\n");
    let e = base_env(dir.path());
    let config = load(&["--envfile", &named], &e).unwrap();
    assert_eq!(config.workers, 3);
    assert_eq!(config.envfile, Some(PathBuf::from(&named)));

    // No .env: nothing read.
    let empty = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(empty.path())).unwrap();
    assert_eq!(config.envfile, None);
}

#[test]
fn resolve_basedir_uses_every_layer_but_the_envfile() {
    let dir = tempfile::tempdir().unwrap();
    let toml = write(dir.path(), "c.toml", "basedir = \"/from/toml\"\n");
    let e = Environment::new().with("AUTHNZERVER_BASEDIR", "/from/env");
    let resolve = |args: &[&str], e: &Environment| Config::resolve_basedir(&cli(args), e).unwrap();
    assert_eq!(
        resolve(&["--config", &toml], &Environment::new()),
        Path::new("/from/toml")
    );
    assert_eq!(resolve(&["--config", &toml], &e), Path::new("/from/env"));
    assert_eq!(
        resolve(&["--basedir=/from/cli"], &e),
        Path::new("/from/cli")
    );
    assert_eq!(
        resolve(&[], &Environment::new()),
        std::env::current_dir().unwrap()
    );
}

#[test]
fn named_envfile_must_exist_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path());
    let missing = dir.path().join("nope.env");
    let message = err(&["--envfile", &missing.to_string_lossy()], &e);
    assert!(
        message.starts_with(&format!("could not read the envfile {}", missing.display())),
        "{message}"
    );
    let bad = write(dir.path(), "bad.env", "A=1\nnot an entry\n");
    assert_eq!(
        err(&["--envfile", &bad], &e),
        format!("envfile {bad}: line 2: expected KEY=VALUE or KEY: VALUE")
    );
    let percent = write(dir.path(), "p.env", "AUTHNZERVER_EMAILPASS=50%off\n");
    let message = err(&["--envfile", &percent], &e);
    assert!(
        message.contains("line 1: value of AUTHNZERVER_EMAILPASS"),
        "{message}"
    );
    assert!(!message.contains("50%off"), "{message}");
}

#[test]
fn envfile_values_keep_quotes_and_keys_ignore_case() {
    let dir = tempfile::tempdir().unwrap();
    let envfile = write(
        dir.path(),
        "e.env",
        &format!(
            "authnzerver_secret = \"{KEY}\"\nAuthnzerver_EmailSender: \"Ops\" <ops@x>\nOTHER=100%\n"
        ),
    );
    let e = base_env(dir.path());
    let config = load(
        &["--envfile", &envfile],
        &e.clone().with("AUTHNZERVER_SECRET", ""),
    )
    .unwrap();
    // The key's quotes are stripped (PROTOCOL.md 1.3); other values keep theirs.
    assert_eq!(config.secret, FernetKey::parse(KEY).unwrap());
    assert_eq!(config.emailsender, "\"Ops\" <ops@x>");
}

#[test]
fn file_readable_secret_and_salt() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    write(dir.path(), "key", &format!("{KEY}\n"));
    write(home.path(), "salt", "pepper\n\n");
    let e = base_env(dir.path())
        .with("AUTHNZERVER_SECRET", "[[basedir]]/key")
        .with("AUTHNZERVER_PIISALT", "[[homedir]]/salt")
        .with("HOME", home.path().to_string_lossy());
    let config = load(&[], &e).unwrap();
    assert_eq!(config.secret, FernetKey::parse(KEY).unwrap());
    assert_eq!(config.piisalt, "pepper");

    // A value that names no file is the value itself.
    let e = base_env(dir.path()).with("AUTHNZERVER_PIISALT", "[[basedir]]/no-such-file");
    let config = load(&[], &e).unwrap();
    assert_eq!(
        config.piisalt,
        format!("{}/no-such-file", dir.path().display())
    );

    // A bad key in a file names the item and the file, not the contents.
    write(dir.path(), "short", "c2hvcnQ=\n");
    let e = base_env(dir.path()).with("AUTHNZERVER_SECRET", "[[basedir]]/short");
    let message = err(&[], &e);
    assert!(
        message
            .starts_with("Config item: \"AUTHNZERVER_SECRET\" is invalid: expected a Fernet key"),
        "{message}"
    );
    assert!(message.contains("decodes to 5 bytes"), "{message}");
    assert!(
        message.contains(&format!("file {}/short", dir.path().display())),
        "{message}"
    );

    // An empty salt file is refused.
    write(dir.path(), "empty", "\n");
    let e = base_env(dir.path()).with("AUTHNZERVER_PIISALT", "[[basedir]]/empty");
    assert!(
        err(&[], &e)
            .starts_with("Config item: \"AUTHNZERVER_PIISALT\" is invalid: the salt is empty")
    );
}

#[test]
fn key_validation() {
    let dir = tempfile::tempdir().unwrap();
    let key_of = |text: &str| {
        load(&[], &base_env(dir.path()).with("AUTHNZERVER_SECRET", text)).map(|c| c.secret)
    };
    let want = FernetKey::parse(KEY).unwrap();
    assert_eq!(key_of(KEY).unwrap(), want);
    let standard = KEY.replace('-', "+").replace('_', "/");
    assert_eq!(key_of(&standard).unwrap(), want);
    assert_eq!(key_of(&format!("\"{KEY}\"")).unwrap(), want);
    assert_eq!(key_of(&format!("  {KEY}  ")).unwrap(), want);

    let short = base64::engine::general_purpose::URL_SAFE.encode([1u8; 31]);
    let message = key_of(&short).unwrap_err().to_string();
    assert!(
        message.starts_with("Config item: \"AUTHNZERVER_SECRET\" is invalid:"),
        "{message}"
    );
    assert!(message.contains("decodes to 31 bytes"), "{message}");
    assert!(!message.contains(&short), "{message}");
    assert!(key_of(KEY.trim_end_matches('=')).is_err());
}

#[test]
fn tls_needs_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "cert.pem", "c");
    let key = write(dir.path(), "key.pem", "k");
    let e = base_env(dir.path());
    assert_eq!(
        err(&["--tlscertfile", &cert], &e),
        "Config item: \"AUTHNZERVER_TLSCERTKEY\" is invalid: TLS needs both AUTHNZERVER_TLSCERTFILE and AUTHNZERVER_TLSCERTKEY, but only AUTHNZERVER_TLSCERTFILE is set (from the command line)"
    );
    let message = err(&[], &e.clone().with("AUTHNZERVER_TLSCERTKEY", &key));
    assert!(
        message.starts_with("Config item: \"AUTHNZERVER_TLSCERTFILE\" is invalid: TLS needs both"),
        "{message}"
    );
    let config = load(&["--tlscertfile", &cert, "--tlscertkey", &key], &e).unwrap();
    let tls = config.tls().unwrap();
    assert_eq!(tls.cert_file, Path::new(&cert));
    assert_eq!(tls.cert_key, Path::new(&key));
    let message = err(
        &["--tlscertfile", &cert, "--tlscertkey", "/no/such.pem"],
        &e,
    );
    assert!(
        message.contains("\"AUTHNZERVER_TLSCERTKEY\" is invalid: no such file"),
        "{message}"
    );
}

#[test]
fn other_item_validation() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path());
    let policy = write(dir.path(), "policy.json", "{}");
    assert_eq!(
        load(&["--permissions", &policy], &e).unwrap().permissions,
        Some(PathBuf::from(&policy))
    );
    let cases: [(&[&str], &str); 11] = [
        (
            &["--permissions=/no/such.json"],
            "AUTHNZERVER_PERMISSIONS\" is invalid: no such file",
        ),
        (
            &["--debugmode=2"],
            "AUTHNZERVER_DEBUGMODE\" is invalid: expected 0 or 1",
        ),
        (&["--listen=not a host"], "AUTHNZERVER_LISTEN\" is invalid"),
        (
            &["--workers=0"],
            "AUTHNZERVER_WORKERS\" is invalid: expected an integer from 1 to 1024",
        ),
        (
            &["--userlocktries=0"],
            "AUTHNZERVER_USERLOCKTRIES\" is invalid",
        ),
        (
            &["--userlocktime=-1"],
            "AUTHNZERVER_USERLOCKTIME\" is invalid",
        ),
        (
            &["--sessionexpiry=-1"],
            "AUTHNZERVER_SESSIONEXPIRY\" is invalid",
        ),
        (&["--emailport=0"], "AUTHNZERVER_EMAILPORT\" is invalid"),
        (
            &["--allowedhosts=;;"],
            "AUTHNZERVER_ALLOWEDHOSTS\" is invalid",
        ),
        (
            &["--authdb=oracle://h/db"],
            "AUTHNZERVER_AUTHDB\" is invalid: unsupported database scheme",
        ),
        (
            &["--authdb=sqlite:///x.db?mode=ro"],
            "AUTHNZERVER_AUTHDB\" is invalid: query parameters",
        ),
    ];
    for (args, want) in cases {
        let message = err(args, &e);
        assert!(message.contains(want), "{args:?}: {message}");
    }
    let config = load(
        &[
            "--debugmode=1",
            "--listen=[::1]",
            "--allowedhosts= a.example ;b.example;",
            "--sessionexpiry=0",
        ],
        &e,
    )
    .unwrap();
    assert!(config.debugmode);
    assert_eq!(config.listen, "::1");
    assert_eq!(config.allowedhosts, vec!["a.example", "b.example"]);
    assert_eq!(config.sessionexpiry, 0);
}

#[test]
fn authdb_url_forms_through_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path());
    let authdb = |url: &str| load(&[&format!("--authdb={url}")], &e).unwrap().authdb;
    assert_eq!(
        authdb("sqlite:////abs/a.db").sqlite_path(),
        Some(Path::new("/abs/a.db"))
    );
    assert_eq!(authdb("sqlite:rel.db").sqlx_url(), "sqlite://rel.db");
    assert_eq!(
        authdb("postgresql+psycopg2://u:p@h/db").sqlx_url(),
        "postgres://u:p@h/db"
    );
    assert_eq!(
        authdb("mysql+pymysql://u:p@h/db").sqlx_url(),
        "mysql://u:p@h/db"
    );
}

#[test]
fn toml_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path());
    let toml = write(
        dir.path(),
        "c.toml",
        "port = 1234\ndebugmode = true\nallowedhosts = [\"a.example\", \"b.example\"]\nemailsender = \"Ops <ops@x>\"\ntls_cert_file = \"\"\n",
    );
    let config = load(&["--config", &toml], &e).unwrap();
    assert_eq!(config.port, 1234);
    assert!(config.debugmode);
    assert_eq!(config.allowedhosts, vec!["a.example", "b.example"]);
    assert_eq!(config.emailsender, "Ops <ops@x>");
    assert_eq!(config.config_file, Some(PathBuf::from(&toml)));

    let typo = write(dir.path(), "typo.toml", "prot = 1\n");
    let message = err(&["--config", &typo], &e);
    assert!(
        message.starts_with(&format!("config file {typo}: unknown key \"prot\"")),
        "{message}"
    );
    let table = write(dir.path(), "table.toml", "[port]\nx = 1\n");
    let message = err(&["--config", &table], &e);
    assert!(
        message.starts_with(
            "Config item: \"AUTHNZERVER_PORT\" is invalid: expected a string or a number"
        ),
        "{message}"
    );
    let float = write(dir.path(), "float.toml", "workers = 1.5\n");
    assert!(err(&["--config", &float], &e).contains("expected an integer, got \"1.5\""));
    let broken = write(dir.path(), "broken.toml", "port = \n");
    assert!(err(&["--config", &broken], &e).starts_with(&format!("config file {broken}:")));
    let missing = dir.path().join("missing.toml");
    assert!(
        err(&["--config", &missing.to_string_lossy()], &e)
            .starts_with("could not read the config file")
    );
}

#[test]
fn example_config_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let example = write(
        dir.path(),
        "example.toml",
        include_str!("../../../authnz.example.toml"),
    );
    let e = base_env(dir.path());
    let config = load(&["--config", &example], &e).unwrap();
    assert_eq!(config.port, 13431);
}

#[test]
fn debug_output_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let e = base_env(dir.path())
        .with("AUTHNZERVER_AUTHDB", "postgresql://u:dbpass@h/db")
        .with("AUTHNZERVER_PIISALT", "saltysalt")
        .with("AUTHNZERVER_EMAILPASS", "hunter2smtp");
    let config = load(&[], &e).unwrap();
    let debug = format!("{config:?}");
    for secret in [KEY, "dbpass", "saltysalt", "hunter2smtp"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("postgres://u:***@h/db"), "{debug}");
}

#[test]
fn environment_from_string_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(String, String)> = base_env(dir.path())
        .with("PORT", "1")
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let config = Config::load(&cli(&[]), &Environment::from(pairs.as_slice())).unwrap();
    assert_eq!(config.port, 1);
}

#[test]
fn mail_items() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let e = base_env(dir.path())
        .with("AUTHNZERVER_MAILER", "SMTP")
        .with("AUTHNZERVER_EMAILTLS", "tls")
        .with("AUTHNZERVER_EMAILCAFILE", &ca)
        .with("AUTHNZERVER_EMAILTIMEOUT", "3")
        .with("AUTHNZERVER_EMAILFILEDIR", "/var/mail/authnz")
        .with("AUTHNZERVER_SESREGION", "eu-west-1")
        .with("AUTHNZERVER_SESENDPOINT", "http://127.0.0.1:5000")
        .with("AUTHNZERVER_EMAILBODYOVERRIDES", "1");
    let config = load(&["--emailtls=none", "--emailfiledir=outbox"], &e).unwrap();
    assert_eq!(config.mailer, MailerKind::Smtp);
    assert_eq!(config.emailtls, SmtpSecurity::None);
    assert_eq!(config.emailcafile.as_deref(), Some(Path::new(&ca)));
    assert_eq!(config.emailtimeout, std::time::Duration::from_secs(3));
    assert_eq!(config.emailfiledir, dir.path().join("outbox"));
    assert_eq!(config.sesregion.as_deref(), Some("eu-west-1"));
    assert_eq!(config.sesendpoint.as_deref(), Some("http://127.0.0.1:5000"));
    assert!(config.emailbodyoverrides);
    let config = load(&[], &e).unwrap();
    assert_eq!(config.emailfiledir, PathBuf::from("/var/mail/authnz"));

    for (var, value, reason) in [
        (
            "AUTHNZERVER_MAILER",
            "carrier-pigeon",
            "expected file, smtp or ses",
        ),
        (
            "AUTHNZERVER_EMAILTLS",
            "ssl",
            "expected starttls, tls or none",
        ),
        (
            "AUTHNZERVER_EMAILTIMEOUT",
            "0",
            "expected an integer from 1 to 600",
        ),
        ("AUTHNZERVER_EMAILCAFILE", "/no/such/ca.pem", "no such file"),
        (
            "AUTHNZERVER_SESENDPOINT",
            "127.0.0.1:5000",
            "expected an http:// or https:// URL",
        ),
        ("AUTHNZERVER_EMAILBODYOVERRIDES", "yes", "expected 0 or 1"),
    ] {
        let message = err(&[], &base_env(dir.path()).with(var, value));
        assert!(
            message.starts_with(&format!("Config item: \"{var}\" is invalid: {reason}")),
            "{message}"
        );
    }
}

/// A mailer that was not compiled in stops start-up with a clear error.
#[cfg(all(feature = "file", feature = "smtp", not(feature = "ses")))]
#[test]
fn mailer_not_compiled_in() {
    let dir = tempfile::tempdir().unwrap();
    let message = err(&["--mailer=ses"], &base_env(dir.path()));
    assert!(
        message.starts_with(
            "Config item: \"AUTHNZERVER_MAILER\" is invalid: the ses mailer is not compiled into this authnzrv (built with: file, smtp); rebuild with `cargo build --features ses`"
        ),
        "{message}"
    );
    assert!(message.ends_with("(from the command line)"), "{message}");
}

#[test]
fn session_cache_items() {
    use crate::config::items::{SESSIONCACHE, SESSIONCACHEMAXAGEMS};
    let dir = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(dir.path())).unwrap();
    assert_eq!(config.values.flag(&SESSIONCACHE), Some(true));
    assert_eq!(
        config.values.duration(&SESSIONCACHEMAXAGEMS),
        Some(std::time::Duration::from_millis(2000))
    );
    let e = base_env(dir.path())
        .with("AUTHNZERVER_SESSIONCACHE", "0")
        .with("AUTHNZERVER_SESSIONCACHEMAXAGEMS", "500");
    let config = load(&[], &e).unwrap();
    assert_eq!(config.values.flag(&SESSIONCACHE), Some(false));
    assert_eq!(
        config.values.duration(&SESSIONCACHEMAXAGEMS),
        Some(std::time::Duration::from_millis(500))
    );
    let e = base_env(dir.path()).with("AUTHNZERVER_SESSIONCACHEMAXAGEMS", "5");
    assert!(load(&[], &e).is_err(), "below the 10 ms minimum");
}

#[test]
fn scale_out_items() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(dir.path())).unwrap();
    assert_eq!(config.redis_url, None);
    assert_eq!(config.redisprefix, "authnz:");
    assert_eq!(config.redistimeout, std::time::Duration::from_millis(1000));
    assert_eq!(config.sessionstore, SessionStoreKind::Sql);
    assert_eq!(config.requestttl, None);
    // The URL may hold a password: never in Debug output.
    let e = base_env(dir.path())
        .with("AUTHNZERVER_REDIS_URL", "redis://:hunter2@cache:6379/0")
        .with("AUTHNZERVER_SESSIONSTORE", "Redis")
        .with("AUTHNZERVER_REQUESTTTL", "30");
    let config = load(&["--redisprefix=x:", "--redistimeoutms=250"], &e).unwrap();
    assert_eq!(
        config.redis_url.as_deref(),
        Some("redis://:hunter2@cache:6379/0")
    );
    assert_eq!(config.redisprefix, "x:");
    assert_eq!(config.redistimeout, std::time::Duration::from_millis(250));
    assert_eq!(config.sessionstore, SessionStoreKind::Redis);
    assert_eq!(config.requestttl, Some(std::time::Duration::from_secs(30)));
    assert!(!format!("{config:?}").contains("hunter2"));
    let ca = write(dir.path(), "redis-ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let e = base_env(dir.path())
        .with("AUTHNZERVER_REDIS_URL", "rediss://cache:6380")
        .with("AUTHNZERVER_REDISCAFILE", &ca);
    let config = load(&[], &e).unwrap();
    assert_eq!(config.redis_url.as_deref(), Some("rediss://cache:6380"));
    assert_eq!(config.rediscafile.as_deref(), Some(Path::new(&ca)));

    for (env, value, var, reason) in [
        (
            "AUTHNZERVER_REDIS_URL",
            "http://cache",
            "AUTHNZERVER_REDIS_URL",
            "not a redis://, rediss:// or unix:// URL",
        ),
        (
            "AUTHNZERVER_REDISCAFILE",
            "/no/such/ca.pem",
            "AUTHNZERVER_REDISCAFILE",
            "no such file",
        ),
        (
            "AUTHNZERVER_SESSIONSTORE",
            "memcached",
            "AUTHNZERVER_SESSIONSTORE",
            "expected sql or redis",
        ),
        (
            "AUTHNZERVER_SESSIONSTORE",
            "redis",
            "AUTHNZERVER_SESSIONSTORE",
            "sessions in Redis need AUTHNZERVER_REDIS_URL",
        ),
        (
            "AUTHNZERVER_REQUESTTTL",
            "-1",
            "AUTHNZERVER_REQUESTTTL",
            "expected an integer from 0 to 86400",
        ),
        (
            "AUTHNZERVER_REDISTIMEOUTMS",
            "5",
            "AUTHNZERVER_REDISTIMEOUTMS",
            "expected an integer from 10 to 60000",
        ),
    ] {
        let message = err(&[], &base_env(dir.path()).with(env, value));
        assert!(
            message.starts_with(&format!("Config item: \"{var}\" is invalid: {reason}")),
            "{message}"
        );
    }
}

#[test]
fn http_limit_items() {
    use crate::serving::HttpLimits;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(dir.path())).unwrap();
    // The item defaults are the serving defaults.
    assert_eq!(config.http_limits, HttpLimits::default());
    assert_eq!(
        config.http_limits,
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(5),
        }
    );
    let e = base_env(dir.path())
        .with("AUTHNZERVER_HEADERTIMEOUT", "3")
        .with("AUTHNZERVER_MAXCONNECTIONS", "50")
        .with("AUTHNZERVER_SHUTDOWNTIMEOUT", "0");
    let config = load(&["--bodytimeout=7", "--idletimeout=120"], &e).unwrap();
    assert_eq!(
        config.http_limits,
        HttpLimits {
            header_timeout: Duration::from_secs(3),
            body_timeout: Duration::from_secs(7),
            idle_timeout: Duration::from_secs(120),
            max_connections: 50,
            shutdown_timeout: Duration::ZERO,
        }
    );
    for (env, value, reason) in [
        (
            "AUTHNZERVER_HEADERTIMEOUT",
            "0",
            "expected an integer from 1 to 3600",
        ),
        (
            "AUTHNZERVER_BODYTIMEOUT",
            "3601",
            "expected an integer from 1 to 3600",
        ),
        (
            "AUTHNZERVER_IDLETIMEOUT",
            "0",
            "expected an integer from 1 to 86400",
        ),
        (
            "AUTHNZERVER_MAXCONNECTIONS",
            "0",
            "expected an integer from 1 to 1000000",
        ),
        (
            "AUTHNZERVER_SHUTDOWNTIMEOUT",
            "-1",
            "expected an integer from 0 to 3600",
        ),
    ] {
        let message = err(&[], &base_env(dir.path()).with(env, value));
        assert!(
            message.starts_with(&format!("Config item: \"{env}\" is invalid: {reason}")),
            "{message}"
        );
    }
}

#[test]
fn database_timeouts() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let config = load(&[], &base_env(dir.path())).unwrap();
    assert_eq!(config.dbacquiretimeout, Duration::from_millis(2000));
    assert_eq!(config.dbstatementtimeout, Duration::from_millis(2000));
    // Together under the 5 s after which the original's client gives up.
    assert!(config.dbacquiretimeout + config.dbstatementtimeout < Duration::from_secs(5));
    let e = base_env(dir.path()).with("AUTHNZERVER_DBSTATEMENTTIMEOUTMS", "750");
    let config = load(&["--dbacquiretimeoutms=500"], &e).unwrap();
    assert_eq!(config.dbacquiretimeout, Duration::from_millis(500));
    assert_eq!(config.dbstatementtimeout, Duration::from_millis(750));
    assert!(load(&["--dbacquiretimeoutms=0"], &base_env(dir.path())).is_err());
    assert!(load(&["--dbstatementtimeoutms=x"], &base_env(dir.path())).is_err());
}
