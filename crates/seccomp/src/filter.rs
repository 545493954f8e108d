//! A compiled filter and the one syscall that installs it.

use std::fmt;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::error::Error;

/// A seccomp filter compiled to a classic BPF program, ready to be installed.
///
/// Compile it with [`crate::compile`] in the runtime before forking; the forked
/// init then calls [`Filter::install`], which is a single seccomp(2) call: no
/// allocation, no lock, no libseccomp, so it is safe between fork and execve
/// even when the parent had threads.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
}

impl Filter {
    pub(crate) fn new(program: Vec<libc::sock_filter>, flags: libc::c_ulong, notify: bool) -> Self {
        Filter { program, flags, notify }
    }

    /// True when a rule uses SCMP_ACT_NOTIFY: [`Filter::install`] then returns
    /// the notify fd, which the runtime must hand to `listenerPath` with
    /// [`crate::send_to_listener`].
    pub fn needs_notify_fd(&self) -> bool {
        self.notify
    }

    /// The BPF program, one `sock_filter` per instruction.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The flags passed to seccomp(2) (`SECCOMP_FILTER_FLAG_*`).
    pub fn flags(&self) -> u64 {
        // c_ulong is u64 on every 64-bit Linux; widen on 32-bit ones
        #[allow(clippy::useless_conversion)]
        u64::from(self.flags)
    }

    /// Installs the filter on the calling thread (on every thread of the
    /// process with SECCOMP_FILTER_FLAG_TSYNC).
    ///
    /// The kernel requires no_new_privs or CAP_SYS_ADMIN in the thread's user
    /// namespace; without either this fails with a load error (EACCES).
    /// Returns the notify fd (close-on-exec) when [`Filter::needs_notify_fd`].
    pub fn install(&self) -> Result<Option<OwnedFd>, Error> {
        let prog = libc::sock_fprog {
            // compile() refuses programs longer than BPF_MAXINSNS (4096)
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `self.program`, which holds `len` valid
        // instructions and outlives the call; the kernel copies the program and
        // never writes through the pointer.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(Error::Load { flags: self.flags(), errno: Errno::last() });
        }
        if self.notify {
            let fd = i32::try_from(ret).map_err(|_| Error::Load { flags: self.flags(), errno: Errno::EBADF })?;
            // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a
            // new file descriptor that nothing else owns.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        if ret > 0 {
            // TSYNC without NEW_LISTENER reports the thread it could not sync.
            return Err(Error::Tsync { tid: ret });
        }
        Ok(None)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .finish()
    }
}

/// Whether the kernel knows the SECCOMP_RET_* action `action`.
pub(crate) fn kernel_action_available(action: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through the pointer, which
    // points at a live local.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_GET_ACTION_AVAIL, 0 as libc::c_uint, &action as *const u32)
    };
    ret == 0
}

/// Whether the kernel knows the seccomp(2) filter flag bits `flags`.
pub(crate) fn kernel_flags_available(flags: libc::c_ulong) -> bool {
    // A NULL program makes a known flag set fail with EFAULT when the kernel
    // copies the program, before anything is installed; unknown flags fail
    // earlier with EINVAL. libseccomp probes the same way.
    // SAFETY: the kernel validates the flags, then faults on the NULL program
    // pointer without installing anything.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && Errno::last() == Errno::EFAULT
}
