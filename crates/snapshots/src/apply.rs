//! Applying one layer tar into a layer directory, safely and fast.
//!
//! Every write is relative to a directory fd inside the layer. Parent
//! directories are opened with `openat2(RESOLVE_IN_ROOT)` (a symlink inside
//! the layer is followed as if the layer were `/`, so it can never lead out)
//! and cached by path, so a run of files in one directory costs one lookup.
//! The last component is created with `O_CREAT|O_EXCL|O_NOFOLLOW` or an `*at`
//! call that does not follow symlinks. The cache is dropped whenever an
//! existing entry is replaced, the only operation that can change what a
//! cached path names.
//!
//! Per regular file the common case is `openat`, `write`, `futimens`,
//! `close`: ownership and mode are only set when creation did not already
//! give the right ones (owner differs from ours, the umask cut bits, setuid
//! bits after a chown). Directory times are set at the end, after their
//! children were created.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use crate::layer::ImplicitDirs;
use crate::layer::LayerWriter;
use crate::lower::Layers;
use crate::path;
use crate::sys::{self, S_ISGID};
use crate::whiteout::{self, Name};
use crate::{ApplyStats, Error};

/// How many parent directory fds are kept open at most.
const DIR_CACHE_MAX: usize = 256;
/// Read buffer for file content (and the tar stream).
const BUF_SIZE: usize = 256 * 1024;
/// Bytes written between two background writeback starts.
const FLUSH_EVERY: u64 = 8 << 20;

pub(crate) fn apply<R: Read>(w: &LayerWriter, tar: R) -> Result<ApplyStats, Error> {
    std::thread::scope(|scope| {
        // Writeback overlapped with unpacking: every FLUSH_EVERY bytes a
        // helper thread starts a syncfs, so the one in commit has little
        // left to wait for.
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let fs_fd = w.fs_fd.as_fd();
        let flusher = std::thread::Builder::new()
            .name("berth-flush".into())
            .spawn_scoped(scope, move || {
                while kicked.recv().is_ok() {
                    // an error here resurfaces in commit's own syncfs
                    let _ = rustix::fs::syncfs(fs_fd);
                }
            })
            .map_err(|e| Error::io("starting the flusher thread for", &w.fs_path, e))?;
        let mut a = Applier {
            w,
            cache: HashMap::new(),
            dir_times: Vec::new(),
            buf: vec![0u8; BUF_SIZE],
            stats: ApplyStats::default(),
            kick: Some(kick),
            unflushed: 0,
        };
        let r = a.run(tar);
        a.kick = None;
        let _ = flusher.join();
        r.map(|()| a.stats)
    })
}

impl Applier<'_> {
    fn run<R: Read>(&mut self, tar: R) -> Result<(), Error> {
        let mut archive = tar::Archive::new(BufReader::with_capacity(BUF_SIZE, tar));
        let entries = archive.entries().map_err(|source| Error::Tar { source })?;
        for entry in entries {
            let mut entry = entry.map_err(|source| Error::Tar { source })?;
            self.entry(&mut entry)?;
        }
        self.finish()
    }

    /// Counts written bytes and wakes the flusher now and then.
    fn wrote(&mut self, n: u64) {
        self.stats.bytes += n;
        self.unflushed += n + 4096;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            if let Some(k) = &self.kick {
                // full: a flush is already pending, which covers this data too
                let _ = k.try_send(());
            }
        }
    }
}

/// An open directory of the layer and what creating entries in it implies.
struct Dir {
    fd: OwnedFd,
    /// New entries inherit the directory's group.
    setgid: bool,
    gid: u32,
}

/// Ownership, mode, times and xattrs of an entry.
struct Attrs {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    atime: Option<(i64, i64)>,
    xattrs: Vec<(String, Vec<u8>)>,
    /// A GNU PAX sparse file (format 1.0).
    sparse: Option<Sparse>,
}

/// What the `GNU.sparse.*` PAX records of a format 1.0 sparse file say.
struct Sparse {
    name: Vec<u8>,
    real_size: u64,
}

impl Attrs {
    fn times(&self) -> Timestamps {
        let mut t = sys::timestamps(self.mtime.0, self.mtime.1);
        if let Some((s, ns)) = self.atime {
            t.last_access = rustix::fs::Timespec {
                tv_sec: s,
                tv_nsec: ns,
            };
        }
        t
    }
}

