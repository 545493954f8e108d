//! `berth-shim`: the per-container monitor (what conmon is to podman and
//! containerd-shim-runc-v2 to containerd).
//!
//! One shim runs per container. It runs the OCI runtime's `create` and
//! `start`, holds the container's stdio (pipes, or the pty master received
//! through `--console-socket`), writes the container's log, serves attach,
//! exec, kill, resize and wait over a unix socket, reaps the exit status and
//! writes it durably. It does not depend on berthd staying up: berthd can
//! be killed and restarted while containers run, and finds its shims again
//! through their state directories.
//!
//! It owns: the container's stdio, its log file, its exit record, the state
//! directory. It must not touch: the daemon's database, images, networks.
//!
//! Dependencies, each for a reason: `libc`/`nix` for the system calls
//! (epoll, signalfd, fork, SCM_RIGHTS); `serde`/`serde_json` to parse
//! requests safely (requests come from a socket; a hand parser would be
//! the riskier code); `thiserror` for the error types. No async runtime, no
//! CLI framework, no logging framework: the shim is a memory headline.
//!
//! # Contract (THE reference for berthd)
//!
//! ## Command line
//!
//! ```text
//! berth-shim --id ID --bundle DIR --state-dir DIR --runtime PATH
//!            [--runtime-root DIR] [--runtime-arg ARG]...
//!            [--log-path FILE] [--log-driver json-file|cri|none]
//!            [--log-max-size BYTES] [--log-max-files N]
//!            [--terminal] [--stdin] [--no-start]
//! ```
//!
//! * `--runtime` is the OCI runtime binary (berth-runtime, runc, crun, or a
//!   wrapper script); `--runtime-root` becomes its `--root`, each
//!   `--runtime-arg` another global option before the verb.
//! * `--log-driver` defaults to `json-file` when `--log-path` is given and
//!   to `none` otherwise. `--log-max-size` (bytes, default: never rotate) and
//!   `--log-max-files` (files kept counting the current one, default 1) are
//!   docker's `max-size`/`max-file`: `FILE` → `FILE.1` … `FILE.(N-1)`.
//! * `--terminal` must match the bundle's `process.terminal` (checked).
//! * `--stdin` keeps the container's stdin open for attachers (docker `-i`);
//!   without it the container's stdin is `/dev/null`.
//! * `--no-start` stops after `create`; the `start` request starts it
//!   (attach first, then start, and no output is missed).
//!
//! Spawn it with stdout piped. It prints exactly one JSON line and its first
//! process exits (status 0 on success, 1 on failure), while the daemonized
//! shim (new session, child subreaper, cwd `/`, stdio on `/dev/null`, every
//! other descriptor close-on-exec, inherited ones closed) keeps running:
//!
//! ```text
//! {"ok":true,"pid":<init pid>,"shim_pid":<pid>,"status":"running"|"created"}
//! {"ok":false,"error":"<message>","stage":"shim"|"create"|"start","exit_code":<runtime's code>}
//! ```
//!
//! `error` is the runtime's own message for `create`/`start` (from its
//! `--log` JSON, else its stderr); `exit_code` is present only when the
//! runtime failed. After a failure nothing is left behind: no shim, no state
//! files, no runtime container (after a failed `start` the shim runs
//! `delete --force`; after a failed `create` the runtime has cleaned up).
//!
//! ## State directory
//!
//! | file | meaning |
//! |---|---|
//! | `shim.pid` | the shim's pid; the live shim holds an exclusive `flock` on it ([`state_dir::shim_is_alive`]) |
//! | `shim.sock` | the control socket (mode 0600) |
//! | `init.pid` | the container's init pid (the runtime's `--pid-file`) |
//! | `exit.json` | `{"exit_code":N,"signal":S,"exited_at":"<RFC3339Nano>"}` — `signal` only when a signal killed it, then `exit_code` is 128+S. Written temp+fsync+rename+fsync(dir) before anyone is told of the exit |
//! | `shim.log` | the shim's own warnings (at most 64 KiB) |
//!
//! A restarted berthd: shim alive → talk to `shim.sock`; shim gone and
//! `exit.json` present → the container stopped, and how. After `delete` the
//! shim removes all of its files and the directory (if nothing else is in
//! it); after `shutdown` it keeps `exit.json` and `shim.log`.
//!
//! ## Control socket
//!
//! One connection per request: the client writes one JSON object on one
//! line, the shim answers one JSON line (`{"ok":true,…}` or
//! `{"ok":false,"error":"…"}`, plus `"exit_code"` when a runtime command
//! failed) and closes, except where noted. Requests (`op`, then fields;
//! unknown ops or fields are errors):
//!
//! * `state` → `id`, `status` (`created`|`running`|`paused`|`stopped`),
//!   `pid`, `shim_pid`, `bundle`, `terminal`, `stdin`, `exit_code`,
//!   `exited_at`, `signal` (if killed), `log_dropped` (entries the disk
//!   refused), `log_error` (if any), `execs` (each `exec_id`, `status`
//!   `creating`|`running`|`stopped`, `pid`, `exit_code`, `exited_at`).
//! * `start` → `pid` (after `--no-start`).
//! * `kill {signal, all, exec_id}` — `signal` a number or name (default
//!   SIGTERM); the container through `runtime kill [--all]`, an exec's
//!   process directly.
//! * `wait {exec_id}` — answers once the process exited and its output was
//!   drained: `exit_code`, `exited_at`, `signal`.
//! * `resize {width, height, exec_id}` — terminal size.
//! * `attach {stdin, stdout, stderr, exec_id, close_stdin}` — answers
//!   `{"ok":true,"terminal":bool}`, then the connection is the stream: with
//!   a terminal raw bytes both ways; without, output in docker's stdcopy
//!   frames ([`stdcopy`]: 8-byte header `[stream 1|2, 0, 0, 0, len u32 BE]`)
//!   and raw bytes from the client to stdin. When the client shuts down its
//!   sending side and no other stdin attacher remains, the process's stdin
//!   is closed (docker's StdinOnce; `close_stdin:false` keeps it open). The
//!   shim closes the stream after the process exited and its output was
//!   sent. A client that falls 1 MiB behind is disconnected. Attaching to a
//!   created container before `start` misses nothing.
//! * `exec {exec_id, process, terminal, stdin, attach}` — `process` is an OCI
//!   runtime-spec process object; runs `runtime exec --process F --detach
//!   --pid-file P [--console-socket S]`; answers `pid`. With `attach:true`
//!   the connection then becomes the exec's stream (stdout, stderr, and stdin
//!   if `stdin`), and output written before the answer is not lost (it waits
//!   in the pipe). Exec output is never logged.
//! * `exec_state {exec_id}` — as in `state.execs`.
//! * `close_stdin {exec_id}` — closes the stdin pipe (with a terminal: stops
//!   forwarding input).
//! * `pause`, `resume` — `runtime pause`/`resume`.
//! * `reopen_log` — reopens the log file at its path (CRI
//!   `ReopenContainerLog`).
//! * `delete {force}` — `runtime delete [--force]`; answers with the exit
//!   status if known, then the shim exits.
//! * `shutdown` — only once stopped: the shim exits, keeping `exit.json`.
//!
//! ## Logs
//!
//! json-file lines exactly as docker writes them
//! (`{"log":"text\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`,
//! Go's RFC3339Nano: trailing zeros of the fraction dropped), lines over
//! 16 KiB split as docker splits them; CRI lines
//! `<RFC3339Nano> <stdout|stderr> <P|F> <text>`. With a terminal everything
//! is `stdout`. Logging goes on while nobody is attached. Entries the disk
//! refuses are dropped and counted (`log_dropped`), never blocking the
//! container.

pub mod client;
pub mod config;
pub mod console;
pub mod daemon;
pub mod exit;
pub mod log;
pub mod protocol;
pub mod runtime;
pub mod server;
mod slab;
pub mod state_dir;
pub mod stdcopy;
pub mod sys;

use std::path::PathBuf;

/// One of the container's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (and everything, with a terminal).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` / `stderr`, as the log formats write it.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    fn stdcopy_id(self) -> u8 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
}

pub(crate) fn stdcopy_header(stream: Stream, len: u32) -> [u8; 8] {
    stdcopy::header(stream, len)
}

/// Errors of the shim library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory could not be prepared.
    #[error("{what} state dir {path}")]
    StateDir {
        /// What was being done.
        what: &'static str,
        /// The directory.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A live shim already owns the state directory.
    #[error("another shim is running for state dir {0}")]
    AlreadyRunning(PathBuf),
}

/// An error and its causes, joined with `: ` (for the one-line reports).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
