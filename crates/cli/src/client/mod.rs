//! The Engine API client: where the daemon is ([`host`]), one HTTP/1.1
//! connection kept alive between calls ([`http`]), API version negotiation
//! through `/_ping` as docker's client does it, docker's error texts, and
//! starting berthd on demand ([`daemon`]).

pub mod daemon;
pub mod host;
pub mod http;

use std::cell::{Cell, RefCell};
use std::io::{self, Write};

use berth_docker_types::ApiVersion;
use serde::de::DeserializeOwned;

pub use host::Host;
pub use http::{Body, Conn, Pending, Query, Response};

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("Cannot connect to the berth daemon at {host}. Is berthd running?{hint}")]
    NoDaemon { host: String, hint: &'static str },
    #[error(
        "permission denied while trying to connect to the berth daemon socket at {host}: connect: {source}"
    )]
    PermissionDenied { host: String, source: io::Error },
    #[error("error during connect: {host}: {source}")]
    Connect { host: String, source: io::Error },
    /// The daemon answered with an error status.
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("error talking to the daemon: {0}")]
    Io(#[from] io::Error),
    #[error("cannot understand the daemon's answer to {what}: {source}")]
    Decode {
        what: String,
        source: serde_json::Error,
    },
    #[error("could not start berthd: {0}")]
    StartDaemon(String),
}

