//! Driving the OCI runtime through runc's command line.
//!
//! Every invocation gets its own `--log FILE --log-format json`, so that the
//! error of exactly that command can be read back (runc, crun and
//! berth-runtime all write `{"level":"error","msg":…}` lines there, which is
//! how containerd reports runtime errors too); stderr is the fallback.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One OCI runtime binary with its global options.
#[derive(Debug, Clone)]
pub struct OciRuntime {
    binary: PathBuf,
    root: Option<PathBuf>,
    global_args: Vec<OsString>,
}

impl OciRuntime {
    /// A runtime; `root` becomes `--root`, `global_args` go before the verb.
    pub fn new(binary: PathBuf, root: Option<PathBuf>, global_args: Vec<OsString>) -> OciRuntime {
        OciRuntime { binary, root, global_args }
    }

    /// The binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `<binary> [--root R] [global args] --log LOG --log-format json <verb>`;
    /// the caller adds the verb's arguments and stdio.
    pub fn command(&self, log: &Path, verb: &str) -> Command {
        let mut c = Command::new(&self.binary);
        if let Some(root) = &self.root {
            c.arg("--root").arg(root);
        }
        c.args(&self.global_args);
        c.arg("--log").arg(log).arg("--log-format").arg("json").arg(verb);
        c
    }
}

/// A runtime command that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The runtime's own message (or a description of how it ended).
    pub message: String,
    /// Its exit code (128 + signal when killed).
    pub exit_code: i32,
}

/// Builds the [`Failure`] of `verb` from its log file, its captured stderr and
/// its exit code.
pub fn failure(verb: &str, log: &Path, stderr: &[u8], exit_code: i32) -> Failure {
    let from_log = std::fs::read_to_string(log).ok().and_then(|t| last_error_in_log(&t));
    let message = from_log
        .or_else(|| last_lines(stderr))
        .unwrap_or_else(|| format!("runtime {verb} exited with status {exit_code}"));
    Failure { message, exit_code }
}

/// The `msg` of the last `error` (or `fatal`) line of a JSON runtime log.
pub fn last_error_in_log(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        let level = v.get("level")?.as_str()?;
        if level == "error" || level == "fatal" {
            Some(v.get("msg")?.as_str()?.trim().to_string()).filter(|m| !m.is_empty())
        } else {
            None
        }
    })
}

/// The last few non-empty lines of stderr output, at most 4 KiB.
fn last_lines(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let mut msg = lines[lines.len().saturating_sub(3)..].join(": ");
    if msg.len() > 4096 {
        let mut cut = msg.len() - 4096;
        while !msg.is_char_boundary(cut) {
            cut += 1;
        }
        msg = msg[cut..].to_string();
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_comes_from_the_last_error_line() {
        let log = "{\"level\":\"warning\",\"msg\":\"w\",\"time\":\"t\"}\n\
                   {\"level\":\"error\",\"msg\":\"first\",\"time\":\"t\"}\n\
                   {\"msg\": \"exec: \\\"nope\\\": executable file not found in $PATH\", \"level\": \"error\", \"time\": \"t\"}\n\
                   not json\n";
        assert_eq!(last_error_in_log(log).as_deref(), Some("exec: \"nope\": executable file not found in $PATH"));
        assert_eq!(last_error_in_log("{\"level\":\"info\",\"msg\":\"x\"}"), None);
    }

    #[test]
    fn falls_back_to_stderr_then_status() {
        let none = Path::new("/nonexistent/log");
        assert_eq!(failure("create", none, b"\nboom\n", 1).message, "boom");
        assert_eq!(failure("start", none, b"", 2), Failure { message: "runtime start exited with status 2".into(), exit_code: 2 });
    }

    #[test]
    fn command_line_shape() {
        let rt = OciRuntime::new("/bin/rt".into(), Some("/run/rt".into()), vec!["--systemd-cgroup".into()]);
        let c = rt.command(Path::new("/s/runtime-1.log"), "kill");
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["--root", "/run/rt", "--systemd-cgroup", "--log", "/s/runtime-1.log", "--log-format", "json", "kill"]);
    }
}
