//! OCI images for berth: references, the registry client, the content store,
//! image metadata, and the streaming pull pipeline that unpacks layers into
//! `berth-snapshots`.
//!
//! What it owns: everything between a reference string and committed layer
//! snapshots plus image records — resolving, authenticating, downloading,
//! verifying, storing blobs, decompressing, and handing tar streams to the
//! snapshotter; push, tag, remove, save/load, import, garbage collection.
//! What it must not touch: how a tar stream becomes files (whiteouts, path
//! safety, xattrs) — that is `berth-snapshots`' job — and containers.
//!
//! Entry point: [`ImageStore`] (`open`, async `pull`/`push`/`load`/`import`/
//! `remove`/`gc`/`commit_container`, and `list`, `get`, `tag`, `save`,
//! `config`, `prepare_rootfs`, `remove_rootfs`). Every error is an [`Error`]
//! with a [`ErrorKind`] for HTTP/gRPC status mapping. See `docs/images.md`.
//!
//! Why each dependency earns its place:
//! - `tokio`, `hyper` 1.x, `hyper-util`, `http-body-util`, `http`, `bytes`:
//!   our own thin distribution-spec client; the pull pipeline needs control of
//!   the byte stream (Range resume, tee into the store while hashing, back
//!   pressure into decompression) that higher-level clients hide.
//! - `rustls` (ring provider) + `hyper-rustls` + `rustls-pki-types`: TLS
//!   without OpenSSL or aws-lc, roots read from the system's ca-certificates.
//! - `redb`: the one embedded metadata database (images, tags, repo digests,
//!   container rootfs keys).
//! - `sha2` + `hex`: digests. `base64`: docker `config.json` credentials.
//! - `flate2` (zlib-rs backend) and `zstd`: layer decompression.
//! - `tar` (as a writer/parser only, never for extraction): building import
//!   and save archives and reading load archives.

pub mod archive;
pub mod config;
pub mod content;
pub mod digest;
pub mod error;
mod local;
pub mod manifest;
pub mod platform;
pub mod progress;
mod pull;
mod push;
pub mod metadata;
pub mod reference;
pub mod registry;
mod store;

pub use archive::ArchiveFormat;
pub use config::{Change, Healthcheck, ImageConfig, ImageConfigFile};
pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use platform::Platform;
pub use progress::{Event, Progress};
pub use pull::chain_ids;
pub use reference::Reference;
pub use registry::{Auth, Credentials, RegistryConfig};
pub use store::{GcStats, Image, ImageStore, Removed, StoreConfig};
