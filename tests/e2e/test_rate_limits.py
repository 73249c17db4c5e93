"""Rate limiting as a frontend sees it (PROTOCOL.md 4.1): the shared server runs
with the default `ratelimits`, so the built-in aggressive limits apply."""

from __future__ import annotations

import random

from authnz_client import Client, request_object

BODY_429 = "HTTP 429: Could not service this request because the set rate limit has been exceeded."


def _fresh_client(server) -> Client:
    rnd = random.Random()
    return server.client(client_ipaddr=f"172.{rnd.randrange(16, 32)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}")


def test_user_new_burst_of_five_then_429_with_retry_after(server):
    c = _fresh_client(server)
    statuses = []
    for i in range(7):
        body = {
            "email": f"rl-{random.randrange(10**9)}-{i}@example.com",
            "password": "Plover-Quince-Sextant-77",
            "full_name": "Rate Limit",
        }
        obj = request_object("user-new", body, i + 1, c.client_ipaddr)
        status, text = c.post_body(c.encrypt_object(obj))
        statuses.append(status)
        if status == 429:
            assert text == BODY_429
            resp = c.last_response
            assert resp.headers.get("Content-Type") == "text/plain; charset=UTF-8"
            # user-new: 5 per minute, so the next one is 12 s away at most.
            retry = int(resp.headers["Retry-After"])
            assert 1 <= retry <= 12
    assert statuses == [200] * 5 + [429] * 2


def test_other_addresses_are_not_limited_by_someone_else(server):
    hog = _fresh_client(server)
    statuses = []
    for i in range(12):
        obj = request_object("user-logout", {"session_token": "x" * 43, "user_id": 5}, i, hog.client_ipaddr)
        statuses.append(hog.post_body(hog.encrypt_object(obj))[0])
    # user-logout: 10 per minute.
    assert statuses == [200] * 10 + [429] * 2
    other = _fresh_client(server)
    obj = request_object("user-logout", {"session_token": "x" * 43, "user_id": 5}, 1, other.client_ipaddr)
    status, _ = other.post_body(other.encrypt_object(obj))
    assert status == 200
