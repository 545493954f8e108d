//! Becoming a daemon and reporting the start-up result to the spawner.
//!
//! The spawner runs `berth-shim` with stdout piped. The shim forks; the
//! child starts a new session, becomes the reaper of its descendants, moves
//! to `/`, points its stdio at `/dev/null` and starts the container. It
//! sends one JSON line through a close-on-exec pipe to the first process,
//! which copies it to the spawner's stdout and exits (0 when the container
//! started, 1 otherwise), so the spawner can read the line and `wait`.

use crate::config::Config;
use crate::server::{Quit, Server, StartFailure};
use crate::state_dir::StateDir;
use crate::{error_chain, sys};
use serde_json::json;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::ExitCode;

/// Runs the shim described by `cfg`; returns in the first process after the
/// report, and in the daemon when the shim is done.
pub fn run(cfg: Config) -> ExitCode {
    let dir = match StateDir::open(&cfg.state_dir) {
        Ok(d) => d,
        Err(e) => return report_stdout(&StartFailure { stage: "shim", message: error_chain(&e), exit_code: None }.to_json()),
    };
    let (rd, wr) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            return report_stdout(&StartFailure { stage: "shim", message: format!("create report pipe: {e}"), exit_code: None }.to_json());
        }
    };
    // SAFETY: the shim has not started any thread (it never does), so the
    // child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => report_stdout(&StartFailure { stage: "shim", message: format!("fork: {e}"), exit_code: None }.to_json()),
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(wr);
            // The child holds the same lock (shared open file description).
            drop(dir);
            relay(rd, child)
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(rd);
            daemon(cfg, dir, wr)
        }
    }
}

fn report_stdout(v: &serde_json::Value) -> ExitCode {
    let mut line = v.to_string();
    line.push('\n');
    // The spawner may be gone; nothing to do about it.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
    if v["ok"] == serde_json::Value::Bool(true) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn relay(rd: OwnedFd, child: nix::unistd::Pid) -> ExitCode {
    let mut text = String::new();
    let _ = File::from(rd).read_to_string(&mut text);
    match text.lines().next().and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        Some(v) => report_stdout(&v),
        None => {
            let status = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            report_stdout(
                &StartFailure {
                    stage: "shim",
                    message: format!("the shim exited before reporting ({status:?})"),
                    exit_code: None,
                }
                .to_json(),
            )
        }
    }
}

fn daemon(cfg: Config, dir: StateDir, report: OwnedFd) -> ExitCode {
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
    if let Ok(null) = sys::dev_null() {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let mut report = File::from(report);
    let mut send = |v: serde_json::Value| {
        let mut line = v.to_string();
        line.push('\n');
        // If the first process is gone (killed), the pipe is broken; the
        // spawner finds the shim through its state directory.
        let _ = report.write_all(line.as_bytes());
    };
    match Server::start(cfg, dir) {
        Err((failure, dir)) => {
            dir.remove_all(false);
            send(failure.to_json());
            ExitCode::from(1)
        }
        Ok(mut server) => {
            send(json!({
                "ok": true,
                "pid": server.init_pid(),
                "shim_pid": std::process::id(),
                "status": server.status_name(),
            }));
            drop(report);
            sys::release_startup_pages();
            sys::release_free_memory();
            let quit = server.run();
            let dir = server.into_state_dir();
            dir.remove_all(quit == Quit::Shutdown);
            ExitCode::SUCCESS
        }
    }
}
