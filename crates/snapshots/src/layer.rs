//! A layer being unpacked: a private directory under `ingest/`, published
//! by [`crate::Snapshotter::commit`] or removed when dropped.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Directories an apply created because the tar lacked them: path -> inode.
pub(crate) type ImplicitDirs = HashMap<Vec<u8>, u64>;

/// Who we are when creating files, to skip `chown`/`chmod` calls that
/// creation already made right.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    pub euid: u32,
    pub egid: u32,
    /// Permission bits the umask removes at creation; 0o777 (always fix the
    /// mode) when it could not be read.
    pub umask: u32,
}

impl Ids {
    pub fn current() -> Self {
        Ids {
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
            umask: crate::sys::current_umask().unwrap_or(0o777),
        }
    }
}

/// A fresh private directory to unpack one layer into, from
/// [`crate::Snapshotter::prepare_layer`]. Apply tars with
/// [`crate::Snapshotter::apply_tar`], publish with
/// [`crate::Snapshotter::commit`]; dropping it without committing removes
/// everything written. While it exists its directory is `flock`ed, so
/// [`crate::Snapshotter::cleanup`] (even in another process) leaves it alone.
#[derive(Debug)]
pub struct LayerWriter {
    /// Name of the directory under `ingest/`.
    pub(crate) tmp_name: String,
    /// `ingest/<tmp>`.
    pub(crate) dir: PathBuf,
    /// `ingest/<tmp>/fs`.
    pub(crate) fs_path: PathBuf,
    /// Holds the flock on `ingest/<tmp>` for as long as the writer lives.
    pub(crate) _lock: OwnedFd,
    pub(crate) fs_fd: OwnedFd,
    /// Parent chain id; it need not be committed before commit time, so
    /// the layers of an image can be unpacked concurrently.
    pub(crate) parent: Option<String>,
    /// Implicitly created parent directories, fixed up at commit.
    pub(crate) implicit: Mutex<ImplicitDirs>,
    pub(crate) ids: Ids,
    pub(crate) committed: bool,
}

impl LayerWriter {
    /// The directory the layer's files go to (not yet visible to anyone).
    pub fn path(&self) -> &Path {
        &self.fs_path
    }

    /// The parent chain id this layer goes on top of.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    pub(crate) fn implicit_dirs(&self) -> MutexGuard<'_, ImplicitDirs> {
        // a panic while holding it leaves a plain map behind: still usable
        self.implicit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Err(e) = crate::sys::remove_path(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing an abandoned layer directory failed; cleanup() will retry");
        }
    }
}
