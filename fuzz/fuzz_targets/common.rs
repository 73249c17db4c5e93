//! Helpers shared by the fuzz targets (included with `#[path]`, so each
//! target stays one binary with no extra crate).

#![allow(dead_code)]

use std::sync::LazyLock;

use authnz_proto::codec::Codec;
use authnz_proto::envelope::{envelope, schema_failure};
use authnz_proto::request::RequestType;
use authnz_proto::schema;
use serde_json::{Map, Value};

/// The fixed key of the fuzz codec: `urlsafe_b64encode(b"\x07" * 32)`. The
/// seed tokens under `fuzz/corpus/request_token/` are sealed with it.
pub const FUZZ_KEY: [u8; 32] = [7; 32];

pub static CODEC: LazyLock<Codec> = LazyLock::new(|| Codec::new(&FUZZ_KEY));

/// Every request type name of the protocol (PROTOCOL.md 3), plus a few
/// names the server must refuse.
pub const REQUEST_NAMES: &[&str] = &[
    "session-new",
    "session-exists",
    "session-delete",
    "session-delete-userid",
    "user-login",
    "user-logout",
    "user-passcheck",
    "user-passcheck-nosession",
    "user-new",
    "user-list",
    "user-lookup-email",
    "user-set-emailverified",
    "user-changepass",
    "user-changepass-nosession",
    "user-resetpass",
    "user-resetpass-nosession",
    "user-validatepass",
    "user-delete",
    "user-edit",
    "user-lock",
    "user-lookup-match",
    "internal-user-lock",
    "internal-user-delete",
    "internal-user-edit",
    "internal-session-edit",
    "user-check-access",
    "user-check-limit",
    "apikey-new",
    "apikey-verify",
    "apikey-revoke",
    "apikey-new-nosession",
    "apikey-verify-nosession",
    "apikey-revoke-nosession",
    "apikey-revokeall-nosession",
    "apikey-refresh-nosession",
    "user-sendemail-signup",
    "user-sendemail-forgotpass",
    "user-set-emailsent",
];

/// The decoder half of the request pipeline (`http::process`, PROTOCOL.md 1.7
/// steps 3-6) on a decrypted request object: envelope fields, request type
/// lookup, and the schema check of the body against every request type.
/// The reply the server would build for the named type is sealed and
/// opened again, and must come back unchanged with the request's `reqid`.
pub fn decode_request(value: Value) {
    let Value::Object(mut request) = value else {
        return;
    };
    let Some(request_type) = request.get("request").cloned() else {
        return;
    };
    let reqid = match request.remove("reqid") {
        None | Some(Value::Null) => return,
        Some(id) => id,
    };
    let Some(Value::Object(body)) = request.remove("body") else {
        return;
    };
    for name in REQUEST_NAMES {
        let Some(kind) = RequestType::from_name(name) else {
            panic!("request type {name} is not known to the server");
        };
        let problems = schema::check(kind.params(), &body);
        let named = request_type.as_str() == Some(*name);
        if !named {
            continue;
        }
        let reply = if problems.is_empty() {
            envelope(Map::new(), reqid.clone())
        } else {
            schema_failure(name, &problems, reqid.clone())
        };
        let sealed = CODEC.seal(&reply);
        match CODEC.open(sealed.as_bytes()) {
            Ok(back) => {
                assert_eq!(back, reply, "a sealed reply does not open to itself");
                assert!(
                    back.get("reqid")
                        .is_some_and(|echo| same_reqid(echo, &reqid)),
                    "reqid not echoed: {:?} for {reqid:?}",
                    back.get("reqid")
                );
            }
            Err(e) => panic!("the server's own reply does not open: {e}"),
        }
    }
    if let Some(name) = request_type.as_str() {
        let _ = RequestType::from_name(name);
    }
}

/// Splits `data` into `n` fields at NUL bytes (missing fields are empty,
/// extra NULs stay in the last field) and decodes each as UTF-8, lossily.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// Whether `echo` is the reqid `sent`: the same JSON value, where a number
/// may come back in another spelling of the same value (`1233E33345678901`
/// as `1233e+33345678901`: the number's text is rewritten when it is
/// serialized, its value is not; a client compares parsed values).
fn same_reqid(echo: &Value, sent: &Value) -> bool {
    match (echo, sent) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.to_string(), b.to_string());
            let spelled = |t: &str| t.to_ascii_lowercase().replace("e+", "e");
            let float = |t: &str| t.contains(['.', 'e', 'E']);
            a == b
                || spelled(&a) == spelled(&b)
                || (float(&a)
                    && float(&b)
                    && a.parse::<f64>().ok().is_some_and(|x| x.is_finite())
                    && a.parse::<f64>().ok() == b.parse::<f64>().ok())
        }
        _ => echo == sent,
    }
}
