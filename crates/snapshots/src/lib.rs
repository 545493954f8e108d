//! berth-snapshots: overlayfs snapshots keyed by chain id, and safe
//! application of OCI/Docker layer tars into them.
//!
//! This crate owns everything below `<root>` (by default
//! `/var/lib/berth/snapshots`): unpacked layers, container root filesystems
//! (active snapshots), their metadata, and the unpacking of layer tar streams.
//! It does not fetch, verify or decompress anything (that is `berth-image`),
//! and it does not run containers.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), berth_snapshots::Error> {
//! use berth_snapshots::Snapshotter;
//! # let tar_stream = std::io::empty();
//! let s = Snapshotter::open("/var/lib/berth/snapshots".as_ref())?;
//! // one layer: unpack into a private dir, then publish it atomically
//! let w = s.prepare_layer(None)?;
//! Snapshotter::apply_tar(&w, tar_stream)?;      // decompressed tar
//! s.commit(w, "sha256:<chain id of layer 1>")?;
//! // a container root file system on top of it
//! let mounts = s.prepare_active("ctr-1", Some("sha256:<chain id of layer 1>"), false)?;
//! s.mount("ctr-1", "/run/ctr-1/rootfs".as_ref())?;  // or mount `mounts` yourself
//! # let _ = mounts; Ok(()) }
//! ```
//!
//! * Layers of one image can be unpacked concurrently: each
//!   [`Snapshotter::prepare_layer`] gets its own directory and only names its
//!   parent's chain id; the parent must be committed by the time the child
//!   is (commit in order). Parent directories a tar lacks are created, then
//!   given their metadata from the parent chain at commit, as containerd does.
//! * [`Snapshotter::commit`] returns [`Error::AlreadyExists`] when another
//!   pull committed the same chain id first; treat it as success.
//!
//! # Safety of layer application
//!
//! The `tar` crate is used as a parser only. Every write goes through a
//! directory fd of the layer being unpacked; parents are resolved with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, and the
//! last component is created with `O_EXCL`/`O_NOFOLLOW` or an `*at` call that
//! does not follow symlinks, so no entry (`..`, absolute names, symlinks
//! pointing out, hardlinks to outside) can touch anything outside the layer.
//! Entries whose `..` climbs above the root and hardlinks whose target is not
//! in the layer are rejected with [`Error::InvalidEntry`] naming the entry;
//! a leading `/` is dropped as docker does.
//!
//! # On disk
//!
//! ```text
//! <root>/lock                 flock for metadata changes (commit, prepare, remove, cleanup)
//! <root>/ingest/<tmp>/fs      layers and snapshots being made (flocked while in use)
//! <root>/snapshots/<id>/fs    content: layer files, or the upper dir of an active snapshot
//! <root>/snapshots/<id>/work  overlay workdir (active snapshots)
//! <root>/snapshots/<id>/meta.json   name, parent, kind, parent chain ids
//! <root>/names/<name>         symlink to the id; its existence is the commit point
//! ```
//!
//! Short numeric ids keep overlay `lowerdir` options short; [`mount_all`]
//! uses the new mount API with one `lowerdir+` per layer, so there is no
//! page-size limit on the number of layers.
//!
//! # Dependencies
//!
//! * `rustix`: safe wrappers for `openat2`, `*at` calls, xattrs, `syncfs`,
//!   `renameat2` and the new mount API (`fsopen`/`fsconfig`/`fsmount`), which
//!   nix 0.32 lacks in part.
//! * `tar`: a well-kept tar/PAX/GNU parser (long names, PAX xattrs, sparse);
//!   only its parser and header writer are used, never its unpacker.
//! * `serde`/`serde_json`: the small per-snapshot metadata file.

mod apply;
mod diff;
mod error;
mod export;
mod layer;
mod lower;
mod meta;
mod mount;
pub mod path;
mod snapshotter;
mod sys;
mod tarwrite;
pub mod whiteout;

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use error::Error;
pub use layer::LayerWriter;
pub use mount::{Mount, mount_all, unmount};
pub use snapshotter::Snapshotter;
pub use tarwrite::TarStream;

/// What a snapshot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An unpacked, immutable layer, named by its chain id.
    Committed,
    /// A writable snapshot (container root file system), named by a key.
    Active,
    /// A read-only view of a committed chain, named by a key.
    View,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Committed => "committed",
            Kind::Active => "active",
            Kind::View => "a view",
        })
    }
}

/// What [`Snapshotter::stat`] and [`Snapshotter::list`] tell about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Chain id (committed) or key (active, view).
    pub name: String,
    /// Name of the parent snapshot, `None` for a base layer.
    pub parent: Option<String>,
    pub kind: Kind,
    pub created: SystemTime,
    /// The directory holding this snapshot's own files (the overlay upper
    /// dir for an active snapshot).
    pub path: PathBuf,
    /// Number of snapshots below this one (0 for a base layer).
    pub depth: usize,
}

/// Disk use of one snapshot's own files (not its parents).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of allocated blocks, each inode counted once.
    pub size: u64,
    /// Number of inodes (files, dirs, links, whiteouts).
    pub inodes: u64,
}

/// What [`Snapshotter::apply_tar`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Tar entries read (excluding PAX/GNU extension headers).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub devices: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
}

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Absolute path inside the container, e.g. `/etc/hosts`.
    pub path: String,
    pub kind: ChangeKind,
}

/// Docker's change kinds (0 modified, 1 added, 2 deleted in the Engine API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    /// The Engine API's numeric `Kind`.
    pub fn api_code(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }

    /// `docker diff`'s letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}
