"""A protocol round trip against a running authnz (the compose stack of
`cargo xtask containers`), with the e2e suite's client.

    stack_check.py login        the autosetup admin logs in (session-new,
                                user-login), then gets a session of its own;
                                prints that session's token
    stack_check.py check        the session in AUTHNZ_SESSION still exists
                                for the admin (after the stack went down and
                                up), and the admin still logs in

Environment: AUTHNZ_URL (e.g. http://127.0.0.1:13431/), AUTHNZ_KEY (the
Fernet secret key), AUTHNZ_ADMIN (the admin credentials file's content,
`<email> <password>`), AUTHNZ_SESSION (for `check`). Only `login` prints
anything on stdout: the token, for the caller to pass back in
AUTHNZ_SESSION.
"""

import datetime as dt
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from authnz_client import Client  # noqa: E402


def fail(what: str) -> None:
    print(f"stack_check: FAILED: {what}", file=sys.stderr)
    sys.exit(1)


def expires() -> str:
    when = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=1)
    return when.isoformat()


def new_session(client: Client, user_id) -> str:
    env = client.ok(
        "session-new",
        {
            "ip_address": "127.0.0.1",
            "user_agent": "stack-check",
            "user_id": user_id,
            "expires": expires(),
            "extra_info_json": None,
        },
    )
    if env.get("success") is not True:
        fail(f"session-new: {env.get('messages')}")
    return env["response"]["session_token"]


def login(client: Client, email: str, password: str) -> int:
    anon = new_session(client, None)
    env = client.ok(
        "user-login",
        {"session_token": anon, "email": email, "password": password},
    )
    if env.get("success") is not True:
        fail(f"user-login of the autosetup admin: {env.get('messages')}")
    user_id = env["response"]["user_id"]
    if env["response"].get("user_role") != "superuser":
        fail(f"the autosetup admin logged in as {env['response'].get('user_role')!r}")
    return user_id


def main() -> None:
    url = os.environ["AUTHNZ_URL"]
    key = os.environ["AUTHNZ_KEY"].strip()
    try:
        email, password = os.environ["AUTHNZ_ADMIN"].split(None, 1)
    except ValueError:
        fail("AUTHNZ_ADMIN is not `<email> <password>`")
    client = Client(base_url=url, key=key)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "login":
        user_id = login(client, email, password.strip())
        token = new_session(client, user_id)
        print("stack_check: the admin logged in; session made", file=sys.stderr)
        print(token)
    elif mode == "check" and os.environ.get("AUTHNZ_SESSION"):
        env = client.ok("session-exists", {"session_token": os.environ["AUTHNZ_SESSION"]})
        if env.get("success") is not True:
            fail(f"session-exists after down/up: {env.get('messages')}")
        user_id = env["response"]["session_info"]["user_id"]
        if login(client, email, password.strip()) != user_id:
            fail("the admin's user id changed across down/up")
        print("stack_check: session kept across down/up; the admin still logs in", file=sys.stderr)
    else:
        fail("usage: stack_check.py login | check (with AUTHNZ_SESSION set)")


if __name__ == "__main__":
    main()
