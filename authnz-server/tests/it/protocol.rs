//! The wire protocol over a real socket: every error status with its exact
//! body and headers, the host allow-list, the nested schema failure, reqid
//! echo, oversized and garbage bodies — and proof that none of it changes
//! stored data or takes the server down.

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::UserStore as _;
use authnz_proto::codec::Codec;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

const B400: &str =
    "HTTP 400: Could not service this request because of invalid request parameters.";
const B401: &str = "HTTP 401: Could not service this request because of invalid request authentication token or violation of host restriction.";
const B405: &str = "HTTP 405: Could not service this request.";
const B500: &str = "HTTP 500: Could not service this request.";
const B404: &str = "<html><title>404: Not Found</title><body>404: Not Found</body></html>";

async fn server(test: &str) -> (TestDb, TestServer) {
    let db = TestDb::new(Backend::Sqlite, test)
        .await
        .expect("sqlite always available");
    let s = TestServer::start(&db).await;
    (db, s)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_and_bodies() {
    let (db, s) = server("error_statuses").await;
    let ok_body = |v: &Value| s.codec.seal(v);

    // 401: not base64, bare Fernet token, wrong key, tampered, not JSON, falsy.
    let (st, b) = s.post_body(b"!!!! not base64 !!!!").await;
    assert_eq!((st, text(&b).as_str()), (401, B401));
    let sealed = ok_body(&json!({"request": "session-exists", "body": {}, "reqid": 1}));
    let bare = STANDARD.decode(&sealed).expect("b64");
    assert_eq!(s.post_body(&bare).await.0, 401);
    let other = Codec::new(&[9u8; 32]);
    assert_eq!(
        s.post_body(other.seal(&json!({"a": 1})).as_bytes()).await.0,
        401
    );
    let mut token = bare.clone();
    let i = token.len() - 5;
    token[i] = if token[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(s.post_body(STANDARD.encode(&token).as_bytes()).await.0, 401);
    assert_eq!(
        s.post_body(s.codec.seal_bytes(b"{not json").as_bytes())
            .await
            .0,
        401
    );
    assert_eq!(
        s.post_body(s.codec.seal_bytes(b"{}").as_bytes()).await.0,
        401
    );

    // 500: not an object, no request, no reqid, null reqid, body missing.
    for v in [
        json!([1]),
        json!("x"),
        json!({"body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "body": {}, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "body": {}, "reqid": null, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "reqid": 1, "client_ipaddr": "1.2.3.4"}),
    ] {
        let (st, b) = s.post_body(ok_body(&v).as_bytes()).await;
        assert_eq!((st, text(&b).as_str()), (500, B500), "{v}");
    }
    // 400: echo, missing client_ipaddr, unknown type, non-object body.
    for v in [
        json!({"request": "echo", "body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "body": {"session_token": "x"}, "reqid": 1}),
        json!({"request": "session-exists", "body": {"session_token": "x"}, "reqid": 1, "client_ipaddr": ""}),
        json!({"request": "no-such-request", "body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"}),
        json!({"request": 5, "body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "body": [1], "reqid": 1, "client_ipaddr": "1.2.3.4"}),
        json!({"request": "session-exists", "body": null, "reqid": 1, "client_ipaddr": "1.2.3.4"}),
    ] {
        let (st, b) = s.post_body(ok_body(&v).as_bytes()).await;
        assert_eq!((st, text(&b).as_str()), (400, B400), "{v}");
    }
    // Methods and paths.
    let (st, head, b) = s.raw("GET", "/", Some("localhost"), b"").await;
    assert_eq!((st, text(&b).as_str()), (405, B405));
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; charset=utf-8"),
        "{head}"
    );
    for m in ["PUT", "DELETE", "OPTIONS", "PATCH"] {
        assert_eq!(s.raw(m, "/", Some("localhost"), b"").await.0, 405, "{m}");
    }
    assert_eq!(
        s.raw("POST", "/health", Some("localhost"), b"").await.0,
        405
    );
    let (st, head, b) = s.raw("GET", "/nope", Some("localhost"), b"").await;
    assert_eq!((st, text(&b).as_str()), (404, B404));
    assert!(
        head.to_lowercase()
            .contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    // Host allow-list: exact, lower-cased, port stripped, absent = 127.0.0.1.
    assert_eq!(
        s.raw("GET", "/health", Some("evil.example"), b"").await.0,
        404
    );
    assert_eq!(
        s.raw("GET", "/health", Some("LOCALHOST:9"), b"").await.0,
        200
    );
    assert_eq!(s.raw("GET", "/health", None, b"").await.0, 200);
    let (st, _, b) = s
        .raw("POST", "/", Some("evil.example"), sealed.as_bytes())
        .await;
    assert_eq!((st, text(&b).as_str()), (404, B404));
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_failure_is_nested() {
    let (db, s) = server("schema_failure").await;
    let env = s
        .send_object(&json!({
            "request": "session-exists",
            "body": {"session_token": 123, "client_ipaddr": "1.2.3.4"},
            "reqid": "abc",
            "client_ipaddr": "1.2.3.4",
        }))
        .await
        .expect("200");
    assert_eq!(
        env,
        json!({
            "success": false,
            "response": {
                "success": false,
                "response": {
                    "problems": [{"param": "session_token", "problem": "incorrect type", "required_type": "str", "required_param": true}],
                    "failure_reason": "invalid request parameters",
                },
                "messages": ["request 'session-exists' has invalid parameters"],
            },
            "messages": ["request 'session-exists' has invalid parameters"],
            "reqid": "abc",
        })
    );
    let env = s
        .send_object(&json!({"request": "session-new", "body": {"user_id": "anything"}, "reqid": 1, "client_ipaddr": "x"}))
        .await
        .expect("200");
    let problems = &env["response"]["response"]["problems"];
    let params: Vec<&str> = problems
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["param"].as_str().expect("param"))
        .collect();
    assert_eq!(
        params,
        ["ip_address", "user_agent", "expires", "extra_info_json"]
    );
    assert_eq!(problems[3]["required_type"], json!(["dict", "None"]));
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqid_keeps_its_json_type() {
    let (db, s) = server("reqid").await;
    for reqid in [
        json!(7),
        json!("seven"),
        json!(7.5),
        json!([1, 2]),
        json!({"a": 1}),
        json!(false),
    ] {
        let env = s
            .send_object(&json!({"request": "session-exists", "body": {"session_token": "x"}, "reqid": reqid, "client_ipaddr": "x"}))
            .await
            .expect("200");
        assert_eq!(env["reqid"], reqid);
        assert_eq!(
            env["failure_reason"],
            json!("session does not exist or expired")
        );
    }
    s.stop().await;
    db.drop_db().await;
}

/// Python's `json.loads` reads `NaN`/`Infinity`, big integers exactly, and a
/// UTF-8 byte-order mark on the plaintext; the reply echoes `reqid` exactly
/// as sent (the original's client compares it with what it sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_json_edges_are_accepted_and_reqid_is_echoed_exactly() {
    let (db, s) = server("python_json_edges").await;
    for reqid in [
        "123456789012345678901234567890",
        "-98765432109876543210987654321098765",
        "NaN",
        "Infinity",
        "-Infinity",
        "0.1000000000000000055511151231257827",
        "7",
    ] {
        let plain = format!(
            r#"{{"request": "session-exists", "body": {{"session_token": "x", "n": NaN}}, "reqid": {reqid}, "client_ipaddr": "x"}}"#
        );
        for bom in [&b""[..], &b"\xef\xbb\xbf"[..]] {
            let body = s.codec.seal_bytes(&[bom, plain.as_bytes()].concat());
            let (status, reply) = s.post_body(body.as_bytes()).await;
            assert_eq!(
                status,
                200,
                "reqid {reqid}, BOM {}: {}",
                !bom.is_empty(),
                text(&reply)
            );
            let json = text(&s.codec.open_bytes(&reply).expect("reply decrypts"));
            assert!(
                json.contains(&format!(r#""reqid":{reqid}"#)),
                "reqid {reqid} echoed as sent: {json}"
            );
            assert!(json.contains("session does not exist or expired"), "{json}");
        }
    }
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiting_off_needs_no_client_ipaddr() {
    let db = TestDb::new(Backend::Sqlite, "rl_off")
        .await
        .expect("sqlite");
    let s = TestServer::start_with(&db, std::sync::Arc::new(authnz_api::SystemClock), |o| {
        o.rate_limits = None
    })
    .await;
    let env = s
        .send_object(
            &json!({"request": "session-exists", "body": {"session_token": "x"}, "reqid": 1}),
        )
        .await
        .expect("200");
    assert_eq!(env["success"], json!(false));
    // Without rate limiting a missing body is 400, not 500.
    let r = s
        .send_object(&json!({"request": "session-exists", "reqid": 1}))
        .await;
    assert_eq!(r.err().map(|e| e.0), Some(400));
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_database_state() {
    let (db, s) = server("health").await;
    let (st, head, b) = s.raw("GET", "/health", Some("127.0.0.1"), b"").await;
    assert_eq!(st, 200);
    assert!(
        head.to_lowercase()
            .contains("content-type: application/json; charset=utf-8")
    );
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(v["Health-Ok"], json!(true));
    // One entry per Argon2 hashing thread (`workers`, 2 in tests), as the
    // original reports one per worker process.
    assert_eq!(v["Expected-Workers"], json!(2));
    assert_eq!(
        v["Workers"],
        json!({"authnz-argon2-0": "ok", "authnz-argon2-1": "ok"})
    );
    // Break the database (the superuser row goes away): unhealthy, 500 (Q-6b).
    s.built.store.delete_user(1).await.expect("delete");
    let (st, _, b) = s.raw("GET", "/health", Some("127.0.0.1"), b"").await;
    assert_eq!(st, 500);
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(v["Health-Ok"], json!(false));
    assert_eq!(
        v["Workers"],
        json!({"authnz-argon2-0": "database broken", "authnz-argon2-1": "database broken"})
    );
    // A closed database is broken too, and the answer still comes.
    s.built.store.close().await;
    assert_eq!(s.raw("GET", "/health", Some("127.0.0.1"), b"").await.0, 500);
    s.stop().await;
    db.drop_db().await;
}

/// A fingerprint of everything stored: users and sessions as the API sees them.
async fn snapshot(s: &TestServer) -> Value {
    let users =
        s.call("user-list", json!({"user_id": null})).await["response"]["user_info"].clone();
    let mut sessions = Vec::new();
    for u in users.as_array().expect("users") {
        let id = u["user_id"].as_i64().expect("id");
        let list = authnz_api::SessionStore::user_sessions(
            s.built.store.as_ref(),
            id,
            authnz_api::Clock::now(&authnz_api::SystemClock),
        )
        .await
        .expect("sessions");
        sessions.push(json!(
            list.iter()
                .map(|x| x.session_token.clone())
                .collect::<Vec<_>>()
        ));
    }
    json!({"users": users, "sessions": sessions})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_changes_nothing_and_never_kills_the_server() {
    let (db, s) = server("bad_input").await;
    let uid = s
        .verified_user("pat@example.org", "Plover-Quince-Sextant-77")
        .await;
    let _token = s.new_session(json!(uid)).await;
    let before = snapshot(&s).await;

    let mut bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"=".to_vec(),
        vec![0xff; 1000],
        b"\x00\x01\x02".to_vec(),
        STANDARD.encode(b"gAAAAA").into_bytes(),
        vec![b'A'; 2 * 1024 * 1024],
    ];
    let garbage_objects = [
        json!({"request": "user-new", "body": {"full_name": 1, "email": [], "password": {}}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "user-new", "body": {"full_name": "a@b@c", "email": "x@example.org", "password": "Plover-Quince-Sextant-77"}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "user-login", "body": {"session_token": null, "email": 5, "password": true}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "session-delete-userid", "body": {"session_token": "", "user_id": "1", "keep_current_session": "no"}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "user-set-emailverified", "body": {"email": {"$ne": 1}}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "session-exists", "body": {"session_token": "' OR 1=1 --"}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "user-lookup-email", "body": {"email": "\u{0}"}, "reqid": 1, "client_ipaddr": "x"}),
        json!({"request": "user-list", "body": {"user_id": 99_999_999_999_999_i64}, "reqid": 1, "client_ipaddr": "x"}),
    ];
    for v in &garbage_objects {
        bodies.push(s.codec.seal(v).into_bytes());
    }
    // An oversized but valid request: 400 by the body limit.
    let huge = json!({"request": "session-exists", "body": {"session_token": "x".repeat(2 * 1024 * 1024)}, "reqid": 1, "client_ipaddr": "x"});
    let huge_body = s.codec.seal(&huge).into_bytes();
    let (st, b) = s.post_body(&huge_body).await;
    assert_eq!((st, text(&b).as_str()), (400, B400));

    for body in &bodies {
        let (st, _) = s.post_body(body).await;
        assert!([200, 400, 401, 500].contains(&st), "status {st}");
    }
    // `a@b@c` as a full name is upstream's 400.
    let (st, b) = s
        .post_body(s.codec.seal(&garbage_objects[1]).as_bytes())
        .await;
    assert_eq!((st, text(&b).as_str()), (400, B400));

    assert_eq!(snapshot(&s).await, before, "bad input changed stored data");
    assert_eq!(
        s.raw("GET", "/health", None, b"").await.0,
        200,
        "server still healthy"
    );
    s.stop().await;
    db.drop_db().await;
}
