//! One config.json mount, done safely inside the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use crate::oci::Mount;

use super::Context;
use super::options::MountOptions;
use super::resolve::{self, Kind, normalize};
use crate::sys::{self, fd_path, mount_attr, open_in_root};
use crate::{Error, Result};

/// mount_setattr attributes equivalent to classic per-mount flags.
pub fn flags_to_attr(f: MsFlags) -> u64 {
    let mut a = 0;
    if f.contains(MsFlags::MS_RDONLY) {
        a |= mount_attr::RDONLY;
    }
    if f.contains(MsFlags::MS_NOSUID) {
        a |= mount_attr::NOSUID;
    }
    if f.contains(MsFlags::MS_NODEV) {
        a |= mount_attr::NODEV;
    }
    if f.contains(MsFlags::MS_NOEXEC) {
        a |= mount_attr::NOEXEC;
    }
    if f.contains(MsFlags::MS_NODIRATIME) {
        a |= mount_attr::NODIRATIME;
    }
    if f.contains(MsFlags::from_bits_retain(256)) {
        a |= mount_attr::NOSYMFOLLOW;
    }
    if f.contains(MsFlags::MS_NOATIME) {
        a |= mount_attr::NOATIME;
    } else if f.contains(MsFlags::MS_STRICTATIME) {
        a |= mount_attr::STRICTATIME;
    }
    a
}

fn under(dest: &Path, top: &str) -> bool {
    dest.starts_with(top) && dest != Path::new(top)
}

/// Opens the mount target, refusing symlinks for /proc and /sys paths and
/// requiring that anything mounted below /proc or /sys lands on the real
/// procfs or sysfs (CVE-2019-16884/CVE-2019-19921 style redirections).
fn target(root: BorrowedFd<'_>, i: usize, dest: &Path, kind: Kind, typ: &str) -> Result<OwnedFd> {
    let field = format!("mounts[{i}].destination");
    let bad = |msg: String| Error::config("config.json", &field, msg);
    let sensitive = dest.starts_with("/proc") || dest.starts_with("/sys") || typ == "proc" || typ == "sysfs";
    let fd = if sensitive {
        match resolve::open_no_symlinks(root, dest) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                let fd = resolve::ensure(root, dest, kind).map_err(|e| bad(format!("{}: {e}", dest.display())))?;
                drop(fd);
                resolve::open_no_symlinks(root, dest).map_err(|e| bad(format!("{}: {e}", dest.display())))?
            }
            Err(Errno::ELOOP) => return Err(bad(format!("{} must not be or pass through a symlink", dest.display()))),
            Err(e) => return Err(bad(format!("{}: {e}", dest.display()))),
        }
    } else {
        resolve::ensure(root, dest, kind).map_err(|e| bad(format!("{}: {e}", dest.display())))?
    };
    // Below /proc the target itself must be procfs (what runc allows: lxcfs
    // style binds onto /proc/cpuinfo and the like). Below /sys, /sys must be
    // a real sysfs (its submounts, e.g. a cgroup tmpfs, are other types).
    if under(dest, "/proc") && sys::fs_magic(fd.as_fd()).ok() != Some(sys::PROC_SUPER_MAGIC) {
        return Err(bad(format!("{} is below /proc but not on procfs", dest.display())));
    }
    if under(dest, "/sys") {
        let sys_fd = resolve::open_no_symlinks(root, Path::new("/sys")).map_err(|e| bad(format!("/sys: {e}")))?;
        if sys::fs_magic(sys_fd.as_fd()).ok() != Some(sys::SYSFS_MAGIC) {
            return Err(bad(format!("{} is below /sys but /sys is not sysfs", dest.display())));
        }
    }
    Ok(fd)
}

