//! Helpers for the snapshot integration tests: a tmpfs per test, mount
//! guards, and tar builders that can also write hostile entries.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::mount::{MountFlags, UnmountFlags};
use tar::{EntryType, Header};

/// A fresh tmpfs, unmounted and removed on drop (even when the test fails).
pub struct Tmpfs {
    pub path: PathBuf,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Tmpfs {
    pub fn new(tag: &str) -> Self {
        Self::with_size(tag, "2g")
    }

    pub fn with_size(tag: &str, size: &str) -> Self {
        let path = PathBuf::from(format!(
            "/tmp/berth-snapshots-test-{}-{}-{}",
            tag,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating the tmpfs mount point");
        let opts = std::ffi::CString::new(format!("size={size},mode=755")).unwrap();
        rustix::mount::mount(
            "tmpfs",
            &path,
            "tmpfs",
            MountFlags::empty(),
            Some(opts.as_c_str()),
        )
        .expect("mounting a tmpfs (tests need root)");
        Tmpfs { path }
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // anything still mounted below (a failed test's overlay) goes first
        let _ = rustix::mount::unmount(&self.path, UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Unmounts on drop.
pub struct Mounted(pub PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, UnmountFlags::DETACH);
    }
}

/// Builds tar streams entry by entry; names are written raw so hostile
/// names (`..`, absolute) can be produced.
pub struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

pub struct E<'a> {
    pub name: &'a [u8],
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: &'a [u8],
    pub data: &'a [u8],
    pub dev: (u32, u32),
    pub xattrs: Vec<(&'a str, &'a [u8])>,
}

impl<'a> E<'a> {
    pub fn new(name: &'a str, kind: EntryType) -> Self {
        E {
            name: name.as_bytes(),
            kind,
            mode: if kind == EntryType::Directory {
                0o755
            } else {
                0o644
            },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: b"",
            data: b"",
            dev: (0, 0),
            xattrs: Vec::new(),
        }
    }
    pub fn file(name: &'a str, data: &'a [u8]) -> Self {
        let mut e = E::new(name, EntryType::Regular);
        e.data = data;
        e
    }
    pub fn dir(name: &'a str) -> Self {
        E::new(name, EntryType::Directory)
    }
    pub fn symlink(name: &'a str, target: &'a str) -> Self {
        let mut e = E::new(name, EntryType::Symlink);
        e.link = target.as_bytes();
        e.mode = 0o777;
        e
    }
    pub fn hardlink(name: &'a str, target: &'a str) -> Self {
        let mut e = E::new(name, EntryType::Link);
        e.link = target.as_bytes();
        e
    }
    pub fn mode(mut self, m: u32) -> Self {
        self.mode = m;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, t: u64) -> Self {
        self.mtime = t;
        self
    }
    pub fn xattr(mut self, k: &'a str, v: &'a [u8]) -> Self {
        self.xattrs.push((k, v));
        self
    }
}

fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let mut rec = format!(" {k}=").into_bytes();
    rec.extend_from_slice(v);
    rec.push(b'\n');
    let mut len = rec.len() + 1;
    while len.to_string().len() + rec.len() != len {
        len = len.to_string().len() + rec.len();
    }
    let mut out = len.to_string().into_bytes();
    out.extend_from_slice(&rec);
    out
}

impl TarBuilder {
    pub fn new() -> Self {
        TarBuilder {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn add(&mut self, e: E<'_>) -> &mut Self {
        if !e.xattrs.is_empty() {
            let mut data = Vec::new();
            for (k, v) in &e.xattrs {
                data.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
            }
            let mut h = Header::new_ustar();
            h.set_entry_type(EntryType::XHeader);
            h.set_path("PaxHeader").unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.b.append(&h, &data[..]).unwrap();
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        let long = e.name.len() >= 100 || e.link.len() >= 100;
        if long {
            // long names through the GNU extensions, written by the tar crate
            let name = Path::new(std::ffi::OsStr::from_bytes(e.name));
            if e.link.is_empty() {
                self.b.append_data(&mut h, name, e.data).unwrap();
            } else {
                let link = Path::new(std::ffi::OsStr::from_bytes(e.link));
                self.b.append_link(&mut h, name, link).unwrap();
            }
            return self;
        }
        // raw names: no checks, so hostile ones get through
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..e.name.len()].copy_from_slice(e.name);
        old.linkname = [0; 100];
        old.linkname[..e.link.len()].copy_from_slice(e.link);
        h.set_cksum();
        self.b.append(&h, e.data).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A tar of the given entries.
pub fn tar_of(entries: Vec<E<'_>>) -> Vec<u8> {
    let mut b = TarBuilder::new();
    for e in entries {
        b.add(e);
    }
    b.finish()
}

/// Opens (creating) a snapshotter under `root`.
pub fn store(root: &Path) -> berth_snapshots::Snapshotter {
    berth_snapshots::Snapshotter::open(root).expect("opening the snapshotter")
}

/// Applies `tar` as a new layer on `parent` and commits it as `name`.
pub fn layer(s: &berth_snapshots::Snapshotter, name: &str, parent: Option<&str>, tar: &[u8]) {
    let w = s.prepare_layer(parent).expect("prepare_layer");
    berth_snapshots::Snapshotter::apply_tar(&w, tar).expect("apply_tar");
    s.commit(w, name).expect("commit");
}

/// Reads all entries of a tar into (path, type, link/content) for checks.
pub fn tar_entries(data: &[u8]) -> Vec<(String, EntryType, Vec<u8>)> {
    let mut a = tar::Archive::new(data);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let t = e.header().entry_type();
        let body = match e.link_name_bytes() {
            Some(l) => l.into_owned(),
            None => {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut v).unwrap();
                v
            }
        };
        out.push((p, t, body));
    }
    out
}

pub fn write_file(p: &Path, data: &[u8]) {
    let mut f = std::fs::File::create(p).unwrap();
    f.write_all(data).unwrap();
}

pub fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode()
}
