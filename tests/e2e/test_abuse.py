"""Black-box HTTP abuse probes against a real `authnzrv` process: slowloris,
slow and stalled bodies, an idle-connection flood under a low open-file
limit, oversized and malformed requests. Each probe is bounded and
repeatable; each asserts that the server still answers others within a
bound, closes the abusive connections within a bound, and keeps its memory
(VmRSS) bounded.

The servers here are private to this module (own basedir, own port) and
run with short HTTP timeouts (2 s) so the whole file stays well under a
minute.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import _binary, _server_env, _stop, _wait_healthy, free_port, run_autosetup

TIMEOUT_S = 2  # headertimeout, bodytimeout and idletimeout of these servers
MiB = 1024 * 1024


class AbuseServer:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def health_within(self, bound: float) -> float:
        """GET /health on a fresh connection; asserts 200 within `bound` s and
        returns the time taken."""
        started = time.monotonic()
        r = requests.get(self.url + "/health", timeout=bound)
        took = time.monotonic() - started
        assert r.status_code == 200, r.text
        assert took < bound
        return took


@pytest.fixture(scope="module")
def basedir():
    if os.environ.get("AUTHNZ_E2E_URL"):
        pytest.skip("abuse probes start their own servers")
    tmp = Path(tempfile.mkdtemp(prefix="authnz-abuse-"))
    result = run_autosetup(_binary(), tmp / "basedir")
    assert result.returncode == 0, result.stderr
    yield tmp / "basedir"
    shutil.rmtree(tmp, ignore_errors=True)


def start(basedir: Path, nofile: int | None = None, **items) -> AbuseServer:
    """authnzrv on a free port with short HTTP timeouts (and `items` as
    AUTHNZERVER_* variables), optionally under an open-file limit."""
    env = _server_env()
    settings = {
        "HEADERTIMEOUT": TIMEOUT_S,
        "BODYTIMEOUT": TIMEOUT_S,
        "IDLETIMEOUT": TIMEOUT_S,
        "SHUTDOWNTIMEOUT": 2,
        **{k.upper(): v for k, v in items.items()},
    }
    env.update({f"AUTHNZERVER_{k}": str(v) for k, v in settings.items()})

    def limit_files():
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    port = free_port()
    log = basedir.parent / f"authnzrv-abuse-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(_binary()), "--basedir", str(basedir), "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=basedir,
            preexec_fn=limit_files,
        )
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}", log)
    except RuntimeError as e:
        _stop(proc)
        pytest.fail(str(e), pytrace=False)
    return AbuseServer(proc, port, log)


@pytest.fixture
def server_factory(basedir):
    started: list[AbuseServer] = []

    def make(**kw) -> AbuseServer:
        srv = start(basedir, **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        alive = srv.proc.poll() is None
        _stop(srv.proc)
        assert alive, f"authnzrv died during the probe:\n{srv.log.read_text(errors='replace')[-3000:]}"


def closed(sock: socket.socket) -> bool:
    """True when the server has closed `sock` (EOF or reset); reads and
    discards whatever it sent before."""
    try:
        while True:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            if not sock.recv(65536):
                return True
    except OSError:
        return True


def wait_all_closed(socks: list[socket.socket], bound: float) -> float:
    """Waits until the server has closed every socket; asserts it happens
    within `bound` s and returns the time taken."""
    started = time.monotonic()
    open_ = list(socks)
    while open_ and time.monotonic() - started < bound:
        open_ = [s for s in open_ if not closed(s)]
        time.sleep(0.05)
    assert not open_, f"{len(open_)} of {len(socks)} connections still open after {bound} s"
    return time.monotonic() - started


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def test_slowloris_is_cut_and_others_are_served(server_factory):
    srv = server_factory()
    rss_before = srv.rss_kib()
    socks = []
    try:
        for _ in range(200):
            s = srv.connect()
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        # Drip a header line on each every 0.5 s; others are served meanwhile.
        started = time.monotonic()
        while time.monotonic() - started < TIMEOUT_S + 0.5:
            for s in socks:
                try:
                    s.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    pass
            srv.health_within(2.0)
            time.sleep(0.5)
        wait_all_closed(socks, TIMEOUT_S + 4)
    finally:
        close_all(socks)
    srv.health_within(2.0)
    assert srv.rss_kib() - rss_before < 64 * 1024


def test_stalled_bodies_are_cut_and_memory_stays_bounded(server_factory):
    srv = server_factory()
    rss_before = srv.rss_kib()
    chunk = b"a" * (MiB - 1024)
    after = []
    # The probe of the attack, twice: nearly all of a declared 1 MiB body on
    # 100 connections, then a stall. Bodies being read take memory; the body
    # timeout closes them and frees it. Held bodies would pin over 200 MiB
    # after two rounds (1.06 MiB each, measured); freed ones leave what the
    # allocator keeps (about 90 MiB measured here).
    for _ in range(2):
        socks = []
        try:
            for _ in range(100):
                s = srv.connect()
                s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % MiB)
                s.sendall(chunk)
                socks.append(s)
            srv.health_within(2.0)
            wait_all_closed(socks, TIMEOUT_S + 5)
        finally:
            close_all(socks)
        after.append(srv.rss_kib())
    srv.health_within(2.0)
    assert after[1] - rss_before < 150 * 1024, (rss_before, after)


def test_idle_flood_under_a_low_descriptor_limit(server_factory):
    nofile = 256
    srv = server_factory(nofile=nofile)
    socks = []
    try:
        # More idle connections than the server has descriptors.
        for _ in range(nofile + 100):
            socks.append(srv.connect())
        time.sleep(0.3)
        # A fresh client is answered once the idle ones time out (or at
        # once, if a slot is free): within two header timeouts and slack.
        srv.health_within(2 * TIMEOUT_S + 4)
        # The server closes the idle connections it accepted.
        wait_all_closed(socks, 3 * TIMEOUT_S + 5)
    finally:
        close_all(socks)
    srv.health_within(2.0)
    log = srv.log.read_text(errors="replace")
    assert "maxconnections lowered to fit the open-file limit" in log


def test_oversized_bodies_are_refused(server_factory):
    srv = server_factory()
    rss_before = srv.rss_kib()
    for _ in range(5):
        r = requests.post(srv.url + "/", data=b"a" * (MiB + 1), timeout=10)
        assert r.status_code == 400
    # A huge declared length, streamed: refused without reading it all.
    s = srv.connect()
    try:
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n")
        sent = 0
        try:
            while sent < 64 * MiB:
                s.sendall(b"a" * MiB)
                sent += MiB
        except OSError:
            pass
        assert sent < 64 * MiB, "the server read 64 MiB of a body over the 1 MiB limit"
    finally:
        s.close()
    srv.health_within(2.0)
    assert srv.rss_kib() - rss_before < 64 * 1024


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \x00\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,
]


def test_malformed_requests_get_an_error_or_a_close(server_factory):
    srv = server_factory()
    for raw in MALFORMED:
        s = srv.connect()
        try:
            s.sendall(raw)
            answer = b""
            deadline = time.monotonic() + TIMEOUT_S + 3
            while time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], 0.1)
                if r:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    answer += data
                    if b"\r\n\r\n" in answer:
                        break
            else:
                pytest.fail(f"no answer and no close within {TIMEOUT_S + 3} s for {raw[:60]!r}")
            assert not answer.startswith(b"HTTP/1.1 2"), (raw[:60], answer[:200])
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), (raw[:60], answer[:200])
        finally:
            s.close()
        srv.health_within(2.0)
