//! The operator's side of `authnzrv`, through the real binary: the admin
//! commands against SQLite and PostgreSQL (a database per test), with their
//! error paths; `argon2 calibrate`; the systemd unit checked by
//! `systemd-analyze verify`; READY=1 and STOPPING=1 reaching a NOTIFY_SOCKET
//! bound here; the SQLite guard against a running server; JSON logs.

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, TestDb};
use authnz_api::{ApiKeyStore as _, NoSessionApiKey, Session, SessionStore as _, UserStore as _};
use authnz_core::passwords::{HashParams, PasswordHasher};
use authnz_core::policy::Policy;
use authnz_server::app::{self, AdminSeed};
use authnz_server::config::DatabaseTarget;
use authnz_store_sql::{SqlOptions, SqlStore};
use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authnzrv");
const GOOD_PASSWORD: &str = "Plover-Quince-Sextant-77";
const OTHER_PASSWORD: &str = "Gannet-Marlin-Obelisk-91";
const SECRET_KEY: [u8; 32] = [7; 32];
const PII_SALT: &str = "admin-cli-test-salt";

/// A seeded database and the environment that points the binary at it.
struct Setup {
    db: TestDb,
    basedir: tempfile::TempDir,
    /// The `authdb` value the binary is given.
    authdb: String,
}

impl Setup {
    async fn new(backend: Backend, test: &str) -> Option<Self> {
        let db = TestDb::new(backend, test).await?;
        let basedir = tempfile::tempdir().unwrap();
        // SQLite: the SQLAlchemy form of an absolute path.
        let authdb = match db.url.strip_prefix("sqlite://") {
            Some(path) => format!("sqlite:///{path}"),
            None => db.url.clone(),
        };
        let store = open(&authdb).await;
        let hasher = PasswordHasher::new(1, fast()).unwrap();
        let admin = AdminSeed {
            email: ADMIN_EMAIL.into(),
            password: Some(ADMIN_PASSWORD.into()),
        };
        let policy = Policy::load(None).unwrap();
        app::seed(&store, &hasher, &policy, &admin, basedir.path(), now())
            .await
            .unwrap();
        store.close().await;
        Some(Self {
            db,
            basedir,
            authdb,
        })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHNZERVER_") || k == "PORT" || k == "NOTIFY_SOCKET" {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(self.basedir.path())
            .env("AUTHNZERVER_BASEDIR", self.basedir.path())
            .env("AUTHNZERVER_AUTHDB", &self.authdb)
            .env(
                "AUTHNZERVER_SECRET",
                base64::engine::general_purpose::URL_SAFE.encode(SECRET_KEY),
            )
            .env("AUTHNZERVER_PIISALT", PII_SALT)
            .env("AUTHNZERVER_ARGON2MEMORY", "512")
            .env("AUTHNZERVER_ARGON2TIME", "1")
            .env("AUTHNZERVER_ARGON2PARALLELISM", "1")
            .env("AUTHNZERVER_MAILER", "file")
            .stdin(Stdio::null());
        cmd
    }

    /// Run `authnzrv ARGS` with `stdin` as its input.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command();
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("run authnzrv");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// `run`, expecting success and JSON on stdout.
    fn json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
    }

    /// `run`, expecting failure with `needle` in stderr.
    fn fails(&self, args: &[&str], stdin: Option<&str>, needle: &str) {
        let out = self.run(args, stdin);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }

    async fn store(&self) -> SqlStore {
        open(&self.authdb).await
    }
}

async fn open(authdb: &str) -> SqlStore {
    let url = DatabaseTarget::parse(authdb).unwrap().sqlx_url();
    app::open_database(&url, &SqlOptions::default())
        .await
        .unwrap()
}

