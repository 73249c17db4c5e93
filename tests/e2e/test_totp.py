"""Second factors end to end (PROTOCOL.md 3.2, "Second factors"): TOTP
enrolment and confirmation, the two-step login, a wrong code counting toward
the automatic lock, replay, recovery codes and disabling, against a real
authnzrv. Codes are computed by `pyotp` from the secret the server hands
out, apart from the server's own code.

The test runs on a dedicated server with `userlocktries=2`: its failure
counts and lock must not disturb the shared one. Each step that needs a
fresh code waits for the next 30-second step (a code is accepted once, and
so is every earlier step's), so the test takes a little over a minute.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from conftest import _binary, _stop, run_autosetup, start_server
from helpers import MSG_LOGIN_OK, new_session, session_exists, sign_up

LOCK_TRIES = 2
MSG_SECOND_FACTOR = "A second factor is required."
MSG_AUTO_LOCK = (
    "Your user account has been locked after repeated login failures. "
    "Try again in an hour or contact the server admins."
)


@pytest.fixture(scope="module")
def totp_server():
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: cannot start a server with a custom lock config")
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-totp-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    if result.returncode != 0:
        pytest.fail(f"autosetup failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    env_file = basedir / ".env"
    lines = [
        line
        for line in env_file.read_text().splitlines()
        if not line.startswith("AUTHNZERVER_USERLOCKTRIES=")
    ]
    env_file.write_text("\n".join(lines + [f"AUTHNZERVER_USERLOCKTRIES={LOCK_TRIES}"]) + "\n")
    srv = start_server(
        binary, basedir, tmp / "authnzrv-totp.log", [f"--userlocktries={LOCK_TRIES}"]
    )
    yield srv
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def fresh_code(totp: pyotp.TOTP, used: set[int]) -> str:
    """The code of a time step later than every step used so far (waiting
    for it if needed); records its step as used."""
    while True:
        step = int(time.time()) // 30
        if not used or step > max(used):
            used.add(step)
            return totp.at(step * 30)
        time.sleep(max(0.2, (step + 1) * 30 - time.time() + 0.2))


def wrong_code(totp: pyotp.TOTP) -> str:
    """A code valid in no step of the server's window now."""
    now = int(time.time())
    valid = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def login(client, email, password):
    token = new_session(client)["session_token"]
    env = client.ok(
        "user-login", {"session_token": token, "email": email, "password": password}
    )
    return token, env


def first_step(client, user):
    token, env = login(client, user["email"], user["password"])
    assert env["success"] is False, env
    assert env["failure_reason"] == "second factor required", env
    assert env["messages"] == [MSG_SECOND_FACTOR], env
    r = env["response"]
    assert r["user_id"] == user["user_id"], env
    assert r["second_factor"] == ["totp", "recovery"], env
    assert isinstance(r["login_ticket"], str) and len(r["login_ticket"]) >= 40, env
    assert session_exists(client, token)["success"] is True, "kept for the second step"
    return token, r["login_ticket"]


def second_step(client, token, ticket, **factor):
    return client.ok(
        "user-login-second-factor",
        {"session_token": token, "login_ticket": ticket, **factor},
    )


def assert_logged_in(env, user):
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOGIN_OK], env
    assert env["response"]["user_id"] == user["user_id"], env
    assert env["response"]["user_role"] == "authenticated", env


def test_totp_life(totp_server):
    client = totp_server.client(client_ipaddr="10.77.0.1")
    user = sign_up(client, "totp")
    uid = user["user_id"]
    kept = new_session(client, user_id=uid)["session_token"]
    other = new_session(client, user_id=uid)["session_token"]

    # Enroll: a secret and an otpauth URI naming it.
    env = client.ok("user-totp-enroll", {"user_id": uid, "password": user["password"]})
    assert env["success"] is True, env
    secret = env["response"]["secret_base32"]
    uri = urlsplit(env["response"]["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp", uri
    assert user["email"] in unquote(uri.path), uri
    assert parse_qs(uri.query)["secret"] == [secret], uri
    totp = pyotp.TOTP(secret)  # SHA-1, 6 digits, 30 s
    assert pyotp.parse_uri(env["response"]["otpauth_uri"]).secret == secret
    used: set[int] = set()

    # Not enabled before the confirmation: the password alone still logs in.
    _, env = login(client, user["email"], user["password"])
    assert_logged_in(env, user)

    # Confirm: enabled, ten recovery codes, the other sessions end.
    env = client.ok("user-totp-confirm", {"user_id": uid, "totp_code": wrong_code(totp)})
    assert env["failure_reason"] == "wrong code", env
    env = client.ok(
        "user-totp-confirm",
        {"user_id": uid, "totp_code": fresh_code(totp, used), "session_token": kept},
    )
    assert env["success"] is True, env
    codes = env["response"]["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    assert session_exists(client, kept)["success"] is True
    assert session_exists(client, other)["success"] is False

    # The login now needs a code; the confirmation's code is refused again.
    token, ticket = first_step(client, user)
    replayed = totp.at(max(used) * 30)
    env = second_step(client, token, ticket, totp_code=replayed)
    assert env["failure_reason"] == "wrong second factor", env

    # The right code logs in (a success clears the failure count).
    env = second_step(client, token, ticket, totp_code=fresh_code(totp, used))
    assert_logged_in(env, user)
    assert session_exists(client, token)["success"] is False, "the session is consumed"

    # The same code on a new ticket: refused (replay).
    token, ticket = first_step(client, user)
    env = second_step(client, token, ticket, totp_code=totp.at(max(used) * 30))
    assert env["failure_reason"] == "wrong second factor", env

    # A recovery code works once.
    env = second_step(client, token, ticket, recovery_code=codes[0])
    assert_logged_in(env, user)
    token, ticket = first_step(client, user)
    env = second_step(client, token, ticket, recovery_code=codes[0])
    assert env["failure_reason"] == "wrong second factor", env

    # Wrong codes count toward the lock like wrong passwords: with
    # userlocktries=2 the reused recovery code was failure 1, this is 2,
    # the next one locks the account.
    env = second_step(client, token, ticket, totp_code="12345x")
    assert env["failure_reason"] == "wrong second factor", env
    env = second_step(client, token, ticket, recovery_code="aaaa-bbbb-cccc-dddd")
    assert env["success"] is False and "failure_reason" not in env, env
    assert env["messages"] == [MSG_AUTO_LOCK], env
    info = client.ok("user-lookup-email", {"email": user["email"]})["response"]["user_info"]
    assert info["user_role"] == "locked" and info["is_active"] is False, info
    # Locked: even a right code is refused (checked before the code, so its
    # step stays unused).
    env = second_step(client, token, ticket, totp_code=fresh_code(totp, set(used)))
    assert env["success"] is False, env

    # Unlocked by an admin, the account disables TOTP with password + code.
    admin = totp_server.client(client_ipaddr="10.77.0.2")
    env = admin.ok("internal-user-lock", {"target_userid": uid, "action": "unlock"})
    assert env["success"] is True, env
    kept = new_session(client, user_id=uid)["session_token"]
    env = client.ok(
        "user-totp-disable",
        {"user_id": uid, "password": user["password"], "totp_code": fresh_code(totp, used),
         "session_token": kept},
    )
    assert env["success"] is True, env
    assert session_exists(client, kept)["success"] is True
    _, env = login(client, user["email"], user["password"])
    assert_logged_in(env, user)
