//! cgroups v1, v2 and the hybrid layout behind one interface.
//!
//! Owns everything under the cgroup filesystems for one container: creating the group,
//! applying `linux.resources`, device rules, freezing, stats, OOM notification, listing,
//! killing and removing. It must not touch namespaces, mounts or processes beyond writing pids
//! into `cgroup.procs` and signalling the processes of the container's own cgroup.
//!
//! # Layout detection
//!
//! [`detect`] / [`Hierarchies::detect`] read `/proc/self/mountinfo` once:
//!
//! | mounted | layout | where controllers live |
//! |---|---|---|
//! | only `cgroup` (v1) hierarchies | [`Layout::V1`] | each v1 hierarchy (named ones such as `name=systemd` are joined too) |
//! | only `cgroup2` | [`Layout::V2`] | the cgroup2 mount (usually `/sys/fs/cgroup`) |
//! | both | [`Layout::Hybrid`] | v1 hierarchies; the cgroup2 mount (usually `/sys/fs/cgroup/unified`) only for controllers listed in its root `cgroup.controllers` (e.g. `hugetlb` on a host that does not mount it in v1) |
//!
//! A hybrid host's cgroup2 mount is never taken for the controllers' home: its
//! `cgroup.controllers` is often empty. The container is placed in it too (as runc does), so
//! that `cgroup.freeze`/`cgroup.kill` and v2-only controllers can be used when v1 lacks them.
//! The tmpfs that holds the v1 mount points is never written: every directory is created
//! below a mount point taken from mountinfo and checked to be a cgroup filesystem by statfs.
//!
//! # Path rules
//!
//! See [`CgroupPath::from_spec`]:
//! * `linux.cgroupsPath` absolute (`/a/b`): `<mount point>/a/b` in every hierarchy.
//! * relative (`a/b`): below the runtime's own cgroup in each hierarchy
//!   (`/proc/self/cgroup`); [`CgroupManager::spec`] records the result in
//!   [`CgroupSpec::resolved`] so that later commands (run from another cgroup) find the same
//!   directories. On cgroup v2 a relative path below a cgroup that holds processes cannot
//!   get controllers ("no internal processes"), as with runc.
//! * empty or absent: `/berth/<container id>`; destroy also removes `/berth` once it is empty.
//! * systemd mode (`--systemd-cgroup`): `slice:prefix:name` is mapped onto cgroupfs with the
//!   hierarchy systemd would create: `system.slice:docker:abc` → `/system.slice/docker-abc.scope`,
//!   nested slices `a-b.slice` → `/a.slice/a-b.slice`, an empty slice means `system.slice`,
//!   a name ending in `.slice` is used as is, and an empty path means `:berth:<id>`. There is
//!   no D-Bus client: when systemd is running (`/run/systemd/system` exists) systemd mode is
//!   refused with "not supported yet" instead of racing systemd for its own directories.
//! * `..` components, NUL bytes and paths naming a hierarchy's root are rejected.
//!
//! # Conversions (OCI values are cgroup v1 units)
//!
//! | OCI | v1 | v2 |
//! |---|---|---|
//! | memory.limit (-1 = unlimited, 0 = unset) | memory.limit_in_bytes | memory.max |
//! | memory.reservation | memory.soft_limit_in_bytes | memory.low |
//! | memory.swap (memory + swap) | memory.memsw.limit_in_bytes (ordered against the limit) | memory.swap.max = swap − limit (runc/crun) |
//! | memory.swappiness | memory.swappiness | not supported (error) |
//! | memory.kernel / kernelTCP | memory.kmem[.tcp].limit_in_bytes if the kernel still has it | not supported (error) |
//! | memory.disableOOMKiller | memory.oom_control | not supported when true (error) |
//! | memory.useHierarchy | memory.use_hierarchy | always hierarchical; false is an error |
//! | memory.checkBeforeUpdate | usage checked before lowering the limit | same, with memory.current |
//! | cpu.shares | cpu.shares (read back: a clamped value is an error) | cpu.weight = 1 + (shares − 2) × 9999 / 262142 (crun) |
//! | cpu.quota / period | cpu.cfs_quota_us / cpu.cfs_period_us | cpu.max "quota period" ("max" when quota ≤ 0) |
//! | cpu.burst | cpu.cfs_burst_us | cpu.max.burst |
//! | cpu.realtimeRuntime / Period | cpu.rt_runtime_us / cpu.rt_period_us | not supported (error) |
//! | cpu.idle | cpu.idle | cpu.idle |
//! | cpu.cpus / mems | cpuset.cpus / mems (new v1 cpusets inherit the parent's first) | cpuset.cpus / mems |
//! | pids.limit (< 0 = unlimited, 0 = unset as in runc) | pids.max | pids.max |
//! | blockIO.weight | blkio.weight, else blkio.bfq.weight | io.bfq.weight, else io.weight = 1 + (w − 10) × 9999 / 990 |
//! | blockIO.leafWeight (+ per device) | blkio.leaf_weight[_device] (CFQ only) | not supported (error) |
//! | blockIO.weightDevice | blkio[.bfq].weight_device | io.bfq.weight / io.weight "maj:min w" |
//! | blockIO.throttle* | blkio.throttle.{read,write}_{bps,iops}_device | io.max rbps/wbps/riops/wiops (0 = max) |
//! | hugepageLimits | hugetlb.SIZE.limit_in_bytes (+ .rsvd. when present) | hugetlb.SIZE.max (+ .rsvd.max) |
//! | network.classID / priorities | net_cls.classid / net_prio.ifpriomap | not supported (error) |
//! | rdma | rdma.max | rdma.max |
//! | unified | error (hybrid: allowed for controllers that live in the cgroup2 mount) | written as given, after everything else |
//! | devices | devices.deny "a" then the allow list (see [`devices`]) | eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` with `BPF_F_ALLOW_MULTI`, replaced atomically |
//!
//! A field that needs a controller the host lacks is an error naming the field and the
//! controller ([`Error::ControllerMissing`]); nothing is silently dropped. Setting swap to
//! unlimited where swap accounting is off is a no-op, as in runc.
//!
//! # Not supported (yet)
//! * Driving systemd over D-Bus (systemd mode works on cgroupfs only, see above).
//! * v2 threaded cgroups, `memory.swappiness`/kernel memory/OOM-killer disabling and realtime
//!   CPU on v2, net_cls/net_prio on v2 (errors say so).
//! * Changing device rules in [`CgroupManager::update`]: like `runc update`, it leaves them as
//!   created; [`CgroupManager::apply_devices`] replaces them explicitly.
//! * Rootless containers get a cgroup only when the target is writable (delegated);
//!   otherwise [`manager`] returns a manager whose [`CgroupManager::enabled`] is false and
//!   whose operations that need a cgroup fail with [`Error::NoCgroup`]. With a delegated
//!   cgroup, device rules are not enforced (no CAP_BPF / CAP_SYS_ADMIN; as in runc the
//!   container reaches only devices its user may open) and `apply_devices` says so.
//!
//! # Dependencies
//! `oci-spec` for the resource types the runtime already holds; `nix` and `libc` for statfs,
//! eventfd, inotify, poll, kill and the raw bpf(2) calls (aya needs a newer toolchain and a
//! loader we do not need for one hand-assembled program); `serde` for [`CgroupSpec`] (kept in
//! the runtime's state.json) and [`Stats`]; `thiserror` for [`Error`].

