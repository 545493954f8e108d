//! Finding and creating paths inside a container's rootfs without ever
//! leaving it: every lookup goes through openat2(RESOLVE_IN_ROOT) from the
//! rootfs directory fd, so `..` and symlinks (absolute or relative) resolve
//! as if the rootfs were `/`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::sys::open_in_root;

/// What to create when the path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens `path` (absolute, container view) as an O_PATH fd, creating missing
/// directories on the way and the last component as `kind`.
pub fn ensure(root: BorrowedFd<'_>, path: &Path, kind: Kind) -> nix::Result<OwnedFd> {
    ensure_depth(root, &normalize(path), kind, 0)
}

fn ensure_depth(root: BorrowedFd<'_>, path: &Path, kind: Kind, depth: u32) -> nix::Result<OwnedFd> {
    if depth > 40 {
        return Err(Errno::ELOOP);
    }
    match open_in_root(root, path, OFlag::O_PATH, Mode::empty()) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    let Some(name) = path.file_name() else { return Err(Errno::EINVAL) };
    let pfd = ensure_depth(root, parent, Kind::Dir, depth + 1)?;
    let made = match kind {
        Kind::Dir => nix::sys::stat::mkdirat(pfd.as_fd(), name, Mode::from_bits_truncate(0o755)),
        Kind::File => nix::fcntl::openat(
            pfd.as_fd(),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
    };
    match made {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            // a dangling symlink: create what it points to, inside the root
            if let Ok(target) = nix::fcntl::readlinkat(pfd.as_fd(), name) {
                let t = PathBuf::from(target);
                let next = if t.is_absolute() { t } else { parent.join(t) };
                return ensure_depth(root, &normalize(&next), kind, depth + 1);
            }
        }
        Err(e) => return Err(e),
    }
    open_in_root(root, path, OFlag::O_PATH, Mode::empty())
}

/// Opens a path that must not contain any symlink (for /proc and /sys
/// mount targets, which an image could otherwise redirect).
pub fn open_no_symlinks(root: BorrowedFd<'_>, path: &Path) -> nix::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(root, rel, how)
}

/// Lexically normalises an absolute path (`.` and `..` removed, never above `/`).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_never_goes_above_root() {
        assert_eq!(normalize(Path::new("/a/../../b/./c")), PathBuf::from("/b/c"));
        assert_eq!(normalize(Path::new("../../etc")), PathBuf::from("/etc"));
    }

    #[test]
    fn ensure_creates_inside_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // an absolute symlink that would point outside on the host
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        let root = nix::fcntl::open(dir.path(), OFlag::O_DIRECTORY | OFlag::O_PATH, Mode::empty()).unwrap();
        ensure(root.as_fd(), Path::new("/evil/sub/file"), Kind::File).unwrap();
        // it was created inside the rootfs, following the link as the container would see it
        let inside = dir.path().join(outside.path().strip_prefix("/").unwrap()).join("sub/file");
        assert!(inside.exists(), "{inside:?}");
        assert!(!outside.path().join("sub").exists());
    }

    #[test]
    fn dotdot_chains_stay_in_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = nix::fcntl::open(dir.path(), OFlag::O_DIRECTORY | OFlag::O_PATH, Mode::empty()).unwrap();
        ensure(root.as_fd(), Path::new("/../../../tmp-berth-escape"), Kind::Dir).unwrap();
        assert!(dir.path().join("tmp-berth-escape").is_dir());
        assert!(!Path::new("/tmp-berth-escape").exists());
    }
}
