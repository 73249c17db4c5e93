//! The one HTTP/1.1 serving loop for plain HTTP and HTTPS: accept under a
//! connection cap, a TLS handshake when configured, then hyper's HTTP/1
//! connection with the router, watched for the time limits below; on
//! shutdown, a drain bounded by a deadline.
//!
//! Limits ([`HttpLimits`], configurable, see `docs/OPERATIONS.md`):
//!
//! - **Header timeout**: a new connection must deliver a complete request
//!   head (and finish its TLS handshake) within it; so must a keep-alive
//!   connection once the first byte of its next request has arrived. Bytes
//!   trickling in do not extend it (slowloris).
//! - **Body timeout**: the whole request body must arrive within it of the
//!   head; reading the body then fails, the request gets 400 and the
//!   connection is closed.
//! - **Idle timeout**: a keep-alive connection with no request in flight and
//!   no byte of a next request is closed after it. A client that does not
//!   read its response counts as idle too, so a stalled reader is bounded.
//! - **Connection cap**: at the cap the server stops accepting; further
//!   clients wait in the kernel's listen backlog (their connect succeeds)
//!   and are served in order as connections close, which the timeouts above
//!   guarantee. The cap is also held below the process's open-file limit, so
//!   the database, Redis and log files always find a descriptor. When accept
//!   fails anyway (out of descriptors), the loop backs off briefly instead of
//!   spinning.
//! - **Shutdown deadline**: on shutdown the listener closes, connections
//!   without a request in flight are closed at once, requests in flight
//!   finish (keep-alive off), and whatever is still open after the deadline
//!   is dropped.
//!
//! hyper's own `header_read_timeout` is not used: it starts counting when a
//! keep-alive connection goes idle, so it cannot tell an idle client from a
//! slow one; the [`Watch`] here does, for plain and TLS connections alike
//! (it sits under the TLS layer).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::http::{AppState, router};

/// Descriptors kept free under the open-file limit for everything that is
/// not a client connection (database and Redis pools, log and lock files,
/// the listener, TLS and mail connections).
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// Least connection cap left after subtracting [`RESERVED_DESCRIPTORS`]
/// from a tiny open-file limit.
const MIN_CONNECTIONS: usize = 16;

/// Largest request head accepted (request line and headers; a larger head gets
/// 431 and the connection closes). The original's server (Tornado) has the
/// same 64 KiB default.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long accept waits after failing (out of descriptors, out of memory)
/// before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Time limits and the connection cap of the HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `headertimeout`: complete request head (and TLS handshake).
    pub header_timeout: Duration,
    /// `bodytimeout`: complete request body, counted from the head.
    pub body_timeout: Duration,
    /// `idletimeout`: keep-alive connection with nothing to do.
    pub idle_timeout: Duration,
    /// `maxconnections`: connections served at once (also held below the
    /// open-file limit, see [`HttpLimits::connection_cap`]).
    pub max_connections: usize,
    /// `shutdowntimeout`: how long requests in flight may take to finish
    /// after a shutdown signal.
    pub shutdown_timeout: Duration,
}

/// Default of `headertimeout`, seconds.
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// Default of `bodytimeout`, seconds.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 20;
/// Default of `idletimeout`, seconds.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default of `maxconnections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `shutdowntimeout`, seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 5;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
        }
    }
}

impl HttpLimits {
    /// The cap actually applied: `max_connections`, but no more than the
    /// soft open-file limit minus [`RESERVED_DESCRIPTORS`] (and at least
    /// [`MIN_CONNECTIONS`] when that limit is tiny).
    pub fn connection_cap(&self) -> usize {
        let configured = self.max_connections.max(1);
        match open_file_limit() {
            Some(limit) => {
                let room = limit.saturating_sub(RESERVED_DESCRIPTORS);
                let room = usize::try_from(room).unwrap_or(usize::MAX);
                configured.min(room.max(MIN_CONNECTIONS))
            }
            None => configured,
        }
    }
}

