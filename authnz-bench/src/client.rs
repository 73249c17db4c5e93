//! A deliberately small HTTP/1.1 keep-alive client for the load generator.
//!
//! The generator sends only pre-built `POST /` requests (headers and body in
//! one buffer) and reads `Content-Length` framed replies, so a full HTTP
//! client would only add CPU on the generator's core. One [`Conn`] is one TCP
//! connection, reused for every request (keep-alive); it reconnects after an
//! error or when the server closes the connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a single request may take before it counts as an error. Bounds
/// every request loop even if a server stops answering.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response head or body accepted.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// One keep-alive connection to a server on loopback.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// A reply: HTTP status and body bytes.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Build the bytes of one `POST /` request with `body`.
pub fn post_request(port: u16, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Send one pre-built request and read its reply, within
    /// [`REQUEST_TIMEOUT`]. On any error the connection is dropped so the
    /// next call reconnects.
    pub async fn send(&mut self, request: &[u8]) -> std::io::Result<Reply> {
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request)).await;
        match result {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request timed out",
                ))
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Reply> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(self.addr).await?;
                s.set_nodelay(true)?;
                self.stream.insert(s)
            }
        };
        stream.write_all(request).await?;
        self.buf.clear();
        // Read until the end of the head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_RESPONSE {
                return Err(invalid("response head too large"));
            }
            read_more(stream, &mut self.buf).await?;
        };
        let (status, length, close) = parse_head(&self.buf[..head_end])?;
        while self.buf.len() < head_end + length {
            read_more(stream, &mut self.buf).await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        if close {
            self.stream = None;
        }
        Ok(Reply { status, body })
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.reserve(8192);
    let n = stream.read_buf(buf).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "server closed the connection",
        ));
    }
    Ok(())
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status, `Content-Length` and whether the server will close the connection.
fn parse_head(head: &[u8]) -> std::io::Result<(u16, usize, bool)> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let mut length = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = length.ok_or_else(|| invalid("response without Content-Length"))?;
    if length > MAX_RESPONSE {
        return Err(invalid("response body too large"));
    }
    Ok((status, length, close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(parse_head(head).expect("head"), (200, 12, false));
        let head = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\nConnection: close\r\n\r\n";
        assert_eq!(parse_head(head).expect("head"), (401, 3, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
