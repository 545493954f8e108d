//! The container's init process, from the moment `create` forks it until it
//! executes the user's program. It runs the container-side half of the set-up
//! (namespaces, rootfs, console, identity) in lockstep with the runtime, then
//! blocks in `accept` on the start socket until `start` connects.
//!
//! Nothing here returns on error: the error is sent to the runtime and the
//! process exits.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Gid, Uid};

use super::setup;
use super::sync::{Channel, Msg};
use crate::config::Config;
use crate::namespaces::{self, Plan};
use crate::{Error, Result, hooks, rootfs};

/// Everything the init process needs; built by `create` before it forks.
#[derive(Debug)]
pub struct InitArgs<'a> {
    pub cfg: &'a Config,
    pub plan: &'a Plan,
    pub chan: Channel,
    pub console: Option<OwnedFd>,
    pub start_listener: OwnedFd,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup_mounts: &'a [berth_cgroups::CgroupMount],
    pub seccomp: Option<&'a berth_seccomp::Filter>,
}

/// The child's entry point after fork. Never returns.
pub fn run(a: InitArgs<'_>) -> ! {
    let e = match inner(&a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = a.chan.send(&Msg::Error(e.chain()));
    // SAFETY: _exit is always safe; we must not run the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

/// Makes sure only stdio and the preserved fds survive exec.
pub fn seal_fds(preserve: u32) -> Result<()> {
    crate::sys::cloexec_from(3 + preserve).map_err(|e| Error::sys("mark fds close-on-exec", e))?;
    for fd in 3..3 + preserve as i32 {
        let _ = crate::sys::clear_cloexec(fd);
    }
    Ok(())
}

fn inner(a: &InitArgs<'_>) -> Result<Infallible> {
    let cfg = a.cfg;
    let plan = a.plan;
    let chan = &a.chan;
    let process = cfg.process();

    // /proc/PID of a non-dumpable process is root-only on the host side. A
    // rootless runtime must still write our id maps, so that waits until
    // they are written (runc does the same).
    let non_dumpable = || nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("prctl(PR_SET_DUMPABLE)", e));
    if !plan.new_user {
        non_dumpable()?;
    }
    seal_fds(a.preserve_fds)?;

    if let Some(j) = &plan.join_time {
        namespaces::enter(j)?;
    }
    for j in &plan.joins {
        namespaces::enter(j)?;
    }
    if plan.new_user {
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| Error::sys("unshare user namespace", e))?;
        chan.send(&Msg::UserNs)?;
        chan.expect("id maps", |m| *m == Msg::MapsDone)?;
        non_dumpable()?;
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| Error::sys("become gid 0 in the user namespace (is gid 0 mapped?)", e))?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| Error::sys("become uid 0 in the user namespace (is uid 0 mapped?)", e))?;
        let mut flags = plan.unshare;
        if plan.new_pid {
            flags |= CloneFlags::CLONE_NEWPID;
        }
        nix::sched::unshare(flags).map_err(|e| Error::sys("unshare namespaces", e))?;
        if plan.new_pid {
            // SAFETY: the process is single-threaded; the child only continues this function.
            match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork into the new pid namespace", e))? {
                ForkResult::Parent { child } => {
                    let _ = chan.send(&Msg::Pid(child.as_raw()));
                    // SAFETY: leaving without running destructors shared with the child.
                    unsafe { libc::_exit(0) }
                }
                ForkResult::Child => {}
            }
        }
    } else {
        nix::sched::unshare(plan.unshare).map_err(|e| Error::sys("unshare namespaces", e))?;
    }

    chan.expect("go", |m| *m == Msg::Go)?;
    if plan.new_cgroup {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| Error::sys("unshare cgroup namespace", e))?;
    }
    if let Some(h) = cfg.spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| Error::config("config.json", "hostname", format!("sethostname: {e}")))?;
    }
    if let Some(d) = cfg.spec.domainname.as_deref().filter(|h| !h.is_empty()) {
        // SAFETY: pointer and length of a live byte slice.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        if r < 0 {
            return Err(Error::config("config.json", "domainname", format!("setdomainname: {}", nix::errno::Errno::last())));
        }
    }
    setup::oom_score_adj(process)?;
    if !a.no_new_keyring {
        join_session_keyring()?;
    }

    let new_mnt = plan.unshare.contains(CloneFlags::CLONE_NEWNS);
    let userns = plan.has_user();
    let root_fd = if new_mnt {
        let ctx = rootfs::Context { cfg, userns, cgroupns: plan.new_cgroup, cgroup_mounts: a.cgroup_mounts };
        Some(rootfs::prepare(&ctx)?)
    } else {
        None
    };

    chan.send(&Msg::Hooks)?;
    let state = match chan.expect("hooks", |m| matches!(m, Msg::HooksDone(_)))? {
        Msg::HooksDone(s) => s,
        _ => unreachable!("checked by expect"),
    };
    hooks::run_all("createContainer", hooks::of(&cfg.spec, "createContainer"), state.as_bytes())?;

    if let Some(root) = &root_fd {
        rootfs::pivot(root, cfg, a.no_pivot)?;
    }
    drop(root_fd);
    if process.terminal {
        let sock = a.console.as_ref().ok_or_else(|| Error::Msg("process.terminal is set but there is no console socket".into()))?;
        let size = process.console_size.map(|b| (b.height as u16, b.width as u16));
        super::console::setup(sock.as_fd(), size, new_mnt)?;
    }
    if new_mnt {
        rootfs::finalize(cfg, userns)?;
    }
    setup::rlimits(process)?;
    setup::io_priority(process)?;
    setup::scheduler(process)?;
    setup::personality(cfg)?;

    let nnp = process.no_new_privileges;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    }
    // Without no_new_privs the filter needs CAP_SYS_ADMIN, so it goes in
    // before the capabilities are dropped; with it, as late as possible.
    if !nnp {
        install_seccomp(a.seccomp, chan)?;
    }
    setup::user_and_capabilities(process, userns, setgroups_allowed(userns))?;
    setup::chdir_inside(&process.cwd, "config.json")?;
    let env = setup::environment(process);
    let path = setup::lookup(&process.args[0], &env)?;
    let (argv, envp) = setup::c_args(process, &env)?;
    let cpath = crate::sys::cstring(&path.to_string_lossy()).map_err(Error::Msg)?;
    if nnp {
        install_seccomp(a.seccomp, chan)?;
    }

    chan.send(&Msg::Ready)?;
    // wait for `start`
    let conn = loop {
        match nix::sys::socket::accept4(a.start_listener.as_fd(), nix::sys::socket::SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => break fd,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for start", e)),
        }
    };
    let mut conn = UnixStream::from(conn);
    let started = state.replacen("\"status\":\"creating\"", "\"status\":\"created\"", 1);
    if let Err(e) = hooks::run_all("startContainer", hooks::of(&cfg.spec, "startContainer"), started.as_bytes()) {
        let _ = conn.write_all(e.chain().as_bytes());
        // SAFETY: exiting the container's init after reporting the failure.
        unsafe { libc::_exit(1) }
    }
    setup::reset_signals();
    let e = nix::unistd::execve(&cpath, &argv, &envp).unwrap_err();
    let _ = conn.write_all(format!("exec {}: {e}", path.display()).as_bytes());
    // SAFETY: as above.
    unsafe { libc::_exit(if e == nix::errno::Errno::ENOENT { 127 } else { 126 }) }
}

/// Installs the seccomp filter; with a notify action, hands the listener fd
/// to the runtime, which passes it on to `linux.seccomp.listenerPath`.
pub fn install_seccomp(filter: Option<&berth_seccomp::Filter>, chan: &Channel) -> Result<()> {
    let Some(f) = filter else { return Ok(()) };
    if let Some(fd) = f.install()? {
        chan.send_fd(&Msg::SeccompFd, Some(fd.as_fd()))?;
        chan.expect("seccomp listener", |m| *m == Msg::SeccompDone)?;
    }
    Ok(())
}

fn setgroups_allowed(userns: bool) -> bool {
    !userns || std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true)
}

/// A session keyring of the container's own (runc does the same unless
/// `--no-new-keyring`), so keys do not leak between containers.
fn join_session_keyring() -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a NULL name creates an anonymous session keyring.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, std::ptr::null::<libc::c_char>()) };
    if r < 0 {
        let e = nix::errno::Errno::last();
        if e != nix::errno::Errno::ENOSYS {
            return Err(Error::sys("join a new session keyring", e));
        }
    }
    Ok(())
}
