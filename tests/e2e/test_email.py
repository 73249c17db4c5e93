"""The e-mail request types (PROTOCOL.md 3.5, with Q-5 and Q-9 fixed as issue 6
asks), driven end to end against the real server and its default **file**
mailer: every sent message is one `.eml` file in `<basedir>/mail-outbox/`,
which the tests read back and parse with Python's `email` package.

- sign-up: session-new -> user-new -> user-sendemail-signup -> the mail
  (headers, text and HTML parts, token, link, e-mail) -> verify -> login;
- forgot-password: the mail, then the once-per-24-hours refusal;
- user-set-emailsent: signup, forgotpass, unknown e-mail, bad email_type;
- user-sendemail-signup refusals (send_verification false, active user,
  dead session), none of which may write a mail.

The aggressive rate limits of 4.1 allow 2 requests per minute for each of
the three types, per client address and per e-mail, so every test uses a
fresh client address for each handful of e-mail requests and a fresh user
for each case.
"""

from __future__ import annotations

import configparser
import datetime as dt
import email
import email.policy
import email.utils
import random
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from authnz_client import Client
from helpers import (
    ISO_RE,
    MSG_LOGIN_OK,
    MSG_VERIFIED,
    sign_up,
    strong_password,
    unique_email,
)

# -- messages of 3.5 -------------------------------------------------------------
MSG_SIGNUP_SENT = "Verify email sent successfully."
FR_SIGNUP_NOT_ALLOWED = (
    "not allowed to send verification email to target user, send_verification = False"
)
MSG_SIGNUP_NOT_ALLOWED = "Not allowed to send an email verification request."
FR_SIGNUP_ACTIVE = "target user for verification email already active and verified"
MSG_SIGNUP_ACTIVE = "Not sending an verify email request to an existing user."
FR_SIGNUP_SESSION = "invalid session for requesting a verification email"
MSG_SIGNUP_INVALID = "Invalid verify email request."

MSG_FORGOT_SENT = "Password reset request sent successfully to ['{email}']"
FR_FORGOT_24H = "forgot-pass verification email sent less than 24 hours ago"
MSG_FORGOT_INVALID = "Invalid password reset email request."

MSG_EMAILSENT_OK = "Email sent notification request succeeded."
FR_EMAILSENT_NO_USER = "could not update the email sent status in DB"
MSG_EMAILSENT_FAILED = "Email sent notification request failed."
FR_EMAILSENT_TYPE = "invalid request: invalid email_type requested"
MSG_EMAILSENT_TYPE = "Invalid email sent notification request."

SUBJECT_SIGNUP = "[{name}] Please verify your account sign up request"
SUBJECT_FORGOT = "[{name}] Please verify your password reset request"

# Defaults of the server (README / authnz-mail README): file mailer writing
# into <basedir>/mail-outbox, sender "Authnzerver <authnzerver@localhost>".
DEFAULT_SENDER = "Authnzerver <authnzerver@localhost>"
DEFAULT_OUTBOX = "mail-outbox"

SIGNUP_FIELDS = {"user_id", "email_address", "emailverify_sent_datetime"}
FORGOT_FIELDS = {"user_id", "email_address", "emailforgotpass_sent_datetime"}
EMAILSENT_FIELDS = {
    "email", "emailverify_sent_datetime", "emailforgotpass_sent_datetime",
    "user_id", "is_active", "user_role",
}  # fmt: skip

# A session's browser string with `_` in it: the mail shows it with `.`.
USER_AGENT = "Mozilla/5.0 (e2e_mail_agent)"
USER_AGENT_IN_MAIL = "Mozilla/5.0 (e2e.mail.agent)"
SESSION_IP = "192.0.2.45"


# -- helpers ---------------------------------------------------------------------


@dataclass
class Outbox:
    dir: Path
    sender: str

    def snapshot(self) -> set[str]:
        if not self.dir.is_dir():
            return set()
        return {p.name for p in self.dir.glob("*.eml")}

    def new_since(self, before: set[str]) -> list[Path]:
        return sorted(self.dir / n for n in self.snapshot() - before)

    def one_new(self, before: set[str]) -> email.message.EmailMessage:
        new = self.new_since(before)
        assert len(new) == 1, f"expected exactly one new .eml in {self.dir}, got {new}"
        with open(new[0], "rb") as f:
            return email.message_from_binary_file(f, policy=email.policy.default)


