//! Auto-setup's file half: files, modes and contents, no overwriting of
//! secrets, the prompts, and a `.env` that loads back into a valid config
//! with nothing but `--basedir`.

use std::fs;
use std::path::Path;

use super::super::envfile::Envfile;
use super::super::{
    ADMIN_CREDENTIALS_FILE, AutosetupError, AutosetupPlan, AutosetupSeed, Config,
    DEFAULT_POLICY_JSON, DatabaseTarget, Environment, FernetKey, ITEMS, POLICY_FILE, SALT_FILE,
    SECRET_KEY_FILE, ScriptedPrompter, USER_GENERATED_PASSWORD_MARKER, prepare_basedir_with,
    write_admin_credentials, write_admin_credentials_at,
};
use super::{KEY, cli, mode};

fn seed() -> AutosetupSeed {
    AutosetupSeed {
        os_user: Some("alice".to_owned()),
        ..AutosetupSeed::default()
    }
}

fn prepare(basedir: &Path, seed: &AutosetupSeed) -> Result<AutosetupPlan, AutosetupError> {
    prepare_basedir_with(basedir, seed, false, &mut ScriptedPrompter::default())
}

#[test]
fn non_interactive_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("new/base");
    let plan = prepare(&basedir, &seed()).unwrap();

    assert_eq!(plan.basedir, basedir);
    assert!(plan.secret_key_created && plan.salt_created);
    assert_eq!(plan.env_backup, None);
    assert_eq!(plan.admin_email, "alice@localhost");
    assert_eq!(plan.admin_password, None);
    assert!(plan.authdb_is_default_sqlite);
    assert_eq!(
        plan.authdb,
        DatabaseTarget::SqliteFile {
            path: basedir.join(".authdb.sqlite")
        }
    );
    assert_eq!(
        plan.authdb_url,
        format!("sqlite:///{}/.authdb.sqlite", basedir.display())
    );
    assert_eq!(plan.permissions, basedir.join(POLICY_FILE));

    for (name, file_mode) in [(SECRET_KEY_FILE, 0o400), (SALT_FILE, 0o400)] {
        let path = basedir.join(name);
        assert_eq!(mode(&path), file_mode, "{name}");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 44, "{name}");
        assert!(!text.ends_with('\n'));
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
        );
        FernetKey::parse(&text).unwrap();
    }
    assert_ne!(
        fs::read(basedir.join(SECRET_KEY_FILE)).unwrap(),
        fs::read(basedir.join(SALT_FILE)).unwrap()
    );
    assert_eq!(mode(&plan.env_path), 0o600);
    assert_eq!(mode(&basedir), 0o700);
    assert_eq!(
        fs::read_to_string(basedir.join(POLICY_FILE)).unwrap(),
        DEFAULT_POLICY_JSON
    );
    // No credentials yet: that is written after the database is set up.
    assert!(!basedir.join(ADMIN_CREDENTIALS_FILE).exists());
}

#[test]
fn env_file_has_every_item_in_table_order() {
    let dir = tempfile::tempdir().unwrap();
    let plan = prepare(dir.path(), &seed()).unwrap();
    let text = fs::read_to_string(&plan.env_path).unwrap();
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_once('=').unwrap())
        .collect();
    let mut want_keys = Vec::new();
    for item in ITEMS {
        if let Some(var) = item.env_override {
            want_keys.push(var);
        }
        want_keys.push(item.env);
    }
    let keys: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, want_keys);

    let base = dir.path().display().to_string();
    let value = |key: &str| lines.iter().find(|(k, _)| *k == key).unwrap().1.to_owned();
    assert_eq!(
        value("AUTHNZERVER_AUTHDB"),
        format!("sqlite:///{base}/.authdb.sqlite")
    );
    assert_eq!(value("AUTHNZERVER_BASEDIR"), base);
    assert_eq!(
        value("AUTHNZERVER_SECRET"),
        format!("{base}/.authnzerver-secret-key")
    );
    assert_eq!(
        value("AUTHNZERVER_PIISALT"),
        format!("{base}/.authnzerver-salt")
    );
    assert_eq!(
        value("AUTHNZERVER_PERMISSIONS"),
        format!("{base}/default-permissions-model.json")
    );
    assert_eq!(value("PORT"), "13431");
    assert_eq!(value("AUTHNZERVER_PORT"), "13431");
    assert_eq!(value("AUTHNZERVER_EMAILUSER"), "alice");
    assert_eq!(value("AUTHNZERVER_EMAILPASS"), "");
    assert_eq!(value("AUTHNZERVER_TLSCERTFILE"), "");
    assert_eq!(
        value("AUTHNZERVER_EMAILSENDER"),
        "Authnzerver <authnzerver@localhost>"
    );
}

