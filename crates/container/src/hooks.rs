//! The six hook points of the OCI runtime spec. A hook gets the container
//! state as JSON on stdin, exactly its own `args` (argv[0] included) and
//! `env`, and is killed when its `timeout` (seconds) passes.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use crate::oci::{Hook, Hooks};

use crate::{Error, Result};

/// Every hook list of `hooks`, with the name config.json gives it.
pub fn all(h: &Hooks) -> [(&'static str, &[Hook]); 6] {
    [
        ("prestart", &h.prestart),
        ("createRuntime", &h.create_runtime),
        ("createContainer", &h.create_container),
        ("startContainer", &h.start_container),
        ("poststart", &h.poststart),
        ("poststop", &h.poststop),
    ]
}

/// The hooks of one kind from a spec, empty if none.
pub fn of<'a>(spec: &'a crate::oci::Spec, kind: &str) -> &'a [Hook] {
    all(&spec.hooks).into_iter().find(|(k, _)| *k == kind).map(|(_, v)| v).unwrap_or(&[])
}

/// Runs the hooks of `kind` in order; the first failure stops the rest.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run(kind, i, h, state_json)?;
    }
    Ok(())
}

/// Runs the hooks of `kind`, reporting failures as warnings only (poststart
/// and poststop: the spec says the lifecycle continues).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state_json: &[u8], warn: &mut dyn FnMut(&Error)) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run(kind, i, h, state_json) {
            warn(&e);
        }
    }
}

fn pidfd_open(pid: u32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    let fd = Errno::result(r)? as i32;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Hooks the spec runs in the runtime's namespaces (the others run in the
/// container's).
fn runtime_ns(kind: &str) -> bool {
    matches!(kind, "prestart" | "createRuntime" | "poststart" | "poststop")
}

/// Runs one hook.
pub fn run(kind: &'static str, index: usize, h: &Hook, state_json: &[u8]) -> Result<()> {
    let fail = |msg: String| Error::Hook { kind, index, path: h.path.clone(), msg };
    let mut cmd = Command::new(&h.path);
    if let Some((argv0, rest)) = h.args.split_first() {
        cmd.arg0(argv0);
        cmd.args(rest);
    }
    cmd.env_clear();
    for kv in &h.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    if runtime_ns(kind) {
        if let Some(ns) = crate::exe_guard::host_mount_ns() {
            let raw = ns.as_raw_fd();
            // SAFETY: the closure only calls setns(2) on an fd that stays open
            // for the life of the process; no allocation, no locks.
            unsafe {
                cmd.pre_exec(move || {
                    let fd = std::os::fd::BorrowedFd::borrow_raw(raw);
                    nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNS).map_err(std::io::Error::from)
                });
            }
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    let deadline = h.timeout.map(|t| Instant::now() + Duration::from_secs(t as u64));

    // The state goes in while we also drain the output, so a hook that writes
    // a lot before reading cannot deadlock us.
    let mut stdin = child.stdin.take();
    let mut out: Option<OwnedFd> = child.stdout.take().map(OwnedFd::from);
    let mut err: Option<OwnedFd> = child.stderr.take().map(OwnedFd::from);
    let pidfd = pidfd_open(child.id()).map_err(|e| fail(format!("pidfd_open: {e}")))?;
    let mut written = 0usize;
    let mut captured = Vec::new();
    if let Some(s) = stdin.as_ref() {
        nix::fcntl::fcntl(s.as_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).ok();
    }
    let mut exited = false;
    while !exited {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!("timed out after {}s", h.timeout.unwrap_or(0))));
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let (mut i_in, mut i_out, mut i_err) = (usize::MAX, usize::MAX, usize::MAX);
        if let Some(s) = stdin.as_ref() {
            i_in = fds.len();
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(s) = out.as_ref() {
            i_out = fds.len();
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if let Some(s) = err.as_ref() {
            i_err = fds.len();
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(fail(format!("poll: {e}"))),
        }
        let ready = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
        let (r_pid, r_in, r_out, r_err) = (ready(0), ready(i_in), ready(i_out), ready(i_err));
        drop(fds);
        if r_in {
            if let Some(s) = stdin.as_mut() {
                match s.write(&state_json[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => written = state_json.len(), // hook closed stdin: fine
                }
            }
            if written >= state_json.len() {
                stdin = None;
            }
        }
        for (ready, pipe) in [(r_out, &mut out), (r_err, &mut err)] {
            if ready {
                if let Some(p) = pipe.as_mut() {
                    let mut buf = [0u8; 4096];
                    match nix::unistd::read(p.as_fd(), &mut buf) {
                        Ok(0) | Err(_) => *pipe = None,
                        Ok(n) => {
                            if captured.len() < 4096 {
                                captured.extend_from_slice(&buf[..n.min(4096 - captured.len())]);
                            }
                        }
                    }
                }
            }
        }
        if r_pid {
            exited = true;
        }
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    let _ = pidfd.as_raw_fd();
    if !status.success() {
        let text = String::from_utf8_lossy(&captured);
        let text = text.trim();
        let how = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "failed".to_string(),
        };
        return Err(fail(if text.is_empty() { how } else { format!("{how}: {}", text.replace('\n', " ")) }));
    }
    Ok(())
}
