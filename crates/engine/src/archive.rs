//! `docker cp` (archive HEAD/GET/PUT), `export` and `diff`, with every path
//! resolved inside the container: `openat2(RESOLVE_IN_ROOT)` from the
//! container's root, and every file below it opened with `O_NOFOLLOW`
//! relative to its parent's fd, so no symlink (or a rename race by a
//! running container) can lead outside.
//!
//! Which root: for a running container its own view (`/proc/<pid>/root`,
//! with its volumes, binds and tmpfs mounts); for a stopped one the rootfs
//! mounted for the operation, with bind and volume mounts mapped to their
//! host directories.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use tokio::sync::mpsc;

use crate::engine::{Container, Inner};
use crate::error::{Error, Result};
use crate::model::{ArchivePutOptions, PathStat};
use crate::spec::MountKind;

/// Lexically cleans an absolute container path (`..` cannot climb above `/`).
pub(crate) fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn open_root(root: &Path) -> Result<OwnedFd> {
    rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| Error::io(root)(e.into()))
}

/// Opens `path` inside `root_fd` (symlinks resolved as if `root_fd` were `/`).
fn open_in(root_fd: &OwnedFd, path: &str, flags: OFlags) -> std::io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    rustix::fs::openat2(root_fd, rel, flags | OFlags::CLOEXEC, Mode::empty(), ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS).map_err(Into::into)
}

/// The host path `path` resolves to inside `root` (for checks only).
pub(crate) fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf> {
    let fd = open_root(root)?;
    let f = open_in(&fd, path, OFlags::PATH).map_err(Error::io(root.join(path.trim_start_matches('/'))))?;
    std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f))).map_err(Error::io(root))
}

/// A small file inside `root` (passwd, group), `None` if absent.
pub(crate) fn read_in_root(root: &Path, path: &str) -> Option<String> {
    let fd = open_root(root).ok()?;
    let f = open_in(&fd, path, OFlags::RDONLY | OFlags::NOFOLLOW).ok()?;
    let mut s = String::new();
    std::fs::File::from(f).take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

/// `mkdir -p` inside `root`, new directories owned by `uid:gid` (docker
/// creates a missing working directory so).
pub(crate) fn mkdir_all_in_root(root: &Path, path: &str, uid: u32, gid: u32) -> Result<()> {
    let fd = open_root(root)?;
    let mut cur = String::new();
    for comp in clean(path).split('/').filter(|c| !c.is_empty()) {
        let parent = open_in(&fd, if cur.is_empty() { "/" } else { &cur }, OFlags::PATH | OFlags::DIRECTORY).map_err(Error::io(root.join(&cur)))?;
        match rustix::fs::mkdirat(&parent, comp, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                let _ = rustix::fs::chownat(&parent, comp, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)), AtFlags::SYMLINK_NOFOLLOW);
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::io(root.join(&cur).join(comp))(e.into())),
        }
        cur = format!("{cur}/{comp}");
    }
    Ok(())
}

