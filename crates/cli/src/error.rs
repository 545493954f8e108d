//! Exit statuses: docker's `StatusError`, and how an error becomes the text
//! on stderr and the process's exit code.

use crate::client::ClientError;
use crate::flags::UsageError;

/// An error with an exit code; an empty message prints nothing (the
/// command has already said what it had to say, or the code is the
/// container's own).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl StatusError {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(code: i32, message: impl Into<String>) -> anyhow::Error {
        StatusError {
            code,
            message: message.into(),
        }
        .into()
    }

    /// Just an exit code.
    pub fn code(code: i32) -> anyhow::Error {
        StatusError {
            code,
            message: String::new(),
        }
        .into()
    }
}

/// docker's `reportError` for run/create: `berth: <msg>` and, for errors
/// of the command line, a pointer to the help; exit status 125 unless given.
pub fn report(command: &str, message: &str, with_help: bool, code: i32) -> anyhow::Error {
    let mut m = format!("berth: {}", message.trim_end());
    if with_help {
        m.push_str(&format!(
            "\n\nRun 'berth {command} --help' for more information"
        ));
    }
    StatusError::new(code, m)
}

/// What to print and which code to exit with.
pub fn render(err: &anyhow::Error) -> (String, i32) {
    if let Some(s) = err.downcast_ref::<StatusError>() {
        return (s.message.clone(), s.code);
    }
    if let Some(u) = err.downcast_ref::<UsageError>() {
        return (u.to_string(), u.status());
    }
    if let Some(c) = err.downcast_ref::<ClientError>() {
        return (c.to_string(), 1);
    }
    // anyhow chains: outer context first, then the causes
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    (text, 1)
}

/// True for an error that is only a closed stdout (`berth ps | head -1`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
