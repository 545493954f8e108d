//! The streaming pull pipeline.
//!
//! Per layer, two workers share a [`LayerShared`] state:
//! - the **download** task (async) streams the blob from the registry into
//!   the content store's ingest file while hashing it, resuming with `Range`
//!   after a dropped connection, and finally verifies size and digest and
//!   renames the blob into place; downloads of different layers run at once,
//!   bounded by `max_concurrent_downloads`;
//! - the **unpack** worker (a blocking thread) follows the growing ingest file
//!   (the bytes just written, still in the page cache), decompresses them,
//!   hashes the tar stream (the diff id) and hands it to the snapshotter.
//!   It starts as soon as the parent layer's snapshot is committed (the
//!   snapshotter needs the parent for implicitly created directories), so
//!   download and unpack overlap and later layers download while earlier
//!   ones unpack.
//!
//! A snapshot is committed only after its blob was verified (the reader gives
//! EOF only once the download's digest check passed) and its diff id matched
//! the config; anything else drops the layer writer, which removes it.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use crate::content::Begin;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{self, Compression, Descriptor, Parsed};
use crate::metadata::ImageRecord;
use crate::platform::Platform;
use crate::progress::{Event, Progress, short_id};
use crate::reference::Reference;
use crate::registry::{Auth, Repo};
use crate::store::{Image, Inner};

/// Chain ids of a list of diff ids (image spec: `ChainID(L0|..|Ln) =
/// sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln))`).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.to_string(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()).to_string(),
        };
        out.push(next);
    }
    out
}

#[derive(Debug, Default)]
struct LayerStatus {
    /// Bytes of the blob present in the ingest file (or the whole blob).
    written: u64,
    /// The ingest file exists and may be opened.
    ingest_open: bool,
    /// `Some(true)`: blob verified and stored. `Some(false)`: download failed.
    download: Option<bool>,
    /// `Some(true)`: snapshot committed (or already there).
    snapshot: Option<bool>,
}

#[derive(Debug, Default)]
pub(crate) struct LayerShared {
    st: Mutex<LayerStatus>,
    cv: Condvar,
}

impl LayerShared {
    fn update(&self, f: impl FnOnce(&mut LayerStatus)) {
        let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
        drop(g);
        self.cv.notify_all();
    }

    fn wait<T>(&self, f: impl Fn(&LayerStatus) -> Option<T>) -> T {
        let mut g = self.st.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = f(&g) {
                return t;
            }
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Marks the download failed if its task ends without saying (error, abort).
struct DownloadGuard(Arc<LayerShared>);
impl Drop for DownloadGuard {
    fn drop(&mut self) {
        self.0.update(|s| {
            if s.download.is_none() {
                s.download = Some(false);
            }
        });
    }
}

/// Marks the snapshot failed if its worker ends without saying.
struct SnapshotGuard(Arc<LayerShared>);
impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        self.0.update(|s| {
            if s.snapshot.is_none() {
                s.snapshot = Some(false);
            }
        });
    }
}

