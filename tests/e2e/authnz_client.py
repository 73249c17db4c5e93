"""A small, independent client for the authnzerver protocol.

Written from spec/PROTOCOL.md sections 1.4, 1.5 and 1.8 only, to behave like
upstream's `authnzerver.client.Authnzerver`:

    request object (1.5) -> json.dumps (Python separators, ASCII-escaped)
      -> Fernet(key).encrypt -> standard base64 -> raw HTTP body (POST /)

and the reverse for the reply. Decryption never applies a TTL (1.4, Q-18).

The helpers return `(status, envelope_or_text)`: the decrypted JSON envelope
for a 200 reply, the raw body text for anything else (that text is what the
upstream client reports as `failure_reason`, so it must match docs/PROTOCOL.md
exactly).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.fernet import Fernet

# Upstream's client uses 5 s; the e2e suite allows more so a slow debug build
# or an unreachable breach-check service (5.1 step 6) reads as a clear
# assertion failure instead of a timeout.
DEFAULT_TIMEOUT = 20.0

# Tornado's default for a body without an explicit content type; upstream's
# client sends it, and the server must ignore it (1.8).
UPSTREAM_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept-Encoding": "gzip",
    "Connection": "close",
}


class _UpstreamEncoder(json.JSONEncoder):
    """The upstream client's JSON encoder (1.6): datetimes as isoformat(),
    bytes as UTF-8 text, complex as [real, imag]."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (_dt.datetime, _dt.date)):
            return o.isoformat()
        if isinstance(o, bytes):
            return o.decode("utf-8")
        if isinstance(o, complex):
            return [o.real, o.imag]
        return super().default(o)


def dumps(obj: Any) -> bytes:
    """Serialise like upstream: json.dumps defaults (", " / ": ", ASCII)."""
    return json.dumps(obj, cls=_UpstreamEncoder).encode("utf-8")


def seal(key: bytes | str, plaintext: bytes, *, at_time: int | None = None) -> bytes:
    """Fernet-encrypt `plaintext` and wrap the token in standard base64 (1.4)."""
    f = Fernet(key)
    token = f.encrypt(plaintext) if at_time is None else f.encrypt_at_time(plaintext, at_time)
    return base64.b64encode(token)


def open_body(key: bytes | str, body: bytes) -> bytes:
    """Reverse of `seal`: standard base64 -> Fernet decrypt, no TTL."""
    token = base64.b64decode(body, validate=True)
    return Fernet(key).decrypt(token)


def new_reqid() -> str:
    """Upstream's default request ID: `token_urlsafe(8)` (11 characters)."""
    return secrets.token_urlsafe(8)


def request_object(
    request: str, body: dict, reqid: Any, client_ipaddr: str = "127.0.0.1"
) -> dict:
    """The request object of 1.5, with `client_ipaddr` in body and at top level."""
    body = dict(body)
    body.setdefault("client_ipaddr", client_ipaddr)
    return {
        "request": request,
        "body": body,
        "reqid": reqid,
        "client_ipaddr": body["client_ipaddr"],
    }


@dataclass
class Client:
    """Talks to one server with one key."""

    base_url: str
    key: bytes | str
    client_ipaddr: str = "127.0.0.1"
    timeout: float = DEFAULT_TIMEOUT
    last_response: requests.Response | None = field(default=None, repr=False)

    # -- raw HTTP -------------------------------------------------------------

    def http(
        self,
        method: str,
        path: str = "/",
        data: bytes | None = None,
        headers: dict | None = None,
    ) -> requests.Response:
        hdrs = dict(UPSTREAM_HEADERS)
        if headers:
            hdrs.update(headers)
        resp = requests.request(
            method,
            self.base_url.rstrip("/") + path,
            data=data,
            headers=hdrs,
            timeout=self.timeout,
            allow_redirects=False,
        )
        self.last_response = resp
        return resp

    def post_body(self, body: bytes, headers: dict | None = None) -> tuple[int, Any]:
        """POST a ready-made body to `/`; decrypt a 200 reply."""
        resp = self.http("POST", "/", data=body, headers=headers)
        if resp.status_code == 200:
            return 200, json.loads(open_body(self.key, resp.content))
        return resp.status_code, resp.text

    # -- protocol -------------------------------------------------------------

    def encrypt_object(self, obj: Any, *, at_time: int | None = None) -> bytes:
        """Any JSON value -> request body."""
        return seal(self.key, dumps(obj), at_time=at_time)

    def send_object(self, obj: Any, *, at_time: int | None = None) -> tuple[int, Any]:
        """Encrypt and POST an arbitrary JSON value (for malformed requests)."""
        return self.post_body(self.encrypt_object(obj, at_time=at_time))

    def request(
        self,
        request: str,
        body: dict,
        reqid: Any = None,
        *,
        at_time: int | None = None,
    ) -> tuple[int, Any]:
        """One protocol request; returns (status, envelope or error text)."""
        if reqid is None:
            reqid = new_reqid()
        obj = request_object(request, body, reqid, self.client_ipaddr)
        return self.send_object(obj, at_time=at_time)

    def ok(self, request: str, body: dict) -> dict:
        """`request`, asserting HTTP 200 and a matching reqid; returns the envelope."""
        reqid = new_reqid()
        status, env = self.request(request, body, reqid)
        assert status == 200, f"{request}: HTTP {status}: {env!r}"
        assert env.get("reqid") == reqid, f"{request}: reqid {env.get('reqid')!r} != {reqid!r}"
        return env


def client_view(envelope: dict) -> tuple[bool, dict | None, list, Any]:
    """What upstream's client hands a frontend: (success, response minus the
    duplicated keys, messages, failure_reason) (1.8)."""
    response = dict(envelope.get("response") or {})
    for k in ("success", "messages", "failure_reason"):
        response.pop(k, None)
    return (
        envelope.get("success"),
        response,
        envelope.get("messages"),
        envelope.get("failure_reason"),
    )
