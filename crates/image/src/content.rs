//! The content store: blobs addressed by digest under `blobs/sha256/<hex>`.
//!
//! Write protocol (what makes a blob visible is one `rename`):
//! 1. take the blob's ingest lock (`ingest/<hex>.lock`, `flock`, released by
//!    the kernel if the process dies), so one writer per blob across tasks and
//!    processes; a second writer waits and then finds the blob present;
//! 2. append to `ingest/<hex>` while hashing; a partial ingest left by an
//!    interrupted download is kept and resumed: its prefix is re-hashed to
//!    rebuild the hasher state, and the download continues at that offset;
//! 3. on completion check size and digest, `fsync` the file, `rename` it into
//!    `blobs/sha256/`, `fsync` that directory. A mismatch deletes the ingest.
//!
//! Nothing under `blobs/` is ever partial; nothing stored is rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

/// Result of [`ContentStore::begin`].
#[derive(Debug)]
pub enum Begin {
    /// The blob is already stored (possibly written by the writer we waited for).
    Exists,
    /// We own the ingest; it may hold a verified-by-rehash prefix.
    Write(Box<Ingest>),
}

impl ContentStore {
    /// Opens (creating) a store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        for d in [root.join("blobs/sha256"), root.join("ingest")] {
            fs::create_dir_all(&d).map_err(Error::io(&d))?;
        }
        Ok(Self { root: root.to_owned() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    fn ingest_path(&self, d: &Digest) -> PathBuf {
        self.root.join("ingest").join(d.hex())
    }

    /// Size of a stored blob, `None` if absent.
    pub fn size(&self, d: &Digest) -> Result<Option<u64>> {
        let p = self.blob_path(d);
        match fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { path: p, source: e }),
        }
    }

    pub fn exists(&self, d: &Digest) -> Result<bool> {
        Ok(self.size(d)?.is_some())
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound { Error::BlobNotFound { digest: d.clone() } } else { Error::Io { path: p, source: e } }
        })
    }

    /// Reads a whole (small) blob, refusing more than `limit` bytes.
    pub fn read_blob(&self, d: &Digest, limit: u64) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        let mut f = self.open_blob(d)?;
        let mut buf = Vec::new();
        Read::by_ref(&mut f).take(limit + 1).read_to_end(&mut buf).map_err(Error::io(&p))?;
        if buf.len() as u64 > limit {
            return Err(Error::TooLarge { reference: "content store".into(), what: "blob", size: buf.len() as u64, limit });
        }
        Ok(buf)
    }

    /// Starts (or resumes, or waits for) writing the blob `expected`. Blocks
    /// while another writer holds the blob: call from a blocking context.
    pub fn begin(&self, reference: &str, expected: &Digest, size: Option<u64>) -> Result<Begin> {
        if self.exists(expected)? {
            return Ok(Begin::Exists);
        }
        let lock_path = self.root.join("ingest").join(format!("{}.lock", expected.hex()));
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(Error::io(&lock_path))?;
        lock.lock().map_err(Error::io(&lock_path))?;
        if self.exists(expected)? {
            return Ok(Begin::Exists);
        }
        let path = self.ingest_path(expected);
        let mut file = OpenOptions::new().create(true).truncate(false).read(true).append(true).open(&path).map_err(Error::io(&path))?;
        let mut hasher = Hasher::new();
        let len = file.metadata().map_err(Error::io(&path))?.len();
        if size.is_some_and(|s| len > s) {
            file.set_len(0).map_err(Error::io(&path))?;
        } else if len > 0 {
            // Rebuild the hash state from the bytes already on disk.
            let mut r = File::open(&path).map_err(Error::io(&path))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r.read(&mut buf).map_err(Error::io(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        file.flush().map_err(Error::io(&path))?;
        Ok(Begin::Write(Box::new(Ingest {
            path,
            file,
            hasher,
            expected: expected.clone(),
            size,
            reference: reference.to_owned(),
            blobs: self.root.join("blobs/sha256"),
            _lock: lock,
        })))
    }

    /// Stores a small blob held in memory (manifests, configs), verifying it
    /// against `expected` when given. Returns its digest.
    pub fn write_blob(&self, reference: &str, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let actual = Digest::of(data);
        if let Some(e) = expected
            && *e != actual {
                return Err(Error::DigestMismatch { reference: reference.to_owned(), expected: e.clone(), actual });
            }
        match self.begin(reference, &actual, Some(data.len() as u64))? {
            Begin::Exists => {}
            Begin::Write(mut w) => {
                w.reset()?;
                w.write_all(data)?;
                w.commit()?;
            }
        }
        Ok(actual)
    }

    /// Deletes a blob (garbage collection only).
    pub fn delete(&self, d: &Digest) -> Result<()> {
        let p = self.blob_path(d);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { path: p, source: e }),
        }
    }

    /// Every stored blob with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let e = e.map_err(Error::io(&dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(d) = Digest::parse(&format!("sha256:{name}")) else { continue };
            let len = e.metadata().map_err(Error::io(e.path()))?.len();
            out.push((d, len));
        }
        Ok(out)
    }

    /// Removes partial ingests nobody is writing (their lock is free), for gc.
    /// Returns the bytes freed.
    pub fn clean_ingests(&self) -> Result<u64> {
        let dir = self.root.join("ingest");
        let mut freed = 0;
        for e in fs::read_dir(&dir).map_err(Error::io(&dir))? {
            let e = e.map_err(Error::io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("tmp-") {
                // a TempIngest removes itself unless its process died
                let pid = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
                let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                    let _ = fs::remove_file(e.path());
                }
                continue;
            }
            let Some(hex) = name.strip_suffix(".lock") else { continue };
            let lock_path = e.path();
            let Ok(lock) = OpenOptions::new().write(true).open(&lock_path) else { continue };
            if lock.try_lock().is_ok() {
                let data = dir.join(hex);
                if let Ok(m) = fs::metadata(&data) {
                    freed += m.len();
                }
                let _ = fs::remove_file(&data);
                let _ = fs::remove_file(&lock_path);
            }
        }
        Ok(freed)
    }
}

