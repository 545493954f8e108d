//! From `linux.cgroupsPath` (or the systemd `slice:prefix:name` form) to a directory in each
//! hierarchy.
//!
//! Hostile input: the path comes from config.json. `..` components are rejected outright (not
//! cleaned away), as are NUL bytes and paths that resolve to a hierarchy's root, so that a
//! container can never be placed in, or have limits written to, a cgroup outside the place it
//! was given.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The parent of the default cgroup: a container without `linux.cgroupsPath` goes to
/// `/berth/<id>` in every hierarchy.
pub const DEFAULT_PARENT: &str = "berth";

/// The scope prefix used in systemd mode when `linux.cgroupsPath` is empty.
pub const DEFAULT_SYSTEMD_PREFIX: &str = "berth";

/// The slice used in systemd mode when the `slice` part is empty.
pub const DEFAULT_SYSTEMD_SLICE: &str = "system.slice";

/// Where a container's cgroup is, before it is placed in a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    /// From the top of every hierarchy, e.g. `berth/abc` for `/berth/abc` (no leading slash).
    Absolute(String),
    /// Below the runtime's own cgroup in each hierarchy (from `/proc/self/cgroup`).
    Relative(String),
}

impl CgroupPath {
    /// Works out the path for a container.
    ///
    /// * systemd mode: `slice:prefix:name` → `<expanded slice>/<prefix>-<name>.scope` (or
    ///   `<expanded slice>/<name>` when `name` ends in `.slice`), absolute; empty → `:berth:<id>`.
    /// * cgroupfs mode: absolute → from each hierarchy's root; relative → below the runtime's
    ///   own cgroup; empty or absent → `/berth/<id>`.
    pub fn from_spec(cgroups_path: Option<&Path>, container_id: &str, systemd: bool) -> Result<Self> {
        let given = match cgroups_path {
            None => None,
            Some(p) => {
                let s = p.to_str().ok_or_else(|| Error::InvalidPath {
                    path: p.display().to_string(),
                    reason: "not valid UTF-8".into(),
                })?;
                if s.is_empty() { None } else { Some(s) }
            }
        };
        if let Some(s) = given
            && s.contains('\0') {
                return Err(Error::InvalidPath {
                    path: s.escape_default().to_string(),
                    reason: "contains a NUL byte".into(),
                });
            }
        if systemd {
            let owned;
            let s = match given {
                Some(s) => s,
                None => {
                    check_id(container_id)?;
                    owned = format!(":{DEFAULT_SYSTEMD_PREFIX}:{container_id}");
                    &owned
                }
            };
            return Ok(CgroupPath::Absolute(systemd_to_path(s)?));
        }
        match given {
            None => {
                check_id(container_id)?;
                Ok(CgroupPath::Absolute(format!("{DEFAULT_PARENT}/{container_id}")))
            }
            Some(s) if s.starts_with('/') => Ok(CgroupPath::Absolute(clean(s)?)),
            Some(s) => Ok(CgroupPath::Relative(clean(s)?)),
        }
    }

    /// The directory in one hierarchy.
    ///
    /// `mount_root` is the mountinfo root field of the hierarchy's mount; `own` is the
    /// runtime's cgroup in it from `/proc/self/cgroup` (needed for relative paths only).
    pub fn dir_in(
        &self,
        hierarchy: &str,
        mount_point: &Path,
        mount_root: &str,
        own: Option<&str>,
    ) -> Result<PathBuf> {
        match self {
            CgroupPath::Absolute(p) => Ok(mount_point.join(p)),
            CgroupPath::Relative(p) => {
                let own = own.ok_or_else(|| Error::OwnCgroupOutsideMount {
                    hierarchy: hierarchy.to_owned(),
                    own: "(not listed in /proc/self/cgroup)".into(),
                    root: mount_root.to_owned(),
                })?;
                let below = strip_root(own, mount_root).ok_or_else(|| Error::OwnCgroupOutsideMount {
                    hierarchy: hierarchy.to_owned(),
                    own: own.to_owned(),
                    root: mount_root.to_owned(),
                })?;
                // Our own cgroup comes from the kernel, but a "(deleted)" suffix or a ".."
                // must still not steer us anywhere.
                let below = if below.is_empty() { String::new() } else { clean(below)? };
                let mut d = mount_point.to_path_buf();
                if !below.is_empty() {
                    d.push(below);
                }
                d.push(p);
                Ok(d)
            }
        }
    }
}

