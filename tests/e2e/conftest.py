"""Fixtures for the end-to-end suite: a real `authnzrv` process.

The binary comes from `$AUTHNZRV` (`cargo xtask test` sets it). One server is
started per test session:

1. `$AUTHNZRV --autosetup --no-prompt --basedir DIR` in a fresh temp dir
   (PROTOCOL.md 7.4: secret key, PII salt, SQLite DB, admin credentials, `.env`);
2. `$AUTHNZRV --basedir DIR --port PORT` on a free port (the basedir's `.env`
   is loaded; the command-line port wins);
3. wait until `GET /health` answers 200 (bounded; the server's output is
   shown if it never does);
4. stop it at the end.

Tests share that server, so each test uses its own e-mail addresses and its
own `client_ipaddr` (rate-limit keys, 4.1, are per client address) and never
depends on another test's data. Failed tests get the tail of the server log
attached to their report.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from authnz_client import Client

STARTUP_TIMEOUT = 30.0
AUTOSETUP_TIMEOUT = 60.0

_server_log: Path | None = None


@dataclass
class Server:
    binary: Path
    basedir: Path
    port: int
    url: str
    key: bytes
    admin_email: str
    admin_password: str
    log: Path
    proc: subprocess.Popen

    def client(self, client_ipaddr: str = "127.0.0.1") -> Client:
        return Client(self.url, self.key, client_ipaddr=client_ipaddr)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(text.splitlines()[-lines:])


def _binary() -> Path:
    value = os.environ.get("AUTHNZRV")
    if not value:
        pytest.fail(
            "AUTHNZRV is not set: point it at a built authnzrv binary "
            "(`cargo xtask test` does this for you)",
            pytrace=False,
        )
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"AUTHNZRV={value} is not an executable file", pytrace=False)
    return path.resolve()


def _server_env() -> dict:
    """The real environment minus anything that would reconfigure the server
    behind the test's back (PROTOCOL.md 7.1: env vars override the command line)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUTHNZERVER_") and k != "PORT"
    }
    env.setdefault("RUST_BACKTRACE", "1")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_autosetup(binary: Path, basedir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), "--autosetup", "--no-prompt", "--basedir", str(basedir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=AUTOSETUP_TIMEOUT,
        env=_server_env(),
        cwd=basedir.parent,
    )


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"authnzrv exited with {proc.returncode} before it was healthy;"
                f" its output:\n{log.read_text(errors='replace')}"
            )
        try:
            r = requests.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.1)
    raise RuntimeError(
        f"authnzrv did not answer GET /health with 200 within {STARTUP_TIMEOUT}s"
        f" (last: {last}); its output:\n{log.read_text(errors='replace')}"
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def start_server(binary: Path, basedir: Path, log: Path, extra_args=()) -> Server:
    """Start authnzrv on a free port serving `basedir` (made by autosetup),
    with `extra_args` on its command line; wait until /health answers. A few
    attempts, since another process may take the port between our probe and
    the server's bind. The caller stops it with `_stop(server.proc)`."""
    key = (basedir / ".authnzerver-secret-key").read_bytes().strip().strip(b'"')
    creds = (basedir / ".authnzerver-admin-credentials").read_text()
    admin_email, _, admin_password = creds.rstrip("\n").partition(" ")
    attempts = 3
    for attempt in range(1, attempts + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(binary), "--basedir", str(basedir), "--port", str(port), *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_server_env(),
                cwd=basedir,
            )
        try:
            _wait_healthy(proc, url, log)
            break
        except RuntimeError as e:
            _stop(proc)
            if attempt == attempts:
                pytest.fail(str(e), pytrace=False)
    return Server(
        binary=binary,
        basedir=basedir,
        port=port,
        url=url,
        key=key,
        admin_email=admin_email,
        admin_password=admin_password,
        log=log,
        proc=proc,
    )


@pytest.fixture(scope="session")
def autosetup_dir():
    """A basedir that `--autosetup --no-prompt` has filled (not served)."""
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: testing an external server, no autosetup")
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    if result.returncode != 0:
        pytest.fail(
            f"autosetup exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    missing = [
        name
        for name in (
            ".authnzerver-secret-key",
            ".authnzerver-salt",
            ".authdb.sqlite",
            ".authnzerver-admin-credentials",
            ".env",
        )
        if not (basedir / name).is_file()
    ]
    if missing:
        pytest.fail(
            f"autosetup exited 0 but did not write {', '.join(missing)} in {basedir}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    yield basedir, result
    shutil.rmtree(tmp, ignore_errors=True)


def _external_server() -> Server | None:
    """AUTHNZ_E2E_URL (+ AUTHNZ_E2E_KEY, the Fernet key or a file holding it,
    and optionally AUTHNZ_E2E_ADMIN = "<email> <password>" or a file) runs the
    suite against a server that is already running, e.g. `docker compose up`.
    Tests that need the autosetup directory are then skipped."""
    url = os.environ.get("AUTHNZ_E2E_URL")
    if not url:
        return None

    def value(name: str) -> str:
        v = os.environ.get(name, "")
        return Path(v).read_text() if v and Path(v).is_file() else v

    key = value("AUTHNZ_E2E_KEY").strip().strip('"').encode()
    if not key:
        pytest.fail("AUTHNZ_E2E_URL is set but AUTHNZ_E2E_KEY is not", pytrace=False)
    admin_email, _, admin_password = value("AUTHNZ_E2E_ADMIN").strip().partition(" ")
    return Server(
        binary=Path("/nonexistent"),
        basedir=Path("/nonexistent"),
        port=urlsplit(url).port or 80,
        url=url.rstrip("/"),
        key=key,
        admin_email=admin_email,
        admin_password=admin_password,
        log=Path("/nonexistent"),
        proc=None,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def server(request):
    """A running authnzrv on a free port, serving from the autosetup basedir
    (or the external server of AUTHNZ_E2E_URL)."""
    external = _external_server()
    if external is not None:
        yield external
        return
    global _server_log
    basedir, _ = request.getfixturevalue("autosetup_dir")
    binary = _binary()
    srv = start_server(binary, basedir, basedir.parent / "authnzrv.log")
    _server_log = srv.log
    yield srv
    _stop(srv.proc)


@pytest.fixture
def client(server) -> Client:
    """A client with its own `client_ipaddr`, so rate limits of one test do
    not leak into another."""
    rnd = random.Random()
    addr = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    return server.client(client_ipaddr=addr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and _server_log is not None:
        try:
            lines = _server_log.read_text(errors="replace").splitlines()[-40:]
        except OSError:
            return
        report.sections.append(("authnzrv log (last 40 lines)", "\n".join(lines)))
