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
use crate::time::Timestamp;
use crate::{Stream, stdcopy_header, sys};
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
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|e| format!("read bundle config {}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| format!("parse bundle config {}: {e}", path.display()))?;
    let terminal = v.pointer("/process/terminal").and_then(Value::as_bool).unwrap_or(false);
    let own_pid_ns = v
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|nss| nss.iter().any(|ns| ns.get("type").and_then(Value::as_str) == Some("pid") && ns.get("path").is_none()));
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
    /// Start-up: runs `create` (and `start` unless `--no-start`). On failure
    /// nothing is left: no runtime container (after a failed start it is
    /// deleted), no state files.
    pub fn start(cfg: Config, mut dir: StateDir) -> Result<Server, (StartFailure, StateDir)> {
        let pid = std::process::id() as i32;
        if let Err(e) = dir.write_shim_pid(pid) {
            return Err((StartFailure::shim(format!("write {}: {e}", dir.file(state_dir::SHIM_PID).display())), dir));
        }
        let rt = OciRuntime::new(cfg.runtime.clone(), cfg.runtime_root.clone(), cfg.runtime_args.clone());
        match Server::setup(cfg, &mut dir, rt) {
            Ok(parts) => Ok(parts.into_server(dir)),
            Err(f) => Err((f, dir)),
        }
    }

    fn setup(cfg: Config, dir: &mut StateDir, rt: OciRuntime) -> Result<Parts, StartFailure> {
        let fail = StartFailure::shim;
        sys::set_child_subreaper().map_err(|e| fail(format!("become child subreaper: {e}")))?;
        let mask = handled_signals();
        mask.thread_block().map_err(|e| fail(format!("block signals: {e}")))?;
        let sig = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| fail(format!("create signalfd: {e}")))?;

        let facts = read_bundle(&cfg.bundle).map_err(fail)?;
        if facts.terminal != cfg.terminal {
            return Err(fail(format!(
                "bundle {} has process.terminal {} but --terminal was {}",
                cfg.bundle.display(),
                facts.terminal,
                if cfg.terminal { "given" } else { "not given" }
            )));
        }
        let logger = match &cfg.log_path {
            Some(p) => Some(
                Logger::open(cfg.log_driver, p, cfg.log_max_size, cfg.log_max_files)
                    .map_err(|e| fail(crate::error_chain(&e)))?,
            ),
            None => None,
        };
        let listener = bind_control_socket(dir)
            .map_err(|e| fail(format!("bind control socket {}: {e}", dir.file(state_dir::SHIM_SOCK).display())))?;

        // The container's stdio.
        let io_err = |what: &str, e: std::io::Error| fail(format!("{what}: {e}"));
        let null = || sys::dev_null().map_err(|e| io_err("open /dev/null", e));
        let mut seq = 0u64;
        let log = dir.file("runtime-create.log");
        let mut cmd = rt.command(&log, "create");
        cmd.arg("--bundle").arg(&cfg.bundle).arg("--pid-file").arg(dir.file(state_dir::INIT_PID));
        let mut capture = None;
        let mut console = None;
        let (mut out, mut err_r, mut stdin_w) = (None, None, None);
        if cfg.terminal {
            let c = ConsoleSocket::bind(dir.path(), seq).map_err(|e| io_err("bind console socket", e))?;
            seq += 1;
            cmd.arg("--console-socket").arg(c.path());
            let cap = capture_file().map_err(|e| io_err("create stderr capture", e))?;
            cmd.stdin(Stdio::from(null()?))
                .stdout(Stdio::from(null()?))
                .stderr(Stdio::from(cap.try_clone().map_err(|e| io_err("dup capture", e))?));
            capture = Some(cap);
            console = Some(c);
        } else {
            let (o_r, o_w) = pipe().map_err(|e| io_err("create stdout pipe", e))?;
            let (e_r, e_w) = pipe().map_err(|e| io_err("create stderr pipe", e))?;
            let stdin = if cfg.stdin {
                let (i_r, i_w) = pipe().map_err(|e| io_err("create stdin pipe", e))?;
                stdin_w = Some(i_w);
                i_r
            } else {
                null()?
            };
            cmd.stdin(Stdio::from(stdin)).stdout(Stdio::from(o_w)).stderr(Stdio::from(e_w));
            out = Some(o_r);
            err_r = Some(e_r);
        }
        cmd.arg(&cfg.id);
        let status = cmd.status();
        // The container's ends of the pipes now live in the container only.
        drop(cmd);
        let status = status.map_err(|e| fail(format!("run {} create: {e}", rt.binary().display())))?;
        if !status.success() {
            let mut stderr = read_capture(capture.as_mut());
            if let Some(e) = &err_r {
                // Without a terminal the runtime's stderr is the container's.
                let _ = sys::set_nonblocking(e.as_fd(), true);
                let mut buf = vec![0u8; 8192];
                if let Ok(n) = nix::unistd::read(e, &mut buf) {
                    stderr.extend_from_slice(&buf[..n]);
                }
            }
            let f = runtime::failure("create", &log, &stderr, exit_code_of(status));
            dir.remove("runtime-create.log");
            return Err(StartFailure::runtime("create", f));
        }
        dir.remove("runtime-create.log");

        let mut parts = Parts {
            cfg,
            rt,
            sig,
            listener,
            logger,
            kill_all_on_exit: facts.kill_all_on_exit,
            seq,
            init_pid: 0,
            out,
            err: err_r,
            stdin: stdin_w,
            started: false,
        };
        let init_pid = read_pid_file(&dir.file(state_dir::INIT_PID));
        let master = console.as_ref().map(|c| c.receive());
        drop(console);
        let setup_rest = |parts: &mut Parts| -> Result<(), StartFailure> {
            parts.init_pid = init_pid.map_err(StartFailure::shim)?;
            if let Some(m) = master {
                parts.out = Some(m.map_err(|e| StartFailure::shim(format!("receive the console from the runtime: {e}")))?);
            }
            Ok(())
        };
        if let Err(f) = setup_rest(&mut parts) {
            parts.delete_container(dir);
            return Err(f);
        }
        if !parts.cfg.no_start {
            if let Err(f) = parts.run_start(dir) {
                parts.delete_container(dir);
                return Err(StartFailure::runtime("start", f));
            }
            parts.started = true;
        }
        Ok(parts)
    }

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

    // ---- signals and children -------------------------------------------

    fn on_signal(&mut self) {
        let mut chld = false;
        loop {
            match self.sig.read_signal() {
                Ok(Some(info)) => {
                    if info.ssi_signo == Signal::SIGCHLD as u32 {
                        chld = true;
                    } else {
                        self.dir.note(&format!("ignoring signal {} (the shim exits on delete or shutdown)", info.ssi_signo));
                    }
                }
                Ok(None) => break,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        if chld {
            self.reap();
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(status) => {
                    let Some(pid) = status.pid() else { continue };
                    if let Some(rec) = ExitRecord::from_wait(status, Timestamp::now()) {
                        self.on_reaped(pid.as_raw(), rec);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    self.dir.note(&format!("waitpid failed: {e}"));
                    break;
                }
            }
        }
    }

    fn on_reaped(&mut self, pid: i32, rec: ExitRecord) {
        if let Some(i) = self.cmds.iter().position(|c| c.pid == pid) {
            let cmd = self.cmds.swap_remove(i);
            self.complete(cmd, rec.exit_code);
            return;
        }
        let proc = self.procs.iter().find(|(_, p)| p.pid == Some(pid) && p.exit.is_none()).map(|(k, _)| k);
        match proc {
            Some(k) => self.proc_exited(k, rec),
            None => {
                // An exec whose pid is not known yet, or an orphan from a
                // container without its own pid namespace.
                self.orphans.push_back((pid, rec));
                if self.orphans.len() > MAX_ORPHANS {
                    self.orphans.pop_front();
                }
            }
        }
    }

    fn proc_exited(&mut self, key: Key, rec: ExitRecord) {
        let is_init = key == self.init;
        if is_init {
            // Durable before anyone hears of it.
            if let Err(e) = self.dir.write_durable(state_dir::EXIT_JSON, rec.to_json().as_bytes()) {
                self.dir.note(&format!("write {}: {e}", self.dir.file(state_dir::EXIT_JSON).display()));
            }
            self.paused = false;
        }
        let Some(p) = self.procs.get_mut(key) else { return };
        p.exit = Some(rec);
        p.phase = Phase::Exited;
        p.drain_deadline = Some(Instant::now() + DRAIN_GRACE);
        if is_init && self.kill_all_on_exit {
            let _ = self.spawn_cmd("kill", &["--all", &self.cfg.id.clone(), "KILL"], Action::KillAllAfterExit, None);
        }
        self.maybe_finish(key);
    }

    /// Once a process has exited and its output is drained (or the grace
    /// period is over): close its stdio, end its attach streams, answer its
    /// waiters.
    fn maybe_finish(&mut self, key: Key) {
        let Some(p) = self.procs.get(key) else { return };
        if p.phase != Phase::Exited {
            return;
        }
        let open = p.out.iter().any(Option::is_some);
        if open && p.drain_deadline.is_some_and(|d| d > Instant::now()) {
            return;
        }
        for ch in [CH_OUT, CH_ERR] {
            self.close_output(key, ch);
        }
        self.seq += 1;
        let seq = self.seq;
        let Some(p) = self.procs.get_mut(key) else { return };
        if let Some(fd) = p.stdin.take() {
            let _ = self.ep.delete(&fd);
        }
        p.stdin_buf = Vec::new();
        p.stdin_open = false;
        p.phase = Phase::Done;
        p.done_seq = seq;
        let rec = p.exit.clone();
        for ck in self.clients.keys() {
            match self.clients.get(ck).map(|c| c.phase) {
                Some(ClientPhase::Attached(a)) if a.proc == key => self.close_client_after_flush(ck),
                Some(ClientPhase::Wait(k)) if k == key => {
                    let v = match &rec {
                        Some(r) => exit_json(r),
                        None => json!({"ok": false, "error": "the process ended without an exit status"}),
                    };
                    self.reply(ck, v);
                }
                _ => {}
            }
        }
        self.trim_execs();
    }

    fn trim_execs(&mut self) {
        let mut done: Vec<(u64, Key)> = self
            .procs
            .iter()
            .filter(|(k, p)| *k != self.init && p.phase == Phase::Done)
            .map(|(k, p)| (p.done_seq, k))
            .collect();
        if done.len() <= MAX_DONE_EXECS {
            return;
        }
        done.sort_by_key(|(seq, _)| *seq);
        for (_, k) in &done[..done.len() - MAX_DONE_EXECS] {
            self.procs.remove(*k);
        }
    }

    // ---- the process's stdio --------------------------------------------

    fn on_output(&mut self, key: Key, ch: u8) {
        let Some(p) = self.procs.get(key) else { return };
        let Some(fd) = p.out[usize::from(ch)].as_ref() else { return };
        let stream = if ch == CH_ERR { Stream::Stderr } else { Stream::Stdout };
        let terminal = p.terminal;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(CHUNK, 0);
        let res = nix::unistd::read(fd, &mut buf);
        match res {
            Ok(0) | Err(Errno::EIO) => {
                self.buf = buf;
                self.close_output(key, ch);
                self.maybe_finish(key);
            }
            Ok(n) => {
                let data = &buf[..n];
                if key == self.init
                    && let Some(l) = &mut self.logger
                {
                    l.write(stream, data);
                }
                let header = stdcopy_header(stream, n as u32);
                for ck in self.clients.keys() {
                    let wants = match self.clients.get(ck).map(|c| c.phase) {
                        Some(ClientPhase::Attached(a)) if a.proc == key => match stream {
                            Stream::Stdout => a.stdout,
                            Stream::Stderr => a.stderr,
                        },
                        _ => false,
                    };
                    if wants {
                        if terminal {
                            self.send(ck, &[data]);
                        } else {
                            self.send(ck, &[&header, data]);
                        }
                    }
                }
                self.buf = buf;
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => self.buf = buf,
            Err(e) => {
                self.buf = buf;
                self.dir.note(&format!("read {}: {e}", stream.name()));
                self.close_output(key, ch);
                self.maybe_finish(key);
            }
        }
        if self.buf.capacity() > CHUNK {
            self.buf = Vec::new();
        }
    }

    fn close_output(&mut self, key: Key, ch: u8) {
        let is_init = key == self.init;
        let Some(p) = self.procs.get_mut(key) else { return };
        let Some(fd) = p.out[usize::from(ch)].take() else { return };
        let _ = self.ep.delete(&fd);
        if ch == CH_OUT && p.terminal {
            // The pty master was also the input.
            p.stdin_buf = Vec::new();
            p.stdin_open = false;
        }
        drop(fd);
        if is_init && let Some(l) = &mut self.logger {
            l.finish(if ch == CH_ERR { Stream::Stderr } else { Stream::Stdout });
        }
    }

    /// Queues input for the process's stdin and writes what it can.
    fn write_stdin(&mut self, key: Key, data: &[u8]) {
        let Some(p) = self.procs.get_mut(key) else { return };
        if !p.stdin_open || p.close_stdin_after_flush {
            return;
        }
        p.stdin_buf.extend_from_slice(data);
        self.flush_stdin(key);
    }

    fn flush_stdin(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        let mut broken = false;
        let fd = p.input_fd().map(|f| f.as_raw_fd());
        if let Some(fd) = fd {
            // SAFETY: `fd` belongs to `p` (its stdin pipe or pty master),
            // which outlives this loop; nothing closes it meanwhile.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            while !p.stdin_buf.is_empty() {
                match nix::unistd::write(fd, &p.stdin_buf) {
                    Ok(n) => {
                        p.stdin_buf.drain(..n);
                    }
                    Err(Errno::EINTR) => continue,
                    Err(Errno::EAGAIN) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
        } else {
            p.stdin_buf.clear();
        }
        if broken {
            // The container closed its stdin: nothing will ever be read.
            p.stdin_buf = Vec::new();
            p.stdin_open = false;
            if !p.terminal
                && let Some(fd) = p.stdin.take()
            {
                let _ = self.ep.delete(&fd);
            }
        }
        let close_now = p.close_stdin_after_flush && p.stdin_buf.is_empty();
        if close_now {
            self.close_stdin_now(key);
        }
        self.update_stdin_watch(key);
        // Attachers paused by a full buffer may be read from again.
        for ck in self.clients.keys() {
            if matches!(self.clients.get(ck).map(|c| c.phase), Some(ClientPhase::Attached(a)) if a.proc == key && a.stdin) {
                self.update_client(ck);
            }
        }
    }

    fn update_stdin_watch(&mut self, key: Key) {
        let tok = token(K_PROC, key, CH_IN);
        let Some(p) = self.procs.get_mut(key) else { return };
        let want = !p.stdin_buf.is_empty();
        if p.terminal {
            if want != p.stdin_watch
                && let Some(fd) = p.out[0].as_ref()
            {
                let mut flags = EpollFlags::EPOLLIN;
                if want {
                    flags |= EpollFlags::EPOLLOUT;
                }
                let mut ev = EpollEvent::new(flags, token(K_PROC, key, CH_OUT));
                let _ = self.ep.modify(fd, &mut ev);
                p.stdin_watch = want;
            }
        } else if want != p.stdin_watch {
            if let Some(fd) = p.stdin.as_ref() {
                if want {
                    let _ = self.ep.add(fd, EpollEvent::new(EpollFlags::EPOLLOUT, tok));
                } else {
                    let _ = self.ep.delete(fd);
                }
            }
            p.stdin_watch = want;
        }
    }

    /// Closes the process's stdin once what is buffered is written (with a
    /// terminal: stops forwarding input, as containerd's CloseIO does).
    fn close_stdin(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        if p.stdin_buf.is_empty() {
            self.close_stdin_now(key);
        } else {
            p.close_stdin_after_flush = true;
        }
    }

    fn close_stdin_now(&mut self, key: Key) {
        let Some(p) = self.procs.get_mut(key) else { return };
        p.stdin_open = false;
        p.close_stdin_after_flush = false;
        p.stdin_buf = Vec::new();
        if let Some(fd) = p.stdin.take() {
            if p.stdin_watch {
                let _ = self.ep.delete(&fd);
            }
            p.stdin_watch = false;
        }
    }

    // ---- clients ---------------------------------------------------------

    fn on_accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        let _ = sock.set_nonblocking(true);
                        let _ = (&sock).write_all(b"{\"ok\":false,\"error\":\"too many connections to the shim\"}\n");
                        continue;
                    }
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let key = self.clients.insert(Client {
                        sock,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        phase: ClientPhase::Request,
                        read_eof: false,
                        interest: None,
                    });
                    self.update_client(key);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: leave the connection queued.
                    self.dir.note(&format!("accept on the control socket: {e}"));
                    break;
                }
            }
        }
    }

    fn drop_client(&mut self, key: Key) {
        if let Some(c) = self.clients.remove(key) {
            if c.interest.is_some() {
                let _ = self.ep.delete(&c.sock);
            }
            if let ClientPhase::Attached(a) = c.phase
                && a.stdin
                && !c.read_eof
            {
                // A stdin attacher vanished without finishing its input.
                self.attacher_input_ended(key, a);
            }
        }
    }

    /// Recomputes what the client waits for and tells epoll.
    fn update_client(&mut self, key: Key) {
        let Some(c) = self.clients.get(key) else { return };
        let want_read = !c.read_eof
            && match c.phase {
                ClientPhase::Request | ClientPhase::Wait(_) => true,
                ClientPhase::Pending => c.inbuf.len() < PENDING_INPUT_MAX,
                ClientPhase::Attached(a) => {
                    !a.stdin || self.procs.get(a.proc).is_none_or(|p| p.stdin_buf.len() < STDIN_HIGH)
                }
                ClientPhase::Closing => false,
            };
        let mut flags = EpollFlags::empty();
        if want_read {
            flags |= EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP;
        }
        if !c.out.is_empty() {
            flags |= EpollFlags::EPOLLOUT;
        }
        if c.interest == Some(flags) {
            return;
        }
        let tok = token(K_CLIENT, key, 0);
        let res = match c.interest {
            None => self.ep.add(&c.sock, EpollEvent::new(flags, tok)),
            Some(_) => self.ep.modify(&c.sock, &mut EpollEvent::new(flags, tok)),
        };
        match res {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.interest = Some(flags);
                }
            }
            Err(_) => self.drop_client(key),
        }
    }

    /// Sends bytes to a client, buffering what the socket does not take.
    fn send(&mut self, key: Key, parts: &[&[u8]]) {
        let Some(c) = self.clients.get_mut(key) else { return };
        let mut skip = 0usize;
        if c.out.is_empty() {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            match (&c.sock).write_vectored(&slices) {
                Ok(n) => skip = n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.drop_client(key);
                    return;
                }
            }
        }
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            c.out.extend_from_slice(&p[skip..]);
            skip = 0;
        }
        if c.out.len() > CLIENT_BACKLOG_MAX {
            self.dir.note("dropped an attach client that did not keep up with the output");
            self.drop_client(key);
            return;
        }
        let finished = c.out.is_empty() && matches!(c.phase, ClientPhase::Closing);
        if finished {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    fn flush_client(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        while !c.out.is_empty() {
            match (&c.sock).write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.drop_client(key);
                    return;
                }
            }
        }
        if c.out.is_empty() && c.out.capacity() > CHUNK {
            c.out = Vec::new();
        }
        if c.out.is_empty() && matches!(c.phase, ClientPhase::Closing) {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    /// Sends one response line and closes the connection after it.
    fn reply(&mut self, key: Key, v: Value) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Closing;
        let mut line = v.to_string();
        line.push('\n');
        self.send(key, &[line.as_bytes()]);
    }

    fn reply_err(&mut self, key: Key, msg: &str) {
        self.reply(key, json!({"ok": false, "error": msg}));
    }

    fn close_client_after_flush(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Closing;
        if c.out.is_empty() {
            self.drop_client(key);
        } else {
            self.update_client(key);
        }
    }

    fn on_client_readable(&mut self, key: Key) {
        let Some(c) = self.clients.get(key) else { return };
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(CHUNK, 0);
        let res = (&c.sock).read(&mut buf);
        match res {
            Ok(0) => {
                self.buf = buf;
                self.client_eof(key);
            }
            Ok(n) => {
                self.client_data(key, &buf[..n]);
                self.buf = buf;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {
                self.buf = buf;
            }
            Err(_) => {
                self.buf = buf;
                self.drop_client(key);
            }
        }
    }

    fn client_data(&mut self, key: Key, data: &[u8]) {
        let Some(c) = self.clients.get_mut(key) else { return };
        match c.phase {
            ClientPhase::Request => {
                c.inbuf.extend_from_slice(data);
                if let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') {
                    let rest = c.inbuf.split_off(pos + 1);
                    let mut line = std::mem::replace(&mut c.inbuf, rest);
                    line.pop();
                    self.handle_request(key, &line);
                } else if c.inbuf.len() > protocol::MAX_REQUEST {
                    c.inbuf = Vec::new();
                    self.reply_err(key, &format!("request longer than {} bytes", protocol::MAX_REQUEST));
                }
            }
            ClientPhase::Pending => {
                c.inbuf.extend_from_slice(data);
                self.update_client(key);
            }
            ClientPhase::Attached(a) => {
                if a.stdin {
                    self.write_stdin(a.proc, data);
                }
            }
            ClientPhase::Wait(_) | ClientPhase::Closing => {}
        }
    }

    fn client_eof(&mut self, key: Key) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.read_eof = true;
        match c.phase {
            ClientPhase::Request => {
                if c.inbuf.iter().all(u8::is_ascii_whitespace) {
                    self.drop_client(key);
                } else {
                    // A request without its newline: take it as the line.
                    let line = std::mem::take(&mut c.inbuf);
                    self.handle_request(key, &line);
                }
            }
            ClientPhase::Wait(_) => self.drop_client(key),
            ClientPhase::Attached(a) => {
                if a.stdin {
                    self.attacher_input_ended(key, a);
                }
                self.update_client(key);
            }
            ClientPhase::Pending | ClientPhase::Closing => self.update_client(key),
        }
    }

    /// A stdin attacher stopped sending: docker's StdinOnce closes the
    /// process's stdin when it was the only one sending.
    fn attacher_input_ended(&mut self, key: Key, a: Attach) {
        if !a.close_stdin {
            return;
        }
        let others = self.clients.iter().any(|(k, c)| {
            k != key && !c.read_eof && matches!(c.phase, ClientPhase::Attached(o) if o.proc == a.proc && o.stdin)
        });
        if !others {
            self.close_stdin(a.proc);
        }
    }

    // ---- requests --------------------------------------------------------

    fn find_proc(&self, exec_id: Option<&str>) -> Result<Key, String> {
        match exec_id {
            None => Ok(self.init),
            Some(id) => self
                .procs
                .iter()
                .find(|(_, p)| p.exec_id.as_deref() == Some(id))
                .map(|(k, _)| k)
                .ok_or_else(|| format!("no such exec: {id}")),
        }
    }

    fn describe(&self, key: Key) -> String {
        match self.procs.get(key).and_then(|p| p.exec_id.as_deref()) {
            Some(id) => format!("exec {id}"),
            None => format!("container {}", self.cfg.id),
        }
    }

    fn handle_request(&mut self, key: Key, line: &[u8]) {
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return self.reply_err(key, &format!("malformed request: {e}")),
        };
        match req {
            Request::State {} => {
                let v = self.state_json();
                self.reply(key, v);
            }
            Request::Start {} => self.req_start(key),
            Request::Kill { signal, all, exec_id } => {
                let Some(sig) = signal.number() else {
                    return self.reply_err(key, &format!("invalid signal {signal:?}"));
                };
                self.req_kill(key, sig, all, exec_id.as_deref());
            }
            Request::Wait { exec_id } => match self.find_proc(exec_id.as_deref()) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    let done = self.procs.get(pk).filter(|p| p.phase == Phase::Done).and_then(|p| p.exit.clone());
                    match done {
                        Some(rec) => self.reply(key, exit_json(&rec)),
                        None => {
                            if let Some(c) = self.clients.get_mut(key) {
                                c.phase = ClientPhase::Wait(pk);
                            }
                            self.update_client(key);
                        }
                    }
                }
            },
            Request::Resize { width, height, exec_id } => {
                let res = self.find_proc(exec_id.as_deref()).and_then(|pk| {
                    let p = self.procs.get(pk).ok_or("gone")?;
                    if !p.terminal {
                        return Err(format!("{} has no terminal", self.describe(pk)));
                    }
                    let fd = p.out[0].as_ref().ok_or_else(|| format!("{} is not running", self.describe(pk)))?;
                    sys::set_window_size(fd, height, width).map_err(|e| format!("resize the terminal: {e}"))
                });
                match res {
                    Ok(()) => self.reply(key, json!({"ok": true})),
                    Err(e) => self.reply_err(key, &e),
                }
            }
            Request::Attach { stdin, stdout, stderr, exec_id, close_stdin } => {
                self.req_attach(key, exec_id.as_deref(), Attach { proc: self.init, stdin, stdout, stderr, close_stdin })
            }
            Request::Exec { exec_id, process, terminal, stdin, attach } => {
                self.req_exec(key, exec_id, process, terminal, stdin, attach)
            }
            Request::ExecState { exec_id } => match self.find_proc(Some(&exec_id)) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    let v = self.procs.get(pk).map(|p| proc_json(p, false)).unwrap_or_default();
                    self.reply(key, ok(v));
                }
            },
            Request::CloseStdin { exec_id } => match self.find_proc(exec_id.as_deref()) {
                Err(e) => self.reply_err(key, &e),
                Ok(pk) => {
                    self.close_stdin(pk);
                    self.reply(key, json!({"ok": true}));
                }
            },
            Request::Pause {} | Request::Resume {} => {
                let pause = matches!(req, Request::Pause {});
                let running = self.procs.get(self.init).is_some_and(|p| p.phase == Phase::Running);
                if !running {
                    return self.reply_err(key, &format!("container {} is not running", self.cfg.id));
                }
                let (verb, action) = if pause { ("pause", Action::Pause) } else { ("resume", Action::Resume) };
                let id = self.cfg.id.clone();
                self.run_for_client(key, verb, &[&id], action);
            }
            Request::ReopenLog {} => {
                let res = match &mut self.logger {
                    None => Err("the container has no log file".to_string()),
                    Some(l) => l.reopen().map_err(|e| format!("reopen the log file: {e}")),
                };
                match res {
                    Ok(()) => self.reply(key, json!({"ok": true})),
                    Err(e) => self.reply_err(key, &e),
                }
            }
            Request::Delete { force } => {
                let running = self.procs.get(self.init).is_some_and(|p| p.phase == Phase::Running);
                if running && !force {
                    return self.reply_err(
                        key,
                        &format!("cannot delete container {}: it is running (stop it first or force the delete)", self.cfg.id),
                    );
                }
                let id = self.cfg.id.clone();
                let args: Vec<&str> = if force { vec!["--force", &id] } else { vec![&id] };
                self.run_for_client(key, "delete", &args, Action::Delete);
            }
            Request::Shutdown {} => {
                let phase = self.procs.get(self.init).map(|p| p.phase);
                match phase {
                    Some(Phase::Done) | None => self.reply_and_quit(key, json!({"ok": true}), Quit::Shutdown),
                    Some(Phase::Exited) => self.reply_err(key, "the container's output is still being drained: retry"),
                    Some(_) => self.reply_err(
                        key,
                        &format!("container {} has not stopped: delete it instead, or stop it first", self.cfg.id),
                    ),
                }
            }
        }
    }

    fn state_json(&self) -> Value {
        let init = self.procs.get(self.init);
        let mut v = match init {
            Some(p) => proc_json(p, self.paused),
            None => json!({"status": "stopped"}),
        };
        v["ok"] = json!(true);
        v["id"] = json!(self.cfg.id);
        v["shim_pid"] = json!(std::process::id());
        v["bundle"] = json!(self.cfg.bundle.to_string_lossy());
        v["terminal"] = json!(self.cfg.terminal);
        v["stdin"] = json!(self.cfg.stdin);
        v["log_dropped"] = json!(self.logger.as_ref().map_or(0, Logger::dropped));
        if let Some(e) = self.logger.as_ref().and_then(Logger::last_error) {
            v["log_error"] = json!(e);
        }
        let execs: Vec<Value> = self
            .procs
            .iter()
            .filter(|(k, _)| *k != self.init)
            .map(|(_, p)| proc_json(p, false))
            .collect();
        v["execs"] = json!(execs);
        v
    }

    fn req_start(&mut self, key: Key) {
        let phase = self.procs.get(self.init).map(|p| p.phase);
        if phase != Some(Phase::Created) {
            return self.reply_err(key, &format!("container {} is not in the created state", self.cfg.id));
        }
        if self.start_pending {
            return self.reply_err(key, &format!("container {} is already being started", self.cfg.id));
        }
        self.start_pending = true;
        let id = self.cfg.id.clone();
        self.run_for_client(key, "start", &[&id], Action::Start);
    }

    fn req_kill(&mut self, key: Key, sig: i32, all: bool, exec_id: Option<&str>) {
        let pk = match self.find_proc(exec_id) {
            Ok(k) => k,
            Err(e) => return self.reply_err(key, &e),
        };
        let Some(p) = self.procs.get(pk) else { return };
        if !matches!(p.phase, Phase::Running | Phase::Created) {
            return self.reply_err(key, &format!("{} is not running", self.describe(pk)));
        }
        if pk != self.init {
            // The exec's process is our child and not yet reaped, so its
            // pid cannot have been reused.
            let res = match p.pid {
                Some(pid) => {
                    // SAFETY: kill(2) with a pid and a signal number; no memory involved.
                    let rc = unsafe { libc::kill(pid, sig) };
                    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
                }
                None => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
            };
            return match res {
                Ok(()) => self.reply(key, json!({"ok": true})),
                Err(e) => self.reply_err(key, &format!("signal {}: {e}", self.describe(pk))),
            };
        }
        let id = self.cfg.id.clone();
        let sig = sig.to_string();
        let args: Vec<&str> = if all { vec!["--all", &id, &sig] } else { vec![&id, &sig] };
        self.run_for_client(key, "kill", &args, Action::Kill);
    }

    fn req_attach(&mut self, key: Key, exec_id: Option<&str>, mut a: Attach) {
        let pk = match self.find_proc(exec_id) {
            Ok(k) => k,
            Err(e) => return self.reply_err(key, &e),
        };
        a.proc = pk;
        let Some(p) = self.procs.get(pk) else { return };
        if p.phase == Phase::Done {
            return self.reply_err(key, &format!("{} is not running", self.describe(pk)));
        }
        if a.stdin && !(p.stdin_open || p.phase == Phase::Starting) {
            // Accepted without stdin rather than refused: docker attaches the
            // streams that exist.
            a.stdin = false;
        }
        let terminal = p.terminal;
        self.start_attach(key, a, json!({"ok": true, "terminal": terminal}));
    }

    /// Sends `response` and turns the connection into the stream `a`.
    fn start_attach(&mut self, key: Key, a: Attach, response: Value) {
        let Some(c) = self.clients.get_mut(key) else { return };
        c.phase = ClientPhase::Attached(a);
        let pending = std::mem::take(&mut c.inbuf);
        let eof = c.read_eof;
        let mut line = response.to_string();
        line.push('\n');
        self.send(key, &[line.as_bytes()]);
        if a.stdin && !pending.is_empty() {
            self.write_stdin(a.proc, &pending);
        }
        if eof && a.stdin {
            self.attacher_input_ended(key, a);
        }
        self.update_client(key);
    }

    fn req_exec(&mut self, key: Key, exec_id: String, mut process: Value, terminal: Option<bool>, stdin: bool, attach: bool) {
        if !protocol::valid_exec_id(&exec_id) {
            return self.reply_err(key, &format!("invalid exec id {exec_id:?}: use letters, digits, '_', '.', '-' (at most 128)"));
        }
        if self.find_proc(Some(&exec_id)).is_ok() {
            return self.reply_err(key, &format!("exec {exec_id} already exists"));
        }
        if self.procs.get(self.init).map(|p| p.phase) != Some(Phase::Running) {
            return self.reply_err(key, &format!("container {} is not running", self.cfg.id));
        }
        let Some(obj) = process.as_object_mut() else {
            return self.reply_err(key, "process must be a JSON object (an OCI runtime-spec process)");
        };
        if let Some(t) = terminal {
            obj.insert("terminal".into(), json!(t));
        }
        let terminal = obj.get("terminal").and_then(Value::as_bool).unwrap_or(false);
        match self.spawn_exec(&exec_id, &process, terminal, stdin, attach, key) {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.phase = ClientPhase::Pending;
                }
                self.update_client(key);
            }
            Err(e) => self.reply_err(key, &e),
        }
    }

    fn spawn_exec(&mut self, exec_id: &str, process: &Value, terminal: bool, stdin: bool, attach: bool, client: Key) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        let process_file = self.dir.file(&format!("exec-{exec_id}.json"));
        let pid_file = self.dir.file(&format!("exec-{exec_id}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&process_file)?;
            serde_json::to_writer(&mut f, process).map_err(std::io::Error::other)?;
            f.flush()
        };
        write().map_err(|e| format!("write {}: {e}", process_file.display()))?;
        let cleanup = |e: String| {
            let _ = std::fs::remove_file(&process_file);
            e
        };
        self.seq += 1;
        let seq = self.seq;
        let log = self.dir.file(&format!("runtime-{seq}.log"));
        let mut cmd = self.rt.command(&log, "exec");
        cmd.arg("--process").arg(&process_file).arg("--detach").arg("--pid-file").arg(&pid_file);
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        let null = || sys::dev_null().map_err(|e| io("open /dev/null", e));
        let mut console = None;
        let mut capture = None;
        let (mut out, mut err, mut stdin_w) = (None, None, None);
        if terminal {
            let c = ConsoleSocket::bind(self.dir.path(), seq).map_err(|e| cleanup(io("bind console socket", e)))?;
            cmd.arg("--console-socket").arg(c.path());
            let cap = capture_file().map_err(|e| cleanup(io("create stderr capture", e)))?;
            let cap2 = cap.try_clone().map_err(|e| cleanup(io("dup capture", e)))?;
            cmd.stdin(Stdio::from(null().map_err(cleanup)?)).stdout(Stdio::from(null().map_err(cleanup)?)).stderr(Stdio::from(cap2));
            capture = Some(cap);
            console = Some(c);
        } else {
            let (o_r, o_w) = pipe().map_err(|e| cleanup(io("create stdout pipe", e)))?;
            let (e_r, e_w) = pipe().map_err(|e| cleanup(io("create stderr pipe", e)))?;
            let child_in = if stdin {
                let (i_r, i_w) = pipe().map_err(|e| cleanup(io("create stdin pipe", e)))?;
                stdin_w = Some(i_w);
                i_r
            } else {
                null().map_err(cleanup)?
            };
            cmd.stdin(Stdio::from(child_in)).stdout(Stdio::from(o_w)).stderr(Stdio::from(e_w));
            out = Some(o_r);
            err = Some(e_r);
        }
        cmd.arg(&self.cfg.id);
        let spawned = cmd.spawn();
        drop(cmd);
        let child = spawned.map_err(|e| cleanup(format!("run {} exec: {e}", self.rt.binary().display())))?;
        let proc = self.procs.insert(Proc {
            exec_id: Some(exec_id.to_string()),
            pid: None,
            terminal,
            phase: Phase::Starting,
            out: [out, err],
            stdin: stdin_w,
            stdin_open: stdin,
            stdin_buf: Vec::new(),
            stdin_watch: false,
            close_stdin_after_flush: false,
            exit: None,
            drain_deadline: None,
            done_seq: 0,
        });
        self.cmds.push(Cmd {
            pid: child.id() as i32,
            verb: "exec",
            log,
            stderr: capture,
            action: Action::Exec { proc, attach, pid_file, process_file, console },
            client: Some(client),
        });
        Ok(())
    }

    // ---- runtime commands ------------------------------------------------

    /// Runs `runtime <verb> <args>` for a client, which waits for the result.
    fn run_for_client(&mut self, key: Key, verb: &'static str, args: &[&str], action: Action) {
        match self.spawn_cmd(verb, args, action, Some(key)) {
            Ok(()) => {
                if let Some(c) = self.clients.get_mut(key) {
                    c.phase = ClientPhase::Pending;
                }
                self.update_client(key);
            }
            Err(e) => {
                if verb == "start" {
                    self.start_pending = false;
                }
                self.reply_err(key, &e);
            }
        }
    }

    fn spawn_cmd(&mut self, verb: &'static str, args: &[&str], action: Action, client: Option<Key>) -> Result<(), String> {
        self.seq += 1;
        let log = self.dir.file(&format!("runtime-{}.log", self.seq));
        let mut cmd = self.rt.command(&log, verb);
        cmd.args(args);
        let capture = capture_file().map_err(|e| format!("create stderr capture: {e}"))?;
        let cap2 = capture.try_clone().map_err(|e| format!("dup capture: {e}"))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(cap2));
        let child = cmd.spawn().map_err(|e| format!("run {} {verb}: {e}", self.rt.binary().display()))?;
        self.cmds.push(Cmd { pid: child.id() as i32, verb, log, stderr: Some(capture), action, client });
        Ok(())
    }

    fn complete(&mut self, mut cmd: Cmd, exit_code: i32) {
        let failure = (exit_code != 0).then(|| runtime::failure(cmd.verb, &cmd.log, &read_capture(cmd.stderr.as_mut()), exit_code));
        let _ = std::fs::remove_file(&cmd.log);
        let client = cmd.client.filter(|k| self.clients.get(*k).is_some());
        let answer = |s: &mut Server, v: Value| {
            if let Some(k) = client {
                s.reply(k, v);
            }
        };
        match cmd.action {
            Action::Start => {
                self.start_pending = false;
                match failure {
                    None => {
                        let pid = self.init_pid();
                        if let Some(p) = self.procs.get_mut(self.init)
                            && p.phase == Phase::Created
                        {
                            p.phase = Phase::Running;
                        }
                        answer(self, json!({"ok": true, "pid": pid}));
                    }
                    Some(f) => answer(self, failure_json(&f)),
                }
            }
            Action::Kill => answer(self, failure.as_ref().map_or_else(|| json!({"ok": true}), failure_json)),
            Action::Pause | Action::Resume => {
                if failure.is_none() {
                    let exited = self.procs.get(self.init).is_none_or(|p| p.exit.is_some());
                    self.paused = matches!(cmd.action, Action::Pause) && !exited;
                }
                answer(self, failure.as_ref().map_or_else(|| json!({"ok": true}), failure_json));
            }
            Action::KillAllAfterExit => {
                if let Some(f) = failure {
                    self.dir.note(&format!("kill --all after init exited: {}", f.message));
                }
            }
            Action::Delete => match failure {
                Some(f) => answer(self, failure_json(&f)),
                None => {
                    self.settle_before_quit();
                    let mut v = json!({"ok": true});
                    if let Some(rec) = self.procs.get(self.init).and_then(|p| p.exit.clone()) {
                        v = exit_json(&rec);
                    }
                    match client {
                        Some(k) => self.reply_and_quit(k, v, Quit::Delete),
                        None => self.quit = Some(Quit::Delete),
                    }
                }
            },
            Action::Exec { proc, attach, pid_file, process_file, console } => {
                let _ = std::fs::remove_file(&process_file);
                let started = match failure {
                    Some(f) => Err(f),
                    None => {
                        let pid = read_pid_file(&pid_file);
                        let master = console.as_ref().map(ConsoleSocket::receive);
                        match (pid, master) {
                            (Ok(pid), None) => Ok((pid, None)),
                            (Ok(pid), Some(Ok(m))) => Ok((pid, Some(m))),
                            (Ok(pid), Some(Err(e))) => {
                                // SAFETY: kill(2); `pid` is our unreaped child (reparented to us).
                                unsafe { libc::kill(pid, libc::SIGKILL) };
                                Err(Failure { message: format!("receive the exec's console: {e}"), exit_code: 255 })
                            }
                            (Err(e), _) => Err(Failure { message: e, exit_code: 255 }),
                        }
                    }
                };
                let _ = std::fs::remove_file(&pid_file);
                drop(console);
                match started {
                    Err(f) => {
                        self.procs.remove(proc);
                        answer(self, failure_json(&f));
                    }
                    Ok((pid, master)) => self.exec_started(proc, pid, master, attach, client),
                }
            }
        }
    }

    fn exec_started(&mut self, key: Key, pid: i32, master: Option<OwnedFd>, attach: bool, client: Option<Key>) {
        let Some(p) = self.procs.get_mut(key) else { return };
        p.pid = Some(pid);
        p.phase = Phase::Running;
        if let Some(m) = master {
            p.out[0] = Some(m);
        }
        let stdin = p.stdin_open;
        for ch in [CH_OUT, CH_ERR] {
            if let Some(fd) = p.out[usize::from(ch)].as_ref() {
                let _ = sys::set_nonblocking(fd.as_fd(), true);
                let _ = self.ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token(K_PROC, key, ch)));
            }
        }
        if let Some(fd) = p.stdin.as_ref() {
            let _ = sys::set_nonblocking(fd.as_fd(), true);
        }
        let resp = json!({"ok": true, "pid": pid});
        match client {
            Some(ck) if attach => {
                let a = Attach { proc: key, stdin, stdout: true, stderr: true, close_stdin: true };
                self.start_attach(ck, a, resp);
            }
            Some(ck) => self.reply(ck, resp),
            None => {}
        }
        if let Some(i) = self.orphans.iter().position(|(p, _)| *p == pid) {
            if let Some((_, rec)) = self.orphans.remove(i) {
                self.proc_exited(key, rec);
            }
        }
    }

    /// Before the shim exits after `delete`: collect the exits the delete
    /// caused, so that waiters get them.
    fn settle_before_quit(&mut self) {
        let init_running = self.procs.get(self.init).is_some_and(|p| p.exit.is_none() && p.pid.is_some());
        if init_running {
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                self.reap();
                if self.procs.get(self.init).is_none_or(|p| p.exit.is_some()) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            self.reap();
        }
        for (k, _) in self.procs.iter().map(|(k, p)| (k, p.phase)).collect::<Vec<_>>() {
            if let Some(p) = self.procs.get_mut(k)
                && p.phase == Phase::Exited
            {
                p.drain_deadline = Some(Instant::now());
            }
            self.maybe_finish(k);
        }
        for ck in self.clients.keys() {
            if matches!(self.clients.get(ck).map(|c| c.phase), Some(ClientPhase::Wait(_))) {
                self.reply_err(ck, &format!("container {} was deleted", self.cfg.id));
            }
        }
    }

    /// Writes the response synchronously (bounded by a timeout) and ends
    /// the loop.
    fn reply_and_quit(&mut self, key: Key, v: Value, q: Quit) {
        if let Some(c) = self.clients.get_mut(key) {
            let mut line = v.to_string();
            line.push('\n');
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(Duration::from_secs(1)));
            let mut all = std::mem::take(&mut c.out);
            all.extend_from_slice(line.as_bytes());
            let _ = (&c.sock).write_all(&all);
        }
        self.drop_client(key);
        // Attach streams and waiters of other clients: flush what fits now.
        for ck in self.clients.keys() {
            self.flush_client(ck);
        }
        self.quit = Some(q);
    }
}

