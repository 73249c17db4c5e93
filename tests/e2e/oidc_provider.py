"""A real OpenID Connect provider on loopback for the e2e suite: the npm
package `oidc-provider`, started with the same script the Rust social-login
tests use (authnz-server/tests/it/oauth/provider.mjs: one confidential test
client, the development login form taking any login name and password, the
login name as subject and e-mail, asserted verified unless it starts with
`unverified`; consent is granted without a prompt).

The package is installed once with npm into `<target>/tmp/oidc-provider`
(the directory the Rust tests install into, so both share one install;
`$AUTHNZ_OIDC_PROVIDER_DIR` overrides it). Without `node` and `npm`, or
when npm cannot install the package, the caller skips with the install
command; with AUTHNZ_REQUIRE_SERVICES=1 that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import REPO

# The same pinned release as the Rust tests' support.
PACKAGE = "oidc-provider@9.13.3"
INSTALL = "apt-get install nodejs npm"
READY_MARK = ".authnz-oidc-provider-ready"
SCRIPT = REPO / "authnz-server" / "tests" / "it" / "oauth" / "provider.mjs"


def _unavailable(why: str):
    text = (
        f"the OpenID Connect test provider is unavailable: {why}; install Node.js 20 or "
        f"later and npm with `{INSTALL}` (and let npm reach its registry)"
    )
    if os.environ.get("AUTHNZ_REQUIRE_SERVICES") == "1":
        pytest.fail(text + " (AUTHNZ_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(text)


def _install_dir() -> Path:
    explicit = os.environ.get("AUTHNZ_OIDC_PROVIDER_DIR")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return target / "tmp" / "oidc-provider"


def _installed() -> Path:
    """The provider's directory with the package installed and the script
    beside it (node resolves the import from the script's directory)."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            _unavailable(f"`{tool}` is not on PATH")
    directory = _install_dir()
    if not (directory / READY_MARK).exists():
        # A half-made install from an interrupted run is made again.
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        (directory / "package.json").write_text('{"private": true, "type": "module"}\n')
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", PACKAGE],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            _unavailable(f"`npm install {PACKAGE}` failed: {result.stderr.strip()[-400:]}")
        (directory / READY_MARK).write_text("ok\n")
    script = directory / "provider.mjs"
    text = SCRIPT.read_text()
    if not script.exists() or script.read_text() != text:
        tmp = directory / f"provider.mjs.{os.getpid()}"
        tmp.write_text(text)
        tmp.replace(script)
    return directory


class OidcProvider:
    """A running provider; `stop()` ends this child only."""

    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str]):
        directory = _installed()
        config = json.dumps(
            {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}
        )
        self.proc = subprocess.Popen(
            ["node", "provider.mjs", config],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()))
        reader.start()
        reader.join(60)
        line = first[0].strip() if first else ""
        if not line.startswith("ready "):
            self.stop()
            pytest.fail(f"the OpenID Connect provider did not start: {line!r}", pytrace=False)
        self.issuer = line.removeprefix("ready ")
        # Keep reading what it prints: a full pipe would block it.
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)
