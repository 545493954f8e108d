//! The API sockets and the pid file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Binds a unix socket at `path` (mode 0660, group `group`, else `docker`
/// when that group exists, else root's). A stale socket file is replaced;
/// a socket something still answers on is not.
pub fn bind(path: &Path, group: Option<&str>) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use: another daemon is listening on it", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    let gid = match group {
        Some(g) => Some(nix::unistd::Group::from_name(g).ok().flatten().map(|g| g.gid).with_context(|| format!("--group {g}: no such group"))?),
        None => nix::unistd::Group::from_name("docker").ok().flatten().map(|g| g.gid),
    };
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("chmod {}", path.display()))?;
    Ok(l)
}

/// The pid file; removed on drop.
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes our pid, refusing when the file names another live process.
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<i32>()
            && pid != std::process::id() as i32
            && Path::new(&format!("/proc/{pid}")).exists()
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "berthd")
        {
            bail!("pid file found, ensure berthd is not running or delete {}", path.display());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, format!("{}\n", std::process::id())).with_context(|| format!("writing {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
