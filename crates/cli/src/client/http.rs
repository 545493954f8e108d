//! A small blocking HTTP/1.1 client over one stream (a unix socket or TCP):
//! what the CLI needs of the Engine API and no more — requests with a
//! fixed or streamed (chunked) body, responses with `Content-Length`,
//! chunked or read-to-close bodies, and the connection hijack of
//! attach/exec (`Upgrade: tcp`). Blocking I/O on std streams keeps the CLI's
//! start-up free of an async runtime; the few commands that move data both
//! ways at once use a second thread.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

/// The transport under one connection.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    /// Half-closes the writing side (stdin reached EOF).
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
        }
    }

    pub fn shutdown_both(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// A connection with its read buffer.
#[derive(Debug)]
pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
    pos: usize,
    /// Host header value (`localhost` over a unix socket, like docker's client
    /// sends `api.moby.localhost` / the dial address).
    host: String,
}

impl Read for Conn {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = (self.buf.len() - self.pos).min(out.len());
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.stream.read(out)
    }
}

impl BufRead for Conn {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.buf.resize(16 * 1024, 0);
            let n = loop {
                match self.stream.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.clear();
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(n);
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

/// What a request carries.
pub enum Body<'a> {
    Empty,
    /// A body of known length.
    Bytes(&'a [u8], &'static str),
    /// A streamed body, sent with chunked transfer encoding.
    Stream(&'a mut dyn Read, &'static str),
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b, t) => write!(f, "Bytes({} bytes, {t})", b.len()),
            Body::Stream(_, t) => write!(f, "Stream({t})"),
        }
    }
}

/// A request that was sent and whose response has not been read yet.
#[derive(Debug)]
pub struct Pending {
    conn: Conn,
    method: String,
}

impl Pending {
    pub fn response(self) -> io::Result<Response> {
        let method = self.method;
        self.conn.read_response(&method)
    }
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    UntilClose,
}

