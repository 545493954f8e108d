//! Loading and checking a bundle's `config.json` (and `process.json` for
//! `exec --process`). Every rejection names the file and the JSON field.

use std::path::{Path, PathBuf};

use crate::oci::{NsType, Process, Spec};

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

/// Parses JSON into `T`; on failure the error names the JSON path of the
/// offending field (`linux.namespaces[2].type`), found by scanning the
/// document up to where the parser stopped.
pub fn parse_json<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<T> {
    parse_json_field(file, "", bytes)
}

/// Like [`parse_json`] for a section of a larger document whose own path is
/// `prefix`.
pub fn parse_json_field<T: serde::de::DeserializeOwned>(file: &str, prefix: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let inner = json_path::at(bytes, json_path::offset(bytes, e.line(), e.column()));
        let field = match (prefix.is_empty(), inner.is_empty()) {
            (true, true) => "(document)".to_string(),
            (true, false) => inner,
            (false, true) => prefix.to_string(),
            (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
            (false, false) => format!("{prefix}.{inner}"),
        };
        // serde_json appends " at line L column C"; the field path says it better
        let msg = e.to_string();
        let msg = msg.rsplit_once(" at line ").map(|(m, _)| m.to_string()).unwrap_or(msg);
        Error::config(file, field, msg)
    })
}

/// Finding the JSON path of a byte offset.
pub mod json_path {
    /// The byte offset of serde_json's 1-based line and column.
    pub fn offset(b: &[u8], line: usize, column: usize) -> usize {
        let mut start = 0;
        for _ in 1..line {
            match b[start..].iter().position(|&c| c == b'\n') {
                Some(n) => start += n + 1,
                None => return b.len(),
            }
        }
        (start + column).saturating_sub(1).min(b.len())
    }