#[test]
fn generated_env_loads_back_with_only_basedir() {
    let dir = tempfile::tempdir().unwrap();
    let plan = prepare(dir.path(), &seed()).unwrap();
    let basedir = dir.path().to_string_lossy().into_owned();

    for config in [
        Config::load(&cli(&["--basedir", &basedir]), &Environment::new()).unwrap(),
        Config::load(
            &cli(&[]),
            &Environment::new().with("AUTHNZERVER_BASEDIR", basedir.as_str()),
        )
        .unwrap(),
    ] {
        assert_eq!(config.authdb, plan.authdb);
        assert_eq!(config.basedir, dir.path());
        assert_eq!(config.envfile.as_deref(), Some(plan.env_path.as_path()));
        assert_eq!(
            config.permissions.as_deref(),
            Some(plan.permissions.as_path())
        );
        let key = fs::read_to_string(&plan.secret_key_path).unwrap();
        assert_eq!(config.secret, FernetKey::parse(&key).unwrap());
        assert_eq!(config.piisalt, fs::read_to_string(&plan.salt_path).unwrap());
        assert_eq!(config.port, 13431);
        assert_eq!(config.workers, 4);
        assert_eq!(config.emailuser, "alice");
        assert_eq!(config.tls(), None);
    }
}

/// The database URL start-up logs is the one `.env` holds (before, the log
/// showed the sqlx form `sqlite:///abs/...` while `.env` has SQLAlchemy's
/// `sqlite:////abs/...`), and a password in a server URL is never shown.
#[test]
fn logged_database_url_has_the_env_form() {
    let dir = tempfile::tempdir().unwrap();
    let plan = prepare(dir.path(), &seed()).unwrap();
    let text = fs::read_to_string(&plan.env_path).unwrap();
    let in_env = text
        .lines()
        .find_map(|l| l.strip_prefix("AUTHNZERVER_AUTHDB="))
        .unwrap();
    let basedir = dir.path().to_string_lossy().into_owned();
    let config = Config::load(&cli(&["--basedir", &basedir]), &Environment::new()).unwrap();
    assert_eq!(config.authdb_display, in_env);
    assert!(config.authdb_display.starts_with("sqlite:////"));

    for (url, shown) in [
        (
            "postgresql://alice:hunter2@db.internal:5432/auth",
            "postgresql://alice:***@db.internal:5432/auth",
        ),
        (
            "mysql+pymysql://bob:p%40ss@db/auth?ssl=1",
            "mysql+pymysql://bob:***@db/auth?ssl=1",
        ),
        ("postgresql://carol@db/auth", "postgresql://carol@db/auth"),
    ] {
        let config = Config::load(
            &cli(&["--basedir", &basedir, "--authdb", url]),
            &Environment::new(),
        )
        .unwrap();
        assert_eq!(config.authdb_display, shown);
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

#[test]
fn percent_and_spaces_in_basedir_survive_the_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("100% sure");
    let plan = prepare(&basedir, &seed()).unwrap();
    let text = fs::read_to_string(&plan.env_path).unwrap();
    assert!(text.contains("100%% sure"));
    let config = Config::load(
        &cli(&[&format!("--basedir={}", basedir.display())]),
        &Environment::new(),
    )
    .unwrap();
    assert_eq!(config.basedir, basedir);
    assert_eq!(config.authdb, plan.authdb);
    assert_eq!(
        plan.start_command(),
        format!("authnzrv --basedir='{}'", basedir.display())
    );
}

#[test]
fn existing_secrets_are_kept_and_the_policy_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(SECRET_KEY_FILE), KEY).unwrap();
    fs::write(dir.path().join(SALT_FILE), "old salt\n").unwrap();
    fs::write(dir.path().join(POLICY_FILE), "stale").unwrap();
    let plan = prepare(dir.path(), &seed()).unwrap();
    assert!(!plan.secret_key_created && !plan.salt_created);
    assert_eq!(
        fs::read_to_string(dir.path().join(SECRET_KEY_FILE)).unwrap(),
        KEY
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(SALT_FILE)).unwrap(),
        "old salt\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(POLICY_FILE)).unwrap(),
        DEFAULT_POLICY_JSON
    );

    // A second run changes nothing and needs no .env backup.
    let key_before = fs::read(&plan.secret_key_path).unwrap();
    let again = prepare(dir.path(), &seed()).unwrap();
    assert_eq!(again.env_backup, None);
    assert_eq!(fs::read(&plan.secret_key_path).unwrap(), key_before);
}