fn strip_root<'a>(own: &'a str, root: &str) -> Option<&'a str> {
    if root == "/" {
        return Some(own.trim_start_matches('/'));
    }
    let rest = own.strip_prefix(root)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// Lexically checks a cgroup path and returns it without leading, trailing or doubled
/// slashes and without `.` components. `..` is an error, as is a path naming the root.
pub(crate) fn clean(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidPath {
                    path: path.to_owned(),
                    reason: "\"..\" components are not allowed".into(),
                });
            }
            c if c.len() > 255 => {
                return Err(Error::InvalidPath {
                    path: path.to_owned(),
                    reason: "a component is longer than 255 bytes".into(),
                });
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "names the root cgroup; a container needs a cgroup of its own".into(),
        });
    }
    Ok(parts.join("/"))
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') || id.len() > 255 {
        return Err(Error::InvalidPath {
            path: id.escape_default().to_string(),
            reason: "the container id cannot be used as a cgroup name".into(),
        });
    }
    Ok(())
}

/// `slice:prefix:name` → the cgroupfs path systemd would use, without a leading slash.
pub fn systemd_to_path(s: &str) -> Result<String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(Error::InvalidPath {
            path: s.to_owned(),
            reason: "expected \"slice:prefix:name\" for systemd cgroups".into(),
        });
    };
    let bad = |reason: &str| Error::InvalidPath {
        path: s.to_owned(),
        reason: reason.to_owned(),
    };
    let slice = if slice.is_empty() { DEFAULT_SYSTEMD_SLICE } else { slice };
    let slice_path = expand_slice(slice).map_err(|_| bad("the slice must be a valid systemd slice name such as \"system.slice\" or \"a-b.slice\""))?;
    if name.is_empty() {
        return Err(bad("the name part is empty"));
    }
    for part in [prefix, name] {
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '\\'))
            || part == "."
            || part == ".."
        {
            return Err(bad("prefix and name may hold only letters, digits and \"-_.@\\\""));
        }
    }
    let unit = if name.ends_with(".slice") {
        expand_slice(name).map_err(|_| bad("the name is not a valid slice name"))?;
        name.to_owned()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    if unit.len() > 255 {
        return Err(bad("the unit name is longer than 255 bytes"));
    }
    let mut out = slice_path;
    if !out.is_empty() {
        out.push('/');
    }
    out.push_str(&unit);
    Ok(out)
}