    struct Scan<'a> {
        b: &'a [u8],
        i: usize,
        at: usize,
        path: Vec<String>,
        found: Option<String>,
    }

    impl Scan<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn string(&mut self) -> String {
            let start = self.i + 1;
            self.i += 1;
            while self.i < self.b.len() && self.b[self.i] != b'"' {
                if self.b[self.i] == b'\\' {
                    self.i += 1;
                }
                self.i += 1;
            }
            let s = String::from_utf8_lossy(&self.b[start..self.i.min(self.b.len())]).into_owned();
            self.i += 1;
            s
        }

        fn value(&mut self) {
            self.ws();
            let start = self.i;
            match self.b.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    loop {
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b'"') => {}
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => break,
                        }
                        let key = self.string();
                        self.ws();
                        if self.b.get(self.i) == Some(&b':') {
                            self.i += 1;
                        }
                        self.path.push(format!(".{key}"));
                        self.value();
                        self.path.pop();
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => break,
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut n = 0;
                    loop {
                        self.ws();
                        if self.b.get(self.i) == Some(&b']') {
                            self.i += 1;
                            break;
                        }
                        if self.i >= self.b.len() {
                            break;
                        }
                        self.path.push(format!("[{n}]"));
                        self.value();
                        self.path.pop();
                        n += 1;
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => break,
                        }
                    }
                }
                Some(b'"') => {
                    self.string();
                }
                Some(_) => {
                    while self.i < self.b.len() && !matches!(self.b[self.i], b',' | b'}' | b']') && !self.b[self.i].is_ascii_whitespace() {
                        self.i += 1;
                    }
                }
                None => return,
            }
            // values finish innermost first: the first span holding `at` wins
            if self.found.is_none() && start <= self.at && self.at < self.i.max(start + 1) {
                self.found = Some(self.path.concat());
            }
        }
    }

    /// The path (`a.b[2].c`) of the innermost value containing byte `at`;
    /// empty for the document itself.
    pub fn at(b: &[u8], at: usize) -> String {
        let mut s = Scan { b, i: 0, at, path: Vec::new(), found: None };
        s.value();
        let p = s.found.unwrap_or_default();
        p.strip_prefix('.').map(str::to_string).unwrap_or(p)
    }
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
        let root = spec.root.as_ref().ok_or_else(|| Error::config("config.json", "root", "is required"))?;
        let rootfs = if root.path.is_absolute() { root.path.clone() } else { bundle.join(&root.path) };
        let cfg = Config { spec, bundle: bundle.to_path_buf(), rootfs };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::config("config.json", field, msg));
        let spec = &self.spec;
        if !spec.oci_version.starts_with("1.") {
            return bad("ociVersion", format!("unsupported version {:?}: this runtime implements 1.x", spec.oci_version));
        }
        match std::fs::metadata(&self.rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return bad("root.path", format!("{} is not a directory", self.rootfs.display())),
            Err(e) => return bad("root.path", format!("{}: {e}", self.rootfs.display())),
        }
        let process = spec.process.as_ref().ok_or_else(|| Error::config("config.json", "process", "is required"))?;
        validate_process("config.json", "process", process)?;

        for (i, m) in spec.mounts.iter().enumerate() {
            if !m.destination.is_absolute() {
                return bad(&format!("mounts[{i}].destination"), format!("{:?} must be an absolute path", m.destination));
            }
            crate::rootfs::options::MountOptions::parse(&m.options)
                .map_err(|msg| Error::config("config.json", format!("mounts[{i}].options"), msg))?;
        }

        let linux = spec.linux.as_ref().ok_or_else(|| Error::config("config.json", "linux", "is required on Linux"))?;
        let mut seen = Vec::new();
        for (i, ns) in linux.namespaces.iter().enumerate() {
            if seen.contains(&ns.typ) {
                return bad(&format!("linux.namespaces[{i}].type"), format!("namespace {} listed twice", ns.typ.name()));
            }
            seen.push(ns.typ);
            if let Some(p) = &ns.path {
                if !p.is_absolute() {
                    return bad(&format!("linux.namespaces[{i}].path"), format!("{p:?} must be an absolute path"));
                }
            }
        }
        let has_new = |t: NsType| linux.namespaces.iter().any(|n| n.typ == t && n.path.is_none());
        let has = |t: NsType| seen.contains(&t);
        if !has(NsType::Mount) {
            return bad("linux.namespaces", "a mount namespace is required".into());
        }
        let maps = !linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty();
        if maps && !has_new(NsType::User) {
            return bad("linux.uidMappings", "id mappings need a new user namespace".into());
        }
        if has_new(NsType::User) && (linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty()) {
            return bad("linux.uidMappings", "a new user namespace needs uid and gid mappings".into());
        }
        if spec.hostname.as_ref().is_some_and(|h| !h.is_empty()) && !has_new(NsType::Uts) {
            return bad("hostname", "setting the hostname needs a new uts namespace".into());
        }
        if spec.domainname.as_ref().is_some_and(|h| !h.is_empty()) && !has_new(NsType::Uts) {
            return bad("domainname", "setting the domainname needs a new uts namespace".into());
        }
        if !linux.time_offsets.is_empty() && !has_new(NsType::Time) {
            return bad("linux.timeOffsets", "time offsets need a new time namespace".into());
        }
        for key in linux.time_offsets.keys() {
            if key != "monotonic" && key != "boottime" {
                return bad(&format!("linux.timeOffsets.{key}"), "only monotonic and boottime clocks can be offset".into());
            }
        }
        if let Some(p) = &linux.rootfs_propagation {
            if !p.is_empty() && crate::rootfs::options::propagation_flag(p).is_none() {
                return bad("linux.rootfsPropagation", format!("unknown propagation {p:?}"));
            }
        }
        for key in linux.sysctl.keys() {
            crate::rootfs::sysctl::check(key, &has(NsType::Network), &has(NsType::Ipc), &has(NsType::Uts))
                .map_err(|msg| Error::config("config.json", format!("linux.sysctl.{key}"), msg))?;
        }
        for (i, d) in linux.devices.iter().enumerate() {
            if !d.path.starts_with("/dev/") {
                return bad(&format!("linux.devices[{i}].path"), format!("{:?} is not under /dev", d.path));
            }
        }
        for (i, p) in linux.masked_paths.iter().enumerate() {
            if !p.starts_with('/') {
                return bad(&format!("linux.maskedPaths[{i}]"), format!("{p:?} must be an absolute path"));
            }
        }
        for (i, p) in linux.readonly_paths.iter().enumerate() {
            if !p.starts_with('/') {
                return bad(&format!("linux.readonlyPaths[{i}]"), format!("{p:?} must be an absolute path"));
            }
        }
        for (kind, list) in crate::hooks::all(&spec.hooks) {
            for (i, h) in list.iter().enumerate() {
                if !h.path.is_absolute() {
                    return bad(&format!("hooks.{kind}[{i}].path"), format!("{:?} must be an absolute path", h.path));
                }
                if h.timeout.is_some_and(|t| t <= 0) {
                    return bad(&format!("hooks.{kind}[{i}].timeout"), "must be greater than zero".into());
                }
            }
        }
        Ok(())
    }

    /// The new or joined namespace of type `t`, if the config lists one.
    pub fn namespace(&self, t: NsType) -> Option<&crate::oci::Namespace> {
        self.linux().namespaces.iter().find(|n| n.typ == t)
    }

    pub fn process(&self) -> &Process {
        // validate() guarantees it is there
        self.spec.process.as_ref().expect("process checked in validate")
    }

    pub fn linux(&self) -> &crate::oci::Linux {
        // validate() guarantees it is there
        self.spec.linux.as_ref().expect("linux checked in validate")
    }
}

