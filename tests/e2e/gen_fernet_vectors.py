#!/usr/bin/env python3
"""Writes tests/e2e/fernet_vectors.json: Fernet test vectors made with
Python's `cryptography`, for the Rust side to check its Fernet layer against.

    python3 tests/e2e/gen_fernet_vectors.py [--now UNIX_TIME]

The output is committed. Tokens are built from their parts (version byte,
timestamp, IV, AES-128-CBC/PKCS7, HMAC-SHA256; https://github.com/fernet/spec)
with fixed keys and IVs, and every valid one is checked against
`cryptography.fernet.Fernet` before it is written, so the file is both
reproducible (given the same `--now`) and known to agree with Python.

Format (all strings; bytes as noted):

    {
      "generator": "...", "cryptography": "<version>", "now": <int>,
      "valid": [
        {"name", "key" (url-safe b64, 44 chars), "plaintext" (UTF-8 text),
         "plaintext_b64" (std b64 of the exact bytes), "timestamp" (int),
         "iv_hex", "token" (the Fernet token),
         "body" (std b64 of the token: the HTTP body of PROTOCOL.md 1.4)}
      ],
      "invalid": [
        {"name", "key", "token", "body", "reason"}
      ]
    }

A decrypter must return `plaintext_b64`'s bytes for every valid entry, with
no TTL and whatever the timestamp (PROTOCOL.md 1.4), and must reject every invalid
entry.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import struct
import time
from pathlib import Path

import cryptography
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

OUT = Path(__file__).with_name("fernet_vectors.json")


def key_from_seed(seed: int) -> bytes:
    """A fixed 32-byte key, URL-safe base64 with padding (PROTOCOL.md 1.3)."""
    raw = hashlib.sha256(f"authnz-fernet-vector-key-{seed}".encode()).digest()
    return base64.urlsafe_b64encode(raw)


def iv_from_seed(seed: int) -> bytes:
    return hashlib.sha256(f"authnz-fernet-vector-iv-{seed}".encode()).digest()[:16]


def make_token(key: bytes, plaintext: bytes, timestamp: int, iv: bytes, version: int = 0x80) -> bytes:
    raw_key = base64.urlsafe_b64decode(key)
    signing, encryption = raw_key[:16], raw_key[16:]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(encryption), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    basic = bytes([version]) + struct.pack(">Q", timestamp) + iv + ciphertext
    mac = hmac.new(signing, basic, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(basic + mac)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build(now: int) -> dict:
    plaintexts = {
        "short": b'{"request": "session-exists"}',
        "empty": b"",
        "unicode": "gr\u00fc\u00df dich \u2014 \u65e5\u672c \U0001f511".encode(),
        "1kib": (b"0123456789abcdef" * 64),
        "block-aligned": b"x" * 32,
    }
    timestamps = {"t0": 0, "now": now, "t2pow40": 2**40}

    valid = []
    seed = 0
    for pname, plaintext in plaintexts.items():
        for tname, ts in timestamps.items():
            seed += 1
            key = key_from_seed(seed)
            iv = iv_from_seed(seed)
            token = make_token(key, plaintext, ts, iv)
            # agree with Python's implementation before writing anything
            f = Fernet(key)
            assert f.decrypt(token) == plaintext
            assert f.extract_timestamp(token) == ts
            valid.append(
                {
                    "name": f"{pname}-{tname}",
                    "key": key.decode(),
                    "plaintext": plaintext.decode("utf-8"),
                    "plaintext_b64": b64(plaintext),
                    "timestamp": ts,
                    "iv_hex": iv.hex(),
                    "token": token.decode(),
                    "body": b64(token),
                }
            )

    # Invalid tokens, all from one well-formed base.
    key = key_from_seed(1000)
    base = make_token(key, b'{"request": "session-new"}', now, iv_from_seed(1000))
    raw = bytearray(base64.urlsafe_b64decode(base))

    flipped_hmac = bytearray(raw)
    flipped_hmac[-1] ^= 0x01
    flipped_ct = bytearray(raw)
    flipped_ct[30] ^= 0x01
    wrong_version = make_token(
        key, b'{"request": "session-new"}', now, iv_from_seed(1000), version=0x81
    )
    not_block_multiple = bytes(raw[:-32][:-5]) + hmac.new(
        base64.urlsafe_b64decode(key)[:16], bytes(raw[:-32][:-5]), hashlib.sha256
    ).digest()
    invalid_tokens = {
        "flipped-hmac-byte": (key, base64.urlsafe_b64encode(bytes(flipped_hmac)), "last HMAC byte XOR 0x01"),
        "flipped-ciphertext-byte": (key, base64.urlsafe_b64encode(bytes(flipped_ct)), "IV/ciphertext byte changed, HMAC stale"),
        "truncated": (key, base64.urlsafe_b64encode(bytes(raw[:-10])), "last 10 bytes removed"),
        "too-short": (key, base64.urlsafe_b64encode(bytes(raw[:40])), "shorter than version+timestamp+IV+HMAC"),
        "wrong-version-byte": (key, wrong_version, "version 0x81 with a valid HMAC"),
        "ciphertext-not-block-multiple": (key, base64.urlsafe_b64encode(not_block_multiple), "valid HMAC over a ciphertext that is not a multiple of 16 bytes"),
        "wrong-key": (key_from_seed(1001), base, "valid token for another key"),
        "not-base64": (key, b"@@@@not-a-fernet-token@@@@", "not URL-safe base64"),
        "empty": (key, b"", "empty token"),
    }  # fmt: skip
    invalid = []
    for name, (k, token, reason) in invalid_tokens.items():
        try:
            Fernet(k).decrypt(token)
        except InvalidToken:
            pass
        else:  # pragma: no cover - generator self-check
            raise AssertionError(f"invalid vector {name} decrypts in Python")
        invalid.append(
            {"name": name, "key": k.decode(), "token": token.decode(), "body": b64(token), "reason": reason}
        )

    return {
        "generator": "tests/e2e/gen_fernet_vectors.py",
        "cryptography": cryptography.__version__,
        "now": now,
        "valid": valid,
        "invalid": invalid,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--now", type=int, default=None, help="timestamp used for 'now' vectors")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.now is None:
        # Keep the committed "now" when regenerating, so output is stable.
        try:
            args.now = json.loads(args.out.read_text())["now"]
        except (OSError, ValueError, KeyError):
            args.now = int(time.time())
    data = build(args.now)
    args.out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} ({len(data['valid'])} valid, {len(data['invalid'])} invalid)")


if __name__ == "__main__":
    main()
