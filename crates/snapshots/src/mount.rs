//! Mount specs shaped like the OCI runtime spec's mounts, and mounting them.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// One mount, as in an OCI `config.json` (`type`, `source`, `options`);
/// the destination is wherever the caller wants the root file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// `overlay` or `bind`.
    #[serde(rename = "type")]
    pub typ: String,
    pub source: String,
    /// mount(8)-style options: `lowerdir=a:b`, `upperdir=…`, `workdir=…`,
    /// `rbind`, `ro`, `rw`.
    pub options: Vec<String>,
}

/// Mounts `mounts` (as returned by [`crate::Snapshotter::prepare_active`])
/// on `target`, which must exist.
///
/// Overlays go through the new mount API with one `lowerdir+` per layer
/// (Linux ≥ 6.8), so any number of layers fits; on older kernels the
/// classic `mount(2)` is used, whose options must fit in a page.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), Error> {
    for m in mounts {
        match m.typ.as_str() {
            "overlay" => mount_overlay(m, target)?,
            "bind" => mount_bind(m, target)?,
            other => return Err(Error::NotSupported(format!("mount type {other}"))),
        }
    }
    Ok(())
}

/// Unmounts `target` (not lazily: a busy mount is an error).
pub fn unmount(target: &Path) -> Result<(), Error> {
    rustix::mount::unmount(target, UnmountFlags::empty())
        .map_err(|e| Error::io("unmounting", target, e))
}

fn mount_bind(m: &Mount, target: &Path) -> Result<(), Error> {
    let recursive = m.options.iter().any(|o| o == "rbind");
    let ro = m.options.iter().any(|o| o == "ro");
    let r = if recursive {
        rustix::mount::mount_bind_recursive(m.source.as_str(), target)
    } else {
        rustix::mount::mount_bind(m.source.as_str(), target)
    };
    r.map_err(|e| Error::io("bind-mounting the snapshot on", target, e))?;
    if ro
        && let Err(e) =
            rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")
    {
        let _ = rustix::mount::unmount(target, UnmountFlags::empty());
        return Err(Error::io("making read-only the bind mount on", target, e));
    }
    Ok(())
}

/// Reads what the kernel logged on an fs context (e.g. "e overlayfs: …").
fn fs_log(fd: &std::os::fd::OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    let mut f = match fd.try_clone() {
        Ok(f) => std::fs::File::from(f),
        Err(_) => return out,
    };
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(String::from_utf8_lossy(&buf[..n]).trim_end());
    }
    out
}

fn mount_overlay(m: &Mount, target: &Path) -> Result<(), Error> {
    let mut lowers: Vec<&str> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    for o in &m.options {
        match o.strip_prefix("lowerdir=") {
            Some(l) => lowers.extend(l.split(':').filter(|s| !s.is_empty())),
            None => rest.push(o),
        }
    }
    match mount_overlay_new_api(&lowers, &rest, target) {
        Ok(()) => Ok(()),
        Err(NewApi::Unsupported) => mount_overlay_legacy(m, target),
        Err(NewApi::Failed(op, e, log)) => {
            let msg = if log.is_empty() {
                format!("{op}: {e}")
            } else {
                format!("{op}: {e} ({log})")
            };
            Err(Error::io(
                "mounting the overlay on",
                target,
                std::io::Error::new(std::io::Error::from(e).kind(), msg),
            ))
        }
    }
}

enum NewApi {
    /// fsopen or lowerdir+ unknown to this kernel.
    Unsupported,
    Failed(&'static str, Errno, String),
}

fn mount_overlay_new_api(lowers: &[&str], rest: &[&str], target: &Path) -> Result<(), NewApi> {
    let fs = match rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(Errno::NOSYS) => return Err(NewApi::Unsupported),
        Err(e) => return Err(NewApi::Failed("fsopen", e, String::new())),
    };
    let fail = |op, e| NewApi::Failed(op, e, fs_log(&fs));
    for (i, l) in lowers.iter().enumerate() {
        match rustix::mount::fsconfig_set_string(fs.as_fd(), "lowerdir+", *l) {
            Ok(()) => {}
            Err(Errno::INVAL) if i == 0 && fs_log(&fs).contains("Unknown parameter") => {
                return Err(NewApi::Unsupported);
            }
            Err(e) => return Err(fail("setting lowerdir+", e)),
        }
    }
    let mut attrs = MountAttrFlags::empty();
    for o in rest {
        match o.split_once('=') {
            Some((k, v)) => rustix::mount::fsconfig_set_string(fs.as_fd(), k, v)
                .map_err(|e| fail("setting an overlay option", e))?,
            None if *o == "ro" => attrs |= MountAttrFlags::MOUNT_ATTR_RDONLY,
            None if *o == "rw" => {}
            None => rustix::mount::fsconfig_set_flag(fs.as_fd(), *o)
                .map_err(|e| fail("setting an overlay flag", e))?,
        }
    }
    rustix::mount::fsconfig_create(fs.as_fd()).map_err(|e| fail("creating the overlay", e))?;
    let mnt = rustix::mount::fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| fail("fsmount", e))?;
    rustix::mount::move_mount(
        mnt.as_fd(),
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| NewApi::Failed("move_mount", e, String::new()))
}

fn mount_overlay_legacy(m: &Mount, target: &Path) -> Result<(), Error> {
    let data = m
        .options
        .iter()
        .filter(|o| *o != "ro" && *o != "rw")
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",");
    // the kernel copies one page of mount data
    if data.len() >= 4096 {
        return Err(Error::NotSupported(format!(
            "overlay options of {} bytes on a kernel without lowerdir+ (Linux 6.8)",
            data.len()
        )));
    }
    let mut flags = MountFlags::empty();
    if m.options.iter().any(|o| o == "ro") {
        flags |= MountFlags::RDONLY;
    }
    let data = std::ffi::CString::new(data).map_err(|e| {
        Error::io(
            "mounting the overlay on",
            target,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        )
    })?;
    rustix::mount::mount("overlay", target, "overlay", flags, Some(data.as_c_str()))
        .map_err(|e| Error::io("mounting the overlay on", target, e))
}