struct Applier<'w> {
    w: &'w LayerWriter,
    /// Open parent directories by normalised path ("" is the root).
    cache: HashMap<Vec<u8>, Rc<Dir>>,
    /// (path, inode, times) of directories, applied in order at the end.
    dir_times: Vec<(Vec<u8>, u64, Timestamps)>,
    buf: Vec<u8>,
    stats: ApplyStats,
    /// Wakes the flusher thread.
    kick: Option<std::sync::mpsc::SyncSender<()>>,
    /// Bytes written (plus a block per file) since the last wake-up.
    unflushed: u64,
}

impl<'w> Applier<'w> {
    fn root(&self) -> BorrowedFd<'w> {
        self.w.fs_fd.as_fd()
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), Error> {
        let et = entry.header().entry_type();
        if et.is_pax_global_extensions() {
            return Ok(());
        }
        self.stats.entries += 1;
        let mut raw = entry.path_bytes().into_owned();
        let attrs = read_attrs(entry, &path::display(&raw))?;
        if let Some(sp) = &attrs.sparse {
            // GNU tar's PAX sparse files carry their real name in a record
            raw = sp.name.clone();
        }
        let name = path::display(&raw);
        let norm = path::normalize(&raw).map_err(|e| Error::invalid(&name, e.reason()))?;
        // old tars mark directories as regular files named with a trailing `/`
        let is_dir = et.is_dir()
            || (matches!(et, EntryType::Regular | EntryType::Continuous) && raw.ends_with(b"/"));

        if norm.is_empty() {
            if !is_dir {
                return Err(Error::invalid(
                    &name,
                    "the layer root can only be a directory",
                ));
            }
            return self.root_dir(&attrs, &name);
        }
        if norm.starts_with(whiteout::META_PREFIX) && norm != whiteout::OPAQUE {
            // AUFS metadata at the root (`.wh..wh.plnk/…`, `.wh..wh.aufs`):
            // not image content, skipped as docker does
            tracing::debug!(entry = %name, "skipping aufs metadata entry");
            return Ok(());
        }
        let (parent, base) = path::split(&norm);
        match whiteout::classify(base).map_err(|r| Error::invalid(&name, r))? {
            Name::Normal => {}
            Name::Opaque => {
                let d = self.dir(parent, &name)?;
                rustix::fs::fsetxattr(&d.fd, whiteout::OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| Error::entry("marking opaque the directory of", &name, e))?;
                self.stats.opaque_dirs += 1;
                return Ok(());
            }
            Name::Whiteout(hidden) => return self.whiteout(parent, hidden, &name),
            Name::AufsMeta => {
                tracing::debug!(entry = %name, "skipping aufs metadata entry");
                return Ok(());
            }
        }

        if is_dir {
            return self.directory(&norm, parent, base, &attrs, &name);
        }
        match et {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(entry, parent, base, &attrs, &name)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::invalid(&name, "symlink without a target"))?
                    .into_owned();
                self.symlink(parent, base, &target, &attrs, &name)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::invalid(&name, "hardlink without a target"))?
                    .into_owned();
                self.hardlink(&norm, parent, base, &target, &name)
            }
            EntryType::Char | EntryType::Block => {
                let h = entry.header();
                let major = h
                    .device_major()
                    .map_err(|e| Error::entry("reading the device number of", &name, e))?;
                let minor = h
                    .device_minor()
                    .map_err(|e| Error::entry("reading the device number of", &name, e))?;
                let dev = rustix::fs::makedev(major.unwrap_or(0), minor.unwrap_or(0));
                let ft = if et == EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                self.node(parent, base, ft, dev, &attrs, &name)
            }
            EntryType::Fifo => self.node(parent, base, FileType::Fifo, 0, &attrs, &name),
            other => Err(Error::invalid(
                &name,
                format!("unsupported tar entry type {other:?}"),
            )),
        }
    }

    /// The open directory `parent` of the layer, created (with the metadata
    /// the lower layers give it) when missing.
    fn dir(&mut self, parent: &[u8], name: &str) -> Result<Rc<Dir>, Error> {
        if let Some(d) = self.cache.get(parent) {
            return Ok(d.clone());
        }
        let fd = match sys::open_dir_in_root(self.root(), parent) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.make_parents(parent, name)?,
            Err(Errno::NOTDIR) => {
                return Err(Error::invalid(
                    name,
                    format!("parent {} is not a directory", path::display(parent)),
                ));
            }
            Err(e) => return Err(Error::entry("opening the parent directory of", name, e)),
        };
        self.remember(parent, fd, name)
    }

    fn remember(&mut self, dir_path: &[u8], fd: OwnedFd, name: &str) -> Result<Rc<Dir>, Error> {
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| Error::entry("inspecting the parent directory of", name, e))?;
        let d = Rc::new(Dir {
            fd,
            setgid: st.st_mode & S_ISGID != 0,
            gid: st.st_gid,
        });
        if self.cache.len() >= DIR_CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(dir_path.to_vec(), d.clone());
        Ok(d)
    }

    /// Creates the missing directories of `parent` (0755, our owner). Their
    /// real metadata comes from the parent layers' view, which may not be
    /// committed yet: [`fix_implicit_dirs`] copies it at commit time.
    fn make_parents(&mut self, parent: &[u8], name: &str) -> Result<OwnedFd, Error> {
        let mut cur = sys::open_dir_in_root(self.root(), b"")
            .map_err(|e| Error::entry("opening the layer root for", name, e))?;
        let mut prefix: Vec<u8> = Vec::new();
        for comp in parent.split(|&b| b == b'/') {
            prefix = path::join(&prefix, comp);
            match sys::open_dir_in_root(self.root(), &prefix) {
                Ok(fd) => {
                    cur = fd;
                    continue;
                }
                Err(Errno::NOENT) => {}
                Err(Errno::NOTDIR) => {
                    return Err(Error::invalid(
                        name,
                        format!("parent {} is not a directory", path::display(&prefix)),
                    ));
                }
                Err(e) => return Err(Error::entry("opening a parent directory of", name, e)),
            }
            match rustix::fs::mkdirat(&cur, comp, Mode::from_raw_mode(0o755)) {
                Ok(()) => {}
                Err(Errno::EXIST) => {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "parent {} is a symlink that does not lead to a directory inside the layer",
                            path::display(&prefix)
                        ),
                    ));
                }
                Err(e) => return Err(Error::entry("creating a parent directory of", name, e)),
            }
            let fd = sys::open_subdir(cur.as_fd(), comp)
                .map_err(|e| Error::entry("opening a parent directory of", name, e))?;
            if self.w.ids.umask & 0o755 != 0 {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(|e| {
                    Error::entry("setting the mode of a parent directory of", name, e)
                })?;
            }
            let st = rustix::fs::fstat(&fd)
                .map_err(|e| Error::entry("inspecting a parent directory of", name, e))?;
            self.w.implicit_dirs().insert(prefix.clone(), st.st_ino);
            self.stats.dirs += 1;
            cur = fd;
        }
        Ok(cur)
    }

    /// Removes what is at `base` so that a new entry can take its place
    /// (tar semantics: the later entry wins).
    fn clear_way(&mut self, parent: BorrowedFd<'_>, base: &[u8], name: &str) -> Result<(), Error> {
        sys::remove_at(parent, base)
            .map_err(|e| Error::entry("replacing the existing file of", name, e))?;
        // cached paths below what was removed now name nothing (or something
        // else once it is re-created): forget them all, it is rare
        self.cache.clear();
        Ok(())
    }

    fn want_chown(&self, parent: &Dir, a: &Attrs) -> bool {
        let gid = if parent.setgid {
            parent.gid
        } else {
            self.w.ids.egid
        };
        a.uid != self.w.ids.euid || a.gid != gid
    }

    fn root_dir(&mut self, a: &Attrs, name: &str) -> Result<(), Error> {
        let fd = sys::open_dir_in_root(self.root(), b"")
            .map_err(|e| Error::entry("opening the layer root for", name, e))?;
        rustix::fs::fchown(&fd, Some(uid_of(a.uid)), Some(gid_of(a.gid)))
            .map_err(|e| Error::entry("setting the owner of", name, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(a.mode))
            .map_err(|e| Error::entry("setting the mode of", name, e))?;
        set_xattrs_fd(fd.as_fd(), &a.xattrs, name)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::entry("inspecting", name, e))?;
        self.dir_times.push((Vec::new(), st.st_ino, a.times()));
        self.cache.remove(&b""[..]);
        self.remember(b"", fd, name)?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn directory(
        &mut self,
        norm: &[u8],
        parent: &[u8],
        base: &[u8],
        a: &Attrs,
        name: &str,
    ) -> Result<(), Error> {
        let p = self.dir(parent, name)?;
        let mut existed = false;
        match rustix::fs::mkdirat(&p.fd, base, Mode::from_raw_mode(a.mode)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = sys::lstat_at(p.fd.as_fd(), base)
                    .map_err(|e| Error::entry("inspecting the existing file of", name, e))?;
                if sys::is_dir(&st) {
                    existed = true;
                } else {
                    self.clear_way(p.fd.as_fd(), base, name)?;
                    rustix::fs::mkdirat(&p.fd, base, Mode::from_raw_mode(a.mode))
                        .map_err(|e| Error::entry("creating directory", name, e))?;
                }
            }
            Err(e) => return Err(Error::entry("creating directory", name, e)),
        }
        let fd = sys::open_subdir(p.fd.as_fd(), base)
            .map_err(|e| Error::entry("opening directory", name, e))?;
        let chown = existed || self.want_chown(&p, a);
        if chown {
            rustix::fs::fchown(&fd, Some(uid_of(a.uid)), Some(gid_of(a.gid)))
                .map_err(|e| Error::entry("setting the owner of", name, e))?;
        }
        // mkdir ignores setuid/setgid, applies the umask and inherits setgid
        let inherited = if p.setgid { S_ISGID } else { 0 };
        let created = (a.mode & 0o1777 & !self.w.ids.umask) | inherited;
        if existed || created != a.mode {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(a.mode))
                .map_err(|e| Error::entry("setting the mode of", name, e))?;
        }
        set_xattrs_fd(fd.as_fd(), &a.xattrs, name)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::entry("inspecting", name, e))?;
        self.dir_times.push((norm.to_vec(), st.st_ino, a.times()));
        self.w.implicit_dirs().remove(norm);
        self.cache.remove(norm);
        self.remember(norm, fd, name)?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &[u8],
        base: &[u8],
        a: &Attrs,
        name: &str,
    ) -> Result<(), Error> {
        let p = self.dir(parent, name)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(a.mode);
        let fd = match rustix::fs::openat(&p.fd, base, flags, mode) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => {
                self.clear_way(p.fd.as_fd(), base, name)?;
                rustix::fs::openat(&p.fd, base, flags, mode)
                    .map_err(|e| Error::entry("creating file", name, e))?
            }
            Err(e) => return Err(Error::entry("creating file", name, e)),
        };
        let mut file = std::fs::File::from(fd);
        if let Some(sp) = &a.sparse {
            self.sparse_content(entry, &file, sp, name)?;
            let mut rest = [0u8; 1];
            match entry.read(&mut rest) {
                Ok(0) => {}
                Ok(_) => return Err(Error::invalid(name, "data after the GNU sparse chunks")),
                Err(source) => return Err(Error::Tar { source }),
            }
        }
        while a.sparse.is_none() {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::Tar { source }),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| Error::entry("writing file", name, e))?;
            self.wrote(n as u64);
        }
        let chown = self.want_chown(&p, a);
        if chown {
            rustix::fs::fchown(&file, Some(uid_of(a.uid)), Some(gid_of(a.gid)))
                .map_err(|e| Error::entry("setting the owner of", name, e))?;
        }
        // chown clears setuid/setgid; the umask may have cut permission bits
        if (chown && a.mode & 0o6000 != 0) || a.mode & self.w.ids.umask & 0o777 != 0 {
            rustix::fs::fchmod(&file, mode)
                .map_err(|e| Error::entry("setting the mode of", name, e))?;
        }
        // after chown, which drops security.capability
        set_xattrs_fd(file.as_fd(), &a.xattrs, name)?;
        rustix::fs::futimens(&file, &a.times())
            .map_err(|e| Error::entry("setting the times of", name, e))?;
        self.stats.files += 1;
        Ok(())
    }

    /// Writes a GNU sparse 1.0 file: the entry data starts with a map
    /// (decimal lines: chunk count, then offset and size of each chunk,
    /// padded to 512 bytes), followed by the chunks. Holes stay holes.
    fn sparse_content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        file: &std::fs::File,
        sp: &Sparse,
        name: &str,
    ) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let mut consumed = 0u64;
        let mut number = |entry: &mut tar::Entry<'_, R>| -> Result<u64, Error> {
            let mut v: u64 = 0;
            let mut digits = 0;
            loop {
                let mut b = [0u8; 1];
                match entry.read(&mut b) {
                    Ok(0) => return Err(Error::invalid(name, "truncated GNU sparse map")),
                    Ok(_) => {}
                    Err(source) => return Err(Error::Tar { source }),
                }
                consumed += 1;
                match b[0] {
                    b'\n' if digits > 0 => return Ok(v),
                    c @ b'0'..=b'9' if digits < 20 => {
                        v = v
                            .checked_mul(10)
                            .and_then(|v| v.checked_add(u64::from(c - b'0')))
                            .ok_or_else(|| {
                                Error::invalid(name, "GNU sparse map number overflows")
                            })?;
                        digits += 1;
                    }
                    _ => return Err(Error::invalid(name, "malformed GNU sparse map")),
                }
            }
        };
        let count = number(entry)?;
        let mut chunks = Vec::new();
        for _ in 0..count {
            let off = number(entry)?;
            let len = number(entry)?;
            if off.checked_add(len).is_none_or(|end| end > sp.real_size) {
                return Err(Error::invalid(
                    name,
                    "GNU sparse chunk beyond the file size",
                ));
            }
            chunks.push((off, len));
        }
        let pad = (512 - consumed % 512) % 512;
        std::io::copy(&mut entry.by_ref().take(pad), &mut std::io::sink())
            .map_err(|source| Error::Tar { source })?;
        for (off, len) in chunks {
            let mut done = 0u64;
            while done < len {
                let want = usize::try_from((len - done).min(self.buf.len() as u64))
                    .unwrap_or(self.buf.len());
                let n = match entry.read(&mut self.buf[..want]) {
                    Ok(0) => return Err(Error::invalid(name, "truncated GNU sparse data")),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(source) => return Err(Error::Tar { source }),
                };
                file.write_all_at(&self.buf[..n], off + done)
                    .map_err(|e| Error::entry("writing file", name, e))?;
                done += n as u64;
                self.wrote(n as u64);
            }
        }
        file.set_len(sp.real_size)
            .map_err(|e| Error::entry("sizing sparse file", name, e))?;
        Ok(())
    }

    fn symlink(
        &mut self,
        parent: &[u8],
        base: &[u8],
        target: &[u8],
        a: &Attrs,
        name: &str,
    ) -> Result<(), Error> {
        let p = self.dir(parent, name)?;
        match rustix::fs::symlinkat(target, &p.fd, base) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_way(p.fd.as_fd(), base, name)?;
                rustix::fs::symlinkat(target, &p.fd, base)
                    .map_err(|e| Error::entry("creating symlink", name, e))?;
            }
            Err(e) => return Err(Error::entry("creating symlink", name, e)),
        }
        self.finish_node(&p, base, a, name, false)?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn node(
        &mut self,
        parent: &[u8],
        base: &[u8],
        ft: FileType,
        dev: u64,
        a: &Attrs,
        name: &str,
    ) -> Result<(), Error> {
        let p = self.dir(parent, name)?;
        let mode = Mode::from_raw_mode(a.mode);
        match rustix::fs::mknodat(&p.fd, base, ft, mode, dev) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                self.clear_way(p.fd.as_fd(), base, name)?;
                rustix::fs::mknodat(&p.fd, base, ft, mode, dev)
                    .map_err(|e| Error::entry("creating special file", name, e))?;
            }
            Err(e) => return Err(Error::entry("creating special file", name, e)),
        }
        self.finish_node(&p, base, a, name, true)?;
        if ft == FileType::Fifo {
            self.stats.fifos += 1;
        } else {
            self.stats.devices += 1;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a symlink or special file, by name
    /// in its (private, just created) parent, never following a symlink.
    fn finish_node(
        &mut self,
        p: &Dir,
        base: &[u8],
        a: &Attrs,
        name: &str,
        set_mode: bool,
    ) -> Result<(), Error> {
        let chown = self.want_chown(p, a);
        if chown {
            rustix::fs::chownat(
                &p.fd,
                base,
                Some(uid_of(a.uid)),
                Some(gid_of(a.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| Error::entry("setting the owner of", name, e))?;
        }
        if set_mode && (chown && a.mode & 0o6000 != 0 || a.mode & self.w.ids.umask & 0o777 != 0) {
            // not a symlink (we just made it), so following is moot
            rustix::fs::chmodat(&p.fd, base, Mode::from_raw_mode(a.mode), AtFlags::empty())
                .map_err(|e| Error::entry("setting the mode of", name, e))?;
        }
        if !a.xattrs.is_empty() {
            let at = sys::proc_path(p.fd.as_fd(), base);
            for (k, v) in &a.xattrs {
                rustix::fs::lsetxattr(&at, k.as_str(), v, XattrFlags::empty())
                    .map_err(|e| Error::entry("setting an xattr of", name, e))?;
            }
        }
        rustix::fs::utimensat(&p.fd, base, &a.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| Error::entry("setting the times of", name, e))?;
        Ok(())
    }

    fn hardlink(
        &mut self,
        norm: &[u8],
        parent: &[u8],
        base: &[u8],
        target: &[u8],
        name: &str,
    ) -> Result<(), Error> {
        let tnorm = path::normalize(target).map_err(|e| {
            Error::invalid(
                name,
                format!("hardlink target {}: {}", path::display(target), e.reason()),
            )
        })?;
        if tnorm.is_empty() {
            return Err(Error::invalid(name, "hardlink to the layer root"));
        }
        if tnorm == norm {
            return Err(Error::invalid(name, "hardlink to itself"));
        }
        let not_here = || {
            Error::invalid(
                name,
                format!(
                    "hardlink target {} is not in this layer",
                    path::display(target)
                ),
            )
        };
        let (tparent, tbase) = path::split(&tnorm);
        let tdir = match sys::open_dir_in_root(self.root(), tparent) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Err(not_here()),
            Err(e) => {
                return Err(Error::entry(
                    "opening the hardlink target directory of",
                    name,
                    e,
                ));
            }
        };
        let tst = match sys::lstat_at(tdir.as_fd(), tbase) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Err(not_here()),
            Err(e) => return Err(Error::entry("inspecting the hardlink target of", name, e)),
        };
        if sys::is_dir(&tst) {
            return Err(Error::invalid(name, "hardlink to a directory"));
        }
        let p = self.dir(parent, name)?;
        match rustix::fs::linkat(&tdir, tbase, &p.fd, base, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = sys::lstat_at(p.fd.as_fd(), base)
                    .map_err(|e| Error::entry("inspecting the existing file of", name, e))?;
                if st.st_ino != tst.st_ino || st.st_dev != tst.st_dev {
                    self.clear_way(p.fd.as_fd(), base, name)?;
                    rustix::fs::linkat(&tdir, tbase, &p.fd, base, AtFlags::empty())
                        .map_err(|e| Error::entry("creating hardlink", name, e))?;
                }
            }
            Err(e) => return Err(Error::entry("creating hardlink", name, e)),
        }
        self.stats.hardlinks += 1;
        Ok(())
    }

    fn whiteout(&mut self, parent: &[u8], hidden: &[u8], name: &str) -> Result<(), Error> {
        let p = self.dir(parent, name)?;
        // a whiteout only hides lower layers: an entry of this same layer
        // under that name stays
        match sys::lstat_at(p.fd.as_fd(), hidden) {
            Ok(_) => {}
            Err(Errno::NOENT) => {
                rustix::fs::mknodat(&p.fd, hidden, FileType::CharacterDevice, Mode::empty(), 0)
                    .map_err(|e| Error::entry("creating the overlay whiteout for", name, e))?;
            }
            Err(e) => return Err(Error::entry("inspecting the whiteout target of", name, e)),
        }
        self.stats.whiteouts += 1;
        Ok(())
    }

    /// Sets directory times now that nothing more is created in them. A
    /// directory replaced later in the tar (different inode) is skipped.
    fn finish(&mut self) -> Result<(), Error> {
        self.cache.clear();
        for (p, ino, ts) in std::mem::take(&mut self.dir_times) {
            let name = path::display(&p);
            let fd = match sys::open_dir_in_root(self.root(), &p) {
                Ok(fd) => fd,
                Err(Errno::NOENT) | Err(Errno::NOTDIR) | Err(Errno::LOOP) => continue,
                Err(e) => return Err(Error::entry("opening directory", &name, e)),
            };
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::entry("inspecting", &name, e))?;
            if st.st_ino != ino {
                continue;
            }
            rustix::fs::futimens(&fd, &ts)
                .map_err(|e| Error::entry("setting the times of", &name, e))?;
        }
        Ok(())
    }
}