/// A response whose body is read from the connection as it arrives.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    conn: Conn,
    framing: Framing,
    keep_alive: bool,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Conn {
    pub fn new(stream: Stream, host: String) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
            host,
        }
    }

    fn write_head(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &Body<'_>,
    ) -> io::Result<()> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth-cli/{}\r\n",
            self.host,
            env!("CARGO_PKG_VERSION")
        );
        for (k, v) in extra {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        match body {
            Body::Empty if matches!(method, "POST" | "PUT") => {
                head.push_str("Content-Length: 0\r\n")
            }
            Body::Empty => {}
            Body::Bytes(b, ct) => {
                head.push_str(&format!(
                    "Content-Type: {ct}\r\nContent-Length: {}\r\n",
                    b.len()
                ));
            }
            Body::Stream(_, ct) => {
                head.push_str(&format!(
                    "Content-Type: {ct}\r\nTransfer-Encoding: chunked\r\n"
                ));
            }
        }
        head.push_str("\r\n");
        self.stream.write_all(head.as_bytes())
    }

    fn write_body(&mut self, body: Body<'_>) -> io::Result<()> {
        match body {
            Body::Empty => Ok(()),
            Body::Bytes(b, _) => self.stream.write_all(b),
            Body::Stream(r, _) => {
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let n = match r.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    let mut frame = format!("{n:x}\r\n").into_bytes();
                    frame.extend_from_slice(&chunk[..n]);
                    frame.extend_from_slice(b"\r\n");
                    self.stream.write_all(&frame)?;
                }
                self.stream.write_all(b"0\r\n\r\n")
            }
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let n = self.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection",
            ));
        }
        if line.len() > 64 * 1024 {
            return Err(invalid("response header line too long"));
        }
        while line.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| invalid("response header is not UTF-8"))
    }

    /// Sends one request and reads the response head.
    pub fn request(
        self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> io::Result<Response> {
        self.send(method, path, headers, body)?.response()
    }

    /// Sends a request whose answer is read later ([`Pending::response`]):
    /// `wait` must be registered before `start`, and answers only when the
    /// container exits.
    pub fn send(
        mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> io::Result<Pending> {
        self.write_head(method, path, headers, &body)?;
        match self.write_body(body) {
            Ok(()) => self.stream.flush()?,
            // the daemon answered (an error) before reading the whole upload:
            // its answer is what the user needs to see
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => return Err(e),
        }
        Ok(Pending {
            conn: self,
            method: method.to_owned(),
        })
    }

    fn read_response(mut self, method: &str) -> io::Result<Response> {
        let status_line = self.read_line()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("malformed status line: {status_line:?}")))?;
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("malformed status line: {status_line:?}")));
        }
        let mut headers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            if headers.len() > 200 {
                return Err(invalid("too many response headers"));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let chunked =
            header("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = header("Content-Length").and_then(|v| v.parse::<u64>().ok());
        let mut keep_alive = !header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            && version == "HTTP/1.1";
        let framing = if method == "HEAD" || status == 204 || status == 304 || status == 101 {
            Framing::Length(0)
        } else if chunked {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            keep_alive = false;
            Framing::UntilClose
        };
        Ok(Response {
            status,
            headers,
            conn: self,
            framing,
            keep_alive,
        })
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The whole body.
    pub fn read_body(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }

    /// The connection, for another request, once the body has been read
    /// to its end and the server keeps the connection open.
    pub fn into_reusable(self) -> Option<Conn> {
        let done = match self.framing {
            Framing::Length(n) => n == 0,
            Framing::Chunked { done, .. } => done,
            Framing::UntilClose => false,
        };
        (done && self.keep_alive).then_some(self.conn)
    }

    /// The raw connection after a `101 Switching Protocols` (attach, exec
    /// start): bytes the server sent after the head stay buffered in it.
    pub fn into_hijacked(self) -> Conn {
        self.conn
    }

    fn read_chunk_size(&mut self) -> io::Result<u64> {
        let line = self.conn.read_line()?;
        let size = line.split(';').next().unwrap_or("").trim();
        u64::from_str_radix(size, 16).map_err(|_| invalid(format!("malformed chunk size {size:?}")))
    }
}

impl Read for Response {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(out.len());
                let n = self.conn.read(&mut out[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection mid-response",
                    ));
                }
                self.framing = Framing::Length(left - n as u64);
                Ok(n)
            }
            Framing::UntilClose => self.conn.read(out),
            Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Chunked { left, .. } => {
                let mut left = left;
                if left == 0 {
                    left = self.read_chunk_size()?;
                    if left == 0 {
                        // trailers until the empty line
                        loop {
                            if self.conn.read_line()?.is_empty() {
                                break;
                            }
                        }
                        self.framing = Framing::Chunked {
                            left: 0,
                            done: true,
                        };
                        return Ok(0);
                    }
                }
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(out.len());
                let n = self.conn.read(&mut out[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection mid-response",
                    ));
                }
                left -= n as u64;
                if left == 0 {
                    let crlf = self.conn.read_line()?;
                    if !crlf.is_empty() {
                        return Err(invalid("malformed chunk end"));
                    }
                }
                self.framing = Framing::Chunked { left, done: false };
                Ok(n)
            }
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment (keeps `/` out: names with slashes, like
/// `library/busybox`, go in as they are, as docker's client sends them).
pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'@' | b'+')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `?a=1&b=x` query strings.
#[derive(Debug, Default, Clone)]
pub struct Query(String);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(mut self, key: &str, value: &str) -> Self {
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(&encode_component(key));
        self.0.push('=');
        self.0.push_str(&encode_component(value));
        self
    }
    /// Adds the pair only when `cond` holds.
    pub fn add_if(self, cond: bool, key: &str, value: &str) -> Self {
        if cond { self.add(key, value) } else { self }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Conn, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Conn::new(Stream::Unix(a), "localhost".into()), b)
    }

    fn serve(mut peer: UnixStream, reply: &'static [u8]) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // read the head (and a small body) then answer
            loop {
                let n = peer.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                if n == 0 || req.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            peer.write_all(reply).unwrap();
            req
        })
    }

    #[test]
    fn content_length_response_and_reuse() {
        let (conn, peer) = pair();
        let t = serve(
            peer,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nApi-Version: 1.50\r\n\r\nhello",
        );
        let mut r = conn
            .request("GET", "/v1.50/_ping", &[], Body::Empty)
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("api-version"), Some("1.50"));
        assert_eq!(r.read_body().unwrap(), b"hello");
        assert!(r.into_reusable().is_some());
        let req = String::from_utf8(t.join().unwrap()).unwrap();
        assert!(
            req.starts_with("GET /v1.50/_ping HTTP/1.1\r\nHost: localhost\r\n"),
            "{req}"
        );
    }

    #[test]
    fn chunked_response() {
        let (conn, peer) = pair();
        let _t = serve(peer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n");
        let mut r = conn.request("GET", "/x", &[], Body::Empty).unwrap();
        assert_eq!(r.read_body().unwrap(), b"abcdefg");
        assert!(r.into_reusable().is_some());
    }

    #[test]
    fn until_close_response_is_not_reused() {
        let (conn, peer) = pair();
        let t = serve(peer, b"HTTP/1.1 200 OK\r\n\r\nstream");
        let mut r = conn.request("GET", "/x", &[], Body::Empty).unwrap();
        drop(t.join().unwrap()); // peer closes
        assert_eq!(r.read_body().unwrap(), b"stream");
        assert!(r.into_reusable().is_none());
    }

    #[test]
    fn truncated_body_is_an_error() {
        let (conn, peer) = pair();
        let t = serve(peer, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let mut r = conn.request("GET", "/x", &[], Body::Empty).unwrap();
        drop(t.join().unwrap());
        assert_eq!(
            r.read_body().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn streamed_request_body_is_chunked() {
        let (conn, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            while !all.ends_with(b"0\r\n\r\n") {
                let n = peer.read(&mut buf).unwrap();
                assert!(n > 0);
                all.extend_from_slice(&buf[..n]);
            }
            peer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            all
        });
        let mut data: &[u8] = b"tar-bytes";
        let r = conn
            .request(
                "PUT",
                "/archive",
                &[],
                Body::Stream(&mut data, "application/x-tar"),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let req = String::from_utf8(t.join().unwrap()).unwrap();
        assert!(req.contains("Transfer-Encoding: chunked\r\n"), "{req}");
        assert!(
            req.ends_with("\r\n\r\n9\r\ntar-bytes\r\n0\r\n\r\n"),
            "{req}"
        );
    }

    #[test]
    fn hijack_keeps_early_bytes() {
        let (conn, peer) = pair();
        let _t = serve(peer, b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x02hi");
        let r = conn
            .request(
                "POST",
                "/attach",
                &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
                Body::Empty,
            )
            .unwrap();
        assert_eq!(r.status, 101);
        let mut c = r.into_hijacked();
        let mut got = [0u8; 10];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got[8..], b"hi");
    }

    #[test]
    fn query_encoding() {
        let q = Query::new()
            .add("filters", r#"{"name":{"a b":true}}"#)
            .add_if(false, "x", "1")
            .add("all", "1");
        assert_eq!(
            q.as_str(),
            "?filters=%7B%22name%22%3A%7B%22a%20b%22%3Atrue%7D%7D&all=1"
        );
        assert_eq!(
            encode_path("library/busybox:latest"),
            "library/busybox:latest"
        );
        assert_eq!(encode_path("a b#"), "a%20b%23");
    }
}
