//! The shim proper: start-up (runtime `create` and `start`) and the
//! single-threaded event loop over the container's stdio, the signalfd, the
//! control socket and its clients.
//!
//! Everything is non-blocking except the start-up runtime commands, which
//! run before anything else can happen. Runtime commands issued later
//! (`start`, `kill`, `exec`, `pause`, `resume`, `delete`) are child processes
//! whose completion arrives as SIGCHLD like every other exit, so the loop
//! never waits for them.

use crate::config::Config;
use crate::console::ConsoleSocket;
use crate::exit::ExitRecord;
use crate::log::Logger;
use crate::protocol::{self, Request};
use crate::runtime::{self, Failure, OciRuntime};
use crate::slab::{Key, Slab};
use crate::state_dir::{self, StateDir};
use berth_time::Timestamp;
use crate::{Stream, stdcopy_header, sys};

mod clients;
mod commands;
mod reaping;
mod requests;
mod startup;
mod stdio;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{IoSlice, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long output is still collected after a process exited while
/// something (a daemonized grandchild) keeps its pipes open.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Read size for the container's output and clients' input.
const CHUNK: usize = 16 * 1024;
/// A client that falls this far behind the output it is sent is dropped:
/// the container and its log must not wait for one slow reader.
const CLIENT_BACKLOG_MAX: usize = 1024 * 1024;
/// Stdin bytes buffered before attachers are no longer read from.
const STDIN_HIGH: usize = 64 * 1024;
/// Input a client may send while its request is in progress (exec stdin
/// sent before the exec started).
const PENDING_INPUT_MAX: usize = 256 * 1024;
/// Quiet time (ms) after which the loop gives back its buffers' memory.
const IDLE_TRIM_MS: u16 = 1000;
/// Concurrent control connections.
const MAX_CLIENTS: usize = 128;
/// Finished exec records kept for `exec_state`/`wait`.
const MAX_DONE_EXECS: usize = 64;
/// Exits of unknown children remembered (an exec's process can be reaped
/// before the runtime that started it is).
const MAX_ORPHANS: usize = 64;

const K_SIGNAL: u64 = 1;
const K_LISTENER: u64 = 2;
const K_PROC: u64 = 3;
const K_CLIENT: u64 = 4;

/// Channels of a process: its stdout (or the pty master), stderr, stdin.
const CH_OUT: u8 = 0;
const CH_ERR: u8 = 1;
const CH_IN: u8 = 2;

fn token(kind: u64, key: Key, ch: u8) -> u64 {
    (kind << 60) | (u64::from(key.generation) << 24) | ((key.slot as u64 & 0x3f_ffff) << 2) | u64::from(ch & 3)
}

fn untoken(t: u64) -> (u64, Key, u8) {
    let key = Key { slot: ((t >> 2) & 0x3f_ffff) as usize, generation: ((t >> 24) & 0xffff_ffff) as u32 };
    (t >> 60, key, (t & 3) as u8)
}

/// Why start-up failed, as reported to the spawner.
#[derive(Debug)]
pub struct StartFailure {
    /// `shim`, `create` or `start`.
    pub stage: &'static str,
    /// What went wrong (the runtime's own message for `create`/`start`).
    pub message: String,
    /// The runtime's exit code, when the runtime failed.
    pub exit_code: Option<i32>,
}

impl StartFailure {
    fn shim(message: String) -> StartFailure {
        StartFailure { stage: "shim", message, exit_code: None }
    }

    fn runtime(stage: &'static str, f: Failure) -> StartFailure {
        StartFailure { stage, message: f.message, exit_code: Some(f.exit_code) }
    }

    /// The report line's JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"ok": false, "error": self.message, "stage": self.stage});
        if let Some(c) = self.exit_code {
            v["exit_code"] = json!(c);
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// exec: the runtime's `exec` is running.
    Starting,
    /// init: created, not started.
    Created,
    Running,
    /// Exited; output still being drained.
    Exited,
    /// Exited, drained, attachers and waiters answered.
    Done,
}

#[derive(Debug)]
struct Proc {
    exec_id: Option<String>,
    pid: Option<i32>,
    terminal: bool,
    phase: Phase,
    /// stdout (or the pty master) and stderr, while open.
    out: [Option<OwnedFd>; 2],
    /// The stdin pipe's write end (not used with a terminal).
    stdin: Option<OwnedFd>,
    /// Whether input from attachers is accepted.
    stdin_open: bool,
    stdin_buf: Vec<u8>,
    stdin_watch: bool,
    close_stdin_after_flush: bool,
    exit: Option<ExitRecord>,
    drain_deadline: Option<Instant>,
    done_seq: u64,
}

impl Proc {
    fn status_name(&self, paused: bool) -> &'static str {
        match self.phase {
            Phase::Starting => "creating",
            Phase::Created => "created",
            Phase::Running if paused => "paused",
            Phase::Running => "running",
            Phase::Exited | Phase::Done => "stopped",
        }
    }

