//! The receiving end of `--console-socket`.
//!
//! With `process.terminal: true` the runtime creates a pty inside the
//! container, connects to the unix socket named by `--console-socket` and
//! sends the pty master as an `SCM_RIGHTS` message (what containerd's shim,
//! podman's conmon and runc's `recvtty` do). [`ConsoleSocket`] listens,
//! [`ConsoleSocket::accept_master`] returns the master as a [`Pty`] that a
//! test reads from and writes to.
//!
//! The connection is queued by the kernel until accepted, so a test may call
//! `accept_master` after `create` has returned.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A listening unix socket in a private temp dir.
#[derive(Debug)]
pub struct ConsoleSocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Binds a fresh socket.
    #[track_caller]
    pub fn new() -> ConsoleSocket {
        let dir = crate::temp_dir("console-");
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        listener.set_nonblocking(true).unwrap_or_else(|e| panic!("nonblocking: {e}"));
        ConsoleSocket { _dir: dir, path, listener }
    }

    /// The socket path to pass as `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and receives the pty master it carries.
    pub fn accept_master(&self, timeout: Duration) -> std::io::Result<Pty> {
        let deadline = Instant::now() + timeout;
        let (stream, _) = loop {
            match self.listener.accept() {
                Ok(s) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no runtime connected to the console socket",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(v) = c {
                fds.extend(v);
            }
        }
        let mut fds = fds.into_iter();
        let Some(first) = fds.next() else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message carried no fd"));
        };
        for extra in fds {
            // SAFETY: the fd was just received via SCM_RIGHTS and is owned by
            // nobody else; wrapping it closes it.
            drop(unsafe { OwnedFd::from_raw_fd(extra) });
        }
        // SAFETY: as above; from now on the File owns the pty master.
        let master = unsafe { File::from_raw_fd(first) };
        Pty::new(master)
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// A pty master received from a runtime.
#[derive(Debug)]
pub struct Pty {
    master: File,
    seen: Vec<u8>,
}

impl Pty {
    fn new(master: File) -> std::io::Result<Pty> {
        nix::fcntl::fcntl(
            master.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_RDWR),
        )?;
        Ok(Pty { master, seen: Vec::new() })
    }

    /// The master, e.g. to ask for its window size.
    pub fn file(&self) -> &File {
        &self.master
    }

    /// Writes bytes to the terminal (the container reads them).
    pub fn write(&mut self, data: &str) -> std::io::Result<()> {
        let mut rest = data.as_bytes();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !rest.is_empty() {
            match self.master.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is available within `wait`; returns whether EOF (EIO: every
    /// slave closed) was reached.
    fn pump(&mut self, wait: Duration) -> std::io::Result<bool> {
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        poll(&mut fds, PollTimeout::from(ms))?;
        let mut buf = [0u8; 4096];
        loop {
            match self.master.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until `needle` has been seen (in everything read so far) or the
    /// deadline passes; returns everything read so far.
    pub fn read_until(&mut self, needle: &str, timeout: Duration) -> std::io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if String::from_utf8_lossy(&self.seen).contains(needle) {
                return Ok(self.output());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{needle:?} not seen on the pty; got {:?}", self.output()),
                ));
            }
            if self.pump((deadline - now).min(Duration::from_millis(100)))? {
                if String::from_utf8_lossy(&self.seen).contains(needle) {
                    return Ok(self.output());
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("pty closed before {needle:?}; got {:?}", self.output()),
                ));
            }
        }
    }

    /// Reads until every slave is closed (the container exited) or the
    /// deadline passes; returns everything read.
    pub fn read_to_eof(&mut self, timeout: Duration) -> std::io::Result<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.pump(Duration::from_millis(50))? {
                return Ok(self.output());
            }
        }
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("pty still open; got {:?}", self.output())))
    }

    /// Everything read so far, lossily decoded, `\r\n` turned into `\n`.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.seen).replace("\r\n", "\n")
    }
}