/// Checks a process object (from config.json or `exec --process`).
pub fn validate_process(file: &str, prefix: &str, p: &Process) -> Result<()> {
    let bad = |field: &str, msg: String| Err(Error::config(file, format!("{prefix}.{field}"), msg));
    if p.args.is_empty() || p.args[0].is_empty() {
        return bad("args", "must not be empty".into());
    }
    if !p.cwd.is_absolute() {
        return bad("cwd", format!("{:?} must be an absolute path", p.cwd));
    }
    let mut seen = Vec::new();
    for (i, r) in p.rlimits.iter().enumerate() {
        if seen.contains(&r.typ) {
            return bad(&format!("rlimits[{i}].type"), format!("{:?} listed twice", r.typ));
        }
        seen.push(r.typ);
        if r.soft > r.hard {
            return bad(&format!("rlimits[{i}]"), format!("soft limit {} is above hard limit {}", r.soft, r.hard));
        }
    }
    for (i, e) in p.env.iter().enumerate() {
        if !e.contains('=') {
            return bad(&format!("env[{i}]"), format!("{e:?} is not of the form NAME=value"));
        }
    }
    if let Some(io) = &p.io_priority {
        if !(0..=7).contains(&io.priority) {
            return bad("ioPriority.priority", format!("{} is out of range 0-7", io.priority));
        }
    }
    if let Some(s) = p.oom_score_adj {
        if !(-1000..=1000).contains(&s) {
            return bad("oomScoreAdj", format!("{s} is out of range -1000..1000"));
        }
    }
    if let Some(c) = &p.capabilities {
        let sets = [("bounding", &c.bounding), ("effective", &c.effective), ("inheritable", &c.inheritable), ("permitted", &c.permitted), ("ambient", &c.ambient)];
        for (set, names) in sets {
            for (i, n) in names.iter().enumerate() {
                if crate::process::setup::cap_number(n).is_none() {
                    return bad(&format!("capabilities.{set}[{i}]"), format!("unknown capability {n:?}"));
                }
            }
        }
    }
    Ok(())
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
    fn field_paths_are_found() {
        let doc = br#"{"a": {"b": [1, {"c": "x"}], "d": true}}"#;
        let at = |needle: &str| json_path::at(doc, std::str::from_utf8(doc).unwrap().find(needle).unwrap());
        assert_eq!(at("\"x\""), "a.b[1].c");
        assert_eq!(at("true"), "a.d");
        assert_eq!(at("1,"), "a.b[0]");
    }

    #[test]
    fn wrong_types_and_unknown_capabilities_name_the_field() {
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/"},"process":{"cwd":"/","args":["sh"],"user":{"uid":"zero","gid":0}},
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert!(e.starts_with("config.json: process.user.uid: invalid type"), "{e}");
        let json = br#"{"ociVersion":"1.2.0","root":{"path":"/"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
            "capabilities":{"bounding":["CAP_KILL","CAP_FLY"]}},"linux":{"namespaces":[{"type":"mount"}]}}"#;
        let e = Config::from_bytes(Path::new("/"), json).unwrap_err().to_string();
        assert_eq!(e, "config.json: process.capabilities.bounding[1]: unknown capability \"CAP_FLY\"");
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
