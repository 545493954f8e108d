//! Writing tar streams of snapshot content (diff, export) on a worker
//! thread, read by the caller through a pipe.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread::JoinHandle;

use rustix::fs::{Mode, OFlags, Stat};
use tar::{EntryType, Header};

use crate::Error;
use crate::sys::{self, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG};

/// A tar stream produced on a worker thread. Reading to the end reports
/// the worker's error, if any, as the last read's error, so a truncated
/// stream is never mistaken for a complete one.
#[derive(Debug)]
pub struct TarStream {
    pipe: Option<io::PipeReader>,
    worker: Option<JoinHandle<Result<(), Error>>>,
}

impl TarStream {
    pub(crate) fn spawn<F>(what: &'static str, f: F) -> Result<Self, Error>
    where
        F: FnOnce(&mut io::PipeWriter) -> Result<(), Error> + Send + 'static,
    {
        let (r, mut w) = io::pipe().map_err(|e| Error::io("creating a pipe for", what, e))?;
        let worker = std::thread::Builder::new()
            .name(format!("berth-{what}"))
            .spawn(move || f(&mut w))
            .map_err(|e| Error::io("starting the writer thread of", what, e))?;
        Ok(TarStream {
            pipe: Some(r),
            worker: Some(worker),
        })
    }
}

impl Read for TarStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(0);
        };
        let n = pipe.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(h) = self.worker.take()
        {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(io::Error::other(e)),
                Err(_) => return Err(io::Error::other("tar writer thread panicked")),
            }
        }
        Ok(n)
    }
}

impl Drop for TarStream {
    fn drop(&mut self) {
        // closing the read end makes a still-running writer fail with EPIPE
        self.pipe.take();
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
    }
}

/// (name, value) pairs.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes entries from open directories into a tar, with hardlinks kept.
pub(crate) struct EntryWriter<W: Write> {
    pub b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
}

fn as_path(p: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(p))
}

impl<W: Write> EntryWriter<W> {
    pub fn new(w: W) -> Self {
        let mut b = tar::Builder::new(w);
        b.mode(tar::HeaderMode::Complete);
        EntryWriter {
            b,
            links: HashMap::new(),
        }
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.b.finish()
    }

    fn header(st: &Stat, et: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(et);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    /// Writes a PAX header carrying xattrs for the next entry.
    fn pax(&mut self, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (k, v) in xattrs {
            let mut rec = b" SCHILY.xattr.".to_vec();
            rec.extend_from_slice(k);
            rec.push(b'=');
            rec.extend_from_slice(v);
            rec.push(b'\n');
            // the length prefix counts itself
            let mut len = rec.len() + 1;
            while len.to_string().len() + rec.len() != len {
                len = len.to_string().len() + rec.len();
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.extend_from_slice(&rec);
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_path("PaxHeader")?;
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, &data[..])
    }

    /// Writes `name` of `dir` (already lstat'ed as `st`) under `tar_path`.
    /// Overlay-private xattrs are left out. Sockets are skipped, as tar does.
    pub fn write(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        st: &Stat,
        tar_path: &[u8],
    ) -> Result<(), Error> {
        let shown_s = crate::path::display(tar_path);
        let shown: &str = &shown_s;
        let err = move |op: &'static str| move |e: io::Error| Error::entry(op, shown, e);
        let fmt = st.st_mode & S_IFMT;
        let keep = |x: &Xattrs| -> Result<Xattrs, Error> {
            let mut out = Vec::new();
            for (k, v) in x {
                if k == b"trusted.overlay.redirect" || k == b"trusted.overlay.metacopy" {
                    return Err(Error::NotSupported(format!(
                        "overlay redirect/metacopy on {} (mount without redirect_dir/metacopy)",
                        crate::path::display(tar_path)
                    )));
                }
                if !k.starts_with(b"trusted.overlay.") {
                    out.push((k.clone(), v.clone()));
                }
            }
            Ok(out)
        };
        match fmt {
            S_IFDIR => {
                let d = sys::open_subdir(dir, name).map_err(|e| err("opening")(e.into()))?;
                let x = keep(
                    &sys::fd_xattrs(d.as_fd()).map_err(|e| err("reading xattrs of")(e.into()))?,
                )?;
                self.pax(&x).map_err(err("writing"))?;
                let mut h = Self::header(st, EntryType::Directory);
                let mut p = tar_path.to_vec();
                p.push(b'/');
                self.b
                    .append_data(&mut h, as_path(&p), io::empty())
                    .map_err(err("writing"))?;
            }
            S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        let mut h = Self::header(st, EntryType::Link);
                        let first = first.clone();
                        self.b
                            .append_link(&mut h, as_path(tar_path), as_path(&first))
                            .map_err(err("writing"))?;
                        return Ok(());
                    }
                    self.links.insert(key, tar_path.to_vec());
                }
                let fd = rustix::fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| err("opening")(e.into()))?;
                let x = keep(
                    &sys::fd_xattrs(fd.as_fd()).map_err(|e| err("reading xattrs of")(e.into()))?,
                )?;
                self.pax(&x).map_err(err("writing"))?;
                let size = u64::try_from(st.st_size).unwrap_or(0);
                let mut h = Self::header(st, EntryType::Regular);
                h.set_size(size);
                // exactly `size` bytes even if the file changes meanwhile
                let body = std::fs::File::from(fd)
                    .take(size)
                    .chain(io::repeat(0))
                    .take(size);
                self.b
                    .append_data(&mut h, as_path(tar_path), body)
                    .map_err(err("writing"))?;
            }
            S_IFLNK => {
                let x = keep(
                    &sys::l_xattrs(dir, name).map_err(|e| err("reading xattrs of")(e.into()))?,
                )?;
                self.pax(&x).map_err(err("writing"))?;
                let target = rustix::fs::readlinkat(dir, name, Vec::new())
                    .map_err(|e| err("reading the symlink")(e.into()))?;
                let mut h = Self::header(st, EntryType::Symlink);
                self.b
                    .append_link(&mut h, as_path(tar_path), as_path(target.as_bytes()))
                    .map_err(err("writing"))?;
            }
            S_IFCHR | S_IFBLK | S_IFIFO => {
                let x = keep(
                    &sys::l_xattrs(dir, name).map_err(|e| err("reading xattrs of")(e.into()))?,
                )?;
                self.pax(&x).map_err(err("writing"))?;
                let et = match fmt {
                    S_IFCHR => EntryType::Char,
                    S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = Self::header(st, et);
                if fmt != S_IFIFO {
                    h.set_device_major(rustix::fs::major(st.st_rdev))
                        .map_err(err("writing"))?;
                    h.set_device_minor(rustix::fs::minor(st.st_rdev))
                        .map_err(err("writing"))?;
                }
                self.b
                    .append_data(&mut h, as_path(tar_path), io::empty())
                    .map_err(err("writing"))?;
            }
            _ => {
                tracing::debug!(path = %shown, "socket not representable in tar, skipped");
            }
        }
        Ok(())
    }

    /// Writes an empty regular file entry (whiteouts, opaque markers).
    pub fn marker(&mut self, tar_path: &[u8], mtime: i64) -> Result<(), Error> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(u64::try_from(mtime).unwrap_or(0));
        h.set_size(0);
        self.b
            .append_data(&mut h, as_path(tar_path), io::empty())
            .map_err(|e| Error::entry("writing", &crate::path::display(tar_path), e))
    }
}
