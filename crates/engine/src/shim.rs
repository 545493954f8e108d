//! Talking to berth-shim, the per-container monitor (crates/shim).
//!
//! The shim is spawned with `--no-start` (it daemonizes itself): it runs
//! the runtime's `create`, then listens on `<state>/shim.sock`; the engine
//! sends `start` (after an attach, if any), and from then on the shim holds the container's stdio, writes
//! the json-file log, reaps the container and records `exit.json` durably.
//! It outlives berthd. The control protocol is one JSON request per line
//! (`{"op":"..."}`) answered by one JSON line; `attach` and `exec` with
//! `attach` turn the connection into the process's stream.
//!
//! Everything shim-specific (command line, file names, protocol) is in this
//! module.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::engine::Inner;
use crate::error::{Error, Result};

pub(crate) const SHIM_SOCK: &str = "shim.sock";
pub(crate) const SHIM_PID: &str = "shim.pid";
pub(crate) const EXIT_JSON: &str = "exit.json";
pub(crate) const INIT_PID: &str = "init.pid";

/// How a process ended (the shim's `exit.json` and `wait` answer).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Exit {
    pub exit_code: i32,
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub exited_at: Option<String>,
}

impl Exit {
    pub(crate) fn at_nanos(&self) -> i64 {
        self.exited_at.as_deref().and_then(crate::time::parse_rfc3339).unwrap_or_else(crate::time::now_nanos)
    }
}

/// A shim we can talk to.
#[derive(Debug)]
pub(crate) struct Shim {
    pub id: String,
    pub dir: PathBuf,
}

/// What the runtime needs to know to spawn a shim.
#[derive(Debug, Clone)]
pub(crate) struct SpawnArgs<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub runtime: &'a crate::runtime::Runtime,
    pub log_path: Option<&'a Path>,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub terminal: bool,
    pub stdin: bool,
}

fn shim_err(id: &str, detail: impl Into<String>) -> Error {
    Error::Shim { id: id.to_owned(), detail: detail.into() }
}

impl Shim {
    pub(crate) fn at(id: &str, dir: PathBuf) -> Shim {
        Shim { id: id.to_owned(), dir }
    }

    pub(crate) fn sock(&self) -> PathBuf {
        self.dir.join(SHIM_SOCK)
    }

    /// Whether the shim process is alive (it holds an flock on `shim.pid`
    /// for its whole life).
    pub(crate) fn alive(&self) -> bool {
        let Ok(f) = std::fs::File::open(self.dir.join(SHIM_PID)) else { return false };
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockSharedNonblock) {
            Ok(_unlocked_on_drop) => false,
            Err((_, e)) => e == nix::Error::EWOULDBLOCK,
        }
    }

    /// The recorded exit, if the container has exited.
    pub(crate) fn exit_record(&self) -> Option<Exit> {
        let text = std::fs::read_to_string(self.dir.join(EXIT_JSON)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The container's init pid (written by the runtime).
    pub(crate) fn init_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join(INIT_PID)).ok()?.trim().parse().ok()
    }

    async fn connect(&self) -> Result<UnixStream> {
        // the socket path can exceed sun_path's 108 bytes: connect through the dir fd
        let dir = std::fs::File::open(&self.dir).map_err(|e| shim_err(&self.id, format!("opening {}: {e}", self.dir.display())))?;
        let path = format!("/proc/self/fd/{}/{SHIM_SOCK}", std::os::fd::AsRawFd::as_raw_fd(&dir));
        let s = UnixStream::connect(&path).await.map_err(|e| shim_err(&self.id, format!("connecting to {}: {e}", self.sock().display())))?;
        drop(dir);
        Ok(s)
    }

    /// One request, one answer. An answer with `error` is an error.
    pub(crate) async fn request(&self, req: Value) -> Result<Value> {
        let s = self.connect().await?;
        let (r, mut w) = s.into_split();
        let mut line = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))?;
        line.push(b'\n');
        w.write_all(&line).await.map_err(|e| shim_err(&self.id, format!("sending {}: {e}", req["op"])))?;
        let mut r = BufReader::new(r);
        let mut answer = String::new();
        r.read_line(&mut answer).await.map_err(|e| shim_err(&self.id, format!("reading the answer to {}: {e}", req["op"])))?;
        if answer.is_empty() {
            return Err(shim_err(&self.id, format!("closed the connection without answering {}", req["op"])));
        }
        let v: Value = serde_json::from_str(answer.trim()).map_err(|e| shim_err(&self.id, format!("malformed answer {answer:?}: {e}")))?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            let e = v.get("error").and_then(Value::as_str).unwrap_or("failed");
            return Err(Error::Runtime { runtime: "shim".into(), verb: req["op"].as_str().unwrap_or("?").into(), id: self.id.clone(), detail: e.to_owned() });
        }
        Ok(v)
    }

    /// Opens a stream request (`attach`, `exec` with `attach`): after the
    /// one-line answer, the connection carries the process's stdio.
    pub(crate) async fn stream(&self, req: Value) -> Result<(Value, UnixStream)> {
        let mut s = self.connect().await?;
        let mut line = serde_json::to_vec(&req).map_err(|e| Error::Internal(e.to_string()))?;
        line.push(b'\n');
        s.write_all(&line).await.map_err(|e| shim_err(&self.id, format!("sending {}: {e}", req["op"])))?;
        // read the answer byte by byte so that no stream byte is consumed
        let mut answer = Vec::new();
        let mut b = [0u8; 1];
        loop {
            use tokio::io::AsyncReadExt;
            let n = s.read(&mut b).await.map_err(|e| shim_err(&self.id, format!("reading the answer to {}: {e}", req["op"])))?;
            if n == 0 {
                return Err(shim_err(&self.id, format!("closed the connection without answering {}", req["op"])));
            }
            if b[0] == b'\n' {
                break;
            }
            answer.push(b[0]);
            if answer.len() > 1 << 20 {
                return Err(shim_err(&self.id, "answer too long"));
            }
        }
        let v: Value = serde_json::from_slice(&answer).map_err(|e| shim_err(&self.id, format!("malformed answer: {e}")))?;
        if v.get("ok").and_then(Value::as_bool) != Some(true) {
            let e = v.get("error").and_then(Value::as_str).unwrap_or("failed");
            return Err(Error::Runtime { runtime: "shim".into(), verb: req["op"].as_str().unwrap_or("?").into(), id: self.id.clone(), detail: e.to_owned() });
        }
        Ok((v, s))
    }

    pub(crate) async fn start(&self) -> Result<Value> {
        self.request(json!({"op": "start"})).await
    }

    pub(crate) async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.request(json!({"op": "kill", "signal": signal, "all": all})).await.map(drop)
    }

    pub(crate) async fn pause(&self, pause: bool) -> Result<()> {
        self.request(json!({"op": if pause { "pause" } else { "resume" }})).await.map(drop)
    }

    pub(crate) async fn resize(&self, exec_id: Option<&str>, height: u16, width: u16) -> Result<()> {
        self.request(json!({"op": "resize", "width": width, "height": height, "exec_id": exec_id})).await.map(drop)
    }

    /// Blocks until the container (or exec) has exited and its output is
    /// drained; the exit as the shim reports it.
    pub(crate) async fn wait(&self, exec_id: Option<&str>) -> Result<Exit> {
        let v = self.request(json!({"op": "wait", "exec_id": exec_id})).await?;
        let e = v.get("exit").cloned().unwrap_or(v);
        serde_json::from_value(e).map_err(|e| shim_err(&self.id, format!("malformed wait answer: {e}")))
    }

    /// `runtime delete`, then the shim exits and removes its state dir.
    pub(crate) async fn delete(&self, force: bool) -> Result<()> {
        self.request(json!({"op": "delete", "force": force})).await.map(drop)
    }
}

