//! Finding (and, as a last resort, removing) what a container left behind.
//!
//! A runtime must leave nothing once `delete` returns or once a failing
//! `create` returns: no mount mentioning the bundle, no cgroup directory named
//! after the container id in any hierarchy, no process whose root or cwd is in
//! the bundle, no state directory. [`leftovers`] lists what it finds;
//! [`scrub`] removes it so that one broken runtime cannot poison the next test.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Field 1.
    pub mount_id: u32,
    /// Field 2.
    pub parent_id: u32,
    /// Field 4: the path within the mounted filesystem.
    pub root: String,
    /// Field 5.
    pub mount_point: String,
    /// Field 6: per-mount options (`rw,nosuid,...`).
    pub mount_options: String,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
    /// Filesystem type.
    pub fs_type: String,
    /// Mount source.
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

impl MountInfo {
    /// Parses one mountinfo line (octal escapes like `\040` are decoded).
    pub fn parse(line: &str) -> Option<MountInfo> {
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            return None;
        }
        Some(MountInfo {
            mount_id: l[0].parse().ok()?,
            parent_id: l[1].parse().ok()?,
            root: unescape(l[3]),
            mount_point: unescape(l[4]),
            mount_options: l[5].to_string(),
            optional: l[6..].iter().map(|s| s.to_string()).collect(),
            fs_type: r[0].to_string(),
            source: unescape(r[1]),
            super_options: r[2].to_string(),
        })
    }

    /// Whether a per-mount option is set (`has_option("ro")`).
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.split(',').any(|o| o == opt)
    }

    /// Propagation as mount(8) names it: `shared`, `slave`, `shared,slave`
    /// (both), `unbindable` or `private`.
    pub fn propagation(&self) -> String {
        let shared = self.optional.iter().any(|o| o.starts_with("shared:"));
        let slave = self.optional.iter().any(|o| o.starts_with("master:"));
        let unbindable = self.optional.iter().any(|o| o == "unbindable");
        match (shared, slave, unbindable) {
            (_, _, true) => "unbindable".into(),
            (true, true, _) => "shared,slave".into(),
            (true, false, _) => "shared".into(),
            (false, true, _) => "slave".into(),
            _ => "private".into(),
        }
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(MountInfo::parse).collect()
}

/// This process's mounts.
pub fn mountinfo() -> Vec<MountInfo> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Filesystem type of the mount holding `path` (longest mount-point prefix).
pub fn filesystem_type(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    mountinfo()
        .into_iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.len())
        .map(|m| m.fs_type)
}