/// `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root slice) → ``.
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || Error::InvalidPath {
        path: slice.to_owned(),
        reason: "not a valid slice name".into(),
    };
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if base.is_empty() || slice.contains('/') {
        return Err(bad());
    }
    if base == "-" {
        return Ok(String::new());
    }
    let mut out = String::new();
    let mut prefix = String::new();
    for comp in base.split('-') {
        if comp.is_empty()
            || !comp
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '\\' | ':'))
        {
            return Err(bad());
        }
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&prefix);
        out.push_str(comp);
        out.push_str(".slice");
        prefix.push_str(comp);
        prefix.push('-');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<&Path> {
        Some(Path::new(s))
    }

    #[test]
    fn default_path_is_berth_slash_id() {
        assert_eq!(
            CgroupPath::from_spec(None, "abc", false).unwrap(),
            CgroupPath::Absolute("berth/abc".into())
        );
        assert_eq!(
            CgroupPath::from_spec(p(""), "abc", false).unwrap(),
            CgroupPath::Absolute("berth/abc".into())
        );
    }

    #[test]
    fn absolute_and_relative_paths_are_cleaned() {
        assert_eq!(
            CgroupPath::from_spec(p("//a/./b//"), "x", false).unwrap(),
            CgroupPath::Absolute("a/b".into())
        );
        assert_eq!(
            CgroupPath::from_spec(p("a/b"), "x", false).unwrap(),
            CgroupPath::Relative("a/b".into())
        );
    }

    #[test]
    fn cgroups_path_with_dotdot_is_rejected() {
        for bad in ["/../../etc", "/a/../../b", "a/..", "../x", "/a/b/.."] {
            let err = CgroupPath::from_spec(p(bad), "x", false).unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(".."), "{err}");
        }
    }

    #[test]
    fn cgroups_path_naming_the_root_is_rejected() {
        for bad in ["/", "//", "/./"] {
            assert!(CgroupPath::from_spec(p(bad), "x", false).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroups_path_with_nul_is_rejected() {
        assert!(CgroupPath::from_spec(p("/a\0b"), "x", false).is_err());
    }

    #[test]
    fn container_id_that_escapes_is_rejected_for_default_paths() {
        for bad in ["..", "a/b", "", "."] {
            assert!(CgroupPath::from_spec(None, bad, false).is_err(), "{bad:?}");
            assert!(CgroupPath::from_spec(None, bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn systemd_paths_map_like_systemd_would() {
        assert_eq!(
            systemd_to_path("system.slice:docker:abc").unwrap(),
            "system.slice/docker-abc.scope"
        );
        assert_eq!(systemd_to_path(":berth:abc").unwrap(), "system.slice/berth-abc.scope");
        assert_eq!(
            systemd_to_path("kubepods-besteffort-pod1.slice:cri-containerd:c1").unwrap(),
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-c1.scope"
        );
        assert_eq!(
            systemd_to_path("system.slice:x:my.slice").unwrap(),
            "system.slice/my.slice"
        );
        assert_eq!(systemd_to_path("-.slice:p:n").unwrap(), "p-n.scope");
        assert_eq!(systemd_to_path("user.slice::n").unwrap(), "user.slice/n.scope");
        assert_eq!(
            CgroupPath::from_spec(None, "abc", true).unwrap(),
            CgroupPath::Absolute("system.slice/berth-abc.scope".into())
        );
    }

    #[test]
    fn malformed_systemd_paths_are_rejected() {
        for bad in [
            "system.slice:docker",
            "a:b:c:d",
            "system:docker:abc",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "a-.slice:p:n",
            "a/b.slice:p:n",
            "system.slice:p/q:n",
            "system.slice:p:..",
            "system.slice:p:",
            "system.slice:p:a/b",
            "system.slice:p:bad--.slice",
        ] {
            assert!(systemd_to_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expand_slice_nests() {
        assert_eq!(expand_slice("a-b-c.slice").unwrap(), "a.slice/a-b.slice/a-b-c.slice");
        assert_eq!(expand_slice("-.slice").unwrap(), "");
        assert!(expand_slice(".slice").is_err());
        assert!(expand_slice("foo").is_err());
    }

    #[test]
    fn relative_paths_go_below_the_own_cgroup() {
        let rel = CgroupPath::Relative("berth-test-1".into());
        let d = rel
            .dir_in("memory", Path::new("/sys/fs/cgroup/memory"), "/", Some("/process_api/abc"))
            .unwrap();
        assert_eq!(d, Path::new("/sys/fs/cgroup/memory/process_api/abc/berth-test-1"));
        let d = rel
            .dir_in("pids", Path::new("/sys/fs/cgroup/pids"), "/", Some("/"))
            .unwrap();
        assert_eq!(d, Path::new("/sys/fs/cgroup/pids/berth-test-1"));
        // a bind-mounted sub-tree: the own cgroup must be below the mount root
        let d = rel
            .dir_in("memory", Path::new("/m"), "/sub", Some("/sub/me"))
            .unwrap();
        assert_eq!(d, Path::new("/m/me/berth-test-1"));
        assert!(rel.dir_in("memory", Path::new("/m"), "/sub", Some("/other/me")).is_err());
        assert!(rel.dir_in("memory", Path::new("/m"), "/sub", Some("/subway")).is_err());
        assert!(rel.dir_in("memory", Path::new("/m"), "/", None).is_err());
    }

    #[test]
    fn absolute_paths_go_below_the_mount_point() {
        let abs = CgroupPath::Absolute("berth/x".into());
        assert_eq!(
            abs.dir_in("memory", Path::new("/sys/fs/cgroup/memory"), "/", None).unwrap(),
            Path::new("/sys/fs/cgroup/memory/berth/x")
        );
    }
}
