//! Durable little files: atomic JSON writes (temp file, fsync, rename, fsync
//! of the directory), the state-dir lock, random ids and docker's timestamps.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `value` as JSON to `path` so that a crash leaves either the old or
/// the new content, never a torn file.
pub(crate) fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|e| Error::Io {
        op: "serialize",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(path, &data)
}

/// Writes bytes atomically (see [`write_json_atomic`]).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        f.write_all(data).map_err(Error::io("write", &tmp))?;
        f.sync_all().map_err(Error::io("fsync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(Error::io("rename", path))?;
    sync_dir(dir)
}

/// fsyncs a directory so that a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("fsync", dir))
}

/// Removes a file and makes the removal durable; a missing file is fine.
pub(crate) fn remove_durable(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io { op: "remove", path: path.to_path_buf(), source: e }),
    }
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data).map_err(Error::io("read", path))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io { op: "open", path: path.to_path_buf(), source: e }),
    };
    serde_json::from_slice(&data).map(Some).map_err(|source| Error::CorruptState { path: path.to_path_buf(), source })
}

/// Creates a directory (and parents) with mode 0700 where it is new.
pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(Error::io("create dir", path))
}

/// An exclusive lock on `<state_dir>/lock`, held for the life of a
/// `NetworkManager`: two daemons over one state dir would hand out the same
/// ports and race on the records.
#[derive(Debug)]
pub(crate) struct StateLock {
    _lock: nix::fcntl::Flock<File>,
    #[allow(dead_code)]
    path: PathBuf,
}

impl StateLock {
    pub(crate) fn acquire(state_dir: &Path) -> Result<StateLock> {
        let path = state_dir.join("lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(StateLock { _lock: lock, path }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::StateLocked(state_dir.to_path_buf())),
            Err((_, e)) => Err(Error::Io { op: "lock", path, source: e.into() }),
        }
    }
}

/// A 64-hex-digit random id, like docker's network and endpoint ids.
pub(crate) fn random_id() -> String {
    let mut buf = [0u8; 32];
    fill_random(&mut buf);
    hex::encode(buf)
}

/// Fills `buf` from the kernel's CSPRNG; falls back to time and pid mixing
/// only if getrandom(2) is unavailable, which it is not on any supported kernel.
pub(crate) fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe the writable tail of `buf`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    if filled < buf.len() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf[filled..].iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn atomic_json_round_trip_and_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.json");
        assert_eq!(read_json::<Vec<u32>>(&p).expect("read"), None);
        write_json_atomic(&p, &vec![1u32, 2]).expect("write");
        assert_eq!(read_json::<Vec<u32>>(&p).expect("read"), Some(vec![1, 2]));
        std::fs::write(&p, b"{").expect("write");
        assert!(matches!(read_json::<Vec<u32>>(&p), Err(Error::CorruptState { .. })));
        let l = StateLock::acquire(dir.path()).expect("lock");
        assert!(matches!(StateLock::acquire(dir.path()), Err(Error::StateLocked(_))));
        drop(l);
        StateLock::acquire(dir.path()).expect("lock again");
    }
}