/// What start-up produced, before it becomes a [`Server`].
#[derive(Debug)]
struct Parts {
    cfg: Config,
    rt: OciRuntime,
    sig: SignalFd,
    listener: UnixListener,
    logger: Option<Logger>,
    kill_all_on_exit: bool,
    seq: u64,
    init_pid: i32,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    started: bool,
}

impl Parts {
    fn run_start(&self, dir: &StateDir) -> Result<(), Failure> {
        let log = dir.file("runtime-start.log");
        let mut cmd = self.rt.command(&log, "start");
        cmd.arg(&self.cfg.id);
        let mut capture = capture_file().ok();
        let err = match capture.as_ref().and_then(|c| c.try_clone().ok()) {
            Some(c) => Stdio::from(c),
            None => Stdio::null(),
        };
        let status = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err).status();
        let result = match status {
            Err(e) => Err(Failure { message: format!("run {} start: {e}", self.rt.binary().display()), exit_code: 255 }),
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(runtime::failure("start", &log, &read_capture(capture.as_mut()), exit_code_of(s))),
        };
        let _ = std::fs::remove_file(&log);
        result
    }

    /// Removes the runtime's container after a failed start-up.
    fn delete_container(&self, dir: &StateDir) {
        let log = dir.file("runtime-delete.log");
        let _ = self
            .rt
            .command(&log, "delete")
            .arg("--force")
            .arg(&self.cfg.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&log);
        // The init was our child (reparented): collect it.
        if self.init_pid > 0 {
            let _ = waitpid(Pid::from_raw(self.init_pid), Some(WaitPidFlag::WNOHANG));
        }
    }

    fn into_server(self, dir: StateDir) -> Server {
        let ep = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
            Ok(e) => e,
            Err(e) => {
                // Without epoll the shim cannot serve; the container keeps
                // running and the pid files say where it is.
                eprintln!("berth-shim: epoll_create: {e}");
                std::process::exit(1);
            }
        };
        let mut procs = Slab::default();
        let terminal = self.cfg.terminal;
        let stdin_open = self.cfg.stdin;
        let init = procs.insert(Proc {
            exec_id: None,
            pid: Some(self.init_pid),
            terminal,
            phase: if self.started { Phase::Running } else { Phase::Created },
            out: [self.out, self.err],
            stdin: self.stdin,
            stdin_open,
            stdin_buf: Vec::new(),
            stdin_watch: false,
            close_stdin_after_flush: false,
            exit: None,
            drain_deadline: None,
            done_seq: 0,
        });
        let _ = ep.add(&self.sig, EpollEvent::new(EpollFlags::EPOLLIN, K_SIGNAL << 60));
        let _ = ep.add(&self.listener, EpollEvent::new(EpollFlags::EPOLLIN, K_LISTENER << 60));
        if let Some(p) = procs.get(init) {
            for ch in [CH_OUT, CH_ERR] {
                if let Some(fd) = p.out[usize::from(ch)].as_ref() {
                    let _ = sys::set_nonblocking(fd.as_fd(), true);
                    let _ = ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token(K_PROC, init, ch)));
                }
            }
            if let Some(fd) = p.stdin.as_ref() {
                let _ = sys::set_nonblocking(fd.as_fd(), true);
            }
        }
        Server {
            cfg: self.cfg,
            dir,
            rt: self.rt,
            ep,
            sig: self.sig,
            listener: self.listener,
            logger: self.logger,
            procs,
            init,
            clients: Slab::default(),
            cmds: Vec::new(),
            orphans: VecDeque::new(),
            kill_all_on_exit: self.kill_all_on_exit,
            paused: false,
            start_pending: false,
            seq: self.seq,
            buf: Vec::new(),
            busy_since_trim: false,
            quit: None,
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
