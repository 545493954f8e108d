//! The container's root filesystem: everything between a fresh mount
//! namespace and the moment the container process sees only its rootfs.
//!
//! Order (as runc does it): stop propagation to the host, bind the rootfs
//! onto itself, mount config.json's mounts in order, create /dev nodes and
//! links, run the createContainer hooks (caller), pivot_root, then sysctl,
//! readonly and masked paths, and finally a read-only root.
//!
//! Every mount destination is resolved inside the rootfs with
//! openat2(RESOLVE_IN_ROOT) and mounted through its fd, so no symlink in the
//! image can send a mount to the host; /proc and /sys targets must contain no
//! symlink at all and must turn out to be procfs and sysfs.

pub mod devices;
pub mod masked;
pub mod mount;
pub mod options;
pub mod resolve;
pub mod sysctl;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::config::Config;
use crate::error::SysContext;
use crate::{Error, Result};

/// What the rootfs set-up needs to know besides the config.
#[derive(Debug)]
pub struct Context<'a> {
    pub cfg: &'a Config,
    /// the container has its own user namespace (mknod is not possible,
    /// mount flags of host mounts are locked)
    pub userns: bool,
    /// the container has a new cgroup namespace
    pub cgroupns: bool,
    pub cgroup_mounts: &'a [berth_cgroups::CgroupMount],
}

/// The mount propagation of the container's `/`.
fn root_propagation(cfg: &Config) -> MsFlags {
    cfg.linux()
        .rootfs_propagation
        .as_deref()
        .and_then(options::propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC)
}

/// Prepares the rootfs in the container's (new) mount namespace, up to but
/// not including pivot_root. Returns an fd of the rootfs mount.
pub fn prepare(ctx: &Context<'_>) -> Result<OwnedFd> {
    let cfg = ctx.cfg;
    let prop = root_propagation(cfg);
    // Mounts made from here on must not leak to the host (nor host mounts
    // keep arriving, unless the config asks for shared propagation).
    // private and slave can be applied now; shared and unbindable only after
    // pivot_root (a shared root cannot be pivoted, an unbindable one not bound)
    let first = if prop.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) { MsFlags::MS_SLAVE | MsFlags::MS_REC } else { prop | MsFlags::MS_REC };
    nix::mount::mount(None::<&str>, "/", None::<&str>, first, None::<&str>).ctx(|| "set propagation of /".into())?;

    let rootfs = &cfg.rootfs;
    nix::mount::mount(Some(rootfs), rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .ctx(|| format!("bind mount rootfs {}", rootfs.display()))?;
    if prop.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        // pivot_root refuses a shared new root or parent; the rootfs copy is
        // made private and becomes shared again after pivot_root
        nix::mount::mount(None::<&str>, rootfs, None::<&str>, MsFlags::MS_PRIVATE, None::<&str>)
            .ctx(|| format!("make rootfs {} private", rootfs.display()))?;
    }
    let root = nix::fcntl::open(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::path("open rootfs", rootfs, e.into()))?;

    let mounts = &cfg.spec.mounts;
    for (i, m) in mounts.iter().enumerate() {
        mount::mount_one(root.as_fd(), i, m, ctx)?;
    }
    if devices::needs_setup(mounts) {
        devices::setup(root.as_fd(), cfg, ctx.userns)?;
    }
    Ok(root)
}

/// Makes the prepared rootfs the container's `/` (pivot_root, or a move and
/// chroot with `--no-pivot`), leaving the old root unreachable.
pub fn pivot(root: &OwnedFd, cfg: &Config, no_pivot: bool) -> Result<()> {
    nix::unistd::fchdir(root.as_fd()).ctx(|| "chdir to rootfs".into())?;
    if no_pivot {
        nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).ctx(|| "move rootfs to /".into())?;
        nix::unistd::chroot(".").ctx(|| "chroot to rootfs".into())?;
    } else {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it afterwards removes it (runc's trick, no temp dir
        // needed). The kernel gives no promise what "." is after pivot_root,
        // so we go to the old root through an fd opened before.
        let old = nix::fcntl::open("/", OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(|| "open old root".into())?;
        nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root".into())?;
        nix::unistd::fchdir(old.as_fd()).ctx(|| "chdir to old root".into())?;
        // private: nothing may propagate out of the tree we are detaching,
        // and a private tree is detached without waiting on its peers
        nix::mount::mount(None::<&str>, ".", None::<&str>, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None::<&str>)
            .ctx(|| "make old root private".into())?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root".into())?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir to /".into())?;
    let prop = root_propagation(cfg);
    if cfg.linux().rootfs_propagation.as_deref().is_some_and(|p| !p.is_empty()) {
        nix::mount::mount(None::<&str>, "/", None::<&str>, prop, None::<&str>).ctx(|| "set rootfs propagation".into())?;
    }
    Ok(())
}

/// The steps after pivot_root: sysctl, readonly and masked paths, and a
/// read-only root when asked.
pub fn finalize(cfg: &Config, userns: bool) -> Result<()> {
    let linux = cfg.linux();
    sysctl::apply(&linux.sysctl)?;
    for p in &linux.readonly_paths {
        masked::readonly(Path::new(p), userns)?;
    }
    for p in &linux.masked_paths {
        masked::mask(Path::new(p))?;
    }
    if cfg.spec.root.as_ref().is_some_and(|r| r.readonly) {
        masked::remount_readonly(Path::new("/"), userns, false).map_err(|e| match e {
            Error::Sys { source, .. } => Error::sys("remount / read-only (root.readonly)", source),
            e => e,
        })?;
    }
    Ok(())
}
