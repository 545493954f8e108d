//! The per-container state directory under the runtime root and the status
//! of a container, derived from the real process every time it is asked for.
//!
//! Layout of `<root>/<id>/`:
//! - `state.json`: [`State`], written once `create` has succeeded (a
//!   directory without it is a container still being created, or the remains
//!   of a create that was killed);
//! - `config.json`: the bundle's config as it was at create time (exec,
//!   delete and the poststop hooks use it even if the bundle is gone);
//! - `start.sock`: present while the container is `created`: its init process
//!   waits for `start` to connect here before it executes the user's program.

use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const START_SOCKET: &str = "start.sock";

/// What the runtime remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// host pid of the container's init process
    pub pid: i32,
    /// start time of that process (clock ticks since boot), guards against pid reuse
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 time of creation
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// how to find the container's cgroups again
    pub cgroup: berth_cgroups::CgroupSpec,
    /// the init process has its own user namespace
    #[serde(default)]
    pub userns: bool,
}

/// The status a container is in, as runtime.md names them (plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The runtime root (`--root`): one directory per container.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
}

/// A container's state directory, possibly locked.
#[derive(Debug)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: Option<Flock<OwnedFd>>,
}

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root { path: path.into() }
    }

    fn ensure(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|e| Error::path("create runtime root", &self.path, e))
    }

    /// Creates the state directory of a new container, locked. Fails if a
    /// container with that id exists.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        crate::id::validate(id)?;
        self.ensure()?;
        let path = self.path.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(Error::Exists(id.to_string())),
            Err(e) => return Err(Error::path("create state directory", &path, e)),
        }
        let lock = lock_dir(&path)?;
        Ok(ContainerDir { id: id.to_string(), path, _lock: Some(lock) })
    }

    /// Opens an existing container's directory; `lock` takes the exclusive
    /// lock that serialises state changes (start, delete, pause, ...).
    pub fn open(&self, id: &str, lock: bool) -> Result<ContainerDir> {
        crate::id::validate(id)?;
        let path = self.path.join(id);
        let lock = if lock {
            Some(lock_dir(&path).map_err(|e| match e {
                Error::Path { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::NotFound(id.to_string())
                }
                e => e,
            })?)
        } else {
            if !path.is_dir() {
                return Err(Error::NotFound(id.to_string()));
            }
            None
        };
        Ok(ContainerDir { id: id.to_string(), path, _lock: lock })
    }

    /// Ids of all containers, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::path("read runtime root", &self.path, e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| !id.starts_with('.') && crate::id::validate(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn lock_dir(path: &Path) -> Result<Flock<OwnedFd>> {
    let fd = nix::fcntl::open(path, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::path("open state directory", path, e.into()))?;
    Flock::lock(fd, FlockArg::LockExclusive).map_err(|(_, e)| Error::path("lock state directory", path, e.into()))
}

impl ContainerDir {
    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    pub fn start_socket(&self) -> PathBuf {
        self.path.join(START_SOCKET)
    }

    /// The saved state, or `None` while the container is still being created.
    pub fn load(&self) -> Result<Option<State>> {
        let p = self.state_path();
        match fs::read(&p) {
            Ok(b) => crate::config::parse_json(&p.display().to_string(), &b).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::path("read", p, e)),
        }
    }

    /// The saved state; an error when there is none.
    pub fn load_required(&self) -> Result<State> {
        self.load()?.ok_or_else(|| Error::InvalidState {
            id: self.id.clone(),
            status: Status::Creating.to_string(),
            msg: "it has no state yet",
        })
    }

    /// Writes state.json atomically (temp file + rename).
    pub fn save(&self, st: &State) -> Result<()> {
        let p = self.state_path();
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(st).map_err(|e| Error::Msg(format!("encode state: {e}")))?;
        write_new(&tmp, &data)?;
        fs::rename(&tmp, &p).map_err(|e| Error::path("rename", &p, e))
    }

    /// Saves a copy of the config as it was at create time.
    pub fn save_config(&self, bytes: &[u8]) -> Result<()> {
        write_new(&self.path.join(CONFIG_FILE), bytes)
    }

    /// The config saved at create time.
    pub fn load_config(&self) -> Result<crate::config::Config> {
        let p = self.path.join(CONFIG_FILE);
        let b = fs::read(&p).map_err(|e| Error::path("read", &p, e))?;
        let spec: crate::oci::Spec = crate::config::parse_json(&p.display().to_string(), &b)?;
        let st = self.load_required()?;
        Ok(crate::config::Config { spec, bundle: st.bundle, rootfs: st.rootfs })
    }

    /// The status of the container now, from its process (and the freezer).
    pub fn status(&self, st: Option<&State>) -> Status {
        let Some(st) = st else { return Status::Creating };
        if st.pid == 0 {
            return Status::Creating;
        }
        if st.pid < 0 || crate::sys::process_start_time(st.pid) != Some(st.init_start_time) {
            return Status::Stopped;
        }
        if self.start_socket().exists() {
            return Status::Created;
        }
        if let Ok(m) = berth_cgroups::manager(&st.cgroup) {
            if matches!(m.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen)) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    /// Removes the whole directory.
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::path("remove state directory", &self.path, e)),
        }
    }

    /// The directory fd, for *at() calls.
    pub fn as_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self._lock.as_ref().map(|l| l.as_fd())
    }
}

fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::path("create", path, e))?;
    f.write_all(data).map_err(|e| Error::path("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_twice_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let c = root.create("abc").unwrap();
        drop(c);
        assert!(matches!(root.create("abc"), Err(Error::Exists(_))));
        assert!(matches!(root.create("../x"), Err(Error::InvalidId { .. })));
        assert!(matches!(root.open("nope", true), Err(Error::NotFound(_))));
        assert_eq!(root.list().unwrap(), vec!["abc".to_string()]);
    }
}