#[test]
fn unusable_existing_secret_stops_autosetup() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(SECRET_KEY_FILE), "not a key").unwrap();
    let err = prepare(dir.path(), &seed()).unwrap_err();
    assert!(matches!(err, AutosetupError::Existing { .. }), "{err}");
    assert!(!dir.path().join(".env").exists());

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(SALT_FILE), "\n").unwrap();
    let err = prepare(dir.path(), &seed()).unwrap_err();
    assert!(err.to_string().contains("the file is empty"), "{err}");
}

#[test]
fn a_changed_env_file_is_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let plan = prepare(dir.path(), &seed()).unwrap();
    fs::write(&plan.env_path, "AUTHNZERVER_WORKERS=9\n").unwrap();
    let again = prepare(dir.path(), &seed()).unwrap();
    let backup = again.env_backup.unwrap();
    assert!(
        backup
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".env.backup-")
    );
    assert_eq!(
        fs::read_to_string(backup).unwrap(),
        "AUTHNZERVER_WORKERS=9\n"
    );
    assert_ne!(
        fs::read_to_string(&plan.env_path).unwrap(),
        "AUTHNZERVER_WORKERS=9\n"
    );
}

#[test]
fn seed_values_are_used_without_prompting() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("my-policy.json");
    fs::write(&policy, "{}").unwrap();
    let seed = AutosetupSeed {
        authdb: Some("postgresql+psycopg2://u:pw@db/auth".to_owned()),
        permissions: Some(policy.clone()),
        admin_email: Some("root@example.org".to_owned()),
        admin_password: Some("chosen password".to_owned()),
        os_user: None,
    };
    let basedir = dir.path().join("b");
    let mut prompter = ScriptedPrompter::new(["ignored"]);
    let plan = prepare_basedir_with(&basedir, &seed, false, &mut prompter).unwrap();
    assert!(prompter.transcript.is_empty());
    assert_eq!(plan.authdb.backend(), authnz_store_sql::Dialect::Postgres);
    assert_eq!(plan.authdb_url, "postgresql+psycopg2://u:pw@db/auth");
    assert!(!plan.authdb_is_default_sqlite);
    assert_eq!(plan.permissions, policy);
    assert_eq!(plan.admin_email, "root@example.org");
    assert_eq!(plan.admin_password.as_deref(), Some("chosen password"));
    assert_eq!(
        plan.credentials_password("generated"),
        USER_GENERATED_PASSWORD_MARKER
    );
    assert!(!format!("{plan:?}").contains("chosen password"));
    assert!(!format!("{seed:?}").contains("pw@"));

    let env = Envfile::read(&plan.env_path).unwrap();
    assert_eq!(
        env.get("AUTHNZERVER_AUTHDB").unwrap().as_deref(),
        Some("postgresql+psycopg2://u:pw@db/auth")
    );
    assert_eq!(
        env.get("AUTHNZERVER_PERMISSIONS").unwrap(),
        Some(policy.display().to_string())
    );
    // The bundled copy is written all the same.
    assert!(basedir.join(POLICY_FILE).is_file());
}

#[test]
fn unknown_os_user_gives_the_fallback_email() {
    let dir = tempfile::tempdir().unwrap();
    let plan = prepare(dir.path(), &AutosetupSeed::default()).unwrap();
    assert_eq!(plan.admin_email, "serveradmin@localhost");
    assert_eq!(plan.credentials_password("generated"), "generated");
}

#[test]
fn invalid_seed_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let seed = AutosetupSeed {
        authdb: Some("oracle://x".to_owned()),
        ..seed()
    };
    let err = prepare(dir.path(), &seed).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("auto-setup: the database URL is invalid"),
        "{err}"
    );
    // Nothing was written.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn interactive_prompts_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    fs::write(&policy, "{}").unwrap();
    let mut prompter = ScriptedPrompter::new([
        "oracle://nope".to_owned(),
        "mysql+pymysql://u:p@h/db".to_owned(),
        "/no/such/policy.json".to_owned(),
        policy.display().to_string(),
        "has space@x".to_owned(),
        "admin@example.org".to_owned(),
        "s3cret-password".to_owned(),
    ]);
    let plan = prepare_basedir_with(&dir.path().join("b"), &seed(), true, &mut prompter).unwrap();
    assert_eq!(plan.authdb.sqlx_url(), "mysql://u:p@h/db");
    assert_eq!(plan.permissions, policy);
    assert_eq!(plan.admin_email, "admin@example.org");
    assert_eq!(plan.admin_password.as_deref(), Some("s3cret-password"));

    let questions: Vec<&String> = prompter
        .transcript
        .iter()
        .filter(|line| line.ends_with(": "))
        .collect();
    let starts = [
        "Database URL",
        "Database URL",
        "Permissions policy JSON file",
        "Permissions policy JSON file",
        "Admin e-mail address [default: alice@localhost]",
        "Admin e-mail address",
        "Admin password [default: randomly generated]",
    ];
    assert_eq!(questions.len(), starts.len(), "{:?}", prompter.transcript);
    for (question, start) in questions.iter().zip(starts) {
        assert!(question.starts_with(start), "{question}");
    }
    assert!(
        prompter
            .transcript
            .iter()
            .any(|line| line.starts_with("That is not usable: unsupported database scheme"))
    );
}

