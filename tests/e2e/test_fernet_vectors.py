"""Fernet vectors shared with the Rust side.

- `fernet_vectors.json` (ours, from gen_fernet_vectors.py): checked here
  against Python's Fernet so a regenerated file can never drift.
- `rust_fernet_vectors.json` (written by the Rust test suite, same format as
  ours; see gen_fernet_vectors.py): every valid token must decrypt with
  Python's Fernet to the stated plaintext and timestamp, every invalid one
  must be rejected.

The Rust file is committed; `AUTHNZ_WRITE_RUST_VECTORS=1 cargo test -p
authnz-server --test it fernet_vectors` regenerates it, and that Rust test checks
the committed file still opens with our codec. A missing file fails here.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

HERE = Path(__file__).parent
OURS = HERE / "fernet_vectors.json"
RUST = HERE / "rust_fernet_vectors.json"

RUST_VECTORS_REQUIRED = True  # the file is committed; see the module docstring


def _check(data: dict) -> None:
    assert data["valid"], "no valid vectors"
    for v in data["valid"]:
        f = Fernet(v["key"].encode())
        expected = base64.b64decode(v["plaintext_b64"]) if "plaintext_b64" in v else v["plaintext"].encode()
        assert f.decrypt(v["token"].encode()) == expected, v["name"]
        if "timestamp" in v:
            assert f.extract_timestamp(v["token"].encode()) == v["timestamp"], v["name"]
        if "body" in v:
            assert base64.b64decode(v["body"], validate=True) == v["token"].encode(), v["name"]
    for v in data.get("invalid", []):
        with pytest.raises(InvalidToken):
            Fernet(v["key"].encode()).decrypt(v["token"].encode())


def test_our_vectors_agree_with_python():
    _check(json.loads(OURS.read_text()))


def test_our_vectors_are_up_to_date(tmp_path):
    """The committed file is exactly what the generator writes."""
    import gen_fernet_vectors as gen

    now = json.loads(OURS.read_text())["now"]
    fresh = gen.build(now)
    committed = json.loads(OURS.read_text())
    fresh["cryptography"] = committed["cryptography"]
    assert fresh == committed, "run tests/e2e/gen_fernet_vectors.py and commit the result"


def test_rust_vectors_decrypt_with_python():
    if not RUST.exists():
        msg = (
            f"!!! {RUST.name} is missing: the Rust side has not written its Fernet "
            "vectors, so Rust->Python token interop is NOT checked !!!"
        )
        if RUST_VECTORS_REQUIRED:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    _check(json.loads(RUST.read_text()))
