//! User mounts in docker's three syntaxes (`-v`, `--tmpfs`, `--mount`) made
//! into one list of [`MountRequest`]s, validated as docker validates them.
//! Volumes are resolved to host paths later (`crate::volumes`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, MountKind, MountSpec};

/// One mount the container asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    pub kind: MountKind,
    /// Host path (bind), volume name (volume; empty = anonymous).
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// Bind propagation; `rprivate` by default.
    pub propagation: String,
    /// Bind: create a missing source directory (`-v` does, `--mount` does not).
    pub create_host_path: bool,
    /// Bind: recursive (`rbind`), the default.
    pub recursive: bool,
    /// Volume: skip copying image content into a new volume.
    pub nocopy: bool,
    /// Tmpfs mount options (size, mode, noexec...).
    pub tmpfs_options: Vec<String>,
    /// docker's `Mode` in inspect (`ro`, `z`, `rw,noexec`...).
    pub mode: String,
    /// Volume labels (from `--mount volume-label=`).
    pub labels: BTreeMap<String, String>,
}

fn valid_volume_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphanumeric() && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

const PROPAGATIONS: &[&str] = &["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn check_destination(d: &str, what: &str) -> Result<()> {
    if !d.starts_with('/') {
        return Err(Error::invalid(format!("invalid mount config for type \"{what}\": invalid mount path: '{d}' mount path must be absolute")));
    }
    if d == "/" {
        return Err(Error::invalid(format!("invalid specification: destination can't be '/' in '{d}'")));
    }
    Ok(())
}

fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `-v [src:]dst[:mode]`.
pub fn parse_bind(spec: &str) -> Result<MountRequest> {
    let invalid = || Error::invalid(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] if d.starts_with('/') => (*s, *d, ""),
        [d, m] if d.starts_with('/') => ("", *d, *m),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if dst.is_empty() {
        return Err(invalid());
    }
    if !dst.starts_with('/') {
        return Err(Error::invalid(format!("invalid volume specification: '{spec}': invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute")));
    }
    if dst == "/" {
        return Err(Error::invalid(format!("invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid specification: destination can't be '/'")));
    }
    let kind = if src.is_empty() {
        MountKind::Volume
    } else if src.starts_with('/') {
        MountKind::Bind
    } else if valid_volume_name(src) {
        MountKind::Volume
    } else {
        return Err(Error::invalid(format!(
            "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    };
    let mut r = MountRequest {
        kind,
        source: if kind == MountKind::Bind { clean(src) } else { src.to_owned() },
        destination: clean(dst),
        read_only: false,
        propagation: "rprivate".into(),
        create_host_path: true,
        recursive: true,
        nocopy: false,
        tmpfs_options: Vec::new(),
        mode: mode.to_owned(),
        labels: BTreeMap::new(),
    };
    let mut rw_seen = 0;
    let mut prop_seen = 0;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => {
                r.read_only = true;
                rw_seen += 1;
            }
            "rw" => rw_seen += 1,
            "nocopy" if kind == MountKind::Volume => r.nocopy = true,
            "z" | "Z" => return Err(Error::unsupported(format!("SELinux relabelling ('{m}') of volume {spec}"))),
            p if PROPAGATIONS.contains(&p) && kind == MountKind::Bind => {
                r.propagation = p.to_owned();
                prop_seen += 1;
            }
            _ => return Err(Error::invalid(format!("invalid mode: {m}"))),
        }
    }
    if rw_seen > 1 || prop_seen > 1 {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    Ok(r)
}

/// `--tmpfs dst[:opts]` (docker adds `noexec,nosuid,nodev` unless
/// overridden).
pub fn parse_tmpfs(dst: &str, opts: &str) -> Result<MountRequest> {
    check_destination(dst, "tmpfs")?;
    let mut options: Vec<String> = Vec::new();
    let user: Vec<&str> = opts.split(',').filter(|o| !o.is_empty()).collect();
    for (def, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !user.iter().any(|o| *o == def || *o == opposite) {
            options.push(def.to_owned());
        }
    }
    let mut ro = false;
    for o in user {
        let key = o.split('=').next().unwrap_or(o);
        if !matches!(
            key,
            "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "ro" | "rw" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev"
                | "atime" | "noatime" | "relatime" | "norelatime" | "strictatime" | "nostrictatime" | "diratime" | "nodiratime"
                | "sync" | "async" | "dirsync" | "mpol" | "huge" | "tmpcopyup" | "notmpcopyup"
        ) {
            return Err(Error::invalid(format!("invalid tmpfs option [\"{o}\"]")));
        }
        if o == "ro" {
            ro = true;
        }
        if o == "tmpcopyup" || o == "notmpcopyup" {
            return Err(Error::unsupported(format!("tmpfs option {o}")));
        }
        options.push(o.to_owned());
    }
    Ok(MountRequest {
        kind: MountKind::Tmpfs,
        source: String::new(),
        destination: clean(dst),
        read_only: ro,
        propagation: String::new(),
        create_host_path: false,
        recursive: false,
        nocopy: false,
        tmpfs_options: options,
        mode: opts.to_owned(),
        labels: BTreeMap::new(),
    })
}

/// `--mount` in structured form.
pub fn from_mount_spec(m: &MountSpec) -> Result<MountRequest> {
    let what = m.kind.as_str();
    if m.kind == MountKind::Other {
        return Err(Error::unsupported("mount types other than bind, volume and tmpfs"));
    }
    if m.target.is_empty() {
        return Err(Error::invalid(format!("invalid mount config for type \"{what}\": field Target must not be empty")));
    }
    check_destination(&m.target, what)?;
    if m.consistency.as_deref().is_some_and(|c| !c.is_empty() && c != "default" && c != "consistent") {
        return Err(Error::unsupported(format!("mount consistency {:?}", m.consistency)));
    }
    let mut r = MountRequest {
        kind: m.kind,
        source: m.source.clone(),
        destination: clean(&m.target),
        read_only: m.read_only,
        propagation: String::new(),
        create_host_path: m.bind_create_host_path,
        recursive: !m.bind_non_recursive,
        nocopy: m.volume_no_copy,
        tmpfs_options: Vec::new(),
        mode: String::new(),
        labels: m.volume_labels.clone(),
    };
    match m.kind {
        MountKind::Bind => {
            if m.source.is_empty() {
                return Err(Error::invalid("invalid mount config for type \"bind\": field Source must not be empty"));
            }
            if !m.source.starts_with('/') {
                return Err(Error::invalid(format!("invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute", m.source)));
            }
            r.source = clean(&m.source);
            let p = m.bind_propagation.clone().unwrap_or_default();
            if !p.is_empty() && !PROPAGATIONS.contains(&p.as_str()) {
                return Err(Error::invalid(format!("invalid propagation mode: {p}")));
            }
            r.propagation = if p.is_empty() { "rprivate".into() } else { p };
            if m.tmpfs_size.is_some() || m.volume_subpath.is_some() || !m.volume_labels.is_empty() {
                return Err(Error::invalid("invalid mount config for type \"bind\": volume or tmpfs options set on a bind mount"));
            }
        }
        MountKind::Volume => {
            if !m.source.is_empty() && !valid_volume_name(&m.source) {
                return Err(Error::invalid(format!("invalid mount config for type \"volume\": invalid volume name {:?}", m.source)));
            }
            if m.volume_driver.as_deref().is_some_and(|d| !d.is_empty() && d != "local") {
                return Err(Error::unsupported(format!("volume driver {:?}", m.volume_driver.as_deref().unwrap_or_default())));
            }
            if !m.volume_driver_options.is_empty() {
                return Err(Error::unsupported("volume driver options (volume-opt)"));
            }
            if m.volume_subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Error::unsupported("volume-subpath"));
            }
            if m.bind_propagation.is_some() {
                return Err(Error::invalid("invalid mount config for type \"volume\": bind-propagation set on a volume"));
            }
        }
        MountKind::Tmpfs => {
            if !m.source.is_empty() {
                return Err(Error::invalid("invalid mount config for type \"tmpfs\": field Source must be empty"));
            }
            let mut opts = Vec::new();
            if let Some(s) = m.tmpfs_size {
                if s < 0 {
                    return Err(Error::invalid("invalid mount config for type \"tmpfs\": size must not be negative"));
                }
                if s > 0 {
                    opts.push(format!("size={s}"));
                }
            }
            if let Some(mode) = m.tmpfs_mode {
                opts.push(format!("mode={mode:o}"));
            }
            opts.extend(m.tmpfs_options.iter().cloned());
            if m.read_only {
                opts.push("ro".into());
            }
            let t = parse_tmpfs(&m.target, &opts.join(","))?;
            r.tmpfs_options = t.tmpfs_options;
            r.mode = String::new();
        }
        MountKind::Other => {}
    }
    Ok(r)
}

/// All mounts of a spec (`--mount`, `-v`, `--tmpfs`, then anonymous volumes
/// of `spec.volumes` — which holds the image's `VOLUME`s after merging —
/// at destinations nothing else covers). Duplicate destinations are
/// docker's error.
pub fn collect(spec: &ContainerSpec) -> Result<Vec<MountRequest>> {
    let mut out: Vec<MountRequest> = Vec::new();
    let push = |r: MountRequest, out: &mut Vec<MountRequest>| -> Result<()> {
        if out.iter().any(|o| o.destination == r.destination) {
            return Err(Error::invalid(format!("Duplicate mount point: {}", r.destination)));
        }
        out.push(r);
        Ok(())
    };
    for m in &spec.mounts {
        push(from_mount_spec(m)?, &mut out)?;
    }
    for b in &spec.binds {
        push(parse_bind(b)?, &mut out)?;
    }
    for (d, o) in &spec.tmpfs {
        push(parse_tmpfs(d, o)?, &mut out)?;
    }
    for v in &spec.volumes {
        let d = clean(v);
        check_destination(v, "volume")?;
        if out.iter().any(|o| o.destination == d) {
            continue;
        }
        out.push(MountRequest {
            kind: MountKind::Volume,
            source: String::new(),
            destination: d,
            read_only: false,
            propagation: String::new(),
            create_host_path: false,
            recursive: true,
            nocopy: false,
            tmpfs_options: Vec::new(),
            mode: String::new(),
            labels: BTreeMap::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_v_forms() {
        let b = parse_bind("/host/dir/:/data:ro").unwrap();
        assert_eq!((b.kind, b.source.as_str(), b.destination.as_str(), b.read_only), (MountKind::Bind, "/host/dir", "/data", true));
        let v = parse_bind("cache:/var/cache").unwrap();
        assert_eq!((v.kind, v.source.as_str()), (MountKind::Volume, "cache"));
        let a = parse_bind("/data").unwrap();
        assert_eq!((a.kind, a.source.as_str()), (MountKind::Volume, ""));
        let a = parse_bind("/data:ro").unwrap();
        assert!(a.read_only && a.source.is_empty());
        let s = parse_bind("/a:/b:rshared").unwrap();
        assert_eq!(s.propagation, "rshared");
        assert!(parse_bind("xy:/b:nocopy").unwrap().nocopy);
        assert!(parse_bind("/a:/b:bogus").unwrap_err().to_string().contains("invalid mode: bogus"));
        assert!(parse_bind("/a:/b:ro,rw").is_err());
        assert!(parse_bind("a:b:c:d").unwrap_err().to_string().contains("invalid volume specification"));
        assert!(parse_bind("/a:relative").unwrap_err().to_string().contains("invalid mode: relative"));
        assert!(parse_bind("/a:b:ro").unwrap_err().to_string().contains("must be absolute"));
        assert!(parse_bind("/a:/").is_err());
        assert!(parse_bind("bad$name:/x").unwrap_err().to_string().contains("includes invalid characters"));
        assert!(parse_bind("/a:/b:z").unwrap_err().to_string().starts_with("not supported yet"));
    }

    #[test]
    fn tmpfs_defaults_and_overrides() {
        let t = parse_tmpfs("/run", "size=64m,exec").unwrap();
        assert_eq!(t.tmpfs_options, vec!["nosuid", "nodev", "size=64m", "exec"]);
        let t = parse_tmpfs("/run", "").unwrap();
        assert_eq!(t.tmpfs_options, vec!["noexec", "nosuid", "nodev"]);
        assert!(parse_tmpfs("/run", "bogus=1").is_err());
        assert!(parse_tmpfs("run", "").is_err());
    }

    #[test]
    fn mount_specs() {
        let m = MountSpec { kind: MountKind::Bind, source: "/src".into(), target: "/dst".into(), ..Default::default() };
        let r = from_mount_spec(&m).unwrap();
        assert_eq!((r.create_host_path, r.propagation.as_str(), r.recursive), (false, "rprivate", true));
        let m = MountSpec { kind: MountKind::Tmpfs, target: "/t".into(), tmpfs_size: Some(1024), tmpfs_mode: Some(0o700), ..Default::default() };
        assert_eq!(from_mount_spec(&m).unwrap().tmpfs_options, vec!["noexec", "nosuid", "nodev", "size=1024", "mode=700"]);
        let m = MountSpec { kind: MountKind::Volume, target: "/v".into(), volume_driver: Some("nfs".into()), ..Default::default() };
        assert!(from_mount_spec(&m).unwrap_err().to_string().starts_with("not supported yet"));
        let m = MountSpec { kind: MountKind::Bind, target: "/v".into(), ..Default::default() };
        assert!(from_mount_spec(&m).is_err());
    }

    #[test]
    fn duplicates_and_image_volumes() {
        let spec = ContainerSpec { binds: vec!["/a:/data".into(), "/b:/data".into()], ..Default::default() };
        assert_eq!(collect(&spec).unwrap_err().to_string(), "invalid argument: Duplicate mount point: /data");
        let spec = ContainerSpec { binds: vec!["/a:/data".into()], volumes: vec!["/data".into(), "/logs".into()], ..Default::default() };
        let all = collect(&spec).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].destination, "/logs");
        assert_eq!(all[1].kind, MountKind::Volume);
    }
}
