//! Staying attached to a container process (`run` without `--detach`, `exec`
//! without `--detach`): forwarding signals to it, relaying its terminal, and
//! returning its exit code (128+signal when a signal killed it).

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{Error, Result};

/// Signals the runtime passes on to the container rather than acting on.
fn forwarded() -> SigSet {
    let mut s = SigSet::all();
    for sig in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE, Signal::SIGTRAP, Signal::SIGSYS] {
        s.remove(sig);
    }
    s
}

/// Blocks the signals to forward (before forking, so none is lost) and
/// returns a signalfd for them. Children unblock them before exec.
pub fn block_signals() -> Result<SignalFd> {
    let set = forwarded();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(|e| Error::sys("block signals", e))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(|e| Error::sys("signalfd", e))
}

/// Restores the terminal settings when dropped.
struct RawMode {
    saved: Option<termios::Termios>,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> RawMode {
        let Ok(t) = termios::tcgetattr(fd) else { return RawMode { saved: None } };
        let mut raw = t.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw);
        RawMode { saved: Some(t) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, t);
        }
    }
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Waits for `pid` to exit, forwarding signals and relaying `console` (a pty
/// master) to our stdio. Returns the exit code.
pub fn wait(pid: Pid, sigfd: &SignalFd, console: Option<OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let _raw = console.as_ref().filter(|_| nix::unistd::isatty(stdin.as_fd()).unwrap_or(false)).map(|_| RawMode::enter(stdin.as_fd()));
    if let Some(c) = &console {
        if nix::unistd::isatty(stdin.as_fd()).unwrap_or(false) {
            crate::process::console::copy_winsize(stdin.as_raw_fd(), c.as_raw_fd());
        }
    }
    let mut stdin_open = console.is_some();
    let mut console = console;
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(c) = code {
            if console.is_none() {
                return Ok(c);
            }
        }
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let ci = console.as_ref().map(|c| {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let si = if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        // once the process is gone, only drain what the pty still holds
        let timeout = if code.is_some() { PollTimeout::from(50u16) } else { PollTimeout::NONE };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let rev = |i: Option<usize>| i.and_then(|i| fds[i].revents()).unwrap_or(PollFlags::empty());
        let (r_sig, r_con, r_in) = (rev(Some(0)), rev(ci), rev(si));
        drop(fds);
        if code.is_some() && r_con.is_empty() {
            console = None;
            continue;
        }
        if !r_sig.is_empty() {
            while let Ok(Some(info)) = sigfd.read_signal() {
                let sig = info.ssi_signo as i32;
                match sig {
                    libc::SIGCHLD => loop {
                        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                            Ok(WaitStatus::StillAlive) | Err(_) => break,
                            Ok(ws) if ws.pid() == Some(pid) => code = exit_code(ws).or(code),
                            Ok(_) => {}
                        }
                    },
                    libc::SIGWINCH => {
                        if let Some(c) = &console {
                            crate::process::console::copy_winsize(stdin.as_raw_fd(), c.as_raw_fd());
                        }
                    }
                    _ => {
                        let _ = super::kill::send(pid.as_raw(), sig);
                    }
                }
            }
        }
        if !r_con.is_empty() {
            if let Some(c) = &console {
                match nix::unistd::read(c.as_fd(), &mut buf) {
                    Ok(0) | Err(_) => console = None,
                    Ok(n) => {
                        let mut out = std::io::stdout();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                }
            }
        }
        if !r_in.is_empty() {
            let n = nix::unistd::read(stdin.as_fd(), &mut buf).unwrap_or(0);
            if n == 0 {
                stdin_open = false;
            } else if let Some(c) = &console {
                let _ = nix::unistd::write(c, &buf[..n]);
            }
        }
    }
}
