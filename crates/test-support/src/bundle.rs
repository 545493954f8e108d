//! Throw-away OCI bundles whose rootfs is Debian's busybox-static.
//!
//! The rootfs has `/bin/busybox` and one symlink per applet in `/bin`, empty
//! mount points (`/proc /sys /dev /tmp /mnt`), and `/etc/passwd` + `/etc/group`
//! with these users, so tests can check `id`, `--user` and `additionalGids`:
//!
//! | user   | uid  | gid  | supplementary groups |
//! |--------|------|------|----------------------|
//! | root   | 0    | 0    |                      |
//! | daemon | 1    | 1    |                      |
//! | user   | 1000 | 1000 | wheel (10), users (100) |
//! | nobody | 65534| 65534|                      |
//!
//! `config.json` starts as the default `runc spec` writes (built here in Rust,
//! not by running runc), with `terminal: false` so that tests can capture the
//! output, and is edited as a `serde_json::Value` before [`Bundle::save`].

use serde_json::{Value, json};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Where the busybox binary is taken from (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// The runtime-spec version the default config declares. 1.1.0 rather than
/// 1.2.0 because crun 1.8 (Debian 12) rejects a 1.2 config with "unknown
/// version specified"; the conformance suite checks 1.2 configs separately.
pub const OCI_VERSION: &str = "1.1.0";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

const GROUP: &str = "root:x:0:
daemon:x:1:
wheel:x:10:user
tty:x:5:
users:x:100:user
user:x:1000:
nogroup:x:65534:
";

/// A temporary bundle directory: `config.json` plus `rootfs/`.
///
/// Removed on drop; drop it after every [`crate::Container`] using it (declare
/// the bundle first).
#[derive(Debug)]
pub struct Bundle {
    dir: tempfile::TempDir,
    /// The config, written by [`Bundle::save`].
    pub spec: Value,
}

impl Bundle {
    /// A busybox bundle with the default config, running `sh` (which exits at
    /// once, stdin being /dev/null).
    #[track_caller]
    pub fn busybox() -> Self {
        let dir = crate::temp_dir("bundle-");
        let rootfs = dir.path().join("rootfs");
        build_busybox_rootfs(&rootfs);
        Bundle { dir, spec: default_spec() }
    }

    /// The bundle directory (absolute).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory (absolute).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// A path inside the rootfs: `rootfs_path("/etc/passwd")`.
    pub fn rootfs_path(&self, inside: &str) -> PathBuf {
        self.rootfs().join(inside.trim_start_matches('/'))
    }

    /// Writes `config.json` from [`Bundle::spec`].
    #[track_caller]
    pub fn save(&self) {
        let path = self.dir.path().join("config.json");
        let text = serde_json::to_string_pretty(&self.spec).unwrap_or_else(|e| panic!("serialize spec: {e}"));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes a file inside the rootfs, creating parent directories.
    #[track_caller]
    pub fn write_file(&self, inside: &str, contents: &str, mode: u32) {
        let path = self.rootfs_path(inside);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }

    /// `process` object.
    pub fn process_mut(&mut self) -> &mut Value {
        obj_entry(&mut self.spec, "process")
    }

    /// `linux` object.
    pub fn linux_mut(&mut self) -> &mut Value {
        obj_entry(&mut self.spec, "linux")
    }

    /// Sets `process.args`.
    pub fn set_args(&mut self, args: &[&str]) -> &mut Self {
        self.process_mut()["args"] = json!(args);
        self
    }

    /// Runs `script` with `sh -c`.
    pub fn set_script(&mut self, script: &str) -> &mut Self {
        self.set_args(&["sh", "-c", script])
    }

    /// Replaces `process.env`.
    pub fn set_env(&mut self, env: &[&str]) -> &mut Self {
        self.process_mut()["env"] = json!(env);
        self
    }

    /// Appends one `KEY=value` to `process.env`.
    pub fn add_env(&mut self, kv: &str) -> &mut Self {
        push(obj_entry(self.process_mut(), "env"), json!(kv));
        self
    }

    /// Sets `process.cwd`.
    pub fn set_cwd(&mut self, cwd: &str) -> &mut Self {
        self.process_mut()["cwd"] = json!(cwd);
        self
    }

    /// Sets `process.user`.
    pub fn set_user(&mut self, uid: u32, gid: u32, additional_gids: &[u32]) -> &mut Self {
        let user = obj_entry(self.process_mut(), "user");
        user["uid"] = json!(uid);
        user["gid"] = json!(gid);
        if !additional_gids.is_empty() {
            user["additionalGids"] = json!(additional_gids);
        }
        self
    }

    /// Sets `process.terminal`.
    pub fn set_terminal(&mut self, terminal: bool) -> &mut Self {
        self.process_mut()["terminal"] = json!(terminal);
        self
    }

    /// Sets one capability set (`bounding`, `effective`, `permitted`,
    /// `inheritable`, `ambient`).
    pub fn set_caps(&mut self, set: &str, caps: &[&str]) -> &mut Self {
        obj_entry(self.process_mut(), "capabilities")[set] = json!(caps);
        self
    }

    /// Appends a mount.
    pub fn add_mount(&mut self, destination: &str, typ: &str, source: &str, options: &[&str]) -> &mut Self {
        let mut m = json!({"destination": destination, "type": typ, "source": source});
        if !options.is_empty() {
            m["options"] = json!(options);
        }
        push(obj_entry(&mut self.spec, "mounts"), m);
        self
    }

    /// Appends a bind mount of a host path.
    pub fn add_bind(&mut self, host: &Path, destination: &str, options: &[&str]) -> &mut Self {
        let mut opts = vec!["rbind"];
        opts.extend_from_slice(options);
        let src = host.to_string_lossy().into_owned();
        self.add_mount(destination, "bind", &src, &opts)
    }

    /// Removes every mount whose destination is `destination`.
    pub fn remove_mount(&mut self, destination: &str) -> &mut Self {
        if let Some(mounts) = self.spec["mounts"].as_array_mut() {
            mounts.retain(|m| m["destination"] != destination);
        }
        self
    }

    /// Adds a namespace (`{"type": typ}` plus `path` when given), replacing one
    /// of the same type.
    pub fn set_namespace(&mut self, typ: &str, path: Option<&Path>) -> &mut Self {
        self.remove_namespace(typ);
        let mut ns = json!({"type": typ});
        if let Some(p) = path {
            ns["path"] = json!(p.to_string_lossy());
        }
        push(obj_entry(self.linux_mut(), "namespaces"), ns);
        self
    }

    /// Removes a namespace type from `linux.namespaces`.
    pub fn remove_namespace(&mut self, typ: &str) -> &mut Self {
        if let Some(list) = self.linux_mut()["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != typ);
        }
        self
    }

    /// Sets an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) -> &mut Self {
        obj_entry(&mut self.spec, "annotations")[key] = json!(value);
        self
    }

    /// Appends a hook (`hooks.<phase>`).
    pub fn add_hook(&mut self, phase: &str, hook: Value) -> &mut Self {
        push(obj_entry(obj_entry(&mut self.spec, "hooks"), phase), hook);
        self
    }

    /// Adds a user namespace mapping container 0..size to host `host_id..` for
    /// both uids and gids, and chowns the rootfs to that range so the mapped
    /// root owns its files.
    #[track_caller]
    pub fn map_user_namespace(&mut self, host_id: u32, size: u32) -> &mut Self {
        self.map_user_namespace_ids(host_id, host_id, size)
    }

    /// Like [`Bundle::map_user_namespace`] with different host ranges for
    /// uids (`host_uid..`) and gids (`host_gid..`).
    #[track_caller]
    pub fn map_user_namespace_ids(&mut self, host_uid: u32, host_gid: u32, size: u32) -> &mut Self {
        self.set_namespace("user", None);
        self.linux_mut()["uidMappings"] = json!([{"containerID": 0, "hostID": host_uid, "size": size}]);
        self.linux_mut()["gidMappings"] = json!([{"containerID": 0, "hostID": host_gid, "size": size}]);
        chown_shifted(&self.rootfs(), host_uid, host_gid);
        self
    }
}

fn obj_entry<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.is_object() {
        *v = json!({});
    }
    let slot = &mut v[key];
    if slot.is_null() {
        *slot = if matches!(key, "env" | "mounts" | "namespaces" | "args") || is_hook_phase(key) {
            json!([])
        } else {
            json!({})
        };
    }
    slot
}

