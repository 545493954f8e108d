//! The error type of the container library.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while managing a container. Messages name
/// the field, path or container they are about; the source carries the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json (or a process.json) is missing, malformed or asks for
    /// something invalid; `field` is a JSON path such as `linux.namespaces[2].type`
    #[error("{file}: {field}: {msg}")]
    Config { file: String, field: String, msg: String },

    /// a file-system operation failed on a path
    #[error("{op} {path}")]
    Path {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// a system call failed
    #[error("{what}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },

    /// the container id is not acceptable
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    /// no container with that id exists under the runtime root
    #[error("container {0} does not exist")]
    NotFound(String),

    /// a container with that id exists already
    #[error("container with id {0} already exists")]
    Exists(String),

    /// the operation is not allowed in the container's current status
    #[error("container {id} is {status}: {msg}")]
    InvalidState { id: String, status: String, msg: &'static str },

    /// a hook failed or timed out
    #[error("{kind} hook #{index} ({path}): {msg}")]
    Hook { kind: &'static str, index: usize, path: PathBuf, msg: String },

    /// the container's init or exec process failed while setting itself up;
    /// the message comes from that process
    #[error("{0}")]
    Child(String),

    /// something the spec allows that this runtime does not do yet
    #[error("not supported yet: {0}")]
    Unsupported(String),

    /// a plain message for conditions that have no better variant
    #[error("{0}")]
    Msg(String),

    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),

    #[error(transparent)]
    Seccomp(#[from] berth_seccomp::Error),
}

impl Error {
    /// A failed system call, described by what was being done.
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys { what: what.into(), source }
    }

    /// A failed file-system operation on `path`.
    pub fn path(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Path { op, path: path.into(), source }
    }

    /// An invalid configuration value.
    pub fn config(file: impl Into<String>, field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { file: file.into(), field: field.into(), msg: msg.into() }
    }

    /// The error and its causes on one line, the way a person wants to read
    /// it: `outer: cause: root cause`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(e) = cur {
            let s = e.to_string();
            if !out.ends_with(&s) {
                out.push_str(": ");
                out.push_str(&s);
            }
            cur = e.source();
        }
        out
    }
}

/// Extension to attach "what was being done" to nix results.
pub trait SysContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(what(), e))
    }
}
