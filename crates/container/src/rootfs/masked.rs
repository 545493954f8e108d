//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after pivot_root
//! (so the paths are the container's own and cannot leave its root).

use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statvfs::FsFlags;

use crate::{Error, Result};

/// Hides a path: /dev/null over a file, an empty read-only tmpfs over a
/// directory. Paths that do not exist are skipped, as runc does.
pub fn mask(p: &Path) -> Result<()> {
    match nix::mount::mount(Some("/dev/null"), p, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => nix::mount::mount(Some("tmpfs"), p, Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>)
            .map_err(|e| Error::sys(format!("mask {} (linux.maskedPaths)", p.display()), e)),
        Err(e) => Err(Error::sys(format!("mask {} (linux.maskedPaths)", p.display()), e)),
    }
}

/// Makes a path read-only by binding it onto itself and remounting.
pub fn readonly(p: &Path, userns: bool) -> Result<()> {
    match nix::mount::mount(Some(p), p, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("bind {} (linux.readonlyPaths)", p.display()), e)),
    }
    remount_readonly(p, userns, true)
        .map_err(|e| Error::Msg(format!("make {} read-only (linux.readonlyPaths): {}", p.display(), e.chain())))
}

/// Remounts the bind mount at `p` read-only, keeping the flags the kernel
/// locks for mounts inherited into a user namespace.
pub fn remount_readonly(p: &Path, userns: bool, recursive: bool) -> Result<()> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    let keep = || -> MsFlags {
        let mut f = MsFlags::empty();
        if let Ok(st) = nix::sys::statvfs::statvfs(p) {
            let fl = st.flags();
            for (a, b) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if fl.contains(a) {
                    f |= b;
                }
            }
        }
        f
    };
    // a remount replaces the per-mount flags: keep nosuid, nodev, noexec
    // and the atime mode the mount already has (and which the kernel locks
    // in a user namespace)
    let _ = userns;
    nix::mount::mount(None::<&str>, p, None::<&str>, flags | keep(), None::<&str>)
        .map_err(|e| Error::sys(format!("remount {} read-only", p.display()), e))
}