@pytest.fixture(scope="module")
def outbox(server) -> Outbox:
    """The file mailer's folder and the configured sender, read from the
    autosetup `.env` (INI default section, 7.3) with the documented defaults."""
    if server.proc is None:
        pytest.skip("external server (AUTHNZ_E2E_URL): its mail outbox is not readable")
    cp = configparser.ConfigParser(interpolation=None)
    envfile = server.basedir / ".env"
    cp.read_string("[env]\n" + envfile.read_text())
    env = cp["env"]
    mailer = env.get("AUTHNZERVER_MAILER", "file").strip() or "file"
    if mailer.lower() != "file":
        pytest.skip(f"the e2e server's mailer is {mailer!r}, not the file mailer")
    outdir = env.get("AUTHNZERVER_EMAILFILEDIR", "").strip()
    path = Path(outdir) if outdir else Path(DEFAULT_OUTBOX)
    if not path.is_absolute():
        path = server.basedir / path
    sender = env.get("AUTHNZERVER_EMAILSENDER", "").strip() or DEFAULT_SENDER
    return Outbox(dir=path, sender=sender)


def fresh_client(server) -> Client:
    """A client with its own address: 4.1 allows only 2 e-mail requests of
    each type per minute and address."""
    rnd = random.Random()
    addr = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    return server.client(client_ipaddr=addr)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def assert_recent(value, what: str, slack: float = 120.0) -> dt.datetime:
    assert isinstance(value, str) and ISO_RE.match(value), (what, value)
    t = dt.datetime.fromisoformat(value)
    assert abs((t - utcnow()).total_seconds()) < slack, f"{what} = {value} is not naive UTC now"
    return t


def browser_session(client: Client, user_id=None) -> dict:
    env = client.ok(
        "session-new",
        {
            "ip_address": SESSION_IP,
            "user_agent": USER_AGENT,
            "user_id": user_id,
            "expires": (utcnow() + dt.timedelta(days=1)).isoformat(),
            "extra_info_json": None,
        },
    )
    assert env["success"] is True, env
    return env["response"]


def new_user(client: Client, tag: str) -> tuple[dict, dict]:
    """user-new only (the user stays locked, unverified); returns the user
    dict of `sign_up` and the `user-new` response (the `created_info`)."""
    user = sign_up(client, tag, verify=False)
    created = {
        "send_verification": True,
        "user_id": user["user_id"],
        "user_email": user["email"],
    }
    return user, created


def long_token() -> str:
    """A verification token well past the 70-character wrapping width."""
    tok = secrets.token_urlsafe(96)  # 128 characters of [A-Za-z0-9_-]
    assert len(tok) > 70
    return tok


def signup_body(session_token: str, user: dict, created: dict, **over) -> dict:
    body = {
        "email_address": user["email"],
        "session_token": session_token,
        "created_info": created,
        "server_name": "Authnz E2E",
        "server_baseurl": "https://e2e.example.org",
        "server_verify_url": "/users/verify",
        "account_verify_url": "/users/verify",
        "verification_token": long_token(),
        "verification_expiry": 900,
    }
    body.update(over)
    return body


def mail_parts(msg: email.message.EmailMessage) -> tuple[str, str]:
    """The decoded text/plain and text/html parts (exactly one of each)."""
    plain = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
    html = [p for p in msg.walk() if p.get_content_type() == "text/html"]
    types = [p.get_content_type() for p in msg.walk()]
    assert len(plain) == 1, f"text/plain parts: {len(plain)} (parts: {types})"
    assert len(html) == 1, f"text/html parts: {len(html)} (parts: {types})"
    return plain[0].get_content(), html[0].get_content()


def rejoined(text: str) -> str:
    """The body with line breaks (and, for HTML, <br> tags) removed, so a
    token wrapped at 70 characters per line reads as one string again."""
    text = re.sub(r"<br\s*/?>", "", text, flags=re.I)
    return re.sub(r"[ \t]*\r?\n[ \t]*", "", text)


def assert_token_in(body: str, token: str, part: str) -> None:
    assert token in body or token in rejoined(body), (
        f"verification token not in the {part} part:\n{body}"
    )
    if token not in body:
        # Wrapped: no line of the wrapped token may be longer than 70.
        for line in body.splitlines():
            chunk = re.sub(r"<br\s*/?>", "", line, flags=re.I).strip()
            if chunk and chunk in token:
                assert len(chunk) <= 70, (part, chunk)


