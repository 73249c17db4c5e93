"""Features upstream does not have, driven like a frontend would: replay
protection (`--requestttl`) and a server whose sessions, rate limits and
login back-off live in Redis (`--redis-url`, `--sessionstore redis`)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import _binary, _stop, run_autosetup, start_server
from helpers import BODY_401, new_session, session_exists, sign_up
from authnz_client import request_object


def _own_server(tag: str, args: list[str]):
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: cannot start a server with a custom config")
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix=f"authnz-e2e-{tag}-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    if result.returncode != 0:
        pytest.fail(f"autosetup failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    srv = start_server(binary, basedir, tmp / f"authnzrv-{tag}.log", args)
    return srv, tmp


@pytest.fixture(scope="module")
def ttl_server():
    srv, tmp = _own_server("ttl", ["--requestttl=30"])
    yield srv
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def _client(srv):
    return srv.client(client_ipaddr=f"10.77.{random.randrange(256)}.{random.randrange(1, 255)}")


def test_requestttl_refuses_replays_old_and_future_tokens(ttl_server):
    c = _client(ttl_server)
    obj = request_object("session-exists", {"session_token": "x" * 43}, 1, c.client_ipaddr)
    body = c.encrypt_object(obj)
    status, _ = c.post_body(body)
    assert status == 200
    assert c.post_body(body) == (401, BODY_401)
    now = int(time.time())
    assert c.send_object(obj, at_time=now - 120) == (401, BODY_401)
    assert c.send_object(obj, at_time=now + 120) == (401, BODY_401)
    # A new token for the very same request object is not a replay.
    assert c.send_object(obj)[0] == 200


def _redis_cli(url: str, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-u", url, *args], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def redis_server():
    url = os.environ.get("AUTHNZ_TEST_REDIS_URL")
    if not url:
        if os.environ.get("AUTHNZ_REQUIRE_SERVICES") == "1":
            pytest.fail("AUTHNZ_TEST_REDIS_URL is unset but services are required", pytrace=False)
        pytest.skip("AUTHNZ_TEST_REDIS_URL is unset")
    prefix = f"authnz_e2e_{os.getpid()}_{random.randrange(10**9)}:"
    srv, tmp = _own_server(
        "redis", ["--redis-url", url, "--redisprefix", prefix, "--sessionstore", "redis"]
    )
    yield srv, url, prefix
    _stop(srv.proc)
    keys = _redis_cli(url, "--scan", "--pattern", f"{prefix}*").split()
    if keys:
        _redis_cli(url, "DEL", *keys)
    shutil.rmtree(tmp, ignore_errors=True)


def test_sessions_live_in_redis(redis_server):
    srv, url, prefix = redis_server
    c = _client(srv)
    user = sign_up(c, "redis")
    anon = new_session(c)["session_token"]
    env = c.ok("user-login", {"email": user["email"], "password": user["password"],
                              "session_token": anon})
    assert env["success"] is True, env
    # The presented session is consumed by the login (deleted from Redis).
    assert session_exists(c, anon)["success"] is False
    token = new_session(c, user_id=user["user_id"])["session_token"]
    env = session_exists(c, token)
    assert env["success"] is True, env
    assert env["response"]["session_info"]["user_id"] == user["user_id"]
    keys = _redis_cli(url, "--scan", "--pattern", f"{prefix}s:*").split()
    assert f"{prefix}s:{token}" in keys
    # Rate-limit state is there too (one key per request type and address).
    assert _redis_cli(url, "--scan", "--pattern", f"{prefix}rl:*").split()
    env = c.ok("user-logout", {"session_token": token, "user_id": user["user_id"]})
    assert env["success"] is True, env
    assert session_exists(c, token)["success"] is False
    assert f"{prefix}s:{token}" not in _redis_cli(url, "--scan", "--pattern", f"{prefix}s:*").split()