pub(crate) async fn pull(inner: &Arc<Inner>, reference: &str, platform: Option<&Platform>, auth: &Auth, progress: &Progress) -> Result<Image> {
    let r = Reference::parse(reference)?;
    let rs = r.to_string();
    let platform = platform.cloned().unwrap_or_else(Platform::host);
    progress.emit(Event::Resolving { reference: rs.clone() });

    let endpoints = inner.client.endpoints(&r, false, auth).await?;
    let n_ep = endpoints.len();
    let mut found = None;
    let mut last_err = None;
    for (i, ep) in endpoints.into_iter().enumerate() {
        match inner.client.get_manifest(&ep, &r.manifest_reference()).await {
            Ok(m) => {
                found = Some((ep, m));
                break;
            }
            Err(e) if i + 1 < n_ep && matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unavailable | ErrorKind::Unauthorized) => {
                tracing::info!(endpoint = %ep.host, error = %e, "mirror failed, trying the next endpoint");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let Some((repo, (bytes, top_digest, ct))) = found else {
        return Err(last_err.unwrap_or_else(|| Error::ManifestUnknown { reference: rs.clone() }));
    };

    let (manifest_bytes, manifest_digest, manifest_mt, manifest, index) =
        match manifest::parse(&rs, &top_digest.to_string(), ct.as_deref(), &bytes)? {
            Parsed::Manifest { media_type, manifest } => (bytes, top_digest.clone(), media_type, manifest, None),
            Parsed::Index { index, .. } => {
                let desc = manifest::select(&rs, &index, &platform)?.clone();
                let (b, d, ct) = inner.client.get_manifest(&repo, &desc.digest.to_string()).await?;
                match manifest::parse(&rs, &d.to_string(), ct.as_deref(), &b)? {
                    Parsed::Manifest { media_type, manifest } => (b, d, media_type, manifest, Some(bytes)),
                    Parsed::Index { .. } => {
                        return Err(Error::InvalidContent {
                            reference: rs,
                            what: "manifest",
                            digest: d.to_string(),
                            reason: "an index entry for a platform points to another index".into(),
                        });
                    }
                }
            }
        };
    progress.emit(Event::Resolved { reference: rs.clone(), digest: top_digest.clone() });

    for l in &manifest.layers {
        if Compression::from_media_type(&l.media_type).is_none() {
            return Err(Error::Unsupported { what: format!("layer media type {:?} of {rs} (layer {})", l.media_type, l.digest) });
        }
    }

    // The GC read lock covers everything from the first blob write to the
    // image record: gc (write lock) never sees a half-pulled image.
    let _gc = inner.gc_lock.read().await;

    let config_bytes = {
        let inner2 = inner.clone();
        let (rs2, idx, mb, md) = (rs.clone(), index.clone(), manifest_bytes.clone(), manifest_digest.clone());
        let top = top_digest.clone();
        blocking(move || {
            if let Some(ib) = &idx {
                inner2.content.write_blob(&rs2, ib, Some(&top))?;
            }
            inner2.content.write_blob(&rs2, &mb, Some(&md))?;
            Ok(())
        })
        .await?;
        let cd = &manifest.config.digest;
        if inner.content.exists(cd)? {
            inner.content.read_blob(cd, manifest::CONFIG_LIMIT)?
        } else {
            let b = inner.client.get_small_blob(&repo, cd, manifest.config.size, manifest::CONFIG_LIMIT).await?;
            let (inner2, rs2, b2, cd2) = (inner.clone(), rs.clone(), b.clone(), cd.clone());
            blocking(move || inner2.content.write_blob(&rs2, &b2, Some(&cd2))).await?;
            b
        }
    };
    let config: crate::config::ImageConfigFile = serde_json::from_slice(&config_bytes).map_err(|e| Error::InvalidContent {
        reference: rs.clone(),
        what: "config",
        digest: manifest.config.digest.to_string(),
        reason: e.to_string(),
    })?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::InvalidContent {
            reference: rs,
            what: "config",
            digest: manifest.config.digest.to_string(),
            reason: format!("{} diff_ids for {} layers", config.rootfs.diff_ids.len(), manifest.layers.len()),
        });
    }
    let chains = chain_ids(&config.rootfs.diff_ids);

    let n = manifest.layers.len();
    let shared: Vec<Arc<LayerShared>> = (0..n).map(|_| Arc::new(LayerShared::default())).collect();
    let sem = Arc::new(Semaphore::new(inner.client.config().max_concurrent_downloads.max(1)));
    let mut downloads = Vec::with_capacity(n);
    let mut jobs = Vec::with_capacity(n);
    for i in 0..n {
        let desc = manifest.layers[i].clone();
        let (inner2, repo2, sh, sem2, pr, rs2) = (inner.clone(), repo.clone(), shared[i].clone(), sem.clone(), progress.clone(), rs.clone());
        downloads.push(tokio::spawn(async move {
            let guard = DownloadGuard(sh.clone());
            let res = download(&inner2, &rs2, &repo2, &desc, &sh, &sem2, &pr).await;
            sh.update(|s| s.download = Some(res.is_ok()));
            drop(guard);
            res
        }));
        jobs.push(UnpackJob {
            inner: inner.clone(),
            reference: rs.clone(),
            desc: manifest.layers[i].clone(),
            diff_id: config.rootfs.diff_ids[i].clone(),
            chain_id: chains[i].clone(),
            parent: if i == 0 { None } else { Some((chains[i - 1].clone(), shared[i - 1].clone())) },
            shared: shared[i].clone(),
            progress: progress.clone(),
        });
    }
    // Layers unpack in chain order (the snapshotter needs each parent
    // committed), so one worker walks them while the downloads run ahead.
    let unpack = tokio::task::spawn_blocking(move || {
        let guards: Vec<SnapshotGuard> = jobs.iter().map(|j| SnapshotGuard(j.shared.clone())).collect();
        for job in &jobs {
            let res = job.run();
            job.shared.update(|s| s.snapshot = Some(res.is_ok()));
            res?;
        }
        drop(guards);
        Ok(())
    });
    // Report the root cause: a download error over the "cancelled" it causes.
    let mut first: Option<Error> = None;
    let note = |e: Error, first: &mut Option<Error>| {
        let replace = match first {
            None => true,
            Some(Error::Cancelled(_)) => !matches!(e, Error::Cancelled(_)),
            Some(_) => false,
        };
        if replace {
            *first = Some(e);
        }
    };
    match unpack.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => note(e, &mut first),
        Err(e) => note(Error::Cancelled(format!("unpacking {rs}: {e}")), &mut first),
    }
    if first.as_ref().is_some_and(|e| !matches!(e, Error::Cancelled(_))) {
        // A bad layer: no point in downloading the rest now (partial
        // downloads stay in the store for a later resume).
        for d in &downloads {
            d.abort();
        }
    }
    for (i, h) in downloads.into_iter().enumerate() {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => note(e, &mut first),
            Err(e) if e.is_cancelled() => {}
            Err(e) => note(Error::Cancelled(format!("download of layer {} of {rs}: {e}", manifest.layers[i].digest)), &mut first),
        }
    }
    if let Some(e) = first {
        return Err(e);
    }

    let size = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
    let rec = ImageRecord {
        id: manifest.config.digest.clone(),
        manifest_digest: manifest_digest.clone(),
        manifest_media_type: manifest_mt,
        config_media_type: manifest.config.media_type.clone(),
        index_digest: index.as_ref().map(|_| top_digest.clone()),
        layers: manifest.layers.clone(),
        diff_ids: config.rootfs.diff_ids.clone(),
        chain_ids: chains,
        platform: Platform {
            os: config.os.clone(),
            architecture: config.architecture.clone(),
            variant: config.variant.clone(),
            os_version: None,
            os_features: None,
        },
        created: config.created.clone(),
        added: crate::store::now(),
        size,
    };
    let tag = if r.digest().is_none() { r.tag().map(|t| format!("{}:{t}", r.name())) } else { None };
    let repo_digest = format!("{}@{top_digest}", r.name());
    inner.meta.put_image(&rec, tag.as_deref(), Some(&repo_digest))?;
    progress.emit(Event::Complete { reference: rs, digest: top_digest });
    inner.image_from_record(rec)
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Cancelled(format!("worker thread: {e}")))?
}