/// A writer for a blob whose digest is not known in advance (import, load,
/// commit): hashed while written, named by its digest on [`TempIngest::finish`].
#[derive(Debug)]
pub struct TempIngest {
    path: PathBuf,
    file: File,
    hasher: Hasher,
    blobs: PathBuf,
    done: bool,
}

impl ContentStore {
    /// Starts a blob of unknown digest.
    pub fn begin_unknown(&self) -> Result<TempIngest> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("tmp-{}-{}-{nanos}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let path = self.root.join("ingest").join(name);
        let file = OpenOptions::new().create_new(true).write(true).open(&path).map_err(Error::io(&path))?;
        Ok(TempIngest { path, file, hasher: Hasher::new(), blobs: self.root.join("blobs/sha256"), done: false })
    }

    /// Stores everything `r` yields; returns its digest and size.
    pub fn write_stream(&self, r: &mut dyn Read) -> Result<(Digest, u64)> {
        let mut t = self.begin_unknown()?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.read(&mut buf).map_err(Error::io(&t.path))?;
            if n == 0 {
                break;
            }
            t.write_all(&buf[..n])?;
        }
        t.finish()
    }
}

impl TempIngest {
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).map_err(Error::io(&self.path))?;
        self.hasher.update(data);
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// fsyncs and renames into place (or drops the copy if the blob exists).
    pub fn finish(mut self) -> Result<(Digest, u64)> {
        let size = self.hasher.len();
        let digest = std::mem::take(&mut self.hasher).finish();
        let dest = self.blobs.join(digest.hex());
        self.done = true;
        if dest.exists() {
            let _ = fs::remove_file(&self.path);
            return Ok((digest, size));
        }
        self.file.sync_all().map_err(Error::io(&self.path))?;
        fs::rename(&self.path, &dest).map_err(Error::io(&dest))?;
        sync_dir(&self.blobs)?;
        Ok((digest, size))
    }
}

impl Drop for TempIngest {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// An exclusive, resumable writer for one blob. Dropping it without
/// [`Ingest::commit`] keeps the partial data for a later resume.
#[derive(Debug)]
pub struct Ingest {
    path: PathBuf,
    file: File,
    hasher: Hasher,
    expected: Digest,
    size: Option<u64>,
    reference: String,
    blobs: PathBuf,
    _lock: File,
}

impl Ingest {
    /// Bytes already written (and hashed).
    pub fn offset(&self) -> u64 {
        self.hasher.len()
    }

    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    /// A reader over the bytes already written, for replaying a resumed prefix.
    pub fn prefix_reader(&self) -> Result<impl Read + use<>> {
        let f = File::open(&self.path).map_err(Error::io(&self.path))?;
        Ok(f.take(self.offset()))
    }

    /// Drops what was written so far (server ignored our Range request).
    pub fn reset(&mut self) -> Result<()> {
        self.file.set_len(0).map_err(Error::io(&self.path))?;
        self.hasher = Hasher::new();
        Ok(())
    }

