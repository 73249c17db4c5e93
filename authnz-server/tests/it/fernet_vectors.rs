//! Fernet interoperability with Python's `cryptography`, both ways.
//!
//! - Python encrypts, Rust decrypts: `tests/e2e/fernet_vectors.json` was made
//!   by `tests/e2e/gen_fernet_vectors.py` with Python's Fernet (timestamps 0,
//!   now and 2^40, i.e. far in the future). Every valid body must open to its
//!   plaintext; every invalid token must be refused.
//! - Rust encrypts, Python decrypts: `tests/e2e/rust_fernet_vectors.json` is
//!   written by this crate's codec (run this test with
//!   `AUTHNZ_WRITE_RUST_VECTORS=1` to regenerate it) and checked by
//!   `tests/e2e/test_fernet_vectors.py` with Python's Fernet. Here we check the
//!   committed file still opens with our codec.
use std::path::PathBuf;

use authnz_proto::codec::Codec;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e")
}

fn codec_for(key_b64: &str) -> Codec {
    let bytes = URL_SAFE.decode(key_b64).expect("key is URL-safe base64");
    Codec::new(&bytes.try_into().expect("32-byte key"))
}

fn load(name: &str) -> Value {
    let path = e2e_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn check(vectors: &Value) -> usize {
    let mut checked = 0;
    for v in vectors["valid"].as_array().expect("valid list") {
        let codec = codec_for(v["key"].as_str().expect("key"));
        let expected = STANDARD
            .decode(v["plaintext_b64"].as_str().expect("plaintext_b64"))
            .expect("b64");
        let body = v["body"].as_str().expect("body");
        assert_eq!(
            codec
                .open_bytes(body.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", v["name"])),
            expected
        );
        checked += 1;
    }
    for v in vectors["invalid"].as_array().expect("invalid list") {
        let codec = codec_for(v["key"].as_str().expect("key"));
        let body = match v.get("body").and_then(Value::as_str) {
            Some(b) => b.to_owned(),
            None => STANDARD.encode(v["token"].as_str().expect("token")),
        };
        assert!(
            codec.open_bytes(body.as_bytes()).is_err(),
            "accepted invalid vector {}",
            v["name"]
        );
        checked += 1;
    }
    checked
}

#[test]
fn python_made_tokens_open_in_rust() {
    let n = check(&load("fernet_vectors.json"));
    assert!(n >= 20, "only {n} vectors");
}

/// Build a fresh set of Rust-made vectors: valid tokens at several timestamps
/// and plaintexts, and corrupted ones Python must refuse.
fn rust_vectors() -> Value {
    let key_bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let key = URL_SAFE.encode(key_bytes);
    let codec = Codec::new(&key_bytes);
    let plaintexts: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        (
            "envelope",
            br#"{"success": true, "reqid": 1, "messages": []}"#.to_vec(),
        ),
        (
            "unicode",
            "{\"name\": \"Jos\u{e9} \u{1F600}\"}".as_bytes().to_vec(),
        ),
        ("1kib", vec![b'x'; 1024]),
    ];
    let mut valid = Vec::new();
    for (name, pt) in &plaintexts {
        for (tname, ts) in [("t0", 0u64), ("now", 1_795_000_000), ("t2pow40", 1 << 40)] {
            let body = codec.seal_bytes_at(pt, ts);
            let token = String::from_utf8(STANDARD.decode(&body).expect("b64")).expect("ascii");
            valid.push(json!({
                "name": format!("rust-{name}-{tname}"),
                "key": key,
                "plaintext_b64": STANDARD.encode(pt),
                "timestamp": ts,
                "token": token,
                "body": body,
            }));
        }
    }
    let good = valid[1]["token"].as_str().expect("token").to_owned();
    let mut raw = URL_SAFE.decode(&good).expect("token b64");
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let flipped_hmac = URL_SAFE.encode(&raw);
    let mut raw = URL_SAFE.decode(&good).expect("token b64");
    raw[0] = 0x81;
    let wrong_version = URL_SAFE.encode(&raw);
    let truncated = good[..good.len() - 10].to_owned();
    let invalid: Vec<Value> = [
        ("rust-flipped-hmac", flipped_hmac),
        ("rust-wrong-version", wrong_version),
        ("rust-truncated", truncated),
    ]
    .into_iter()
    .map(|(name, token)| json!({"name": name, "key": key, "token": token, "reason": name}))
    .collect();
    json!({"generator": "authnz-server/tests/it/fernet_vectors.rs", "valid": valid, "invalid": invalid})
}

#[test]
fn rust_made_tokens_file_is_current() {
    let path = e2e_dir().join("rust_fernet_vectors.json");
    if std::env::var("AUTHNZ_WRITE_RUST_VECTORS").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&rust_vectors()).expect("json");
        std::fs::write(&path, text + "\n").expect("write vectors");
    }
    let n = check(&load("rust_fernet_vectors.json"));
    assert_eq!(n, 15, "unexpected vector count in {}", path.display());
}
