"""Transport, framing and error responses (PROTOCOL.md 1.1-1.12, 2, 9.1)."""

from __future__ import annotations

import base64
import json
import socket

import pytest
from cryptography.fernet import Fernet

from authnz_client import Client, dumps, open_body, request_object, seal
from helpers import (
    BODY_400,
    BODY_401,
    BODY_404_HTML,
    BODY_405,
    BODY_500,
    TEXT_HTML,
    TEXT_PLAIN,
    new_session,
)


def _valid_body(client: Client, reqid=1) -> bytes:
    obj = request_object("session-exists", {"session_token": "x" * 43}, reqid, client.client_ipaddr)
    return client.encrypt_object(obj)


def _assert_error(client: Client, status: int, body: str, expect_status: int, expect_body: str):
    assert (status, body) == (expect_status, expect_body)
    resp = client.last_response
    assert resp is not None
    ctype = TEXT_HTML if expect_status == 404 else TEXT_PLAIN
    assert resp.headers.get("Content-Type") == ctype


# -- 401: authentication layer (1.4) --------------------------------------------


def test_tampered_token_is_401(client):
    token = bytearray(base64.b64decode(_valid_body(client)))
    raw = bytearray(base64.urlsafe_b64decode(bytes(token)))
    raw[-1] ^= 0x01  # flip a bit of the HMAC
    body = base64.b64encode(base64.urlsafe_b64encode(bytes(raw)))
    status, text = client.post_body(body)
    _assert_error(client, status, text, 401, BODY_401)


def test_tampered_ciphertext_is_401(client):
    raw = bytearray(base64.urlsafe_b64decode(base64.b64decode(_valid_body(client))))
    raw[30] ^= 0x80  # inside the IV/ciphertext: HMAC no longer matches
    status, text = client.post_body(base64.b64encode(base64.urlsafe_b64encode(bytes(raw))))
    _assert_error(client, status, text, 401, BODY_401)


def test_bare_fernet_token_is_401(client):
    """The outer standard-base64 layer is mandatory (1.4)."""
    bare = base64.b64decode(_valid_body(client))
    status, text = client.post_body(bare)
    _assert_error(client, status, text, 401, BODY_401)


def test_wrong_key_is_401(server, client):
    other = Client(server.url, Fernet.generate_key(), client_ipaddr=client.client_ipaddr)
    status, text = other.request("session-exists", {"session_token": "abc"}, 1)
    _assert_error(other, status, text, 401, BODY_401)


def test_garbage_body_is_401(client):
    status, text = client.post_body(b"!!!this is not base64 at all!!!")
    _assert_error(client, status, text, 401, BODY_401)


def test_empty_body_is_401(client):
    status, text = client.post_body(b"")
    _assert_error(client, status, text, 401, BODY_401)


def test_non_json_plaintext_is_401(client):
    status, text = client.post_body(seal(client.key, b"this is not json"))
    _assert_error(client, status, text, 401, BODY_401)


@pytest.mark.parametrize("value", [{}, [], "", 0, False, None], ids=repr)
def test_falsy_plaintext_is_401(client, value):
    status, text = client.send_object(value)
    _assert_error(client, status, text, 401, BODY_401)


# -- request object errors (1.5, 1.7) ---------------------------------------------


@pytest.mark.parametrize("value", [[1], "x", 5], ids=repr)
def test_truthy_non_object_is_500(client, value):
    status, text = client.send_object(value)
    _assert_error(client, status, text, 500, BODY_500)


def test_missing_request_key_is_500(client):
    obj = {"body": {"client_ipaddr": client.client_ipaddr}, "reqid": 1, "client_ipaddr": client.client_ipaddr}
    status, text = client.send_object(obj)
    _assert_error(client, status, text, 500, BODY_500)


