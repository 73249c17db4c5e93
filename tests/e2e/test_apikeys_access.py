"""API keys (PROTOCOL.md 3.6) and authorization checks (3.7, 6.3-6.5), end to end:
an issue / verify / refresh / revoke cycle for both key kinds, and a few
access and limit decisions under the bundled default policy."""

from __future__ import annotations

import json

from helpers import ISO_RE, TOKEN_RE, new_session, sign_up

CLAIM_ORDER_SESSION = ["iss", "ver", "uid", "rol", "usa", "aud", "sub", "ipa", "tkn", "iat", "nbf", "exp"]
CLAIM_ORDER_NOSESSION = ["iss", "ver", "uid", "rol", "aud", "sub", "ipa", "tkn", "iat", "nbf", "exp"]
MSG_VERIFY_FAILED = "API key could not be verified."
MSG_GRANTED = "Access request check successful. Access granted: True."
MSG_DENIED = "Access request check successful. Access granted: False."


def _claims(env: dict, order: list[str]) -> dict:
    text = env["response"]["apikey"]
    claims = json.loads(text)  # dicts keep the order of the text
    assert list(claims) == order, text
    # Python json.dumps separators (3.6).
    assert text == json.dumps(claims), text
    assert TOKEN_RE.match(claims["tkn"])
    for k in ("iat", "nbf", "exp"):
        assert ISO_RE.match(claims[k]), claims[k]
    return claims


def test_session_apikey_cycle(server):
    client = server.client("10.44.0.1")
    user = sign_up(client, "apikey-s")
    uid = user["user_id"]
    sess = new_session(client, user_id=uid)
    env = client.ok(
        "apikey-new",
        {
            "issuer": "e2e", "audience": "api", "subject": "/things", "apiversion": 1,
            "expires_days": 1, "not_valid_before": 0, "user_id": uid,
            "user_role": "authenticated", "ip_address": "127.0.0.1",
            "user_agent": "authnz-e2e/1.0", "session_token": sess["session_token"],
        },
    )  # fmt: skip
    assert env["success"] is True, env
    claims = _claims(env, CLAIM_ORDER_SESSION)
    assert claims["uid"] == uid and claims["rol"] == "authenticated"
    assert env["messages"] == [f"API key generated successfully, expires: {env['response']['expires']}."]

    body = {"apikey_dict": claims, "user_id": uid, "user_role": "authenticated"}
    env = client.ok("apikey-verify", body)
    assert env["success"] is True, env
    # Another (staff-less) user may not look at it.
    other = sign_up(client, "apikey-s-other")
    env = client.ok("apikey-verify", {**body, "user_id": other["user_id"]})
    assert env["success"] is False
    assert env["failure_reason"] == "originating user is not allowed to operate on this API key"

    # Deleting the session deletes the key (8.3).
    env = client.ok("session-delete", {"session_token": sess["session_token"]})
    assert env["success"] is True, env
    env = client.ok("apikey-verify", body)
    assert env["success"] is False
    assert env["messages"] == [MSG_VERIFY_FAILED]
    env = client.ok("apikey-revoke", body)
    assert env["success"] is False and "failure_reason" not in env


