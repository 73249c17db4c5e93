"""Account lifecycle, end to end: password change and reset, password
validation, locks (by the superuser, internal, automatic after repeated login
failures), deletion, edits and user look-ups (PROTOCOL.md 3.1-3.4, 3.8 and 4.2).

Written from docs/PROTOCOL.md and from issue 3, which decides one difference from the
original: `user-resetpass` and `user-resetpass-nosession` delete all of the user's
sessions (3.4 says upstream deletes none).

Rate limits (4.1) are per client address and aggressive for some request types
(`user-new` 5, `user-login` 10, `user-edit` 10, `user-changepass` 5,
`user-resetpass` 5 per minute), so every test uses its own `client` fixture
(random address) and `_other_client` when it needs more.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import _binary, _stop, run_autosetup, start_server
from helpers import (
    FR_LOGIN_FAILED,
    FR_SESSION_MISSING,
    MSG_LOGIN_FAILED,
    MSG_LOGIN_OK,
    MSG_PASSCHECK_OK,
    MSG_USER_LOOKUP_FAILED,
    MSG_USER_LOOKUP_OK,
    USER_INFO_KEYS,
    assert_session_gone,
    new_session,
    policy_messages,
    session_exists,
    sign_up,
    strong_password,
    unique_email,
)

# -- messages and failure reasons (3.3, 3.4, 3.8, 4.2) -------------------------
MSG_PW_CHANGED = "Password changed successfully."
MSG_LOGGED_OUT_OTHERS = "For security purposes, you have been logged out of all other sessions."
MSG_CURRENT_PW_MISMATCH = "Your current password did not match the stored password."
MSG_PW_SAME = "Your new password cannot be the same as your old password."
MSG_PW_INSECURE_CHANGE = (
    "The new password you entered is insecure. It must be at least 12 characters "
    "long and be sufficiently complex."
)
MSG_RESET_BAD_SESSION = "Invalid session token for password reset request."
MSG_RESET_BAD_USER = "Invalid user for password reset request."
MSG_RESET_INSECURE = "Insecure password for password reset request."
MSG_RESET_NOSESSION_INSECURE = "Insecure new password for password reset request."
MSG_LOCK_OK = "User lock toggle successful."
MSG_LOCK_FAILED = "User lock toggle failed."
MSG_LOCK_NO_PRIV = "You don't have lock/unlock privileges."
MSG_LOCK_SELF = "You can't lock/unlock your own user account."
MSG_LOCK_BAD_ACTION = "Unknown action requested for toggle_user_lock."
MSG_SYSTEM_USERS = "Editing anonymous/locked user accounts not allowed."
MSG_SUPERUSER_SESSION = "Superuser session info not available for this user edit attempt."
MSG_DELETE_OK = "User successfully deleted from DB."
MSG_DELETE_VERIFY = "We could not verify your email address or password."
MSG_DELETE_SUPERUSER = "Can't delete superusers."
MSG_EDIT_OK = "User update successful."
MSG_EDIT_EXTRA = "extra elements in update_dict not allowed"
MSG_EDIT_NO_SESSION = "User session info not available for this user edit attempt."
MSG_EDIT_OTHER = "user_id or session info not available for this user edit attempt."
MSG_EDIT_BAD_ROLE = "unknown role change request in update_dict"
MSG_IEDIT_OK = "User-info update successful."
MSG_IEDIT_MISSING = "Invalid user-edit request: missing or invalid parameters."
MSG_IEDIT_DISALLOWED = "Invalid edit-user request: invalid update parameters."
MSG_IEDIT_FAILED = "User info update failed."
MSG_SEDIT_OK = "Session extra_info update successful."
MSG_SEDIT_MISSING = "Invalid session edit request: missing or invalid parameters."
MSG_SEDIT_FAILED = "Session extra_info update failed."
MSG_MATCH_INVALID = "Invalid match condition provided."
FR_MATCH_INVALID = (
    "invalid request: 'by' is 'extra_info' but 'match' is not a dict or "
    "'match' is a dict and 'by' is not 'extra_info'"
)
MSG_AUTO_LOCK = (
    "Your user account has been locked after repeated login failures. Try again "
    "in an hour or contact the server admins."
)
FR_VALIDATEPASS = "password is insecure or invalid"
FR_MISSING_UPDATE_DICT = "invalid request: missing 'update_dict' in request"

SESSION_EDIT_KEYS = {
    "user_id", "session_token", "ip_address", "user_agent", "created", "expires",
    "extra_info_json",
}  # fmt: skip

# a password that fails several policy checks (5.1)
WEAK_PASSWORD = "123456"


# -- helpers --------------------------------------------------------------------


def _other_client(server):
    rnd = random.Random()
    addr = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    return server.client(client_ipaddr=addr)


def _login(client, token, email, password):
    return client.ok(
        "user-login", {"session_token": token, "email": email, "password": password}
    )


def _login_fresh(client, email, password):
    """user-login with a new anonymous session (user-login consumes it)."""
    return _login(client, new_session(client)["session_token"], email, password)


def _assert_login_ok(env, user_id):
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOGIN_OK], env
    assert env["response"]["user_id"] == user_id, env


def _assert_login_failed(env):
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_LOGIN_FAILED, env
    assert env["messages"] == [MSG_LOGIN_FAILED], env
    assert env["response"]["user_id"] is None, env


def _assert_failure(env, reason, messages, **fields):
    assert env["success"] is False, env
    assert env.get("failure_reason") == reason, env
    assert env["messages"] == messages, env
    assert env["response"]["failure_reason"] == reason, env
    for k, v in fields.items():
        assert k in env["response"], (k, env)
        assert env["response"][k] == v, (k, env)


def _passcheck(client, token, password):
    """user-passcheck: no back-off, no session deletion (3.2)."""
    return client.ok("user-passcheck", {"session_token": token, "password": password})


def _user_info(client, email) -> dict:
    env = client.ok("user-lookup-email", {"email": email})
    assert env["success"] is True, env
    return env["response"]["user_info"]


def _user_info_by_id(client, user_id) -> dict | None:
    env = client.ok("user-list", {"user_id": user_id})
    assert env["success"] is True, env
    users = env["response"]["user_info"]
    return users[0] if users else None


def _admin_session(server, client) -> str:
    """Log in as the autosetup superuser (user 1) and return a session of it."""
    if not server.admin_password:
        pytest.skip("no admin credentials for the external server (AUTHNZ_E2E_ADMIN)")
    env = _login_fresh(client, server.admin_email, server.admin_password)
    assert env["success"] is True, env
    assert env["response"]["user_id"] == 1, env
    assert env["response"]["user_role"] == "superuser", env
    return new_session(client, user_id=1)["session_token"]


def _changepass_body(user, current, new, token=None, **over):
    body = {
        "user_id": user["user_id"],
        "full_name": user["full_name"],
        "email": user["email"],
        "current_password": current,
        "new_password": new,
    }
    if token is not None:
        body["session_token"] = token
    body.update(over)
    return body


# -- user-changepass (3.4) --------------------------------------------------------


def test_changepass_success_keeps_current_session_only(client):
    user = sign_up(client, "chpw")
    bystander = sign_up(client, "chpw-by")
    current, other1, other2 = (new_session(client, user_id=user["user_id"]) for _ in range(3))
    by_sess = new_session(client, user_id=bystander["user_id"])
    new_pw = strong_password(user["email"], user["full_name"])

    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"], new_pw, current["session_token"]),
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED, MSG_LOGGED_OUT_OTHERS], env
    assert "failure_reason" not in env, env
    assert env["response"]["user_id"] == user["user_id"]
    assert env["response"]["email"] == user["email"]

    # step 6: the current session survives, the user's other sessions are gone
    assert session_exists(client, current["session_token"])["success"] is True
    assert_session_gone(client, other1["session_token"])
    assert_session_gone(client, other2["session_token"])
    # another user's sessions are untouched
    assert session_exists(client, by_sess["session_token"])["success"] is True

    # the new password verifies, the old one does not
    env = _passcheck(client, current["session_token"], new_pw)
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PASSCHECK_OK]
    env = _passcheck(client, current["session_token"], user["password"])
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_LOGIN_FAILED, env

    # and login: old fails, new works
    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))
    _assert_login_ok(_login_fresh(client, user["email"], new_pw), user["user_id"])


def test_changepass_wrong_current_password(client):
    user = sign_up(client, "chpw-wrong")
    s = new_session(client, user_id=user["user_id"])
    other = new_session(client, user_id=user["user_id"])
    new_pw = strong_password(user["email"], user["full_name"])
    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"] + "x", new_pw, s["session_token"]),
    )
    _assert_failure(
        env,
        "user password does not match",
        [MSG_CURRENT_PW_MISMATCH],
        user_id=user["user_id"],
        email=user["email"],
    )
    # nothing changed: the old password still works, no session was deleted
    assert _passcheck(client, s["session_token"], user["password"])["success"] is True
    assert session_exists(client, other["session_token"])["success"] is True


def test_changepass_unknown_user(client):
    user = sign_up(client, "chpw-unknown")
    new_pw = strong_password(user["email"], user["full_name"])
    # the user is selected by user_id AND email: a different e-mail finds nobody
    other_email = unique_email("chpw-nobody")
    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"], new_pw, "whatever", email=other_email),
    )
    _assert_failure(
        env,
        "user does not exist",
        [MSG_CURRENT_PW_MISMATCH],
        user_id=user["user_id"],
        email=other_email,
    )


def test_changepass_same_password(client):
    user = sign_up(client, "chpw-same")
    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"], user["password"], "not-a-session"),
    )
    _assert_failure(
        env,
        "password did not change",
        [MSG_PW_SAME],
        user_id=user["user_id"],
        email=user["email"],
    )


def test_changepass_insecure_new_password(client):
    user = sign_up(client, "chpw-weak")
    s = new_session(client, user_id=user["user_id"])
    expected = policy_messages(WEAK_PASSWORD, user["email"], user["full_name"])
    assert expected  # several policy checks fail
    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"], WEAK_PASSWORD, s["session_token"]),
    )
    _assert_failure(
        env,
        "new password is insecure",
        expected + [MSG_PW_INSECURE_CHANGE],
        user_id=user["user_id"],
        email=user["email"],
    )
    assert _passcheck(client, s["session_token"], user["password"])["success"] is True


def test_changepass_insecure_checks_given_name_and_email(client):
    """Step 4 validates against the *given* full_name and email."""
    user = sign_up(client, "chpw-sim")
    given_name = "Zebulon Quixotic Featherstonehaugh"
    new_pw = given_name.replace(" ", "")  # long, not common, but like the name
    expected = policy_messages(new_pw, user["email"], given_name)
    assert expected == [
        "Your password is too similar to either the domain name of this server or "
        "your own name or email address."
    ], expected
    assert policy_messages(new_pw, user["email"], user["full_name"]) == []
    env = client.ok(
        "user-changepass",
        _changepass_body(user, user["password"], new_pw, "x", full_name=given_name),
    )
    _assert_failure(
        env,
        "new password is insecure",
        expected + [MSG_PW_INSECURE_CHANGE],
        user_id=user["user_id"],
        email=user["email"],
    )


def test_changepass_nosession(client):
    user = sign_up(client, "chpw-nosess")
    s1, s2 = (new_session(client, user_id=user["user_id"]) for _ in range(2))
    new_pw = strong_password(user["email"], user["full_name"])

    env = client.ok("user-changepass-nosession", _changepass_body(user, user["password"], new_pw))
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED], env
    assert "failure_reason" not in env, env
    assert env["response"]["user_id"] == user["user_id"]
    assert env["response"]["email"] == user["email"]

    # no sessions are deleted
    assert session_exists(client, s1["session_token"])["success"] is True
    assert session_exists(client, s2["session_token"])["success"] is True
    assert _passcheck(client, s1["session_token"], new_pw)["success"] is True
    assert _passcheck(client, s1["session_token"], user["password"])["success"] is False

    # same failures as the session variant
    env = client.ok(
        "user-changepass-nosession",
        _changepass_body(user, user["password"], strong_password(user["email"], "x")),
    )
    _assert_failure(
        env,
        "user password does not match",
        [MSG_CURRENT_PW_MISMATCH],
        user_id=user["user_id"],
        email=user["email"],
    )
    env = client.ok("user-changepass-nosession", _changepass_body(user, new_pw, new_pw))
    _assert_failure(env, "password did not change", [MSG_PW_SAME], user_id=user["user_id"])
    env = client.ok("user-changepass-nosession", _changepass_body(user, new_pw, WEAK_PASSWORD))
    _assert_failure(
        env,
        "new password is insecure",
        policy_messages(WEAK_PASSWORD, user["email"], user["full_name"]) + [MSG_PW_INSECURE_CHANGE],
        user_id=user["user_id"],
        email=user["email"],
    )


def test_changepass_inactive_user(client):
    """Step 1 requires is_active: a locked user cannot change the password."""
    user = sign_up(client, "chpw-locked")
    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "lock"})
    assert env["success"] is True, env
    new_pw = strong_password(user["email"], user["full_name"])
    env = client.ok("user-changepass-nosession", _changepass_body(user, user["password"], new_pw))
    _assert_failure(env, "user does not exist", [MSG_CURRENT_PW_MISMATCH], user_id=user["user_id"])


# -- user-resetpass (3.4, issue 3: all sessions deleted) ---------------------------


def test_resetpass_success_deletes_all_sessions(client):
    user = sign_up(client, "reset")
    bystander = sign_up(client, "reset-by")
    s1, s2 = (new_session(client, user_id=user["user_id"]) for _ in range(2))
    by_sess = new_session(client, user_id=bystander["user_id"])
    anon = new_session(client)
    new_pw = strong_password(user["email"], user["full_name"])

    env = client.ok(
        "user-resetpass",
        {
            "email_address": user["email"],
            "new_password": new_pw,
            "session_token": anon["session_token"],
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED], env
    assert "failure_reason" not in env, env

    # issue 3: all of the user's sessions are gone
    assert_session_gone(client, s1["session_token"])
    assert_session_gone(client, s2["session_token"])
    # other users' sessions are not
    assert session_exists(client, by_sess["session_token"])["success"] is True

    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))
    _assert_login_ok(_login_fresh(client, user["email"], new_pw), user["user_id"])


def test_resetpass_reusing_current_password_is_allowed(client):
    user = sign_up(client, "reset-same")
    anon = new_session(client)
    env = client.ok(
        "user-resetpass",
        {
            "email_address": user["email"],
            "new_password": user["password"],
            "session_token": anon["session_token"],
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED], env


def test_resetpass_failures(client):
    user = sign_up(client, "reset-fail")
    s = new_session(client, user_id=user["user_id"])
    new_pw = strong_password(user["email"], user["full_name"])

    # needs an active session
    dead = new_session(client)
    assert client.ok("session-delete", {"session_token": dead["session_token"]})["success"]
    env = client.ok(
        "user-resetpass",
        {
            "email_address": user["email"],
            "new_password": new_pw,
            "session_token": dead["session_token"],
        },
    )
    _assert_failure(env, "session does not exist", [MSG_RESET_BAD_SESSION])

    # unknown user
    anon = new_session(client)
    env = client.ok(
        "user-resetpass",
        {
            "email_address": unique_email("reset-nobody"),
            "new_password": new_pw,
            "session_token": anon["session_token"],
        },
    )
    _assert_failure(env, "user does not exist", [MSG_RESET_BAD_USER])

    # insecure: the reset message first, then the policy messages (stored
    # full name, given e-mail)
    env = client.ok(
        "user-resetpass",
        {
            "email_address": user["email"],
            "new_password": WEAK_PASSWORD,
            "session_token": anon["session_token"],
        },
    )
    _assert_failure(
        env,
        "invalid password",
        [MSG_RESET_INSECURE] + policy_messages(WEAK_PASSWORD, user["email"], user["full_name"]),
    )

    # failures change nothing: the password and the user's session are intact
    assert session_exists(client, s["session_token"])["success"] is True
    assert _passcheck(client, s["session_token"], user["password"])["success"] is True


def test_resetpass_inactive_user(client):
    """The user must be active for user-resetpass."""
    user = sign_up(client, "reset-inactive", verify=False)
    anon = new_session(client)
    env = client.ok(
        "user-resetpass",
        {
            "email_address": user["email"],
            "new_password": strong_password(user["email"], user["full_name"]),
            "session_token": anon["session_token"],
        },
    )
    _assert_failure(env, "user does not exist", [MSG_RESET_BAD_USER])


def test_resetpass_nosession_required_active(client):
    user = sign_up(client, "reset-ns")
    s1, s2 = (new_session(client, user_id=user["user_id"]) for _ in range(2))
    new_pw = strong_password(user["email"], user["full_name"])

    # the user is active: required_active=false finds nobody
    env = client.ok(
        "user-resetpass-nosession",
        {"email_address": user["email"], "new_password": new_pw, "required_active": False},
    )
    _assert_failure(env, "user does not exist or is_active was not as required", [MSG_RESET_BAD_USER])
    assert session_exists(client, s1["session_token"])["success"] is True

    # insecure
    env = client.ok(
        "user-resetpass-nosession",
        {"email_address": user["email"], "new_password": WEAK_PASSWORD, "required_active": True},
    )
    _assert_failure(
        env,
        "invalid new password",
        [MSG_RESET_NOSESSION_INSECURE]
        + policy_messages(WEAK_PASSWORD, user["email"], user["full_name"]),
    )

    # success with required_active=true: all of the user's sessions are gone
    env = client.ok(
        "user-resetpass-nosession",
        {"email_address": user["email"], "new_password": new_pw, "required_active": True},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED], env
    assert "failure_reason" not in env, env
    assert_session_gone(client, s1["session_token"])
    assert_session_gone(client, s2["session_token"])

    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))
    _assert_login_ok(_login_fresh(client, user["email"], new_pw), user["user_id"])


def test_resetpass_nosession_locked_user(client):
    """required_active=false lets the frontend reset a locked account."""
    user = sign_up(client, "reset-ns-locked")
    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "lock"})
    assert env["success"] is True, env
    new_pw = strong_password(user["email"], user["full_name"])

    env = client.ok(
        "user-resetpass-nosession",
        {"email_address": user["email"], "new_password": new_pw, "required_active": True},
    )
    _assert_failure(env, "user does not exist or is_active was not as required", [MSG_RESET_BAD_USER])

    env = client.ok(
        "user-resetpass-nosession",
        {"email_address": user["email"], "new_password": new_pw, "required_active": False},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_PW_CHANGED], env
    # still locked
    info = _user_info(client, user["email"])
    assert info["is_active"] is False and info["user_role"] == "locked", info

    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "unlock"})
    assert env["success"] is True, env
    _assert_login_ok(_login_fresh(client, user["email"], new_pw), user["user_id"])


# -- user-validatepass (3.4) -------------------------------------------------------


def test_validatepass(client):
    email = unique_email("validate")
    name = "Validate Tester"
    good = strong_password(email, name)
    env = client.ok("user-validatepass", {"password": good, "email": email, "full_name": name})
    assert env["success"] is True, env
    assert env["messages"] == [], env
    assert "failure_reason" not in env, env

    expected = policy_messages(WEAK_PASSWORD, email, name)
    env = client.ok(
        "user-validatepass", {"password": WEAK_PASSWORD, "email": email, "full_name": name}
    )
    _assert_failure(env, FR_VALIDATEPASS, expected)

    # too similar to the e-mail address
    similar = email.split("@")[0] + "@example"
    expected = policy_messages(similar, email, name)
    assert expected, similar
    env = client.ok("user-validatepass", {"password": similar, "email": email, "full_name": name})
    _assert_failure(env, FR_VALIDATEPASS, expected)

    # the optional overrides are superseded by the server's passpolicy
    env = client.ok(
        "user-validatepass",
        {
            "password": WEAK_PASSWORD,
            "email": email,
            "full_name": name,
            "min_pass_length": 2,
            "max_unsafe_similarity": 100,
            "min_pwned_matches": 1000,
        },
    )
    _assert_failure(env, FR_VALIDATEPASS, policy_messages(WEAK_PASSWORD, email, name))


# -- user-lock by the superuser (3.3) ------------------------------------------------


def test_user_lock_and_unlock_by_superuser(server, client):
    admin = _admin_session(server, client)
    user = sign_up(client, "lock")
    s1, s2 = (new_session(client, user_id=user["user_id"]) for _ in range(2))

    env = client.ok(
        "user-lock",
        {
            "user_id": 1,
            "user_role": "superuser",
            "session_token": admin,
            "target_userid": user["user_id"],
            "action": "lock",
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOCK_OK], env
    assert "failure_reason" not in env, env
    info = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS, sorted(set(info) ^ USER_INFO_KEYS)
    assert info["user_id"] == user["user_id"]
    assert info["user_role"] == "locked"
    assert info["is_active"] is False
    assert info["extra_info"]["previous_user_roles"] == ["locked", "authenticated"], info

    # the locked user loses its sessions and cannot log in (generic failure)
    assert_session_gone(client, s1["session_token"])
    assert_session_gone(client, s2["session_token"])
    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))
    # the admin's own session is untouched
    assert session_exists(client, admin)["success"] is True

    env = client.ok(
        "user-lock",
        {
            "user_id": 1,
            "user_role": "superuser",
            "session_token": admin,
            "target_userid": user["user_id"],
            "action": "unlock",
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOCK_OK], env
    info = env["response"]["user_info"]
    assert info["user_role"] == "authenticated"
    assert info["is_active"] is True

    _assert_login_ok(_login_fresh(client, user["email"], user["password"]), user["user_id"])


def test_user_lock_failures(server, client):
    user = sign_up(client, "lockfail")
    target = sign_up(client, "lockfail-t")
    user_sess = new_session(client, user_id=user["user_id"])["session_token"]
    target_sess = new_session(client, user_id=target["user_id"])["session_token"]

    def lock(**over):
        body = {
            "user_id": user["user_id"],
            "user_role": "authenticated",
            "session_token": user_sess,
            "target_userid": target["user_id"],
            "action": "lock",
        }
        body.update(over)
        return client.ok("user-lock", body)

    def failed(env, reason, msg):
        _assert_failure(env, reason, [msg], user_info=None)

    failed(lock(), "user role is not 'superuser', required to toggle locks", MSG_LOCK_NO_PRIV)
    # an ordinary user claiming to be the superuser: its session says otherwise
    failed(
        lock(user_role="superuser"),
        "invalid session for user attempting lock toggle",
        MSG_SUPERUSER_SESSION,
    )
    failed(
        lock(user_role="superuser", user_id=1, session_token=user_sess),
        "invalid session for user attempting lock toggle",
        MSG_SUPERUSER_SESSION,
    )
    failed(
        lock(user_role="superuser", target_userid=user["user_id"]),
        "can't toggle a lock state on self",
        MSG_LOCK_SELF,
    )
    failed(
        lock(user_role="superuser", action="freeze"),
        "action must be one of 'lock', 'unlock'",
        MSG_LOCK_BAD_ACTION,
    )
    for system_user in (2, 3):
        failed(
            lock(user_role="superuser", target_userid=system_user),
            "can't toggle lock state for system anonymous/locked accounts",
            MSG_SYSTEM_USERS,
        )
    # nothing happened to the target
    assert session_exists(client, target_sess)["success"] is True
    info = _user_info(client, target["email"])
    assert info["user_role"] == "authenticated" and info["is_active"] is True

    if server.admin_password:
        admin = _admin_session(server, client)
        failed(
            lock(user_id=1, user_role="superuser", session_token=admin, target_userid=1),
            "can't toggle a lock state on self",
            MSG_LOCK_SELF,
        )
        # a dead superuser session is refused
        client.ok("session-delete", {"session_token": admin})
        failed(
            lock(user_id=1, user_role="superuser", session_token=admin),
            "invalid session for user attempting lock toggle",
            MSG_SUPERUSER_SESSION,
        )


# -- internal-user-lock (3.8) ----------------------------------------------------------


def test_internal_user_lock(client):
    user = sign_up(client, "ilock")
    s = new_session(client, user_id=user["user_id"])

    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "lock"})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOCK_OK], env
    info = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS
    assert info["user_role"] == "locked" and info["is_active"] is False
    assert info["extra_info"]["previous_user_roles"] == ["locked", "authenticated"]
    assert_session_gone(client, s["session_token"])
    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))

    # locking a locked user: nothing changes, still success
    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "lock"})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOCK_OK], env
    info = env["response"]["user_info"]
    assert info["user_role"] == "locked"
    assert info["extra_info"]["previous_user_roles"] == ["locked", "authenticated"]

    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "unlock"})
    assert env["success"] is True, env
    info = env["response"]["user_info"]
    assert info["user_role"] == "authenticated" and info["is_active"] is True
    # the list is not shortened by unlock
    assert info["extra_info"]["previous_user_roles"] == ["locked", "authenticated"]

    # unlocking an unlocked user: nothing changes, success
    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "unlock"})
    assert env["success"] is True, env
    assert env["response"]["user_info"]["user_role"] == "authenticated"

    _assert_login_ok(_login_fresh(client, user["email"], user["password"]), user["user_id"])


def test_internal_user_lock_failures(client):
    user = sign_up(client, "ilock-fail")
    env = client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "toggle"})
    _assert_failure(
        env, "action must be either 'lock' or 'unlock'", [MSG_LOCK_BAD_ACTION], user_info=None
    )
    for system_user in (2, 3):
        env = client.ok("internal-user-lock", {"target_userid": system_user, "action": "lock"})
        _assert_failure(
            env, "can't edit anonymous/locked users", [MSG_SYSTEM_USERS], user_info=None
        )
    env = client.ok("internal-user-lock", {"target_userid": 10**9, "action": "lock"})
    _assert_failure(
        env,
        "exception encountered when trying lock toggle action",
        [MSG_LOCK_FAILED],
        user_info=None,
    )


# -- user-delete, internal-user-delete (3.3, 3.8) ----------------------------------------


def test_user_delete_own_account(client):
    user = sign_up(client, "delete")
    s1, s2 = (new_session(client, user_id=user["user_id"]) for _ in range(2))
    body = {"email": user["email"], "user_id": user["user_id"], "password": user["password"]}

    env = client.ok("user-delete", dict(body, password=user["password"] + "x"))
    _assert_failure(
        env, "invalid password", [MSG_DELETE_VERIFY], user_id=user["user_id"], email=user["email"]
    )
    other_email = unique_email("delete-other")
    env = client.ok("user-delete", dict(body, email=other_email))
    _assert_failure(
        env, "invalid email", [MSG_DELETE_VERIFY], user_id=user["user_id"], email=other_email
    )
    assert session_exists(client, s1["session_token"])["success"] is True

    env = client.ok("user-delete", body)
    assert env["success"] is True, env
    assert env["messages"] == [MSG_DELETE_OK], env
    assert "failure_reason" not in env, env
    assert env["response"]["user_id"] == user["user_id"]
    assert env["response"]["email"] == user["email"]

    assert_session_gone(client, s1["session_token"])
    assert_session_gone(client, s2["session_token"])
    env = client.ok("user-lookup-email", {"email": user["email"]})
    assert env["success"] is False, env
    assert _user_info_by_id(client, user["user_id"]) is None
    _assert_login_failed(_login_fresh(client, user["email"], user["password"]))


def test_user_delete_locked_user(client):
    """Works for inactive/locked users too; no session needed."""
    user = sign_up(client, "delete-locked")
    assert client.ok("internal-user-lock", {"target_userid": user["user_id"], "action": "lock"})[
        "success"
    ]
    env = client.ok(
        "user-delete",
        {"email": user["email"], "user_id": user["user_id"], "password": user["password"]},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_DELETE_OK], env
    assert _user_info_by_id(client, user["user_id"]) is None


def test_user_delete_superuser_refused(server, client):
    if not server.admin_password:
        pytest.skip("no admin credentials for the external server (AUTHNZ_E2E_ADMIN)")
    env = client.ok(
        "user-delete",
        {"email": server.admin_email, "user_id": 1, "password": server.admin_password},
    )
    _assert_failure(
        env, "can't delete superusers", [MSG_DELETE_SUPERUSER], user_id=1, email=server.admin_email
    )
    info = _user_info_by_id(client, 1)
    assert info is not None and info["user_role"] == "superuser", info
    # the admin can still log in
    _admin_session(server, client)


def test_internal_user_delete(client):
    user = sign_up(client, "idelete")
    bystander = sign_up(client, "idelete-by")
    s = new_session(client, user_id=user["user_id"])
    by_sess = new_session(client, user_id=bystander["user_id"])

    env = client.ok("internal-user-delete", {"target_userid": user["user_id"]})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_DELETE_OK], env
    assert env["response"]["user_id"] == user["user_id"]
    assert_session_gone(client, s["session_token"])
    assert _user_info_by_id(client, user["user_id"]) is None
    assert session_exists(client, by_sess["session_token"])["success"] is True

    # success even if the user does not exist (verified upstream)
    env = client.ok("internal-user-delete", {"target_userid": user["user_id"]})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_DELETE_OK], env
    assert env["response"]["user_id"] == user["user_id"]


# -- user-edit (3.3) ----------------------------------------------------------------------


def _edit(client, user_id, role, token, target, update):
    return client.ok(
        "user-edit",
        {
            "user_id": user_id,
            "user_role": role,
            "session_token": token,
            "target_userid": target,
            "update_dict": update,
        },
    )


def test_user_edit_self(client):
    user = sign_up(client, "edit")
    s = new_session(client, user_id=user["user_id"])["session_token"]
    new_email = unique_email("edit-new")

    env = _edit(
        client,
        user["user_id"],
        "authenticated",
        s,
        user["user_id"],
        {"full_name": "Renamed Person", "email": new_email},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_EDIT_OK], env
    assert "failure_reason" not in env, env
    info = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS, sorted(set(info) ^ USER_INFO_KEYS)
    assert info["user_id"] == user["user_id"]
    assert info["full_name"] == "Renamed Person"
    assert info["email"] == new_email
    assert info["user_role"] == "authenticated"

    # the new e-mail logs in; the old one is gone
    env = client.ok("user-lookup-email", {"email": user["email"]})
    assert env["success"] is False, env
    _assert_login_ok(_login_fresh(client, new_email, user["password"]), user["user_id"])


def test_user_edit_self_failures(client):
    user = sign_up(client, "edit-fail")
    other = sign_up(client, "edit-fail-o")
    s = new_session(client, user_id=user["user_id"])["session_token"]
    uid = user["user_id"]

    # keys other than full_name/email
    env = _edit(client, uid, "authenticated", s, uid, {"full_name": "X Y", "user_role": "superuser"})
    _assert_failure(
        env,
        "role 'authenticated' can't edit anything other than 'full_name', 'email'",
        [MSG_EDIT_EXTRA],
        user_info=None,
    )
    # a dead session
    dead = new_session(client, user_id=uid)["session_token"]
    client.ok("session-delete", {"session_token": dead})
    env = _edit(client, uid, "authenticated", dead, uid, {"full_name": "X Y"})
    _assert_failure(
        env, "no valid session found for originating user_id", [MSG_EDIT_NO_SESSION], user_info=None
    )
    # someone else's session
    other_sess = new_session(client, user_id=other["user_id"])["session_token"]
    env = _edit(client, uid, "authenticated", other_sess, uid, {"full_name": "X Y"})
    _assert_failure(
        env, "no valid session found for originating user_id", [MSG_EDIT_NO_SESSION], user_info=None
    )
    # the claimed role differs from the session's
    env = _edit(client, uid, "staff", s, uid, {"full_name": "X Y"})
    _assert_failure(
        env, "no valid session found for originating user_id", [MSG_EDIT_NO_SESSION], user_info=None
    )
    # editing another user as a normal user
    env = _edit(client, uid, "authenticated", s, other["user_id"], {"full_name": "X Y"})
    _assert_failure(env, "invalid session for edit attempt", [MSG_EDIT_OTHER], user_info=None)
    # claiming to be the superuser
    env = _edit(client, uid, "superuser", s, other["user_id"], {"full_name": "X Y"})
    _assert_failure(
        env, "invalid session for edit attempt", [MSG_SUPERUSER_SESSION], user_info=None
    )
    # the system users
    for system_user in (2, 3):
        env = _edit(client, uid, "authenticated", s, system_user, {"full_name": "X Y"})
        _assert_failure(
            env,
            "invalid request: can't edit anonymous/locked users",
            [MSG_SYSTEM_USERS],
            user_info=None,
        )
    # nothing changed
    assert _user_info(client, user["email"])["full_name"] == user["full_name"]
    assert _user_info(client, other["email"])["full_name"] == other["full_name"]


def test_user_edit_by_superuser(server, client):
    admin = _admin_session(server, client)
    user = sign_up(client, "suedit")

    env = _edit(
        client,
        1,
        "superuser",
        admin,
        user["user_id"],
        {"full_name": "Promoted Person", "user_role": "staff", "is_active": True, "email_verified": True},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_EDIT_OK], env
    info = env["response"]["user_info"]
    assert info["user_id"] == user["user_id"]
    assert info["full_name"] == "Promoted Person"
    assert info["user_role"] == "staff"
    assert info["is_active"] is True and info["email_verified"] is True

    env = _login_fresh(client, user["email"], user["password"])
    _assert_login_ok(env, user["user_id"])
    assert env["response"]["user_role"] == "staff"

    # staff may edit their own name and e-mail
    s = new_session(client, user_id=user["user_id"])["session_token"]
    env = _edit(client, user["user_id"], "staff", s, user["user_id"], {"full_name": "Staff Self"})
    assert env["success"] is True, env
    assert env["response"]["user_info"]["full_name"] == "Staff Self"

    # a disallowed key: the repr of the update_dict keys
    env = _edit(client, 1, "superuser", admin, user["user_id"], {"extra_info": {"a": 1}})
    _assert_failure(
        env,
        "role: 'superuser' is not allowed to edit items: '['extra_info']'",
        [MSG_EDIT_EXTRA],
        user_info=None,
    )
    # a role that is not in the policy
    env = _edit(client, 1, "superuser", admin, user["user_id"], {"user_role": "wizard"})
    _assert_failure(
        env, "role change requested is not valid", [MSG_EDIT_BAD_ROLE], user_info=None
    )
    # unknown target
    env = _edit(client, 1, "superuser", admin, 10**9, {"full_name": "Nobody Here"})
    _assert_failure(env, "exception when trying to update user", ["User update failed."], user_info=None)
    # a dead superuser session
    client.ok("session-delete", {"session_token": admin})
    env = _edit(client, 1, "superuser", admin, user["user_id"], {"full_name": "Nope Nope"})
    _assert_failure(
        env, "invalid session for edit attempt", [MSG_SUPERUSER_SESSION], user_info=None
    )
    assert _user_info(client, user["email"])["user_role"] == "staff"


def test_user_edit_superuser_disallowed_keys_in_request_order(server, client):
    """3.3: the failure reason lists ALL update_dict keys as a Python list, in
    the order of the request (a Python dict keeps the JSON object's order);
    PROTOCOL.md's own example is exactly this request."""
    admin = _admin_session(server, client)
    user = sign_up(client, "suedit-keys")
    env = _edit(
        client, 1, "superuser", admin, user["user_id"], {"user_role": "staff", "extra_info": {"a": 1}}
    )
    _assert_failure(
        env,
        "role: 'superuser' is not allowed to edit items: '['user_role', 'extra_info']'",
        [MSG_EDIT_EXTRA],
        user_info=None,
    )
    assert _user_info(client, user["email"])["user_role"] == "authenticated"


# -- internal-user-edit (3.8) ----------------------------------------------------------------


def test_internal_user_edit(client):
    user = sign_up(client, "iedit")
    before = _user_info(client, user["email"])
    assert before["extra_info"] == {
        "provenance": "request-created",
        "type": "normal-user",
        "verify_retry_wait": 6,
    }

    env = client.ok(
        "internal-user-edit",
        {
            "target_userid": user["user_id"],
            "update_dict": {
                "full_name": "Internally Edited",
                "extra_info": {
                    "type": "__delete__",  # existing key: removed
                    "never_there": "__delete__",  # absent key: stored literally
                    "color": "blue",
                    "verify_retry_wait": 12,
                },
            },
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_IEDIT_OK], env
    assert "failure_reason" not in env, env
    info = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS, sorted(set(info) ^ USER_INFO_KEYS)
    assert info["full_name"] == "Internally Edited"
    assert info["extra_info"] == {
        "provenance": "request-created",
        "verify_retry_wait": 12,
        "never_there": "__delete__",
        "color": "blue",
    }

    # without extra_info in update_dict the stored one is kept
    env = client.ok(
        "internal-user-edit",
        {"target_userid": user["user_id"], "update_dict": {"user_role": "staff"}},
    )
    assert env["success"] is True, env
    info = env["response"]["user_info"]
    assert info["user_role"] == "staff"
    assert info["extra_info"]["color"] == "blue"
    assert _user_info(client, user["email"]) == info


def test_internal_user_edit_failures(client):
    user = sign_up(client, "iedit-fail")
    env = client.ok("internal-user-edit", {"target_userid": user["user_id"], "update_dict": {}})
    _assert_failure(env, FR_MISSING_UPDATE_DICT, [MSG_IEDIT_MISSING])

    env = client.ok(
        "internal-user-edit",
        {"target_userid": user["user_id"], "update_dict": {"password": "x" * 20}},
    )
    _assert_failure(
        env,
        "invalid request: disallowed keys in update_dict: {'password'}",
        [MSG_IEDIT_DISALLOWED],
    )
    env = client.ok(
        "internal-user-edit",
        {"target_userid": user["user_id"], "update_dict": {"user_id": 1, "system_id": "x"}},
    )
    assert env["success"] is False, env
    assert env["failure_reason"] in (
        "invalid request: disallowed keys in update_dict: {'user_id', 'system_id'}",
        "invalid request: disallowed keys in update_dict: {'system_id', 'user_id'}",
    ), env
    assert env["messages"] == [MSG_IEDIT_DISALLOWED], env

    env = client.ok(
        "internal-user-edit",
        {"target_userid": 10**9, "update_dict": {"full_name": "Nobody At All"}},
    )
    _assert_failure(env, "no such user", [MSG_IEDIT_FAILED])

    env = client.ok(
        "internal-user-edit",
        {"target_userid": user["user_id"], "update_dict": {"no_such_column": 1}},
    )
    _assert_failure(env, "DB error when updating user info", [MSG_IEDIT_FAILED])

    assert _user_info(client, user["email"])["full_name"] == user["full_name"]


# -- internal-session-edit (3.1) --------------------------------------------------------------


def test_internal_session_edit(client):
    user = sign_up(client, "sedit")
    s = new_session(client, user_id=user["user_id"], extra_info_json={"a": "1", "b": "2"})
    token = s["session_token"]

    env = client.ok(
        "internal-session-edit",
        {
            "target_session_token": token,
            "update_dict": {"a": "__delete__", "c": 3, "z": "__delete__"},
        },
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_SEDIT_OK], env
    assert "failure_reason" not in env, env
    info = env["response"]["session_info"]
    assert set(info) == SESSION_EDIT_KEYS, sorted(set(info) ^ SESSION_EDIT_KEYS)
    assert info["user_id"] == user["user_id"]
    assert info["session_token"] == token
    assert info["extra_info_json"] == {"b": "2", "c": 3, "z": "__delete__"}

    stored = session_exists(client, token)["response"]["session_info"]
    assert stored["extra_info_json"] == {"b": "2", "c": 3, "z": "__delete__"}

    # a session without extra_info_json starts from {}
    bare = new_session(client, user_id=user["user_id"])["session_token"]
    env = client.ok(
        "internal-session-edit", {"target_session_token": bare, "update_dict": {"k": "v"}}
    )
    assert env["success"] is True, env
    assert env["response"]["session_info"]["extra_info_json"] == {"k": "v"}

    # empty update_dict
    env = client.ok("internal-session-edit", {"target_session_token": token, "update_dict": {}})
    _assert_failure(env, FR_MISSING_UPDATE_DICT, [MSG_SEDIT_MISSING], session_info=None)

    # a dead session
    client.ok("session-delete", {"session_token": bare})
    env = client.ok(
        "internal-session-edit", {"target_session_token": bare, "update_dict": {"k": "w"}}
    )
    _assert_failure(env, "no such session", [MSG_SEDIT_FAILED])


# -- user-lookup-match (3.3) ------------------------------------------------------------------


def test_user_lookup_match(client):
    user = sign_up(client, "match")
    other = sign_up(client, "match-o")
    tag = secrets.token_hex(8)
    env = client.ok(
        "internal-user-edit",
        {"target_userid": user["user_id"], "update_dict": {"extra_info": {"e2e_tag": tag}}},
    )
    assert env["success"] is True, env

    # by e-mail
    env = client.ok("user-lookup-match", {"by": "email", "match": user["email"]})
    assert env["success"] is True, env
    [info] = env["response"]["user_info"]
    assert set(info) == USER_INFO_KEYS, sorted(set(info) ^ USER_INFO_KEYS)
    assert info["user_id"] == user["user_id"]

    # by extra_info (string values)
    env = client.ok("user-lookup-match", {"by": "extra_info", "match": {"e2e_tag": tag}})
    assert env["success"] is True, env
    assert [u["user_id"] for u in env["response"]["user_info"]] == [user["user_id"]]

    # several keys must all hold
    env = client.ok(
        "user-lookup-match",
        {"by": "extra_info", "match": {"e2e_tag": tag, "type": "normal-user"}},
    )
    assert [u["user_id"] for u in env["response"]["user_info"]] == [user["user_id"]]
    env = client.ok(
        "user-lookup-match",
        {"by": "extra_info", "match": {"e2e_tag": tag, "type": "someone-else"}},
    )
    assert env["success"] is True, env
    assert env["response"]["user_info"] == []

    # several matches, ordered by user_id
    env = client.ok("user-lookup-match", {"by": "full_name", "match": "Test User"})
    assert env["success"] is True, env
    ids = [u["user_id"] for u in env["response"]["user_info"]]
    assert user["user_id"] in ids and other["user_id"] in ids
    assert ids == sorted(ids)

    # no match: empty list
    env = client.ok("user-lookup-match", {"by": "email", "match": unique_email("match-none")})
    assert env["success"] is True, env
    assert env["response"]["user_info"] == []

    # dict match with a non-extra_info column and vice versa
    for body in (
        {"by": "email", "match": {"e2e_tag": tag}},
        {"by": "extra_info", "match": tag},
    ):
        env = client.ok("user-lookup-match", body)
        _assert_failure(env, FR_MATCH_INVALID, [MSG_MATCH_INVALID], user_info=None)

    # Q-13 (fixed): `password` is rejected like an unknown column
    for by in ("password", "no_such_column"):
        env = client.ok("user-lookup-match", {"by": by, "match": user["password"]})
        assert env["success"] is False, (by, env)
        assert env["failure_reason"] == "exception in DB access", (by, env)
        assert env["messages"] == [MSG_USER_LOOKUP_FAILED], (by, env)
        assert not env["response"].get("user_info"), (by, env)


# -- automatic lock after repeated login failures (4.2) ---------------------------------------

LOCK_TRIES = 2
LOCK_TIME = 3  # seconds


@pytest.fixture(scope="module")
def lock_server():
    """A dedicated server with `userlocktries=2`, `userlocktime=3`: its
    failure counters and locks must not disturb the shared server."""
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: cannot start a server with a custom lock config")
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-lock-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    if result.returncode != 0:
        pytest.fail(f"autosetup failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    # Set the values in the basedir's .env too, whichever of .env and the
    # command line takes precedence (7.1).
    env_file = basedir / ".env"
    lines = [
        line
        for line in env_file.read_text().splitlines()
        if not line.startswith(("AUTHNZERVER_USERLOCKTRIES=", "AUTHNZERVER_USERLOCKTIME="))
    ]
    lines += [f"AUTHNZERVER_USERLOCKTRIES={LOCK_TRIES}", f"AUTHNZERVER_USERLOCKTIME={LOCK_TIME}"]
    env_file.write_text("\n".join(lines) + "\n")

    srv = start_server(
        binary,
        basedir,
        tmp / "authnzrv-lock.log",
        [f"--userlocktries={LOCK_TRIES}", f"--userlocktime={LOCK_TIME}"],
    )
    yield srv
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def _timed(fn, *args):
    start = time.monotonic()
    env = fn(*args)
    return env, time.monotonic() - start


def _assert_lock_response(env):
    """4.2: the replaced response, no failure_reason anywhere."""
    assert env["success"] is False, env
    assert "failure_reason" not in env, env
    assert env["messages"] == [MSG_AUTO_LOCK], env
    assert env["response"] == {"success": False, "user_id": None, "messages": [MSG_AUTO_LOCK]}, env


def test_automatic_lock_after_repeated_failures(lock_server):
    client = _other_client(lock_server)
    user = sign_up(client, "autolock")
    s = new_session(client, user_id=user["user_id"])["session_token"]
    wrong = user["password"] + "-wrong"

    # baseline: how long a normal login round trip takes here
    _, baseline = _timed(_login_fresh, client, user["email"], user["password"])

    # failures 1..userlocktries: normal failure after 1 s, 1.5 s
    for count in range(1, LOCK_TRIES + 1):
        env, took = _timed(_login_fresh, client, user["email"], wrong)
        _assert_login_failed(env)
        delay = min(1.5 ** (count - 1), 40)
        assert took >= delay - 0.05, f"failure #{count} answered after {took:.2f}s, spec: {delay}s"

    # failure userlocktries + 1: locked, exact response, no delay
    env, took = _timed(_login_fresh, client, user["email"], wrong)
    _assert_lock_response(env)
    assert took < 1.0 + baseline, f"lock response took {took:.2f}s: no delay expected"

    # the account is locked and has lost its sessions
    info = _user_info(client, user["email"])
    assert info["user_role"] == "locked" and info["is_active"] is False, info
    assert_session_gone(client, s)

    # even the right password is refused now, and counts as another failure
    env = _login_fresh(client, user["email"], user["password"])
    _assert_lock_response(env)
    locked_at = time.monotonic()

    # after userlocktime the account is unlocked again
    deadline = locked_at + LOCK_TIME + 15
    while True:
        time.sleep(0.5)
        info = _user_info(client, user["email"])
        if info["is_active"]:
            break
        assert time.monotonic() < deadline, f"still locked {LOCK_TIME + 15}s after the lock: {info}"
    assert time.monotonic() - locked_at >= LOCK_TIME - 0.5, "unlocked before userlocktime"
    assert info["user_role"] == "authenticated", info

    # the right password works and clears the counter ...
    _assert_login_ok(_login_fresh(client, user["email"], user["password"]), user["user_id"])
    # ... so the next failure is an ordinary one again (1 s delay, no lock)
    env, took = _timed(_login_fresh, client, user["email"], wrong)
    _assert_login_failed(env)
    assert took >= 0.95, took


def test_automatic_lock_unknown_email_same_response(lock_server):
    """No user enumeration: an unknown e-mail gets the same lock response."""
    client = _other_client(lock_server)
    email = unique_email("autolock-nobody")
    for _ in range(LOCK_TRIES):
        _assert_login_failed(_login_fresh(client, email, "Wrong-password-123"))
    _assert_lock_response(_login_fresh(client, email, "Wrong-password-123"))
    env = client.ok("user-lookup-email", {"email": email})
    assert env["success"] is False, env


def test_automatic_lock_passcheck_nosession(lock_server):
    """user-passcheck-nosession is subject to the same back-off and lock."""
    client = _other_client(lock_server)
    user = sign_up(client, "autolock-pc")
    body = {"email": user["email"], "password": user["password"] + "-wrong"}
    for _ in range(LOCK_TRIES):
        env = client.ok("user-passcheck-nosession", body)
        assert env["success"] is False, env
        assert env["failure_reason"] == FR_LOGIN_FAILED, env
        assert env["messages"] == [MSG_LOGIN_FAILED], env
    env = client.ok("user-passcheck-nosession", body)
    _assert_lock_response(env)
    info = _user_info(client, user["email"])
    assert info["user_role"] == "locked" and info["is_active"] is False, info