/// Gives the directories [`Applier::make_parents`] created the mode,
/// owner, times and xattrs they have in the merged view of the parent
/// chain `lowers` (nearest first), as containerd does, so that adding a
/// file to `/opt/app` does not reset `/opt`. Directories absent there keep
/// 0755 and our owner; one a later tar entry gave metadata is left alone.
pub(crate) fn fix_implicit_dirs(
    root: BorrowedFd<'_>,
    implicit: &ImplicitDirs,
    lowers: &Layers,
) -> Result<(), Error> {
    for (p, ino) in implicit {
        let name = path::display(p);
        let Some(f) = lowers
            .lookup(p)
            .map_err(|e| Error::entry("looking up in the parent layers", &name, e))?
            .filter(|f| sys::is_dir(&f.stat))
        else {
            continue;
        };
        let fd = match sys::open_dir_in_root(root, p) {
            Ok(fd) => fd,
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => continue,
            Err(e) => return Err(Error::entry("opening directory", &name, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::entry("inspecting", &name, e))?;
        if st.st_ino != *ino {
            continue;
        }
        let lower = sys::reopen_dir(f.fd.as_fd())
            .map_err(|e| Error::entry("opening in the parent layers", &name, e))?;
        let xattrs: Vec<(String, Vec<u8>)> = sys::fd_xattrs(lower.as_fd())
            .map_err(|e| Error::entry("reading xattrs in the parent layers of", &name, e))?
            .into_iter()
            .filter(|(k, _)| !k.starts_with(b"trusted.overlay."))
            .filter_map(|(k, v)| String::from_utf8(k).ok().map(|k| (k, v)))
            .collect();
        rustix::fs::fchown(
            &fd,
            Some(uid_of(f.stat.st_uid)),
            Some(gid_of(f.stat.st_gid)),
        )
        .map_err(|e| Error::entry("setting the owner of", &name, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(f.stat.st_mode & 0o7777))
            .map_err(|e| Error::entry("setting the mode of", &name, e))?;
        set_xattrs_fd(fd.as_fd(), &xattrs, &name)?;
        let ts = sys::timestamps(f.stat.st_mtime, f.stat.st_mtime_nsec as i64);
        rustix::fs::futimens(&fd, &ts)
            .map_err(|e| Error::entry("setting the times of", &name, e))?;
    }
    Ok(())
}

fn uid_of(uid: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(uid)
}

fn gid_of(gid: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(gid)
}

fn set_xattrs_fd(
    fd: BorrowedFd<'_>,
    xattrs: &[(String, Vec<u8>)],
    name: &str,
) -> Result<(), Error> {
    for (k, v) in xattrs {
        rustix::fs::fsetxattr(fd, k.as_str(), v, XattrFlags::empty())
            .map_err(|e| Error::entry("setting an xattr of", name, e))?;
    }
    Ok(())
}

/// Reads mode, owner, times and xattrs of an entry from its header and PAX
/// records.
fn read_attrs<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Attrs, Error> {
    let h = entry.header();
    let bad = |e: std::io::Error| Error::entry("reading the header of", name, e);
    let mode = h.mode().map_err(bad)? & 0o7777;
    let uid = h.uid().map_err(bad)?;
    let gid = h.gid().map_err(bad)?;
    let mtime = h.mtime().map_err(bad)?;
    let uid =
        u32::try_from(uid).map_err(|_| Error::invalid(name, format!("uid {uid} out of range")))?;
    let gid =
        u32::try_from(gid).map_err(|_| Error::invalid(name, format!("gid {gid} out of range")))?;
    let mut attrs = Attrs {
        mode,
        uid,
        gid,
        mtime: (i64::try_from(mtime).unwrap_or(i64::MAX), 0),
        atime: None,
        xattrs: Vec::new(),
        sparse: None,
    };
    let Some(exts) = entry
        .pax_extensions()
        .map_err(|source| Error::Tar { source })?
    else {
        return Ok(attrs);
    };
    let mut libarchive_only: Vec<String> = Vec::new();
    let (mut sp_version, mut sp_name, mut sp_size) = ((None, None), None, None);
    for ext in exts {
        let ext = ext.map_err(|source| Error::Tar { source })?;
        let key = ext
            .key()
            .map_err(|_| Error::invalid(name, "PAX record key is not UTF-8"))?;
        if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
            if x.starts_with("trusted.overlay.") {
                return Err(Error::invalid(
                    name,
                    format!("overlayfs-private xattr {x} in a layer"),
                ));
            }
            attrs
                .xattrs
                .push((x.to_owned(), ext.value_bytes().to_vec()));
        } else if let Some(x) = key.strip_prefix("LIBARCHIVE.xattr.") {
            libarchive_only.push(x.to_owned());
        } else if let Some(k) = key.strip_prefix("GNU.sparse.") {
            let v = ext.value_bytes();
            match k {
                "major" => sp_version.0 = Some(v.to_vec()),
                "minor" => sp_version.1 = Some(v.to_vec()),
                "name" => sp_name = Some(v.to_vec()),
                "realsize" | "size" => {
                    sp_size = Some(
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok())
                            .ok_or_else(|| Error::invalid(name, "malformed GNU.sparse size"))?,
                    )
                }
                _ => {
                    return Err(Error::NotSupported(format!(
                        "GNU PAX sparse format 0.x (GNU.sparse.{k}) of layer entry {name:?}"
                    )));
                }
            }
        } else if key == "mtime" {
            attrs.mtime = parse_pax_time(ext.value_bytes())
                .ok_or_else(|| Error::invalid(name, "malformed PAX mtime"))?;
        } else if key == "atime" {
            attrs.atime = Some(
                parse_pax_time(ext.value_bytes())
                    .ok_or_else(|| Error::invalid(name, "malformed PAX atime"))?,
            );
        }
    }
    if sp_version != (None, None) || sp_name.is_some() || sp_size.is_some() {
        if sp_version != (Some(b"1".to_vec()), Some(b"0".to_vec())) {
            return Err(Error::NotSupported(format!(
                "GNU PAX sparse format other than 1.0 of layer entry {name:?}"
            )));
        }
        match (sp_name, sp_size) {
            (Some(n), Some(real_size)) => attrs.sparse = Some(Sparse { name: n, real_size }),
            _ => {
                return Err(Error::invalid(
                    name,
                    "GNU sparse 1.0 entry without name or size",
                ));
            }
        }
    }
    // bsdtar writes each xattr twice (SCHILY and LIBARCHIVE, URL-encoded
    // name, base64 value); only the LIBARCHIVE form alone is not understood
    for x in libarchive_only {
        let known = attrs.xattrs.iter().any(|(k, _)| url_encoded_eq(&x, k));
        if !known {
            return Err(Error::NotSupported(format!(
                "xattr {x} of layer entry {name:?} in LIBARCHIVE.xattr form only"
            )));
        }
    }
    Ok(attrs)
}

/// Compares a URL-encoded xattr name (bsdtar) with a plain one.
fn url_encoded_eq(encoded: &str, plain: &str) -> bool {
    let mut out = Vec::with_capacity(encoded.len());
    let b = encoded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&encoded[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out == plain.as_bytes()
}

/// Parses a PAX time `secs[.fraction]` into seconds and nanoseconds.
fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    if secs.is_empty()
        || !secs.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: i64 = digits.parse().ok()?;
    if neg {
        if nanos == 0 {
            Some((-secs, 0))
        } else {
            Some((-secs - 1, 1_000_000_000 - nanos))
        }
    } else {
        Some((secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some((1_700_000_000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"1.123456789999"), Some((1, 123_456_789)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b""), None);
        assert_eq!(parse_pax_time(b"12x"), None);
        assert_eq!(parse_pax_time(b"1.2.3"), None);
    }

    #[test]
    fn url_encoded_xattr_names_compare() {
        assert!(url_encoded_eq("user.a%3Db", "user.a=b"));
        assert!(url_encoded_eq("security.capability", "security.capability"));
        assert!(!url_encoded_eq("user.x", "user.y"));
    }
}