/// Mount points where cgroup hierarchies (and the /sys/fs/cgroup tmpfs of a
/// hybrid host, where a buggy runtime could "create" cgroups) are mounted.
pub fn cgroup_mount_points() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = mountinfo()
        .into_iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2" || m.mount_point == "/sys/fs/cgroup")
        .map(|m| PathBuf::from(m.mount_point))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Directories named `id` in any cgroup hierarchy (searched 8 levels deep:
/// runtimes nest relative cgroup paths under their own cgroup).
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name() == id {
                found.push(p.clone());
            }
            // Do not descend from the /sys/fs/cgroup tmpfs into the
            // hierarchies mounted on it: they are walked on their own.
            if depth > 0 && crate::leaks::is_mount_point(&p).is_none_or(|mp| !mp) {
                walk(&p, id, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    for mp in cgroup_mount_points() {
        walk(&mp, id, 8, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// Whether `p` is a mount point (its device differs from its parent's).
pub fn is_mount_point(p: &Path) -> Option<bool> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let parent = std::fs::symlink_metadata(p.parent()?).ok()?;
    Some(m.dev() != parent.dev())
}

/// Processes (other than this one) whose root directory is `rootfs` (same
/// device and inode, which a bind mount preserves) or whose cwd or root is
/// under `bundle`.
pub fn processes_using(bundle: &Path, rootfs: &Path) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let target = std::fs::metadata(rootfs).ok().map(|m| (m.dev(), m.ino()));
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let proc_dir = e.path();
        let root_matches = target.is_some()
            && std::fs::metadata(proc_dir.join("root/")).ok().map(|m| (m.dev(), m.ino())) == target;
        let under_bundle = |link: &str| {
            std::fs::read_link(proc_dir.join(link)).ok().is_some_and(|p| p.starts_with(bundle))
        };
        if root_matches || under_bundle("cwd") || under_bundle("root") {
            let cmdline = std::fs::read(proc_dir.join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
                .unwrap_or_default();
            if cmdline.is_empty() && std::fs::metadata(&proc_dir).is_err() {
                continue; // exited while we looked
            }
            found.push((pid, cmdline));
        }
    }
    found
}

/// Host mounts whose source, root or mount point mentions `path`.
pub fn mounts_mentioning(path: &Path) -> Vec<MountInfo> {
    let p = path.to_string_lossy();
    mountinfo()
        .into_iter()
        .filter(|m| m.mount_point.contains(&*p) || m.root.contains(&*p) || m.source.contains(&*p))
        .collect()
}

/// Everything container `id` (bundle `bundle`, state in `state_dir`) left
/// behind, one line each; empty when clean.
pub fn leftovers(id: &str, bundle: &Path, state_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for m in mounts_mentioning(bundle) {
        out.push(format!("mount {} ({} on {})", m.mount_point, m.fs_type, m.source));
    }
    if is_plain_id(id) {
        for cg in cgroups_named(id) {
            out.push(format!("cgroup {}", cg.display()));
        }
    }
    for (pid, cmd) in processes_using(bundle, &bundle.join("rootfs")) {
        out.push(format!("process {pid} ({cmd})"));
    }
    if is_plain_id(id) && state_dir.exists() {
        out.push(format!("state dir {}", state_dir.display()));
    }
    out
}

/// Removes what [`leftovers`] would report: kills the processes, detaches the
/// mounts, removes the cgroup directories and the state directory. Best effort;
/// never panics.
pub fn scrub(id: &str, bundle: &Path, state_dir: &Path) {
    let rootfs = bundle.join("rootfs");
    let cgroups = if is_plain_id(id) {
        cgroups_named(id)
    } else {
        Vec::new()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut pids: Vec<i32> = processes_using(bundle, &rootfs).into_iter().map(|(p, _)| p).collect();
        for cg in &cgroups {
            if let Ok(text) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.retain(|&p| p != std::process::id() as i32);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) with a pid read from /proc; no memory involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut mounts = mounts_mentioning(bundle);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
    for m in mounts {
        let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
    let mut cgroups = cgroups;
    cgroups.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for cg in cgroups {
        remove_cgroup_tree(&cg);
    }
    // Only a state dir named after a plain id: with an id like ".." the
    // path would be the parent of the runtime root.
    if is_plain_id(id) && state_dir.file_name().is_some_and(|n| n == id) {
        let _ = std::fs::remove_dir_all(state_dir);
    }
}

/// Whether `id` is usable as one path component (not empty, `.`, `..`, no
/// `/`). Leftover checks and cleanup only look for such ids.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && id != "." && id != ".." && !id.contains('\0')
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    // cgroupfs directories are removed with rmdir even though they list files;
    // on the hybrid tmpfs a stray directory may really hold files.
    if std::fs::remove_dir(dir).is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_optional_fields_and_escapes() {
        let m = MountInfo::parse(
            "36 35 98:0 /mnt1 /mnt/my\\040dir rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue",
        )
        .expect("parses");
        assert_eq!(m.mount_id, 36);
        assert_eq!(m.parent_id, 35);
        assert_eq!(m.root, "/mnt1");
        assert_eq!(m.mount_point, "/mnt/my dir");
        assert!(m.has_option("noatime"));
        assert!(!m.has_option("ro"));
        assert_eq!(m.propagation(), "shared,slave");
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.source, "/dev/root");
        assert!(MountInfo::parse("garbage").is_none());
    }

    #[test]
    fn finds_and_scrubs_a_stray_cgroup_and_process() {
        // A real cgroup in a real v1 hierarchy and a real process in a dir.
        let Some(hier) = cgroup_mount_points().into_iter().find(|p| p.ends_with("pids")) else {
            eprintln!("no pids hierarchy here; skipping");
            return;
        };
        let id = format!("berth-t-leaktest-{}", std::process::id());
        let bundle = crate::temp_dir("leaktest-");
        std::fs::create_dir(bundle.path().join("rootfs")).expect("mkdir rootfs");
        std::fs::create_dir(hier.join(&id)).expect("mkdir cgroup");
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .current_dir(bundle.path())
            .spawn()
            .expect("spawn sleep");
        let state = bundle.path().join(&id);
        std::fs::create_dir(&state).expect("mkdir state");
        let found = leftovers(&id, bundle.path(), &state);
        assert!(found.iter().any(|l| l.starts_with("cgroup ")), "{found:?}");
        assert!(found.iter().any(|l| l.contains(&format!("process {}", child.id()))), "{found:?}");
        assert!(found.iter().any(|l| l.starts_with("state dir")), "{found:?}");
        scrub(&id, bundle.path(), &state);
        let _ = child.wait();
        assert_eq!(leftovers(&id, bundle.path(), &state), Vec::<String>::new());
    }
}