async fn download(inner: &Arc<Inner>, rs: &str, repo: &Repo, desc: &Descriptor, sh: &Arc<LayerShared>, sem: &Semaphore, pr: &Progress) -> Result<()> {
    let id = short_id(&desc.digest);
    if inner.content.exists(&desc.digest)? {
        sh.update(|s| s.written = desc.size);
        return Ok(());
    }
    pr.emit(Event::Waiting { id: id.clone() });
    let _permit = sem.acquire().await.map_err(|_| Error::Cancelled("download slots closed".into()))?;
    let (content, rs2, d, size) = (inner.content.clone(), rs.to_owned(), desc.digest.clone(), desc.size);
    let mut ingest = match blocking(move || content.begin(&rs2, &d, Some(size))).await? {
        Begin::Exists => {
            sh.update(|s| s.written = desc.size);
            return Ok(());
        }
        Begin::Write(i) => i,
    };
    let mut offset = ingest.offset();
    sh.update(|s| {
        s.written = offset;
        s.ingest_open = true;
    });
    let cfg = inner.client.config();
    let stall = Duration::from_secs(cfg.stall_timeout_secs.max(1));
    let backoff = |a: u32| Duration::from_millis(cfg.retry_delay_ms.saturating_mul(1 << a.min(10)));
    let mut attempt = 0u32;
    let mut last_report = 0u64;
    'request: while offset < desc.size {
        let body = match inner.client.get_blob(repo, &desc.digest, offset).await {
            Ok(b) => b,
            Err(e) if e.is_transient() && attempt < cfg.retries => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        // A server that ignores Range starts again at 0: skip what we have.
        let mut skip = offset - body.start;
        let mut body = body.body;
        loop {
            match tokio::time::timeout(stall, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let Ok(mut data) = frame.into_data() else { continue };
                    if skip > 0 {
                        let k = skip.min(data.len() as u64) as usize;
                        let _ = data.split_to(k);
                        skip -= k as u64;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    ingest.write_all(&data)?;
                    offset += data.len() as u64;
                    sh.update(|s| s.written = offset);
                    attempt = 0;
                    if offset - last_report >= 512 << 10 || offset == desc.size {
                        last_report = offset;
                        pr.emit(Event::Downloading { id: id.clone(), current: offset, total: desc.size });
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    if attempt < cfg.retries {
                        tracing::debug!(digest = %desc.digest, offset, error = %e, "layer download interrupted, resuming");
                        attempt += 1;
                        tokio::time::sleep(backoff(attempt)).await;
                        continue 'request;
                    }
                    return Err(Error::Unavailable { reference: rs.to_owned(), registry: repo.host.clone(), source: Box::new(e) });
                }
                Err(elapsed) => {
                    if attempt < cfg.retries {
                        attempt += 1;
                        continue 'request;
                    }
                    return Err(Error::Unavailable { reference: rs.to_owned(), registry: repo.host.clone(), source: Box::new(elapsed) });
                }
            }
        }
        if offset < desc.size {
            // Clean end of body short of the size: a truncated blob.
            if attempt < cfg.retries {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            return Err(Error::SizeMismatch { reference: rs.to_owned(), digest: desc.digest.clone(), expected: desc.size, actual: offset });
        }
    }
    pr.emit(Event::Verifying { id: id.clone() });
    blocking(move || ingest.commit()).await?;
    pr.emit(Event::DownloadComplete { id });
    Ok(())
}

struct UnpackJob {
    inner: Arc<Inner>,
    reference: String,
    desc: Descriptor,
    diff_id: Digest,
    chain_id: String,
    parent: Option<(String, Arc<LayerShared>)>,
    shared: Arc<LayerShared>,
    progress: Progress,
}

impl UnpackJob {
    fn cancelled(&self, why: &str) -> Error {
        Error::Cancelled(format!("layer {} of {}: {why}", self.desc.digest, self.reference))
    }

    fn snap_err(&self, e: berth_snapshots::Error) -> Error {
        Error::Snapshot { key: format!("{} (layer {} of {})", self.chain_id, self.desc.digest, self.reference), source: Box::new(e) }
    }

    fn run(&self) -> Result<()> {
        let id = short_id(&self.desc.digest);
        let snaps = &self.inner.snapshots;
        if snaps.stat(&self.chain_id).map_err(|e| self.snap_err(e))?.is_some() {
            if !self.shared.wait(|s| s.download) {
                return Err(self.cancelled("download failed"));
            }
            self.progress.emit(Event::AlreadyExists { id });
            return Ok(());
        }
        if let Some((_, p)) = &self.parent
            && !p.wait(|s| s.snapshot) {
                return Err(self.cancelled("parent layer failed"));
            }
        let w = snaps.prepare_layer(self.parent.as_ref().map(|(c, _)| c.as_str())).map_err(|e| self.snap_err(e))?;
        let reader = FollowReader {
            inner: self.inner.clone(),
            digest: self.desc.digest.clone(),
            shared: self.shared.clone(),
            file: None,
            pos: 0,
            progress: self.progress.clone(),
            id: id.clone(),
            total: self.desc.size,
            last_report: 0,
        };
        let mut buf = BufReader::with_capacity(1 << 20, reader);
        let head = match buf.fill_buf() {
            Ok(h) => h,
            Err(e) => return Err(self.read_failed(e)),
        };
        let comp = Compression::sniff(head);
        let decoder: Box<dyn Read + Send> = match comp {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf).map_err(|e| self.read_failed(e))?),
            Compression::None => Box::new(buf),
        };
        // Two stages on two threads: decompress + hash the tar stream here,
        // write files in the snapshotter there, with a small bounded queue.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let (applied, produced) = std::thread::scope(|scope| {
            let failed = &failed;
            let producer = scope.spawn(move || -> io::Result<Digest> {
                let mut decoder = decoder;
                let mut hasher = Hasher::new();
                let mut open = true;
                loop {
                    let mut chunk = vec![0u8; 256 << 10];
                    let mut filled = 0;
                    while filled < chunk.len() {
                        let n = decoder.read(&mut chunk[filled..])?;
                        if n == 0 {
                            break;
                        }
                        filled += n;
                    }
                    if filled == 0 {
                        break;
                    }
                    chunk.truncate(filled);
                    hasher.update(&chunk);
                    // After the end-of-archive blocks the consumer stops
                    // reading; the rest still counts for the diff id.
                    if open && tx.send(chunk).is_err() {
                        open = false;
                        if failed.load(std::sync::atomic::Ordering::SeqCst) {
                            return Err(io::Error::other("unpack failed"));
                        }
                    }
                }
                drop(tx);
                Ok(hasher.finish())
            });
            let reader = ChannelReader { rx, cur: Vec::new(), pos: 0 };
            let applied = berth_snapshots::Snapshotter::apply_tar(&w, reader);
            if applied.is_err() {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let produced = producer.join().unwrap_or_else(|_| Err(io::Error::other("decompression thread panicked")));
            (applied, produced)
        });
        if let Err(e) = applied {
            if self.shared.wait(|s| if s.download == Some(false) { Some(false) } else { Some(true) }) {
                // A decompression error explains a tar error better.
                if let Err(pe) = produced
                    && pe.to_string() != "unpack failed" {
                        return Err(self.read_failed(pe));
                    }
                return Err(self.snap_err(e));
            }
            return Err(self.cancelled("download failed"));
        }
        let actual = match produced {
            Ok(d) => d,
            Err(e) => return Err(self.read_failed(e)),
        };
        if !self.shared.wait(|s| s.download) {
            return Err(self.cancelled("download failed"));
        }
        if actual != self.diff_id {
            return Err(Error::DigestMismatch {
                reference: format!("{} (uncompressed layer {})", self.reference, self.desc.digest),
                expected: self.diff_id.clone(),
                actual,
            });
        }
        match snaps.commit(w, &self.chain_id) {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(self.snap_err(e)),
        }
        self.progress.emit(Event::Done { id });
        Ok(())
    }

    /// A read error from the decompressor: the download's failure if it
    /// failed, else corrupt compressed data.
    fn read_failed(&self, e: io::Error) -> Error {
        let failed = self.shared.st.lock().map(|s| s.download == Some(false)).unwrap_or(false);
        if failed {
            self.cancelled("download failed")
        } else {
            Error::Decompress { reference: self.reference.clone(), digest: self.desc.digest.clone(), source: e }
        }
    }
}