def test_missing_reqid_is_500(client):
    obj = request_object("session-exists", {"session_token": "abc"}, 1, client.client_ipaddr)
    del obj["reqid"]
    status, text = client.send_object(obj)
    _assert_error(client, status, text, 500, BODY_500)


def test_null_reqid_is_500(client):
    obj = request_object("session-exists", {"session_token": "abc"}, None, client.client_ipaddr)
    status, text = client.send_object(obj)
    _assert_error(client, status, text, 500, BODY_500)


def test_echo_request_is_400(client):
    status, text = client.request("echo", {}, 1)
    _assert_error(client, status, text, 400, BODY_400)


def test_unknown_request_type_is_400(client):
    status, text = client.request("no-such-request", {}, 1)
    _assert_error(client, status, text, 400, BODY_400)


def test_body_not_an_object_is_400(client):
    obj = request_object("session-exists", {}, 1, client.client_ipaddr)
    obj["body"] = None
    status, text = client.send_object(obj)
    _assert_error(client, status, text, 400, BODY_400)


def test_missing_client_ipaddr_is_400(client):
    """Rate limiting is on by default (4.1), so client_ipaddr is required."""
    obj = {"request": "session-exists", "body": {"session_token": "abc"}, "reqid": 1}
    status, text = client.send_object(obj)
    _assert_error(client, status, text, 400, BODY_400)


# -- schema failures (1.9, 2) -------------------------------------------------------


def test_schema_incorrect_type_envelope(client):
    status, env = client.request("session-exists", {"session_token": 123}, 77)
    assert status == 200
    assert env == {
        "success": False,
        "response": {
            "success": False,
            "response": {
                "problems": [
                    {
                        "param": "session_token",
                        "problem": "incorrect type",
                        "required_type": "str",
                        "required_param": True,
                    }
                ],
                "failure_reason": "invalid request parameters",
            },
            "messages": ["request 'session-exists' has invalid parameters"],
        },
        "messages": ["request 'session-exists' has invalid parameters"],
        "reqid": 77,
    }


def test_schema_missing_and_typed_problems_in_order(client):
    """Required args in schema order; `true` is an int (2); a None spec
    accepts anything (Q-2)."""
    status, env = client.request(
        "session-delete-userid",
        {"user_id": True, "keep_current_session": "yes"},
        "r-1",
    )
    assert status == 200
    assert env["success"] is False
    assert "failure_reason" not in env
    assert env["reqid"] == "r-1"
    inner = env["response"]["response"]
    assert inner["failure_reason"] == "invalid request parameters"
    assert inner["problems"] == [
        {"param": "session_token", "problem": "missing", "required_type": "str", "required_param": True},
        {"param": "keep_current_session", "problem": "incorrect type", "required_type": "bool", "required_param": True},
    ]
    assert env["messages"] == ["request 'session-delete-userid' has invalid parameters"]


def test_schema_list_type_spec_is_echoed(client):
    """A spec written as a list comes back as an array (2 rule 3)."""
    status, env = client.request("user-list", {}, 5)
    assert status == 200
    assert env["response"]["response"]["problems"] == [
        {"param": "user_id", "problem": "missing", "required_type": ["int", "None"], "required_param": True}
    ]


# -- reqid (1.11) --------------------------------------------------------------------


@pytest.mark.parametrize("reqid", [42, "abc-DEF_123", 0, 3.5, [1, 2], {"a": 1}], ids=repr)
def test_reqid_echoed_with_its_type(client, reqid):
    status, env = client.request("session-exists", {"session_token": "nope"}, reqid)
    assert status == 200, env
    assert env["reqid"] == reqid
    assert type(env["reqid"]) is type(reqid)


# -- HTTP layer (1.1, 1.2, 1.12) -----------------------------------------------------


def test_get_root_is_405(client):
    resp = client.http("GET", "/")
    _assert_error(client, resp.status_code, resp.text, 405, BODY_405)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_root_are_405(client, method):
    resp = client.http(method, "/", data=b"x")
    _assert_error(client, resp.status_code, resp.text, 405, BODY_405)