/// Opens the mount that now sits on `dest`.
fn reopen(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd> {
    open_in_root(root, dest, OFlag::O_PATH, Mode::empty()).map_err(|e| Error::sys(format!("open mount {}", dest.display()), e))
}

fn apply_after(root: BorrowedFd<'_>, i: usize, dest: &Path, o: &MountOptions) -> Result<()> {
    if o.rec_set == 0 && o.rec_clr == 0 && o.propagation.is_empty() {
        return Ok(());
    }
    let fd = reopen(root, dest)?;
    if o.rec_set != 0 || o.rec_clr != 0 {
        sys::mount_setattr(fd.as_fd(), true, o.rec_set, o.rec_clr)
            .map_err(|e| Error::config("config.json", format!("mounts[{i}].options"), format!("recursive mount attributes on {}: {e}", dest.display())))?;
    }
    for p in &o.propagation {
        nix::mount::mount(None::<&str>, &fd_path(fd.as_fd()), None::<&str>, *p, None::<&str>)
            .map_err(|e| Error::config("config.json", format!("mounts[{i}].options"), format!("propagation of {}: {e}", dest.display())))?;
    }
    Ok(())
}

/// Bind-mounts `src` (a host path) on the fd `to`, applying per-mount flags
/// to the copy before it becomes visible.
pub fn bind(src: &Path, to: BorrowedFd<'_>, o: &MountOptions) -> nix::Result<()> {
    let tree = sys::open_tree_clone(src, o.flags.contains(MsFlags::MS_REC))?;
    let set = flags_to_attr(o.flags);
    // the atime mode is one field: changing it means clearing the whole mask
    let mut clr = flags_to_attr(o.cleared) & !mount_attr::ATIME_MASK;
    if o.flags.intersects(MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_RELATIME) {
        clr |= mount_attr::ATIME_MASK;
    }
    if set != 0 || clr != 0 {
        sys::mount_setattr(tree.as_fd(), false, set, clr)?;
    }
    sys::move_mount_fd(tree.as_fd(), to)
}

/// Mounts config.json's `mounts[i]`.
pub fn mount_one(root: BorrowedFd<'_>, i: usize, m: &Mount, ctx: &Context<'_>) -> Result<()> {
    let typ = m.typ.as_deref().unwrap_or("");
    let o = MountOptions::parse(&m.options)
        .map_err(|msg| Error::config("config.json", format!("mounts[{i}].options"), msg))?;
    if o.idmap || !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
        return Err(Error::Unsupported(format!("idmapped mounts (mounts[{i}])")));
    }
    let dest = normalize(&m.destination);
    if dest == Path::new("/proc") && typ != "proc" {
        return Err(Error::config("config.json", format!("mounts[{i}]"), "/proc cannot be mounted because it is not of type proc"));
    }
    if typ == "cgroup" {
        return cgroup(root, i, &dest, &o, ctx);
    }
    if o.bind || typ == "bind" {
        let src = m.source.as_ref().ok_or_else(|| Error::config("config.json", format!("mounts[{i}].source"), "a bind mount needs a source"))?;
        let src: PathBuf = if src.is_absolute() { src.clone() } else { ctx.cfg.bundle.join(src) };
        let meta = std::fs::metadata(&src)
            .map_err(|e| Error::config("config.json", format!("mounts[{i}].source"), format!("{}: {e}", src.display())))?;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let to = target(root, i, &dest, kind, typ)?;
        bind(&src, to.as_fd(), &o)
            .map_err(|e| Error::config("config.json", format!("mounts[{i}]"), format!("bind mount {} on {}: {e}", src.display(), dest.display())))?;
        return apply_after(root, i, &dest, &o);
    }

    let to = target(root, i, &dest, Kind::Dir, typ)?;
    let source = m.source.as_deref().unwrap_or(Path::new(typ));
    let data = o.data_string();
    let flags = o.flags & !MsFlags::MS_REMOUNT;
    let r = nix::mount::mount(Some(source), &fd_path(to.as_fd()), Some(typ), flags, data.as_deref());
    match r {
        Ok(()) => {}
        // in a user namespace sysfs can only be mounted with a network
        // namespace of its own; fall back to binding the host's, as runc does
        Err(Errno::EPERM) if typ == "sysfs" && ctx.userns => {
            let b = MountOptions { flags: o.flags | MsFlags::MS_BIND | MsFlags::MS_REC, ..o.clone() };
            bind(Path::new("/sys"), to.as_fd(), &b)
                .map_err(|e| Error::config("config.json", format!("mounts[{i}]"), format!("bind /sys on {}: {e}", dest.display())))?;
        }
        Err(e) => {
            return Err(Error::config("config.json", format!("mounts[{i}]"), format!("mount {typ} on {}: {e}", dest.display())));
        }
    }
    if typ == "proc" || typ == "sysfs" {
        let (magic, name) = if typ == "proc" { (sys::PROC_SUPER_MAGIC, "procfs") } else { (sys::SYSFS_MAGIC, "sysfs") };
        let fd = reopen(root, &dest)?;
        if sys::fs_magic(fd.as_fd()).ok() != Some(magic) {
            return Err(Error::config("config.json", format!("mounts[{i}].destination"), format!("{} is not {name} after mounting", dest.display())));
        }
    }
    apply_after(root, i, &dest, &o)
}

