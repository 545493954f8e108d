//! `exec`: runs another process in a running container.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};
use nix::unistd::ForkResult;
use crate::oci::Process;

use super::create::{PreFork, connect_console, send_seccomp_fd};
use super::{Runtime, bad_status, write_pid_file};
use crate::config::{parse_json, validate_process};
use crate::namespaces::Plan;
use crate::process::exec::{self, ExecArgs};
use crate::process::sync::{self, Msg};
use crate::state::Status;
use crate::{Error, Result};

/// Options of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOpts {
    pub id: String,
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
}

/// The process to run: `--process FILE`, or the container's process with
/// the command line's changes (as runc builds it).
fn build_process(base: &Process, o: &ExecOpts) -> Result<Process> {
    if let Some(f) = &o.process_file {
        let bytes = std::fs::read(f).map_err(|e| Error::path("read", f, e))?;
        let name = f.display().to_string();
        let p: Process = parse_json(&name, &bytes)?;
        validate_process(&name, "process", &p)?;
        return Ok(p);
    }
    if o.args.is_empty() {
        return Err(Error::Msg("exec needs a command to run (args or --process)".into()));
    }
    let mut p = base.clone();
    p.args = o.args.clone();
    p.terminal = o.tty;
    p.env.extend(o.env.iter().cloned());
    if let Some(c) = &o.cwd {
        p.cwd = c.clone();
    }
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        p.user.uid = uid.parse().map_err(|_| Error::Msg(format!("--user {u:?}: expected uid[:gid] as numbers")))?;
        if let Some(g) = gid {
            p.user.gid = g.parse().map_err(|_| Error::Msg(format!("--user {u:?}: expected uid[:gid] as numbers")))?;
        }
    }
    if !o.additional_gids.is_empty() {
        p.user.additional_gids = o.additional_gids.clone();
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities.clone().unwrap_or_default();
        for name in &o.caps {
            if crate::process::setup::cap_number(name).is_none() {
                return Err(Error::Msg(format!("--cap {name:?}: unknown capability")));
            }
            for set in [&mut caps.bounding, &mut caps.effective, &mut caps.inheritable, &mut caps.permitted, &mut caps.ambient] {
                if !set.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                    set.push(name.clone());
                }
            }
        }
        p.capabilities = Some(caps);
    }
    if o.no_new_privs {
        p.no_new_privileges = true;
    }
    validate_process("exec", "process", &p)?;
    Ok(p)
}

/// Runs the process; returns its exit code (0 with `--detach`).
pub fn exec(rt: &Runtime, o: &ExecOpts) -> Result<i32> {
    let (dir, st, status) = rt.load(&o.id, false)?;
    match status {
        Status::Running | Status::Created => {}
        Status::Paused => return Err(bad_status(&o.id, status, "cannot exec in a paused container")),
        _ => return Err(bad_status(&o.id, status, "cannot exec in a container that is not running")),
    }
    let cfg = dir.load_config()?;
    let process = build_process(cfg.process(), o)?;
    let terminal = process.terminal;
    if terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Msg("a detached exec with a terminal needs --console-socket".into()));
    }
    let seccomp = cfg.linux().seccomp()?.map(|s| berth_seccomp::compile_cached(&s, &rt.seccomp_cache())).transpose()?;
    let plan = Plan::for_exec(&cfg, st.pid)?;
    let cg = berth_cgroups::manager(&st.cgroup)?;
    let (console, console_keep): (Option<OwnedFd>, Option<OwnedFd>) = match (&o.console_socket, terminal) {
        (Some(p), _) => (Some(connect_console(p)?), None),
        (None, true) => {
            let (a, b) = socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
                .map_err(|e| Error::sys("console socketpair", e))?;
            (Some(a), Some(b))
        }
        (None, false) => (None, None),
    };
    let min_fd = 3 + o.preserve_fds as i32;
    let (parent, child) = sync::pair()?;
    let child = sync::Channel { fd: crate::sys::dup_above(child.fd, min_fd).map_err(|e| Error::sys("move sync socket", e))? };
    let console = console.map(|c| crate::sys::dup_above(c, min_fd)).transpose().map_err(|e| Error::sys("move console socket", e))?;
    let sigfd = if o.detach { None } else { Some(super::wait::block_signals()?) };

    let restore = PreFork::enter(&plan, &cfg)?;
    // SAFETY: single-threaded runtime; the child never returns into the caller.
    let fork = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(parent);
            exec::run(ExecArgs { cfg: &cfg, process: &process, plan: &plan, chan: child, console, preserve_fds: o.preserve_fds, seccomp: seccomp.as_ref() })
        }
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(e) => Err(Error::sys("fork exec process", e)),
    };
    restore.leave()?;
    let pid = fork?;
    drop(child);
    drop(console);
    let fail = |e: Error| -> Error {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        e
    };
    if cg.enabled() {
        cg.add_process(pid.as_raw()).map_err(|e| fail(e.into()))?;
    }
    parent.send(&Msg::Go).map_err(fail)?;
    loop {
        match parent.recv().map_err(fail)? {
            // the channel is close-on-exec: it closing means the exec succeeded
            None => break,
            Some((Msg::Error(e), _)) => {
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(Error::Child(e));
            }
            Some((Msg::SeccompFd, fd)) => {
                let fd = fd.ok_or_else(|| fail(Error::Msg("seccomp notify fd missing".into())))?;
                send_seccomp_fd(&cfg, &st, Some(pid), fd).map_err(fail)?;
                parent.send(&Msg::SeccompDone).map_err(fail)?;
            }
            Some((other, _)) => return Err(fail(Error::Msg(format!("exec set-up: unexpected {other:?}")))),
        }
    }
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid.as_raw())?;
    }
    let master = match console_keep {
        Some(s) => Some(crate::process::console::recv_fd(s.as_fd()).map_err(|e| Error::sys("receive the pty master", e))?),
        None => None,
    };
    match sigfd {
        None => Ok(0),
        Some(sfd) => super::wait::wait(pid, &sfd, master),
    }
}
