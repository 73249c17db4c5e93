"""Failure paths of login and sign-up, user look-ups and session deletion
(PROTOCOL.md 3.1-3.3)."""

from __future__ import annotations

from helpers import (
    FR_LOGIN_FAILED,
    ISO_RE,
    MSG_INVALID_EMAIL,
    MSG_LOGIN_FAILED,
    MSG_NO_SESSION,
    MSG_USER_CREATED,
    MSG_USER_LOOKUP_FAILED,
    MSG_USER_LOOKUP_OK,
    MSG_SESSION_NEW,
    USER_INFO_KEYS,
    assert_session_gone,
    new_session,
    policy_messages,
    session_exists,
    sign_up,
    unique_email,
)


def _login(client, token, email, password):
    return client.ok(
        "user-login", {"session_token": token, "email": email, "password": password}
    )


def _assert_login_failed(env):
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_LOGIN_FAILED, env
    assert env["messages"] == [MSG_LOGIN_FAILED], env
    assert env["response"]["user_id"] is None, env
    assert env["response"]["failure_reason"] == FR_LOGIN_FAILED


def test_login_wrong_password(client):
    user = sign_up(client, "wrongpw")
    anon = new_session(client)
    env = _login(client, anon["session_token"], user["email"], user["password"] + "x")
    _assert_login_failed(env)
    # consumed even on failure (3.2 step 3)
    assert_session_gone(client, anon["session_token"])


def test_login_unknown_user(client):
    anon = new_session(client)
    env = _login(client, anon["session_token"], unique_email("nobody"), "Whatever-12345-abc")
    _assert_login_failed(env)


def test_login_unverified_user_fails_generically(client):
    user = sign_up(client, "unverified", verify=False)
    anon = new_session(client)
    env = _login(client, anon["session_token"], user["email"], user["password"])
    _assert_login_failed(env)


def test_login_with_dead_session(client):
    user = sign_up(client, "deadsess")
    anon = new_session(client)
    assert client.ok("session-delete", {"session_token": anon["session_token"]})["success"]
    env = _login(client, anon["session_token"], user["email"], user["password"])
    assert env["success"] is False, env
    assert env["failure_reason"] == "session does not exist", env
    assert env["messages"] == [MSG_NO_SESSION], env
    assert env["response"]["user_id"] is None


def test_user_new_duplicate(client):
    user = sign_up(client, "dup", verify=False)
    env = client.ok(
        "user-new",
        {"full_name": "Someone Else", "email": user["email"], "password": user["password"]},
    )
    assert env["success"] is False, env
    assert env["failure_reason"] == "user exists", env
    # messages as for success (3.3 step 10, verified upstream)
    assert env["messages"] == [MSG_USER_CREATED], env
    r = env["response"]
    assert r["user_email"] == user["email"]
    assert r["user_id"] == user["user_id"]
    assert r["system_id"] == user["system_id"]
    # signed up moments ago: not older than verify_retry_wait (6 h) -> no resend
    assert r["send_verification"] is False


def test_user_new_invalid_email(client):
    env = client.ok(
        "user-new",
        {"full_name": "Bad Mail", "email": "not-an-email", "password": "Kq8!vR2#xLp9@wZ4"},
    )
    assert env["success"] is False, env
    assert env["failure_reason"] == "invalid email", env
    assert env["messages"] == [MSG_INVALID_EMAIL], env
    r = env["response"]
    assert r["user_email"] is None and r["user_id"] is None
    assert r["send_verification"] is False


def test_user_new_weak_password(client):
    email = unique_email("weak")
    name = "Weak Password Tester"
    password = "1111"
    expected = policy_messages(password, email, name)
    assert len(expected) >= 4  # short, common, frequent, all digits
    env = client.ok("user-new", {"full_name": name, "email": email, "password": password})
    assert env["success"] is False, env
    assert env["failure_reason"] == "invalid password", env
    assert env["messages"] == expected, env
    r = env["response"]
    assert r["user_email"] == email
    assert r["user_id"] is None
    assert r["send_verification"] is False


def test_user_list(client):
    user = sign_up(client, "list")
    env = client.ok("user-list", {"user_id": None})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_USER_LOOKUP_OK]
    users = env["response"]["user_info"]
    ids = [u["user_id"] for u in users]
    assert ids == sorted(ids)
    assert ids[:3] == [1, 2, 3]
    assert user["user_id"] in ids
    for u in users:
        assert set(u) == USER_INFO_KEYS, sorted(set(u) ^ USER_INFO_KEYS)
    by_id = {u["user_id"]: u for u in users}
    assert by_id[2]["email"] == "anonuser@localhost"
    assert by_id[2]["user_role"] == "anonymous"
    assert by_id[3]["email"] == "dummyuser@localhost"
    assert by_id[3]["is_active"] is False
    assert by_id[1]["user_role"] == "superuser"

    env = client.ok("user-list", {"user_id": user["user_id"]})
    assert env["success"] is True, env
    [one] = env["response"]["user_info"]
    assert one["email"] == user["email"]
    assert one["full_name"] == user["full_name"]
    assert one["user_role"] == "authenticated"
    assert one["failed_login_tries"] == 0
    assert one["emailchangepass_sent_datetime"] is None
    for k in ("created_on", "last_updated", "emailverify_sent_datetime"):
        assert ISO_RE.match(one[k]), (k, one[k])

    env = client.ok("user-list", {"user_id": 10**9})
    assert env["success"] is True, env
    assert env["response"]["user_info"] == []


