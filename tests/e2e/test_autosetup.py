"""`authnzrv --autosetup --no-prompt` (PROTOCOL.md 7.4)."""

from __future__ import annotations

import base64
import os
import re
import stat
import tempfile
from pathlib import Path

from conftest import _binary, run_autosetup


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _env_file(basedir: Path) -> dict:
    out = {}
    for line in (basedir / ".env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def test_autosetup_files(autosetup_dir):
    basedir, result = autosetup_dir
    assert result.returncode == 0

    key_file = basedir / ".authnzerver-secret-key"
    key = key_file.read_bytes()
    assert len(key) == 44 and not key.endswith(b"\n")
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert _mode(key_file) == 0o400

    salt_file = basedir / ".authnzerver-salt"
    salt = salt_file.read_bytes()
    assert len(salt) == 44 and not salt.endswith(b"\n")
    assert salt != key
    assert _mode(salt_file) == 0o400

    db = basedir / ".authdb.sqlite"
    assert db.is_file()
    assert _mode(db) == 0o600

    creds_file = basedir / ".authnzerver-admin-credentials"
    creds = creds_file.read_text()
    assert re.fullmatch(r"\S+@\S+ \S+\n", creds), repr(creds)
    password = creds.rstrip("\n").split(" ", 1)[1]
    assert len(password) == 22  # token_urlsafe(16)
    assert _mode(creds_file) == 0o400

    env = _env_file(basedir)
    for k in ("AUTHNZERVER_AUTHDB", "AUTHNZERVER_SECRET", "AUTHNZERVER_PIISALT", "PORT", "AUTHNZERVER_PORT"):
        assert k in env, k
    assert Path(env["AUTHNZERVER_SECRET"]).is_absolute()
    assert Path(env["AUTHNZERVER_SECRET"]).resolve() == key_file.resolve()
    assert Path(env["AUTHNZERVER_PIISALT"]).resolve() == salt_file.resolve()
    assert env["PORT"] == env["AUTHNZERVER_PORT"] == "13431"


def test_autosetup_twice_keeps_secrets(autosetup_dir):
    binary = _binary()
    with tempfile.TemporaryDirectory(prefix="authnz-e2e-setup-") as tmp:
        basedir = Path(tmp) / "b"
        first = run_autosetup(binary, basedir)
        assert first.returncode == 0, first.stderr
        key = (basedir / ".authnzerver-secret-key").read_bytes()
        salt = (basedir / ".authnzerver-salt").read_bytes()
        creds = (basedir / ".authnzerver-admin-credentials").read_text()
        second = run_autosetup(binary, basedir)
        assert second.returncode == 0, second.stderr
        assert (basedir / ".authnzerver-secret-key").read_bytes() == key
        assert (basedir / ".authnzerver-salt").read_bytes() == salt
        assert (basedir / ".authnzerver-admin-credentials").read_text() == creds
        assert os.listdir(basedir)  # still there