def assert_mail_headers(msg, outbox: Outbox, to: str, subject: str) -> None:
    assert msg["Subject"] == subject, msg["Subject"]
    assert [a.lower() for _, a in email.utils.getaddresses([str(msg["To"])])] == [to.lower()], (
        msg["To"]
    )
    want_name, want_addr = email.utils.parseaddr(outbox.sender)
    got_name, got_addr = email.utils.parseaddr(str(msg["From"]))
    assert (got_name, got_addr.lower()) == (want_name, want_addr.lower()), msg["From"]
    # 3.5 step 4: Message-Id, Date and Sender (the bare sender address)
    assert msg["Message-Id"], "no Message-Id header"
    assert msg["Date"], "no Date header"
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert date.tzinfo is not None
    assert abs((date - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 300, msg["Date"]
    assert msg["Sender"] is not None, "no Sender header"
    assert str(msg["Sender"]).strip().lower() == want_addr.lower(), msg["Sender"]


def assert_expiry_in(body: str, seconds: int, sent_at: dt.datetime) -> None:
    """3.5: the expiry `now + verification_expiry`, isoformat + ` (UTC time)`."""
    m = re.search(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?) \(UTC time\)", body)
    assert m, f"no '<isoformat> (UTC time)' expiry in:\n{body}"
    expiry = dt.datetime.fromisoformat(m.group(1))
    want = sent_at + dt.timedelta(seconds=seconds)
    assert abs((expiry - want).total_seconds()) < 120, (m.group(0), want)


def assert_signup_failure(env: dict, fr: str, msg: str) -> None:
    assert env["success"] is False, env
    assert env["failure_reason"] == fr, env
    assert env["messages"] == [msg], env
    for k in sorted(SIGNUP_FIELDS):
        assert k in env["response"] and env["response"][k] is None, (k, env)


# -- (1) sign-up with a verification mail --------------------------------------


@pytest.mark.parametrize("url_key", ["account_verify_url", "server_verify_url"])
def test_email_signup_verification_mail(server, outbox, url_key):
    client = fresh_client(server)
    session = browser_session(client)

    # user-new: its response is the created_info
    full_name = "Mail Signup User"
    email_addr = unique_email("mail-signup")
    password = strong_password(email_addr, full_name)
    env = client.ok(
        "user-new", {"full_name": full_name, "email": email_addr, "password": password}
    )
    assert env["success"] is True, env
    created = env["response"]
    assert created["send_verification"] is True, created
    assert created["user_email"] == email_addr, created
    created_info = {
        "send_verification": created["send_verification"],
        "user_id": created["user_id"],
        "user_email": created["user_email"],
    }

    server_name = f"Authnz E2E {secrets.token_hex(3)}"
    baseurl = "https://e2e.example.org"
    fragment = f"/users/verify-{secrets.token_hex(4)}"
    token = long_token()
    body = {
        "email_address": email_addr,
        "session_token": session["session_token"],
        "created_info": created_info,
        "server_name": server_name,
        "server_baseurl": baseurl,
        "verification_token": token,
        "verification_expiry": 900,
    }
    if url_key == "account_verify_url":
        # both given: account_verify_url is the one used
        body["account_verify_url"] = fragment
        body["server_verify_url"] = "/not/this/one"
    else:
        # only server_verify_url (upstream's schema name): the fallback
        body["server_verify_url"] = fragment

    before = outbox.snapshot()
    sent_at = utcnow()
    env = client.ok("user-sendemail-signup", body)
    assert env["success"] is True, env
    assert env["messages"] == [MSG_SIGNUP_SENT], env
    assert "failure_reason" not in env, env
    r = env["response"]
    assert SIGNUP_FIELDS <= set(r), sorted(r)
    assert r["user_id"] == created["user_id"], r
    assert r["email_address"] == email_addr, r
    assert_recent(r["emailverify_sent_datetime"], "emailverify_sent_datetime")

    # exactly one new mail, read back from the file mailer
    msg = outbox.one_new(before)
    assert_mail_headers(msg, outbox, email_addr, SUBJECT_SIGNUP.format(name=server_name))
    plain, html = mail_parts(msg)
    url = baseurl + fragment
    for part, text in (("text/plain", plain), ("text/html", html)):
        assert_token_in(text, token, part)
        assert url in text or url in rejoined(text), f"{url} not in the {part} part:\n{text}"
        assert "/not/this/one" not in text, part
        assert email_addr in text, f"{email_addr} not in the {part} part:\n{text}"
        assert server_name in text, f"server name not in the {part} part:\n{text}"
    # 3.5: the browser string (with `_` -> `.`), the IP address and the expiry
    assert USER_AGENT_IN_MAIL in plain, plain
    assert SESSION_IP in plain, plain
    assert_expiry_in(plain, 900, sent_at)

    # the user verifies (3.3) and logs in with a fresh anonymous session (3.2)
    env = client.ok("user-set-emailverified", {"email": email_addr})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_VERIFIED], env
    assert env["response"]["user_id"] == created["user_id"], env
    assert env["response"]["is_active"] is True, env
    assert env["response"]["user_role"] == "authenticated", env

    login = browser_session(client)
    env = client.ok(
        "user-login",
        {"session_token": login["session_token"], "email": email_addr, "password": password},
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_LOGIN_OK], env
    assert env["response"]["user_id"] == created["user_id"], env
    assert env["response"]["user_role"] == "authenticated", env


# -- (2) forgot-password mail and the 24-hour rule ------------------------------


def forgot_body(session_token: str, email_addr: str, server_name: str, token: str) -> dict:
    return {
        "email_address": email_addr,
        "session_token": session_token,
        "server_name": server_name,
        "server_baseurl": "https://e2e.example.org",
        "password_forgot_url": "/users/forgot-password-step2",
        "verification_token": token,
        "verification_expiry": 900,
    }


def test_email_forgotpass_mail_and_24h_rule(server, outbox):
    client = fresh_client(server)
    user = sign_up(client, "mail-forgot")  # verified, active
    session = browser_session(client)  # anonymous: the user forgot the password
    server_name = f"Authnz E2E {secrets.token_hex(3)}"
    token = long_token()

    before = outbox.snapshot()
    sent_at = utcnow()
    env = client.ok(
        "user-sendemail-forgotpass",
        forgot_body(session["session_token"], user["email"], server_name, token),
    )
    assert env["success"] is True, env
    assert env["messages"] == [MSG_FORGOT_SENT.format(email=user["email"])], env
    assert "failure_reason" not in env, env
    r = env["response"]
    assert FORGOT_FIELDS <= set(r), sorted(r)
    assert r["user_id"] == user["user_id"], r
    assert r["email_address"] == user["email"], r
    assert_recent(r["emailforgotpass_sent_datetime"], "emailforgotpass_sent_datetime")

    msg = outbox.one_new(before)
    assert_mail_headers(msg, outbox, user["email"], SUBJECT_FORGOT.format(name=server_name))
    plain, html = mail_parts(msg)
    url = "https://e2e.example.org/users/forgot-password-step2"
    for part, text in (("text/plain", plain), ("text/html", html)):
        assert_token_in(text, token, part)
        assert url in text or url in rejoined(text), f"{url} not in the {part} part:\n{text}"
        assert user["email"] in text, f"e-mail not in the {part} part:\n{text}"
    assert USER_AGENT_IN_MAIL in plain, plain
    assert SESSION_IP in plain, plain
    assert_expiry_in(plain, 900, sent_at)

    # a second request within 24 hours is refused, and sends nothing
    session2 = browser_session(client)
    before = outbox.snapshot()
    env = client.ok(
        "user-sendemail-forgotpass",
        forgot_body(session2["session_token"], user["email"], server_name, long_token()),
    )
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_FORGOT_24H, env
    assert env["messages"] == [MSG_FORGOT_INVALID], env
    for k in sorted(FORGOT_FIELDS):
        assert k in env["response"] and env["response"][k] is None, (k, env)
    assert outbox.new_since(before) == [], "a refused forgot-pass request wrote a mail"


# -- (3) user-set-emailsent -------------------------------------------------------


def test_email_set_emailsent(server, outbox):
    client = fresh_client(server)
    user = sign_up(client, "mail-sent")  # verified, active

    env = client.ok("user-set-emailsent", {"email": user["email"], "email_type": "signup"})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_EMAILSENT_OK], env
    assert "failure_reason" not in env, env
    r = env["response"]
    assert EMAILSENT_FIELDS <= set(r), sorted(r)
    assert r["email"] == user["email"], r
    assert r["user_id"] == user["user_id"], r
    assert r["is_active"] is True, r
    assert r["user_role"] == "authenticated", r
    verify_sent = assert_recent(r["emailverify_sent_datetime"], "emailverify_sent_datetime")
    assert r["emailforgotpass_sent_datetime"] is None, r

    env = client.ok("user-set-emailsent", {"email": user["email"], "email_type": "forgotpass"})
    assert env["success"] is True, env
    assert env["messages"] == [MSG_EMAILSENT_OK], env
    r = env["response"]
    assert EMAILSENT_FIELDS <= set(r), sorted(r)
    assert r["email"] == user["email"], r
    assert r["user_id"] == user["user_id"], r
    assert_recent(r["emailforgotpass_sent_datetime"], "emailforgotpass_sent_datetime")
    # the signup timestamp is left as it was
    assert dt.datetime.fromisoformat(r["emailverify_sent_datetime"]) == verify_sent, r

    # the recorded forgot-pass mail counts for the 24-hour rule of 3.5
    other = fresh_client(server)
    session = browser_session(other)
    before = outbox.snapshot()
    env = other.ok(
        "user-sendemail-forgotpass",
        forgot_body(session["session_token"], user["email"], "Authnz E2E", long_token()),
    )
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_FORGOT_24H, env
    assert env["messages"] == [MSG_FORGOT_INVALID], env
    assert outbox.new_since(before) == []