impl ClientError {
    /// The daemon answered 404 (no such container, image, ...).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { status: 404, .. })
    }

    /// The error text without docker's `Error response from daemon: ` prefix.
    pub fn message(&self) -> String {
        match self {
            ClientError::Api { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// Turns an error status and its body into [`ClientError::Api`], with the
/// `message` of docker's `{"message": ...}` body.
pub fn api_error(status: u16, body: &[u8]) -> ClientError {
    let message = match serde_json::from_slice::<berth_docker_types::ErrorResponse>(body) {
        Ok(e) if !e.message.is_empty() => e.message,
        _ => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                format!("{status} {}", reason(status))
            } else {
                text
            }
        }
    };
    ClientError::Api { status, message }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A client of one daemon.
#[derive(Debug)]
pub struct Client {
    host: Host,
    /// The API version in use, once known.
    version: Cell<Option<ApiVersion>>,
    /// Set by `BERTH_API_VERSION`: no negotiation.
    pinned: bool,
    /// The daemon's `OSType` from `/_ping`.
    os_type: RefCell<String>,
    idle: RefCell<Option<Conn>>,
    /// `-D`: each request is logged on stderr.
    debug: Cell<bool>,
}

impl Client {
    pub fn new(host: Host) -> Result<Self, String> {
        let pinned = std::env::var("BERTH_API_VERSION")
            .ok()
            .filter(|v| !v.is_empty());
        let version = match pinned.as_deref() {
            Some(v) => Some(
                ApiVersion::parse(v).ok_or_else(|| format!("invalid BERTH_API_VERSION {v:?}"))?,
            ),
            None => None,
        };
        Ok(Client {
            host,
            version: Cell::new(version),
            pinned: version.is_some(),
            os_type: RefCell::new(String::new()),
            idle: RefCell::new(None),
            debug: Cell::new(false),
        })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Logs every request on stderr (`-D`, `--log-level debug`).
    pub fn set_debug(&self, on: bool) {
        self.debug.set(on);
    }

    fn trace(&self, method: &str, path: &str) {
        if self.debug.get() {
            let mut e = io::stderr().lock();
            let _ = writeln!(e, "DEBU[berth] {method} {path} on {}", self.host);
        }
    }

    /// A fresh connection (starting berthd first when that is allowed and
    /// needed).
    pub fn dial(&self) -> Result<Conn, ClientError> {
        match self.host.dial() {
            Ok(c) => Ok(c),
            Err(e) if daemon::may_start(&self.host, &e) => {
                daemon::start(&self.host)?;
                self.host.dial().map_err(|e| self.connect_error(e))
            }
            Err(e) => Err(self.connect_error(e)),
        }
    }

    fn connect_error(&self, e: io::Error) -> ClientError {
        let host = self.host.to_string();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                let hint = if self.host.is_default() && !daemon::is_root() {
                    " (berth starts it on demand only for root)"
                } else {
                    ""
                };
                ClientError::NoDaemon { host, hint }
            }
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { host, source: e },
            _ => ClientError::Connect { host, source: e },
        }
    }

    fn conn(&self) -> Result<Conn, ClientError> {
        match self.idle.borrow_mut().take() {
            Some(c) => Ok(c),
            None => self.dial(),
        }
    }

    /// The negotiated API version (pings the daemon the first time).
    pub fn version(&self) -> Result<ApiVersion, ClientError> {
        if let Some(v) = self.version.get() {
            return Ok(v);
        }
        self.ping()?;
        Ok(self.version.get().unwrap_or_else(ApiVersion::current))
    }

    /// `GET /_ping`: negotiates the version as docker's client does — the
    /// lower of ours and the daemon's `API-Version`.
    pub fn ping(&self) -> Result<(), ClientError> {
        let conn = self.conn()?;
        let mut resp = conn.request("GET", "/_ping", &[], Body::Empty)?;
        let body = resp.read_body()?;
        if let Some(os) = resp.header("OSType") {
            *self.os_type.borrow_mut() = os.to_owned();
        }
        if !self.pinned {
            let ours = ApiVersion::current();
            let theirs = resp.header("API-Version").and_then(ApiVersion::parse);
            self.version.set(Some(match theirs {
                Some(v) if v < ours => v,
                _ => ours,
            }));
        }
        let status = resp.status;
        if let Some(c) = resp.into_reusable() {
            *self.idle.borrow_mut() = Some(c);
        }
        if status >= 400 && status != 404 {
            // an old daemon without /_ping answers 404: keep going with our version
            return Err(api_error(status, &body));
        }
        Ok(())
    }

    /// `linux` unless the daemon said otherwise.
    pub fn os_type(&self) -> String {
        let os = self.os_type.borrow();
        if os.is_empty() {
            "linux".to_owned()
        } else {
            os.clone()
        }
    }

    /// `/v1.50/containers/json?...`
    pub fn path(&self, path: &str) -> Result<String, ClientError> {
        let full = format!("/v{}{}", self.version()?, path);
        Ok(full)
    }

    /// Sends a request and returns the response with its body unread;
    /// error statuses become [`ClientError::Api`].
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response, ClientError> {
        let full = self.path(path)?;
        self.trace(method, &full);
        let mut resp = match body {
            // an upload cannot be sent twice: always a fresh connection
            Body::Stream(..) => self.dial()?.request(method, &full, headers, body)?,
            Body::Empty | Body::Bytes(..) => {
                let fixed = match body {
                    Body::Bytes(b, ct) => Some((b, ct)),
                    _ => None,
                };
                let again = || match fixed {
                    Some((b, ct)) => Body::Bytes(b, ct),
                    None => Body::Empty,
                };
                let reused = self.idle.borrow_mut().take();
                match reused {
                    Some(conn) => match conn.request(method, &full, headers, again()) {
                        Ok(r) => r,
                        // the daemon closed the idle connection meanwhile: once more on a fresh one
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::BrokenPipe
                                    | io::ErrorKind::ConnectionReset
                            ) =>
                        {
                            self.dial()?.request(method, &full, headers, again())?
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => self.dial()?.request(method, &full, headers, again())?,
                }
            }
        };
        if !resp.is_success() && resp.status != 101 {
            let body = resp.read_body()?;
            let status = resp.status;
            if let Some(c) = resp.into_reusable() {
                *self.idle.borrow_mut() = Some(c);
            }
            return Err(api_error(status, &body));
        }
        Ok(resp)
    }

    /// A request whose answer is read whole; the connection is kept for the
    /// next call.
    pub fn call(&self, method: &str, path: &str, body: Body<'_>) -> Result<Vec<u8>, ClientError> {
        self.call_with(method, path, &[], body)
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut resp = self.send(method, path, headers, body)?;
        let bytes = resp.read_body()?;
        if let Some(c) = resp.into_reusable() {
            *self.idle.borrow_mut() = Some(c);
        }
        Ok(bytes)
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.call("GET", path, Body::Empty)?;
        decode(path, &body)
    }

    /// POST with a JSON body, JSON answer.
    pub fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            what: path.to_owned(),
            source: e,
        })?;
        let answer = self.call("POST", path, Body::Bytes(&bytes, "application/json"))?;
        decode(path, &answer)
    }

    /// POST without a body, answer ignored.
    pub fn post(&self, path: &str) -> Result<(), ClientError> {
        self.call("POST", path, Body::Empty).map(|_| ())
    }

    pub fn delete(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.call("DELETE", path, Body::Empty)
    }

    /// A request on a connection of its own whose body is read as it comes
    /// (logs -f, events, pull progress).
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response, ClientError> {
        // never take the shared idle connection: the stream keeps its own
        let full = self.path(path)?;
        self.trace(method, &full);
        let conn = self.dial()?;
        let mut resp = conn.request(method, &full, headers, body)?;
        if !resp.is_success() {
            let body = resp.read_body()?;
            return Err(api_error(resp.status, &body));
        }
        Ok(resp)
    }

    /// Sends a request on a connection of its own and returns before the
    /// answer (read it with [`Client::finish`]).
    pub fn begin(&self, method: &str, path: &str) -> Result<Pending, ClientError> {
        let full = self.path(path)?;
        self.trace(method, &full);
        Ok(self.dial()?.send(method, &full, &[], Body::Empty)?)
    }

    /// The answer to a [`Client::begin`] request, read whole.
    pub fn finish(&self, pending: Pending) -> Result<Vec<u8>, ClientError> {
        let mut resp = pending.response()?;
        let body = resp.read_body()?;
        if !resp.is_success() {
            return Err(api_error(resp.status, &body));
        }
        Ok(body)
    }

    /// Hijacks a connection for attach / exec start: `Upgrade: tcp`, then the
    /// raw stream.
    pub fn hijack(&self, path: &str, body: Option<&[u8]>) -> Result<Conn, ClientError> {
        let full = self.path(path)?;
        self.trace("POST (hijack)", &full);
        let conn = self.dial()?;
        let headers = [("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let b = match body {
            Some(b) => Body::Bytes(b, "application/json"),
            None => Body::Empty,
        };
        let mut resp = conn.request("POST", &full, &headers, b)?;
        match resp.status {
            101 | 200 => Ok(resp.into_hijacked()),
            s => {
                let body = resp.read_body()?;
                Err(api_error(s, &body))
            }
        }
    }
}

/// Decodes a JSON answer, naming the endpoint on failure.
pub fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_use_the_message() {
        let e = api_error(404, br#"{"message":"No such container: x"}"#);
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: x"
        );
        assert!(e.is_not_found());
        let e = api_error(500, b"plain text\n");
        assert_eq!(e.to_string(), "Error response from daemon: plain text");
        let e = api_error(503, b"");
        assert_eq!(e.message(), "503 Service Unavailable");
    }
}
