//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// What went wrong in a snapshot or layer operation.
///
/// Messages are lower-case and name what failed and on what; the `#[source]`
/// carries the cause and is not repeated inline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No snapshot (committed layer or active snapshot) has this name.
    #[error("snapshot {name:?} not found")]
    NotFound { name: String },

    /// A snapshot of this name exists already. For a layer commit this is
    /// usually benign: another pull unpacked the same chain id first.
    #[error("snapshot {name:?} already exists")]
    AlreadyExists { name: String },

    /// The snapshot is still needed: it is the parent of another snapshot, or
    /// it is mounted.
    #[error("snapshot {name:?} is in use: {reason}")]
    InUse { name: String, reason: String },

    /// A snapshot name the store cannot hold.
    #[error("invalid snapshot name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    /// The operation needs another kind of snapshot (e.g. a layer parent must
    /// be committed, `diff` needs an active snapshot).
    #[error("snapshot {name:?} is {actual}, {expected} needed")]
    WrongKind {
        name: String,
        actual: crate::Kind,
        expected: &'static str,
    },

    /// A layer entry that is malformed or hostile (escapes the layer, links
    /// outside it, an overlay-private xattr, ...). Nothing of it was written.
    #[error("layer entry {entry:?}: {reason}")]
    InvalidEntry { entry: String, reason: String },

    /// A system call failed while applying or reading one layer entry.
    #[error("{op} layer entry {entry:?}")]
    Entry {
        op: &'static str,
        entry: String,
        #[source]
        source: io::Error,
    },

    /// The tar stream itself could not be read or parsed.
    #[error("reading layer tar")]
    Tar {
        #[source]
        source: io::Error,
    },

    /// A file-system operation on the store failed.
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A snapshot's metadata file is unreadable.
    #[error("parsing snapshot metadata {}", path.display())]
    Metadata {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// Something this crate does not do yet; the message says what.
    #[error("not supported yet: {0}")]
    NotSupported(String),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: impl Into<io::Error>,
    ) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: source.into(),
        }
    }

    pub(crate) fn entry(op: &'static str, entry: &str, source: impl Into<io::Error>) -> Self {
        Error::Entry {
            op,
            entry: entry.to_owned(),
            source: source.into(),
        }
    }

    pub(crate) fn invalid(entry: &str, reason: impl Into<String>) -> Self {
        Error::InvalidEntry {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }

    /// True when the error means "no such snapshot".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when the error means "a snapshot of that name exists already".
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists { .. })
    }
}