/// Where a container's files are reached for an archive operation. Drop
/// unmounts a rootfs mounted for it.
struct View {
    root: PathBuf,
    /// Stopped container: (destination, host source) of bind/volume mounts,
    /// longest destination first.
    mounts: Vec<(String, PathBuf)>,
    unmount: Option<PathBuf>,
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(p) = &self.unmount {
            let _ = nix::mount::umount2(p.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

impl View {
    /// The root and in-root path for `path` (mapped into a mount's source
    /// when it lies below one).
    fn locate(&self, path: &str) -> (PathBuf, String) {
        let p = clean(path);
        for (dest, src) in &self.mounts {
            if p == *dest || p.starts_with(&format!("{dest}/")) {
                let rest = &p[dest.len()..];
                return (src.clone(), if rest.is_empty() { "/".into() } else { rest.to_owned() });
            }
        }
        (self.root.clone(), p)
    }
}

fn view(inner: &Inner, c: &Container) -> Result<View> {
    let rec = c.snapshot();
    if rec.state.running && rec.state.pid > 0 {
        return Ok(View { root: PathBuf::from(format!("/proc/{}/root", rec.state.pid)), mounts: Vec::new(), unmount: None });
    }
    let rootfs = inner.container_dir(&rec.id).join("rootfs");
    let mut unmount = None;
    if !crate::container::is_mounted(&rootfs) {
        std::fs::create_dir_all(&rootfs).map_err(Error::io(&rootfs))?;
        inner.images.snapshots().mount(&rec.id, &rootfs).map_err(|e| Error::Snapshot { key: rec.id.clone(), source: Box::new(e) })?;
        unmount = Some(rootfs.clone());
    }
    let mut mounts: Vec<(String, PathBuf)> =
        rec.mounts.iter().filter(|m| matches!(m.kind, MountKind::Bind | MountKind::Volume)).map(|m| (clean(&m.destination), PathBuf::from(&m.source))).collect();
    mounts.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
    Ok(View { root: rootfs, mounts, unmount })
}

/// Go's `os.FileMode` of a stat (docker puts it in the path-stat header).
fn go_mode(st: &rustix::fs::Stat) -> u32 {
    let m = st.st_mode;
    let mut g = m & 0o777;
    match m & libc::S_IFMT {
        libc::S_IFDIR => g |= 1 << 31,
        libc::S_IFLNK => g |= 1 << 27,
        libc::S_IFIFO => g |= 1 << 25,
        libc::S_IFSOCK => g |= 1 << 24,
        libc::S_IFBLK => g |= 1 << 26,
        libc::S_IFCHR => g |= (1 << 26) | (1 << 21),
        _ => {}
    }
    if m & libc::S_ISUID != 0 {
        g |= 1 << 23;
    }
    if m & libc::S_ISGID != 0 {
        g |= 1 << 22;
    }
    if m & libc::S_ISVTX != 0 {
        g |= 1 << 20;
    }
    g
}

/// The parent dir fd and last component of `path`, resolved in root.
fn parent_and_name(root_fd: &OwnedFd, path: &str) -> std::io::Result<(OwnedFd, String)> {
    let p = clean(path);
    let (parent, name) = p.rsplit_once('/').unwrap_or(("", &p));
    let name = if name.is_empty() { ".".to_owned() } else { name.to_owned() };
    let dir = open_in(root_fd, if parent.is_empty() { "/" } else { parent }, OFlags::PATH | OFlags::DIRECTORY)?;
    Ok((dir, name))
}

fn not_found(c: &Container, path: &str) -> Error {
    // docker's 404 text for cp
    Error::NoSuchPath(format!("Could not find the file {path} in container {}", c.rec().name))
}

fn stat_of(root_fd: &OwnedFd, path: &str) -> std::io::Result<(rustix::fs::Stat, String, String)> {
    let (dir, name) = parent_and_name(root_fd, path)?;
    let st = rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
    let link = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        rustix::fs::readlinkat(&dir, name.as_str(), Vec::new())?.to_string_lossy().into_owned()
    } else {
        String::new()
    };
    let base = if clean(path) == "/" { "/".to_owned() } else { name };
    Ok((st, base, link))
}

fn path_stat(st: &rustix::fs::Stat, name: String, link: String) -> PathStat {
    PathStat {
        name,
        size: st.st_size,
        mode: go_mode(st),
        mtime: crate::time::rfc3339_nano(st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64),
        link_target: link,
    }
}

pub(crate) async fn head(inner: &Arc<Inner>, id: &str, path: &str) -> Result<PathStat> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    let v = view(inner, &c)?;
    let (root, p) = v.locate(path);
    let fd = open_root(&root)?;
    let (st, name, link) = stat_of(&fd, &p).map_err(|_| not_found(&c, path))?;
    Ok(path_stat(&st, name, link))
}

/// Writes a tar of `name` (an entry of `dir`) and everything below it.
fn write_tree<W: Write>(b: &mut tar::Builder<W>, dir: &OwnedFd, name: &str, tar_name: &str) -> std::io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    let kind = st.st_mode & libc::S_IFMT;
    match kind {
        libc::S_IFDIR => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            let dname = if tar_name.ends_with('/') { tar_name.to_owned() } else { format!("{tar_name}/") };
            if tar_name != "." {
                b.append_data(&mut h, &dname, std::io::empty())?;
            }
            let sub = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            let mut names: Vec<String> = Vec::new();
            let d = rustix::fs::Dir::read_from(&sub)?;
            for e in d {
                let e = e?;
                let n = e.file_name().to_string_lossy().into_owned();
                if n != "." && n != ".." {
                    names.push(n);
                }
            }
            names.sort();
            for n in names {
                let child = if tar_name == "." { n.clone() } else { format!("{}{n}", dname) };
                write_tree(b, &sub, &n, &child)?;
            }
        }
        libc::S_IFREG => {
            let f = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            let f = std::fs::File::from(f);
            b.append_data(&mut h, tar_name, f.take(st.st_size as u64))?;
        }
        libc::S_IFLNK => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, tar_name, target.to_string_lossy().as_ref())?;
        }
        libc::S_IFCHR | libc::S_IFBLK => {
            h.set_entry_type(if kind == libc::S_IFCHR { tar::EntryType::Char } else { tar::EntryType::Block });
            h.set_device_major(rustix::fs::major(st.st_rdev))?;
            h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
            h.set_size(0);
            b.append_data(&mut h, tar_name, std::io::empty())?;
        }
        libc::S_IFIFO => {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            b.append_data(&mut h, tar_name, std::io::empty())?;
        }
        _ => {} // sockets are not archived
    }
    Ok(())
}

