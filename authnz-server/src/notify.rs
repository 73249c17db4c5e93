//! Readiness and stopping notices to a service manager (systemd's
//! `sd_notify` protocol), for units with `Type=notify`.
//!
//! systemd passes the path of a datagram socket in `NOTIFY_SOCKET`; a
//! service writes newline-separated `KEY=VALUE` assignments to it:
//! `READY=1` once it accepts connections, `STOPPING=1` when it begins to
//! shut down, `STATUS=...` as free text for `systemctl status`. A path that
//! starts with `@` names a socket in Linux's abstract namespace. Without
//! `NOTIFY_SOCKET` (not started by systemd) every call does nothing.
//!
//! The protocol is one `sendto` of a datagram, so it is written here with
//! the standard library rather than taken from a crate. A failed notice is
//! logged and otherwise ignored: the server works the same either way, and
//! systemd reports a unit that never became ready on its own.

use std::io;
use std::path::Path;

/// The variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Tell the service manager the server accepts connections (`READY=1`),
/// with `status` as the `STATUS=` text.
pub fn ready(status: &str) {
    send_logged(&format!("READY=1\nSTATUS={}\n", one_line(status)));
}

/// Tell the service manager the server is shutting down (`STOPPING=1`).
pub fn stopping() {
    send_logged("STOPPING=1\nSTATUS=shutting down\n");
}

fn send_logged(message: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return;
    };
    if socket.is_empty() {
        return;
    }
    if let Err(e) = send(Path::new(&socket), message) {
        tracing::warn!(error = %e, "cannot notify the service manager ({NOTIFY_SOCKET_ENV})");
    }
}

/// A status text on one line (a newline would start another assignment).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Without Unix sockets there is no service manager to notify.
#[cfg(not(unix))]
pub fn send(_path: &Path, _message: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "notices need Unix datagram sockets",
    ))
}

/// Send `message` as one datagram to the socket at `path` (`@name`: the
/// abstract socket `name`).
#[cfg(unix)]
pub fn send(path: &Path, message: &str) -> io::Result<()> {
    use std::os::unix::net::UnixDatagram;

    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_os_str().as_encoded_bytes();
    let sent = match bytes.strip_prefix(b"@") {
        Some(name) => send_abstract(&socket, name, message)?,
        None => socket.send_to(message.as_bytes(), path)?,
    };
    if sent != message.len() {
        return Err(io::Error::other("the notice was cut short"));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn send_abstract(
    socket: &std::os::unix::net::UnixDatagram,
    name: &[u8],
    message: &str,
) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message.as_bytes(), &addr)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn send_abstract(
    _socket: &std::os::unix::net::UnixDatagram,
    _name: &[u8],
    _message: &str,
) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_notice_reaches_a_path_socket() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).expect("bind");
        send(&path, "READY=1\nSTATUS=x\n").expect("send");
        let mut buf = [0u8; 128];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=x\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_notice_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("authnz-notify-test-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let listener = UnixDatagram::bind_addr(&addr).expect("bind");
        send(Path::new(&format!("@{name}")), "STOPPING=1\n").expect("send");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(send(&dir.path().join("none.sock"), "READY=1\n").is_err());
        assert_eq!(one_line("a\nb\rc"), "a b c");
    }
}
