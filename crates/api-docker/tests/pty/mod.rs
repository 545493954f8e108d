//! Running the docker CLI on a pseudo-terminal, as a person at a shell
//! would (`docker exec -it`, `docker run -it`, `docker attach`).
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// A command whose stdin, stdout and stderr are a pty's slave side.
pub struct Session {
    master: File,
    child: Option<Child>,
    seen: Vec<u8>,
}

impl Session {
    pub fn spawn(mut cmd: Command) -> Session {
        // a real terminal has a size: with 0x0 the docker CLI sends no
        // resize, and a shell on a re-attach never redraws its prompt
        let size = nix::pty::Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
        cmd.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave));
        let child = cmd.spawn().expect("spawn on a pty");
        drop(slave);
        let master = File::from(pty.master);
        nix::fcntl::fcntl(master.as_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).expect("nonblocking master");
        Session { master, child: Some(child), seen: Vec::new() }
    }

    /// Types `s` on the terminal.
    pub fn write(&mut self, s: &str) {
        let mut rest = s.as_bytes();
        let end = Instant::now() + Duration::from_secs(10);
        while !rest.is_empty() {
            match self.master.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("writing to the pty: {e}"),
            }
        }
    }

    fn pump(&mut self, wait: Duration) {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) == 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads until `needle` appears in the output (after what was typed).
    pub fn read_until(&mut self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            // the echo of the typed command contains the expression, not its value
            if String::from_utf8_lossy(&self.seen).contains(needle) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            self.pump(Duration::from_millis(100));
        }
    }

    /// Everything the terminal showed so far.
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Waits for the command to exit (killing it after `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("waited once");
        let end = Instant::now() + timeout;
        loop {
            self.pump(Duration::from_millis(20));
            if let Ok(Some(st)) = child.try_wait() {
                return st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the command on the pty did not exit; it showed:\n{}", self.seen());
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
