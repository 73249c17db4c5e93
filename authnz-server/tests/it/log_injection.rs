//! Client text never reaches the log raw: a request whose type name holds a
//! line break and a NUL must not forge a log line or put a NUL in the log.
//! The log is captured through a `tracing-subscriber` writer into a buffer.

use std::io;
use std::sync::{Arc, Mutex};

use crate::common::{Backend, TestDb, TestServer};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

/// A `MakeWriter` appending every log line to one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_text_cannot_forge_log_lines() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");

    let db = TestDb::new(Backend::Sqlite, "log_injection")
        .await
        .expect("sqlite always available");
    let s = TestServer::start(&db).await;

    let forged = "req\nFAKE LINE\u{0}";
    let object = json!({
        "request": forged,
        "body": {},
        "reqid": 1,
        "client_ipaddr": "127.0.0.1",
    });
    assert_eq!(s.send_object(&object).await.map_err(|e| e.0), Err(400));
    // A long name is cut in the log.
    let long = format!("x{}", "\u{2028}".repeat(5000));
    let object = json!({
        "request": long,
        "body": {},
        "reqid": 2,
        "client_ipaddr": "127.0.0.1",
    });
    assert_eq!(s.send_object(&object).await.map_err(|e| e.0), Err(400));
    s.stop().await;
    db.drop_db().await;

    let log = captured.0.lock().expect("log buffer").clone();
    let log = String::from_utf8(log).expect("log is UTF-8");
    assert!(!log.contains('\0'), "a NUL reached the log:\n{log}");
    assert!(!log.contains('\u{2028}'), "U+2028 reached the log");
    for line in log.lines() {
        assert!(!line.starts_with("FAKE LINE"), "a forged log line:\n{log}");
    }
    let unknown: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("unknown request type"))
        .collect();
    assert_eq!(unknown.len(), 2, "{log}");
    assert!(
        unknown[0].contains(r"'req\nFAKE LINE\x00'"),
        "the name is logged escaped: {}",
        unknown[0]
    );
    assert!(
        unknown[1].len() < 1500,
        "the long name is cut: {}",
        unknown[1].len()
    );
}
