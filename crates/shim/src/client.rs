//! A blocking client of the shim: spawning it and talking to its control
//! socket. The integration tests use it, and it is the reference for
//! berthd's own (asynchronous) client; the protocol is in the crate doc.

use crate::exit::ExitRecord;
use crate::state_dir;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Talking to a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("connect to shim socket {path}")]
    Connect {
        /// The socket.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("talk to shim socket {path}")]
    Io {
        /// The socket.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The connection closed before a response line.
    #[error("shim at {path} closed the connection without a response")]
    NoResponse {
        /// The socket.
        path: PathBuf,
    },
    /// The response was not a JSON object.
    #[error("shim at {path} sent an invalid response {line:?}")]
    BadResponse {
        /// The socket.
        path: PathBuf,
        /// What it sent.
        line: String,
    },
    /// The shim answered `{"ok":false,…}`.
    #[error("{message}")]
    Shim {
        /// Its `error`.
        message: String,
        /// Its `exit_code` (the runtime's), when there is one.
        exit_code: Option<i64>,
    },
}

/// Spawning a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The binary could not be run.
    #[error("run shim {binary}")]
    Exec {
        /// The binary.
        binary: String,
        #[source]
        source: std::io::Error,
    },
    /// It printed no valid report.
    #[error("shim printed no valid report: {0:?}")]
    BadReport(String),
    /// It reported a failure.
    #[error("{message}")]
    Failed {
        /// The error.
        message: String,
        /// `shim`, `create` or `start`.
        stage: String,
        /// The runtime's exit code, when the runtime failed.
        exit_code: Option<i64>,
    },
}

/// A shim that started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawned {
    /// The container's init pid.
    pub pid: i32,
    /// The shim's pid (it is no child of the spawner).
    pub shim_pid: i32,
    /// `running`, or `created` with `--no-start`.
    pub status: String,
}

/// Runs a prepared shim command line (`berth-shim --id …`) and reads its
/// report. Stdout is taken over; the first process exits once it has
/// reported, so this returns as soon as the container started (or failed).
pub fn spawn(cmd: &mut Command) -> Result<Spawned, SpawnError> {
    let binary = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .output()
        .map_err(|source| SpawnError::Exec { binary, source })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().next().unwrap_or("").to_string();
    let v: Value = serde_json::from_str(&line).map_err(|_| SpawnError::BadReport(text.clone()))?;
    if v["ok"] == Value::Bool(true) {
        let int = |k: &str| v[k].as_i64().and_then(|n| i32::try_from(n).ok());
        match (int("pid"), int("shim_pid"), v["status"].as_str()) {
            (Some(pid), Some(shim_pid), Some(status)) => Ok(Spawned { pid, shim_pid, status: status.to_string() }),
            _ => Err(SpawnError::BadReport(text)),
        }
    } else {
        Err(SpawnError::Failed {
            message: v["error"].as_str().unwrap_or("unknown error").to_string(),
            stage: v["stage"].as_str().unwrap_or("").to_string(),
            exit_code: v["exit_code"].as_i64(),
        })
    }
}

/// The exit record a shim left in `state_dir`, if the container exited.
pub fn read_exit(state_dir: &Path) -> Option<ExitRecord> {
    let text = std::fs::read(state_dir.join(state_dir::EXIT_JSON)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// A client for the shim whose state directory is given.
#[derive(Debug, Clone)]
pub struct Client {
    state_dir: PathBuf,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for the shim of `state_dir`.
    pub fn new(state_dir: &Path) -> Client {
        Client { state_dir: state_dir.to_path_buf(), timeout: Some(Duration::from_secs(30)) }
    }

    /// Read/write timeout for [`Client::request`] (default 30 s; `None`
    /// waits forever, as `wait` may need).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Client {
        self.timeout = timeout;
        self
    }

    /// The control socket's path.
    pub fn socket(&self) -> PathBuf {
        self.state_dir.join(state_dir::SHIM_SOCK)
    }

    /// Connects (through `/proc/self/fd` when the path is longer than
    /// `sun_path`).
    pub fn connect(&self) -> Result<UnixStream, ClientError> {
        let path = self.socket();
        let res = if path.as_os_str().len() <= 107 {
            UnixStream::connect(&path)
        } else {
            std::fs::File::open(&self.state_dir).and_then(|d| {
                UnixStream::connect(format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state_dir::SHIM_SOCK))
            })
        };
        res.map_err(|source| ClientError::Connect { path, source })
    }

    /// Sends one request and returns the response object as it came
    /// (`ok` true or false).
    pub fn request(&self, req: &Value) -> Result<Value, ClientError> {
        let (v, _) = self.open(req)?;
        Ok(v)
    }

    /// Like [`Client::request`], but `{"ok":false}` becomes an error.
    pub fn call(&self, req: &Value) -> Result<Value, ClientError> {
        let v = self.request(req)?;
        check(v)
    }

    /// Sends a request that turns the connection into a stream (`attach`,
    /// `exec` with `attach`): returns the response and the stream, which
    /// carries nothing but the process's stdio from here on.
    pub fn stream(&self, req: &Value) -> Result<(Value, UnixStream), ClientError> {
        let (v, s) = self.open(req)?;
        let v = check(v)?;
        s.set_read_timeout(None).map_err(|source| ClientError::Io { path: self.socket(), source })?;
        Ok((v, s))
    }

    fn open(&self, req: &Value) -> Result<(Value, UnixStream), ClientError> {
        let path = self.socket();
        let io = |source| ClientError::Io { path: path.clone(), source };
        let mut s = self.connect()?;
        s.set_read_timeout(self.timeout).map_err(io)?;
        s.set_write_timeout(self.timeout).map_err(io)?;
        let mut line = req.to_string();
        line.push('\n');
        s.write_all(line.as_bytes()).map_err(io)?;
        let resp = read_line(&mut s).map_err(io)?;
        if resp.is_empty() {
            return Err(ClientError::NoResponse { path });
        }
        let v: Value = serde_json::from_slice(&resp)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| ClientError::BadResponse { path: path.clone(), line: String::from_utf8_lossy(&resp).into_owned() })?;
        Ok((v, s))
    }
}

fn check(v: Value) -> Result<Value, ClientError> {
    if v["ok"] == Value::Bool(true) {
        Ok(v)
    } else {
        Err(ClientError::Shim {
            message: v["error"].as_str().unwrap_or("the shim reported an error without a message").to_string(),
            exit_code: v["exit_code"].as_i64(),
        })
    }
}

/// Reads up to and excluding the first `\n`, one byte at a time so that
/// nothing after it (stream data) is consumed.
pub fn read_line(s: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return Ok(line),
            Ok(_) if b[0] == b'\n' => return Ok(line),
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if line.len() > 16 * 1024 * 1024 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "response line too long"));
        }
    }
}