/// Spawns a shim for a bundle with `--no-start`; returns once the
/// container is created (not started). The shim prints one JSON line and
/// its first process exits while the daemonized shim runs on (crate doc of
/// berth-shim); a runtime `create` failure comes back as its error.
pub(crate) async fn spawn(inner: &Inner, a: SpawnArgs<'_>) -> Result<Arc<Shim>> {
    let bin = inner.config.shim_binary().ok_or_else(|| Error::FailedPrecondition("the berth-shim binary was not found next to berthd or in PATH".into()))?;
    let dir = inner.shim_dir(a.id);
    if dir.exists() {
        // a previous run's files (its shim is gone: the caller checked)
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(p) = dir.parent() {
        std::fs::create_dir_all(p).map_err(Error::io(p))?;
    }
    let mut c = tokio::process::Command::new(&bin);
    c.arg("--id").arg(a.id).arg("--bundle").arg(a.bundle).arg("--state-dir").arg(&dir);
    c.arg("--runtime").arg(&a.runtime.handler.path).arg("--runtime-root").arg(&a.runtime.root);
    for x in &a.runtime.handler.args {
        c.arg("--runtime-arg").arg(x);
    }
    match a.log_path {
        Some(p) => {
            c.arg("--log-path").arg(p).arg("--log-driver").arg("json-file");
            if a.log_max_size > 0 {
                c.arg("--log-max-size").arg(a.log_max_size.to_string()).arg("--log-max-files").arg(a.log_max_files.max(1).to_string());
            }
        }
        None => {
            c.arg("--log-driver").arg("none");
        }
    }
    if a.terminal {
        c.arg("--terminal");
    }
    if a.stdin {
        c.arg("--stdin");
    }
    c.arg("--no-start");
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = c.output().await.map_err(|e| shim_err(a.id, format!("spawning {}: {e}", bin.display())))?;
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(_) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let msg = err.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no answer").to_owned();
            return Err(shim_err(a.id, format!("exited with {} without a status line: {msg}", out.status)));
        }
    };
    if v.get("ok").and_then(Value::as_bool) != Some(true) {
        let msg = v.get("error").and_then(Value::as_str).unwrap_or("failed").to_owned();
        let stage = v.get("stage").and_then(Value::as_str).unwrap_or("shim");
        return Err(if stage == "shim" {
            shim_err(a.id, msg)
        } else {
            Error::Runtime { runtime: a.runtime.name.clone(), verb: stage.to_owned(), id: a.id.to_owned(), detail: msg }
        });
    }
    Ok(Arc::new(Shim::at(a.id, dir)))
}

/// Closes whatever the engine holds open towards shims at shutdown (the
/// monitors end with the runtime; nothing to do today).
pub(crate) fn close_all(_inner: &Inner) {}
