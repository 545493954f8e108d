//! Read-only lookups through a stack of layer directories with overlayfs
//! semantics (whiteouts, opaque directories, non-directories hide what is
//! below), without mounting anything.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::sys;
use crate::whiteout::is_overlay_whiteout;

/// Layer directories, topmost first.
pub(crate) struct Layers {
    fds: Vec<OwnedFd>,
}

/// A path found in the merged view.
pub(crate) struct Found {
    /// Index of the layer that provides it (0 is the topmost).
    #[allow(dead_code)]
    pub layer: usize,
    pub stat: Stat,
    /// `O_PATH` handle of it in that layer.
    pub fd: OwnedFd,
}

impl Layers {
    pub fn open(paths: &[PathBuf]) -> io::Result<Self> {
        let mut fds = Vec::with_capacity(paths.len());
        for p in paths {
            let fd = rustix::fs::open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("opening layer {}: {e}", p.display()),
                )
            })?;
            fds.push(fd);
        }
        Ok(Layers { fds })
    }

    fn opaque(fd: &OwnedFd) -> Result<bool, Errno> {
        let d = sys::reopen_dir(fd.as_fd())?;
        sys::is_opaque(d.as_fd())
    }

    /// The layers in which `dir_path` is a directory that takes part in the
    /// merged directory, topmost first; `None` if it is not a directory in
    /// the merged view.
    pub fn dir_layers(&self, dir_path: &[u8]) -> Result<Option<Vec<usize>>, Errno> {
        Ok(self
            .walk(dir_path)?
            .and_then(|(found, layers)| sys::is_dir(&found.stat).then_some(layers)))
    }

    /// What `path` is in the merged view.
    pub fn lookup(&self, path: &[u8]) -> Result<Option<Found>, Errno> {
        Ok(self.walk(path)?.map(|(f, _)| f))
    }

    fn walk(&self, path: &[u8]) -> Result<Option<(Found, Vec<usize>)>, Errno> {
        if self.fds.is_empty() {
            return Ok(None);
        }
        let mut active = Vec::new();
        for (i, fd) in self.fds.iter().enumerate() {
            active.push(i);
            if Self::opaque(fd)? {
                break;
            }
        }
        if path.is_empty() {
            let fd = sys::open_path_nofollow(self.fds[0].as_fd(), b"")?;
            let stat = rustix::fs::fstat(&fd)?;
            return Ok(Some((Found { layer: 0, stat, fd }, active)));
        }
        let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        let mut prefix: Vec<u8> = Vec::with_capacity(path.len());
        for (d, comp) in comps.iter().enumerate() {
            if d > 0 {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(comp);
            let mut next = Vec::new();
            let mut found: Option<Found> = None;
            for &i in &active {
                let fd = match sys::open_path_nofollow(self.fds[i].as_fd(), &prefix) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
                    Err(e) => return Err(e),
                };
                let stat = rustix::fs::fstat(&fd)?;
                if is_overlay_whiteout(stat.st_mode, stat.st_rdev) {
                    break;
                }
                if !sys::is_dir(&stat) {
                    if found.is_none() {
                        found = Some(Found { layer: i, stat, fd });
                    }
                    break;
                }
                let opaque = Self::opaque(&fd)?;
                if found.is_none() {
                    found = Some(Found { layer: i, stat, fd });
                }
                next.push(i);
                if opaque {
                    break;
                }
            }
            let last = d + 1 == comps.len();
            match found {
                Some(f) if last => return Ok(Some((f, next))),
                Some(f) if sys::is_dir(&f.stat) => active = next,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Names visible in the merged directory `dir_path` (empty if it is not
    /// a directory there).
    pub fn children(&self, dir_path: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        let Some(layers) = self.dir_layers(dir_path)? else {
            return Ok(Vec::new());
        };
        let mut seen: std::collections::BTreeMap<Vec<u8>, bool> = std::collections::BTreeMap::new();
        for i in layers {
            let fd = sys::open_path_nofollow(self.fds[i].as_fd(), dir_path)?;
            let d = sys::reopen_dir(fd.as_fd())?;
            for name in sys::list_dir(d.as_fd())? {
                if seen.contains_key(&name) {
                    continue;
                }
                let st = sys::lstat_at(d.as_fd(), &name)?;
                seen.insert(name, !is_overlay_whiteout(st.st_mode, st.st_rdev));
            }
        }
        Ok(seen
            .into_iter()
            .filter(|(_, v)| *v)
            .map(|(k, _)| k)
            .collect())
    }
}
