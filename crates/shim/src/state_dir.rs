//! The shim's state directory: the files through which a restarted berthd
//! finds a shim and learns how its container ended.
//!
//! | file | written by | meaning |
//! |---|---|---|
//! | `shim.pid` | shim, at start | the shim's pid; `flock`ed (exclusive) by the live shim for its whole life |
//! | `shim.sock` | shim | the control socket |
//! | `init.pid` | the OCI runtime (`--pid-file`) | the container's init pid |
//! | `exit.json` | shim, when init is reaped | `{"exit_code":N,"signal":S,"exited_at":"…"}`, durable |
//! | `shim.log` | shim | the shim's own warnings (bounded) |
//!
//! Transient files (`runtime-N.log`, `exec-ID.json`, `exec-ID.pid`,
//! `console-N.sock`) exist only while a runtime command runs.

use crate::Error;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The shim's pid file, locked while the shim lives.
pub const SHIM_PID: &str = "shim.pid";
/// The control socket.
pub const SHIM_SOCK: &str = "shim.sock";
/// The container init's pid (written by the runtime).
pub const INIT_PID: &str = "init.pid";
/// The durable exit record.
pub const EXIT_JSON: &str = "exit.json";
/// The shim's own log.
pub const SHIM_LOG: &str = "shim.log";

/// Most bytes the shim writes to its own log.
const SHIM_LOG_LIMIT: u64 = 64 * 1024;

/// An open, locked state directory.
#[derive(Debug)]
pub struct StateDir {
    path: PathBuf,
    lock: File,
    log_written: u64,
}

impl StateDir {
    /// Creates (mode 0700) or opens `path` and takes the shim lock. Fails
    /// when another live shim holds it. Files of a previous run (socket,
    /// pid files, exit record) are removed: they describe a container run
    /// that this shim replaces.
    pub fn open(path: &Path) -> Result<StateDir, Error> {
        let io = |what: &'static str| {
            let path = path.to_path_buf();
            move |source| Error::StateDir { what, path, source }
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(io("create"))?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path.join(SHIM_PID))
            .map_err(io("open shim.pid in"))?;
        match lock_forever(&lock) {
            Ok(()) => {
                let dir = StateDir { path: path.to_path_buf(), lock, log_written: 0 };
                for stale in [SHIM_SOCK, INIT_PID, EXIT_JSON, SHIM_LOG] {
                    dir.remove(stale);
                }
                Ok(dir)
            }
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Err(Error::AlreadyRunning(path.to_path_buf())),
            Err(e) => Err(Error::StateDir { what: "lock shim.pid in", path: path.to_path_buf(), source: e }),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes this process's pid into the (locked) `shim.pid`.
    pub fn write_shim_pid(&mut self, pid: i32) -> std::io::Result<()> {
        self.lock.set_len(0)?;
        let text = format!("{pid}\n");
        nix::sys::uio::pwrite(&self.lock, text.as_bytes(), 0)?;
        Ok(())
    }

    /// Writes `name` so that after a crash it is either absent or complete:
    /// temp file, fsync, rename, fsync of the directory.
    pub fn write_durable(&self, name: &str, contents: &[u8]) -> std::io::Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, self.path.join(name))?;
        File::open(&self.path)?.sync_all()
    }

    /// Removes a file, ignoring its absence.
    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path.join(name));
    }

    /// Appends a line to the shim's own log (bounded; best effort).
    pub fn note(&mut self, msg: &str) {
        if self.log_written >= SHIM_LOG_LIMIT {
            return;
        }
        let line = format!("{} {msg}\n", berth_time::Timestamp::now().rfc3339_nano());
        self.log_written += line.len() as u64;
        if let Ok(mut f) = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(self.path.join(SHIM_LOG))
        {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Removes every file the shim and the runtime commands it ran put here,
    /// then the directory itself if nothing else is left in it.
    pub fn remove_all(&self, keep_exit: bool) {
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if keep_exit && (name == EXIT_JSON || name == SHIM_LOG) {
                    continue;
                }
                if is_ours(&name) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if !keep_exit {
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// Whether a state-dir entry is one the shim (or a runtime command it ran)
/// creates.
fn is_ours(name: &str) -> bool {
    matches!(name, SHIM_PID | SHIM_SOCK | INIT_PID | EXIT_JSON | SHIM_LOG)
        || (name.starts_with("runtime-") && name.ends_with(".log"))
        || (name.starts_with("exec-") && (name.ends_with(".json") || name.ends_with(".pid")))
        || (name.starts_with("console-") && name.ends_with(".sock"))
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// Takes the exclusive flock on `f` without an owning guard: it is held as
/// long as the open file description lives (this process's whole life).
fn lock_forever(f: &File) -> std::io::Result<()> {
    // SAFETY: flock(2) on a valid open descriptor borrowed from `f`; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Whether a live shim holds the lock of the state directory `path` (what a
/// restarted berthd checks; unlike a pid, a lock cannot be confused with a
/// recycled process).
pub fn shim_is_alive(path: &Path) -> bool {
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path.join(SHIM_PID))
    else {
        return false;
    };
    // SAFETY: flock(2) on a valid descriptor owned by `f`; no memory is passed.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    // Our shared lock (if we got one) is dropped with `f`.
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_excludes_a_second_shim_and_stale_files_go() {
        let base = tempfile::tempdir().expect("tempdir");
        let p = base.path().join("state");
        std::fs::create_dir(&p).expect("mkdir");
        std::fs::write(p.join(EXIT_JSON), "{}").expect("seed");
        let mut d = StateDir::open(&p).expect("open");
        assert!(!p.join(EXIT_JSON).exists(), "a stale exit record is removed");
        d.write_shim_pid(42).expect("pid");
        assert_eq!(std::fs::read_to_string(p.join(SHIM_PID)).expect("read"), "42\n");
        assert!(matches!(StateDir::open(&p), Err(Error::AlreadyRunning(_))));
        assert!(shim_is_alive(&p));
        d.write_durable(EXIT_JSON, b"{\"exit_code\":0}").expect("durable");
        assert_eq!(std::fs::read_to_string(p.join(EXIT_JSON)).expect("read"), "{\"exit_code\":0}");
        std::fs::write(p.join("unrelated"), "x").expect("write");
        d.remove_all(false);
        drop(d);
        assert!(p.exists(), "a directory with foreign files stays");
        assert_eq!(std::fs::read_dir(&p).expect("readdir").count(), 1);
        assert!(!shim_is_alive(&p));
    }
}
