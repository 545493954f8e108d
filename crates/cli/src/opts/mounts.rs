//! `-v`/`--volume` (compose's `ParseVolume` on Linux, used by docker to
//! tell binds from anonymous volumes), `--mount` (docker's `MountOpt`) and
//! `--tmpfs`.

use std::collections::BTreeMap;

use berth_docker_types::container::{
    BindOptions, ImageOptions, Mount, TmpfsOptions, VolumeOptions,
};

use crate::format::units::ram_in_bytes;

/// The parts of a `-v` spec.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// A host path (starts with `.`, `/` or `~`) rather than a volume name.
    pub is_bind: bool,
}

/// compose's `ParseVolume`: `[source:]target[:options]`.
pub fn parse_volume(spec: &str) -> Result<VolumeSpec, String> {
    let spec_t = spec.trim();
    if spec_t.is_empty() {
        return Err("invalid empty volume spec".into());
    }
    let mut v = VolumeSpec::default();
    let mut source_set = false;
    let parts: Vec<&str> = spec_t.split(':').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if part.is_empty() {
            return Err(format!(
                "invalid spec: {spec}: empty section between colons"
            ));
        }
        if !source_set && last {
            v.target = (*part).to_owned();
            break;
        }
        if !source_set {
            v.source = (*part).to_owned();
            source_set = true;
            continue;
        }
        if v.target.is_empty() {
            v.target = (*part).to_owned();
            continue;
        }
        if !last {
            return Err(format!("invalid spec: {spec}: too many colons"));
        }
        for opt in part.split(',') {
            match opt {
                "ro" => v.read_only = true,
                "rw" => v.read_only = false,
                _ => {}
            }
        }
    }
    v.is_bind = v.source.starts_with(['.', '/', '~']);
    Ok(v)
}

fn parse_bool_value(key: &str, val: &str) -> Result<bool, String> {
    crate::flags::parse_bool(val).ok_or_else(|| format!("invalid value for {key}: {val}"))
}

/// Splits one CSV record (docker reads `--mount` with `encoding/csv`:
/// fields may be quoted, `""` is a quote inside quotes).
pub fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            s.len()
        ));
    }
    out.push(cur);
    Ok(out)
}