/// A `Write` that sends chunks into a channel (blocking; for a blocking thread).
struct ChanWriter(mpsc::Sender<Result<Bytes>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(Bytes::copy_from_slice(buf))).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) async fn get(inner: &Arc<Inner>, id: &str, path: &str) -> Result<(PathStat, mpsc::Receiver<Result<Bytes>>)> {
    let c = inner.lookup(id)?;
    let op = c.op.clone().lock_owned().await;
    let v = view(inner, &c)?;
    let (root, p) = v.locate(path);
    let fd = open_root(&root)?;
    let (st, name, link) = stat_of(&fd, &p).map_err(|_| not_found(&c, path))?;
    let stat = path_stat(&st, name.clone(), link);
    let (dir, last) = parent_and_name(&fd, &p).map_err(|_| not_found(&c, path))?;
    let (tx, rx) = mpsc::channel(16);
    let tar_name = if path.ends_with("/.") || name == "/" { ".".to_owned() } else { name };
    tokio::task::spawn_blocking(move || {
        let _keep = (v, op);
        let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(64 * 1024, ChanWriter(tx.clone())));
        b.follow_symlinks(false);
        let r = write_tree(&mut b, &dir, &last, &tar_name).and_then(|_| b.into_inner()).and_then(|mut w| w.flush());
        if let Err(e) = r {
            let _ = tx.blocking_send(Err(Error::Internal(format!("archiving: {e}"))));
        }
    });
    Ok((stat, rx))
}

pub(crate) async fn export(inner: &Arc<Inner>, id: &str) -> Result<mpsc::Receiver<Result<Bytes>>> {
    let c = inner.lookup(id)?;
    let op = c.op.clone().lock_owned().await;
    // the rootfs alone (no volumes), as docker export
    let rootfs = inner.container_dir(&c.id).join("rootfs");
    let mut unmount = None;
    if !crate::container::is_mounted(&rootfs) {
        std::fs::create_dir_all(&rootfs).map_err(Error::io(&rootfs))?;
        inner.images.snapshots().mount(&c.id, &rootfs).map_err(|e| Error::Snapshot { key: c.id.clone(), source: Box::new(e) })?;
        unmount = Some(rootfs.clone());
    }
    let v = View { root: rootfs.clone(), mounts: Vec::new(), unmount };
    let fd = open_root(&rootfs)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let _keep = (v, op);
        let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(64 * 1024, ChanWriter(tx.clone())));
        let r = write_tree(&mut b, &fd, ".", ".").and_then(|_| b.into_inner()).and_then(|mut w| w.flush());
        if let Err(e) = r {
            let _ = tx.blocking_send(Err(Error::Internal(format!("exporting: {e}"))));
        }
    });
    Ok(rx)
}

pub(crate) async fn changes(inner: &Arc<Inner>, id: &str) -> Result<Vec<berth_snapshots::Change>> {
    let c = inner.lookup(id)?;
    let id = c.id.clone();
    let init = c.rec().spec.init == Some(true);
    let inner2 = inner.clone();
    let all = tokio::task::spawn_blocking(move || inner2.images.snapshots().changes(&id).map_err(|e| Error::Snapshot { key: id.clone(), source: Box::new(e) }))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    Ok(without_runtime_files(all, init))
}

