//! The engine's one error type and its coarse [`ErrorKind`], which every API
//! maps from: Docker HTTP status codes today, gRPC codes for the CRI later.
//!
//! | kind | HTTP | gRPC |
//! |---|---|---|
//! | NotFound | 404 | NOT_FOUND |
//! | Conflict | 409 | ALREADY_EXISTS |
//! | InvalidArgument | 400 | INVALID_ARGUMENT |
//! | FailedPrecondition | 409 | FAILED_PRECONDITION |
//! | NotModified | 304 | (ok) |
//! | Unavailable | 503 | UNAVAILABLE |
//! | Internal | 500 | INTERNAL |
//!
//! Messages are the text users see. Where docker's wording is something
//! scripts match on (`No such container: x`, the name conflict text, the
//! exec failure texts), it is kept verbatim, capital letters included.

use std::path::PathBuf;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    /// Already exists / in use by another object (names, ids).
    Conflict,
    InvalidArgument,
    /// The object is in the wrong state for the operation (e.g. removing a
    /// running container without force, exec in a stopped container).
    FailedPrecondition,
    /// Nothing to do (start of a running container, stop of a stopped one).
    NotModified,
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// The Docker Engine API's HTTP status for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::FailedPrecondition => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::NotModified => 304,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the container process could not be started; decides docker's exit
/// code for `docker run` (126/127) and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StartFailure {
    /// The command was not found (exit code 127).
    NotFound,
    /// The command was found but could not be run: permission denied, a
    /// directory, a bad interpreter (exit code 126).
    CannotInvoke,
    /// Anything else the runtime refused (exit code 125 at the CLI).
    Other,
}

impl StartFailure {
    /// Classifies the runtime's error text as dockerd does.
    pub fn classify(msg: &str) -> StartFailure {
        let m = msg.to_ascii_lowercase();
        if m.contains("executable file not found") || m.contains("no such file or directory") || m.contains("system cannot find the file") {
            StartFailure::NotFound
        } else if m.contains("permission denied") || m.contains("is a directory") || m.contains("exec format error") || m.contains("not a directory") {
            StartFailure::CannotInvoke
        } else {
            StartFailure::Other
        }
    }

    /// The exit code docker records for a container that failed this way.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::CannotInvoke => 126,
            StartFailure::Other => 128,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker's text; scripts match on it.
    #[error("No such container: {0}")]
    NoSuchContainer(String),

    #[error("No such exec instance: {0}")]
    NoSuchExec(String),

    #[error("No such image: {0}")]
    NoSuchImage(String),

    #[error("get {0}: no such volume")]
    NoSuchVolume(String),

    /// A path inside a container (docker's `Could not find the file ...`).
    #[error("{0}")]
    NoSuchPath(String),

    #[error("{0}")]
    NoSuchNetwork(String),

    /// Docker's text for a taken name.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },

    #[error("{0}")]
    Conflict(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An option berth does not implement yet: refused, never ignored.
    #[error("not supported yet: {0}")]
    NotSupported(String),

    /// Wrong state for the operation; the message is the whole text.
    #[error("{0}")]
    FailedPrecondition(String),

    /// Nothing to do (start of a running container...).
    #[error("{0}")]
    NotModified(String),

    /// The runtime could not start the container's process. The message is
    /// docker's: `failed to create task for container: ... exec: "foo":
    /// executable file not found in $PATH: unknown`.
    #[error("failed to create task for container: {message}: unknown")]
    StartFailed { message: String, failure: StartFailure },

    #[error("{what} is unavailable: {detail}")]
    Unavailable { what: String, detail: String },

    #[error("{0}")]
    Internal(String),

    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("metadata database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: BoxError,
    },

    /// An error of the image store; its own kind is kept.
    #[error(transparent)]
    Image(Box<berth_image::Error>),

    #[error("snapshot {key}: {source}")]
    Snapshot {
        key: String,
        #[source]
        source: Box<berth_snapshots::Error>,
    },

    #[error("cgroups of container {id}: {source}")]
    Cgroups {
        id: String,
        #[source]
        source: Box<berth_cgroups::Error>,
    },

    #[error("runtime {runtime} {verb} for container {id} failed: {detail}")]
    Runtime { runtime: String, verb: String, id: String, detail: String },

    #[error("shim of container {id}: {detail}")]
    Shim { id: String, detail: String },
}

impl From<berth_image::Error> for Error {
    fn from(e: berth_image::Error) -> Error {
        Error::Image(Box::new(e))
    }
}

impl Error {
    /// The coarse kind, for status-code mapping.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            NoSuchContainer(_) | NoSuchExec(_) | NoSuchImage(_) | NoSuchVolume(_) | NoSuchNetwork(_) | NoSuchPath(_) => ErrorKind::NotFound,
            NameInUse { .. } | Conflict(_) => ErrorKind::Conflict,
            InvalidArgument(_) | NotSupported(_) => ErrorKind::InvalidArgument,
            FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            NotModified(_) => ErrorKind::NotModified,
            Unavailable { .. } => ErrorKind::Unavailable,
            StartFailed { .. } | Internal(_) | Io { .. } | Db { .. } | Snapshot { .. } | Cgroups { .. } | Runtime { .. } | Shim { .. } => {
                ErrorKind::Internal
            }
            Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_image::ErrorKind::AlreadyExists => ErrorKind::Conflict,
                berth_image::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                berth_image::ErrorKind::FailedPrecondition => ErrorKind::FailedPrecondition,
                berth_image::ErrorKind::Unavailable => ErrorKind::Unavailable,
                berth_image::ErrorKind::Unauthorized => ErrorKind::FailedPrecondition,
                berth_image::ErrorKind::Internal => ErrorKind::Internal,
            },
        }
    }

    /// For a failed start: what docker's CLI turns into exit code 126/127.
    pub fn start_failure(&self) -> Option<StartFailure> {
        match self {
            Error::StartFailed { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn db<E: Into<BoxError>>(path: impl Into<PathBuf>) -> impl FnOnce(E) -> Error {
        let path = path.into();
        move |source| Error::Db { path, source: source.into() }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn unsupported(msg: impl Into<String>) -> Error {
        Error::NotSupported(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_texts_and_kinds() {
        let e = Error::NoSuchContainer("x".into());
        assert_eq!(e.to_string(), "No such container: x");
        assert_eq!(e.kind().http_status(), 404);
        let e = Error::NameInUse { name: "web".into(), id: "abc".into() };
        assert_eq!(
            e.to_string(),
            "Conflict. The container name \"/web\" is already in use by container \"abc\". You have to remove (or rename) that container to be able to reuse that name."
        );
        assert_eq!(e.kind().http_status(), 409);
        assert_eq!(Error::unsupported("--foo").to_string(), "not supported yet: --foo");
        assert_eq!(Error::NotModified("x".into()).kind().http_status(), 304);
    }

    #[test]
    fn start_failures_map_to_docker_exit_codes() {
        let nf = StartFailure::classify("exec: \"foo\": executable file not found in $PATH");
        assert_eq!((nf, nf.exit_code()), (StartFailure::NotFound, 127));
        let nf = StartFailure::classify("exec: \"/nope\": stat /nope: no such file or directory");
        assert_eq!(nf, StartFailure::NotFound);
        let ci = StartFailure::classify("exec: \"/etc\": is a directory");
        assert_eq!((ci, ci.exit_code()), (StartFailure::CannotInvoke, 126));
        assert_eq!(StartFailure::classify("exec: \"/etc/passwd\": permission denied"), StartFailure::CannotInvoke);
        assert_eq!(StartFailure::classify("writing memory.max: invalid argument"), StartFailure::Other);
    }
}
