//! A smoke run against the original Python authnzerver 0.1.3: the client
//! speaks its protocol too (sessions, login, a password check, a user
//! list, an access check, a refusal, a wrong key, and `/health`, which that
//! release answers with 404). That release,
//! the one on PyPI and the one the bench measures, has 22 of the 38 request
//! types; its replies lack some fields authnz sends (the typed replies make
//! those `Option`s).
//!
//! The original is installed from PyPI into a virtualenv cached under the
//! target dir (`<target>/tmp/client-original-venv`), with the fixes its
//! 2020 release needs (as the bench makes it: SQLAlchemy below 1.4, the
//! disposable-domain list its wheel lacks). Without `python3` and its
//! `venv` module, or without PyPI, the test prints what to install and
//! passes as a skip; with `AUTHNZ_REQUIRE_SERVICES=1` that is a failure.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authnz_client::requests::{
    SessionDelete, SessionExists, SessionNew, UserCheckAccess, UserList, UserLogin, UserPasscheck,
};
use authnz_client::{Client, Error, Key};

const INSTALL: &str = "apt-get install python3 python3-venv";
const READY_MARK: &str = ".authnz-client-ready";

fn required() -> bool {
    std::env::var("AUTHNZ_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn python() -> String {
    std::env::var("AUTHNZ_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Skip (printed) or, when services are required, fail.
fn unavailable(why: &str) {
    let text = format!(
        "the original authnzerver is unavailable: {why}; install Python with `{INSTALL}` \
         (and let pip reach PyPI)"
    );
    if required() {
        panic!("{text} (AUTHNZ_REQUIRE_SERVICES=1 makes this a failure)");
    }
    eprintln!(
        "SKIPPED original smoke test: {text}. AUTHNZ_REQUIRE_SERVICES=1 turns this skip into a failure."
    );
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cached virtualenv's `bin`, made on first use.
fn original_venv() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("client-original-venv");
    let bin = venv.join("bin");
    if venv.join(READY_MARK).exists() {
        return Ok(bin);
    }
    run(Command::new(python()).args(["-c", "import venv, ensurepip"]))?;
    // A half-made venv from an interrupted run is made again.
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(python()).args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(bin.join("pip")).args([
        "install",
        "-q",
        "authnzerver==0.1.3",
        "sqlalchemy<1.4",
    ]))?;
    let package = run(Command::new(bin.join("python")).args([
        "-c",
        "import os, importlib.util; print(os.path.dirname(importlib.util.find_spec('authnzerver').origin))",
    ]))?;
    let blocklist =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/disposable_email_blocklist.conf");
    std::fs::copy(
        &blocklist,
        Path::new(package.trim()).join("disposable_email_blocklist.conf"),
    )
    .map_err(|e| format!("cannot install the disposable-domain list: {e}"))?;
    std::fs::write(venv.join(READY_MARK), "ok\n").map_err(|e| e.to_string())?;
    Ok(bin)
}

/// The running original; killed when dropped, with the worker processes
/// it forks (it runs in a process group of its own, and the whole group is
/// killed: killing only the parent left its pool worker running).
struct Original {
    child: Child,
    addr: SocketAddr,
    key: Key,
    admin_email: String,
    admin_password: String,
    _dir: tempfile::TempDir,
}

impl Drop for Original {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_original(bin: &Path) -> Result<Original, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let basedir = dir.path().join("basedir");
    std::fs::create_dir_all(&basedir).map_err(|e| e.to_string())?;
    // Its `--autosetup` prompts without a terminal: call the function.
    run(Command::new(bin.join("python"))
        .args([
            "-c",
            "import sys; from authnzerver.autosetup import autogen_secrets_authdb; \
             autogen_secrets_authdb(sys.argv[1], interactive=False)",
        ])
        .arg(&basedir)
        .current_dir(dir.path()))?;
    let creds = std::fs::read_to_string(basedir.join(".authnzerver-admin-credentials"))
        .map_err(|e| format!("no admin credentials: {e}"))?;
    let (email, password) = creds
        .trim_end()
        .split_once(' ')
        .ok_or("unexpected admin credentials format")?;
    let key_text = std::fs::read_to_string(basedir.join(".authnzerver-secret-key"))
        .map_err(|e| format!("no secret key: {e}"))?;
    let key = Key::from_text(&key_text).map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let log = std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(bin.join("authnzrv"))
        .env(
            "AUTHNZERVER_AUTHDB",
            format!("sqlite:///{}/.authdb.sqlite", basedir.display()),
        )
        .env("AUTHNZERVER_BASEDIR", &basedir)
        .env(
            "AUTHNZERVER_SECRET",
            basedir.join(".authnzerver-secret-key"),
        )
        .env("AUTHNZERVER_PIISALT", basedir.join(".authnzerver-salt"))
        .env("AUTHNZERVER_LISTEN", "127.0.0.1")
        .env("AUTHNZERVER_PORT", port.to_string())
        .env("AUTHNZERVER_CACHEDIR", basedir.join("cache"))
        .env("AUTHNZERVER_WORKERS", "1")
        .current_dir(dir.path())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start the original authnzrv: {e}"))?;
    Ok(Original {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        key,
        admin_email: email.to_owned(),
        admin_password: password.to_owned(),
        _dir: dir,
    })
}

#[test]
fn smoke_against_the_original_python_authnzerver() {
    let bin = match original_venv() {
        Ok(bin) => bin,
        Err(why) => return unavailable(&why),
    };
    let mut original = start_original(&bin).expect("the original starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = Client::builder(format!("http://{}", original.addr), original.key.clone())
            .request_timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let anonymous = SessionNew {
            ip_address: "192.0.2.10".into(),
            user_agent: "authnz-client smoke".into(),
            user_id: None,
            // The original needs the fraction.
            expires: "2099-01-01T00:00:00.000000".into(),
            extra_info_json: None,
        };
        // Wait until it answers.
        let until = Instant::now() + Duration::from_secs(60);
        let first = loop {
            match c.session_new(&anonymous).await {
                Ok(s) => break s,
                Err(Error::Transport(_)) if Instant::now() < until => {
                    if let Ok(Some(status)) = original.child.try_wait() {
                        panic!("the original exited with {status}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("the original does not answer session-new: {e:?}"),
            }
        };
        let exists = c
            .session_exists(&SessionExists {
                session_token: first.session_token.clone(),
            })
            .await
            .expect("session-exists");
        assert_eq!(exists.session_info.user_id, 2);

        // A refusal: failure_reason and messages.
        let err = c
            .user_login(&UserLogin {
                session_token: first.session_token.clone(),
                email: original.admin_email.clone(),
                password: "not-the-Password-1".into(),
            })
            .await
            .expect_err("wrong password");
        let failure = err.failure().expect("success: false");
        assert_eq!(
            failure.messages,
            ["Sorry, that user ID and password combination didn't work."],
            "{failure:?}"
        );
        // 0.1.3 sends no failure_reason here; its last commit does.
        assert!(
            matches!(
                failure.failure_reason.as_deref(),
                None | Some("user does not exist or password doesn't match")
            ),
            "{failure:?}"
        );

        let anon = c.session_new(&anonymous).await.expect("session-new");
        let admin = c
            .user_login(&UserLogin {
                session_token: anon.session_token,
                email: original.admin_email.clone(),
                password: original.admin_password.clone().into(),
            })
            .await
            .expect("admin login");
        assert_eq!(admin.user_id, 1);
        // 0.1.3 has 22 request types (no look-ups by e-mail, no
        // `*-nosession`, no internal ones); these are among them.
        let session = c
            .session_new(&SessionNew {
                user_id: Some(1),
                ..anonymous.clone()
            })
            .await
            .expect("session-new for the admin");
        let check = c
            .user_passcheck(&UserPasscheck {
                session_token: session.session_token.clone(),
                password: original.admin_password.clone().into(),
            })
            .await
            .expect("user-passcheck");
        assert_eq!(check.user_id, 1);
        let listed = c
            .user_list(&UserList { user_id: Some(1) })
            .await
            .expect("user-list");
        assert_eq!(listed.user_info.len(), 1);
        c.user_check_access(&UserCheckAccess {
            user_id: 1,
            user_role: "superuser".into(),
            action: "view".into(),
            target_name: "dataset".into(),
            target_owner: 1,
            target_visibility: "private".into(),
            target_sharedwith: String::new(),
        })
        .await
        .expect("user-check-access");
        c.session_delete(&SessionDelete {
            session_token: first.session_token,
        })
        .await
        .expect("session-delete");

        // `/health` came after 0.1.3, which answers it with its 404 page:
        // a typed status error, not a malformed reply.
        match c.health().await {
            Ok(health) => assert!(!health.workers.is_empty(), "{health:?}"),
            Err(Error::Status { status: 404, .. }) => {}
            Err(e) => panic!("/health: {e:?}"),
        }

        let wrong = Client::new(
            format!("http://{}", original.addr),
            Key::from_bytes([7; 32]),
        )
        .expect("client");
        let err = wrong.session_new(&anonymous).await.expect_err("401");
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    });
}