/// Mount points the runtime makes in the rootfs whatever the container
/// does (everything below them is a mount too).
const RUNTIME_MOUNT_TREES: &[&str] = &["/dev", "/proc", "/sys"];
/// Files berth bind-mounts into every container.
const RUNTIME_FILES: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];
/// The `--init` binary's mount point.
const INIT_PATH: &str = "/sbin/docker-init";

/// `docker diff` without what running the container put into its writable
/// layer: docker keeps those mount points and files in a separate init
/// layer, so they never show. A directory that is in the layer only
/// because such a mount point was made in it (`/etc` for `/etc/hostname`)
/// goes with it, unless something else changed below it.
fn without_runtime_files(changes: Vec<berth_snapshots::Change>, init: bool) -> Vec<berth_snapshots::Change> {
    let hidden = |p: &str| {
        RUNTIME_MOUNT_TREES.iter().any(|t| p == *t || p.strip_prefix(t).is_some_and(|rest| rest.starts_with('/')))
            || RUNTIME_FILES.contains(&p)
            || (init && p == INIT_PATH)
    };
    // children sort after their parents: walk backwards so that a
    // directory's children are settled before it is
    let mut dropped: Vec<String> = Vec::new();
    let mut kept: Vec<berth_snapshots::Change> = Vec::new();
    for c in changes.into_iter().rev() {
        if hidden(&c.path) {
            dropped.push(c.path);
            continue;
        }
        let below = format!("{}/", c.path);
        if c.kind != berth_snapshots::ChangeKind::Deleted
            && dropped.iter().any(|d| d.starts_with(&below))
            && !kept.iter().any(|k| k.path.starts_with(&below))
        {
            dropped.push(c.path);
            continue;
        }
        kept.push(c);
    }
    kept.reverse();
    kept
}

/// Extracts a tar into the directory `path` of the container.
pub(crate) async fn put(inner: &Arc<Inner>, id: &str, path: &str, input: Box<dyn Read + Send>, opts: ArchivePutOptions) -> Result<()> {
    let c = inner.lookup(id)?;
    let op = c.op.clone().lock_owned().await;
    if c.rec().spec.readonly_rootfs && c.rec().state.running {
        // docker refuses writes to a read-only rootfs (volumes excepted)
        let v = view(inner, &c)?;
        let (root, _) = v.locate(path);
        if root == v.root {
            return Err(Error::FailedPrecondition("container rootfs is marked read-only".into()));
        }
    }
    let v = view(inner, &c)?;
    let (root, p) = v.locate(path);
    let fd = open_root(&root)?;
    let st = {
        let (dir, name) = parent_and_name(&fd, &p).map_err(|_| not_found(&c, path))?;
        rustix::fs::statat(&dir, name.as_str(), AtFlags::empty()).map_err(|_| not_found(&c, path))?
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::invalid(format!("extraction point is not a directory: {path}")));
    }
    let name = c.rec().name.clone();
    let dest = p.clone();
    tokio::task::spawn_blocking(move || {
        let _keep = (v, op);
        extract(&fd, &dest, input, opts)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))??;
    let rec = c.snapshot();
    let _ = name;
    inner.container_event(&rec, "extract-to-dir", &[("path", path.to_owned())]);
    Ok(())
}

fn decompressed<'a>(r: Box<dyn Read + Send + 'a>) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let mut b = std::io::BufReader::with_capacity(64 * 1024, r);
    let head = std::io::BufRead::fill_buf(&mut b)?.to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(b))
    } else {
        Box::new(b)
    })
}

