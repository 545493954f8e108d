//! What the host has mounted: cgroup v1 hierarchies, the cgroup2 hierarchy, and the layout
//! they add up to. Read from `/proc/self/mountinfo` once per call.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs;

/// How the host's cgroup filesystems are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the cgroup2 hierarchy holds controllers (pure "unified" mode).
    V2,
    /// v1 hierarchies hold the controllers, and a cgroup2 hierarchy is mounted too (systemd's
    /// "hybrid" mode, usually at `/sys/fs/cgroup/unified`). Controllers not bound to any v1
    /// hierarchy are available there.
    Hybrid,
}

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// Which cgroup of the hierarchy the mount shows at its top (the mountinfo root field,
    /// "/" unless a sub-tree was bind-mounted).
    pub root: String,
    /// Controllers bound to it, e.g. `["cpu", "cpuacct"]`, or a name such as `name=systemd`.
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    /// The controllers as mount data, e.g. `cpu,cpuacct` or `name=systemd`.
    pub fn mount_data(&self) -> String {
        self.controllers.join(",")
    }

    /// Whether this is a named hierarchy without any controller (e.g. `name=systemd`).
    pub fn is_named_only(&self) -> bool {
        self.controllers.iter().all(|c| c.starts_with("name="))
    }

    /// Whether `controller` is bound to this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The mounted cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedHierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`.
    pub mount_point: PathBuf,
    /// The mountinfo root field.
    pub root: String,
    /// Controllers available at the top of the mount (`cgroup.controllers`). Only read for
    /// the hybrid layout, where it decides which controllers live in v2; empty otherwise.
    pub controllers: Vec<String>,
}

/// All cgroup hierarchies of the host, as one process sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    /// The layout they add up to.
    pub layout: Layout,
    /// Mounted v1 hierarchies (named ones included), in mountinfo order.
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount, if any.
    pub unified: Option<UnifiedHierarchy>,
}

/// Reads `/proc/self/mountinfo` and works out the layout.
pub fn detect() -> Result<Layout> {
    Ok(Hierarchies::detect()?.layout)
}

impl Hierarchies {
    /// Reads `/proc/self/mountinfo` (once) and, on a hybrid host, the unified root's
    /// `cgroup.controllers`.
    pub fn detect() -> Result<Self> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read(path)?;
        let mut h = Self::from_mountinfo(&text)?;
        if h.layout == Layout::Hybrid
            && let Some(u) = &mut h.unified {
                let f = u.mount_point.join("cgroup.controllers");
                u.controllers = fs::read_opt(&f)?
                    .map(|s| s.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
            }
        Ok(h)
    }

