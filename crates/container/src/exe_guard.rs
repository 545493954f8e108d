//! The defence against CVE-2019-5736: the container must never be able to
//! open the runtime's own binary for writing through `/proc/<pid>/exe`
//! (for instance by making its entrypoint `#!/proc/self/exe`).
//!
//! Before a command that puts a process into a container, the runtime makes
//! sure it runs from a sealed, write-protected memfd copy of itself and
//! re-executes from one if not. The copy is made with sendfile(2), inside
//! the kernel, so it costs no user-space memory and the runtime's resident
//! set is what it would be running from the file.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::Mode;

use crate::{Error, Result};

const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// True when the running binary is a sealed memfd.
pub fn is_sealed() -> bool {
    let Ok(fd) = nix::fcntl::open("/proc/self/exe", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) else { return false };
    matches!(nix::fcntl::fcntl(fd.as_fd(), FcntlArg::F_GET_SEALS), Ok(s) if SealFlag::from_bits_truncate(s).contains(SEALS))
}

/// Re-executes the runtime from a sealed memfd copy unless it already runs
/// from one. Returns only when no re-exec was needed.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
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
    let args: Vec<CString> = std::env::args_os().filter_map(|a| CString::new(a.as_bytes()).ok()).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    let e = nix::unistd::fexecve(mem.as_fd(), &args, &env).unwrap_err();
    let _ = mem.as_raw_fd();
    Err(Error::sys("re-execute from the sealed memfd", e))
}