/// Reads a blob while it is being downloaded: bytes up to what the download
/// reported written, waiting for more, EOF only once the blob is verified.
struct FollowReader {
    inner: Arc<Inner>,
    digest: Digest,
    shared: Arc<LayerShared>,
    file: Option<std::fs::File>,
    pos: u64,
    progress: Progress,
    id: String,
    total: u64,
    last_report: u64,
}

enum Avail {
    Bytes(u64, bool),
    Eof,
    Failed,
}

impl FollowReader {
    fn open(&mut self, ingest_open: bool) -> io::Result<()> {
        let content = &self.inner.content;
        if ingest_open {
            match std::fs::File::open(content.root().join("ingest").join(self.digest.hex())) {
                Ok(f) => {
                    self.file = Some(f);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // Committed already (renamed into blobs/, the same bytes).
        self.file = Some(std::fs::File::open(content.blob_path(&self.digest))?);
        Ok(())
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let pos = self.pos;
        let avail = self.shared.wait(|s| {
            if s.download == Some(false) {
                Some(Avail::Failed)
            } else if pos < s.written && (s.ingest_open || s.download == Some(true)) {
                Some(Avail::Bytes(s.written - pos, s.ingest_open))
            } else if s.download == Some(true) {
                Some(Avail::Eof)
            } else {
                None
            }
        });
        let (n_avail, ingest_open) = match avail {
            Avail::Failed => return Err(io::Error::other("layer download failed")),
            Avail::Eof => return Ok(0),
            Avail::Bytes(n, o) => (n, o),
        };
        if self.file.is_none() {
            self.open(ingest_open)?;
        }
        let want = (buf.len() as u64).min(n_avail) as usize;
        let Some(f) = &self.file else { return Err(io::Error::other("blob not open")) };
        let n = f.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than reported"));
        }
        self.pos += n as u64;
        if self.pos - self.last_report >= 1 << 20 || self.pos == self.total {
            self.last_report = self.pos;
            self.progress.emit(Event::Extracting { id: self.id.clone(), current: self.pos, total: self.total });
        }
        Ok(n)
    }
}

/// The consumer end of the decompression queue.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Unpacks layers whose blobs are already in the content store (load,
/// import), bottom first, verifying each diff id. Returns the chain ids.
pub(crate) fn unpack_local(inner: &Arc<Inner>, reference: &str, layers: &[Descriptor], diff_ids: &[Digest], progress: &Progress) -> Result<Vec<String>> {
    let chains = chain_ids(diff_ids);
    let mut prev: Option<(String, Arc<LayerShared>)> = None;
    for (i, desc) in layers.iter().enumerate() {
        if !inner.content.exists(&desc.digest)? {
            return Err(Error::BlobNotFound { digest: desc.digest.clone() });
        }
        let shared = Arc::new(LayerShared::default());
        shared.update(|s| {
            s.written = desc.size;
            s.download = Some(true);
        });
        let job = UnpackJob {
            inner: inner.clone(),
            reference: reference.to_owned(),
            desc: desc.clone(),
            diff_id: diff_ids[i].clone(),
            chain_id: chains[i].clone(),
            parent: prev.take(),
            shared: shared.clone(),
            progress: progress.clone(),
        };
        let res = job.run();
        shared.update(|s| s.snapshot = Some(res.is_ok()));
        res?;
        prev = Some((chains[i].clone(), shared));
    }
    Ok(chains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a.to_string());
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()).to_string());
        assert!(chain_ids(&[]).is_empty());
    }
}