    /// Parses mountinfo text. `unified.controllers` is left empty (see [`Hierarchies::detect`]).
    pub fn from_mountinfo(text: &str) -> Result<Self> {
        let mut v1: Vec<V1Hierarchy> = Vec::new();
        let mut unified: Option<UnifiedHierarchy> = None;
        // One entry per superblock: the same hierarchy bind-mounted twice counts once.
        let mut seen_dev: HashSet<String> = HashSet::new();
        for line in text.lines() {
            let Some(m) = parse_line(line)? else { continue };
            match m.fstype {
                "cgroup" => {
                    if !seen_dev.insert(m.dev.to_owned()) {
                        continue;
                    }
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| is_controller_option(o))
                        .map(str::to_owned)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    v1.push(V1Hierarchy {
                        mount_point: m.mount_point,
                        root: m.root,
                        controllers,
                    });
                }
                "cgroup2" => {
                    if !seen_dev.insert(m.dev.to_owned()) || unified.is_some() {
                        continue;
                    }
                    unified = Some(UnifiedHierarchy {
                        mount_point: m.mount_point,
                        root: m.root,
                        controllers: Vec::new(),
                    });
                }
                _ => {}
            }
        }
        let has_v1_controllers = v1.iter().any(|h| !h.is_named_only());
        let layout = match (has_v1_controllers, unified.is_some()) {
            (true, true) => Layout::Hybrid,
            (true, false) => Layout::V1,
            (false, true) => Layout::V2,
            (false, false) if !v1.is_empty() => Layout::V1,
            (false, false) => return Err(Error::NoCgroupMounts),
        };
        if layout == Layout::V2 {
            // A leftover named v1 hierarchy (e.g. name=systemd for old containers) holds no
            // controllers; in pure v2 mode we neither create nor join anything there.
            v1.clear();
        }
        Ok(Hierarchies {
            layout,
            v1,
            unified,
        })
    }

    /// The v1 hierarchy that `controller` is bound to.
    pub fn v1_for(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

/// Options of a cgroup v1 superblock that are not controller names.
fn is_controller_option(o: &str) -> bool {
    if o.starts_with("name=") {
        return o.len() > "name=".len();
    }
    !matches!(
        o,
        "" | "rw"
            | "ro"
            | "noprefix"
            | "clone_children"
            | "xattr"
            | "cpuset_v2_mode"
            | "favordynmods"
            | "nofavordynmods"
            | "all"
            | "none"
    ) && !o.contains('=')
}

struct MountLine<'a> {
    dev: &'a str,
    root: String,
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

fn parse_line(line: &str) -> Result<Option<MountLine<'_>>> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let bad = |reason: &str| Error::Parse {
        file: "/proc/self/mountinfo".into(),
        line: line.to_owned(),
        reason: reason.to_owned(),
    };
    let (pre, post) = line
        .split_once(" - ")
        .ok_or_else(|| bad("no \" - \" separator"))?;
    let pre: Vec<&str> = pre.split(' ').collect();
    if pre.len() < 6 {
        return Err(bad("fewer than 6 fields before the separator"));
    }
    let mut post = post.split(' ');
    let fstype = post.next().ok_or_else(|| bad("no filesystem type"))?;
    let _source = post.next().ok_or_else(|| bad("no mount source"))?;
    let super_options = post.next().unwrap_or("");
    Ok(Some(MountLine {
        dev: pre[2],
        root: unescape(pre[3]),
        mount_point: PathBuf::from(unescape(pre[4])),
        fstype,
        super_options,
    }))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
        {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    /// Hierarchy id (0 for cgroup2).
    pub id: u32,
    /// Controllers of the hierarchy (empty for cgroup2), e.g. `["cpu", "cpuacct"]`.
    pub controllers: Vec<String>,
    /// The process's cgroup in that hierarchy, relative to the cgroup namespace root.
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup` text.
pub fn parse_proc_cgroup(text: &str) -> Result<Vec<ProcCgroup>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let bad = |reason: &str| Error::Parse {
                file: "/proc/self/cgroup".into(),
                line: l.to_owned(),
                reason: reason.to_owned(),
            };
            let mut it = l.splitn(3, ':');
            let id = it
                .next()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad hierarchy id"))?;
            let ctrls = it.next().ok_or_else(|| bad("no controller field"))?;
            let path = it.next().ok_or_else(|| bad("no path field"))?;
            Ok(ProcCgroup {
                id,
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// The cgroup of the current process in the hierarchy with these controllers (`[]` = cgroup2).
pub(crate) fn own_cgroup<'a>(entries: &'a [ProcCgroup], controllers: &[String]) -> Option<&'a str> {
    entries
        .iter()
        .find(|e| {
            if controllers.is_empty() {
                e.id == 0 && e.controllers.is_empty()
            } else {
                let mut a: Vec<&str> = e.controllers.iter().map(String::as_str).collect();
                let mut b: Vec<&str> = controllers.iter().map(String::as_str).collect();
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
        })
        .map(|e| e.path.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's layout: v1 controllers in their own hierarchies (cpu and cpuacct apart),
    /// /sys/fs/cgroup a tmpfs, and a cgroup2 mount at /sys/fs/cgroup/unified.
    pub(crate) const HYBRID: &str = "\
24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const PURE_V2: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    const CLASSIC_V1: &str = "\
25 22 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
32 25 0:28 /sub /mnt/again rw,nosuid shared:15 - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_host_is_hybrid_and_v1_owns_the_controllers() {
        let h = Hierarchies::from_mountinfo(HYBRID).unwrap();
        assert_eq!(h.layout, Layout::Hybrid);
        assert_eq!(h.v1.len(), 9);
        assert_eq!(
            h.v1_for("memory").unwrap().mount_point,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(h.v1_for("cpuacct").unwrap().controllers, vec!["cpuacct"]);
        assert!(h.v1_for("hugetlb").is_none());
        let u = h.unified.unwrap();
        assert_eq!(u.mount_point, Path::new("/sys/fs/cgroup/unified"));
        // the tmpfs at /sys/fs/cgroup is never taken for a cgroup mount
        assert!(h.v1.iter().all(|x| x.mount_point != Path::new("/sys/fs/cgroup")));
    }

    #[test]
    fn pure_v2_is_v2() {
        let h = Hierarchies::from_mountinfo(PURE_V2).unwrap();
        assert_eq!(h.layout, Layout::V2);
        assert!(h.v1.is_empty());
        assert_eq!(h.unified.unwrap().mount_point, Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn classic_v1_keeps_co_mounted_controllers_together_and_ignores_bind_mount_duplicates() {
        let h = Hierarchies::from_mountinfo(CLASSIC_V1).unwrap();
        assert_eq!(h.layout, Layout::V1);
        assert_eq!(h.v1.len(), 4);
        let cpu = h.v1_for("cpu").unwrap();
        assert_eq!(cpu.controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(cpu.mount_data(), "cpu,cpuacct");
        assert_eq!(h.v1_for("memory").unwrap().mount_point, Path::new("/sys/fs/cgroup/memory"));
        let sd = h.v1.iter().find(|x| x.is_named_only()).unwrap();
        assert_eq!(sd.mount_data(), "name=systemd");
        assert!(h.unified.is_none());
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let err = Hierarchies::from_mountinfo("24 1 254:0 / / rw - ext4 /dev/vda rw\n").unwrap_err();
        assert!(matches!(err, Error::NoCgroupMounts));
    }

    #[test]
    fn malformed_mountinfo_is_an_error_naming_the_line() {
        let err = Hierarchies::from_mountinfo("garbage without separator\n").unwrap_err();
        assert!(err.to_string().contains("garbage without separator"), "{err}");
    }

    #[test]
    fn escaped_mount_points_are_unescaped() {
        let text = "41 31 0:38 / /sys/fs/cgroup/my\\040dir rw - cgroup2 cgroup2 rw\n";
        let h = Hierarchies::from_mountinfo(text).unwrap();
        assert_eq!(h.unified.unwrap().mount_point, Path::new("/sys/fs/cgroup/my dir"));
    }

    #[test]
    fn proc_cgroup_parses_v1_and_v2_lines() {
        let t = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x:y\n0::/\n";
        let e = parse_proc_cgroup(t).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(own_cgroup(&e, &["memory".into()]), Some("/process_api/abc"));
        assert_eq!(own_cgroup(&e, &["cpuacct".into(), "cpu".into()]), Some("/x:y"));
        assert_eq!(own_cgroup(&e, &[]), Some("/"));
        assert_eq!(own_cgroup(&e, &["pids".into()]), None);
        assert!(parse_proc_cgroup("x:y\n").is_err());
    }
}
