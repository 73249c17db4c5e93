//! The Python end-to-end suite: a virtualenv under the target directory with
//! the pinned requirements, then `pytest tests/e2e` against a built
//! `authnzrv` (passed in `AUTHNZRV`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::services::{self, Probe};
use crate::steps;

/// The requirements file, relative to the workspace root.
const REQUIREMENTS: &str = "tests/e2e/requirements.txt";
/// Written into the venv after a successful install; holds the requirements
/// text it was made from, so an unchanged venv is reused as it is.
const STAMP: &str = ".authnz-requirements";

/// The Python used to create the venv (`AUTHNZ_PYTHON` overrides).
fn base_python() -> String {
    std::env::var("AUTHNZ_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether the base Python can make virtualenvs (`venv` and `ensurepip`).
/// Without it, authnz-client's smoke test against the original Python
/// authnzerver skips (or fails under `AUTHNZ_REQUIRE_SERVICES=1`).
pub fn python_venv_available() -> bool {
    Command::new(base_python())
        .args(["-c", "import venv, ensurepip"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Creates or reuses `<target>/e2e-venv`; returns its interpreter.
pub fn ensure_venv(root: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = target_dir.join("e2e-venv");
    let python = venv.join("bin").join("python");
    let wanted = std::fs::read_to_string(root.join(REQUIREMENTS))
        .map_err(|e| anyhow::anyhow!("cannot read {REQUIREMENTS}: {e}"))?;
    let stamp = venv.join(STAMP);

    let python_works = python.exists()
        && Command::new(&python)
            .args(["-c", "import sys"])
            .status()
            .is_ok_and(|s| s.success());
    if python_works && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        println!(
            "reusing {} (requirements unchanged)",
            venv.to_string_lossy()
        );
        return Ok(python);
    }

    if !python_works {
        steps::run(
            Command::new(base_python())
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
    }
    steps::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "-r",
            ])
            .arg(root.join(REQUIREMENTS)),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// How to install what the browser test needs (Debian, Ubuntu).
pub const CHROMIUM_INSTALL: &str = "apt-get install -y chromium chromium-driver";

/// Whether Chromium and its WebDriver are on the PATH (the browser test of
/// the example site needs both).
pub fn chromium_available() -> bool {
    let on_path = |names: &[&str]| {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| names.iter().any(|n| dir.join(n).is_file()))
        })
    };
    on_path(&["chromium", "chromium-browser"]) && on_path(&["chromedriver"])
}

/// Runs pytest on `tests/e2e` against the server binary and the example
/// frontend binary (`binaries`).
pub fn pytest(
    root: &Path,
    target_dir: &Path,
    python: &Path,
    binaries: (&Path, &Path),
    filter: Option<&str>,
    probes: &[Probe],
) -> anyhow::Result<()> {
    let (server, frontend) = binaries;
    let mut cmd = Command::new(python);
    cmd.current_dir(root)
        .args(["-m", "pytest", "tests/e2e", "-v", "-ra", "-o"])
        .arg(format!(
            "cache_dir={}",
            target_dir.join("pytest-cache").to_string_lossy()
        ))
        .env("AUTHNZRV", server)
        .env("AUTHNZ_FRONTEND", frontend)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(f) = filter {
        cmd.args(["-k", f]);
    }
    services::apply_env(&mut cmd, probes);
    let status = steps::status(&mut cmd)?;
    match status.code() {
        Some(0) => Ok(()),
        // 5 = no tests collected: fine when a filter chose nothing here,
        // a failure otherwise (a suite that runs nothing proves nothing).
        Some(5) if filter.is_some() => {
            println!("pytest: no e2e test matches the filter");
            Ok(())
        }
        _ => anyhow::bail!("pytest exited with {status}"),
    }
}