def test_user_lookup_email(client):
    user = sign_up(client, "lookup")
    env = client.ok("user-lookup-email", {"email": user["email"]})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_USER_LOOKUP_OK]
    info = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS, sorted(set(info) ^ USER_INFO_KEYS)
    assert info["user_id"] == user["user_id"]

    # exact match only: no normalisation outside sign-up (5.4)
    env = client.ok("user-lookup-email", {"email": user["email"].upper()})
    assert env["success"] is False, env
    assert env["failure_reason"] == "user email not found in DB", env
    assert env["messages"] == [MSG_USER_LOOKUP_FAILED]
    assert env["response"]["user_info"] is None


def test_session_delete(client):
    s = new_session(client)
    env = client.ok("session-delete", {"session_token": s["session_token"]})
    assert env["success"] is True, env
    assert env["messages"] == ["Session delete processed, success: True."]
    assert_session_gone(client, s["session_token"])

    env = client.ok("session-delete", {"session_token": s["session_token"]})
    assert env["success"] is False, env
    assert env["messages"] == ["Session delete processed, success: False."]
    assert "failure_reason" not in env, env  # 1.8: none when nothing deleted


def test_session_delete_userid_keep_current(client):
    user = sign_up(client, "deluid-keep")
    current, a, b = (new_session(client, user_id=user["user_id"]) for _ in range(3))
    env = client.ok(
        "session-delete-userid",
        {
            "session_token": current["session_token"],
            "user_id": user["user_id"],
            "keep_current_session": True,
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == ["Sessions delete processed. Success: True."]
    assert session_exists(client, current["session_token"])["success"] is True
    assert_session_gone(client, a["session_token"])
    assert_session_gone(client, b["session_token"])


def test_session_delete_userid_drop_current(client):
    """Q-4 decided: the server honours keep_current_session=false."""
    user = sign_up(client, "deluid-drop")
    other_user = sign_up(client, "deluid-other")
    current, a = (new_session(client, user_id=user["user_id"]) for _ in range(2))
    bystander = new_session(client, user_id=other_user["user_id"])
    env = client.ok(
        "session-delete-userid",
        {
            "session_token": current["session_token"],
            "user_id": user["user_id"],
            "keep_current_session": False,
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == ["Sessions delete processed. Success: True."]
    assert_session_gone(client, current["session_token"])
    assert_session_gone(client, a["session_token"])
    assert session_exists(client, bystander["session_token"])["success"] is True

    # nothing left to delete: success false, no failure_reason
    env = client.ok(
        "session-delete-userid",
        {
            "session_token": current["session_token"],
            "user_id": user["user_id"],
            "keep_current_session": False,
        },
    )
    assert env["success"] is False, env
    assert env["messages"] == ["Sessions delete processed. Success: False."]
    assert "failure_reason" not in env, env


def test_session_new_fraction_formats(client):
    """3.1: `...00.5Z` is accepted and comes back as `...00.500000`."""
    env = client.ok(
        "session-new",
        {
            "ip_address": "2001:DB8::0001",
            "user_agent": "e2e",
            "user_id": None,
            "expires": "2099-01-02T03:04:00.5Z",
            "extra_info_json": None,
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_SESSION_NEW]
    assert env["response"]["expires"] == "2099-01-02T03:04:00.500000"
    info = session_exists(client, env["response"]["session_token"])["response"]["session_info"]
    assert info["ip_address"] == "2001:db8::1"
    assert info["expires"] == "2099-01-02T03:04:00.500000"


def test_session_new_bad_ip(client):
    env = client.ok(
        "session-new",
        {
            "ip_address": "not-an-ip",
            "user_agent": "e2e",
            "user_id": None,
            "expires": "2099-01-02T03:04:00.5",
            "extra_info_json": None,
        },
    )
    assert env["success"] is False, env
    assert env["failure_reason"] == "DB error when making new session", env
    assert env["messages"] == ["Could not create a new session."]
    assert env["response"]["session_token"] is None
    assert env["response"]["expires"] is None
def test_login_failure_backoff(client):
    """4.2: each failed login for an e-mail is answered only after
    min(1.5 ** (count - 1), 40) s: 1 s, then 1.5 s."""
    import time

    email = unique_email("backoff")
    for count, delay in ((1, 1.0), (2, 1.5)):
        anon = new_session(client)
        start = time.monotonic()
        env = _login(client, anon["session_token"], email, "Wrong-password-123")
        took = time.monotonic() - start
        _assert_login_failed(env)
        assert took >= delay - 0.05, f"failure #{count} answered after {took:.2f}s, spec: {delay}s"
