//! The log file with docker's size-based rotation, and the rule that a
//! failing disk never stops the container: entries that cannot be written
//! are dropped and counted.
//!
//! Rotation follows docker's `max-size`/`max-file`: before an entry is
//! written, a file that has reached `max_size` is rotated; with `max_files`
//! N ≥ 2 the files are `path`, `path.1` … `path.(N-1)` (`path` → `path.1`,
//! the oldest is removed); with N = 1 the file is simply started afresh.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Mode of new log files (docker's json-file uses 0640).
const LOG_MODE: u32 = 0o640;

/// Size at which the write-combining buffer is written out even before the
/// current read is fully processed.
const FLUSH_AT: usize = 64 * 1024;

/// An append-only log file with rotation and drop-on-error.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the current file (as far as this writer knows).
    size: u64,
    /// 0: unlimited.
    max_size: u64,
    max_files: u32,
    /// Encoded entries not yet written, and how many there are.
    pending: Vec<u8>,
    pending_entries: u64,
    dropped: u64,
    /// The last write/rotate error, for `state` and the shim's own log.
    last_error: Option<String>,
}

/// Opening the log file failed.
#[derive(Debug, thiserror::Error)]
#[error("open log file {path}")]
pub struct OpenError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl LogFile {
    /// Opens (creating) `path` for appending. `max_size` 0 means no rotation.
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<LogFile, OpenError> {
        let file = open_append(path).map_err(|source| OpenError { path: path.to_path_buf(), source })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            max_size,
            max_files: max_files.max(1),
            pending: Vec::new(),
            pending_entries: 0,
            dropped: 0,
            last_error: None,
        })
    }

    /// Entries dropped because they could not be written.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The last error met while writing or rotating, if any.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Queues one encoded entry (rotating first when the file is full).
    /// Call [`LogFile::flush`] when the batch is complete.
    pub fn append_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.max_size > 0 && self.size + self.pending.len() as u64 >= self.max_size {
            self.flush();
            self.rotate();
        }
        encode(&mut self.pending);
        self.pending_entries += 1;
        if self.pending.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Writes the queued entries. On failure they are dropped (counted) and
    /// any partly written entry is cut off again, so the file stays a
    /// sequence of whole entries.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.file.is_none() {
            // A previous rotation could not create the file: try again.
            match open_append(&self.path) {
                Ok(f) => {
                    self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    self.file = Some(f);
                }
                Err(e) => self.last_error = Some(format!("open {}: {e}", self.path.display())),
            }
        }
        let result = match &mut self.file {
            Some(f) => f.write_all(&self.pending),
            None => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        match result {
            Ok(()) => self.size += self.pending.len() as u64,
            Err(e) => {
                self.dropped += self.pending_entries;
                if self.file.is_some() {
                    self.last_error = Some(format!("write {}: {e}", self.path.display()));
                }
                if let Some(f) = &self.file {
                    // Remove a torn entry; harmless when nothing was written.
                    let _ = f.set_len(self.size);
                }
            }
        }
        self.pending.clear();
        self.pending_entries = 0;
        if self.pending.capacity() > FLUSH_AT * 2 {
            self.pending = Vec::new();
        }
    }

    /// Reopens the file at its path (after someone else rotated it away,
    /// as the kubelet does for CRI logs before `ReopenContainerLog`).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.flush();
        let f = open_append(&self.path)?;
        self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(f);
        Ok(())
    }

    fn rotate(&mut self) {
        self.file = None;
        if self.max_files >= 2 {
            let numbered = |i: u32| {
                let mut p = self.path.clone().into_os_string();
                p.push(format!(".{i}"));
                PathBuf::from(p)
            };
            if let Err(e) = std::fs::remove_file(numbered(self.max_files - 1))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                self.last_error = Some(format!("rotate {}: remove oldest: {e}", self.path.display()));
            }
            for i in (2..self.max_files).rev() {
                if let Err(e) = std::fs::rename(numbered(i - 1), numbered(i))
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    self.last_error = Some(format!("rotate {}: rename .{}: {e}", self.path.display(), i - 1));
                }
            }
            if let Err(e) = std::fs::rename(&self.path, numbered(1))
                && e.kind() != std::io::ErrorKind::NotFound
            {
                self.last_error = Some(format!("rotate {}: {e}", self.path.display()));
            }
        }
        // Truncate in any case: with one file, or if a rename failed, the
        // log starts afresh rather than growing past its limit.
        match OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(LOG_MODE)
            .custom_flags(libc::O_CLOEXEC | libc::O_APPEND)
            .open(&self.path)
        {
            Ok(f) => self.file = Some(f),
            Err(e) => self.last_error = Some(format!("rotate {}: create: {e}", self.path.display())),
        }
        self.size = 0;
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_MODE)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(f: &mut LogFile, s: &str) {
        f.append_with(|out| out.extend_from_slice(s.as_bytes()));
        f.flush();
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn rotates_like_docker_max_size_max_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut f = LogFile::open(&path, 10, 3).expect("open");
        entry(&mut f, "aaaaaa\n"); // 7
        entry(&mut f, "bbbbbb\n"); // 14: over, but rotation happens before the next write
        assert_eq!(read(&path), "aaaaaa\nbbbbbb\n");
        entry(&mut f, "cccccc\n");
        assert_eq!(read(&path), "cccccc\n");
        assert_eq!(read(&dir.path().join("c-json.log.1")), "aaaaaa\nbbbbbb\n");
        entry(&mut f, "dddddd\n");
        entry(&mut f, "eeeeee\n");
        assert_eq!(read(&path), "eeeeee\n");
        assert_eq!(read(&dir.path().join("c-json.log.1")), "cccccc\ndddddd\n");
        assert_eq!(read(&dir.path().join("c-json.log.2")), "aaaaaa\nbbbbbb\n");
        entry(&mut f, "ffffff\n");
        entry(&mut f, "gggggg\n");
        assert_eq!(read(&dir.path().join("c-json.log.2")), "cccccc\ndddddd\n");
        assert!(!dir.path().join("c-json.log.3").exists(), "max_files 3 keeps .1 and .2 only");
    }

    #[test]
    fn one_file_restarts_when_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.log");
        let mut f = LogFile::open(&path, 5, 1).expect("open");
        entry(&mut f, "123456\n");
        entry(&mut f, "abc\n");
        assert_eq!(read(&path), "abc\n");
        assert!(!dir.path().join("x.log.1").exists());
    }

    #[test]
    fn rotation_is_checked_per_entry_within_a_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.log");
        let mut f = LogFile::open(&path, 4, 2).expect("open");
        for s in ["aaaa\n", "bbbb\n", "cccc\n"] {
            f.append_with(|out| out.extend_from_slice(s.as_bytes()));
        }
        f.flush();
        assert_eq!(read(&path), "cccc\n");
        assert_eq!(read(&dir.path().join("b.log.1")), "bbbb\n");
    }

    #[test]
    fn appends_to_an_existing_file_and_counts_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("e.log");
        std::fs::write(&path, "0123456789").expect("seed");
        let mut f = LogFile::open(&path, 10, 2).expect("open");
        entry(&mut f, "new\n");
        assert_eq!(read(&path), "new\n");
        assert_eq!(read(&dir.path().join("e.log.1")), "0123456789");
    }

    #[test]
    fn write_errors_drop_and_count() {
        // /dev/full returns ENOSPC on every write.
        let mut f = LogFile::open(Path::new("/dev/full"), 0, 1).expect("open /dev/full");
        entry(&mut f, "lost\n");
        f.append_with(|out| out.extend_from_slice(b"a\n"));
        f.append_with(|out| out.extend_from_slice(b"b\n"));
        f.flush();
        assert_eq!(f.dropped(), 3);
        assert!(f.last_error().is_some_and(|e| e.contains("/dev/full")), "{:?}", f.last_error());
    }
}
