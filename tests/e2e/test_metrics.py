"""`GET /metrics` on the real binary, configured from its command line:
`--metricstoken` and `--metricslisten` (docs/OPERATIONS.md, "Metrics").
The server is this module's own, so its counters move only by what the
tests send."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

from conftest import _binary, _stop, free_port, run_autosetup, start_server
from helpers import new_session, sign_up

TOKEN = "e2e-Metrics-token-4242"


@pytest.fixture(scope="module")
def metrics_server():
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("AUTHNZ_E2E_URL is set: cannot start a server with a custom config")
    binary = _binary()
    tmp = Path(tempfile.mkdtemp(prefix="authnz-e2e-metrics-"))
    basedir = tmp / "basedir"
    result = run_autosetup(binary, basedir)
    if result.returncode != 0:
        pytest.fail(f"autosetup failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    port = free_port()
    srv = start_server(
        binary,
        basedir,
        tmp / "authnzrv-metrics.log",
        [f"--metricstoken={TOKEN}", f"--metricslisten=127.0.0.1:{port}"],
    )
    yield srv, f"http://127.0.0.1:{port}"
    _stop(srv.proc)
    shutil.rmtree(tmp, ignore_errors=True)


def scrape(url: str) -> dict[str, float]:
    r = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_refused_without_token_and_on_the_main_port(metrics_server):
    srv, url = metrics_server
    assert requests.get(url + "/metrics", timeout=10).status_code == 404
    wrong = {"Authorization": "Bearer e2e-Metrics-token-4243"}
    assert requests.get(url + "/metrics", headers=wrong, timeout=10).status_code == 404
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(srv.url + "/metrics", headers=good, timeout=10).status_code == 404
    # The metrics listener serves nothing else.
    assert requests.get(url + "/health", timeout=10).status_code == 404
    assert requests.get(url + "/metrics", headers=good, timeout=10).status_code == 200


def test_counters_move_and_hold_no_client_data(metrics_server):
    srv, url = metrics_server
    client = srv.client(client_ipaddr="10.61.62.63")
    before = scrape(url)
    new_session(client)
    user = sign_up(client, "metrics")
    status, _ = client.request("metrics-e2e-odd-request", {"email": user["email"]})
    assert status == 400
    anon = new_session(client)["session_token"]
    env = client.ok(
        "user-login",
        {"session_token": anon, "email": user["email"], "password": "not-the-Password-1"},
    )
    assert env["success"] is False
    after = scrape(url)

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta('authnz_requests_total{request="session-new",outcome="ok"}') == 2
    assert delta('authnz_requests_total{request="user-new",outcome="ok"}') == 1
    assert delta('authnz_requests_total{request="unknown",outcome="bad_request"}') == 1
    assert delta('authnz_requests_total{request="user-login",outcome="failed"}') == 1
    assert delta('authnz_logins_total{result="wrong_password"}') == 1
    assert delta('authnz_request_duration_seconds_count{request="user-new"}') == 1
    assert after['authnz_backend_up{backend="sqlite"}'] == 1
    text = "\n".join(after)
    for needle in (user["email"], "metrics-e2e-odd-request", "10.61.62.63", "@"):
        assert needle not in text
    assert re.search(r'authnz_build_info\{version="[0-9.]+"\}', text)
