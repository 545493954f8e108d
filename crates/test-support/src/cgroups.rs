//! Reading a container's cgroups back from the kernel.
//!
//! Tests must check what the kernel enforces, not what a runtime wrote: a
//! runtime that "creates" `/sys/fs/cgroup/memory.max` on the tmpfs of a
//! hybrid host (where `/sys/fs/cgroup` is a tmpfs with the hierarchies
//! mounted below it) has written an ordinary file that limits nothing. So
//! every directory found here can be checked with [`assert_real`]: its
//! filesystem is cgroupfs (statfs magic) and its hierarchy carries the
//! controller. A memory hog must only run after that check.
//!
//! Works the same on the hybrid host (v1 controllers plus an empty cgroup2 at
//! `/sys/fs/cgroup/unified`) and on a pure cgroup v2 host (the QEMU guest).

use crate::leaks::{MountInfo, mountinfo};
use std::path::{Path, PathBuf};

/// statfs magic of a cgroup v1 hierarchy.
pub const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
/// statfs magic of cgroup2.
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Hierarchy id (0 for cgroup2).
    pub hierarchy: u32,
    /// Controllers of a v1 hierarchy (`name=systemd` included); empty for
    /// cgroup2.
    pub controllers: Vec<String>,
    /// The cgroup path as the kernel shows it to the reader.
    pub path: String,
}

/// The lines of `/proc/<pid>/cgroup`. Panics if the process is gone.
#[track_caller]
pub fn memberships(pid: i64) -> Vec<Membership> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/cgroup: {e}"));
    parse_memberships(&text)
}

/// Parses `/proc/<pid>/cgroup` text.
pub fn parse_memberships(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let hierarchy = f.next()?.parse().ok()?;
            let ctrls = f.next()?;
            let path = f.next()?.to_string();
            let controllers = ctrls.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect();
            Some(Membership { hierarchy, controllers, path })
        })
        .collect()
}

/// Whether the host's `/sys/fs/cgroup` is cgroup2 itself (a pure v2 host).
pub fn pure_v2() -> bool {
    fs_magic(Path::new("/sys/fs/cgroup")) == Some(CGROUP2_SUPER_MAGIC)
}

/// The statfs magic of the filesystem holding `path`.
pub fn fs_magic(path: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(path).ok().map(|s| s.filesystem_type().0)
}

/// The mount of the v1 hierarchy carrying `controller` (`memory`,
/// `name=systemd`), or of cgroup2 when `controller` is `""`.
pub fn hierarchy_mount(controller: &str) -> Option<MountInfo> {
    mountinfo().into_iter().find(|m| {
        if controller.is_empty() {
            m.fs_type == "cgroup2"
        } else {
            m.fs_type == "cgroup" && m.super_options.split(',').any(|o| o == controller)
        }
    })
}

/// The controller's hierarchy: `Some(v1 mount)` when a v1 hierarchy has
/// it, else `None` (it lives on cgroup2, if anywhere).
fn v1_mount(controller: &str) -> Option<MountInfo> {
    if controller.is_empty() { None } else { hierarchy_mount(controller) }
}

/// The cgroup path (as `/proc/<pid>/cgroup` shows it) of process `pid` for
/// `controller`: its v1 hierarchy when there is one, else cgroup2 (`""`
/// asks for cgroup2 explicitly).
#[track_caller]
pub fn path_of(pid: i64, controller: &str) -> String {
    let lines = memberships(pid);
    let v1 = v1_mount(controller).is_some();
    lines
        .iter()
        .find(|m| if v1 { m.controllers.iter().any(|c| c == controller) } else { m.hierarchy == 0 })
        .map(|m| m.path.clone())
        .unwrap_or_else(|| panic!("process {pid} has no cgroup for {controller:?}: {lines:?}"))
}

/// The host directory of the cgroup of process `pid` for `controller` (see
/// [`path_of`]).
#[track_caller]
pub fn dir_of(pid: i64, controller: &str) -> PathBuf {
    let path = path_of(pid, controller);
    dir_for_path(controller, &path)
}

/// The host directory of cgroup `path` (as a process in the host's cgroup
/// namespace sees it) in the hierarchy of `controller`.
#[track_caller]
pub fn dir_for_path(controller: &str, path: &str) -> PathBuf {
    let mount = v1_mount(controller)
        .or_else(|| hierarchy_mount(""))
        .unwrap_or_else(|| panic!("no cgroup hierarchy for {controller:?} is mounted"));
    let rel = path.strip_prefix(&mount.root).unwrap_or(path);
    Path::new(&mount.mount_point).join(rel.trim_start_matches('/'))
}