def test_email_set_emailsent_unknown_email(server):
    client = fresh_client(server)
    status, env = client.request(
        "user-set-emailsent",
        {"email": unique_email("mail-nobody"), "email_type": "signup"},
    )
    # Q-9 fixed: a failure envelope, not upstream's HTTP 400
    assert status == 200, (status, env)
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_EMAILSENT_NO_USER, env
    assert env["messages"] == [MSG_EMAILSENT_FAILED], env


@pytest.mark.parametrize("email_type", ["verify", "SIGNUP", ""])
def test_email_set_emailsent_invalid_type(server, email_type):
    client = fresh_client(server)
    user = sign_up(client, "mail-type")
    env = client.ok("user-set-emailsent", {"email": user["email"], "email_type": email_type})
    assert env["success"] is False, env
    assert env["failure_reason"] == FR_EMAILSENT_TYPE, env
    assert env["messages"] == [MSG_EMAILSENT_TYPE], env


# -- (4) user-sendemail-signup refusals ------------------------------------------


def test_email_signup_send_verification_false(server, outbox):
    client = fresh_client(server)
    user, created = new_user(client, "mail-nosend")
    session = browser_session(client)
    created["send_verification"] = False
    before = outbox.snapshot()
    env = client.ok(
        "user-sendemail-signup", signup_body(session["session_token"], user, created)
    )
    assert_signup_failure(env, FR_SIGNUP_NOT_ALLOWED, MSG_SIGNUP_NOT_ALLOWED)
    assert outbox.new_since(before) == [], "a refused sign-up request wrote a mail"


