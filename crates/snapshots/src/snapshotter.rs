//! The snapshot store: naming, atomic publication, mounts, removal and
//! crash recovery.
//!
//! Publication is two renames' worth of work under `<root>/lock`: the
//! finished directory (metadata inside, data synced) is renamed from
//! `ingest/` to `snapshots/<id>`, then `names/<name>` is created as a
//! symlink to the id. The name link is the commit point: a snapshot
//! directory no name points to is an orphan of an interrupted commit or
//! remove, and [`Snapshotter::cleanup`] deletes it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::layer::{Ids, LayerWriter};
use crate::lower::Layers;
use crate::meta::{self, Meta};
use crate::mount::{self, Mount};
use crate::tarwrite::TarStream;
use crate::{ApplyStats, Change, Error, Info, Kind, Usage, apply, diff, export, sys};

/// Overlay snapshots under one root directory. Cheap to share between
/// threads (`&Snapshotter` is all any method needs); several processes may
/// use the same root, metadata changes are serialised with a file lock.
#[derive(Debug)]
pub struct Snapshotter {
    root: PathBuf,
    root_fd: OwnedFd,
    snapshots_fd: OwnedFd,
    names_fd: OwnedFd,
    ingest_fd: OwnedFd,
    next_id: AtomicU64,
    tmp_seq: AtomicU64,
    ids: Ids,
}

/// A resolved parent: its name and directory id, and the directory ids of
/// the whole chain, nearest first.
type ParentChain = (Option<(String, u64)>, Vec<u64>);