/// The soft limit on open files of this process, if there is one.
fn open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Serve the router of `state` on `listener` (over TLS when `tls` is set) until `shutdown`
/// resolves, then drain within `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<ServerConfig>>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), tls, limits, shutdown).await
}

/// [`serve`] with any router (the `metricslisten` listener serves
/// [`crate::http::metrics_router`]).
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = limits.connection_cap();
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            "maxconnections lowered to fit the open-file limit"
        );
    }
    let slots = Arc::new(Semaphore::new(cap));
    let acceptor = tls.map(TlsAcceptor::from);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_join(done),
            (tcp, peer, slot) = accept(&listener, &slots) => {
                connections.spawn(connection(Accepted {
                    tcp,
                    peer,
                    slot,
                    acceptor: acceptor.clone(),
                    app: app.clone(),
                    limits,
                    stop: stop_rx.clone(),
                }));
            }
        }
    }
    // No new connections; the kernel refuses further clients.
    drop(listener);
    stop_tx.send_replace(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while let Some(done) = connections.join_next().await {
            log_join(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open,
            dropped = connections.len(),
            "shutdown deadline passed: dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection task panicked");
    }
}

/// Wait for a free slot, then for a client. Errors are logged and retried
/// after a pause (out of descriptors) so the loop never spins.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    loop {
        let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
            // The semaphore is never closed; should it be, accept nothing.
            return std::future::pending().await;
        };
        match listener.accept().await {
            Ok((tcp, peer)) => return (tcp, peer, slot),
            Err(e) => {
                drop(slot);
                tracing::warn!(error = %e, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// One accepted client and what serving it needs.
struct Accepted {
    tcp: TcpStream,
    peer: SocketAddr,
    /// Its place under the connection cap, given back when it closes.
    slot: OwnedSemaphorePermit,
    acceptor: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
}

async fn connection(accepted: Accepted) {
    let Accepted {
        tcp,
        peer,
        slot,
        acceptor,
        app,
        limits,
        mut stop,
    } = accepted;
    let _slot = slot;
    let _ = tcp.set_nodelay(true);
    let watch = Arc::new(Watch::new(limits));
    let io = WatchedIo {
        inner: tcp,
        watch: Arc::clone(&watch),
    };
    let service = ConnService {
        app: TowerToHyperService::new(app),
        peer,
        watch: Arc::clone(&watch),
        body_timeout: limits.body_timeout,
    };
    match acceptor {
        None => serve_http(io, service, &watch, stop).await,
        Some(acceptor) => {
            // The handshake is part of getting a request head in.
            let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(io));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
                _ = stop.changed() => return,
            };
            serve_http(tls, service, &watch, stop).await;
        }
    }
}

async fn serve_http<I>(io: I, service: ConnService, watch: &Watch, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let expired = watch.expired();
    tokio::pin!(expired);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut expired => {
                tracing::debug!("closing a connection: timed out waiting for the client");
                return;
            }
            _ = stop.changed(), if !stopping => {
                if watch.is_idle() {
                    return;
                }
                stopping = true;
                // Finish the request in flight, then close.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the watchdog of one connection knows about it.
#[derive(Debug)]
struct WatchState {
    /// Requests between head and response (0 or 1 on HTTP/1.1).
    busy: usize,
    /// Whether a request has been served on this connection.
    served: bool,
    /// When the connection became idle (accepted, or its last response was
    /// handed over).
    since: Instant,
    /// First byte received since then (the start of a next request head).
    first_byte: Option<Instant>,
}

/// The per-connection watchdog of the header and idle timeouts.
#[derive(Debug)]
struct Watch {
    state: Mutex<WatchState>,
    changed: Notify,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl Watch {
    fn new(limits: HttpLimits) -> Self {
        Self {
            state: Mutex::new(WatchState {
                busy: 0,
                served: false,
                since: Instant::now(),
                first_byte: None,
            }),
            changed: Notify::new(),
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_idle(&self) -> bool {
        self.lock().busy == 0
    }

    /// When the connection is to be closed, `None` while a request is in
    /// flight (the body timeout and the request's own bounds apply then).
    fn deadline(&self) -> Option<Instant> {
        deadline_of(&self.lock(), self.header_timeout, self.idle_timeout)
    }

    /// Resolves when the connection has overstayed its deadline.
    async fn expired(&self) {
        loop {
            // `notify_one` stores a permit, so a change between reading the
            // deadline and waiting is not lost.
            match self.deadline() {
                None => self.changed.notified().await,
                Some(deadline) => {
                    if Instant::now() >= deadline {
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }

    fn received(&self) {
        let mut s = self.lock();
        if s.busy == 0 && s.first_byte.is_none() {
            s.first_byte = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        {
            let mut s = self.lock();
            s.busy += 1;
            s.served = true;
        }
        self.changed.notify_one();
        InFlight(Arc::clone(self))
    }
}

/// When a connection in state `s` is to be closed; `None` while a request is
/// in flight.
fn deadline_of(
    s: &WatchState,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> Option<Instant> {
    if s.busy > 0 {
        return None;
    }
    Some(match (s.served, s.first_byte) {
        // A new connection: the head is due a header timeout after accept,
        // however slowly it trickles in.
        (false, _) => s.since + header_timeout,
        (true, Some(first)) => first + header_timeout,
        (true, None) => s.since + idle_timeout,
    })
}

/// A request in flight on a watched connection; idle again when dropped.
#[derive(Debug)]
struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut s = self.0.lock();
            s.busy = s.busy.saturating_sub(1);
            if s.busy == 0 {
                s.since = Instant::now();
                s.first_byte = None;
            }
        }
        self.0.changed.notify_one();
    }
}

/// The client's byte stream, telling the watch when bytes arrive.
#[derive(Debug)]
struct WatchedIo {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.received();
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The router as hyper calls it for one connection: marks the request in
/// flight, gives it the peer address and a body that times out.
#[derive(Debug, Clone)]
struct ConnService {
    app: TowerToHyperService<Router>,
    peer: SocketAddr,
    watch: Arc<Watch>,
    body_timeout: Duration,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.watch.begin();
        let mut req = req.map(|body| TimedBody::new(body, self.body_timeout));
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.app.call(req);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

/// The request body took longer than the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the body timeout")]
pub struct BodyTimeout;

/// A request body that fails once the body timeout has passed.
#[derive(Debug)]
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_under_the_open_file_limit() {
        let limits = HttpLimits {
            max_connections: usize::MAX,
            ..HttpLimits::default()
        };
        let cap = limits.connection_cap();
        if let Some(limit) = open_file_limit().filter(|l| *l < u64::MAX / 2) {
            assert!(cap as u64 <= limit.saturating_sub(RESERVED_DESCRIPTORS).max(16));
        }
        let small = HttpLimits {
            max_connections: 3,
            ..HttpLimits::default()
        };
        assert_eq!(small.connection_cap(), 3);
    }

    #[test]
    fn deadlines_follow_the_state_of_the_connection() {
        let header = Duration::from_secs(10);
        let idle = Duration::from_secs(60);
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let state = |busy, served, since, first_byte| WatchState {
            busy,
            served,
            since,
            first_byte,
        };
        // New connection: the header timeout from accept, bytes or not.
        assert_eq!(
            deadline_of(&state(0, false, t0, None), header, idle),
            Some(at(10))
        );
        assert_eq!(
            deadline_of(&state(0, false, t0, Some(at(3))), header, idle),
            Some(at(10))
        );
        // In flight: none.
        assert_eq!(deadline_of(&state(1, true, t0, None), header, idle), None);
        // Idle after a response: the idle timeout from the response.
        assert_eq!(
            deadline_of(&state(0, true, at(100), None), header, idle),
            Some(at(160))
        );
        // The first byte of a next request: the header timeout from there.
        assert_eq!(
            deadline_of(&state(0, true, at(100), Some(at(105))), header, idle),
            Some(at(115))
        );
    }
}