/// Panics unless `dir` is a real cgroup (cgroupfs, not a directory on a
/// tmpfs) whose hierarchy enforces `controller`: the v1 hierarchy mounted
/// with it, or a cgroup2 directory whose `cgroup.controllers` lists it.
#[track_caller]
pub fn assert_real(dir: &Path, controller: &str) {
    match fs_magic(dir) {
        Some(CGROUP_SUPER_MAGIC) => {
            let mount = mountinfo()
                .into_iter()
                .filter(|m| dir.starts_with(&m.mount_point))
                .max_by_key(|m| m.mount_point.len())
                .unwrap_or_else(|| panic!("no mount holds {}", dir.display()));
            assert!(
                mount.super_options.split(',').any(|o| o == controller),
                "{} is in a v1 hierarchy without {controller} ({})",
                dir.display(),
                mount.super_options
            );
        }
        Some(CGROUP2_SUPER_MAGIC) => {
            let ctrls = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            assert!(
                ctrls.split_whitespace().any(|c| c == controller),
                "{}: {controller} is not enabled for this cgroup2 group (cgroup.controllers: {ctrls:?})",
                dir.display()
            );
        }
        other => panic!(
            "{} is not on cgroupfs (statfs magic {other:x?}): limits written there are not enforced",
            dir.display()
        ),
    }
}

/// The trimmed contents of `dir/file`; panics naming the path.
#[track_caller]
pub fn read(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

/// `key value` lines (memory.stat, pids.events, cpu.stat, memory.events,
/// memory.oom_control, cgroup.events): the value of `key`.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next()? == key).then_some(())?;
        f.next()?.parse().ok()
    })
}

/// The pids listed in `dir/cgroup.procs`, sorted.
#[track_caller]
pub fn procs(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = read(dir, "cgroup.procs").lines().filter_map(|l| l.trim().parse().ok()).collect();
    v.sort_unstable();
    v
}

/// Removes the (empty) cgroup directories `rel` (e.g. `berth.slice`) in
/// every hierarchy, deepest first, ignoring those that are missing or still
/// in use. For parents that runtimes create but never remove.
pub fn remove_everywhere(rel: &[&str]) {
    let mut rels: Vec<&str> = rel.to_vec();
    rels.sort_by_key(|r| std::cmp::Reverse(r.len()));
    for mp in crate::leaks::cgroup_mount_points() {
        for r in &rels {
            let p = mp.join(r.trim_start_matches('/'));
            if p != mp && fs_magic(&p).is_some_and(|m| m == CGROUP_SUPER_MAGIC || m == CGROUP2_SUPER_MAGIC) {
                let _ = std::fs::remove_dir(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_and_v2_lines() {
        let m = parse_memberships("9:name=systemd:/\n4:memory:/a/b\n3:cpu,cpuacct:/c\n0::/d\n");
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].controllers, ["name=systemd"]);
        assert_eq!(m[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!((m[3].hierarchy, m[3].path.as_str()), (0, "/d"));
        assert!(m[3].controllers.is_empty());
    }

    #[test]
    fn keyed_reads_values() {
        assert_eq!(keyed("max 3\nfoo 1\n", "max"), Some(3));
        assert_eq!(keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(keyed("max 3\n", "min"), None);
    }

    #[test]
    fn own_cgroups_are_real() {
        let me = std::process::id() as i64;
        if pure_v2() {
            assert_eq!(fs_magic(&dir_of(me, "")), Some(CGROUP2_SUPER_MAGIC));
            return;
        }
        let Some(_) = hierarchy_mount("memory") else {
            eprintln!("no v1 memory hierarchy here; skipping");
            return;
        };
        let dir = dir_of(me, "memory");
        assert_real(&dir, "memory");
        assert!(dir.join("memory.limit_in_bytes").exists(), "{}", dir.display());
        // the hybrid tmpfs itself is not a cgroup
        let tmpfs = Path::new("/sys/fs/cgroup");
        if fs_magic(tmpfs) != Some(CGROUP2_SUPER_MAGIC) {
            assert!(std::panic::catch_unwind(|| assert_real(tmpfs, "memory")).is_err());
        }
    }
}

/// A cgroup parent of a test's own for a daemon or engine whose state lives
/// in `dir` (`/berth-test-<dir's name>`, unique per test): its containers'
/// cgroups go below it, and [`remove_everywhere`] removes it afterwards,
/// so that no test leaves a `/berth` parent behind.
pub fn parent_for(dir: &Path) -> String {
    format!("/berth-test-{}", dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}