mod convert;
pub mod devices;
mod disabled;
mod error;
mod fs;
mod mountinfo;
mod oom;
mod path;
mod resources;
mod stats;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use convert::{blkio_weight_to_io_weight, shares_to_weight, swap_to_v2};
pub use devices::{Access, DeviceRule, DeviceRules, DeviceType, default_rules};
pub use error::{Error, Result};
pub use mountinfo::{
    Hierarchies, Layout, ProcCgroup, UnifiedHierarchy, V1Hierarchy, detect, parse_proc_cgroup,
};
pub use oom::{OomEvent, OomWatcher};
pub use path::{CgroupPath, DEFAULT_PARENT, expand_slice, systemd_to_path};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};
pub use v1::V1Manager;
pub use v2::V2Manager;

/// What identifies a container's cgroup. Stored in the runtime's state.json to rebuild the
/// manager in later commands.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CgroupSpec {
    /// `linux.cgroupsPath` (see the crate docs for the rules).
    pub cgroups_path: Option<PathBuf>,
    /// The container id (for the default path).
    pub container_id: String,
    /// `--systemd-cgroup`: the path is `slice:prefix:name`.
    pub systemd: bool,
    /// The runtime runs rootless: use a cgroup only if delegated.
    pub rootless: bool,
    /// The directory in each hierarchy, keyed by the hierarchy's mount data (`memory`,
    /// `cpu,cpuacct`, `name=systemd`, `unified` for cgroup2), filled in by the manager. When
    /// present it is used instead of resolving the path again; each entry must still be
    /// below the current mount point of its hierarchy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<BTreeMap<String, PathBuf>>,
}

