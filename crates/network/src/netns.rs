//! Network namespaces held open by a bind mount (as `ip netns add` and CRI-O's
//! pinns do), so that no process is needed to keep one alive.
//!
//! A namespace is made on a short-lived helper thread: the thread unshares
//! its own network namespace, brings `lo` up and bind-mounts
//! `/proc/thread-self/ns/net`; the caller's threads never change namespace.
//! The directory holding the mounts is made a shared mount point, as iproute2
//! does for /run/netns, so that unmounting one also unmounts the copies that
//! mount namespaces created later (containers, shims) inherited.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use crate::error::{Error, Result};

/// Makes `dir` a shared mount point (binding it onto itself first if it is
/// not a mount point yet). Idempotent.
pub(crate) fn prepare_run_dir(dir: &Path) -> Result<()> {
    crate::persist::ensure_dir(dir)?;
    let shared = |d: &Path| mount(None::<&str>, d, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    if is_mount_point(dir) {
        return shared(dir).map_err(|e| netns_err(dir, "make shared", e));
    }
    mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(|e| netns_err(dir, "bind run dir onto itself", e))?;
    shared(dir).map_err(|e| netns_err(dir, "make shared", e))
}

/// Whether `path` is the mount point of some mount in our mount namespace.
fn is_mount_point(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else { return false };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = canon.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|mp| unescape_mountinfo(mp) == want))
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a new network namespace with `lo` up, bind-mounted at `path`.
/// Fails with `AlreadyExists` if `path` exists.
pub(crate) fn create(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|e| Error::Netns { path: path.to_path_buf(), op: "create mount point", source: e })?;
    let target = path.to_path_buf();
    let made = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || -> std::result::Result<(), (&'static str, std::io::Error)> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ("unshare", e.into()))?;
            loopback_up().map_err(|e| ("bring lo up", e))?;
            mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| ("bind mount", e.into()))
        })
        .map_err(|e| Error::Netns { path: path.to_path_buf(), op: "spawn helper thread", source: e })?
        .join();
    let outcome = match made {
        Ok(r) => r,
        Err(_) => Err(("helper thread", std::io::Error::other("panicked"))),
    };
    if let Err((op, source)) = outcome {
        let _ = std::fs::remove_file(path);
        return Err(Error::Netns { path: path.to_path_buf(), op, source });
    }
    Ok(())
}

/// Unmounts and removes a namespace file. Missing is fine (idempotent).
pub(crate) fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(netns_err(path, "unmount", e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Netns { path: path.to_path_buf(), op: "remove", source: e }),
    }
}

/// Whether `path` is a live network namespace (an nsfs mount), as opposed
/// to a missing path or the empty file left by a half-finished removal.
pub(crate) fn is_alive(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

fn netns_err(path: &Path, op: &'static str, e: nix::errno::Errno) -> Error {
    Error::Netns { path: PathBuf::from(path), op, source: e.into() }
}

/// Sets IFF_UP on `lo` in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: socket(2) has no memory-safety preconditions; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_flags of the ifreq
    // we own; the fd is a valid socket.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the union member ifru_flags was just written by the kernel.
    unsafe {
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS reads the ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `<linux/sockios.h>`: delete a bridge device (not in the libc crate for Linux).
const SIOCBRDELBR: libc::c_ulong = 0x89a1;

/// Deletes a Linux bridge device of the calling thread's network namespace
/// if it exists, as `docker network rm` removes its bridge. SIOCBRDELBR
/// refuses devices that are not bridges (EPERM) and bridges that are up
/// (EBUSY), so a bridge is brought down only once the kernel said it is one.
pub(crate) fn delete_bridge(name: &str) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let cname = std::ffi::CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: socket(2) has no memory-safety preconditions; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly created descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let del = || {
        // SAFETY: SIOCBRDELBR takes a NUL-terminated interface name; cname
        // lives across the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), SIOCBRDELBR, cname.as_ptr()) } < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    match del() {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) || e.raw_os_error() == Some(libc::ENODEV) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        Err(e) => return Err(e),
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills ifr_flags of our ifreq; fd is a valid socket.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifru_flags was just written by the kernel.
    unsafe {
        req.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
    }
    // SAFETY: SIOCSIFFLAGS reads our ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    del()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes() {
        assert_eq!(super::unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(super::unescape_mountinfo("/plain"), "/plain");
    }
}
