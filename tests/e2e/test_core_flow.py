"""The main frontend flow, end to end: anonymous session, sign-up,
verification, login, user session, password re-check, logout (PROTOCOL.md 3.1-3.3)."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import (
    ISO_RE,
    MSG_LOGIN_OK,
    MSG_LOGOUT_OK,
    MSG_PASSCHECK_OK,
    MSG_SESSION_LOOKUP_OK,
    MSG_SESSION_NEW,
    MSG_USER_CREATED,
    MSG_VERIFIED,
    SESSION_INFO_KEYS,
    TOKEN_RE,
    assert_session_gone,
    expires_in,
    session_exists,
    strong_password,
    unique_email,
)


def test_core_flow(client):
    # 1. anonymous session (3.1 session-new): user_id null -> anonymous (2)
    expires = expires_in(1)
    env = client.ok(
        "session-new",
        {
            "ip_address": "127.0.0.1",
            "user_agent": "Mozilla/5.0 (e2e)",
            "user_id": None,
            "expires": expires,
            "extra_info_json": None,
        },
    )
    assert env["success"] is True
    assert env["messages"] == [MSG_SESSION_NEW]
    assert "failure_reason" not in env
    anon = env["response"]
    assert TOKEN_RE.match(anon["session_token"]), anon
    assert anon["expires"] == expires  # parsed and re-formatted per 1.6
    assert ISO_RE.match(anon["expires"]) and "." in anon["expires"]
    assert env["response"]["success"] is True
    assert env["response"]["messages"] == [MSG_SESSION_NEW]

    env = session_exists(client, anon["session_token"])
    assert env["success"] is True, env
    assert env["response"]["session_info"]["user_id"] == 2
    assert env["response"]["session_info"]["user_role"] == "anonymous"

    # 2. sign up (3.3 user-new)
    full_name = "Core Flow User"
    email = unique_email("core")
    password = strong_password(email, full_name)
    env = client.ok("user-new", {"full_name": full_name, "email": email, "password": password})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_USER_CREATED]
    assert "failure_reason" not in env
    new = env["response"]
    assert new["send_verification"] is True
    assert new["user_email"] == email
    assert isinstance(new["user_id"], int) and new["user_id"] > 3
    assert isinstance(new["system_id"], str) and len(new["system_id"]) == 36
    user_id = new["user_id"]

    # 3. verify the e-mail address (3.3 user-set-emailverified)
    env = client.ok("user-set-emailverified", {"email": email})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_VERIFIED]
    assert env["response"]["user_id"] == user_id
    assert env["response"]["is_active"] is True
    assert env["response"]["user_role"] == "authenticated"

    # 4. log in with the anonymous session (3.2 user-login)
    env = client.ok(
        "user-login",
        {"session_token": anon["session_token"], "email": email, "password": password},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOGIN_OK]
    assert "failure_reason" not in env
    assert env["response"]["user_id"] == user_id
    assert env["response"]["user_role"] == "authenticated"

    # the presented session is always consumed by user-login
    assert_session_gone(client, anon["session_token"])

    # 5. a session for the logged-in user
    env = client.ok(
        "session-new",
        {
            "ip_address": "::0:1",  # canonicalised to ::1 (3.1 step 1)
            "user_agent": "Mozilla/5.0 (e2e)",
            "user_id": user_id,
            "expires": expires,
            "extra_info_json": {"k": "v"},
        },
    )
    assert env["success"] is True, env
    token = env["response"]["session_token"]

    # 6. session-exists: exactly the 18 keys of the session_info object (3.0)
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    env = session_exists(client, token)
    assert env["success"] is True, env
    assert env["messages"] == [MSG_SESSION_LOOKUP_OK]
    info = env["response"]["session_info"]
    assert set(info) == SESSION_INFO_KEYS, sorted(set(info) ^ SESSION_INFO_KEYS)
    assert info["user_id"] == user_id
    assert info["system_id"] == new["system_id"]
    assert info["full_name"] == full_name
    assert info["email"] == email
    assert info["email_verified"] is True
    assert info["is_active"] is True
    assert info["user_role"] == "authenticated"
    assert info["extra_info"] == {
        "provenance": "request-created",
        "type": "normal-user",
        "verify_retry_wait": 6,
    }
    assert info["session_token"] == token
    assert info["ip_address"] == "::1"
    assert info["user_agent"] == "Mozilla/5.0 (e2e)"
    assert info["extra_info_json"] == {"k": "v"}
    assert info["expires"] == expires
    assert info["last_login_try"] is None
    assert info["last_login_success"] is None
    for k in ("created", "expires", "created_on", "emailverify_sent_datetime"):
        assert isinstance(info[k], str) and ISO_RE.match(info[k]), (k, info[k])
    created = dt.datetime.fromisoformat(info["created"])
    assert abs((created - before).total_seconds()) < 120, "created is not naive UTC now"

    # 7. re-check the password (3.2 user-passcheck)
    env = client.ok("user-passcheck", {"session_token": token, "password": password})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PASSCHECK_OK]
    assert env["response"]["user_id"] == user_id
    assert env["response"]["user_role"] == "authenticated"

    # 8. log out (3.2 user-logout)
    env = client.ok("user-logout", {"session_token": token, "user_id": user_id})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOGOUT_OK]
    assert env["response"]["user_id"] == user_id

    assert_session_gone(client, token)


def test_admin_from_credentials_file_can_log_in(server, client):
    """The autosetup admin (8.4: user 1, superuser, verified, active)."""
    from helpers import new_session

    if not server.admin_password:
        pytest.skip("no admin credentials for the external server (AUTHNZ_E2E_ADMIN)")
    anon = new_session(client)
    env = client.ok(
        "user-login",
        {
            "session_token": anon["session_token"],
            "email": server.admin_email,
            "password": server.admin_password,
        },
    )
    assert env["success"] is True, env
    assert env["response"]["user_id"] == 1
    assert env["response"]["user_role"] == "superuser"
