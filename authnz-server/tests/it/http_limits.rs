//! The HTTP listener's limits over a real socket, plain and TLS: a stalled
//! request head, a stalled body and an idle keep-alive connection are closed
//! after their timeouts; the connection cap holds further clients in the
//! kernel's backlog; shutdown lets requests in flight finish, closes the rest
//! and is bounded by its deadline; two `Host` headers are refused.
//!
//! Timeouts are set to about a second; every bound asserted is a few times
//! that, where the unbounded server never closes at all.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Backend, TestDb};
use authnz_api::SystemClock;
use authnz_server::app::{Built, build};
use authnz_server::serving::{HttpLimits, serve};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Tls,
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    built: Built,
    connector: Option<TlsConnector>,
    db: TestDb,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Limits for tests: everything long except what a test shortens.
fn long_limits() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1000,
        shutdown_timeout: Duration::from_secs(60),
    }
}

async fn start(name: &str, mode: Mode, limits: HttpLimits) -> Running {
    let db = TestDb::new(Backend::Sqlite, name).await.expect("sqlite");
    let basedir = tempfile::tempdir().expect("basedir");
    let certdir = tempfile::tempdir().expect("certdir");
    let opts = crate::common::options(&db, basedir.path(), Arc::new(SystemClock));
    let built = build(&opts).await.expect("build");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tls, connector) = match mode {
        Mode::Plain => (None, None),
        Mode::Tls => {
            let (cert, key) = crate::common::self_signed_cert(certdir.path());
            let config = authnz_server::tls::server_config(&cert, &key).expect("TLS config");
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&cert).expect("cert") {
                roots.add(c.expect("pem")).expect("root");
            }
            let client = ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            (Some(config), Some(TlsConnector::from(Arc::new(client))))
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, built.state.clone(), tls, limits, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
        built,
        connector,
        db,
        _dirs: (basedir, certdir),
    }
}

impl Running {
    async fn connect(&self) -> Stream {
        let tcp = TcpStream::connect(self.addr).await.expect("connect");
        match &self.connector {
            None => Box::new(tcp),
            Some(connector) => Box::new(
                connector
                    .connect(ServerName::try_from("localhost").expect("name"), tcp)
                    .await
                    .expect("TLS handshake"),
            ),
        }
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    async fn finish(mut self) {
        self.shutdown();
        // A test may have awaited the task already.
        if !self.task.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        }
        self.built.store.close().await;
        self.db.drop_db().await;
    }
}