fn extract(root_fd: &OwnedFd, dest: &str, input: Box<dyn Read + Send>, opts: ArchivePutOptions) -> Result<()> {
    let bad = |what: &str, e: std::io::Error| Error::invalid(format!("extracting {what}: {e}"));
    let mut ar = tar::Archive::new(decompressed(input).map_err(|e| bad("the archive", e))?);
    for entry in ar.entries().map_err(|e| bad("the archive", e))? {
        let mut entry = entry.map_err(|e| bad("an entry", e))?;
        let raw = entry.path_bytes().into_owned();
        let rel = String::from_utf8_lossy(&raw).into_owned();
        // the entry path, cleaned; `..` that would climb above dest is refused
        let mut depth: i32 = 0;
        for comp in rel.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(Error::invalid(format!("invalid archive entry {rel:?}: it climbs out of the destination")));
                    }
                }
                _ => depth += 1,
            }
        }
        let target = clean(&format!("{dest}/{rel}"));
        if target == clean(dest) {
            continue;
        }
        let (dir, name) = parent_and_name(root_fd, &target).map_err(|e| bad(&rel, e))?;
        let h = entry.header().clone();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = if opts.copy_uid_gid { (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32) } else { (0, 0) };
        let existing = rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
        let is_dir_entry = h.entry_type().is_dir();
        if let Some(ex) = &existing {
            let ex_dir = ex.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if opts.no_overwrite_dir_non_dir && ex_dir != is_dir_entry {
                return Err(Error::invalid(format!(
                    "cannot overwrite {} {target:?} with {}",
                    if ex_dir { "directory" } else { "non-directory" },
                    if is_dir_entry { "directory" } else { "non-directory" }
                )));
            }
            if !(ex_dir && is_dir_entry) {
                let flag = if ex_dir { AtFlags::REMOVEDIR } else { AtFlags::empty() };
                if ex_dir {
                    remove_all_at(&dir, &name).map_err(|e| bad(&rel, e))?;
                } else {
                    rustix::fs::unlinkat(&dir, name.as_str(), flag).map_err(|e| bad(&rel, e.into()))?;
                }
            }
        }
        let et = h.entry_type();
        match et {
            tar::EntryType::Directory => {
                if existing.is_none() {
                    rustix::fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(mode)).map_err(|e| bad(&rel, e.into()))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let f = rustix::fs::openat(&dir, name.as_str(), OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::from_raw_mode(mode))
                    .map_err(|e| bad(&rel, e.into()))?;
                let mut f = std::fs::File::from(f);
                std::io::copy(&mut entry, &mut f).map_err(|e| bad(&rel, e))?;
            }
            tar::EntryType::Symlink => {
                let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                rustix::fs::symlinkat(link.as_slice(), &dir, name.as_str()).map_err(|e| bad(&rel, e.into()))?;
            }
            tar::EntryType::Link => {
                let link = entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                let src = clean(&format!("{dest}/{link}"));
                let (sdir, sname) = parent_and_name(root_fd, &src).map_err(|e| bad(&rel, e))?;
                rustix::fs::linkat(&sdir, sname.as_str(), &dir, name.as_str(), AtFlags::empty()).map_err(|e| bad(&rel, e.into()))?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let kind = match et {
                    tar::EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    tar::EntryType::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                let dev = rustix::fs::makedev(h.device_major().ok().flatten().unwrap_or(0), h.device_minor().ok().flatten().unwrap_or(0));
                rustix::fs::mknodat(&dir, name.as_str(), kind, Mode::from_raw_mode(mode), dev).map_err(|e| bad(&rel, e.into()))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => continue,
            other => return Err(Error::invalid(format!("invalid archive entry {rel:?}: unsupported type {other:?}"))),
        }
        let _ = rustix::fs::chownat(&dir, name.as_str(), Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)), AtFlags::SYMLINK_NOFOLLOW);
        if et != tar::EntryType::Symlink {
            // chown clears set-id bits: the mode goes last
            if let Ok(f) = rustix::fs::openat(&dir, name.as_str(), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
                let _ = rustix::fs::chmod(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f)), Mode::from_raw_mode(mode));
            }
            if let Ok(m) = h.mtime() {
                let ts = rustix::fs::Timestamps {
                    last_access: rustix::fs::Timespec { tv_sec: m as i64, tv_nsec: 0 },
                    last_modification: rustix::fs::Timespec { tv_sec: m as i64, tv_nsec: 0 },
                };
                let _ = rustix::fs::utimensat(&dir, name.as_str(), &ts, AtFlags::SYMLINK_NOFOLLOW);
            }
        }
    }
    Ok(())
}