fn fast() -> HashParams {
    HashParams {
        m_cost_kib: 512,
        t_cost: 1,
        p_cost: 1,
        output_len: 32,
    }
}

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn session(token: &str, user_id: i64, expires_in: TimeDelta) -> Session {
    Session {
        session_token: token.into(),
        ip_address: "203.0.113.9".into(),
        user_agent: "test".into(),
        user_id,
        created: now() - TimeDelta::days(2),
        expires: now() + expires_in,
        extra_info_json: None,
    }
}

async fn users_lock_roles_passwords_and_delete(backend: Backend, test: &'static str) {
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let stdin = format!("{GOOD_PASSWORD}\n");
    let added = s.json(
        &[
            "user",
            "add",
            "Jane@Example.org",
            "--full-name",
            "Jane Doe",
            "--role",
            "staff",
            "--password-stdin",
            "--json",
        ],
        Some(&stdin),
    );
    let id = added["user_id"].as_i64().unwrap();
    assert_eq!(added["email"], "jane@example.org");
    assert_eq!(added["user_role"], "staff");

    // Error paths of `add`: a duplicate, a weak password, an unknown or
    // system role, no password source, a bad address.
    s.fails(
        &["user", "add", "jane@example.org", "--password-stdin"],
        Some(&stdin),
        "exists already",
    );
    s.fails(
        &["user", "add", "bob@example.org", "--password-stdin"],
        Some("password\n"),
        "does not pass the password policy",
    );
    s.fails(
        &[
            "user",
            "add",
            "bob@example.org",
            "--role",
            "wizard",
            "--password-stdin",
        ],
        Some(&stdin),
        "unknown role",
    );
    s.fails(
        &[
            "user",
            "add",
            "bob@example.org",
            "--role",
            "locked",
            "--password-stdin",
        ],
        Some(&stdin),
        "user lock",
    );
    s.fails(
        &["user", "add", "bob@example.org"],
        None,
        "--password-stdin",
    );
    s.fails(
        &["user", "add", "not-an-address", "--password-stdin"],
        Some(&stdin),
        "not a valid e-mail address",
    );

    let list = s.json(&["user", "list", "--json"], None);
    let emails: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"jane@example.org"), "{emails:?}");
    assert!(!emails.contains(&"bob@example.org"), "{emails:?}");
    assert!(
        list.to_string().find("argon2").is_none(),
        "no hash in the output"
    );
    let out = s.run(&["user", "list"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("jane@example.org"));

    // A session the lock must end.
    let store = s.store().await;
    store
        .create_session(&session("tok-jane-1", id, TimeDelta::days(1)))
        .await
        .unwrap();
    let shown = s.json(&["user", "show", "jane@example.org", "--json"], None);
    assert_eq!(shown["user_id"], id);
    assert_eq!(shown["full_name"], "Jane Doe");
    assert_eq!(shown["active_sessions"], 1);
    assert!(shown.get("password").is_none());

    let locked = s.json(&["user", "lock", &id.to_string(), "--json"], None);
    assert_eq!(locked["changed"], true);
    assert_eq!(locked["user_role"], "locked");
    assert_eq!(locked["is_active"], false);
    assert_eq!(
        s.json(&["user", "show", &id.to_string(), "--json"], None)["active_sessions"],
        0
    );
    let again = s.json(&["user", "lock", &id.to_string(), "--json"], None);
    assert_eq!(again["changed"], false);
    s.fails(
        &["user", "set-role", &id.to_string(), "authenticated"],
        None,
        "is locked",
    );

    let unlocked = s.json(&["user", "unlock", "jane@example.org", "--json"], None);
    assert_eq!(unlocked["changed"], true);
    assert_eq!(unlocked["user_role"], "staff");
    assert_eq!(unlocked["is_active"], true);

    let role = s.json(
        &[
            "user",
            "set-role",
            &id.to_string(),
            "authenticated",
            "--json",
        ],
        None,
    );
    assert_eq!(role["previous_role"], "staff");
    assert_eq!(role["user_role"], "authenticated");

    // Passwords: the policy refuses a weak one (nothing changes), a good one
    // is stored as an Argon2 hash with the configured parameters.
    let before = store.user_by_id(id).await.unwrap().unwrap().password;
    s.fails(
        &["user", "set-password", &id.to_string(), "--password-stdin"],
        Some("jane@example.org\n"),
        "password policy",
    );
    assert_eq!(
        store.user_by_id(id).await.unwrap().unwrap().password,
        before
    );
    s.json(
        &[
            "user",
            "set-password",
            &id.to_string(),
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{OTHER_PASSWORD}\n")),
    );
    let hash = store.user_by_id(id).await.unwrap().unwrap().password;
    assert!(hash.starts_with("$argon2id$v=19$m=512,t=1,p=1$"), "{hash}");
    let hasher = PasswordHasher::new(1, fast()).unwrap();
    assert!(hasher.verify(OTHER_PASSWORD, &hash).await.unwrap());
    assert!(!hasher.verify(GOOD_PASSWORD, &hash).await.unwrap());

    // Protected accounts and unknown users.
    s.fails(&["user", "lock", "2"], None, "system account");
    s.fails(&["user", "delete", "3", "--yes"], None, "system account");
    s.fails(&["user", "lock", "1"], None, "superuser");
    s.fails(&["user", "set-role", "1", "staff"], None, "superuser");
    s.fails(&["user", "show", "999"], None, "no user with id 999");
    s.fails(
        &["user", "lock", "nobody@example.org"],
        None,
        "no user with e-mail",
    );
    s.fails(&["user", "unlock", "999"], None, "no user with id 999");

    // Delete: refused without --yes when nobody can confirm, then done.
    s.fails(&["user", "delete", &id.to_string()], None, "--yes");
    assert!(store.user_by_id(id).await.unwrap().is_some());
    let deleted = s.json(
        &["user", "delete", &id.to_string(), "--yes", "--json"],
        None,
    );
    assert_eq!(deleted["deleted"], true);
    assert!(store.user_by_id(id).await.unwrap().is_none());
    s.fails(
        &["user", "delete", &id.to_string(), "--yes"],
        None,
        "no user",
    );
    store.close().await;
    s.db.drop_db().await;
}

async fn sessions_and_apikeys(backend: Backend, test: &'static str) {
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let id = s.json(
        &[
            "user",
            "add",
            "kim@example.org",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{GOOD_PASSWORD}\n")),
    )["user_id"]
        .as_i64()
        .unwrap();
    let store = s.store().await;
    store
        .create_session(&session("tok-old", 1, -TimeDelta::hours(1)))
        .await
        .unwrap();
    store
        .create_session(&session("tok-a", id, TimeDelta::days(1)))
        .await
        .unwrap();
    store
        .create_session(&session("tok-b", id, TimeDelta::days(1)))
        .await
        .unwrap();
    store
        .create_session(&session("tok-admin", 1, TimeDelta::days(1)))
        .await
        .unwrap();
    let t = now();
    for (key, role) in [("key-1", "authenticated"), ("key-2", "staff")] {
        store
            .create_nosession_apikey(&NoSessionApiKey {
                apikey: key.into(),
                issued: t - TimeDelta::minutes(1),
                expires: t + TimeDelta::days(1),
                not_valid_before: t - TimeDelta::minutes(1),
                refresh_token: "$argon2id$v=19$m=512,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                refresh_issued: t - TimeDelta::minutes(1),
                refresh_expires: t + TimeDelta::days(2),
                refresh_nbf: t - TimeDelta::minutes(1),
                user_id: id,
                user_role: role.into(),
            })
            .await
            .unwrap();
    }

    assert_eq!(
        s.json(&["session", "purge-expired", "--json"], None)["deleted"],
        1
    );
    assert_eq!(
        s.json(&["session", "purge-expired", "--json"], None)["deleted"],
        0
    );
    s.fails(
        &["session", "delete-user", "kim@example.org"],
        None,
        "--yes",
    );
    let gone = s.json(
        &[
            "session",
            "delete-user",
            "kim@example.org",
            "--yes",
            "--json",
        ],
        None,
    );
    assert_eq!(gone["deleted"], 2);
    assert!(
        store
            .active_session("tok-admin", now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .active_session("tok-a", now())
            .await
            .unwrap()
            .is_none()
    );

    let revoked = s.json(
        &["apikey", "revoke-all", "--user", &id.to_string(), "--json"],
        None,
    );
    assert_eq!(revoked["revoked"], 2);
    assert_eq!(
        s.json(
            &["apikey", "revoke-all", "--user", &id.to_string(), "--json"],
            None
        )["revoked"],
        0
    );
    s.fails(
        &["apikey", "revoke-all", "--user", "404"],
        None,
        "no user with id 404",
    );
    s.fails(
        &["session", "delete-user", "404", "--yes"],
        None,
        "no user with id 404",
    );
    store.close().await;
    s.db.drop_db().await;
}

/// `user totp-disable`: removes the authenticator and the recovery codes and
/// ends the user's sessions; a user without one is told so.
async fn totp_disable(backend: Backend, test: &'static str) {
    use authnz_api::SecondFactorStore as _;
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let stdin = format!("{GOOD_PASSWORD}\n");
    let id = s.json(
        &[
            "user",
            "add",
            "tom@example.org",
            "--password-stdin",
            "--json",
        ],
        Some(&stdin),
    )["user_id"]
        .as_i64()
        .unwrap();
    let store = open(&s.authdb).await;
    assert!(
        store
            .put_pending_totp(id, "v1.sealed", now())
            .await
            .unwrap()
    );
    let codes = vec!["a".repeat(64), "b".repeat(64)];
    assert!(store.enable_totp(id, "v1.sealed", 1, &codes).await.unwrap());
    store
        .create_session(&Session {
            session_token: "tok-tom".into(),
            ip_address: "203.0.113.1".into(),
            user_agent: "UA".into(),
            user_id: id,
            created: now(),
            expires: now() + TimeDelta::hours(1),
            extra_info_json: None,
        })
        .await
        .unwrap();

    let done = s.json(&["user", "totp-disable", "tom@example.org", "--json"], None);
    assert_eq!(
        done,
        json!({"user_id": id, "disabled": true, "sessions_ended": 1})
    );
    assert_eq!(store.totp(id).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 0);
    assert!(
        store
            .active_session("tok-tom", now())
            .await
            .unwrap()
            .is_none()
    );
    let again = s.json(&["user", "totp-disable", &id.to_string(), "--json"], None);
    assert_eq!(again["disabled"], false);
    s.fails(
        &["user", "totp-disable", "404"],
        None,
        "no user with id 404",
    );
    store.close().await;
    s.db.drop_db().await;
}

/// `user passkeys-remove`: removes every passkey and (without TOTP) the
/// recovery codes, and ends the user's sessions; a user without passkeys
/// is told so.
async fn passkeys_remove(backend: Backend, test: &'static str) {
    use authnz_api::SecondFactorStore as _;
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let stdin = format!("{GOOD_PASSWORD}\n");
    let id = s.json(
        &[
            "user",
            "add",
            "pia@example.org",
            "--password-stdin",
            "--json",
        ],
        Some(&stdin),
    )["user_id"]
        .as_i64()
        .unwrap();
    let store = open(&s.authdb).await;
    for (i, codes) in [vec!["c".repeat(64)], vec![]].into_iter().enumerate() {
        let passkey = authnz_api::NewPasskey {
            user_id: id,
            credential_id: format!("cred-{i}"),
            user_handle: "0".repeat(32),
            name: format!("key {i}"),
            passkey_json: "{}".into(),
            sign_count: 0,
            created: now(),
        };
        store.add_passkey(&passkey, &codes).await.unwrap();
    }
    store
        .create_session(&Session {
            session_token: "tok-pia".into(),
            ip_address: "203.0.113.1".into(),
            user_agent: "UA".into(),
            user_id: id,
            created: now(),
            expires: now() + TimeDelta::hours(1),
            extra_info_json: None,
        })
        .await
        .unwrap();

    let done = s.json(
        &["user", "passkeys-remove", "pia@example.org", "--json"],
        None,
    );
    assert_eq!(
        done,
        json!({"user_id": id, "removed": 2, "sessions_ended": 1})
    );
    assert_eq!(store.passkey_count(id).await.unwrap(), 0);
    assert_eq!(store.recovery_codes_left(id).await.unwrap(), 0);
    assert!(
        store
            .active_session("tok-pia", now())
            .await
            .unwrap()
            .is_none()
    );
    let again = s.json(
        &["user", "passkeys-remove", &id.to_string(), "--json"],
        None,
    );
    assert_eq!(again["removed"], 0);
    s.fails(
        &["user", "passkeys-remove", "404"],
        None,
        "no user with id 404",
    );
    store.close().await;
    s.db.drop_db().await;
}

/// `authnzrv audit`: what the other commands did (they record events and
/// write them before exiting), with the filters and the cursor of
/// `internal-audit-list`, in JSON and text, and its refusals.
async fn audit_lists_what_the_commands_did(backend: Backend, test: &'static str) {
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let added = s.json(
        &[
            "user",
            "add",
            "jane@example.org",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{GOOD_PASSWORD}\n")),
    );
    let id = added["user_id"].as_i64().unwrap();
    let uid = id.to_string();
    s.json(&["user", "lock", &uid, "--json"], None);
    s.json(&["user", "unlock", &uid, "--json"], None);
    let names = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    };

    let all = s.json(&["audit", "--user", "jane@example.org", "--json"], None);
    assert_eq!(
        names(&all),
        ["user.unlocked", "user.locked", "user.signup"],
        "{all}"
    );
    assert_eq!(all["next_cursor"], Value::Null);
    for e in all["events"].as_array().unwrap() {
        assert_eq!(e["subject_user_id"], id, "{e}");
        assert_eq!(e["outcome"], "ok", "{e}");
    }
    assert_eq!(all["events"][2]["reason"], "admin-cli");

    // Pages of two, by the cursor.
    let first = s.json(&["audit", "--user", &uid, "--limit", "2", "--json"], None);
    assert_eq!(names(&first), ["user.unlocked", "user.locked"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = s.json(
        &[
            "audit", "--user", &uid, "--limit", "2", "--cursor", &cursor, "--json",
        ],
        None,
    );
    assert_eq!(names(&second), ["user.signup"]);
    assert_eq!(second["next_cursor"], Value::Null);

    // The event filter; a deleted user's events are still listed by id.
    let locks = s.json(&["audit", "--event", "user.locked", "--json"], None);
    assert_eq!(names(&locks), ["user.locked"]);
    s.json(&["user", "delete", &uid, "--yes", "--json"], None);
    let after = s.json(&["audit", "--user", &uid, "--limit", "1", "--json"], None);
    assert_eq!(names(&after), ["user.deleted"]);

    // Text output: one line per event, the next cursor when there is more.
    let out = s.run(&["audit", "--user", &uid, "--limit", "1"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("user.deleted"), "{shown}");
    assert!(shown.contains("More events: add --cursor "), "{shown}");

    s.fails(
        &["audit", "--event", "login.maybe"],
        None,
        "unknown event type",
    );
    s.fails(&["audit", "--since", "yesterday"], None, "since and until");
    s.fails(&["audit", "--cursor", "x"], None, "invalid cursor");
    s.fails(&["audit", "--limit", "0"], None, "--limit");
    s.fails(&["audit", "--user", "nobody@example.org"], None, "no user");
    s.db.drop_db().await;
}

/// `authnzrv webhooks list|retry` on outbox rows made through the store,
/// and a webhooks file the configuration check refuses without printing
/// its secret.
async fn webhooks_list_and_retry(backend: Backend, test: &'static str) {
    use authnz_api::{AuditStore as _, NewDelivery, WebhookStore as _};
    let Some(s) = Setup::new(backend, test).await else {
        return;
    };
    let store = s.store().await;
    let delivery = |url: &str| NewDelivery {
        endpoint: url.to_owned(),
        event_type: "logout".to_owned(),
        body: r#"{"type":"logout"}"#.to_owned(),
        created: now(),
    };
    store
        .append_audit_events_with_deliveries(
            &[],
            &[delivery("http://a.example/"), delivery("http://b.example/")],
        )
        .await
        .unwrap();
    let claimed = store
        .claim_deliveries(now(), now() + TimeDelta::seconds(60), 10)
        .await
        .unwrap();
    let parked_id = claimed[1].id;
    store
        .delivery_failed(parked_id, "HTTP 500", None)
        .await
        .unwrap();
    let all = s.json(&["webhooks", "list", "--json"], None);
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let parked = s.json(&["webhooks", "list", "--parked", "--json"], None);
    assert_eq!(parked.as_array().unwrap().len(), 1, "{parked}");
    assert_eq!(parked[0]["id"], json!(parked_id));
    assert_eq!(parked[0]["parked"], json!(true));
    assert_eq!(parked[0]["last_error"], json!("HTTP 500"));
    let listed = s.run(&["webhooks", "list"], None);
    assert!(text(&listed.stdout).contains("parked"), "{listed:?}");
    s.fails(
        &["webhooks", "retry", &claimed[0].id.to_string()],
        None,
        "no parked delivery",
    );
    s.fails(&["webhooks", "retry"], None, "<ID>");
    let id = parked_id.to_string();
    assert_eq!(
        s.json(&["webhooks", "retry", &id, "--json"], None),
        json!({"retried": 1})
    );
    let none = s.json(&["webhooks", "list", "--parked", "--json"], None);
    assert_eq!(none, json!([]));
    store
        .delivery_failed(parked_id, "HTTP 500", None)
        .await
        .unwrap();
    assert_eq!(
        s.json(&["webhooks", "retry", "--all-parked", "--json"], None),
        json!({"retried": 1})
    );
    store.close().await;
    // A bad webhooks file stops the command with a message naming the
    // entry; the secret is never printed.
    let file = s.basedir.path().join("webhooks.json");
    std::fs::write(
        &file,
        r#"[{"url": "http://ok.example/", "secret": "whsec_SUPERSECRETVALUE", "events": ["*"]}]"#,
    )
    .unwrap();
    let mut cmd = s.command();
    let out = cmd
        .env("AUTHNZERVER_WEBHOOKS", &file)
        .args(["webhooks", "list"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("webhooks") && stderr.contains("entry 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("SUPERSECRET"), "{stderr}");
    s.db.drop_db().await;
}

per_backend!(
    users_lock_roles_passwords_and_delete,
    sessions_and_apikeys,
    totp_disable,
    passkeys_remove,
    audit_lists_what_the_commands_did,
    webhooks_list_and_retry
);

#[tokio::test]
async fn an_uninitialised_or_missing_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup {
        db: TestDb::new(Backend::Sqlite, "admin_missing").await.unwrap(),
        authdb: format!("sqlite:///{}", dir.path().join("none.sqlite").display()),
        basedir: dir,
    };
    s.fails(&["user", "list"], None, "no auth database");
    assert!(!s.basedir.path().join("none.sqlite").exists());
    // An empty database file: not initialised.
    let empty = s.basedir.path().join("none.sqlite");
    std::fs::write(&empty, b"").unwrap();
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    s.fails(&["user", "list"], None, "not initialised");
}

/// A real server on the SQLite database, started as systemd would with a
/// NOTIFY_SOCKET bound here: READY=1 arrives once it answers, the commands
/// that change users refuse while it runs (reads and inserts work), and
/// SIGTERM brings STOPPING=1; then the refused command works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_ready_stopping_and_the_sqlite_guard() {
    let s = Setup::new(Backend::Sqlite, "admin_notify").await.unwrap();
    let socket_path = s.basedir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let log = s.basedir.path().join("server.log");
    let mut server = ServerChild(
        s.command()
            .args(["--listen", "127.0.0.1", "--port", "0"])
            .env("NOTIFY_SOCKET", &socket_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log.clone(),
    );
    let ready = recv(&socket);
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    let addr: std::net::SocketAddr = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=listening on "))
        .unwrap_or_else(|| panic!("{ready}"))
        .parse()
        .unwrap();
    // Ready means ready: the first request is answered.
    let client = Client::new(addr, &SECRET_KEY);
    let reply = client
        .call(
            "session-new",
            json!({"ip_address": "203.0.113.1", "user_agent": "t", "user_id": null,
            "expires": (now() + TimeDelta::days(1)).format("%Y-%m-%dT%H:%M:%S").to_string(),
            "extra_info_json": null}),
        )
        .await;
    assert_eq!(reply["success"], true, "{reply}");

    s.fails(&["user", "lock", ADMIN_EMAIL], None, "server is running");
    s.fails(
        &["session", "delete-user", "1", "--yes"],
        None,
        "server is running",
    );
    let out = s.run(&["user", "show", "1", "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.json(
        &[
            "user",
            "add",
            "lee@example.org",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{GOOD_PASSWORD}\n")),
    );

    let pid = rustix::process::Pid::from_raw(server.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let stopping = recv(&socket);
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping}");
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{}", server.log());
    let locked = s.json(&["user", "lock", "lee@example.org", "--json"], None);
    assert_eq!(locked["changed"], true);
}

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notice within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A server process, killed on drop; its log shown when a test fails.
struct ServerChild(Child, PathBuf);

impl ServerChild {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log());
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--logformat json`: every line the server writes is a JSON object, and
/// neither the e-mail, the password, the session token, the secret nor the
/// salt shows up in any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_lines_without_secrets() {
    let s = Setup::new(Backend::Sqlite, "admin_jsonlog").await.unwrap();
    let socket_path = s.basedir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let log = s.basedir.path().join("server.log");
    let mut server = ServerChild(
        s.command()
            .args([
                "--listen",
                "127.0.0.1",
                "--port",
                "0",
                "--logformat",
                "json",
            ])
            .env("NOTIFY_SOCKET", &socket_path)
            .env("AUTHNZ_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log.clone(),
    );
    let ready = recv(&socket);
    let addr: std::net::SocketAddr = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=listening on "))
        .unwrap()
        .parse()
        .unwrap();
    let client = Client::new(addr, &SECRET_KEY);
    let reply = client
        .call(
            "session-new",
            json!({"ip_address": "203.0.113.1", "user_agent": "t", "user_id": null,
            "expires": (now() + TimeDelta::days(1)).format("%Y-%m-%dT%H:%M:%S").to_string(),
            "extra_info_json": null}),
        )
        .await;
    let token = reply["response"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = client
        .call(
            "user-login",
            json!({"session_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(login["success"], true, "{login}");
    let wrong = client
        .call(
            "user-login",
            json!({"session_token": token, "email": ADMIN_EMAIL, "password": "Wrong-Password-123"}),
        )
        .await;
    assert_eq!(wrong["success"], false, "{wrong}");
    let pid = rustix::process::Pid::from_raw(server.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert!(server.0.wait().unwrap().success());

    let text = server.log();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 5, "{text}");
    let mut messages = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        messages.push(v["message"].as_str().unwrap_or_default().to_owned());
    }
    assert!(
        messages.iter().any(|m| m == "authnzrv listening"),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "authnzrv stopped"),
        "{messages:?}"
    );
    let secret = base64::engine::general_purpose::URL_SAFE.encode(SECRET_KEY);
    for needle in [
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "Wrong-Password-123",
        &token,
        &secret,
        PII_SALT,
    ] {
        assert!(!text.contains(needle), "{needle:?} in the log:\n{text}");
    }
}

/// `argon2 calibrate` with a small target: it finishes, and its parameters
/// hash in about the target CPU time here (within a factor of 3).
#[test]
fn calibrate_finds_parameters_that_reproduce_the_target() {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "argon2",
            "calibrate",
            "--target-ms",
            "40",
            "--max-memory",
            "8M",
        ])
        .args(["--parallelism", "1", "--workers", "2", "--json"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A hang guard, not a speed check: a handful of hashes of ~40 ms.
    assert!(took < Duration::from_secs(120), "took {took:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let params = HashParams {
        m_cost_kib: v["argon2memory"].as_u64().unwrap() as u32,
        t_cost: v["argon2time"].as_u64().unwrap() as u32,
        p_cost: v["argon2parallelism"].as_u64().unwrap() as u32,
        ..HashParams::default()
    };
    assert!(params.m_cost_kib <= 8192 && params.p_cost == 1, "{v}");
    assert!(
        v["password_checks_per_second"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    let ms = authnz_server::calibrate::measure(&params)
        .unwrap()
        .as_secs_f64()
        * 1000.0;
    assert!((40.0 / 3.0..=40.0 * 3.0).contains(&ms), "{v}: {ms} ms");

    // The text form names the configuration items.
    let out = Command::new(BIN)
        .args([
            "argon2",
            "calibrate",
            "--target-ms",
            "5",
            "--max-memory",
            "1M",
        ])
        .args(["--parallelism", "1"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for var in [
        "AUTHNZERVER_ARGON2MEMORY=",
        "AUTHNZERVER_ARGON2TIME=",
        "AUTHNZERVER_ARGON2PARALLELISM=1",
    ] {
        assert!(stdout.contains(var), "{stdout}");
    }
    // Bad input: a clear error, non-zero.
    for (args, needle) in [
        (
            &["--target-ms", "50", "--max-memory", "2G"][..],
            "--max-memory",
        ),
        (
            &["--target-ms", "50", "--max-memory", "lots"][..],
            "--max-memory",
        ),
        (&["--target-ms", "0"][..], "target-ms"),
        (
            &[
                "--target-ms",
                "50",
                "--max-memory",
                "16K",
                "--parallelism",
                "4",
            ][..],
            "memory",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["argon2", "calibrate"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The systemd unit: `systemd-analyze verify` accepts it (with ExecStart
/// pointed at the binary under test), and it has the hardening it promises.
#[test]
fn the_systemd_unit_verifies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(root.join("deploy/authnzrv.service")).unwrap();
    for line in [
        "Type=notify",
        "User=authnz",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/authnz",
        "Restart=on-failure",
        "LimitNOFILE=",
        "ExecStart=/usr/local/bin/authnzrv --basedir /var/lib/authnz",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(line)), "missing {line}");
    }
    let env = std::fs::read_to_string(root.join("deploy/authnzrv.env")).unwrap();
    assert!(env.lines().any(|l| l == "AUTHNZERVER_LOGFORMAT=json"));

    let verify = Command::new("systemd-analyze").arg("--version").output();
    if verify.is_err() {
        let message = "systemd-analyze not found: `apt-get install systemd` to check the unit";
        assert!(
            std::env::var("AUTHNZ_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{message} (AUTHNZ_REQUIRE_SERVICES=1)"
        );
        eprintln!("SKIPPED: {message}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authnzrv.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/authnzrv", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // A broken unit is caught (the check can fail).
    std::fs::write(&path, unit.replace("Type=notify", "Type=nonsense")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !out.status.success() || !out.stderr.is_empty(),
        "a bad Type= passed"
    );
}
