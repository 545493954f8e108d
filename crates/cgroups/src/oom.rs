//! OOM notification for an `events` loop.
//!
//! v1: an eventfd registered through `cgroup.event_control` on `memory.oom_control`; the
//! kernel signals it on each OOM in the cgroup (and once more when the cgroup is removed).
//! v2: inotify on `memory.events`, whose `oom_kill` counter is compared with the last value.
//!
//! [`OomWatcher::as_fd`] can be put in a poll set (readable = something to look at);
//! [`OomWatcher::check`] never blocks; [`OomWatcher::wait`] blocks up to a timeout.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fs;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// Nothing new.
    None,
    /// This many OOM events since the last check (v1: OOM notifications; v2: OOM kills).
    Oom(u64),
    /// The cgroup is gone; the watcher is finished.
    Gone,
}

/// Watches one cgroup for OOM events.
#[derive(Debug)]
pub struct OomWatcher {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    V1 {
        efd: nix::sys::eventfd::EventFd,
        // Must stay open: the registration refers to it.
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        ifd: OwnedFd,
        events: PathBuf,
        last: u64,
    },
}

fn sys<'a>(operation: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Sys {
        operation,
        path: path.to_owned(),
        source,
    }
}

impl OomWatcher {
    pub(crate) fn v1(dir: &Path) -> Result<Self> {
        let ctl_path = dir.join("memory.oom_control");
        let oom_control = File::open(&ctl_path).map_err(|source| Error::Read {
            path: ctl_path.clone(),
            source,
        })?;
        use nix::sys::eventfd::{EfdFlags, EventFd};
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| sys("eventfd for", dir)(e.into()))?;
        fs::write(
            &dir.join("cgroup.event_control"),
            &format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()),
        )?;
        Ok(OomWatcher {
            kind: Kind::V1 {
                efd,
                _oom_control: oom_control,
                dir: dir.to_owned(),
            },
        })
    }

    pub(crate) fn v2(dir: &Path) -> Result<Self> {
        let events = dir.join("memory.events");
        // libc rather than nix: the workspace's nix build does not enable its inotify feature.
        // SAFETY: inotify_init1(2) has no memory-safety preconditions; the result is checked.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            return Err(sys("inotify_init1 for", dir)(io::Error::last_os_error()));
        }
        // SAFETY: raw is a new descriptor owned by nobody else.
        let ifd = unsafe { OwnedFd::from_raw_fd(raw) };
        let c = CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| sys("inotify_add_watch", &events)(io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: ifd is open and c is a valid NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(ifd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
        if wd < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) && dir.exists() {
                return Err(Error::missing("memory", "(oom events)"));
            }
            return Err(sys("inotify_add_watch", &events)(e));
        }
        let last = read_oom_kill(&events)?.unwrap_or(0);
        Ok(OomWatcher {
            kind: Kind::V2 { ifd, events, last },
        })
    }

    /// Looks for new events without blocking.
    pub fn check(&mut self) -> Result<OomEvent> {
        match &mut self.kind {
            Kind::V1 { efd, dir, .. } => {
                let count = match efd.read() {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EAGAIN) => return Ok(OomEvent::None),
                    Err(e) => return Err(sys("read eventfd for", dir)(e.into())),
                };
                // The eventfd also fires when the cgroup is removed.
                if !dir.join("cgroup.event_control").exists() {
                    return Ok(OomEvent::Gone);
                }
                Ok(OomEvent::Oom(count))
            }
            Kind::V2 { ifd, events, last } => {
                let mut gone = false;
                let mut buf = [0u8; 4096];
                loop {
                    let n = match nix::unistd::read(&*ifd, &mut buf) {
                        Ok(n) => n,
                        Err(nix::errno::Errno::EAGAIN) => break,
                        Err(e) => return Err(sys("read inotify for", events)(e.into())),
                    };
                    let mut off = 0;
                    while off + 16 <= n {
                        // struct inotify_event { int wd; u32 mask; u32 cookie; u32 len; char name[]; }
                        let mask = u32::from_ne_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]]);
                        let len = u32::from_ne_bytes([buf[off + 12], buf[off + 13], buf[off + 14], buf[off + 15]]);
                        if mask & (libc::IN_IGNORED | libc::IN_DELETE_SELF) != 0 {
                            gone = true;
                        }
                        off += 16 + len as usize;
                    }
                }
                let now = match read_oom_kill(events)? {
                    Some(v) => v,
                    None => return Ok(OomEvent::Gone),
                };
                let delta = now.saturating_sub(*last);
                *last = now;
                if delta > 0 {
                    Ok(OomEvent::Oom(delta))
                } else if gone {
                    Ok(OomEvent::Gone)
                } else {
                    Ok(OomEvent::None)
                }
            }
        }
    }

    /// Waits up to `timeout` (forever when `None`) for something to happen, then checks.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        loop {
            let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => return self.check(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(sys("poll oom watcher for", self.dir())(e.into())),
            }
        }
    }
}

impl OomWatcher {
    fn dir(&self) -> &Path {
        match &self.kind {
            Kind::V1 { dir, .. } => dir,
            Kind::V2 { events, .. } => events.parent().unwrap_or(events),
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.kind {
            Kind::V1 { efd, .. } => efd.as_fd(),
            Kind::V2 { ifd, .. } => ifd.as_fd(),
        }
    }
}

fn read_oom_kill(events: &Path) -> Result<Option<u64>> {
    Ok(fs::read_opt(events)?.map(|s| fs::flat_keyed_get(&s, "oom_kill").unwrap_or(0)))
}
