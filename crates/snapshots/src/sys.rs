//! Thin helpers over rustix for fd-relative, symlink-safe file operations.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

pub(crate) const S_IFMT: u32 = 0o170000;
pub(crate) const S_IFDIR: u32 = 0o040000;
pub(crate) const S_IFREG: u32 = 0o100000;
pub(crate) const S_IFLNK: u32 = 0o120000;
pub(crate) const S_IFCHR: u32 = 0o020000;
pub(crate) const S_IFBLK: u32 = 0o060000;
pub(crate) const S_IFIFO: u32 = 0o010000;
pub(crate) const S_ISGID: u32 = 0o2000;

pub(crate) fn is_dir(st: &Stat) -> bool {
    st.st_mode & S_IFMT == S_IFDIR
}

/// Opens a directory of a layer, resolving `path` as if the layer root were
/// `/`: `..` and absolute symlinks cannot leave it, magic links are refused.
pub(crate) fn open_dir_in_root(root: BorrowedFd<'_>, path: &[u8]) -> rustix::io::Result<OwnedFd> {
    let p: &[u8] = if path.is_empty() { b"." } else { path };
    rustix::fs::openat2(
        root,
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    )
}

/// Opens `path` below `dir` as an `O_PATH` handle without following any
/// symlink (not even the last component): for reading layers as stored.
pub(crate) fn open_path_nofollow(dir: BorrowedFd<'_>, path: &[u8]) -> rustix::io::Result<OwnedFd> {
    let p: &[u8] = if path.is_empty() { b"." } else { path };
    rustix::fs::openat2(
        dir,
        p,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
    )
}

/// Opens the directory `name` (one component) of `dir` for reading, not
/// following a symlink.
pub(crate) fn open_subdir(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Re-opens an `O_PATH` directory handle for reading (xattrs, readdir).
pub(crate) fn reopen_dir(dir: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<Stat> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// `/proc/self/fd/<dir>/<name>`: a path naming `name` of an open directory,
/// for the calls that have no fd-relative form (`l*xattr`). The last
/// component is not followed by the `l*` calls, so this is as safe as the fd.
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !name.is_empty() {
        p.push(OsStr::from_bytes(name));
    }
    p
}

pub(crate) fn timestamps(secs: i64, nsecs: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: nsecs,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Calls a list-or-get style xattr syscall with a growing buffer.
fn with_buffer(
    mut f: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        match f(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => {
                let need = f(&mut [])?;
                let len = need.max(buf.len() * 2);
                buf.resize(len, 0);
            }
            Err(e) => return Err(e),
        }
    }
}

/// All xattrs of an open file or directory (not `O_PATH`).
pub(crate) fn fd_xattrs(fd: BorrowedFd<'_>) -> rustix::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = match with_buffer(|b| rustix::fs::flistxattr(fd, b)) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        match with_buffer(|b| rustix::fs::fgetxattr(fd, name, b)) {
            Ok(v) => out.push((name.to_vec(), v)),
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// All xattrs of `name` in `dir`, not following a symlink.
pub(crate) fn l_xattrs(
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> rustix::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let path = proc_path(dir, name);
    let names = match with_buffer(|b| rustix::fs::llistxattr(&path, b)) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for xname in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        match with_buffer(|b| rustix::fs::lgetxattr(&path, xname, b)) {
            Ok(v) => out.push((xname.to_vec(), v)),
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether an open directory carries `trusted.overlay.opaque=y`.
pub(crate) fn is_opaque(dir: BorrowedFd<'_>) -> rustix::io::Result<bool> {
    let mut b = [0u8; 4];
    match rustix::fs::fgetxattr(dir, crate::whiteout::OPAQUE_XATTR, &mut b[..]) {
        Ok(n) => Ok(&b[..n] == b"y"),
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) | Err(Errno::RANGE) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes `name` of `dir`, with everything below it if it is a
/// directory, never following symlinks. Neither recursion nor an fd per
/// level: subdirectories are renamed up into `dir` (as `.berth-rm-*`) and
/// emptied one at a time, so a tree nested deeper than any stack or fd
/// limit (a container can make one) is removed all the same. Leftover
/// `.berth-rm-*` names after a crash are for the caller's cleanup.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let st = lstat_at(dir, name)?;
    if !is_dir(&st) {
        return rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
    let mut todo: Vec<Vec<u8>> = vec![name.to_vec()];
    while let Some(d) = todo.pop() {
        let fd = open_subdir(dir, &d)?;
        for n in list_dir(fd.as_fd())? {
            let st = match lstat_at(fd.as_fd(), &n) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e),
            };
            if is_dir(&st) {
                let staged = format!(
                    ".berth-rm-{}-{}",
                    std::process::id(),
                    SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                rustix::fs::renameat(&fd, n.as_slice(), dir, staged.as_str())?;
                todo.push(staged.into_bytes());
            } else {
                rustix::fs::unlinkat(&fd, n.as_slice(), AtFlags::empty())?;
            }
        }
        drop(fd);
        rustix::fs::unlinkat(dir, d.as_slice(), AtFlags::REMOVEDIR)?;
    }
    Ok(())
}

/// [`remove_at`] by path.
pub(crate) fn remove_path(path: &std::path::Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no parent directory",
        ));
    };
    let pfd = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match remove_at(pfd.as_fd(), name.as_bytes()) {
        Err(Errno::NOENT) => Err(std::io::ErrorKind::NotFound.into()),
        r => r.map_err(std::io::Error::from),
    }
}

/// How deep the walks over snapshot trees (diff, changes, export, usage)
/// go: each level holds a directory fd and a stack frame, and a container
/// can nest directories without bound.
pub(crate) const MAX_DEPTH: usize = 256;

pub(crate) fn too_deep(at: &[u8]) -> crate::Error {
    crate::Error::NotSupported(format!(
        "directory nesting deeper than {MAX_DEPTH} levels, at {}",
        crate::path::display(at)
    ))
}

/// Names in an open directory, without `.` and `..`.
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> rustix::io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let d = rustix::fs::Dir::read_from(dir)?;
    for e in d {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

/// The process umask, read without changing it (other threads may be
/// creating files). `None` when /proc does not say.
pub(crate) fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}
