//! The one error type of the crate, with a coarse [`ErrorKind`] the daemon maps
//! onto HTTP and gRPC status codes.

use std::path::PathBuf;

use crate::digest::Digest;

/// What kind of failure an [`Error`] is, for mapping onto API status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    Unavailable,
    Unauthorized,
    Internal,
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: &'static str },

    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: &'static str },

    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform { input: String, reason: &'static str },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("not supported yet: {what}")]
    Unsupported { what: String },

    #[error("image not found: {0}")]
    ImageNotFound(String),

    #[error("blob {digest} not found in the content store")]
    BlobNotFound { digest: Digest },

    #[error("manifest unknown: {reference}")]
    ManifestUnknown { reference: String },

    #[error("blob {digest} of {reference} not found in the registry")]
    BlobUnknown { reference: String, digest: Digest },

    #[error("no manifest for platform {platform} in {reference} (available: {available})")]
    PlatformNotFound { reference: String, platform: String, available: String },

    #[error("digest mismatch for {reference}: expected {expected}, got {actual}")]
    DigestMismatch { reference: String, expected: Digest, actual: Digest },

    #[error("size mismatch for {digest} of {reference}: expected {expected} bytes, got {actual}")]
    SizeMismatch { reference: String, digest: Digest, expected: u64, actual: u64 },

    #[error("{what} of {reference} is too large: {size} bytes, limit {limit}")]
    TooLarge { reference: String, what: &'static str, size: u64, limit: u64 },

    #[error("invalid {what} {digest} of {reference}: {reason}")]
    InvalidContent { reference: String, what: &'static str, digest: String, reason: String },

    #[error("unauthorized: {reference} on {registry}: {detail}")]
    Unauthorized { reference: String, registry: String, detail: String },

    /// A registry refused a login check; the message is docker's
    /// (`login attempt to http://host/v2/ failed with status: 401
    /// Unauthorized`), which clients show as is.
    #[error("{message}")]
    LoginFailed { message: String, status: u16 },

    #[error("registry {registry} answered {status} to {method} {path} for {reference}: {detail}")]
    RegistryStatus { reference: String, registry: String, method: String, path: String, status: u16, detail: String },

    #[error("registry {registry} unreachable for {reference}")]
    Unavailable {
        reference: String,
        registry: String,
        #[source]
        source: BoxError,
    },

    #[error("registry {registry} is not configured as insecure: refusing plain http")]
    InsecureRefused { registry: String },

    #[error("tls setup for registry {registry}: {detail}")]
    Tls { registry: String, detail: String },

    #[error("invalid registry configuration {path}: {detail}")]
    Config { path: PathBuf, detail: String },

    #[error("i/o on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("writing blob {digest} of {reference} to {path}")]
    WriteBlob {
        reference: String,
        digest: Digest,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("metadata database {path}")]
    Db {
        path: PathBuf,
        #[source]
        source: BoxError,
    },

    #[error("snapshot {key}")]
    Snapshot {
        key: String,
        #[source]
        source: BoxError,
    },

    #[error("decompressing layer {digest} of {reference}")]
    Decompress {
        reference: String,
        digest: Digest,
        #[source]
        source: std::io::Error,
    },

    #[error("image {image} is in use: {by}")]
    InUse { image: String, by: String },

    #[error("{0} already exists")]
    AlreadyExists(String),

    #[error("invalid archive entry {entry:?}: {reason}")]
    InvalidArchive { entry: String, reason: String },

    #[error("operation cancelled: {0}")]
    Cancelled(String),
}

impl Error {
    /// The coarse kind, for status-code mapping.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            InvalidReference { .. } | InvalidDigest { .. } | InvalidPlatform { .. } | InvalidArgument(_) | InvalidArchive { .. } => {
                ErrorKind::InvalidArgument
            }
            Unsupported { .. } | InUse { .. } | InsecureRefused { .. } => ErrorKind::FailedPrecondition,
            ImageNotFound(_) | BlobNotFound { .. } | ManifestUnknown { .. } | BlobUnknown { .. } | PlatformNotFound { .. } => {
                ErrorKind::NotFound
            }
            AlreadyExists(_) => ErrorKind::AlreadyExists,
            Unauthorized { .. } => ErrorKind::Unauthorized,
            LoginFailed { status, .. } => match status {
                401 | 403 => ErrorKind::Unauthorized,
                _ => ErrorKind::Unavailable,
            },
            Unavailable { .. } | Cancelled(_) => ErrorKind::Unavailable,
            RegistryStatus { status, .. } => match status {
                401 | 403 => ErrorKind::Unauthorized,
                404 => ErrorKind::NotFound,
                400..=499 => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            },
            DigestMismatch { .. } | SizeMismatch { .. } | TooLarge { .. } | InvalidContent { .. } | Decompress { .. } => {
                ErrorKind::FailedPrecondition
            }
            Tls { .. } | Config { .. } => ErrorKind::InvalidArgument,
            Io { .. } | WriteBlob { .. } | Db { .. } | Snapshot { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn db<E: Into<redb_any::AnyDbError>>(path: impl Into<PathBuf>) -> impl FnOnce(E) -> Error {
        let path = path.into();
        move |source| Error::Db { path, source: source.into().0 }
    }

    /// True if retrying the same request may succeed (connection errors, 5xx).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::RegistryStatus { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// redb has one error type per operation; this folds them into one boxed source.
pub(crate) mod redb_any {
    pub struct AnyDbError(pub super::BoxError);
    macro_rules! from {
        ($($t:ty),*) => {$(
            impl From<$t> for AnyDbError {
                fn from(e: $t) -> Self { AnyDbError(Box::new(e)) }
            }
        )*};
    }
    from!(
        redb::Error,
        redb::DatabaseError,
        redb::TransactionError,
        redb::TableError,
        redb::StorageError,
        redb::CommitError
    );
}
