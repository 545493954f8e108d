//! Loading and checking a bundle's `config.json` (and `process.json` for
//! `exec --process`). Every rejection names the file and the JSON field.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::{Error, Result};

/// A parsed and checked bundle configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub spec: Spec,
    /// the bundle directory, absolute
    pub bundle: PathBuf,
    /// root.path made absolute against the bundle
    pub rootfs: PathBuf,
}

/// Parses JSON into `T`, naming the JSON path of the first bad field.
pub fn parse_json<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let field = if field == "." { "(document)".to_string() } else { field };
        Error::config(file, field, inner.to_string())
    })
}

impl Config {
    /// Reads `<bundle>/config.json` and validates it for creating a container.
    pub fn load(bundle: &Path) -> Result<Config> {
        let bundle = std::path::absolute(bundle).map_err(|e| Error::path("resolve bundle", bundle, e))?;
        let file = bundle.join("config.json");
        let bytes = std::fs::read(&file).map_err(|e| Error::path("read", &file, e))?;
        Self::from_bytes(&bundle, &bytes)
    }

    /// Validates an already-read config.json of `bundle`.
    pub fn from_bytes(bundle: &Path, bytes: &[u8]) -> Result<Config> {
        let spec: Spec = parse_json("config.json", bytes)?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::config("config.json", "root", "is required"))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
        let cfg = Config { spec, bundle: bundle.to_path_buf(), rootfs };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::config("config.json", field, msg));
        let spec = &self.spec;
        if !spec.version().starts_with("1.") {
            return bad("ociVersion", format!("unsupported version {:?}: this runtime implements 1.x", spec.version()));
        }
        match std::fs::metadata(&self.rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return bad("root.path", format!("{} is not a directory", self.rootfs.display())),
            Err(e) => return bad("root.path", format!("{}: {e}", self.rootfs.display())),
        }
        let process = spec.process().as_ref().ok_or_else(|| Error::config("config.json", "process", "is required"))?;
        validate_process("config.json", "process", process)?;

        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            if !m.destination().is_absolute() {
                return bad(&format!("mounts[{i}].destination"), format!("{:?} must be an absolute path", m.destination()));
            }
            crate::rootfs::options::MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
                .map_err(|msg| Error::config("config.json", format!("mounts[{i}].options"), msg))?;
        }

        let linux = spec.linux().as_ref().ok_or_else(|| Error::config("config.json", "linux", "is required on Linux"))?;
        let mut seen = HashSet::new();
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ()) {
                return bad(&format!("linux.namespaces[{i}].type"), format!("namespace {} listed twice", ns_name(ns.typ())));
            }
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    return bad(&format!("linux.namespaces[{i}].path"), format!("{p:?} must be an absolute path"));
                }
            }
        }
        let has_new = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t && n.path().is_none());
        let has = |t: LinuxNamespaceType| seen.contains(&t);
        if !has(LinuxNamespaceType::Mount) {
            return bad("linux.namespaces", "a mount namespace is required".into());
        }
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !has_new(LinuxNamespaceType::User) {
            return bad("linux.uidMappings", "id mappings need a new user namespace".into());
        }
        if has_new(LinuxNamespaceType::User) && !maps {
            return bad("linux.uidMappings", "a new user namespace needs uid and gid mappings".into());
        }
        if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has_new(LinuxNamespaceType::Uts) {
            return bad("hostname", "setting the hostname needs a new uts namespace".into());
        }
        if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has_new(LinuxNamespaceType::Uts) {
            return bad("domainname", "setting the domainname needs a new uts namespace".into());
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) && !has_new(LinuxNamespaceType::Time) {
            return bad("linux.timeOffsets", "time offsets need a new time namespace".into());
        }
        for key in linux.time_offsets().iter().flat_map(|m| m.keys()) {
            if key != "monotonic" && key != "boottime" {
                return bad(&format!("linux.timeOffsets.{key}"), "only monotonic and boottime clocks can be offset".into());
            }
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !p.is_empty() && crate::rootfs::options::propagation_flag(p).is_none() {
                return bad("linux.rootfsPropagation", format!("unknown propagation {p:?}"));
            }
        }
        for (key, _) in linux.sysctl().iter().flatten() {
            crate::rootfs::sysctl::check(key, &has_new(LinuxNamespaceType::Network), &has(LinuxNamespaceType::Ipc), &has(LinuxNamespaceType::Uts))
                .map_err(|msg| Error::config("config.json", format!("linux.sysctl.{key}"), msg))?;
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            if !d.path().starts_with("/dev/") {
                return bad(&format!("linux.devices[{i}].path"), format!("{:?} is not under /dev", d.path()));
            }
        }
        for (i, p) in linux.masked_paths().iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return bad(&format!("linux.maskedPaths[{i}]"), format!("{p:?} must be an absolute path"));
            }
        }
        for (i, p) in linux.readonly_paths().iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return bad(&format!("linux.readonlyPaths[{i}]"), format!("{p:?} must be an absolute path"));
            }
        }
        if let Some(hooks) = spec.hooks() {
            for (kind, list) in crate::hooks::all(hooks) {
                for (i, h) in list.iter().enumerate() {
                    if !h.path().is_absolute() {
                        return bad(&format!("hooks.{kind}[{i}].path"), format!("{:?} must be an absolute path", h.path()));
                    }
                    if h.timeout().is_some_and(|t| t <= 0) {
                        return bad(&format!("hooks.{kind}[{i}].timeout"), "must be greater than zero".into());
                    }
                }
            }
        }
        Ok(())
    }

    /// The new or joined namespace of type `t`, if the config lists one.
    pub fn namespace(&self, t: LinuxNamespaceType) -> Option<&oci_spec::runtime::LinuxNamespace> {
        self.spec.linux().as_ref()?.namespaces().iter().flatten().find(|n| n.typ() == t)
    }

    pub fn process(&self) -> &Process {
        // validate() guarantees it is there
        self.spec.process().as_ref().expect("process checked in validate")
    }
}

