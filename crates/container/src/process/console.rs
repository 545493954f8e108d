//! The container's terminal: a pty made inside the container (its own
//! devpts), whose master is handed to whoever holds the console socket, as
//! runc does for containerd and podman.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::Mode;

use crate::{Error, Result};

nix::ioctl_write_ptr_bad!(tiocsptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_read_bad!(tiocgptn, libc::TIOCGPTN, libc::c_uint);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

/// Creates a pty in the current mount namespace, sends its master over
/// `socket`, and makes the slave our stdio and controlling terminal.
pub fn setup(socket: BorrowedFd<'_>, size: Option<(u16, u16)>, mount_console: bool) -> Result<()> {
    let err = |what: &str, e: nix::Error| Error::sys(format!("console: {what}"), e);
    let master = nix::fcntl::open("/dev/ptmx", OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| err("open /dev/ptmx", e))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, which is valid.
    unsafe { tiocsptlck(master.as_raw_fd(), &unlock) }.map_err(|e| err("unlock pty", e))?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int through the pointer, which is valid.
    unsafe { tiocgptn(master.as_raw_fd(), &mut n) }.map_err(|e| err("pty number", e))?;
    let name = format!("/dev/pts/{n}");
    // TIOCGPTPEER opens the slave from the master without a path lookup
    // SAFETY: ioctl with an integer argument; returns a new fd or -1.
    let slave = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER as _, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if slave < 0 {
        return Err(err("open pty slave", nix::errno::Errno::last()));
    }
    // SAFETY: a fresh descriptor returned by the kernel.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((h, w)) = size {
        let ws = libc::winsize { ws_row: h, ws_col: w, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize through a valid pointer.
        unsafe { tiocswinsz(slave.as_raw_fd(), &ws) }.map_err(|e| err("set window size", e))?;
    }
    if mount_console {
        let target = Path::new("/dev/console");
        if !target.exists() {
            std::fs::File::create(target).map_err(|e| Error::path("create", target, e))?;
        }
        nix::mount::mount(Some(name.as_str()), target, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| err("bind pty on /dev/console", e))?;
    }
    send_fd(socket, master.as_fd(), &name).map_err(|e| err("send pty master over the console socket", e))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| err("setsid", e))?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we own.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(err("dup pty to stdio", nix::errno::Errno::last()));
        }
    }
    // SAFETY: TIOCSCTTY with argument 0 on our stdin.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY as _, 0) } < 0 {
        return Err(err("set controlling terminal", nix::errno::Errno::last()));
    }
    Ok(())
}

/// Sends `fd` with `name` as the payload (runc's format).
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &str) -> nix::Result<()> {
    let iov = [IoSlice::new(name.as_bytes())];
    let fds = [fd.as_raw_fd()];
    socket::sendmsg::<()>(socket.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Receives an fd sent with [`send_fd`].
pub fn recv_fd(socket: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut cbuf = nix::cmsg_space!(RawFd);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = socket::recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(v) = c {
            if let Some(&raw) = v.first() {
                // SAFETY: SCM_RIGHTS gave us this descriptor.
                return Ok(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
    }
    Err(nix::errno::Errno::EBADMSG)
}

/// Copies the window size of `from` (a terminal) to `to`.
pub fn copy_winsize(from: RawFd, to: RawFd) {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize pointer.
    unsafe {
        if tiocgwinsz(from, &mut ws).is_ok() {
            let _ = tiocswinsz(to, &ws);
        }
    }
}
