//! Small helpers over cgroup control files: read, write with context, parse, mkdir, rmdir.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// statfs magic of cgroup v1.
pub(crate) const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
/// statfs magic of cgroup v2.
pub(crate) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Reads a control file whole.
pub(crate) fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a control file; `None` when it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Reads a control file holding one number; "max" reads as `u64::MAX`.
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read(path)?;
    parse_u64(&s).ok_or_else(|| Error::Parse {
        file: path.display().to_string(),
        line: s.trim().to_owned(),
        reason: "expected an unsigned integer or \"max\"".into(),
    })
}

/// Like [`read_u64`] but `None` when the file does not exist.
pub(crate) fn read_u64_opt(path: &Path) -> Result<Option<u64>> {
    match read_opt(path)? {
        None => Ok(None),
        Some(s) => parse_u64(&s).map(Some).ok_or_else(|| Error::Parse {
            file: path.display().to_string(),
            line: s.trim().to_owned(),
            reason: "expected an unsigned integer or \"max\"".into(),
        }),
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// Writes a value to a control file in one write(2), without creating or truncating it.
///
/// Control files must exist already: creating one would mean we are not on a cgroup fs.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(value.as_bytes())
}

/// Writes a control file, reporting the path and value on failure.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|source| Error::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    })
}

/// Writes a control file on behalf of an OCI field: the error names the field.
pub(crate) fn set(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(|source| Error::Apply {
        field: field.to_owned(),
        path,
        value: value.to_owned(),
        source,
    })
}

/// The filesystem magic of `path`.
pub(crate) fn fs_type(path: &Path) -> Result<i64> {
    let st = nix::sys::statfs::statfs(path).map_err(|e| Error::Sys {
        operation: "statfs",
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(st.filesystem_type().0 as i64)
}

/// Fails unless `path` is on cgroup v1 or v2.
pub(crate) fn ensure_cgroupfs(path: &Path) -> Result<()> {
    let t = fs_type(path)?;
    if t == CGROUP_SUPER_MAGIC || t == CGROUP2_SUPER_MAGIC {
        Ok(())
    } else {
        Err(Error::NotCgroupFs {
            path: path.to_owned(),
            fs_type: t,
        })
    }
}

/// Creates `dir` and any missing parents below `mount`, returning the directories it created,
/// outermost first. `mount` itself must exist. An existing entry that is not a directory is an
/// error. When a parent disappears between two steps (another container's destroy removing an
/// empty default parent), the walk starts again.
pub(crate) fn mkdir_below(mount: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let rel = dir.strip_prefix(mount).map_err(|_| Error::InvalidPath {
        path: dir.display().to_string(),
        reason: format!("not below {}", mount.display()),
    })?;
    let mut created = Vec::new();
    let mut attempts = 0;
    'again: loop {
        let mut cur = mount.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            match fs::create_dir(&cur) {
                Ok(()) => created.push(cur.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !cur.is_dir() {
                        return Err(Error::Create {
                            path: cur.clone(),
                            source: io::Error::from_raw_os_error(libc::ENOTDIR),
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 10 => {
                    attempts += 1;
                    continue 'again;
                }
                Err(source) => {
                    return Err(Error::Create {
                        path: cur.clone(),
                        source,
                    });
                }
            }
        }
        return Ok(created);
    }
}

/// Removes `dir` if it is an empty cgroup (no child cgroups, no processes); anything else
/// (busy, not empty, gone) leaves it alone.
pub(crate) fn remove_if_unused(dir: &Path) {
    let _ = fs::remove_dir(dir);
}

/// Removes a cgroup directory and its child cgroups, deepest first.
///
/// cgroupfs directories hold only control files, which rmdir(2) removes with them; a busy
/// cgroup (processes still exiting) answers EBUSY, which is retried for up to `patience`.
/// A directory that is already gone is fine.
pub(crate) fn remove_cgroup_tree(dir: &Path, patience: Duration) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let ft = entry.file_type().map_err(|source| Error::Read {
            path: entry.path(),
            source,
        })?;
        // Only real directories: a symlink (which cgroupfs cannot hold, but a tmpfs can) is
        // never followed.
        if ft.is_dir() {
            remove_cgroup_tree(&entry.path(), patience)?;
        }
    }
    rmdir_retry(dir, patience)
}

fn rmdir_retry(dir: &Path, patience: Duration) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(200);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < patience => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(Error::Remove {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn parse_flat_keyed(s: &str) -> Vec<(&str, u64)> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k, v))
        })
        .collect()
}

/// Looks one key up in "key value" lines.
pub(crate) fn flat_keyed_get(s: &str, key: &str) -> Option<u64> {
    s.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        if it.next()? == key {
            parse_u64(it.next()?)
        } else {
            None
        }
    })
}

/// Parses the pids of a `cgroup.procs` file.
pub(crate) fn parse_pids(path: &Path, s: &str) -> Result<Vec<i32>> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse::<i32>().map_err(|_| Error::Parse {
                file: path.display().to_string(),
                line: l.to_owned(),
                reason: "expected a process id".into(),
            })
        })
        .collect()
}

/// Every pid in `cgroup.procs` of `dir` and of its child cgroups.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match read_opt(&procs)? {
        None => return Ok(()),
        Some(s) => out.extend(parse_pids(&procs, &s)?),
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            procs_recursive(&entry.path(), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_parses_and_skips_garbage() {
        let s = "usage_usec 10\nnr_periods 3\nbogus\nthrottled_usec max\n";
        let v = parse_flat_keyed(s);
        assert_eq!(
            v,
            vec![
                ("usage_usec", 10),
                ("nr_periods", 3),
                ("throttled_usec", u64::MAX)
            ]
        );
        assert_eq!(flat_keyed_get(s, "nr_periods"), Some(3));
        assert_eq!(flat_keyed_get(s, "missing"), None);
    }

    #[test]
    fn pids_parse_rejects_non_numbers() {
        let p = Path::new("/x/cgroup.procs");
        assert_eq!(parse_pids(p, "1\n22\n\n").unwrap(), vec![1, 22]);
        assert!(parse_pids(p, "1\nabc\n").is_err());
    }

    #[test]
    fn mkdir_below_refuses_paths_outside_the_mount() {
        let err = mkdir_below(Path::new("/sys/fs/cgroup/memory"), Path::new("/tmp/x")).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
    }

    #[test]
    fn write_does_not_create_missing_control_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory.max");
        assert!(write(&p, "1").is_err());
        assert!(!p.exists());
    }
}
