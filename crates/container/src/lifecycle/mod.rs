//! The verbs of runc's command line, one file each, over the state directory
//! and the process set-up of this crate.

pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod start;
pub mod state;
pub mod update;
pub mod wait;

use std::path::PathBuf;

use crate::state::{ContainerDir, Root, State, Status};
use crate::{Error, Result};

/// Global options of every verb.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: Root,
    /// `--systemd-cgroup`
    pub systemd_cgroup: bool,
    /// running without root
    pub rootless: bool,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>, systemd_cgroup: bool) -> Runtime {
        Runtime { root: Root::new(root), systemd_cgroup, rootless: !nix::unistd::geteuid().is_root() }
    }

    /// Where compiled seccomp programs are cached (compiling docker's
    /// default profile costs ~10 ms; a cache hit ~20 µs). Inside the root,
    /// which only the runtime's user can write; names starting with `.` are
    /// never container ids in `list`.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.root.path.join(".cache").join("seccomp")
    }

    /// Opens a container that has finished `create`, with its state and status.
    pub fn load(&self, id: &str, lock: bool) -> Result<(ContainerDir, State, Status)> {
        let dir = self.root.open(id, lock)?;
        let st = dir.load_required()?;
        let status = dir.status(Some(&st));
        Ok((dir, st, status))
    }
}

/// The OCI state JSON (runtime.md "State") of a container, as `state` prints
/// it and hooks receive it on stdin.
pub fn state_json(st: &State, status: Status) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": st.id,
        "pid": if status == Status::Stopped { 0 } else { st.pid },
        "status": status.as_str(),
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "owner": st.owner,
    });
    if !st.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&st.annotations).unwrap_or_default();
    }
    v
}

/// An error for an operation that the container's status forbids.
pub fn bad_status(id: &str, status: Status, msg: &'static str) -> Error {
    Error::InvalidState { id: id.to_string(), status: status.to_string(), msg }
}

/// Writes a pid file atomically (temp file + rename), as runc does.
pub fn write_pid_file(path: &std::path::Path, pid: i32) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::Msg(format!("pid file {} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::path("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::path("write pid file", path, e))
}