/// Read until the server closes the connection (EOF or a reset); `None` if
/// it is still open after `bound`.
async fn closed_within(stream: &mut Stream, bound: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

/// Read one response with a `Content-Length` (no `Connection: close`
/// needed): (status, head, body).
async fn read_response(stream: &mut Stream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .expect("status");
                    return (status, head, buf[end + 4..end + 4 + length].to_vec());
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "connection closed mid-response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a response within 10 s")
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn slowloris_header_is_closed(mode: Mode) {
    let limits = HttpLimits {
        header_timeout: Duration::from_secs(1),
        ..long_limits()
    };
    let s = start("slowloris", mode, limits).await;
    // A request head dripped one header line every 200 ms: the drip does not
    // extend the deadline.
    let mut drip = s.connect().await;
    let started = Instant::now();
    drip.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                r = drip.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    let _ = drip.write_all(b"X-Drip: 1\r\n").await;
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(
        closed.is_ok(),
        "{mode:?}: a dripped head is still open after 6 s"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "{mode:?}: closed too early: {elapsed:?}"
    );
    // A connection that never sends anything is closed after the header
    // timeout as well.
    let mut silent = s.connect().await;
    let started = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(6))
            .await
            .is_some(),
        "{mode:?}: a silent connection is still open after 6 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The server still answers.
    let mut fresh = s.connect().await;
    fresh.write_all(HEALTH).await.expect("write");
    assert_eq!(read_response(&mut fresh).await.0, 200);
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_header_is_closed_after_the_header_timeout_plain() {
    slowloris_header_is_closed(Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_header_is_closed_after_the_header_timeout_tls() {
    slowloris_header_is_closed(Mode::Tls).await;
}

async fn stalled_body_is_closed(mode: Mode) {
    let limits = HttpLimits {
        body_timeout: Duration::from_secs(1),
        ..long_limits()
    };
    let s = start("stalled-body", mode, limits).await;
    let mut stalled = s.connect().await;
    let started = Instant::now();
    stalled
        .write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\n")
        .await
        .expect("write head");
    stalled
        .write_all(&vec![b'a'; 64 * 1024])
        .await
        .expect("write part of the body");
    let answer = closed_within(&mut stalled, Duration::from_secs(6)).await;
    let elapsed = started.elapsed();
    let answer =
        answer.unwrap_or_else(|| panic!("{mode:?}: a stalled body is still open after 6 s"));
    assert!(
        elapsed >= Duration::from_millis(900),
        "{mode:?}: closed too early: {elapsed:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "{mode:?}: {}",
        String::from_utf8_lossy(&answer)
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_is_closed_after_the_body_timeout_plain() {
    stalled_body_is_closed(Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_is_closed_after_the_body_timeout_tls() {
    stalled_body_is_closed(Mode::Tls).await;
}

async fn idle_keep_alive_is_closed(mode: Mode) {
    let limits = HttpLimits {
        idle_timeout: Duration::from_secs(1),
        ..long_limits()
    };
    let s = start("idle", mode, limits).await;
    let mut conn = s.connect().await;
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        conn.write_all(HEALTH).await.expect("write");
        assert_eq!(read_response(&mut conn).await.0, 200);
    }
    let started = Instant::now();
    let rest = closed_within(&mut conn, Duration::from_secs(6)).await;
    let elapsed = started.elapsed();
    assert_eq!(
        rest.as_deref(),
        Some(&b""[..]),
        "{mode:?}: an idle keep-alive connection is still open after 6 s"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "{mode:?}: closed too early: {elapsed:?}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_is_closed_after_the_idle_timeout_plain() {
    idle_keep_alive_is_closed(Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_is_closed_after_the_idle_timeout_tls() {
    idle_keep_alive_is_closed(Mode::Tls).await;
}

/// At the cap the server stops accepting: a further client waits in the
/// kernel's backlog and is served as soon as a connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_further_clients_in_the_backlog() {
    let limits = HttpLimits {
        max_connections: 2,
        ..long_limits()
    };
    let s = start("cap", Mode::Plain, limits).await;
    let mut first = s.connect().await;
    let second = s.connect().await;
    // Both are served (accepted).
    for c in [&mut first] {
        c.write_all(HEALTH).await.expect("write");
        assert_eq!(read_response(c).await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(s.addr)
        .await
        .expect("the kernel accepts");
    third.write_all(HEALTH).await.expect("write");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served while two were open (cap 2): {early:?}"
    );
    drop(first);
    let mut third: Stream = Box::new(third);
    let (status, _, _) = read_response(&mut third).await;
    assert_eq!(status, 200);
    drop(second);
    s.finish().await;
}

async fn shutdown_drains_in_flight_requests(mode: Mode) {
    let mut s = start("drain", mode, long_limits()).await;
    // In flight: the head and half the body of a request.
    let mut busy = s.connect().await;
    busy.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n12345")
        .await
        .expect("write");
    // Not in flight: a partial head, an idle connection.
    let mut partial = s.connect().await;
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: 12")
        .await
        .expect("write");
    let mut idle = s.connect().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.shutdown();
    for (what, conn) in [("partial head", &mut partial), ("idle", &mut idle)] {
        assert!(
            closed_within(conn, Duration::from_secs(3)).await.is_some(),
            "{mode:?}: a connection with no request in flight ({what}) is still open 3 s after shutdown"
        );
    }
    assert!(
        !s.task.is_finished(),
        "{mode:?}: the server stopped with a request in flight"
    );
    busy.write_all(b"67890").await.expect("write the rest");
    let (status, head, _) = read_response(&mut busy).await;
    // A garbage body: refused, but answered.
    assert_eq!(status, 401, "{head}");
    assert!(
        closed_within(&mut busy, Duration::from_secs(3))
            .await
            .is_some(),
        "{mode:?}: the drained connection is not closed"
    );
    let stopped = tokio::time::timeout(Duration::from_secs(3), &mut s.task).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "{mode:?}: the server did not stop after draining: {stopped:?}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_plain() {
    shutdown_drains_in_flight_requests(Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_tls() {
    shutdown_drains_in_flight_requests(Mode::Tls).await;
}

async fn shutdown_is_bounded(mode: Mode) {
    let limits = HttpLimits {
        shutdown_timeout: Duration::from_secs(1),
        ..long_limits()
    };
    let mut s = start("deadline", mode, limits).await;
    // A client that holds a request in flight (half a body) and never
    // finishes it.
    let mut holder = s.connect().await;
    holder
        .write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n12345")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.shutdown();
    let stopped = tokio::time::timeout(Duration::from_secs(5), &mut s.task).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "{mode:?}: the server did not stop within 5 s of shutdown (deadline 1 s): {stopped:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{mode:?}: the request in flight was not given the deadline"
    );
    assert!(
        closed_within(&mut holder, Duration::from_secs(3))
            .await
            .is_some(),
        "{mode:?}: the held connection is still open after the server stopped"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_its_deadline_plain() {
    shutdown_is_bounded(Mode::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_its_deadline_tls() {
    shutdown_is_bounded(Mode::Tls).await;
}

/// Two `Host` headers: which one counts is ambiguous (a proxy may check one
/// and the server use the other), so the request is refused with 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_are_refused() {
    let s = start("two-hosts", Mode::Plain, long_limits()).await;
    for request in [
        &b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"[..],
        &b"GET /health HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\n\r\n"[..],
        &b"POST / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        let mut conn = s.connect().await;
        conn.write_all(request).await.expect("write");
        let (status, head, body) = read_response(&mut conn).await;
        assert_eq!(status, 400, "{}: {head}", String::from_utf8_lossy(request));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "HTTP 400: Could not service this request because of invalid request parameters."
        );
    }
    // One Host header still works.
    let mut conn = s.connect().await;
    conn.write_all(HEALTH).await.expect("write");
    assert_eq!(read_response(&mut conn).await.0, 200);
    s.finish().await;
}

/// A request head over 64 KiB is refused (431) instead of being buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused() {
    let s = start("big-head", Mode::Plain, long_limits()).await;
    let mut conn = s.connect().await;
    let mut head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 100 * 1024));
    head.extend_from_slice(b"\r\n\r\n");
    let _ = conn.write_all(&head).await;
    let answer = closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    s.finish().await;
}