def test_post_health_is_405(client):
    resp = client.http("POST", "/health", data=b"x")
    _assert_error(client, resp.status_code, resp.text, 405, BODY_405)


@pytest.mark.parametrize("path", ["/nope", "/health/", "/index.html", "/echo"])
def test_unknown_path_is_404_html(client, path):
    resp = client.http("POST", path, data=_valid_body(client))
    _assert_error(client, resp.status_code, resp.text, 404, BODY_404_HTML)
    resp = client.http("GET", path)
    _assert_error(client, resp.status_code, resp.text, 404, BODY_404_HTML)


def test_query_string_is_ignored(client):
    resp = client.http("GET", "/health?x=1")
    assert resp.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:1234", "127.0.0.2", "localhost.evil"])
def test_host_not_allowed_is_404(client, host):
    status, text = client.post_body(_valid_body(client), headers={"Host": host})
    _assert_error(client, status, text, 404, BODY_404_HTML)
    resp = client.http("GET", "/health", headers={"Host": host})
    _assert_error(client, resp.status_code, resp.text, 404, BODY_404_HTML)


@pytest.mark.parametrize("host", ["localhost", "localhost:9", "127.0.0.1:80", "LocalHost"])
def test_allowed_hosts_ignore_port(client, host):
    status, env = client.post_body(_valid_body(client, reqid="h"), headers={"Host": host})
    assert status == 200, env
    assert env["reqid"] == "h"


def test_missing_host_header_counts_as_127_0_0_1(server, client):
    """1.2: no Host header -> host 127.0.0.1 (allowed by default)."""
    body = _valid_body(client, reqid="nohost")
    raw = (
        b"POST / HTTP/1.0\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(raw)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200", head
    assert json.loads(open_body(client.key, payload))["reqid"] == "nohost"


def test_oversized_body_is_400(client):
    body = b"A" * (2 * 1024 * 1024)
    resp = client.http("POST", "/", data=body)
    _assert_error(client, resp.status_code, resp.text, 400, BODY_400)


def test_content_type_is_ignored(client):
    """1.8: the request content type is ignored, the body never parsed as a form."""
    for ctype in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        status, env = client.post_body(_valid_body(client, reqid=ctype), headers={"Content-Type": ctype})
        assert status == 200, env
        assert env["reqid"] == ctype


# -- response encoding (1.4) -----------------------------------------------------------


def test_response_is_strict_base64_fernet(client):
    env_status, _ = client.post_body(_valid_body(client, reqid=9))
    assert env_status == 200
    resp = client.last_response
    assert resp.headers.get("Content-Type") == TEXT_PLAIN
    assert not resp.content.endswith(b"\n")
    token = base64.b64decode(resp.content, validate=True)
    raw = base64.urlsafe_b64decode(token)
    assert raw[0] == 0x80
    plain = Fernet(client.key).decrypt(token)  # no TTL
    assert json.loads(plain)["reqid"] == 9


# -- health (9.1) ------------------------------------------------------------------------


def test_health(client):
    resp = client.http("GET", "/health")
    assert resp.status_code == 200
    assert resp.headers.get("Content-Type") == "application/json; charset=UTF-8"
    body = resp.json()
    assert set(body) == {"Expected-Workers", "Workers", "Check-Time", "Health-Ok"}
    assert body["Health-Ok"] is True
    assert isinstance(body["Expected-Workers"], int)
    assert body["Workers"] and all(v == "ok" for v in body["Workers"].values())
    assert isinstance(body["Check-Time"], float)


def test_request_json_uses_upstream_separators(client):
    """Sanity check of our own client: upstream's json.dumps framing."""
    assert dumps({"a": [1, 2]}) == b'{"a": [1, 2]}'
    # and such a request works (a session round-trip)
    s = new_session(client)
    assert s["session_token"]