/// docker's `MountOpt.Set` for one `--mount` value.
pub fn parse_mount(value: &str) -> Result<Mount, String> {
    let fields = csv_fields(value)?;
    let mut m = Mount {
        r#type: "volume".into(),
        ..Default::default()
    };
    let mut volume: Option<VolumeOptions> = None;
    let mut bind: Option<BindOptions> = None;
    let mut tmpfs: Option<TmpfsOptions> = None;
    let mut image: Option<ImageOptions> = None;
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => m.read_only = true,
                "volume-nocopy" => volume.get_or_insert_with(Default::default).no_copy = true,
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Default::default).non_recursive = true
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        match key.as_str() {
            "type" => m.r#type = val.to_lowercase(),
            "source" | "src" => {
                m.source = val.to_owned();
                if (val.starts_with("./") || val == ".")
                    && let Ok(cwd) = std::env::current_dir()
                {
                    let joined = cwd.join(val);
                    m.source = clean_path(&joined.to_string_lossy());
                }
            }
            "target" | "dst" | "destination" => m.target = val.to_owned(),
            "readonly" | "ro" => m.read_only = parse_bool_value(&key, val)?,
            "consistency" => m.consistency = val.to_lowercase(),
            "bind-propagation" => {
                bind.get_or_insert_with(Default::default).propagation = val.to_lowercase()
            }
            "bind-nonrecursive" => {
                bind.get_or_insert_with(Default::default).non_recursive =
                    parse_bool_value(&key, val)?
            }
            "bind-recursive" => {
                let b = bind.get_or_insert_with(Default::default);
                match val {
                    "enabled" => {}
                    "disabled" => b.non_recursive = true,
                    "writable" => {
                        b.non_recursive = false;
                        b.read_only_non_recursive = true;
                    }
                    "readonly" => b.read_only_force_recursive = true,
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ));
                    }
                }
            }
            "bind-create-src" => {
                bind.get_or_insert_with(Default::default).create_mountpoint =
                    parse_bool_value(&key, val)?
            }
            "volume-subpath" => {
                volume.get_or_insert_with(Default::default).subpath = val.to_owned()
            }
            "volume-nocopy" => {
                volume.get_or_insert_with(Default::default).no_copy = parse_bool_value(&key, val)?
            }
            "volume-label" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                volume
                    .get_or_insert_with(Default::default)
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(k.to_owned(), v.to_owned());
            }
            "volume-driver" => {
                volume
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .name = val.to_owned();
            }
            "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                volume
                    .get_or_insert_with(Default::default)
                    .driver_config
                    .get_or_insert_with(Default::default)
                    .options
                    .get_or_insert_with(BTreeMap::new)
                    .insert(k.to_owned(), v.to_owned());
            }
            "image-subpath" => image.get_or_insert_with(Default::default).subpath = val.to_owned(),
            "tmpfs-size" => {
                tmpfs.get_or_insert_with(Default::default).size_bytes =
                    ram_in_bytes(val).map_err(|_| format!("invalid value for {key}: {val}"))?;
            }
            "tmpfs-mode" => {
                tmpfs.get_or_insert_with(Default::default).mode = u32::from_str_radix(val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if m.r#type.is_empty() {
        return Err("type is required".into());
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    let mixed = |opt: &str, want: &str| -> Result<(), String> {
        if m.r#type != want {
            return Err(format!(
                "cannot mix '{opt}-*' options with mount type '{}'",
                m.r#type
            ));
        }
        Ok(())
    };
    if volume.is_some() {
        mixed("volume", "volume")?;
    }
    if image.is_some() {
        mixed("image", "image")?;
    }
    if bind.is_some() {
        mixed("bind", "bind")?;
    }
    if tmpfs.is_some() {
        mixed("tmpfs", "tmpfs")?;
    }
    if let Some(b) = &bind {
        if b.read_only_non_recursive && !m.read_only {
            return Err("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".into());
        }
        if b.read_only_force_recursive {
            if !m.read_only {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
            }
            if !b.propagation.is_empty() && b.propagation != "rprivate" {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
        }
    }
    m.volume_options = volume;
    m.bind_options = bind;
    m.tmpfs_options = tmpfs;
    m.image_options = image;
    Ok(m)
}

/// Lexically cleans an absolute path (`/a/./b/../c` → `/a/c`).
pub fn clean_path(p: &str) -> String {
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

/// `--tmpfs /run:rw,size=64m` → `("/run", "rw,size=64m")`.
pub fn parse_tmpfs(s: &str) -> (String, String) {
    match s.split_once(':') {
        Some((p, o)) => (p.to_owned(), o.to_owned()),
        None => (s.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs() {
        let v = parse_volume("/tmp:/x:ro").unwrap();
        assert_eq!(
            (v.source.as_str(), v.target.as_str(), v.read_only, v.is_bind),
            ("/tmp", "/x", true, true)
        );
        let v = parse_volume("/data").unwrap();
        assert_eq!(
            (v.source.as_str(), v.target.as_str(), v.is_bind),
            ("", "/data", false)
        );
        let v = parse_volume("named:/data").unwrap();
        assert_eq!((v.source.as_str(), v.is_bind), ("named", false));
        assert!(
            parse_volume("a::b")
                .unwrap_err()
                .contains("empty section between colons")
        );
        assert!(
            parse_volume("a:b:c:d")
                .unwrap_err()
                .contains("too many colons")
        );
        assert!(parse_volume(" ").is_err());
    }

    #[test]
    fn mounts() {
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m.r#type, "tmpfs");
        assert_eq!(m.tmpfs_options.unwrap().size_bytes, 1 << 20);
        let m = parse_mount("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap();
        assert!(m.read_only);
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        let m = parse_mount("source=v,target=/d,volume-label=a=b,volume-nocopy").unwrap();
        assert_eq!(m.r#type, "volume");
        let vo = m.volume_options.unwrap();
        assert!(vo.no_copy);
        assert_eq!(vo.labels.unwrap()["a"], "b");
        let m = parse_mount("type=bind,\"source=/a,b\",target=/c").unwrap();
        assert_eq!(m.source, "/a,b");
    }

    #[test]
    fn mount_errors() {
        assert_eq!(
            parse_mount("type=bind,source=/a").unwrap_err(),
            "target is required"
        );
        assert_eq!(
            parse_mount("type=bind,target=/a,foo=1").unwrap_err(),
            "unexpected key 'foo' in 'foo=1'"
        );
        assert_eq!(
            parse_mount("type=bind,target=/a,bogus").unwrap_err(),
            "invalid field 'bogus' must be a key=value pair"
        );
        assert_eq!(
            parse_mount("type=bind,target=/a,tmpfs-size=1m").unwrap_err(),
            "cannot mix 'tmpfs-*' options with mount type 'bind'"
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/a,tmpfs-size=x").unwrap_err(),
            "invalid value for tmpfs-size: x"
        );
        assert_eq!(
            parse_mount("type=bind,target=/a,ro=maybe").unwrap_err(),
            "invalid value for ro: maybe"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(clean_path("/a/./b/../c/"), "/a/c");
        assert_eq!(
            parse_tmpfs("/run:size=1m"),
            ("/run".into(), "size=1m".into())
        );
    }
}