    fn input_fd(&self) -> Option<&OwnedFd> {
        if self.terminal { self.out[0].as_ref() } else { self.stdin.as_ref() }
    }
}

#[derive(Debug, Clone, Copy)]
struct Attach {
    proc: Key,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    close_stdin: bool,
}

#[derive(Debug, Clone, Copy)]
enum ClientPhase {
    Request,
    /// A runtime command runs on its behalf.
    Pending,
    Wait(Key),
    Attached(Attach),
    /// The last bytes are being written, then the connection closes.
    Closing,
}

#[derive(Debug)]
struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    phase: ClientPhase,
    read_eof: bool,
    interest: Option<EpollFlags>,
}

#[derive(Debug)]
enum Action {
    Start,
    Kill,
    KillAllAfterExit,
    Pause,
    Resume,
    Delete,
    Exec { proc: Key, attach: bool, pid_file: PathBuf, process_file: PathBuf, console: Option<ConsoleSocket> },
}

#[derive(Debug)]
struct Cmd {
    pid: i32,
    verb: &'static str,
    log: PathBuf,
    stderr: Option<File>,
    action: Action,
    client: Option<Key>,
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// `delete`: the state dir goes.
    Delete,
    /// `shutdown`: `exit.json` stays.
    Shutdown,
}

/// The running shim.
#[derive(Debug)]
pub struct Server {
    cfg: Config,
    dir: StateDir,
    rt: OciRuntime,
    ep: Epoll,
    sig: SignalFd,
    listener: UnixListener,
    logger: Option<Logger>,
    procs: Slab<Proc>,
    init: Key,
    clients: Slab<Client>,
    cmds: Vec<Cmd>,
    orphans: VecDeque<(i32, ExitRecord)>,
    kill_all_on_exit: bool,
    paused: bool,
    start_pending: bool,
    seq: u64,
    buf: Vec<u8>,
    /// Events were handled since memory was last given back.
    busy_since_trim: bool,
    /// A control request ran since the code pages were last dropped
    /// (output alone runs the few pages of the copy loop: no need to drop
    /// and fault them back in after every line a container logs).
    requests_since_trim: bool,
    /// The control socket is not watched (out of descriptors).
    listener_paused: bool,
    quit: Option<Quit>,
}

