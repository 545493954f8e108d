//! The messages the runtime and the container's init (or exec) process
//! exchange over a SOCK_SEQPACKET socketpair while the container is set up.
//! One datagram per message: a tag byte and an optional payload.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// child → parent: I have unshared my user namespace, write my id maps
    UserNs,
    /// parent → child: id maps written
    MapsDone,
    /// child → parent: the container process is this host pid
    Pid(i32),
    /// parent → child: you are in the cgroups, go on
    Go,
    /// child → parent: mounts done, run prestart and createRuntime hooks
    Hooks,
    /// parent → child: hooks done; payload: the state JSON for createContainer hooks
    HooksDone(String),
    /// child → parent: the seccomp notify fd follows (SCM_RIGHTS)
    SeccompFd,
    /// parent → child: the seccomp listener has the fd
    SeccompDone,
    /// child → parent: set-up complete
    Ready,
    /// either way: failure, with the message to show
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Msg::UserNs => (1, vec![]),
            Msg::MapsDone => (2, vec![]),
            Msg::Pid(p) => (3, p.to_le_bytes().to_vec()),
            Msg::Go => (4, vec![]),
            Msg::Hooks => (5, vec![]),
            Msg::HooksDone(s) => (6, s.as_bytes().to_vec()),
            Msg::SeccompFd => (7, vec![]),
            Msg::SeccompDone => (8, vec![]),
            Msg::Ready => (9, vec![]),
            Msg::Error(s) => (10, s.as_bytes().to_vec()),
        };
        let mut v = Vec::with_capacity(1 + payload.len());
        v.push(tag);
        v.extend_from_slice(&payload);
        v
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        let (&tag, p) = b.split_first()?;
        let text = || String::from_utf8_lossy(p).into_owned();
        Some(match tag {
            1 => Msg::UserNs,
            2 => Msg::MapsDone,
            3 => Msg::Pid(i32::from_le_bytes(p.get(..4)?.try_into().ok()?)),
            4 => Msg::Go,
            5 => Msg::Hooks,
            6 => Msg::HooksDone(text()),
            7 => Msg::SeccompFd,
            8 => Msg::SeccompDone,
            9 => Msg::Ready,
            10 => Msg::Error(text()),
            _ => return None,
        })
    }
}

/// One end of the sync socketpair.
#[derive(Debug)]
pub struct Channel {
    pub fd: OwnedFd,
}

/// A connected pair: (parent end, child end), close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("create sync socketpair", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<()> {
        self.send_fd(m, None)
    }

    /// Sends a message, with an fd attached when given.
    pub fn send_fd(&self, m: &Msg, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let data = m.encode();
        let iov = [IoSlice::new(&data)];
        let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cm: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, cm, MsgFlags::MSG_NOSIGNAL, None)
            .map_err(|e| Error::sys("send to the other side of container set-up", e))?;
        Ok(())
    }

    /// Receives the next message; `None` when the other side has gone.
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 65536];
        let mut cbuf = nix::cmsg_space!(RawFd);
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let r = socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC);
            let msg = match r {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive from the other side of container set-up", e)),
            };
            let mut fd = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(v) = c {
                        for raw in v {
                            // SAFETY: SCM_RIGHTS gave us a fresh descriptor that nothing else owns.
                            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                            if fd.is_none() {
                                fd = Some(owned);
                            }
                        }
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Ok(Msg::decode(&buf[..n]).map(|m| (m, fd)));
        }
    }

    /// Receives and requires a particular message; an `Error` message or the
    /// other side going away become errors.
    pub fn expect(&self, want: &str, ok: impl Fn(&Msg) -> bool) -> Result<Msg> {
        match self.recv()? {
            Some((Msg::Error(e), _)) => Err(Error::Child(e)),
            Some((m, _)) if ok(&m) => Ok(m),
            Some((m, _)) => Err(Error::Msg(format!("container set-up: expected {want}, got {m:?}"))),
            None => Err(Error::Msg(format!("container set-up: the other side exited while waiting for {want}"))),
        }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        for m in [Msg::UserNs, Msg::Pid(4242), Msg::HooksDone("{\"x\":1}".into()), Msg::Error("bad thing".into()), Msg::Ready] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap().unwrap().0, m);
        }
        drop(a);
        assert!(b.recv().unwrap().is_none());
    }
}