def test_nosession_apikey_cycle(server):
    client = server.client("10.44.0.2")
    user = sign_up(client, "apikey-n")
    uid = user["user_id"]
    new_body = {
        "issuer": "e2e", "audience": "api", "subject": ["/a", "/b"], "apiversion": "v1",
        "expires_seconds": 300, "not_valid_before": 0, "user_id": uid,
        "user_role": "authenticated", "ip_address": "127.0.0.1",
        "refresh_expires": 3600, "refresh_nbf": 0,
    }  # fmt: skip
    env = client.ok("apikey-new-nosession", new_body)
    assert env["success"] is True, env
    claims = _claims(env, CLAIM_ORDER_NOSESSION)
    assert claims["sub"] == ["/a", "/b"]
    refresh = env["response"]["refresh_token"]
    assert TOKEN_RE.match(refresh) and refresh != claims["tkn"]
    assert ISO_RE.match(env["response"]["refresh_token_expires"])

    body = {"apikey_dict": claims, "user_id": uid, "user_role": "authenticated"}
    env = client.ok("apikey-verify-nosession", body)
    assert env["success"] is True, env
    assert env["messages"][0].startswith("No-session API key verified successfully. Expires: ")

    refresh_body = {
        **body, "refresh_token": refresh, "ip_address": "127.0.0.2", "expires_seconds": 300,
        "not_valid_before": 0, "refresh_expires": 3600, "refresh_nbf": 0,
    }  # fmt: skip
    env = client.ok("apikey-refresh-nosession", {**refresh_body, "refresh_token": "x" * 43})
    assert env["failure_reason"] == "provided refresh token does not match stored refresh token"
    env = client.ok("apikey-refresh-nosession", refresh_body)
    assert env["success"] is True, env
    new_claims = _claims(env, CLAIM_ORDER_NOSESSION)
    assert new_claims["tkn"] != claims["tkn"] and new_claims["ipa"] == "127.0.0.2"
    new_refresh = env["response"]["refresh_token"]

    # The old key and its refresh token are gone.
    assert client.ok("apikey-verify-nosession", body)["success"] is False
    env = client.ok("apikey-refresh-nosession", refresh_body)
    assert env["failure_reason"] == "provided API key has no stored refresh token, probably invalid"

    new_body_dict = {"apikey_dict": new_claims, "user_id": uid, "user_role": "authenticated"}
    assert client.ok("apikey-verify-nosession", new_body_dict)["success"] is True
    env = client.ok("apikey-new-nosession", new_body)
    assert env["success"] is True
    env = client.ok("apikey-revokeall-nosession", new_body_dict)
    assert env["success"] is True, env
    assert env["response"]["revoked_keys"] == 2 and env["response"]["deleted_keys"] == 2
    assert client.ok("apikey-verify-nosession", new_body_dict)["success"] is False
    env = client.ok(
        "apikey-refresh-nosession",
        {**refresh_body, "apikey_dict": new_claims, "refresh_token": new_refresh},
    )
    assert env["success"] is False


def test_access_and_limit_checks(server):
    client = server.client("10.44.0.3")
    alice = sign_up(client, "access-a")["user_id"]
    bob = sign_up(client, "access-b")["user_id"]

    def access(uid, role, action, item, owner, vis, shared=""):
        return client.ok(
            "user-check-access",
            {"user_id": uid, "user_role": role, "action": action, "target_name": item,
             "target_owner": owner, "target_visibility": vis, "target_sharedwith": shared},
        )  # fmt: skip

    env = access(alice, "authenticated", "edit", "dataset", alice, "private")
    assert env["success"] is True and env["messages"] == [MSG_GRANTED], env
    env = access(alice, "authenticated", "view", "dataset", bob, "private")
    assert env["failure_reason"] == "action not permitted" and env["messages"] == [MSG_DENIED]
    env = access(alice, "authenticated", "edit", "dataset", bob, "shared", f"{alice}")
    assert env["success"] is True, env
    env = access(alice, "authenticated", "view", "collection", alice, "private")
    assert env["success"] is False  # authenticated users cannot own collections (6.5)
    env = access(1, "superuser", "delete", "dataset", bob, "private")
    assert env["success"] is True, env
    env = access(alice, "staff", "view", "dataset", alice, "private")
    assert env["failure_reason"] == "user initiating request is not valid"
    env = access(alice, "authenticated", "view", "dataset", bob, "shared", "1,two")
    assert env["failure_reason"] == "exception when checking the DB"
    assert env["messages"] == ["Could not validate access to the requested item."]

    def limit(value, name="max_requests_per_minute"):
        return client.ok(
            "user-check-limit",
            {"user_id": alice, "user_role": "authenticated", "limit_name": name,
             "value_to_check": value},
        )  # fmt: skip

    env = limit(5999)
    assert env["success"] is True
    assert env["messages"] == ["Limit check successful. Limit check passed: True."]
    env = limit(6000)
    assert env["failure_reason"] == "user is over limit"
    assert env["messages"] == ["Limit check successful. Limit check passed: False."]
    assert limit("17")["success"] is True
