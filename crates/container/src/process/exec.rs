//! A process started by `exec` in a running container: it joins the init
//! process's namespaces and cgroups, takes on its own process settings and
//! executes. The runtime learns of success when the close-on-exec channel
//! closes without an error message.

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};

use crate::oci::Process;

use super::setup;
use super::sync::{Channel, Msg};
use crate::config::Config;
use crate::namespaces::{self, Plan};
use crate::{Error, Result};

/// Everything the exec'd process needs; built before the fork.
#[derive(Debug)]
pub struct ExecArgs<'a> {
    pub cfg: &'a Config,
    pub process: &'a Process,
    pub plan: &'a Plan,
    pub chan: Channel,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a berth_seccomp::Filter>,
}

/// The child's entry point after fork. Never returns.
pub fn run(a: ExecArgs<'_>) -> ! {
    let e = match inner(&a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = a.chan.send(&Msg::Error(e.chain()));
    // SAFETY: _exit is always safe here; the parent's atexit handlers must not run.
    unsafe { libc::_exit(1) }
}

fn inner(a: &ExecArgs<'_>) -> Result<Infallible> {
    let p = a.process;
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("prctl(PR_SET_DUMPABLE)", e))?;
    super::init::seal_fds(a.preserve_fds)?;
    a.chan.expect("go", |m| *m == Msg::Go)?;
    if let Some(j) = &a.plan.join_time {
        namespaces::enter(j)?;
    }
    for j in &a.plan.joins {
        namespaces::enter(j)?;
    }
    let userns = a.plan.has_user();
    if p.terminal {
        let sock = a.console.as_ref().ok_or_else(|| Error::Msg("a terminal was asked for but there is no console socket".into()))?;
        let size = p.console_size.map(|b| (b.height as u16, b.width as u16));
        super::console::setup(sock.as_fd(), size, false)?;
    }
    setup::oom_score_adj(p)?;
    setup::rlimits(p)?;
    setup::io_priority(p)?;
    setup::scheduler(p)?;
    setup::personality(a.cfg)?;
    let nnp = p.no_new_privileges;
    if nnp {
        nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    } else {
        super::init::install_seccomp(a.seccomp, &a.chan)?;
    }
    let setgroups = !userns || std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true);
    setup::user_and_capabilities(p, userns, setgroups)?;
    setup::chdir_inside(&p.cwd, "exec")?;
    let env = setup::environment(p);
    let path = setup::lookup(&p.args[0], &env)?;
    let (argv, envp) = setup::c_args(p, &env)?;
    let cpath = crate::sys::cstring(&path.to_string_lossy()).map_err(Error::Msg)?;
    if nnp {
        super::init::install_seccomp(a.seccomp, &a.chan)?;
    }
    setup::reset_signals();
    let e = nix::unistd::execve(&cpath, &argv, &envp).unwrap_err();
    Err(Error::Child(format!("exec {}: {e}", path.display())))
}