impl CgroupSpec {
    /// A spec for a container with no `linux.cgroupsPath`, cgroupfs mode, not rootless.
    pub fn new(container_id: impl Into<String>) -> Self {
        CgroupSpec {
            cgroups_path: None,
            container_id: container_id.into(),
            systemd: false,
            rootless: false,
            resolved: None,
        }
    }
}

/// The freezer state of a container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Some processes are still being frozen.
    Freezing,
    /// Stopped.
    Frozen,
}

/// What to mount for a `cgroup` mount in config.json: one entry per hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupMount {
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Mount data: `memory`, `cpu,cpuacct`, `name=systemd`, or empty for cgroup2.
    pub data: String,
    /// The directory under the container's `/sys/fs/cgroup` (`memory`, `cpu,cpuacct`,
    /// `unified`); empty when cgroup2 is mounted at `/sys/fs/cgroup` itself.
    pub subdir: String,
    /// The container's cgroup directory in this hierarchy on the host (to bind-mount when
    /// there is no cgroup namespace).
    pub host_dir: PathBuf,
    /// Controller names of a co-mounted hierarchy that differ from `subdir`, for which runc
    /// creates symlinks (`cpu` and `cpuacct` → `cpu,cpuacct`).
    pub aliases: Vec<String>,
}

/// One container's cgroups.
pub trait CgroupManager: std::fmt::Debug + Send + Sync {
    /// Creates the directories in every hierarchy (idempotent).
    fn create(&self) -> Result<()>;
    /// Moves a process into the cgroup in every hierarchy.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Applies `linux.resources` and the device rules at create time. Values are checked
    /// before anything is written; on a kernel refusal part of it may have been written, and
    /// the caller destroys the cgroup. `r.devices` is not read: the device rules come in
    /// `devices`, composed by [`DeviceRules::for_container`].
    fn apply(&self, r: &oci_spec::runtime::LinuxResources, devices: &DeviceRules) -> Result<()>;
    /// `runc update` semantics: applies the resources given, leaving the rest (and the device
    /// rules: `r.devices` is not used) as they are. `memory.checkBeforeUpdate` is honoured.
    fn update(&self, r: &oci_spec::runtime::LinuxResources) -> Result<()>;
    /// Replaces the device rules.
    fn apply_devices(&self, devices: &DeviceRules) -> Result<()>;
    /// Every process in the cgroup and its sub-cgroups, across hierarchies, sorted.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Freezes the processes and waits until they are frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws them and waits until they run again.
    fn thaw(&self) -> Result<()>;
    /// The freezer state.
    fn freezer_state(&self) -> Result<FreezerState>;
    /// Resource usage.
    fn stats(&self) -> Result<Stats>;
    /// How many processes the OOM killer has killed in the cgroup.
    fn oom_kill_count(&self) -> Result<u64>;
    /// A watcher that reports OOM events as they happen (eventfd on v1, inotify on v2).
    fn oom_watcher(&self) -> Result<OomWatcher>;
    /// Sends `sig` to every process (v2 `cgroup.kill` for SIGKILL when present; otherwise
    /// freeze, signal each, thaw). For SIGKILL, waits until the cgroup is empty.
    fn kill_all(&self, sig: i32) -> Result<()>;
    /// Removes the cgroup (and any sub-cgroups) in every hierarchy, retrying briefly while
    /// exiting processes keep it busy. Directories already gone are fine.
    fn destroy(&self) -> Result<()>;
    /// What a `cgroup` mount inside the container consists of.
    fn mounts(&self) -> Result<Vec<CgroupMount>>;
    /// The spec, with [`CgroupSpec::resolved`] filled in: store this one.
    fn spec(&self) -> CgroupSpec;
    /// The container's directory in each hierarchy (key as in [`CgroupSpec::resolved`]).
    fn paths(&self) -> BTreeMap<String, PathBuf>;
    /// False when the container has no cgroup (rootless without delegation).
    fn enabled(&self) -> bool;
}

/// The manager for a container: reads mountinfo and picks the backend by layout.
pub fn manager(spec: &CgroupSpec) -> Result<Box<dyn CgroupManager>> {
    manager_with(&Hierarchies::detect()?, spec)
}

