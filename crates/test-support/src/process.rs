//! Running a command with a deadline and capturing its output in files.
//!
//! Output goes to anonymous files, not pipes: a runtime's `create` or
//! `run --detach` hands its stdio to the container, which keeps it open long
//! after the runtime exits. With pipes, waiting for EOF would hang; with files
//! we wait for the runtime process only and can re-read later what the
//! container wrote since ([`Output::stdout`] reads the file again each time).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Default deadline for one runtime command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// Exit status of the command (not of any process it left running).
    pub status: ExitStatus,
    stdout: File,
    stderr: File,
}

impl Output {
    /// Exit code, `None` when the command died of a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Everything written to stdout so far, including by processes that
    /// inherited it and are still running.
    pub fn stdout(&self) -> String {
        read_all(&self.stdout)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        read_all(&self.stderr)
    }

    /// Panics with the command, status and both streams unless it exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }

    /// Panics unless it exited non-zero (a signal counts as a failure too).
    #[track_caller]
    pub fn assert_fails(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded: {}", self.describe());
        self
    }

    /// Parses stdout as JSON, panicking with context when it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        let s = self.stdout();
        serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("stdout of `{}` is not JSON ({e}): {s:?}", self.command))
    }

    /// One paragraph describing the command and what it printed.
    pub fn describe(&self) -> String {
        let status = match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "unknown status".to_string(),
        };
        format!(
            "`{}` -> {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout(),
            self.stderr()
        )
    }
}

fn read_all(mut f: &File) -> String {
    let mut s = String::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    s
}

/// Renders a command line for messages.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with stdout and stderr to fresh files, in its own process
/// group (stdin as the caller set it; [`crate::Runtime::cmd`] sets
/// /dev/null). If it has not exited after
/// `timeout`, its whole process group is killed and the test panics.
#[track_caller]
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let stdout = tempfile::tempfile().unwrap_or_else(|e| panic!("tempfile: {e}"));
    let stderr = tempfile::tempfile().unwrap_or_else(|e| panic!("tempfile: {e}"));
    let command = display(&cmd);
    cmd.stdout(Stdio::from(stdout.try_clone().unwrap_or_else(|e| panic!("dup: {e}"))))
        .stderr(Stdio::from(stderr.try_clone().unwrap_or_else(|e| panic!("dup: {e}"))))
        .process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn `{command}`: {e}"));
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{command}`: {e}"),
        }
        if Instant::now() >= deadline {
            // SAFETY: kill(2) on the process group we created for this child;
            // no memory is involved.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            let out = Output { command: command.clone(), status: ExitStatus::from_raw(9), stdout, stderr };
            panic!("`{command}` did not finish within {timeout:?}:\n{}", out.describe());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    };
    Output { command, status, stdout, stderr }
}

/// Runs a host command (not a runtime) and panics unless it exits 0.
#[track_caller]
pub fn sh(script: &str) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).stdin(Stdio::null());
    let out = run(cmd, DEFAULT_TIMEOUT);
    out.assert_ok();
    out
}
