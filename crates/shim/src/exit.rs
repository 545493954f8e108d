//! How a process ended, as the shim records it in `exit.json` and reports it
//! over the control socket.

use berth_time::Timestamp;
use nix::sys::wait::WaitStatus;
use serde::{Deserialize, Serialize};

/// A process's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code; 128 + the signal number when a signal killed it
    /// (docker's convention: SIGKILL → 137).
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// When the shim reaped it (RFC 3339 with nanoseconds, UTC).
    pub exited_at: String,
}

impl ExitRecord {
    /// The record for a `waitpid` result, `None` for stops and continues.
    pub fn from_wait(status: WaitStatus, at: Timestamp) -> Option<ExitRecord> {
        let exited_at = at.rfc3339_nano().into();
        match status {
            WaitStatus::Exited(_, code) => Some(ExitRecord { exit_code: code, signal: None, exited_at }),
            WaitStatus::Signaled(_, sig, _) => {
                let n = sig as i32;
                Some(ExitRecord { exit_code: 128 + n, signal: Some(n), exited_at })
            }
            _ => None,
        }
    }

    /// The JSON form written to `exit.json` (one line, no trailing newline).
    pub fn to_json(&self) -> String {
        // Serializing this struct cannot fail (strings and integers only).
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"exit_code\":{}}}", self.exit_code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn codes_follow_docker() {
        let at = Timestamp { secs: 0, nanos: 5 };
        let r = ExitRecord::from_wait(WaitStatus::Exited(Pid::from_raw(1), 3), at).expect("exit");
        assert_eq!(r.to_json(), r#"{"exit_code":3,"exited_at":"1970-01-01T00:00:00.000000005Z"}"#);
        let r = ExitRecord::from_wait(WaitStatus::Signaled(Pid::from_raw(1), Signal::SIGKILL, false), at).expect("sig");
        assert_eq!((r.exit_code, r.signal), (137, Some(9)));
        assert!(ExitRecord::from_wait(WaitStatus::StillAlive, at).is_none());
        let back: ExitRecord = serde_json::from_str(&r.to_json()).expect("parse");
        assert_eq!(back, r);
    }
}
