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
        efd: OwnedFd,
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
        // SAFETY: eventfd(2) has no memory-safety preconditions; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(sys("eventfd for", dir)(io::Error::last_os_error()));
        }
        // SAFETY: raw is a new descriptor owned by nobody else.
        let efd = unsafe { OwnedFd::from_raw_fd(raw) };
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
                let mut buf = [0u8; 8];
                // SAFETY: buf is 8 writable bytes, the size an eventfd read needs.
                let n = unsafe { libc::read(efd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::EAGAIN) {
                        return Ok(OomEvent::None);
                    }
                    return Err(sys("read eventfd for", dir)(e));
                }
                // The eventfd also fires when the cgroup is removed.
                if !dir.join("cgroup.event_control").exists() {
                    return Ok(OomEvent::Gone);
                }
                Ok(OomEvent::Oom(u64::from_ne_bytes(buf)))
            }
            Kind::V2 { ifd, events, last } => {
                let mut gone = false;
                let mut buf = [0u8; 4096];
                loop {
                    // SAFETY: buf is writable for its length.
                    let n = unsafe { libc::read(ifd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n < 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() == Some(libc::EAGAIN) {
                            break;
                        }
                        return Err(sys("read inotify for", events)(e));
                    }
                    let n = n as usize;
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
        let mut pfd = libc::pollfd {
            fd: self.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        loop {
            // SAFETY: pfd is one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(sys("poll oom watcher for", Path::new(""))(e));
            }
            return self.check();
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