/// A `cgroup` mount: the container's own cgroups, as fresh cgroup mounts in
/// its cgroup namespace or as binds of its host cgroup directories.
fn cgroup(root: BorrowedFd<'_>, i: usize, dest: &Path, o: &MountOptions, ctx: &Context<'_>) -> Result<()> {
    let err = |msg: String| Error::config("config.json", format!("mounts[{i}]"), msg);
    let flags = (o.flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC) & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    let mounts = ctx.cgroup_mounts;
    let single_v2 = mounts.len() == 1 && mounts[0].fstype == "cgroup2" && mounts[0].subdir.is_empty();
    let to = target(root, i, dest, Kind::Dir, "cgroup")?;
    if mounts.is_empty() {
        // no cgroups (rootless without delegation): an empty read-only tmpfs
        return nix::mount::mount(Some("tmpfs"), &fd_path(to.as_fd()), Some("tmpfs"), flags | MsFlags::MS_RDONLY, Some("mode=755"))
            .map_err(|e| err(format!("mount tmpfs on {}: {e}", dest.display())));
    }
    let one = |cm: &berth_cgroups::CgroupMount, at: BorrowedFd<'_>, path: &Path| -> Result<()> {
        if ctx.cgroupns {
            let data = if cm.data.is_empty() { None } else { Some(cm.data.as_str()) };
            nix::mount::mount(Some(cm.fstype.as_str()), &fd_path(at), Some(cm.fstype.as_str()), flags, data)
                .map_err(|e| err(format!("mount {} on {}: {e}", cm.fstype, path.display())))
        } else {
            let b = MountOptions { flags: flags | MsFlags::MS_BIND, ..MountOptions::default() };
            bind(&cm.host_dir, at, &b).map_err(|e| err(format!("bind {} on {}: {e}", cm.host_dir.display(), path.display())))
        }
    };
    if single_v2 {
        return one(&mounts[0], to.as_fd(), dest);
    }
    nix::mount::mount(Some("tmpfs"), &fd_path(to.as_fd()), Some("tmpfs"), flags & !MsFlags::MS_RDONLY, Some("mode=755"))
        .map_err(|e| err(format!("mount tmpfs on {}: {e}", dest.display())))?;
    let top = reopen(root, dest)?;
    for cm in mounts {
        // hybrid hosts: the cgroup2 hierarchy next to the v1 controllers holds
        // no controller the container can use; runc does not mount it either
        if cm.fstype == "cgroup2" {
            continue;
        }
        let sub = dest.join(&cm.subdir);
        nix::sys::stat::mkdirat(top.as_fd(), cm.subdir.as_str(), Mode::from_bits_truncate(0o755))
            .map_err(|e| err(format!("mkdir {}: {e}", sub.display())))?;
        let at = open_in_root(root, &sub, OFlag::O_PATH, Mode::empty()).map_err(|e| err(format!("open {}: {e}", sub.display())))?;
        one(cm, at.as_fd(), &sub)?;
        {
            for part in &cm.aliases {
                match nix::unistd::symlinkat(cm.subdir.as_str(), top.as_fd(), part.as_str()) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(err(format!("symlink {}: {e}", dest.join(part).display()))),
                }
            }
        }
    }
    // like runc, the tmpfs holding the hierarchies stays writable; `ro`
    // applies to each hierarchy
    Ok(())
}
