//! Thin wrappers around the system calls that neither `nix` nor `libc` wrap
//! the way this crate needs them, plus small fd and file helpers.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// `MOUNT_ATTR_*` flags of mount_setattr(2) (linux/mount.h).
pub mod mount_attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// Opens `path` below the directory `root` with every component resolved as
/// if `root` were `/`: `..` and absolute symlinks cannot leave it, and magic
/// links (`/proc/self/fd/N`) are refused. This is how mount destinations and
/// device paths are resolved inside a container's rootfs.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(root, rel, how)
}

/// The `/proc/self/fd/N` path of an fd: mounting onto it targets exactly the
/// file the fd refers to, whatever happens to path names meanwhile.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Marks every fd from `first` upwards close-on-exec (CVE-2024-21626: nothing
/// the runtime inherited or opened may reach the container process).
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range only changes fd flags; no memory is involved.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    Errno::result(r).map(drop)
}

/// Closes every fd from `first` upwards.
pub fn close_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range only closes descriptors; callers own everything above `first`.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    Errno::result(r).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` refers to (recursively when asked).
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, set: u64, clr: u64) -> nix::Result<()> {
    setattr(fd, recursive, MountAttr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd: 0 })
}

fn setattr(fd: BorrowedFd<'_>, recursive: bool, attr: MountAttr) -> nix::Result<()> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a valid mount_attr that lives across the call, its size is passed,
    // and the empty path string is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// ioprio_set(2) for the calling process.
pub fn ioprio_set(class: u32, level: u32) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let prio = (class << 13) | level;
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio as libc::c_int) };
    Errno::result(r).map(drop)
}

/// `struct sched_attr` of sched_setattr(2).
#[repr(C)]
#[derive(Default)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// sched_setattr(2) for the calling thread.
pub fn sched_setattr(attr: &mut SchedAttr) -> nix::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a properly sized, initialised sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *mut SchedAttr, 0u32) };
    Errno::result(r).map(drop)
}

/// Raises `cap` in the ambient set.
pub fn ambient_raise(cap: u32) -> nix::Result<()> {
    // SAFETY: prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap as libc::c_ulong, 0, 0) };
    Errno::result(r).map(drop)
}

/// The filesystem magic of what `fd` refers to.
pub fn fs_magic(fd: BorrowedFd<'_>) -> nix::Result<i64> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    Ok(st.filesystem_type().0 as i64)
}

pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub const SYSFS_MAGIC: i64 = 0x6265_6572;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Writes a whole small file (procfs/cgroupfs style: one write call).
pub fn write_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(data)
}

/// Duplicates `fd` to a number at or above `min`, close-on-exec, so that
/// internal descriptors never collide with fds a caller asked to preserve.
pub fn dup_above(fd: OwnedFd, min: RawFd) -> nix::Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    let new = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A C string from a Rust string, rejecting interior NULs with a message.
pub fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

/// Process start time (field 22 of /proc/PID/stat, in clock ticks since
/// boot). Together with the pid it identifies a process across pid reuse.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name may contain spaces and parentheses: skip past the last ')'
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3 (state); start time is field 22
    fields.nth(22 - 4).and_then(|s| s.parse().ok())
}

/// Makes `fd` inheritable across exec.
pub fn clear_cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: the caller promises `fd` is open for the duration of the call.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    nix::fcntl::fcntl(b, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_known() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert!(process_start_time(i32::MAX).is_none());
    }

    #[test]
    fn open_in_root_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/inside"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("up")).unwrap();
        let root = nix::fcntl::open(dir.path(), OFlag::O_DIRECTORY | OFlag::O_PATH, Mode::empty()).unwrap();
        // an absolute symlink resolves inside the root
        open_in_root(root.as_fd(), Path::new("/link/inside"), OFlag::O_RDONLY, Mode::empty()).unwrap();
        // and so does a ../ chain: the host's /etc/hostname is not reachable
        let e = open_in_root(root.as_fd(), Path::new("up/hostname"), OFlag::O_RDONLY, Mode::empty()).unwrap_err();
        assert_eq!(e, Errno::ENOENT);
    }
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount (tree,
/// when `recursive`) at `path`, not yet attached anywhere.
pub fn open_tree_clone(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | if recursive { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    let fd = Errno::result(r)? as RawFd;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// move_mount(2) of the detached mount `from` onto the file or directory `to`.
pub fn move_mount_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are empty NUL-terminated strings and both fds are valid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

