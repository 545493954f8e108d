//! [`EngineConfig`]: what berthd reads from `/etc/berth/config.toml` (the
//! daemon owns the file format; these types are its `serde` shape).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the built-in default runtime handler.
pub const DEFAULT_RUNTIME: &str = "berth";

/// The cgroup parent of containers that name none.
pub const DEFAULT_CGROUP_PARENT: &str = "/berth";

/// Everything the engine needs to open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Persistent state: metadata DB, images, snapshots, containers, volumes.
    pub data_root: PathBuf,
    /// Volatile state: runtime state roots, shim sockets, netns files.
    pub exec_root: PathBuf,
    /// OCI runtime handlers by name (`berth`, `runc`, `crun`, ...). The
    /// `berth` handler exists even when not listed: berth-runtime found next
    /// to the running binary or in `PATH`.
    pub runtimes: BTreeMap<String, RuntimeHandler>,
    /// The handler used when a container names none.
    pub default_runtime: String,
    /// Path of the `berth-shim` binary; found next to the running binary or
    /// in `PATH` when empty.
    pub shim_path: Option<PathBuf>,
    /// Path of the `berth-init` binary used by `--init`; found next to the
    /// running binary or in `PATH` when empty.
    pub init_path: Option<PathBuf>,
    /// Registries (mirrors, insecure), passed to berth-image.
    pub registries: berth_image::RegistryConfig,
    /// Log defaults of new containers.
    pub log: LogDefaults,
    /// The cgroup under which containers without `--cgroup-parent` go, as
    /// `<cgroup_parent>/<id>` (dockerd's `cgroup-parent`, default
    /// `/docker`; here `/berth`).
    pub cgroup_parent: String,
    /// Network defaults.
    pub network: NetworkDefaults,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/run/berth"),
            runtimes: BTreeMap::new(),
            default_runtime: DEFAULT_RUNTIME.to_owned(),
            shim_path: None,
            init_path: None,
            registries: Default::default(),
            log: LogDefaults::default(),
            cgroup_parent: DEFAULT_CGROUP_PARENT.to_owned(),
            network: NetworkDefaults::default(),
        }
    }
}

/// An OCI runtime with runc's command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeHandler {
    /// The binary (absolute, or looked up in `PATH`).
    pub path: PathBuf,
    /// Extra global arguments given before the verb (e.g. `--systemd-cgroup`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// Default log driver and options (`max-size`, `max-file`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogDefaults {
    /// Only `json-file` and `none` are implemented.
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

impl Default for LogDefaults {
    fn default() -> Self {
        // docker's json-file has no rotation by default; berth rotates by
        // default, as the issue asks (and as docker's `local` driver does)
        let options = [("max-size".to_owned(), "20m".to_owned()), ("max-file".to_owned(), "5".to_owned())].into();
        LogDefaults { driver: "json-file".into(), options }
    }
}

/// Network defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkDefaults {
    /// The network a container joins when it names none (`bridge`, `none`, `host`).
    pub default_network: String,
    /// Subnet of the default bridge network.
    pub bridge_subnet: String,
    /// Name of the default bridge device.
    pub bridge_name: String,
    /// Directory of the CNI plugin binaries.
    pub cni_bin_dir: PathBuf,
}

impl Default for NetworkDefaults {
    fn default() -> Self {
        NetworkDefaults {
            default_network: "bridge".into(),
            bridge_subnet: "10.87.0.0/16".into(),
            bridge_name: "berth0".into(),
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
        }
    }
}

impl EngineConfig {
    /// The handler named `name`, with the built-in `berth` default.
    pub fn runtime(&self, name: &str) -> Option<RuntimeHandler> {
        if let Some(h) = self.runtimes.get(name) {
            return Some(h.clone());
        }
        match name {
            DEFAULT_RUNTIME => find_binary("berth-runtime").map(|path| RuntimeHandler { path, args: Vec::new() }),
            _ => None,
        }
    }

    pub(crate) fn shim_binary(&self) -> Option<PathBuf> {
        self.shim_path.clone().or_else(|| find_binary("berth-shim"))
    }

    pub(crate) fn init_binary(&self) -> Option<PathBuf> {
        self.init_path.clone().or_else(|| find_binary("berth-init"))
    }
}

/// A helper binary: next to the running executable first (a build tree or an
/// install prefix keeps them together), then `PATH`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        // test binaries live in target/<profile>/deps; the others one level up
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            let p = d.join(name);
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether the ELF executable at `path` asks for a dynamic loader (has a
/// `PT_INTERP` program header). `--init` bind-mounts berth-init into images
/// that have no loader or a different libc, so it must not.
pub(crate) fn needs_loader(path: &Path) -> std::io::Result<bool> {
    use std::io::{Error, ErrorKind, Read, Seek, SeekFrom};
    let bad = |what: &str| Error::new(ErrorKind::InvalidData, format!("{}: not a 64-bit little-endian ELF executable ({what})", path.display()));
    let mut f = std::fs::File::open(path)?;
    let mut eh = [0u8; 64];
    f.read_exact(&mut eh).map_err(|_| bad("short header"))?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return Err(bad("header"));
    }
    let phoff = u64::from_le_bytes(eh[32..40].try_into().expect("8 bytes"));
    let phentsize = u64::from(u16::from_le_bytes([eh[54], eh[55]]));
    let phnum = u64::from(u16::from_le_bytes([eh[56], eh[57]]));
    if phentsize < 4 || phnum > 256 {
        return Err(bad("program headers"));
    }
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        f.seek(SeekFrom::Start(phoff + i * phentsize))?;
        let mut t = [0u8; 4];
        f.read_exact(&mut t).map_err(|_| bad("truncated program header"))?;
        if u32::from_le_bytes(t) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod elf_tests {
    use super::needs_loader;

    #[test]
    fn tells_dynamic_from_static_executables() {
        // the test binary itself is dynamically linked (glibc, no crt-static)
        let me = std::env::current_exe().unwrap();
        assert!(needs_loader(&me).unwrap());
        let static_busybox = std::path::Path::new("/bin/busybox");
        if static_busybox.exists() {
            assert!(!needs_loader(static_busybox).unwrap(), "busybox-static");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(needs_loader(&p).unwrap_err().to_string().contains("not a 64-bit little-endian ELF"));
    }
}