    /// Appends bytes; refuses to grow beyond the expected size.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if let Some(size) = self.size {
            let after = self.hasher.len() + data.len() as u64;
            if after > size {
                let e = Error::SizeMismatch { reference: self.reference.clone(), digest: self.expected.clone(), expected: size, actual: after };
                self.discard();
                return Err(e);
            }
        }
        self.file.write_all(data).map_err(|e| self.write_err(e))?;
        self.hasher.update(data);
        Ok(())
    }

    fn write_err(&self, source: io::Error) -> Error {
        Error::WriteBlob { reference: self.reference.clone(), digest: self.expected.clone(), path: self.path.clone(), source }
    }

    /// Verifies size and digest, then makes the blob visible atomically.
    /// On mismatch the partial data is deleted (it can never become valid).
    pub fn commit(mut self) -> Result<()> {
        let got = self.hasher.len();
        if let Some(size) = self.size
            && got != size {
                let e = Error::SizeMismatch { reference: self.reference.clone(), digest: self.expected.clone(), expected: size, actual: got };
                self.discard();
                return Err(e);
            }
        let actual = std::mem::take(&mut self.hasher).finish();
        if actual != self.expected {
            let e = Error::DigestMismatch { reference: self.reference.clone(), expected: self.expected.clone(), actual };
            self.discard();
            return Err(e);
        }
        self.file.sync_all().map_err(|e| self.write_err(e))?;
        let dest = self.blobs.join(self.expected.hex());
        fs::rename(&self.path, &dest).map_err(|e| self.write_err(e))?;
        sync_dir(&self.blobs)?;
        Ok(())
    }

    /// Deletes the partial data (used when it is known to be bad).
    pub fn discard(&mut self) {
        let _ = fs::remove_file(&self.path);
        self.hasher = Hasher::new();
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let t = tempfile::tempdir().unwrap();
        let s = ContentStore::open(t.path()).unwrap();
        (t, s)
    }

    #[test]
    fn write_verify_read() {
        let (_t, s) = store();
        let d = s.write_blob("r", b"hello", None).unwrap();
        assert_eq!(s.read_blob(&d, 10).unwrap(), b"hello");
        assert_eq!(s.size(&d).unwrap(), Some(5));
        assert!(s.read_blob(&d, 2).is_err());
        assert_eq!(s.list().unwrap().len(), 1);
        // idempotent
        assert_eq!(s.write_blob("r", b"hello", Some(&d)).unwrap(), d);
    }

    #[test]
    fn mismatch_is_never_visible() {
        let (_t, s) = store();
        let want = Digest::of(b"good");
        let e = s.write_blob("ref", b"evil", Some(&want)).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }));
        let Begin::Write(mut w) = s.begin("ref", &want, Some(4)).unwrap() else { panic!() };
        w.write_all(b"evil").unwrap();
        let e = w.commit().unwrap_err().to_string();
        assert!(e.contains("ref") && e.contains(&want.to_string()), "{e}");
        assert!(!s.exists(&want).unwrap());
        // the bad ingest was deleted: a new writer starts at 0
        let Begin::Write(w) = s.begin("ref", &want, Some(4)).unwrap() else { panic!() };
        assert_eq!(w.offset(), 0);
    }

    #[test]
    fn oversize_is_refused() {
        let (_t, s) = store();
        let want = Digest::of(b"abc");
        let Begin::Write(mut w) = s.begin("ref", &want, Some(3)).unwrap() else { panic!() };
        assert!(matches!(w.write_all(b"abcd"), Err(Error::SizeMismatch { .. })));
    }

    #[test]
    fn resume_rehashes_prefix() {
        let (_t, s) = store();
        let data = vec![7u8; 3 << 20];
        let want = Digest::of(&data);
        {
            let Begin::Write(mut w) = s.begin("ref", &want, Some(data.len() as u64)).unwrap() else { panic!() };
            w.write_all(&data[..1_000_000]).unwrap();
            // dropped: partial ingest kept
        }
        let Begin::Write(mut w) = s.begin("ref", &want, Some(data.len() as u64)).unwrap() else { panic!() };
        assert_eq!(w.offset(), 1_000_000);
        let mut prefix = Vec::new();
        w.prefix_reader().unwrap().read_to_end(&mut prefix).unwrap();
        assert_eq!(prefix.len(), 1_000_000);
        w.write_all(&data[1_000_000..]).unwrap();
        w.commit().unwrap();
        assert!(s.exists(&want).unwrap());
        assert!(matches!(s.begin("ref", &want, None).unwrap(), Begin::Exists));
    }

    #[test]
    fn concurrent_writers_share_one_result() {
        let (_t, s) = store();
        let data = b"shared blob".to_vec();
        let want = Digest::of(&data);
        let Begin::Write(mut w) = s.begin("ref", &want, None).unwrap() else { panic!() };
        let s2 = s.clone();
        let want2 = want.clone();
        let waiter = std::thread::spawn(move || matches!(s2.begin("ref", &want2, None).unwrap(), Begin::Exists));
        std::thread::sleep(std::time::Duration::from_millis(50));
        w.write_all(&data).unwrap();
        w.commit().unwrap();
        assert!(waiter.join().unwrap(), "second writer should find the blob written by the first");
    }

    #[test]
    fn unknown_digest_stream() {
        let (_t, s) = store();
        let (d, n) = s.write_stream(&mut &b"some data"[..]).unwrap();
        assert_eq!((d.clone(), n), (Digest::of(b"some data"), 9));
        assert_eq!(s.read_blob(&d, 100).unwrap(), b"some data");
        let mut t = s.begin_unknown().unwrap();
        t.write_all(b"abandoned").unwrap();
        drop(t);
        assert_eq!(std::fs::read_dir(s.root().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn clean_ingests_skips_locked() {
        let (_t, s) = store();
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        drop(s.begin("r", &a, None).unwrap()); // abandoned
        let Begin::Write(mut held) = s.begin("r", &b, None).unwrap() else { panic!() };
        held.write_all(b"x").unwrap();
        s.clean_ingests().unwrap();
        assert!(!s.root().join("ingest").join(a.hex()).exists());
        assert!(s.root().join("ingest").join(b.hex()).exists());
    }
}