fn remove_all_at(dir: &impl AsFd, name: &str) -> std::io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let sub = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        let mut names = Vec::new();
        for e in rustix::fs::Dir::read_from(&sub)? {
            let n = e?.file_name().to_string_lossy().into_owned();
            if n != "." && n != ".." {
                names.push(n);
            }
        }
        for n in names {
            remove_all_at(&sub, &n)?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_hides_mount_points_and_container_files() {
        use berth_snapshots::{Change, ChangeKind::*};
        let ch = |path: &str, kind| Change { path: path.into(), kind };
        let all = vec![
            ch("/dev", Modified),
            ch("/dev/pts", Added),
            ch("/dev/shm", Added),
            ch("/dev2", Added),
            ch("/etc", Modified),
            ch("/etc/hostname", Added),
            ch("/etc/hosts", Modified),
            ch("/proc", Added),
            ch("/sbin", Modified),
            ch("/sbin/docker-init", Added),
            ch("/sys", Added),
            ch("/tmp", Modified),
            ch("/tmp/x", Added),
        ];
        let paths = |v: Vec<Change>| v.into_iter().map(|c| c.path).collect::<Vec<_>>();
        assert_eq!(paths(without_runtime_files(all.clone(), true)), ["/dev2", "/tmp", "/tmp/x"]);
        // without --init, /sbin/docker-init is the container's own file
        assert_eq!(paths(without_runtime_files(all, false)), ["/dev2", "/sbin", "/sbin/docker-init", "/tmp", "/tmp/x"]);
        // a directory with other changes stays
        let edited = vec![ch("/etc", Modified), ch("/etc/hostname", Added), ch("/etc/passwd", Modified)];
        assert_eq!(paths(without_runtime_files(edited, false)), ["/etc", "/etc/passwd"]);
    }

    #[test]
    fn clean_never_climbs_above_root() {
        assert_eq!(clean("/a/../../etc/./passwd"), "/etc/passwd");
        assert_eq!(clean("../../"), "/");
        assert_eq!(clean("a//b/"), "/a/b");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside\n").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", root.join("up")).unwrap();
        assert_eq!(read_in_root(&root, "/link/passwd").as_deref(), Some("inside\n"));
        assert_eq!(resolve_in_root(&root, "/link").unwrap(), root.join("etc"));
        // the final component is not followed for reads
        assert_eq!(read_in_root(&root, "/up"), None);
        mkdir_all_in_root(&root, "/link/new/dir", 0, 0).unwrap();
        assert!(root.join("etc/new/dir").is_dir(), "made inside the root, through the symlink");
    }

    #[test]
    fn extract_refuses_escapes_and_writes_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("dst")).unwrap();
        std::os::unix::fs::symlink("/", root.join("dst/escape")).unwrap();
        let fd = open_root(&root).unwrap();
        // a file through a symlink pointing at "/" lands in the root, not the host
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "escape/berth-cp-test", &b"hi\n"[..]).unwrap();
        let data = b.into_inner().unwrap();
        extract(&fd, "/dst", Box::new(std::io::Cursor::new(data)), ArchivePutOptions::default()).unwrap();
        assert!(root.join("berth-cp-test").exists());
        assert!(!Path::new("/berth-cp-test").exists());
        // `..` above the destination is refused
        let mut raw = tar::Header::new_old();
        raw.as_old_mut().name[..9].copy_from_slice(b"../../x\0\0");
        raw.set_size(0);
        raw.set_entry_type(tar::EntryType::Regular);
        raw.set_cksum();
        let mut data = raw.as_bytes().to_vec();
        data.extend_from_slice(&[0u8; 1024]);
        let e = extract(&fd, "/dst", Box::new(std::io::Cursor::new(data)), ArchivePutOptions::default()).unwrap_err();
        assert!(e.to_string().contains("climbs out"), "{e}");
    }

    #[test]
    fn tree_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "data").unwrap();
        std::os::unix::fs::symlink("b/f", root.join("a/l")).unwrap();
        let fd = open_root(&root).unwrap();
        let (dir, name) = parent_and_name(&fd, "/a").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        write_tree(&mut b, &dir, &name, "a").unwrap();
        let data = b.into_inner().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let ofd = open_root(&out).unwrap();
        extract(&ofd, "/", Box::new(std::io::Cursor::new(data)), ArchivePutOptions { copy_uid_gid: true, ..Default::default() }).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a/b/f")).unwrap(), "data");
        assert_eq!(std::fs::read_link(out.join("a/l")).unwrap(), PathBuf::from("b/f"));
    }
}
