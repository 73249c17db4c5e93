"""Our client module against itself and against PROTOCOL.md 1.4/1.5 (no server)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken

from authnz_client import client_view, dumps, open_body, request_object, seal


KEY = Fernet.generate_key()


def test_request_object_shape():
    obj = request_object("session-new", {"a": 1}, "rid", "10.0.0.1")
    assert obj == {
        "request": "session-new",
        "body": {"a": 1, "client_ipaddr": "10.0.0.1"},
        "reqid": "rid",
        "client_ipaddr": "10.0.0.1",
    }


def test_body_client_ipaddr_wins_and_is_copied():
    obj = request_object("x", {"client_ipaddr": "1.2.3.4"}, 1, "9.9.9.9")
    assert obj["client_ipaddr"] == "1.2.3.4"


def test_two_base64_layers_roundtrip():
    body = seal(KEY, b'{"x": 1}')
    token = base64.b64decode(body, validate=True)
    assert token.startswith(b"gAAAAA")  # version 0x80 in url-safe base64
    assert Fernet(KEY).decrypt(token) == b'{"x": 1}'
    assert open_body(KEY, body) == b'{"x": 1}'


def test_open_body_ignores_timestamps():
    for t in (0, 2**40):
        assert open_body(KEY, seal(KEY, b"1", at_time=t)) == b"1"


def test_open_body_rejects_other_key():
    with pytest.raises(InvalidToken):
        open_body(Fernet.generate_key(), seal(KEY, b"1"))


def test_dumps_like_upstream():
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 6)
    assert dumps({"t": when, "b": b"x", "c": 1j, "u": "\u00e9"}) == (
        b'{"t": "2030-01-02T03:04:05.000006", "b": "x", "c": [0.0, 1.0], "u": "\\u00e9"}'
    )


def test_client_view_strips_duplicates():
    env = {
        "success": False,
        "response": {"success": False, "messages": ["m"], "failure_reason": "f", "user_id": None},
        "messages": ["m"],
        "reqid": 1,
        "failure_reason": "f",
    }
    assert client_view(env) == (False, {"user_id": None}, ["m"], "f")
    assert json.loads(json.dumps(env)) == env
