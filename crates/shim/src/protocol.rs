//! The control socket's requests (see the crate doc for the protocol).

use serde::{Deserialize, Serialize};

/// Longest request line accepted (an exec's process JSON included).
pub const MAX_REQUEST: usize = 1024 * 1024;

/// A signal given as a number or a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalArg {
    /// `9`
    Number(i64),
    /// `"SIGKILL"`, `"KILL"`, `"9"`
    Name(String),
}

impl SignalArg {
    /// The signal number, if valid.
    pub fn number(&self) -> Option<i32> {
        match self {
            SignalArg::Number(n) => i32::try_from(*n).ok().and_then(|n| crate::sys::parse_signal(&n.to_string())),
            SignalArg::Name(s) => crate::sys::parse_signal(s),
        }
    }
}

fn sigterm() -> SignalArg {
    SignalArg::Number(15)
}

fn yes() -> bool {
    true
}

/// One request line, tagged by `op` (berthd may build requests with this
/// type and `serde_json::to_string`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The container's state.
    State {},
    /// Starts a container created with `--no-start`.
    Start {},
    /// Sends a signal to the container (through the runtime's `kill`) or to
    /// an exec'd process.
    Kill {
        /// Default SIGTERM, as runc's `kill`.
        #[serde(default = "sigterm")]
        signal: SignalArg,
        /// Every process of the container (`kill --all`).
        #[serde(default)]
        all: bool,
        /// An exec'd process instead of the container.
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Blocks until the process has exited and its output is drained.
    Wait {
        /// An exec'd process instead of the container.
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Sets the terminal size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
        /// An exec'd process instead of the container.
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Turns the connection into the process's stdio stream.
    Attach {
        /// Forward what the client sends to the process's stdin.
        #[serde(default)]
        stdin: bool,
        /// Send the process's stdout.
        #[serde(default)]
        stdout: bool,
        /// Send the process's stderr.
        #[serde(default)]
        stderr: bool,
        /// An exec'd process instead of the container.
        #[serde(default)]
        exec_id: Option<String>,
        /// Close the process's stdin when this client stops sending (and no
        /// other client sends): docker's `StdinOnce`. Default true.
        #[serde(default = "yes")]
        close_stdin: bool,
    },
    /// Runs a process in the container (`runtime exec --detach`).
    Exec {
        /// The caller's name for it (letters, digits, `_ . -`; at most 128).
        exec_id: String,
        /// An OCI runtime-spec `process` object.
        process: serde_json::Value,
        /// Overrides `process.terminal`.
        #[serde(default)]
        terminal: Option<bool>,
        /// Give it a stdin that attachers write to.
        #[serde(default)]
        stdin: bool,
        /// Make this connection the exec's stream (stdin if `stdin`, stdout,
        /// stderr) once it started: nothing it writes can be missed.
        #[serde(default)]
        attach: bool,
    },
    /// An exec'd process's state.
    ExecState {
        /// Which one.
        exec_id: String,
    },
    /// Closes the stdin of the container (or an exec).
    CloseStdin {
        /// An exec'd process instead of the container.
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// `runtime pause`.
    Pause {},
    /// `runtime resume`.
    Resume {},
    /// Reopens the log file at its path (after it was rotated away).
    ReopenLog {},
    /// `runtime delete`, then the shim exits and removes its state dir.
    Delete {
        /// `delete --force`: also when the container runs.
        #[serde(default)]
        force: bool,
    },
    /// Exits the shim, keeping `exit.json` (only once the container stopped).
    Shutdown {},
}

/// Whether `id` is acceptable as an exec id (it names files in the state dir).
pub fn valid_exec_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn parses_requests_with_defaults() {
        assert_eq!(parse(r#"{"op":"state"}"#).expect("state"), Request::State {});
        assert_eq!(
            parse(r#"{"op":"kill","signal":"SIGKILL","all":true}"#).expect("kill"),
            Request::Kill { signal: SignalArg::Name("SIGKILL".into()), all: true, exec_id: None }
        );
        match parse(r#"{"op":"kill"}"#).expect("kill") {
            Request::Kill { signal, .. } => assert_eq!(signal.number(), Some(15)),
            other => panic!("{other:?}"),
        }
        match parse(r#"{"op":"attach","stdout":true}"#).expect("attach") {
            Request::Attach { stdin, stdout, stderr, close_stdin, exec_id } => {
                assert!(!stdin && stdout && !stderr && close_stdin && exec_id.is_none())
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"op":"exec","exec_id":"e1","process":{"args":["true"]},"attach":true}"#).expect("exec"),
            Request::Exec { attach: true, stdin: false, terminal: None, .. }
        ));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            r#"{"op":"nope"}"#,
            r#"{"op":"state","extra":1}"#,
            r#"{"op":"kill","bogus":1}"#,
            r#"{"op":"kill","signal":[]}"#,
            r#"{"op":"resize","width":-1,"height":2}"#,
            r#"{"op":"exec"}"#,
            r#"{}"#,
            r#"[]"#,
            "not json",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::State {},
            Request::Kill { signal: SignalArg::Name("KILL".into()), all: true, exec_id: Some("e".into()) },
            Request::Attach { stdin: true, stdout: true, stderr: false, exec_id: None, close_stdin: false },
            Request::Exec {
                exec_id: "x".into(),
                process: serde_json::json!({"args": ["true"]}),
                terminal: Some(true),
                stdin: false,
                attach: true,
            },
            Request::Delete { force: true },
        ] {
            let line = serde_json::to_string(&r).expect("serialize");
            assert!(line.starts_with("{\"op\":"), "{line}");
            assert_eq!(parse(&line).expect("parse back"), r);
        }
    }

    #[test]
    fn signal_numbers_are_checked() {
        assert_eq!(SignalArg::Number(9).number(), Some(9));
        assert_eq!(SignalArg::Number(0).number(), None);
        assert_eq!(SignalArg::Number(1 << 40).number(), None);
        assert_eq!(SignalArg::Name("hup".into()).number(), Some(1));
    }

    #[test]
    fn exec_ids_are_file_name_safe() {
        assert!(valid_exec_id("abc-1.2_x"));
        for bad in ["", ".hidden", "a/b", "..", "a b", &"x".repeat(129)] {
            assert!(!valid_exec_id(bad), "{bad:?}");
        }
    }
}
