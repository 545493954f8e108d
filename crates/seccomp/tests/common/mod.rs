//! Helpers for the kernel-enforcement tests: fork a child that installs a
//! filter and reports what its syscalls returned through its exit status.
//!
//! Everything a child does after fork must be async-signal-safe (the test
//! harness is multi-threaded): raw syscalls on data prepared before the fork,
//! no allocation, no locks. [`Filter::install`] is built for exactly that.

#![allow(dead_code)]

use std::ffi::CString;

use berth_seccomp::{Filter, compile, parse_oci_profile};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// A forked child that is killed and reaped if the test fails before waiting
/// for it, so no process outlives its test.
pub struct Child {
    pid: Pid,
    reaped: bool,
}

impl Child {
    /// Forks; the child runs `f` and `_exit`s with what it returns.
    /// `f` must only make async-signal-safe calls.
    pub fn spawn(f: impl FnOnce() -> i32) -> Child {
        // SAFETY: the child only runs `f`, which by contract makes
        // async-signal-safe calls only, then _exit()s without unwinding.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = f();
                // SAFETY: _exit never returns and runs no destructors or atexit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Child { pid: child, reaped: false },
        }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    pub fn wait(mut self) -> WaitStatus {
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        status
    }

    /// Waits and returns the exit code, failing the test if the child was killed.
    pub fn exit_code(self) -> i32 {
        match self.wait() {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child did not exit normally: {other:?}"),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Compiles a profile written as OCI JSON.
pub fn filter(profile: serde_json::Value) -> Filter {
    compile(&parse_oci_profile(&profile).expect("valid profile")).expect("profile compiles")
}

/// errno of a raw syscall's result, 0 on success.
pub fn errno_of(ret: libc::c_long) -> i32 {
    if ret == -1 { nix::errno::Errno::last_raw() } else { 0 }
}

/// A raw syscall whose arguments are plain integers; its errno, 0 on success.
pub fn sys(nr: libc::c_long, args: &[u64]) -> i32 {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    // SAFETY: callers pass integers only (flags, ids, NULL): the kernel
    // validates them and touches no memory of ours.
    errno_of(unsafe { libc::syscall(nr, a(0), a(1), a(2), a(3), a(4), a(5)) })
}

/// Installs `filter` in a child, then runs `after`; the child's exit code is
/// what `after` returns, or 100 + errno if the install failed.
pub fn run_filtered(filter: &Filter, after: impl FnOnce() -> i32) -> i32 {
    Child::spawn(|| {
        no_core_dumps();
        match filter.install() {
            Ok(_) => after(),
            Err(berth_seccomp::Error::Load { errno, .. }) => 100 + errno as i32,
            Err(_) => 99,
        }
    })
    .exit_code()
}

/// A killed child must not leave a core file behind.
pub fn no_core_dumps() {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: setrlimit reads the struct, which lives on the stack.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
}

/// mkdir(2) as a raw syscall (glibc may call mkdirat instead).
pub fn sys_mkdir(path: &CString) -> i32 {
    // SAFETY: path is a valid NUL-terminated string that outlives the call.
    errno_of(unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o755) })
}

pub fn cstring(p: &std::path::Path) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in path")
}