#[test]
fn interactive_empty_answers_take_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut prompter = ScriptedPrompter::default();
    let plan = prepare_basedir_with(dir.path(), &seed(), true, &mut prompter).unwrap();
    assert!(plan.authdb_is_default_sqlite);
    assert_eq!(plan.permissions, dir.path().join(POLICY_FILE));
    assert_eq!(plan.admin_email, "alice@localhost");
    assert_eq!(plan.admin_password, None);
}

#[test]
fn interactive_gives_up_after_three_bad_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut prompter = ScriptedPrompter::new(["x://", "y://", "z://", "sqlite://"]);
    let err = prepare_basedir_with(dir.path(), &seed(), true, &mut prompter).unwrap_err();
    assert!(
        err.to_string().contains("the database URL is invalid"),
        "{err}"
    );
}

#[test]
fn admin_credentials_file_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let first = write_admin_credentials(dir.path(), "admin@localhost", "pw-1").unwrap();
    assert_eq!(first, dir.path().join(ADMIN_CREDENTIALS_FILE));
    assert_eq!(
        fs::read_to_string(&first).unwrap(),
        "admin@localhost pw-1\n"
    );
    assert_eq!(mode(&first), 0o400);

    let second = write_admin_credentials_at(dir.path(), "a@x", "pw-2", 1_700_000_000).unwrap();
    assert_eq!(
        second,
        dir.path()
            .join(format!("{ADMIN_CREDENTIALS_FILE}-1700000000"))
    );
    assert_eq!(fs::read_to_string(&second).unwrap(), "a@x pw-2\n");
    assert_eq!(mode(&second), 0o400);
    let third = write_admin_credentials_at(
        dir.path(),
        "a@x",
        USER_GENERATED_PASSWORD_MARKER,
        1_700_000_000,
    )
    .unwrap();
    assert_eq!(
        third,
        dir.path()
            .join(format!("{ADMIN_CREDENTIALS_FILE}-1700000000-2"))
    );
    assert_eq!(
        fs::read_to_string(&third).unwrap(),
        "a@x password-was-user-generated\n"
    );
    assert_eq!(
        fs::read_to_string(&first).unwrap(),
        "admin@localhost pw-1\n"
    );

    assert!(write_admin_credentials(dir.path(), "a b@x", "pw").is_err());
    assert!(write_admin_credentials(dir.path(), "a@x", "p\nw").is_err());
}

#[test]
fn bundled_policy_is_the_data_file() {
    assert!(DEFAULT_POLICY_JSON.contains("\"roles\""));
    assert!(DEFAULT_POLICY_JSON.contains("\"superuser\""));
}

/// `getpass.getuser()` falls back to the password-file entry when no login
/// variable is set (upstream writes `root@localhost` when run as root); the
/// expected name comes from `id -un`, which asks NSS independently.
#[test]
fn admin_email_falls_back_to_the_password_file_user() {
    let seed = AutosetupSeed::from_environment(&Environment::new().with("HOME", "/nowhere"));
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let expected = String::from_utf8(id.stdout).unwrap().trim().to_owned();
    assert!(!expected.is_empty());
    assert_eq!(seed.os_user.as_deref(), Some(expected.as_str()));

    let dir = tempfile::tempdir().unwrap();
    let mut prompter = ScriptedPrompter::new(Vec::<String>::new());
    let plan = prepare_basedir_with(&dir.path().join("b"), &seed, false, &mut prompter).unwrap();
    assert_eq!(plan.admin_email, format!("{expected}@localhost"));

    // The login variables still come first, in getpass order.
    let seed = AutosetupSeed::from_environment(
        &Environment::new()
            .with("USERNAME", "u4")
            .with("LNAME", "u3"),
    );
    assert_eq!(seed.os_user.as_deref(), Some("u3"));
}
