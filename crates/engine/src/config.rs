//! [`EngineConfig`]: what berthd reads from `/etc/berth/config.toml` (the
//! daemon owns the file format; these types are its `serde` shape).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the built-in default runtime handler.
pub const DEFAULT_RUNTIME: &str = "berth";

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
