//! What the validators cost on hostile client input, over the real server.
//!
//! Each request here is the most expensive input we could construct for one
//! validator, at (nearly) the 1 MiB body limit. The exact bounds live in the
//! unit tests beside the validators (input caps, difflib operation counts);
//! these tests check the whole path end to end with a generous bound (2 s in
//! a debug build, where the uncapped code took minutes) and that the server
//! keeps answering `/health` while such a request runs.
//!
//! A request's cost is the lesser of the wall-clock time and the CPU time
//! this process spent meanwhile: on a machine busy with other work the wall
//! clock runs on while the process waits for a core; with other tests in
//! the same process (plain `cargo test`) the process's CPU time counts
//! theirs too. The request's own CPU time is at most either, so an
//! expensive validator still exceeds the bound in both.

use std::time::{Duration, Instant};

use crate::common::{Backend, Client, TestDb, TestServer};
use authnz_server::http::BODY_LIMIT;
use serde_json::{Value, json};

/// Generous per-request bound for a debug build.
const BOUND: Duration = Duration::from_secs(2);

/// `n` distinct CJK ideographs (BMP block first, then extension B).
fn distinct_cjk(n: usize) -> Vec<char> {
    (0x4E00u32..=0x9FFF)
        .chain(0x3400..=0x4DBF)
        .chain(0x20000..=0x2A6DF)
        .filter_map(char::from_u32)
        .take(n)
        .collect()
}

/// The characters of `chars` with `sep` after each: against it, difflib's
/// longest match is always one character at the left edge of what is left,
/// so the uncapped recursion scans the rest of the password once per
/// character (quadratic).
fn interleaved(chars: &[char], sep: char) -> String {
    chars.iter().flat_map(|&c| [c, sep]).collect()
}

/// The worst `user-validatepass` body we know: a long password of distinct
/// characters and an e-mail and name built from the same characters so that
/// every character matches once.
fn worst_validatepass(n: usize) -> Value {
    let chars = distinct_cjk(n);
    let password: String = chars.iter().collect();
    let other = interleaved(&chars, 'x');
    json!({"password": password, "email": other, "full_name": other})
}

/// Sends `request` with `body` and returns the envelope and what the answer
/// cost (see the module docs); checks the sealed request fits under the body
/// limit.
async fn timed(client: &Client, request: &str, body: Value) -> (Value, Duration) {
    let object = Client::request_object("127.0.0.1", request, body);
    let sealed = client.codec.seal(&object);
    assert!(
        sealed.len() <= BODY_LIMIT,
        "{request}: {} bytes is over the body limit",
        sealed.len()
    );
    let started = Instant::now();
    let cpu_started = process_cpu();
    let env = client
        .send_object(&object)
        .await
        .unwrap_or_else(|e| panic!("{request}: HTTP {e:?}"));
    let cost = started
        .elapsed()
        .min(process_cpu().saturating_sub(cpu_started));
    (env, cost)
}

/// The CPU time of this process so far (the server runs in it).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

async fn with_server<F, Fut>(test: &str, f: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: std::future::Future<Output = TestServer>,
{
    let Some(db) = TestDb::new(Backend::Sqlite, test).await else {
        return;
    };
    let server = TestServer::start(&db).await;
    let server = f(server).await;
    server.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validatepass_worst_case_is_answered_within_bound() {
    with_server("validator_cost::validatepass", |s| async move {
        let (env, took) = timed(&s, "user-validatepass", worst_validatepass(40_000)).await;
        assert!(took < BOUND, "user-validatepass took {took:?}");
        // 40,000 distinct characters: long enough, not common, no repeats,
        // far too long to be similar to anything; no breach check here.
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!([]));
        s
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_worst_case_validatepass_runs() {
    with_server("validator_cost::health", |s| async move {
        // One worst case per async worker of the server's runtime.
        let heavy: Vec<_> = (0..2)
            .map(|_| {
                let client = Client::new(s.addr, &s.key);
                tokio::spawn(async move {
                    let _ = client
                        .send_object(&Client::request_object(
                            "127.0.0.1",
                            "user-validatepass",
                            worst_validatepass(40_000),
                        ))
                        .await;
                })
            })
            .collect();
        // Let both requests arrive and start.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let (status, _, _) = tokio::time::timeout(
            Duration::from_secs(10),
            s.raw("GET", "/health", Some("localhost"), b""),
        )
        .await
        .expect("/health answered within 10 s");
        let took = started.elapsed();
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "/health took {took:?}");
        for h in heavy {
            h.await.expect("heavy request task");
        }
        s
    })
    .await;
}

/// The worst inputs for the other validators a request runs on client
/// input: sign-up e-mail and name checks (pattern, public suffixes, link
/// check, normalisation) and the password policy reached through
/// `user-new` and `user-changepass`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validator_worst_case_is_answered_within_bound() {
    with_server("validator_cost::every", |s| async move {
        let password = "Plover-Quince-Sextant-77";
        let email = "cost@example.org";
        let uid = s.verified_user(email, password).await;
        let cjk: String = distinct_cjk(50_000).iter().collect();
        let other = interleaved(&distinct_cjk(50_000), 'x');
        // Dots make the public-suffix scan start a lookup at every
        // character; runs of a long entry's prefix keep each lookup going.
        let dots = ".".repeat(400_000);
        let prefixes = ".s3.dualstack.ap-northeast-1.amazonaws.co".repeat(9_000);
        let local = "a".repeat(400_000);
        let cases: Vec<(&str, Value)> = vec![
            ("user-new", json!({"email": "jane@example.org", "full_name": dots, "password": cjk})),
            ("user-new", json!({"email": "jane@example.org", "full_name": prefixes, "password": cjk})),
            ("user-new", json!({"email": format!("{local}@example.org"), "full_name": "Jane", "password": cjk})),
            ("user-new", json!({"email": "jane@example.org", "full_name": other, "password": cjk})),
            (
                "user-changepass",
                json!({"user_id": uid, "session_token": "x", "email": email, "full_name": other,
                       "current_password": password, "new_password": cjk}),
            ),
            ("user-validatepass", json!({"password": "ﷺ".repeat(120_000), "email": "a@b.c", "full_name": "ﷺ".repeat(60_000)})),
        ];
        for (i, (request, body)) in cases.into_iter().enumerate() {
            let (env, took) = timed(&s, request, body).await;
            assert!(took < BOUND, "case {i} ({request}) took {took:?}");
            assert!(env["success"].is_boolean(), "case {i}: {env}");
        }
        // U+FDFA normalises (NFKC) to 18 characters: unbounded, the name
        // to check and store grew to 2 million characters (about 2.5 s in a
        // debug build). Processing stops past the column's 280 code points
        // (D-22), so this is as cheap as any other request.
        let body = json!({"email": "jane@example.org", "full_name": "\u{FDFA}".repeat(120_000), "password": password});
        let (env, took) = timed(&s, "user-new", body).await;
        assert!(took < BOUND, "user-new (expanding name) took {took:?}");
        assert_eq!(env["failure_reason"], "DB issue with user creation", "{env}");
        s
    })
    .await;
}
