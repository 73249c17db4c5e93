"""Fernet interoperability with Python's `cryptography` (PROTOCOL.md 1.3, 1.4, Q-18):
tokens are never rejected for their timestamp, and the server's replies
decrypt with a plain `Fernet(key).decrypt` (no TTL)."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.fernet import Fernet

from helpers import MSG_SESSION_NEW, expires_in


def _session_new_body():
    return {
        "ip_address": "127.0.0.1",
        "user_agent": "e2e",
        "user_id": None,
        "expires": expires_in(1),
        "extra_info_json": None,
    }


@pytest.mark.parametrize("stamp", [2**40, 0, 1, int(time.time()) + 3600], ids=["2^40", "0", "1", "now+1h"])
def test_token_timestamp_is_never_checked(client, stamp):
    status, env = client.request("session-new", _session_new_body(), "ts", at_time=stamp)
    assert status == 200, env
    assert env["success"] is True, env
    assert env["messages"] == [MSG_SESSION_NEW]
    assert env["reqid"] == "ts"


def test_response_token_decrypts_with_python_fernet(client):
    status, _ = client.request("session-new", _session_new_body(), "r")
    assert status == 200
    token = base64.b64decode(client.last_response.content, validate=True)
    f = Fernet(client.key)
    f.decrypt(token)  # no TTL
    stamp = f.extract_timestamp(token)
    assert abs(stamp - time.time()) < 300, "reply token should carry the current time"