/// The signals the shim takes through its signalfd (all blocked).
fn handled_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        s.add(sig);
    }
    s
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// An anonymous file to capture a runtime command's stderr.
fn capture_file() -> std::io::Result<File> {
    let fd = nix::sys::memfd::memfd_create(c"berth-shim-runtime-stderr", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    Ok(File::from(fd))
}

fn read_capture(f: Option<&mut File>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(f) = f
        && f.rewind().is_ok()
    {
        let _ = f.take(64 * 1024).read_to_end(&mut out);
    }
    out
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(255)
}

/// What the bundle's config says that the shim must know.
struct BundleFacts {
    terminal: bool,
    /// No pid namespace of its own: when init exits, the rest of the
    /// container's processes are killed (containerd does the same).
    kill_all_on_exit: bool,
}

fn read_bundle(bundle: &Path) -> Result<BundleFacts, String> {
    // Only the two facts are deserialised: a `Value` of the whole spec (with
    // docker's seccomp profile, thousands of small strings) would leave the
    // heap of a long-lived shim fragmented for good.
    #[derive(serde::Deserialize)]
    struct Spec {
        #[serde(default)]
        process: Option<Process>,
        #[serde(default)]
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Process {
        #[serde(default)]
        terminal: bool,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        #[serde(default)]
        namespaces: Vec<Namespace>,
    }
    #[derive(serde::Deserialize)]
    struct Namespace {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        path: Option<serde::de::IgnoredAny>,
    }
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|e| format!("read bundle config {}: {e}", path.display()))?;
    let spec: Spec = serde_json::from_slice(&text).map_err(|e| format!("parse bundle config {}: {e}", path.display()))?;
    drop(text);
    let terminal = spec.process.is_some_and(|p| p.terminal);
    let own_pid_ns = spec.linux.is_some_and(|l| l.namespaces.iter().any(|ns| ns.kind == "pid" && ns.path.is_none()));
    Ok(BundleFacts { terminal, kill_all_on_exit: !own_pid_ns })
}

fn bind_control_socket(dir: &StateDir) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.file(state_dir::SHIM_SOCK);
    let listener = if path.as_os_str().len() <= 107 {
        UnixListener::bind(&path)?
    } else {
        // sun_path is 108 bytes: bind through the directory's descriptor.
        let d = File::open(dir.path())?;
        UnixListener::bind(format!("/proc/self/fd/{}/{}", d.as_raw_fd(), state_dir::SHIM_SOCK))?
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn read_pid_file(path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read pid file {}: {e}", path.display()))?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("pid file {} holds {:?}, not a pid", path.display(), text.trim()))
}

impl Server {
    /// The init's pid.
    pub fn init_pid(&self) -> i32 {
        self.procs.get(self.init).and_then(|p| p.pid).unwrap_or(0)
    }

    /// `created` or `running` (what start-up reports).
    pub fn status_name(&self) -> &'static str {
        self.procs.get(self.init).map_or("stopped", |p| p.status_name(self.paused))
    }

    /// The state directory (for cleanup after the loop).
    pub fn into_state_dir(self) -> StateDir {
        self.dir
    }

    /// Runs the event loop until `delete` or `shutdown`.
    pub fn run(&mut self) -> Quit {
        let mut events = vec![EpollEvent::empty(); 64];
        self.reap();
        loop {
            if let Some(q) = self.quit {
                return q;
            }
            let timeout = self.next_timeout();
            let n = match self.ep.wait(&mut events, timeout) {
                Ok(0) if self.busy_since_trim && timeout == EpollTimeout::from(IDLE_TRIM_MS) => {
                    self.release_idle_memory();
                    0
                }
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    self.dir.note(&format!("epoll_wait failed: {e}"));
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            self.busy_since_trim |= n > 0;
            for ev in &events[..n] {
                self.dispatch(ev.data(), ev.events());
                if self.quit.is_some() {
                    break;
                }
            }
            self.check_deadlines();
        }
    }

    /// After a second without events: give the buffers of the last burst
    /// back, so that an idle shim costs what an idle shim should.
    fn release_idle_memory(&mut self) {
        self.busy_since_trim = false;
        self.buf = Vec::new();
        for k in self.clients.keys() {
            if let Some(c) = self.clients.get_mut(k) {
                if c.out.is_empty() {
                    c.out = Vec::new();
                }
                if c.inbuf.is_empty() {
                    c.inbuf = Vec::new();
                }
            }
        }
        for k in self.procs.keys() {
            if let Some(p) = self.procs.get_mut(k)
                && p.stdin_buf.is_empty()
            {
                p.stdin_buf = Vec::new();
            }
        }
        // the code of a request (a start, an attach, an exec) is not needed
        // until the next one: its pages go back to the page cache's keeping
        // (first: reading smaps allocates, and the trim returns that too)
        if std::mem::take(&mut self.requests_since_trim) {
            sys::release_startup_pages();
        }
        sys::release_free_memory();
    }

    fn next_timeout(&self) -> EpollTimeout {
        let now = Instant::now();
        let next = self.procs.iter().filter_map(|(_, p)| p.drain_deadline.filter(|_| p.phase == Phase::Exited)).min();
        if self.busy_since_trim && next.is_none_or(|d| d > now + Duration::from_millis(u64::from(IDLE_TRIM_MS))) {
            return EpollTimeout::from(IDLE_TRIM_MS);
        }
        match next {
            None => EpollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis().min(60_000) as u16 + 1;
                EpollTimeout::from(ms)
            }
        }
    }

    fn check_deadlines(&mut self) {
        let now = Instant::now();
        let due: Vec<Key> = self
            .procs
            .iter()
            .filter(|(_, p)| p.phase == Phase::Exited && p.drain_deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k)
            .collect();
        for k in due {
            self.maybe_finish(k);
        }
    }

    fn dispatch(&mut self, data: u64, ev: EpollFlags) {
        let (kind, key, ch) = untoken(data);
        match kind {
            K_SIGNAL => self.on_signal(),
            K_LISTENER => self.on_accept(),
            K_PROC => {
                if self.procs.get(key).is_none() {
                    return;
                }
                if ch == CH_IN || (ch == CH_OUT && ev.contains(EpollFlags::EPOLLOUT)) {
                    self.flush_stdin(key);
                }
                if ch != CH_IN && ev.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
                    self.on_output(key, ch);
                }
            }
            K_CLIENT => {
                if ev.contains(EpollFlags::EPOLLOUT) {
                    self.flush_client(key);
                }
                let Some(c) = self.clients.get(key) else { return };
                if ev.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) && c.read_eof {
                    // Both directions are gone: nobody reads what we send.
                    self.drop_client(key);
                } else if ev.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR | EpollFlags::EPOLLRDHUP) {
                    self.on_client_readable(key);
                }
            }
            _ => {}
        }
    }
}

fn ok(mut v: Value) -> Value {
    v["ok"] = json!(true);
    v
}

fn exit_json(rec: &ExitRecord) -> Value {
    let mut v = json!({"ok": true, "exit_code": rec.exit_code, "exited_at": rec.exited_at});
    if let Some(s) = rec.signal {
        v["signal"] = json!(s);
    }
    v
}

fn failure_json(f: &Failure) -> Value {
    json!({"ok": false, "error": f.message, "exit_code": f.exit_code})
}

fn proc_json(p: &Proc, paused: bool) -> Value {
    let mut v = json!({
        "status": p.status_name(paused),
        "pid": p.pid,
        "exit_code": p.exit.as_ref().map(|e| e.exit_code),
        "exited_at": p.exit.as_ref().map(|e| e.exited_at.clone()),
    });
    if let Some(s) = p.exit.as_ref().and_then(|e| e.signal) {
        v["signal"] = json!(s);
    }
    if let Some(id) = &p.exec_id {
        v["exec_id"] = json!(id);
        v["terminal"] = json!(p.terminal);
    }
    v
}