/// Held while metadata changes; released on drop.
struct Locked(#[allow(dead_code)] OwnedFd);

fn open_dir(p: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        p,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening", p, e))
}

fn mkdir_p(p: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(p).map_err(|e| Error::io("creating", p, e))
}

impl Snapshotter {
    /// Opens (creating if needed) the store at `root`, an absolute path
    /// without `:` or `,` (they separate overlay options).
    pub fn open(root: &Path) -> Result<Self, Error> {
        let s = root.to_string_lossy();
        if !root.is_absolute() || s.contains(':') || s.contains(',') {
            return Err(Error::io(
                "using as snapshot root",
                root,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not an absolute path free of ':' and ','",
                ),
            ));
        }
        mkdir_p(root)?;
        for sub in ["snapshots", "names", "ingest"] {
            let p = root.join(sub);
            mkdir_p(&p)?;
            // image content (setuid binaries, secrets) is for root only;
            // containers see it through their mount, not these paths
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(|e| Error::io("setting the mode of", &p, e))?;
        }
        let root_fd = open_dir(root)?;
        let snapshots_fd = open_dir(&root.join("snapshots"))?;
        let names_fd = open_dir(&root.join("names"))?;
        let ingest_fd = open_dir(&root.join("ingest"))?;
        let mut max = 0;
        for n in sys::list_dir(snapshots_fd.as_fd())
            .map_err(|e| Error::io("listing", root.join("snapshots"), e))?
        {
            if let Some(id) = std::str::from_utf8(&n)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                max = max.max(id);
            }
        }
        Ok(Snapshotter {
            root: root.to_path_buf(),
            root_fd,
            snapshots_fd,
            names_fd,
            ingest_fd,
            next_id: AtomicU64::new(max + 1),
            tmp_seq: AtomicU64::new(0),
            ids: Ids::current(),
        })
    }

    /// The root directory of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> Result<Locked, Error> {
        // a new open file description per call, so threads exclude each other too
        let fd = rustix::fs::openat(
            &self.root_fd,
            "lock",
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::io("opening", self.root.join("lock"), e))?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)
            .map_err(|e| Error::io("locking", self.root.join("lock"), e))?;
        Ok(Locked(fd))
    }

    fn snapshot_dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn fs_dir(&self, id: u64) -> PathBuf {
        self.snapshot_dir(id).join("fs")
    }

    fn read_meta(&self, id: u64) -> Result<Meta, Error> {
        let p = self.snapshot_dir(id).join("meta.json");
        let data = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        serde_json::from_slice(&data).map_err(|source| Error::Metadata { path: p, source })
    }

    /// The id a name links to, if any.
    fn name_id(&self, enc: &str) -> Result<Option<u64>, Error> {
        match rustix::fs::readlinkat(&self.names_fd, enc, Vec::new()) {
            Ok(t) => Ok(t.to_str().ok().and_then(|s| s.parse().ok())),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("reading", self.root.join("names").join(enc), e)),
        }
    }

    fn lookup(&self, name: &str) -> Result<Option<(u64, Meta)>, Error> {
        let enc = meta::encode_name(name)?;
        let Some(id) = self.name_id(&enc)? else {
            return Ok(None);
        };
        let m = self.read_meta(id)?;
        if m.name != name {
            return Err(Error::io(
                "checking",
                self.snapshot_dir(id).join("meta.json"),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("names {:?}, expected {name:?}", m.name),
                ),
            ));
        }
        Ok(Some((id, m)))
    }

    fn need(&self, name: &str) -> Result<(u64, Meta), Error> {
        self.lookup(name)?.ok_or_else(|| Error::NotFound {
            name: name.to_owned(),
        })
    }

    fn info(&self, id: u64, m: Meta) -> Info {
        Info {
            created: m.created_time(),
            path: self.fs_dir(id),
            depth: m.lowers.len(),
            name: m.name,
            parent: m.parent,
            kind: m.kind,
        }
    }

    /// What is known of snapshot `name` (chain id or key), `None` if absent.
    pub fn stat(&self, name: &str) -> Result<Option<Info>, Error> {
        Ok(self.lookup(name)?.map(|(id, m)| self.info(id, m)))
    }

    /// Makes a private directory under `ingest/`, flocked so that cleanup
    /// leaves it alone while its owner lives. Call with the lock held.
    fn make_ingest(&self, _l: &Locked) -> Result<(String, OwnedFd), Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{}-{}-{}",
            std::process::id(),
            nanos,
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.root.join("ingest").join(&name);
        rustix::fs::mkdirat(&self.ingest_fd, name.as_str(), Mode::from_raw_mode(0o700))
            .map_err(|e| Error::io("creating", &path, e))?;
        let fd = sys::open_subdir(self.ingest_fd.as_fd(), name.as_bytes())
            .map_err(|e| Error::io("opening", &path, e))?;
        rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| Error::io("locking", &path, e))?;
        Ok((name, fd))
    }

    fn parent_chain(&self, parent: Option<&str>) -> Result<ParentChain, Error> {
        let Some(p) = parent else {
            return Ok((None, Vec::new()));
        };
        let (pid, pm) = self.need(p)?;
        if pm.kind != Kind::Committed {
            return Err(Error::WrongKind {
                name: p.to_owned(),
                actual: pm.kind,
                expected: "a committed layer",
            });
        }
        let mut chain = vec![pid];
        chain.extend(pm.lowers);
        Ok((Some((p.to_owned(), pid)), chain))
    }

    /// A fresh private directory to unpack one layer into, on top of the
    /// chain `parent`. The parent need not be committed yet (layers of one
    /// image can be unpacked concurrently); it must be by [`Self::commit`].
    pub fn prepare_layer(&self, parent: Option<&str>) -> Result<LayerWriter, Error> {
        if let Some(p) = parent {
            meta::encode_name(p)?;
            if let Some((_, pm)) = self.lookup(p)?
                && pm.kind != Kind::Committed
            {
                return Err(Error::WrongKind {
                    name: p.to_owned(),
                    actual: pm.kind,
                    expected: "a committed layer",
                });
            }
        }
        let l = self.lock()?;
        let (tmp_name, lock_fd) = self.make_ingest(&l)?;
        drop(l);
        let dir = self.root.join("ingest").join(&tmp_name);
        let fs_path = dir.join("fs");
        // build the writer first so that an error below removes the directory
        let mut w = LayerWriter {
            tmp_name,
            dir,
            fs_path: fs_path.clone(),
            fs_fd: lock_fd
                .try_clone()
                .map_err(|e| Error::io("duplicating", &fs_path, e))?,
            _lock: lock_fd,
            parent: parent.map(str::to_owned),
            implicit: Default::default(),
            ids: self.ids,
            committed: false,
        };
        rustix::fs::mkdirat(&w._lock, "fs", Mode::from_raw_mode(0o755))
            .map_err(|e| Error::io("creating", &fs_path, e))?;
        let fs_fd = sys::open_subdir(w._lock.as_fd(), b"fs")
            .map_err(|e| Error::io("opening", &fs_path, e))?;
        // mkdir applied the umask; a layer root is 0755 unless the tar says otherwise
        rustix::fs::fchmod(&fs_fd, Mode::from_raw_mode(0o755))
            .map_err(|e| Error::io("setting the mode of", &fs_path, e))?;
        w.fs_fd = fs_fd;
        Ok(w)
    }

    /// Unpacks one (decompressed) layer tar into `w`. See the crate docs for
    /// what is accepted and what is refused.
    pub fn apply_tar<R: Read>(w: &LayerWriter, tar: R) -> Result<ApplyStats, Error> {
        apply::apply(w, tar)
    }

    /// Writes `meta.json` into an ingest directory, durably.
    fn write_meta(&self, dir_fd: &OwnedFd, dir: &Path, m: &Meta) -> Result<(), Error> {
        let p = dir.join("meta.json");
        let data = serde_json::to_vec_pretty(m).map_err(|source| Error::Metadata {
            path: p.clone(),
            source,
        })?;
        let fd = rustix::fs::openat(
            dir_fd,
            "meta.json",
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::io("creating", &p, e))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(&data)
            .map_err(|e| Error::io("writing", &p, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &p, e))
    }

    /// Moves a finished ingest directory to `snapshots/<id>` and names it.
    /// Call with the lock held, after checking the name is free.
    fn publish(&self, _l: &Locked, tmp_name: &str, enc: &str) -> Result<u64, Error> {
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let ids = id.to_string();
            match rustix::fs::renameat_with(
                &self.ingest_fd,
                tmp_name,
                &self.snapshots_fd,
                ids.as_str(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => break id,
                // another process took that id
                Err(Errno::EXIST) => continue,
                Err(e) => {
                    return Err(Error::io(
                        "publishing",
                        self.root.join("ingest").join(tmp_name),
                        e,
                    ));
                }
            }
        };
        rustix::fs::fsync(&self.snapshots_fd)
            .map_err(|e| Error::io("syncing", self.root.join("snapshots"), e))?;
        if let Err(e) = rustix::fs::symlinkat(id.to_string().as_str(), &self.names_fd, enc) {
            // leave no orphan behind
            let _ = sys::remove_path(&self.snapshot_dir(id));
            return Err(Error::io("naming", self.root.join("names").join(enc), e));
        }
        rustix::fs::fsync(&self.names_fd)
            .map_err(|e| Error::io("syncing", self.root.join("names"), e))?;
        Ok(id)
    }

    /// Publishes the unpacked layer `w` as `chain_id`, atomically: the data
    /// is synced (one `syncfs`) before the snapshot becomes visible, and a
    /// crash at any point leaves either nothing or the complete snapshot.
    /// Returns [`Error::AlreadyExists`] if that chain id is there already.
    pub fn commit(&self, mut w: LayerWriter, chain_id: &str) -> Result<(), Error> {
        let enc = meta::encode_name(chain_id)?;
        if self.name_id(&enc)?.is_some() {
            return Err(Error::AlreadyExists {
                name: chain_id.to_owned(),
            });
        }
        let (parent, lower_ids) = self.parent_chain(w.parent.as_deref())?;
        let implicit = std::mem::take(&mut *w.implicit_dirs());
        if !implicit.is_empty() && !lower_ids.is_empty() {
            let paths: Vec<PathBuf> = lower_ids.iter().map(|&i| self.fs_dir(i)).collect();
            let layers = Layers::open(&paths)
                .map_err(|e| Error::io("opening the parent layers of", &w.fs_path, e))?;
            apply::fix_implicit_dirs(w.fs_fd.as_fd(), &implicit, &layers)?;
        }
        // sync before taking the lock: it is the slow part
        rustix::fs::syncfs(&w.fs_fd).map_err(|e| Error::io("syncing", &w.fs_path, e))?;
        let l = self.lock()?;
        if self.name_id(&enc)?.is_some() {
            return Err(Error::AlreadyExists {
                name: chain_id.to_owned(),
            });
        }
        if let Some((pname, pid)) = &parent {
            match self.lookup(pname)? {
                Some((id, _)) if id == *pid => {}
                _ => {
                    return Err(Error::NotFound {
                        name: pname.clone(),
                    });
                }
            }
        }
        let m = Meta {
            name: chain_id.to_owned(),
            parent: parent.map(|(n, _)| n),
            kind: Kind::Committed,
            created: meta::now_secs(),
            lowers: lower_ids,
        };
        self.write_meta(&w._lock, &w.dir, &m)?;
        self.publish(&l, &w.tmp_name, &enc)?;
        w.committed = true;
        Ok(())
    }

    /// Creates the active snapshot `key` on top of the committed chain
    /// `parent` (or empty) and returns how to mount it. `readonly` makes a
    /// view: no upper directory, nothing can be written.
    ///
    /// The mounts are: no parent → a bind mount of the (empty) snapshot
    /// directory; a view of one layer → a read-only bind mount of it;
    /// otherwise one overlay (`lowerdir=` nearest parent first, plus
    /// `upperdir=`/`workdir=` unless read-only).
    pub fn prepare_active(
        &self,
        key: &str,
        parent: Option<&str>,
        readonly: bool,
    ) -> Result<Vec<Mount>, Error> {
        let enc = meta::encode_name(key)?;
        let (parent, lower_ids) = self.parent_chain(parent)?;
        let l = self.lock()?;
        if self.name_id(&enc)?.is_some() {
            return Err(Error::AlreadyExists {
                name: key.to_owned(),
            });
        }
        if let Some((pname, pid)) = &parent {
            match self.lookup(pname)? {
                Some((id, _)) if id == *pid => {}
                _ => {
                    return Err(Error::NotFound {
                        name: pname.clone(),
                    });
                }
            }
        }
        let (tmp, fd) = self.make_ingest(&l)?;
        let dir = self.root.join("ingest").join(&tmp);
        let made = (|| {
            rustix::fs::mkdirat(&fd, "fs", Mode::from_raw_mode(0o755))
                .map_err(|e| Error::io("creating", dir.join("fs"), e))?;
            let fs_fd = sys::open_subdir(fd.as_fd(), b"fs")
                .map_err(|e| Error::io("opening", dir.join("fs"), e))?;
            rustix::fs::fchmod(&fs_fd, Mode::from_raw_mode(0o755))
                .map_err(|e| Error::io("setting the mode of", dir.join("fs"), e))?;
            if !readonly {
                rustix::fs::mkdirat(&fd, "work", Mode::from_raw_mode(0o700))
                    .map_err(|e| Error::io("creating", dir.join("work"), e))?;
            }
            let m = Meta {
                name: key.to_owned(),
                parent: parent.as_ref().map(|(n, _)| n.clone()),
                kind: if readonly { Kind::View } else { Kind::Active },
                created: meta::now_secs(),
                lowers: lower_ids.clone(),
            };
            self.write_meta(&fd, &dir, &m)?;
            rustix::fs::fsync(&fd).map_err(|e| Error::io("syncing", &dir, e))?;
            let id = self.publish(&l, &tmp, &enc)?;
            Ok((id, m))
        })();
        match made {
            Ok((id, m)) => Ok(self.build_mounts(id, &m)),
            Err(e) => {
                let _ = sys::remove_path(&dir);
                Err(e)
            }
        }
    }

    fn build_mounts(&self, id: u64, m: &Meta) -> Vec<Mount> {
        let lowers: Vec<String> = m
            .lowers
            .iter()
            .map(|&i| self.fs_dir(i).to_string_lossy().into_owned())
            .collect();
        let own = self.fs_dir(id).to_string_lossy().into_owned();
        let bind = |source: String, ro: bool| Mount {
            typ: "bind".into(),
            source,
            options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
        };
        match (m.kind, lowers.len()) {
            (Kind::View, 0) | (Kind::Committed, 0) => vec![bind(own, true)],
            (Kind::Active, 0) => vec![bind(own, false)],
            (Kind::View, 1) => vec![bind(lowers[0].clone(), true)],
            (Kind::View, _) => vec![Mount {
                typ: "overlay".into(),
                source: "overlay".into(),
                options: vec![format!("lowerdir={}", lowers.join(":"))],
            }],
            (Kind::Committed, _) => {
                // a committed layer seen read-only: itself over its parents
                let mut all = vec![own];
                all.extend(lowers);
                vec![Mount {
                    typ: "overlay".into(),
                    source: "overlay".into(),
                    options: vec![format!("lowerdir={}", all.join(":"))],
                }]
            }
            (Kind::Active, _) => vec![Mount {
                typ: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    format!(
                        "workdir={}",
                        self.snapshot_dir(id).join("work").to_string_lossy()
                    ),
                    format!("upperdir={own}"),
                    format!("lowerdir={}", lowers.join(":")),
                ],
            }],
        }
    }

    /// How to mount snapshot `key` (as [`Snapshotter::prepare_active`]
    /// returned). For a committed layer: a read-only view of its chain.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>, Error> {
        let (id, m) = self.need(key)?;
        Ok(self.build_mounts(id, &m))
    }

    /// Mounts snapshot `key` on `target` (an existing directory).
    pub fn mount(&self, key: &str, target: &Path) -> Result<(), Error> {
        mount::mount_all(&self.mounts(key)?, target)
    }

    /// Unmounts what [`Snapshotter::mount`] mounted on `target`.
    pub fn unmount(&self, target: &Path) -> Result<(), Error> {
        mount::unmount(target)
    }

    fn all(&self) -> Result<Vec<(u64, Meta)>, Error> {
        let names_path = self.root.join("names");
        let mut out = Vec::new();
        for n in sys::list_dir(self.names_fd.as_fd())
            .map_err(|e| Error::io("listing", &names_path, e))?
        {
            let Ok(enc) = String::from_utf8(n) else {
                continue;
            };
            let Some(id) = self.name_id(&enc)? else {
                continue;
            };
            match self.read_meta(id) {
                Ok(m) => out.push((id, m)),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Every snapshot, sorted by name.
    pub fn list(&self) -> Result<Vec<Info>, Error> {
        let mut v: Vec<Info> = self
            .all()?
            .into_iter()
            .map(|(id, m)| self.info(id, m))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Removes snapshot `name`. Refuses while another snapshot is built on
    /// it or, for an active snapshot, while its overlay is mounted.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let enc = meta::encode_name(name)?;
        let _l = self.lock()?;
        let (id, m) = self.need(name)?;
        if let Some((_, child)) = self
            .all()?
            .into_iter()
            .find(|(_, c)| c.parent.as_deref() == Some(name))
        {
            return Err(Error::InUse {
                name: name.to_owned(),
                reason: format!("parent of {:?}", child.name),
            });
        }
        let own = self.fs_dir(id);
        if m.kind == Kind::Active && is_mounted_upper(&own)? {
            return Err(Error::InUse {
                name: name.to_owned(),
                reason: "its overlay is mounted".into(),
            });
        }
        // the name goes first: from then on the directory is an orphan
        rustix::fs::unlinkat(&self.names_fd, enc.as_str(), AtFlags::empty())
            .map_err(|e| Error::io("removing", self.root.join("names").join(&enc), e))?;
        rustix::fs::fsync(&self.names_fd)
            .map_err(|e| Error::io("syncing", self.root.join("names"), e))?;
        let dir = self.snapshot_dir(id);
        sys::remove_path(&dir).map_err(|e| Error::io("removing", &dir, e))
    }

    /// Disk use of snapshot `name`'s own files.
    pub fn usage(&self, name: &str) -> Result<Usage, Error> {
        let (id, _) = self.need(name)?;
        let p = self.fs_dir(id);
        let fd = open_dir(&p)?;
        let mut u = Usage::default();
        let mut seen = HashSet::new();
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("inspecting", &p, e))?;
        u.inodes += 1;
        u.size += st.st_blocks as u64 * 512;
        usage_dir(fd.as_fd(), &p, &mut u, &mut seen, 0)?;
        Ok(u)
    }

    fn upper_and_lowers(&self, key: &str) -> Result<(OwnedFd, Vec<PathBuf>), Error> {
        let (id, m) = self.need(key)?;
        if m.kind != Kind::Active {
            return Err(Error::WrongKind {
                name: key.to_owned(),
                actual: m.kind,
                expected: "an active snapshot",
            });
        }
        let upper = open_dir(&self.fs_dir(id))?;
        Ok((upper, m.lowers.iter().map(|&i| self.fs_dir(i)).collect()))
    }

    /// The changes of active snapshot `key` against its parent as a layer
    /// tar (OCI whiteouts: `.wh.<name>` files, `.wh..wh..opq` markers),
    /// for `docker commit`. The stream fails at its end if anything went
    /// wrong, so a short tar is never silently taken as complete.
    pub fn diff(&self, key: &str) -> Result<TarStream, Error> {
        let (upper, _) = self.upper_and_lowers(key)?;
        TarStream::spawn("diff", move |w| diff::write_diff(upper, w))
    }

    /// `docker diff` of active snapshot `key`: added, changed and deleted
    /// paths, sorted.
    pub fn changes(&self, key: &str) -> Result<Vec<Change>, Error> {
        let (upper, lowers) = self.upper_and_lowers(key)?;
        let layers =
            Layers::open(&lowers).map_err(|e| Error::io("opening the parent layers of", key, e))?;
        diff::changes(upper, &layers)
    }

    /// A flattened tar of the whole file system of snapshot `name` (its own
    /// files over its parents'), as `docker export` gives it.
    pub fn export(&self, name: &str) -> Result<TarStream, Error> {
        let (id, m) = self.need(name)?;
        let mut dirs = Vec::new();
        if m.kind != Kind::View {
            dirs.push(open_dir(&self.fs_dir(id))?);
        }
        for &l in &m.lowers {
            dirs.push(open_dir(&self.fs_dir(l))?);
        }
        TarStream::spawn("export", move |w| export::write_export(dirs, w))
    }

    /// Removes what interrupted operations left behind: unpack directories
    /// nobody holds any more, snapshot directories no name points to
    /// (interrupted commit or remove), names pointing nowhere. Safe to run
    /// while other threads or processes use the store.
    pub fn cleanup(&self) -> Result<(), Error> {
        let _l = self.lock()?;
        let ingest = self.root.join("ingest");
        for n in
            sys::list_dir(self.ingest_fd.as_fd()).map_err(|e| Error::io("listing", &ingest, e))?
        {
            let p = ingest.join(OsStr::from_bytes(&n));
            let fd = match sys::open_subdir(self.ingest_fd.as_fd(), &n) {
                Ok(fd) => fd,
                Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
                    rustix::fs::unlinkat(&self.ingest_fd, n.as_slice(), AtFlags::empty())
                        .map_err(|e| Error::io("removing", &p, e))?;
                    continue;
                }
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(Error::io("opening", &p, e)),
            };
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    tracing::info!(dir = %p.display(), "removing an interrupted unpack");
                    sys::remove_path(&p).map_err(|e| Error::io("removing", &p, e))?;
                }
                Err(Errno::WOULDBLOCK) => {}
                Err(e) => return Err(Error::io("locking", &p, e)),
            }
        }
        let snaps = self.root.join("snapshots");
        let mut live = HashSet::new();
        let names = self.root.join("names");
        for n in
            sys::list_dir(self.names_fd.as_fd()).map_err(|e| Error::io("listing", &names, e))?
        {
            let enc = String::from_utf8_lossy(&n).into_owned();
            let target_ok = match self.name_id(&enc)? {
                Some(id) => match self.read_meta(id) {
                    Ok(m) if meta::encode_name(&m.name).ok().as_deref() == Some(enc.as_str()) => {
                        live.insert(id);
                        true
                    }
                    _ => false,
                },
                None => false,
            };
            if !target_ok {
                tracing::warn!(name = %enc, "removing a snapshot name that points nowhere");
                rustix::fs::unlinkat(&self.names_fd, n.as_slice(), AtFlags::empty())
                    .map_err(|e| Error::io("removing", names.join(&enc), e))?;
            }
        }
        for n in
            sys::list_dir(self.snapshots_fd.as_fd()).map_err(|e| Error::io("listing", &snaps, e))?
        {
            let id = std::str::from_utf8(&n)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            if id.is_some_and(|id| live.contains(&id)) {
                continue;
            }
            let p = snaps.join(OsStr::from_bytes(&n));
            tracing::info!(dir = %p.display(), "removing an orphaned snapshot directory");
            match sys::lstat_at(self.snapshots_fd.as_fd(), &n) {
                Ok(st) if sys::is_dir(&st) => {
                    sys::remove_path(&p).map_err(|e| Error::io("removing", &p, e))?
                }
                Ok(_) => rustix::fs::unlinkat(&self.snapshots_fd, n.as_slice(), AtFlags::empty())
                    .map_err(|e| Error::io("removing", &p, e))?,
                Err(Errno::NOENT) => {}
                Err(e) => return Err(Error::io("inspecting", &p, e)),
            }
        }
        Ok(())
    }
}