def test_email_signup_already_active_user(server, outbox):
    client = fresh_client(server)
    user, created = new_user(client, "mail-active")
    env = client.ok("user-set-emailverified", {"email": user["email"]})
    assert env["success"] is True and env["response"]["is_active"] is True, env
    session = browser_session(client)
    before = outbox.snapshot()
    env = client.ok(
        "user-sendemail-signup", signup_body(session["session_token"], user, created)
    )
    assert_signup_failure(env, FR_SIGNUP_ACTIVE, MSG_SIGNUP_ACTIVE)
    assert outbox.new_since(before) == [], "a refused sign-up request wrote a mail"


@pytest.mark.parametrize("how", ["deleted", "never-existed"])
def test_email_signup_dead_session(server, outbox, how):
    client = fresh_client(server)
    user, created = new_user(client, "mail-deadsess")
    if how == "deleted":
        token = browser_session(client)["session_token"]
        env = client.ok("session-delete", {"session_token": token})
        assert env["success"] is True, env
    else:
        token = secrets.token_urlsafe(32)
    before = outbox.snapshot()
    env = client.ok("user-sendemail-signup", signup_body(token, user, created))
    assert_signup_failure(env, FR_SIGNUP_SESSION, MSG_SIGNUP_INVALID)
    assert outbox.new_since(before) == [], "a refused sign-up request wrote a mail"