/// Checks a process object (from config.json or `exec --process`).
pub fn validate_process(file: &str, prefix: &str, p: &Process) -> Result<()> {
    let bad = |field: &str, msg: String| Err(Error::config(file, format!("{prefix}.{field}"), msg));
    match p.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return bad("args", "must not be empty".into()),
    }
    if !p.cwd().is_absolute() {
        return bad("cwd", format!("{:?} must be an absolute path", p.cwd()));
    }
    let mut seen = Vec::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        if seen.contains(&r.typ()) {
            return bad(&format!("rlimits[{i}].type"), format!("{:?} listed twice", r.typ()));
        }
        seen.push(r.typ());
        if r.soft() > r.hard() {
            return bad(&format!("rlimits[{i}]"), format!("soft limit {} is above hard limit {}", r.soft(), r.hard()));
        }
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return bad(&format!("env[{i}]"), format!("{e:?} is not of the form NAME=value"));
        }
    }
    if let Some(io) = p.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            return bad("ioPriority.priority", format!("{} is out of range 0-7", io.priority()));
        }
    }
    if let Some(s) = p.oom_score_adj() {
        if !(-1000..=1000).contains(&s) {
            return bad("oomScoreAdj", format!("{s} is out of range -1000..1000"));
        }
    }
    Ok(())
}

/// The name the spec uses for a namespace type.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_enum_value_names_the_field() {
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"},{"type":"foo"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert!(e.starts_with("config.json: linux.namespaces[1].type: unknown variant `foo`"), "{e}");
    }

    #[test]
    fn malformed_json_is_reported() {
        let e = Config::from_bytes(Path::new("/"), b"{\"ociVersion\": ").unwrap_err().to_string();
        assert!(e.starts_with("config.json: "), "{e}");
    }

    #[test]
    fn empty_args_are_rejected() {
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/"},"process":{"cwd":"/","args":[],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert_eq!(e, "config.json: process.args: must not be empty");
    }

    #[test]
    fn hostname_needs_uts() {
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/"},"hostname":"x","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert!(e.contains("hostname: setting the hostname needs a new uts namespace"), "{e}");
    }

    #[test]
    fn missing_rootfs_is_named() {
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/nonexistent-berth"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert!(e.starts_with("config.json: root.path: /nonexistent-berth"), "{e}");
    }
}