/// Like [`manager`] with hierarchies the caller already detected (one mountinfo read per
/// command).
pub fn manager_with(h: &Hierarchies, spec: &CgroupSpec) -> Result<Box<dyn CgroupManager>> {
    if spec.systemd && Path::new("/run/systemd/system").is_dir() {
        return Err(Error::unsupported(
            "--systemd-cgroup while systemd is running: driving cgroups through systemd over D-Bus is not implemented; without systemd the slice:prefix:name path is mapped onto cgroupfs",
        ));
    }
    let dirs = resolve_dirs(h, spec)?;
    let mut full = spec.clone();
    full.resolved = Some(dirs.clone());
    if spec.rootless
        && let Some(reason) = not_delegated(&dirs) {
            return Ok(Box::new(disabled::NoCgroupManager::new(full, reason)));
        }
    match h.layout {
        Layout::V2 => {
            let u = h.unified.as_ref().ok_or(Error::NoCgroupMounts)?;
            let dir = dirs.get(UNIFIED_KEY).cloned().ok_or(Error::NoCgroupMounts)?;
            Ok(Box::new(V2Manager::new(full, u.mount_point.clone(), dir, None)))
        }
        Layout::V1 | Layout::Hybrid => Ok(Box::new(V1Manager::new(full, h, &dirs)?)),
    }
}

/// Whether the spec uses the default `/berth/<id>` path, whose parent destroy removes
/// when it is left empty.
pub(crate) fn default_parent_of(spec: &CgroupSpec, dir: &Path) -> Option<PathBuf> {
    let default = !spec.systemd && spec.cgroups_path.as_ref().is_none_or(|p| p.as_os_str().is_empty());
    let parent = dir.parent()?;
    (default && parent.file_name()? == DEFAULT_PARENT).then(|| parent.to_owned())
}

/// Key of the cgroup2 hierarchy in [`CgroupSpec::resolved`].
pub const UNIFIED_KEY: &str = "unified";

fn resolve_dirs(h: &Hierarchies, spec: &CgroupSpec) -> Result<BTreeMap<String, PathBuf>> {
    let mut wanted: Vec<(String, &Path, &str, Vec<String>)> = h
        .v1
        .iter()
        .map(|x| (x.mount_data(), x.mount_point.as_path(), x.root.as_str(), x.controllers.clone()))
        .collect();
    if let Some(u) = &h.unified {
        wanted.push((UNIFIED_KEY.to_owned(), u.mount_point.as_path(), u.root.as_str(), Vec::new()));
    }
    if let Some(res) = &spec.resolved {
        let mut out = BTreeMap::new();
        for (key, mount, _, _) in &wanted {
            let dir = res.get(key).ok_or_else(|| Error::InvalidPath {
                path: format!("{res:?}"),
                reason: format!("the stored cgroup paths have no entry for hierarchy {key} (the host's cgroup layout changed?)"),
            })?;
            let rel = dir.strip_prefix(mount).map_err(|_| Error::InvalidPath {
                path: dir.display().to_string(),
                reason: format!("not below the {key} mount point {}", mount.display()),
            })?;
            let rel = rel.to_str().ok_or_else(|| Error::InvalidPath {
                path: dir.display().to_string(),
                reason: "not valid UTF-8".into(),
            })?;
            path::clean(rel)?;
            out.insert(key.clone(), dir.clone());
        }
        return Ok(out);
    }
    let cp = CgroupPath::from_spec(spec.cgroups_path.as_deref(), &spec.container_id, spec.systemd)?;
    let own = match cp {
        CgroupPath::Relative(_) => Some(parse_proc_cgroup(&fs::read(Path::new("/proc/self/cgroup"))?)?),
        CgroupPath::Absolute(_) => None,
    };
    let mut out = BTreeMap::new();
    for (key, mount, root, ctrls) in wanted {
        let own_path = own.as_deref().and_then(|o| mountinfo::own_cgroup(o, &ctrls));
        out.insert(key.clone(), cp.dir_in(&key, mount, root, own_path)?);
    }
    Ok(out)
}

/// Why a rootless runtime cannot use these directories, or `None` if it can.
fn not_delegated(dirs: &BTreeMap<String, PathBuf>) -> Option<String> {
    for dir in dirs.values() {
        // The closest directory that exists must be writable by us (effective ids).
        let mut d = dir.as_path();
        while !d.exists() {
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        if !writable(d) || (d == dir.as_path() && !writable(&d.join("cgroup.procs"))) {
            return Some(format!(
                "rootless and {} is not writable (no delegated cgroup)",
                d.display()
            ));
        }
    }
    None
}

fn writable(p: &Path) -> bool {
    use nix::fcntl::{AT_FDCWD, AtFlags};
    use nix::unistd::AccessFlags;
    // effective ids, as the kernel will check them on write
    nix::unistd::faccessat(AT_FDCWD, p, AccessFlags::W_OK, AtFlags::AT_EACCESS).is_ok()
}
