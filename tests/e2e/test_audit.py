"""The audit log (not upstream), as a frontend and an operator see it:
`internal-audit-list` after a failed and a successful login (right event,
outcome and subject, the client address stored hashed by default, never
the password), its keyset pagination, and `authnzrv audit` reading the
events a server wrote before a graceful shutdown."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import _binary, _server_env, _stop, run_autosetup, start_server
from helpers import new_session, sign_up


def login(client, email: str, password: str) -> dict:
    token = new_session(client)["session_token"]
    return client.ok(
        "user-login", {"session_token": token, "email": email, "password": password}
    )


def audit_list(client, **body) -> dict:
    env = client.ok("internal-audit-list", body)
    assert env["success"] is True, env
    return env["response"]


def test_login_failure_then_success_recorded(client):
    user = sign_up(client, "audit-login")
    uid = user["user_id"]
    wrong = user["password"] + "-not"
    assert login(client, user["email"], wrong)["success"] is False
    assert login(client, user["email"], user["password"])["success"] is True

    reply = audit_list(client, user_id=uid, limit=10)
    events = reply["events"]
    assert [e["event"] for e in events] == [
        "login.succeeded",
        "login.failed",
        "user.verified",
        "user.signup",
    ], events
    assert reply["next_cursor"] is None
    ok, failed = events[0], events[1]
    assert (ok["outcome"], ok["subject_user_id"], ok["actor_user_id"]) == ("ok", uid, uid)
    assert (failed["outcome"], failed["reason"]) == ("failed", "wrong-password")
    assert failed["subject_user_id"] == uid
    # Stored hashed (the default `auditaddress`): the same client, the same
    # 24-hex-digit stand-in, never the address itself.
    assert failed["client_address"] == ok["client_address"]
    assert failed["client_address"] != client.client_ipaddr
    assert len(failed["client_address"]) == 24
    int(failed["client_address"], 16)
    assert failed["request_id"]
    text = json.dumps(reply)
    for secret in (user["password"], wrong, user["email"]):
        assert secret not in text


def test_pages_by_cursor(client):
    user = sign_up(client, "audit-pages")
    for _ in range(3):
        login(client, user["email"], user["password"] + "-x")
    seen, cursor, pages = [], None, 0
    while True:
        body = {"user_id": user["user_id"], "limit": 2}
        if cursor:
            body["cursor"] = cursor
        reply = audit_list(client, **body)
        pages += 1
        seen += [e["id"] for e in reply["events"]]
        # Another event between pages does not shift the pages.
        login(client, user["email"], user["password"] + "-y")
        cursor = reply["next_cursor"]
        if cursor is None:
            break
    # sign-up, verification, three failures.
    assert len(seen) == 5 and pages == 3, seen
    assert seen == sorted(seen, reverse=True)
    env = client.ok("internal-audit-list", {"limit": 5, "cursor": "nonsense"})
    assert env["success"] is False
    assert env["failure_reason"] == "invalid cursor"


@pytest.fixture
def own_server():
    """A server of its own, stopped by the test."""
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-audit-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    assert result.returncode == 0, result.stderr
    srv = start_server(binary, basedir, tmp / "authnzrv.log", ["--auditaddress", "truncated"])
    yield srv
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def test_admin_cli_reads_what_the_server_wrote(own_server):
    srv = own_server
    client = srv.client("198.51.100.23")
    assert login(client, srv.admin_email, "not-the-admin-password")["success"] is False
    # SIGTERM: the server answers what it has, writes the queued events, stops.
    _stop(srv.proc)
    assert srv.proc.returncode == 0, srv.log_tail()
    out = subprocess.run(
        [str(srv.binary), "--basedir", str(srv.basedir), "audit", "--event", "login.failed", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=_server_env(),
        cwd=srv.basedir,
    )
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["events"]
    assert len(events) == 1, events
    assert events[0]["subject_user_id"] == 1
    assert events[0]["client_address"] == "198.51.100.0"
    assert "not-the-admin-password" not in out.stdout