fn is_hook_phase(key: &str) -> bool {
    matches!(
        key,
        "prestart" | "createRuntime" | "createContainer" | "startContainer" | "poststart" | "poststop"
    )
}

fn push(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(a) = list.as_array_mut() {
        a.push(item);
    }
}

/// Chowns every file under `root` (without following symlinks) from uid
/// `u` to `uid_base + u` and gid `g` to `gid_base + g`.
#[track_caller]
fn chown_shifted(root: &Path, uid_base: u32, gid_base: u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(root).unwrap_or_else(|e| panic!("stat {}: {e}", root.display()));
    std::os::unix::fs::lchown(root, Some(uid_base + meta.uid() % 65536), Some(gid_base + meta.gid() % 65536))
        .unwrap_or_else(|e| panic!("lchown {}: {e}", root.display()));
    if meta.is_dir() {
        let entries = std::fs::read_dir(root).unwrap_or_else(|e| panic!("readdir {}: {e}", root.display()));
        for entry in entries.flatten() {
            chown_shifted(&entry.path(), uid_base, gid_base);
        }
    }
}

/// Builds a busybox rootfs at `rootfs`.
#[track_caller]
pub fn build_busybox_rootfs(rootfs: &Path) {
    let mkdir = |p: &Path, mode: u32| {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
    };
    mkdir(rootfs, 0o755);
    for d in ["bin", "etc", "proc", "sys", "dev", "mnt", "root", "home/user", "var", "run"] {
        mkdir(&rootfs.join(d), 0o755);
    }
    mkdir(&rootfs.join("tmp"), 0o1777);
    let bin = rootfs.join("bin");
    let target = bin.join("busybox");
    std::fs::copy(BUSYBOX, &target).unwrap_or_else(|e| panic!("copy {BUSYBOX} (install busybox-static): {e}"));
    for applet in applets() {
        if applet == "busybox" {
            continue;
        }
        let link = bin.join(&applet);
        if !link.exists() {
            symlink("busybox", &link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
        }
    }
    std::fs::write(rootfs.join("etc/passwd"), PASSWD).unwrap_or_else(|e| panic!("write passwd: {e}"));
    std::fs::write(rootfs.join("etc/group"), GROUP).unwrap_or_else(|e| panic!("write group: {e}"));
    std::os::unix::fs::chown(rootfs.join("home/user"), Some(1000), Some(1000))
        .unwrap_or_else(|e| panic!("chown home/user: {e}"));
}

/// The applet names busybox was built with (`busybox --list`), read once.
fn applets() -> Vec<String> {
    use std::sync::OnceLock;
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS
        .get_or_init(|| {
            let out = std::process::Command::new(BUSYBOX)
                .arg("--list")
                .output()
                .unwrap_or_else(|e| panic!("{BUSYBOX} --list (install busybox-static): {e}"));
            String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
        })
        .clone()
}

/// The default config, equal in content to what `runc spec` writes except for
/// `terminal: false`, `ociVersion` and `hostname`.
pub fn default_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}
