//! The defence against CVE-2019-5736: the container must never be able to
//! open the runtime's own binary for writing through `/proc/<pid>/exe`
//! (for instance by making its entrypoint `#!/proc/self/exe`, or by opening
//! the exe link of a runtime process that joins it for `exec`).
//!
//! Before a command that puts a process into a container, the runtime makes
//! sure that the file it runs from cannot be written through any path the
//! container could reach, and re-executes itself if not:
//!
//! 1. As root, it enters a mount namespace of its own (a slave copy of the
//!    host's), bind-mounts its binary read-only onto itself there and
//!    re-executes through that path. `/proc/<pid>/exe` then names a
//!    read-only mount that exists only in that namespace: opening it for
//!    writing fails with EROFS, and no container can remount it (it is not
//!    in the container's mount namespace). This costs no copy and no memory,
//!    unlike the memfd copy runc 1.1 and youki make (runc 1.2 uses a
//!    read-only overlay for the same reason).
//! 2. Otherwise (rootless, or the binary was deleted), it copies itself into
//!    a sealed memfd with sendfile(2) and re-executes from that.
//!
//! Hooks that the spec runs in the runtime's namespaces go back to the host
//! mount namespace first (see [`host_mount_ns`]), so mounts they make are
//! seen by the host as before.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, OFlag, SealFlag};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::Mode;
use nix::sys::statvfs::FsFlags;

use crate::{Error, Result};

/// Environment variable carrying the fd of the host's mount namespace across
/// the re-exec.
const HOST_MNTNS_ENV: &str = "_BERTH_RUNTIME_HOST_MNTNS";

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

static HOST_MNTNS: std::sync::OnceLock<Option<OwnedFd>> = std::sync::OnceLock::new();

/// The host's mount namespace when the runtime runs in its own (after the
/// read-only re-exec), for hooks that must run in the runtime's namespaces.
pub fn host_mount_ns() -> Option<BorrowedFd<'static>> {
    HOST_MNTNS
        .get_or_init(|| {
            let n: RawFd = std::env::var(HOST_MNTNS_ENV).ok()?.parse().ok()?;
            // SAFETY: fstat-like probe below validates the fd; we take ownership of the number
            // we inherited for exactly this purpose.
            let fd = unsafe { OwnedFd::from_raw_fd(n) };
            // keep it away from containers and later children
            nix::fcntl::fcntl(fd.as_fd(), FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).ok()?;
            Some(fd)
        })
        .as_ref()
        .map(|f| f.as_fd())
}

/// True when the running binary cannot be written through /proc/self/exe:
/// it lives on a read-only mount, or it is a sealed memfd.
pub fn is_protected() -> bool {
    let Ok(fd) = nix::fcntl::open("/proc/self/exe", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) else { return false };
    if nix::sys::statvfs::fstatvfs(fd.as_fd()).is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY)) {
        return true;
    }
    matches!(nix::fcntl::fcntl(fd.as_fd(), FcntlArg::F_GET_SEALS), Ok(s) if SealFlag::from_bits_truncate(s).contains(SEALS))
}

fn args_env(extra: Option<(&str, String)>) -> (Vec<CString>, Vec<CString>) {
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.as_bytes()).ok()).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != HOST_MNTNS_ENV)
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    if let Some((k, v)) = extra {
        if let Ok(c) = CString::new(format!("{k}={v}")) {
            env.push(c);
        }
    }
    (args, env)
}

/// Re-executes the runtime so that its binary is protected, unless it
/// already is. Returns only when no re-exec was needed. `min_fd` is the
/// first fd number the runtime may use for itself (3 + `--preserve-fds`):
/// the descriptor carried across the re-exec is kept above it so it can
/// never be mistaken for one the caller asked to pass to the container.
pub fn ensure_protected(min_fd: RawFd) -> Result<()> {
    if is_protected() {
        // initialise now, while the inherited fd number is still ours
        let _ = host_mount_ns();
        return Ok(());
    }
    if nix::unistd::geteuid().is_root() {
        if let Err(e) = reexec_read_only(min_fd) {
            // fall through to the memfd copy, which needs no privileges
            let _ = e;
        }
    }
    reexec_memfd()
}

fn reexec_read_only(min_fd: RawFd) -> Result<()> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| Error::path("readlink", "/proc/self/exe", e))?;
    if !exe.is_absolute() || exe.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(Error::Msg("runtime binary has no usable path".into()));
    }
    let host = nix::fcntl::open("/proc/self/ns/mnt", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys("open own mount namespace", e))?;
    let host = crate::sys::dup_above(host, min_fd.max(3)).map_err(|e| Error::sys("move mount namespace fd", e))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| Error::sys("unshare mount namespace", e))?;
    let undo = |e: Error| {
        let _ = nix::sched::setns(host.as_fd(), CloneFlags::CLONE_NEWNS);
        e
    };
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| undo(Error::sys("make / a slave", e)))?;
    nix::mount::mount(Some(&exe), &exe, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| undo(Error::sys(format!("bind {}", exe.display()), e)))?;
    let keep = nix::sys::statvfs::statvfs(&exe).map(|s| s.flags()).unwrap_or(FsFlags::empty());
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (a, b) in [(FsFlags::ST_NOSUID, MsFlags::MS_NOSUID), (FsFlags::ST_NODEV, MsFlags::MS_NODEV), (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC)] {
        if keep.contains(a) {
            flags |= b;
        }
    }
    nix::mount::mount(None::<&str>, &exe, None::<&str>, flags, None::<&str>)
        .map_err(|e| undo(Error::sys(format!("make {} read-only", exe.display()), e)))?;
    let (args, env) = args_env(Some((HOST_MNTNS_ENV, host.as_raw_fd().to_string())));
    let path = CString::new(exe.as_os_str().as_bytes()).map_err(|_| undo(Error::Msg("runtime path has a NUL byte".into())))?;
    // the host namespace fd must survive exec (it is made close-on-exec again afterwards)
    let _ = nix::fcntl::fcntl(host.as_fd(), FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()));
    let e = nix::unistd::execve(&path, &args, &env).unwrap_err();
    Err(undo(Error::sys(format!("re-execute {}", PathBuf::from(&exe).display()), e)))
}

fn reexec_memfd() -> Result<()> {
    let exe = nix::fcntl::open("/proc/self/exe", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys("open /proc/self/exe", e))?;
    let size = nix::sys::stat::fstat(exe.as_fd()).map_err(|e| Error::sys("stat /proc/self/exe", e))?.st_size as usize;
    let mem = memfd_create(c"berth-runtime", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .map_err(|e| Error::sys("memfd_create", e))?;
    let mut copied = 0usize;
    while copied < size {
        let n = nix::sys::sendfile::sendfile(mem.as_fd(), exe.as_fd(), None, size - copied)
            .map_err(|e| Error::sys("copy runtime binary into memfd", e))?;
        if n == 0 {
            break;
        }
        copied += n;
    }
    nix::fcntl::fcntl(mem.as_fd(), FcntlArg::F_ADD_SEALS(SEALS)).map_err(|e| Error::sys("seal runtime memfd", e))?;
    let (args, env) = args_env(None);
    let e = nix::unistd::fexecve(mem.as_fd(), &args, &env).unwrap_err();
    Err(Error::sys("re-execute from the sealed memfd", e))
}
