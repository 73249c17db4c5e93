"""Signed tokens for downstream services (not upstream): `session-jwt-issue`
and `GET /.well-known/jwks.json`, checked with an independent library
(PyJWT), the way a downstream service would: tokens verify against the JWKS
fetched over HTTP, across a key rotation made with `authnzrv jwks rotate`;
tampered, foreign-key and expired tokens are rejected by PyJWT; anonymous
and unknown sessions are refused."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
import shutil
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import _binary, _server_env, _stop, run_autosetup, start_server
from helpers import new_session

JWKS_PATH = "/.well-known/jwks.json"
ISSUER = "authnzerver"


def issue(client, token: str, audience: str = "billing", secs: int = 60) -> dict:
    return client.ok(
        "session-jwt-issue",
        {"session_token": token, "audience": audience, "expires_seconds": secs},
    )


def issued(client, token: str, audience: str = "billing", secs: int = 60) -> str:
    env = issue(client, token, audience, secs)
    assert env["success"] is True, env
    return env["response"]["jwt"]


def decode(jwks: jwt.PyJWKClient, token: str, audience: str = "billing") -> dict:
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwks_publishes_public_keys_only(server):
    r = requests.get(server.url + JWKS_PATH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    keys = r.json()["keys"]
    assert 1 <= len(keys) <= 2, keys
    for k in keys:
        assert set(k) == {"kty", "crv", "x", "kid", "alg", "use"}, k
        assert (k["kty"], k["crv"], k["alg"], k["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
        assert "d" not in k


def test_token_verifies_with_pyjwt(server, client):
    session = new_session(client, user_id=1)["session_token"]
    token = issued(client, session, "billing", 120)
    jwks = jwt.PyJWKClient(server.url + JWKS_PATH)
    claims = decode(jwks, token)
    assert claims["sub"] == "1"
    assert claims["role"] == "superuser"
    assert claims["aud"] == "billing"
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["sid"] and claims["sid"] != session and claims["sid"] not in session
    assert session not in token
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"

    # Another audience is refused by the verifier.
    with pytest.raises(jwt.InvalidAudienceError):
        decode(jwks, token, audience="reports")


def test_tampered_and_foreign_tokens_rejected(server, client):
    session = new_session(client, user_id=1)["session_token"]
    token = issued(client, session)
    jwks = jwt.PyJWKClient(server.url + JWKS_PATH)
    decode(jwks, token)  # the untouched token verifies

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "staff"
    forged = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    with pytest.raises(jwt.InvalidSignatureError):
        decode(jwks, forged)

    # One flipped bit of the signature.
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 1
    with pytest.raises(jwt.InvalidSignatureError):
        decode(jwks, ".".join([header, payload, b64url(bytes(raw))]))

    # Signed by another key under the published kid.
    kid = jwt.get_unverified_header(token)["kid"]
    foreign = jwt.encode(
        {**claims, "role": "superuser"},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        decode(jwks, foreign)


def test_expired_token_rejected(server, client):
    session = new_session(client, user_id=1)["session_token"]
    token = issued(client, session, secs=1)
    jwks = jwt.PyJWKClient(server.url + JWKS_PATH)
    decode(jwks, token)
    time.sleep(2.2)
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(jwks, token)


def test_refusals(server, client):
    anonymous = new_session(client, user_id=None)["session_token"]
    env = issue(client, anonymous)
    assert env["success"] is False, env
    assert env["response"]["jwt"] is None
    assert "anonymous" in env["failure_reason"]

    env = issue(client, "no-such-session-token")
    assert env["success"] is False, env
    assert env["response"]["jwt"] is None
    assert env["failure_reason"] == "session does not exist or expired"

    session = new_session(client, user_id=1)["session_token"]
    env = issue(client, session, secs=0)
    assert env["success"] is False, env
    # The lifetime is capped by jwtmaxexpiry (900 s by default).
    env = issue(client, session, secs=10**6)
    assert env["success"] is True, env
    assert env["response"]["expires_seconds"] == 900
    claims = jwt.decode(env["response"]["jwt"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900


@pytest.fixture
def rotating_server():
    """A server of its own (fresh autosetup basedir) that reads the signing
    keys again every second (`--jwtkeyreload 1`)."""
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-jwt-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    assert result.returncode == 0, result.stderr
    assert "JWT signing key made" in result.stdout, result.stdout
    srv = start_server(binary, basedir, tmp / "authnzrv.log", ["--jwtkeyreload", "1"])
    yield srv
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def rotate(srv) -> dict:
    out = subprocess.run(
        [str(srv.binary), "--basedir", str(srv.basedir), "jwks", "rotate", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=_server_env(),
        cwd=srv.basedir,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def kids(srv) -> list[str]:
    return [k["kid"] for k in requests.get(srv.url + JWKS_PATH, timeout=10).json()["keys"]]


def test_rotation(rotating_server):
    srv = rotating_server
    client = srv.client("10.99.0.1")
    first_kids = kids(srv)
    assert len(first_kids) == 1  # made by autosetup
    session = new_session(client, user_id=1)["session_token"]
    old = issued(client, session, secs=600)
    assert jwt.get_unverified_header(old)["kid"] == first_kids[0]
    # Caches the set, as services do; may fetch it again at once on an
    # unknown kid (PyJWT waits 30 s by default, which a test cannot).
    verifier = jwt.PyJWKClient(srv.url + JWKS_PATH, cooldown_duration=0)
    decode(verifier, old)

    rotated = rotate(srv)
    assert rotated["published"] == [rotated["kid"], first_kids[0]]
    time.sleep(1.5)  # > jwtkeyreload
    assert kids(srv) == [rotated["kid"], first_kids[0]]
    new = issued(client, session, secs=600)
    assert jwt.get_unverified_header(new)["kid"] == rotated["kid"]
    # The cached verifier meets an unknown kid, fetches the set again, and
    # both tokens verify.
    assert decode(verifier, new)["sub"] == "1"
    assert decode(verifier, old)["sub"] == "1"

    # A second rotation retires the first key: tokens it signed no longer
    # verify against the published set.
    again = rotate(srv)
    assert again["removed"] == [first_kids[0]]
    time.sleep(1.5)
    fresh = jwt.PyJWKClient(srv.url + JWKS_PATH)
    with pytest.raises(jwt.PyJWKClientError):
        decode(fresh, old)
    assert decode(fresh, new)["sub"] == "1"
