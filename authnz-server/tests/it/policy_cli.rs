//! `authnzrv policy check FILE` and policy validation at start-up, through
//! the real binary: a valid file prints the review table, a file with a typo
//! is refused with a message naming the file and the entry. Also the
//! binary started with no configuration at all.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_authnzrv");
const DEFAULT_POLICY: &str = include_str!("../../../data/default-permissions-model.json");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("AUTHNZERVER_PERMISSIONS")
        .output()
        .expect("run authnzrv")
}

/// The default policy with one action misspelt.
fn typo_policy(dir: &Path) -> std::path::PathBuf {
    let mut v: serde_json::Value = serde_json::from_str(DEFAULT_POLICY).unwrap();
    v["role_policy"]["staff"]["allowed_actions_for_other"]["public"][2] = "veiw".into();
    let path = dir.join("typo-policy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    path
}

const TYPO_ENTRY: &str =
    "role_policy.staff.allowed_actions_for_other.public[2]: unknown action \"veiw\"";

#[test]
fn check_prints_the_table_for_a_valid_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, DEFAULT_POLICY).unwrap();
    let out = run(&["policy", "check", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("valid permissions policy"), "{stdout}");
    for role in ["superuser", "staff", "authenticated", "anonymous", "locked"] {
        assert!(
            stdout.contains(&format!("role {role}\n")),
            "{role}: {stdout}"
        );
    }
    assert!(
        stdout.contains("max_requests_per_minute: value < 6000"),
        "{stdout}"
    );
}

#[test]
fn check_refuses_a_typo_naming_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = typo_policy(dir.path());
    let out = run(&["policy", "check", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains(TYPO_ENTRY), "{stderr}");
    assert!(out.stdout.is_empty());

    let missing = dir.path().join("nope.json");
    let out = run(&["policy", "check", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json"));

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"roles\": [").unwrap();
    let out = run(&["policy", "check", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed JSON"));
}

#[test]
fn check_knows_the_group_policy() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, group_policy: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(DEFAULT_POLICY).unwrap();
        v["group_policy"] = group_policy;
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        path
    };
    // The default file has none: the built-in group rules are printed.
    let default = dir.path().join("default.json");
    std::fs::write(&default, DEFAULT_POLICY).unwrap();
    let out = run(&["policy", "check", default.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("groups: managed by superuser, staff; owners manage their members"),
        "{out:?}"
    );
    let good = write(
        "groups.json",
        serde_json::json!({"manager_roles": ["superuser"], "owners_manage_members": false}),
    );
    let out = run(&["policy", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("groups: managed by superuser; owners do not manage their members"),
        "{out:?}"
    );
    let bad = write(
        "bad-groups.json",
        serde_json::json!({"manager_roles": ["superuser", "anonymous"]}),
    );
    let out = run(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(bad.to_str().unwrap()), "{stderr}");
    assert!(
        stderr
            .contains("group_policy.manager_roles[1]: the role \"anonymous\" cannot manage groups"),
        "{stderr}"
    );
}

#[test]
fn server_start_up_refuses_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let basedir = dir.path().join("base");
    let out = run(&[
        "--autosetup",
        "--no-prompt",
        "--basedir",
        basedir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "autosetup: {out:?}");
    let policy = typo_policy(dir.path());
    let mut child = Command::new(BIN)
        .args([
            "--basedir",
            basedir.to_str().unwrap(),
            "--port",
            "0",
            "--permissions",
            policy.to_str().unwrap(),
        ])
        .env_remove("AUTHNZERVER_PERMISSIONS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start authnzrv");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("authnzrv started with an invalid policy");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains(policy.to_str().unwrap()) && stderr.contains(TYPO_ENTRY),
        "{stderr}"
    );
}

/// A bare `authnzrv` in a directory without `.env`, with a clean
/// environment, fails and says to run `authnzrv --autosetup` (with the same
/// `--basedir` when one was given); before, it printed only the missing
/// `AUTHNZERVER_AUTHDB` item.
#[test]
fn bare_authnzrv_without_configuration_says_to_run_autosetup() {
    let dir = tempfile::tempdir().unwrap();
    let bare = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run authnzrv")
    };
    let out = bare(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains("Config item: \"AUTHNZERVER_AUTHDB\" is invalid/missing"),
        "{stderr}"
    );
    assert!(stderr.contains("run `authnzrv --autosetup`"), "{stderr}");
    assert!(stderr.contains("No configuration found"), "{stderr}");

    let base = dir.path().join("base");
    let base = base.to_str().unwrap();
    let out = bare(&["--basedir", base]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains(&format!("run `authnzrv --autosetup --basedir {base}`")),
        "{stderr}"
    );

    // With a configuration that is merely incomplete, no such advice.
    std::fs::write(dir.path().join(".env"), "AUTHNZERVER_PORT=1\n").unwrap();
    let out = bare(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains("AUTHNZERVER_AUTHDB"), "{stderr}");
    assert!(!stderr.contains("--autosetup"), "{stderr}");
}
