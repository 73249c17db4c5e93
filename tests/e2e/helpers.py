"""Shared constants and helpers for the e2e tests, all taken from
spec/PROTOCOL.md (section numbers in comments)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import secrets
import socket
from pathlib import Path

from authnz_client import Client

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"

# -- error bodies (1.10) ------------------------------------------------------
BODY_400 = "HTTP 400: Could not service this request because of invalid request parameters."
BODY_401 = (
    "HTTP 401: Could not service this request because of invalid request "
    "authentication token or violation of host restriction."
)
BODY_405 = "HTTP 405: Could not service this request."
BODY_500 = "HTTP 500: Could not service this request."
BODY_404_HTML = "<html><title>404: Not Found</title><body>404: Not Found</body></html>"
TEXT_PLAIN = "text/plain; charset=UTF-8"
TEXT_HTML = "text/html; charset=UTF-8"

# -- standard objects (3.0) -----------------------------------------------------
USER_INFO_KEYS = {
    "user_id", "system_id", "full_name", "email", "email_verified", "is_active",
    "last_login_try", "last_login_success", "failed_login_tries", "created_on",
    "last_updated", "user_role", "extra_info", "emailverify_sent_datetime",
    "emailforgotpass_sent_datetime", "emailchangepass_sent_datetime",
}  # fmt: skip
SESSION_INFO_KEYS = {
    "user_id", "system_id", "full_name", "email", "extra_info", "email_verified",
    "emailverify_sent_datetime", "is_active", "last_login_try",
    "last_login_success", "created_on", "user_role",
    "session_token", "ip_address", "user_agent", "created", "expires",
    "extra_info_json",
}  # fmt: skip

# 1.6: naive UTC isoformat, ".ffffff" only when microseconds are non-zero.
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32), 3.1

# -- messages (3.1-3.3) ---------------------------------------------------------
MSG_SESSION_NEW = "Generated session_token successfully. Session initiated."
MSG_SESSION_LOOKUP_OK = "Session look up successful."
MSG_SESSION_LOOKUP_FAILED = "Session look up failed."
FR_SESSION_MISSING = "session does not exist or expired"
MSG_USER_CREATED = "User account created. Please verify your email address to log in."
MSG_INVALID_EMAIL = (
    "The email address provided doesn't seem to be a valid email address and "
    "cannot be used to sign up for an account on this server."
)
MSG_VERIFIED = "Email verification toggle request succeeded."
MSG_LOGIN_OK = "Login successful."
MSG_LOGIN_FAILED = "Sorry, that user ID and password combination didn't work."
FR_LOGIN_FAILED = "user does not exist or password doesn't match"
MSG_NO_SESSION = "No session token provided."
MSG_PASSCHECK_OK = "Verification successful."
MSG_LOGOUT_OK = "Logout successful."
MSG_USER_LOOKUP_OK = "User look up successful."
MSG_USER_LOOKUP_FAILED = "User look up failed."

# -- password policy messages (5.1) -------------------------------------------
PW_SHORT = "Your password is too short. It must have at least {n} characters."
PW_COMMON = (
    "Your password is on the list of the most common passwords and is "
    "vulnerable to guessing."
)
PW_SIMILAR = (
    "Your password is too similar to either the domain name of this server or "
    "your own name or email address."
)
PW_FREQUENT = (
    "Your password is not complex enough. One or more characters appear "
    "appear too frequently."
)
PW_DIGITS = "Your password cannot be all numbers."
DEFAULT_POLICY = {"min_len": 12, "max_sim": 50, "max_freq": 0.3}


def squeeze(s: str) -> str:
    """5.6: runs of U+0000..U+0020 become one space, then strip()."""
    return re.sub(r"[\x00-\x20]+", " ", s).strip()


def policy_messages(password: str, email: str, full_name: str) -> list[str]:
    """The messages of checks 1-5 of the password policy (5.1) with the
    default `passpolicy`, computed independently of the server."""
    p = password[:256]
    msgs = []
    if len(squeeze(p.strip())) < DEFAULT_POLICY["min_len"]:
        msgs.append(PW_SHORT.format(n=DEFAULT_POLICY["min_len"]))
    common = set((DATA / "top-10k-passwords.txt").read_text().splitlines())
    if p.casefold() in common:
        msgs.append(PW_COMMON)
    folded = squeeze(p.casefold().strip())
    sims = [
        100 * difflib.SequenceMatcher(None, folded, other.casefold()).ratio()
        for other in (socket.getfqdn(), email, full_name)
    ]
    if any(s >= DEFAULT_POLICY["max_sim"] for s in sims):
        msgs.append(PW_SIMILAR)
    if p and max(p.count(c) for c in set(p)) > DEFAULT_POLICY["max_freq"] * len(p):
        msgs.append(PW_FREQUENT)
    if p.isdigit():
        msgs.append(PW_DIGITS)
    return msgs


def unique_email(tag: str) -> str:
    """A fresh, valid, already-normalised sign-up address (5.4)."""
    return f"e2e-{tag}-{secrets.token_hex(5)}@example.org"


def strong_password(email: str, full_name: str) -> str:
    """A random password that passes checks 1-5 of 5.1."""
    while True:
        pw = secrets.token_urlsafe(18)
        if not policy_messages(pw, email, full_name):
            return pw


def expires_in(days: float = 1.0) -> str:
    """A naive-UTC expiry in the upstream wire format (with a fraction, 3.1)."""
    t = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=days)
    if t.microsecond == 0:
        t = t.replace(microsecond=1)
    return t.isoformat()


def new_session(client: Client, user_id=None, extra_info_json=None, days: float = 1.0) -> dict:
    """session-new; returns the envelope's `response` after basic checks."""
    env = client.ok(
        "session-new",
        {
            "ip_address": "127.0.0.1",
            "user_agent": "authnz-e2e/1.0",
            "user_id": user_id,
            "expires": expires_in(days),
            "extra_info_json": extra_info_json,
        },
    )
    assert env["success"] is True, env
    return env["response"]


def sign_up(client: Client, tag: str, *, verify: bool = True) -> dict:
    """user-new (+ user-set-emailverified); returns email, password, user_id, full_name."""
    full_name = "Test User"
    email = unique_email(tag)
    password = strong_password(email, full_name)
    env = client.ok("user-new", {"full_name": full_name, "email": email, "password": password})
    assert env["success"] is True, env
    user = {
        "email": email,
        "password": password,
        "full_name": full_name,
        "user_id": env["response"]["user_id"],
        "system_id": env["response"]["system_id"],
    }
    if verify:
        env = client.ok("user-set-emailverified", {"email": email})
        assert env["success"] is True, env
    return user


def session_exists(client: Client, token: str) -> dict:
    return client.ok("session-exists", {"session_token": token})


def assert_session_gone(client: Client, token: str) -> None:
    env = session_exists(client, token)
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_SESSION_MISSING, env
    assert env["messages"] == [MSG_SESSION_LOOKUP_FAILED], env
    assert env["response"]["session_info"] is None, env