fn usage_dir(
    dir: std::os::fd::BorrowedFd<'_>,
    at: &Path,
    u: &mut Usage,
    seen: &mut HashSet<(u64, u64)>,
    depth: usize,
) -> Result<(), Error> {
    if depth > sys::MAX_DEPTH {
        return Err(sys::too_deep(at.as_os_str().as_bytes()));
    }
    for name in sys::list_dir(dir).map_err(|e| Error::io("listing", at, e))? {
        let p = at.join(OsStr::from_bytes(&name));
        let st = match sys::lstat_at(dir, &name) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(Error::io("inspecting", &p, e)),
        };
        if st.st_nlink > 1 && !sys::is_dir(&st) && !seen.insert((st.st_dev, st.st_ino)) {
            continue;
        }
        u.inodes += 1;
        u.size += st.st_blocks as u64 * 512;
        if sys::is_dir(&st) {
            let sub = sys::open_subdir(dir, &name).map_err(|e| Error::io("opening", &p, e))?;
            usage_dir(sub.as_fd(), &p, u, seen, depth + 1)?;
        }
    }
    Ok(())
}

/// Whether an overlay mounted in this mount namespace uses `upper` as its
/// upper directory.
fn is_mounted_upper(upper: &Path) -> Result<bool, Error> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    // mountinfo escapes these in paths as octal
    let escaped = upper
        .to_string_lossy()
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012");
    let needle = format!("upperdir={escaped}");
    Ok(info.lines().any(|l| {
        l.split(',')
            .any(|opt| opt.split_whitespace().next() == Some(needle.as_str()) || opt == needle)
    }))
}
