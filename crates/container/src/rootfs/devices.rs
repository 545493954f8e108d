//! /dev inside the container: the default device nodes every container gets,
//! the devices config.json lists, and the standard links.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use crate::oci::{DeviceType, Mount};

use super::options::MountOptions;
use super::resolve::{self, Kind};
use crate::config::Config;
use crate::{Error, Result};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runc's default set).
pub fn defaults() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(n, major, minor)| Device { path: PathBuf::from(format!("/dev/{n}")), kind: 'c', major, minor, mode: 0o666, uid: 0, gid: 0 })
        .collect()
}

/// The devices of config.json's `linux.devices`.
pub fn from_spec(cfg: &Config) -> Vec<Device> {
    cfg.linux()
        .devices
        .iter()
        .map(|d| Device {
            path: d.path.clone(),
            kind: match d.typ {
                DeviceType::Block => 'b',
                DeviceType::Fifo => 'p',
                DeviceType::Char | DeviceType::Unbuffered => 'c',
            },
            major: d.major,
            minor: d.minor,
            mode: d.file_mode.unwrap_or(0o666) & 0o7777,
            uid: d.uid.unwrap_or(0),
            gid: d.gid.unwrap_or(0),
        })
        .collect()
}

/// runc's rule: when the host's /dev (or part of it) is bind-mounted onto
/// the container's /dev, leave it alone.
pub fn needs_setup(mounts: &[Mount]) -> bool {
    !mounts.iter().any(|m| {
        m.destination == Path::new("/dev")
            && (m.typ.as_deref() == Some("bind") || MountOptions::parse(&m.options).is_ok_and(|o| o.bind))
    })
}

/// Creates one device node inside the rootfs: mknod when we may, otherwise
/// (in a user namespace) a bind mount of the host's node.
pub fn create(root: BorrowedFd<'_>, d: &Device, bind: bool) -> Result<()> {
    let err = |what: &str, e: Errno| Error::sys(format!("{what} device {}", d.path.display()), e);
    let parent = d.path.parent().unwrap_or(Path::new("/dev"));
    let name = d.path.file_name().ok_or_else(|| Error::Msg(format!("device path {} has no name", d.path.display())))?;
    let pfd = resolve::ensure(root, parent, Kind::Dir).map_err(|e| err("create parent of", e))?;
    if bind {
        let to = resolve::ensure(root, &d.path, Kind::File).map_err(|e| err("create", e))?;
        return super::mount::bind(&d.path, to.as_fd(), &MountOptions::default()).map_err(|e| err("bind mount", e));
    }
    match nix::unistd::unlinkat(pfd.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(err("replace", e)),
    }
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let dev = nix::sys::stat::makedev(d.major as u64, d.minor as u64);
    nix::sys::stat::mknodat(pfd.as_fd(), name, kind, Mode::from_bits_truncate(d.mode), dev).map_err(|e| err("mknod", e))?;
    nix::unistd::fchownat(pfd.as_fd(), name, Some(Uid::from_raw(d.uid)), Some(Gid::from_raw(d.gid)), AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| err("chown", e))?;
    Ok(())
}

/// Default and configured devices, the /dev/fd, stdin, stdout, stderr and
/// core links, and /dev/ptmx pointing at the container's devpts.
pub fn setup(root: BorrowedFd<'_>, cfg: &Config, userns: bool) -> Result<()> {
    let old = nix::sys::stat::umask(Mode::empty());
    let r = (|| {
        let spec_devs = from_spec(cfg);
        for d in defaults().iter().filter(|d| !spec_devs.iter().any(|s| s.path == d.path)) {
            create(root, d, userns)?;
        }
        for (i, d) in spec_devs.iter().enumerate() {
            create(root, d, userns).map_err(|e| Error::config("config.json", format!("linux.devices[{i}]"), e.chain()))?;
        }
        let dev = resolve::ensure(root, Path::new("/dev"), Kind::Dir).map_err(|e| Error::sys("open /dev in rootfs", e))?;
        let mut links = vec![("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")];
        if Path::new("/proc/kcore").exists() {
            links.push(("/proc/kcore", "core"));
        }
        for (target, name) in links {
            match nix::unistd::symlinkat(target, dev.as_fd(), name) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
            }
        }
        match nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys("remove /dev/ptmx", e)),
        }
        nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx").map_err(|e| Error::sys("symlink /dev/ptmx", e))?;
        Ok(())
    })();
    nix::sys::stat::umask(old);
    r
}
