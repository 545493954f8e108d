//! Receiving a pty master over `--console-socket`.
//!
//! With `process.terminal: true` the runtime creates the pty inside the
//! container, connects to the socket named by `--console-socket` and sends
//! the master as `SCM_RIGHTS` (with the slave's path as payload, which is
//! ignored). The kernel queues the connection, so the shim accepts it once
//! the runtime command has returned.

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest socket path `bind(2)` takes (`sun_path` is 108 bytes with
/// its terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// A listening console socket, removed on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Binds `<dir>/console-<n>.sock`, or a socket under `/tmp` when that
    /// path is too long for `sun_path` (the runtime connects by path).
    pub fn bind(dir: &Path, n: u64) -> std::io::Result<ConsoleSocket> {
        let mut path = dir.join(format!("console-{n}.sock"));
        if path.as_os_str().len() > SUN_PATH_MAX {
            path = std::env::temp_dir().join(format!("berth-shim-{}-console-{n}.sock", std::process::id()));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket { path, listener })
    }

    /// The path to pass as `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the master the runtime sent (close-on-exec, blocking). Fails
    /// when nothing was sent.
    pub fn receive(&self) -> std::io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept().map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                std::io::Error::other("the runtime did not connect to the console socket")
            } else {
                e
            }
        })?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        receive_fd(&stream)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn receive_fd(stream: &UnixStream) -> std::io::Result<OwnedFd> {
    let mut payload = [0u8; 512];
    let mut iov = [IoSliceMut::new(&mut payload)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut master = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for this
                // message; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if master.is_none() {
                    master = Some(owned);
                } // extra descriptors are closed by dropping them
            }
        }
    }
    master.ok_or_else(|| std::io::Error::other("the console socket message carried no file descriptor"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{ControlMessage, sendmsg};
    use std::io::IoSlice;

    #[test]
    fn receives_a_descriptor_and_closes_extras() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = ConsoleSocket::bind(dir.path(), 1).expect("bind");
        assert!(sock.receive().is_err(), "nothing sent yet");
        let client = UnixStream::connect(sock.path()).expect("connect");
        let a = std::fs::File::open("/dev/null").expect("open");
        let b = std::fs::File::open("/dev/null").expect("open");
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        sendmsg::<()>(client.as_raw_fd(), &[IoSlice::new(b"/dev/pts/0")], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
            .expect("sendmsg");
        let got = sock.receive().expect("receive");
        let flags = nix::fcntl::fcntl(&got, nix::fcntl::FcntlArg::F_GETFD).expect("getfd");
        assert!(flags & libc::FD_CLOEXEC != 0, "received descriptors are close-on-exec");
        let path = sock.path().to_path_buf();
        drop(sock);
        assert!(!path.exists());
    }
}
