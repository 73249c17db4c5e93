"""The user's own sessions (not upstream, PROTOCOL.md 3.9):
`user-sessions-list` and `user-sessions-revoke`. Sessions are named by an
opaque id (never a token), only the caller's own user's sessions are
listed or ended, `"others"` ends all but the caller's, and the id is the
`sid` claim of the session's JWTs."""

from __future__ import annotations

import base64
import json
import re

from helpers import ISO_RE, assert_session_gone, new_session, session_exists, sign_up

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
LISTED_KEYS = {"session_id", "created", "expires", "ip_address", "user_agent", "current"}


def listing(client, user_id: int, token: str) -> dict:
    return client.ok("user-sessions-list", {"user_id": user_id, "session_token": token})


def listed(client, user_id: int, token: str) -> list[dict]:
    env = listing(client, user_id, token)
    assert env["success"] is True, env
    assert env["messages"] == ["Sessions listed."], env
    return env["response"]["sessions"]


def revoke(client, user_id: int, token: str, session_id: str) -> dict:
    return client.ok(
        "user-sessions-revoke",
        {"user_id": user_id, "session_token": token, "session_id": session_id},
    )


def assert_refused(env: dict, reason: str, field: str, value) -> None:
    assert env["success"] is False, env
    assert env["failure_reason"] == reason, env
    assert env["response"][field] == value, env


def jwt_sid(client, token: str) -> str:
    env = client.ok(
        "session-jwt-issue",
        {"session_token": token, "audience": "my-sessions", "expires_seconds": 60},
    )
    assert env["success"] is True, env
    payload = env["response"]["jwt"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]


def test_list_names_sessions_by_opaque_id_only(client):
    user = sign_up(client, "mysess-list")
    uid = user["user_id"]
    a = new_session(client, user_id=uid)["session_token"]
    b = new_session(client, user_id=uid)["session_token"]
    env = listing(client, uid, a)
    assert env["success"] is True, env
    text = json.dumps(env)
    assert a not in text and b not in text, "no raw token in the reply"
    sessions = env["response"]["sessions"]
    assert len(sessions) == 2, sessions
    for s in sessions:
        assert set(s) == LISTED_KEYS, s
        assert SESSION_ID_RE.match(s["session_id"]), s
        assert ISO_RE.match(s["created"]) and ISO_RE.match(s["expires"]), s
        assert (s["ip_address"], s["user_agent"]) == ("127.0.0.1", "authnz-e2e/1.0")
    assert sorted(s["current"] for s in sessions) == [False, True]
    mine = next(s for s in sessions if s["current"])
    # The id is stable, is the JWT's `sid`, and the other session sees
    # itself as current.
    assert mine["session_id"] == jwt_sid(client, a)
    other_view = listed(client, uid, b)
    assert {s["session_id"] for s in other_view} == {s["session_id"] for s in sessions}
    assert next(s for s in other_view if s["current"])["session_id"] != mine["session_id"]


def test_revoke_one_then_others_then_own(client):
    user = sign_up(client, "mysess-revoke")
    uid = user["user_id"]
    a = new_session(client, user_id=uid)["session_token"]
    b = new_session(client, user_id=uid)["session_token"]
    b_id = next(s for s in listed(client, uid, b) if s["current"])["session_id"]

    env = revoke(client, uid, a, b_id)
    assert env["success"] is True, env
    assert env["messages"] == ["Session revoked."], env
    assert (env["response"]["revoked"], env["response"]["current"]) == (1, False)
    assert_session_gone(client, b)
    assert [s["current"] for s in listed(client, uid, a)] == [True]
    # Already gone: refused.
    assert_refused(revoke(client, uid, a, b_id), "no such session of this user", "revoked", 0)

    c = new_session(client, user_id=uid)["session_token"]
    d = new_session(client, user_id=uid)["session_token"]
    env = revoke(client, uid, a, "others")
    assert env["success"] is True, env
    assert env["messages"] == ["All other sessions revoked."], env
    assert (env["response"]["revoked"], env["response"]["current"]) == (2, False)
    assert_session_gone(client, c)
    assert_session_gone(client, d)
    assert session_exists(client, a)["success"] is True
    env = revoke(client, uid, a, "others")
    assert (env["success"], env["response"]["revoked"]) == (True, 0), env

    # Revoking one's own session is a logout, and the reply says so.
    a_id = listed(client, uid, a)[0]["session_id"]
    env = revoke(client, uid, a, a_id)
    assert (env["response"]["revoked"], env["response"]["current"]) == (1, True), env
    assert_session_gone(client, a)


def test_another_users_session_is_never_touched(client):
    alice = sign_up(client, "mysess-alice")
    mallory = sign_up(client, "mysess-mallory")
    a = new_session(client, user_id=alice["user_id"])["session_token"]
    m = new_session(client, user_id=mallory["user_id"])["session_token"]
    a_id = listed(client, alice["user_id"], a)[0]["session_id"]

    # Mallory's own token, alice's session id: not one of mallory's sessions.
    env = revoke(client, mallory["user_id"], m, a_id)
    assert_refused(env, "no such session of this user", "revoked", 0)
    # Mallory's token presented as alice's: refused before anything.
    env = revoke(client, alice["user_id"], m, a_id)
    assert_refused(env, "session does not belong to this user", "revoked", 0)
    env = revoke(client, alice["user_id"], m, "others")
    assert_refused(env, "session does not belong to this user", "revoked", 0)
    env = listing(client, alice["user_id"], m)
    assert_refused(env, "session does not belong to this user", "sessions", None)
    assert session_exists(client, a)["success"] is True
    assert len(listed(client, alice["user_id"], a)) == 1


def test_anonymous_and_unknown_sessions_are_refused(client):
    anon = new_session(client)["session_token"]
    env = listing(client, 2, anon)
    assert_refused(env, "session is anonymous: sign in first", "sessions", None)
    env = revoke(client, 2, anon, "others")
    assert_refused(env, "session is anonymous: sign in first", "revoked", 0)
    assert session_exists(client, anon)["success"] is True
    env = listing(client, 1, "no-such-token")
    assert_refused(env, "session does not exist or expired", "sessions", None)
    assert env["messages"] == ["Could not list the sessions."], env


def test_password_change_ends_the_other_sessions(client):
    user = sign_up(client, "mysess-chpass")
    uid = user["user_id"]
    keep = new_session(client, user_id=uid)["session_token"]
    other = new_session(client, user_id=uid)["session_token"]
    env = client.ok(
        "user-changepass",
        {
            "user_id": uid,
            "session_token": keep,
            "full_name": user["full_name"],
            "email": user["email"],
            "current_password": user["password"],
            "new_password": user["password"][::-1] + "-Zq9",
        },
    )
    assert env["success"] is True, env
    assert_session_gone(client, other)
    assert [s["current"] for s in listed(client, uid, keep)] == [True]
