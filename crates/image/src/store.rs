//! [`ImageStore`]: the API the daemon uses. One store per root:
//!
//! ```text
//! <root>/metadata.redb     images, tags, repo digests, container rootfs keys
//! <root>/content/          blobs/sha256/<hex>, ingest/ (see content.rs)
//! <root>/snapshots/        berth-snapshots' root
//! ```
//!
//! Garbage collection protocol: every operation that writes blobs or
//! snapshots before it records an image (pull, load, import, commit) holds
//! the store's gc lock shared from its first write to its image record; `gc`
//! holds it exclusively, so it only ever sees complete images and never
//! deletes content a running pull is about to reference. Different processes
//! cannot share a root (redb locks the database file), so an in-process lock
//! is enough. Partial ingests and abandoned layer directories are cleaned by
//! gc only when their `flock` is free (their writer is gone).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_snapshots::{Kind, Snapshotter};
use serde::{Deserialize, Serialize};

use crate::config::ImageConfigFile;
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest;
use crate::metadata::{ImageRecord, MetadataDb};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{Auth, RegistryClient, RegistryConfig};

/// Store configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub registries: RegistryConfig,
}

/// An image as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Config digest (docker's image id).
    pub id: Digest,
    pub record: ImageRecord,
    /// Normalised `registry/repo:tag` names pointing at this image.
    pub repo_tags: Vec<String>,
    /// Normalised `registry/repo@sha256:...` names.
    pub repo_digests: Vec<String>,
}

/// What `remove` did, in docker's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// What `gc` freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcStats {
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub snapshots_removed: usize,
}

pub(crate) struct Inner {
    pub(crate) root: PathBuf,
    pub(crate) content: ContentStore,
    pub(crate) meta: MetadataDb,
    pub(crate) snapshots: Snapshotter,
    pub(crate) client: RegistryClient,
    pub(crate) gc_lock: tokio::sync::RwLock<()>,
}

/// The image store. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageStore({})", self.inner.root.display())
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Inner {
    pub(crate) fn image_from_record(&self, record: ImageRecord) -> Result<Image> {
        let id = record.id.to_string();
        let repo_tags = self.meta.tags()?.into_iter().filter(|(_, v)| *v == id).map(|(k, _)| k).collect();
        let repo_digests = self.meta.repo_digests()?.into_iter().filter(|(_, v)| *v == id).map(|(k, _)| k).collect();
        Ok(Image { id: record.id.clone(), record, repo_tags, repo_digests })
    }

    fn record(&self, id: &str) -> Result<Option<ImageRecord>> {
        match Digest::parse(id) {
            Ok(d) => self.meta.image(&d),
            Err(_) => Ok(None),
        }
    }

    /// Finds an image by reference, full id, or unique id prefix.
    pub(crate) fn lookup(&self, s: &str) -> Result<ImageRecord> {
        let not_found = || Error::ImageNotFound(crate::digest::truncate(s));
        if let Ok(d) = Digest::parse(s) {
            return self.meta.image(&d)?.ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse(s) {
            let target = match r.digest() {
                Some(d) => self.meta.digest_target(&format!("{}@{d}", r.name()))?,
                None => self.meta.tag_target(&r.to_string())?,
            };
            if let Some(id) = target {
                return self.record(&id)?.ok_or_else(not_found);
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            let matches: Vec<ImageRecord> = self.meta.images()?.into_iter().filter(|r| r.id.hex().starts_with(hex)).collect();
            match matches.len() {
                1 => return matches.into_iter().next().ok_or_else(not_found),
                0 => {}
                _ => return Err(Error::InvalidArgument(format!("image id prefix {hex} is ambiguous"))),
            }
        }
        Err(not_found())
    }

    /// Deletes blobs and snapshots no image references (caller holds the gc
    /// write lock).
    pub(crate) fn sweep(&self) -> Result<GcStats> {
        let images = self.meta.images()?;
        let mut blobs: HashSet<Digest> = HashSet::new();
        let mut chains: HashSet<String> = HashSet::new();
        for r in &images {
            blobs.insert(r.id.clone());
            blobs.insert(r.manifest_digest.clone());
            if let Some(i) = &r.index_digest {
                blobs.insert(i.clone());
            }
            blobs.extend(r.layers.iter().map(|l| l.digest.clone()));
            chains.extend(r.chain_ids.iter().cloned());
        }
        let mut stats = GcStats::default();
        for (d, size) in self.content.list()? {
            if !blobs.contains(&d) {
                self.content.delete(&d)?;
                stats.blobs_removed += 1;
                stats.bytes_freed += size;
            }
        }
        stats.bytes_freed += self.content.clean_ingests()?;
        let snap_err = |key: &str| {
            let key = key.to_owned();
            move |e: berth_snapshots::Error| Error::Snapshot { key, source: Box::new(e) }
        };
        let mut infos = self.snapshots.list().map_err(snap_err("list"))?;
        infos.sort_by_key(|i| std::cmp::Reverse(i.depth));
        for info in infos {
            if info.kind != Kind::Committed || chains.contains(&info.name) {
                continue;
            }
            match self.snapshots.remove(&info.name) {
                Ok(()) => stats.snapshots_removed += 1,
                // still the parent of a container's rootfs or another layer
                Err(e @ berth_snapshots::Error::InUse { .. }) => {
                    tracing::debug!(snapshot = %info.name, error = %e, "gc keeps a snapshot in use");
                }
                Err(e) => return Err(snap_err(&info.name)(e)),
            }
        }
        self.snapshots.cleanup().map_err(snap_err("cleanup"))?;
        Ok(stats)
    }
}

impl ImageStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path, config: StoreConfig) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(Error::io(root))?;
        let content = ContentStore::open(&root.join("content"))?;
        let meta = MetadataDb::open(&root.join("metadata.redb"))?;
        let snap_root = root.join("snapshots");
        let snapshots = Snapshotter::open(&snap_root).map_err(|e| Error::Snapshot { key: snap_root.display().to_string(), source: Box::new(e) })?;
        let client = RegistryClient::new(config.registries);
        Ok(Self { inner: Arc::new(Inner { root: root.to_owned(), content, meta, snapshots, client, gc_lock: tokio::sync::RwLock::new(()) }) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    pub fn snapshots(&self) -> &Snapshotter {
        &self.inner.snapshots
    }

    /// Pulls `reference` for `platform` (the host's when `None`).
    pub async fn pull(&self, reference: &str, platform: Option<&Platform>, auth: &Auth, progress: &Progress) -> Result<Image> {
        crate::pull::pull(&self.inner, reference, platform, auth, progress).await
    }

    /// Pushes a local image to the registry its reference names (tag it
    /// first to push elsewhere). Returns the manifest digest.
    pub async fn push(&self, reference: &str, auth: &Auth, progress: &Progress) -> Result<Digest> {
        // gc must not delete blobs while they are being uploaded
        let _g = self.inner.gc_lock.read().await;
        crate::push::push(&self.inner, reference, auth, progress).await
    }

    /// Checks credentials against a registry, as `docker login` does; see
    /// [`RegistryClient::login`]. `server` is what the client named:
    /// `host[:port]`, a URL, or empty for Docker Hub.
    pub async fn login(&self, server: &str, credentials: &crate::registry::Credentials) -> Result<()> {
        self.inner.client.login(server, credentials).await
    }

    /// Asks the registry which manifest `reference` names now (HEAD), without
    /// pulling: `None` when it does not exist there.
    pub async fn resolve(&self, reference: &str, auth: &Auth) -> Result<Option<Digest>> {
        let r = Reference::parse(reference)?;
        let repo = self.inner.client.endpoints(&r, false, auth).await?.into_iter().next().ok_or_else(|| Error::ImageNotFound(r.to_string()))?;
        Ok(self.inner.client.head_manifest(&repo, &r.manifest_reference()).await?.map(|(d, _, _)| d))
    }

    pub fn list(&self) -> Result<Vec<Image>> {
        self.inner.meta.images()?.into_iter().map(|r| self.inner.image_from_record(r)).collect()
    }

    /// By reference (`busybox`, `host:5000/x:y`, `x@sha256:..`), id, or unique id prefix.
    pub fn get(&self, ref_or_id: &str) -> Result<Image> {
        let r = self.inner.lookup(ref_or_id)?;
        self.inner.image_from_record(r)
    }

    /// Adds the tag `new` (a reference without digest) to the image `src`.
    pub fn tag(&self, src: &str, new: &str) -> Result<()> {
        let rec = self.inner.lookup(src)?;
        let r = Reference::parse(new)?;
        if r.digest().is_some() {
            return Err(Error::InvalidArgument(format!("cannot tag with a digest reference: {new}")));
        }
        self.inner.meta.set_tag(&r.to_string(), &rec.id)
    }

    /// docker rmi: untags `reference`; deletes the image once nothing names
    /// it. Untagging the last tag of a repository also drops that
    /// repository's digests (`repo@sha256:...`), as docker does. An id
    /// deletes the image outright (`force` needed when it has several
    /// tags). An image a container uses is kept (error unless `force`,
    /// which then only untags).
    pub async fn remove(&self, reference: &str, force: bool) -> Result<Vec<Removed>> {
        let inner = &self.inner;
        let rec = inner.lookup(reference)?;
        let id_s = rec.id.to_string();
        let users: Vec<String> = inner.meta.active()?.into_iter().filter(|(_, v)| *v == id_s).map(|(k, _)| k).collect();
        let tags: Vec<String> = inner.meta.tags()?.into_iter().filter(|(_, v)| *v == id_s).map(|(k, _)| k).collect();
        let digests: Vec<String> = inner.meta.repo_digests()?.into_iter().filter(|(_, v)| *v == id_s).map(|(k, _)| k).collect();
        let by_name = Reference::parse(reference).ok().filter(|r| {
            let key = match r.digest() {
                Some(d) => format!("{}@{d}", r.name()),
                None => r.to_string(),
            };
            tags.contains(&key) || digests.contains(&key)
        });
        let mut out = Vec::new();
        let delete = if let Some(r) = by_name {
            let key = match r.digest() {
                Some(d) => format!("{}@{d}", r.name()),
                None => r.to_string(),
            };
            let repo_of = |k: &str| Reference::parse(k).map(|r| r.name()).ok();
            let repo = r.name();
            let last_tag_of_repo = r.digest().is_none() && !tags.iter().any(|t| *t != key && repo_of(t).as_deref() == Some(repo.as_str()));
            let repo_digests: Vec<&String> =
                if last_tag_of_repo { digests.iter().filter(|d| repo_of(d).as_deref() == Some(repo.as_str())).collect() } else { Vec::new() };
            let last = tags.iter().chain(digests.iter()).all(|k| *k == key || repo_digests.contains(&k));
            if last && !users.is_empty() && !force {
                return Err(Error::InUse { image: reference.to_owned(), by: format!("container rootfs {}", users.join(", ")) });
            }
            if r.digest().is_some() {
                inner.meta.remove_repo_digest(&key)?;
            } else {
                inner.meta.remove_tag(&key)?;
            }
            out.push(Removed::Untagged(key));
            for d in repo_digests {
                inner.meta.remove_repo_digest(d)?;
                out.push(Removed::Untagged(d.clone()));
            }
            last && users.is_empty()
        } else {
            if !users.is_empty() {
                return Err(Error::InUse { image: reference.to_owned(), by: format!("container rootfs {}", users.join(", ")) });
            }
            if tags.len() > 1 && !force {
                return Err(Error::InUse {
                    image: reference.to_owned(),
                    by: format!("it is referenced by {} tags ({}); use force or remove by tag", tags.len(), tags.join(", ")),
                });
            }
            true
        };
        if delete {
            for t in tags.iter().chain(digests.iter()) {
                if !out.contains(&Removed::Untagged(t.clone())) {
                    out.push(Removed::Untagged(t.clone()));
                }
            }
            let _w = inner.gc_lock.write().await;
            inner.meta.delete_image(&rec.id)?;
            out.push(Removed::Deleted(rec.id.clone()));
            let inner2 = inner.clone();
            crate::pull::blocking(move || inner2.sweep()).await?;
        }
        Ok(out)
    }

    /// Removes every blob and snapshot no image references, and abandoned
    /// partial downloads. Waits for running pulls to finish.
    pub async fn gc(&self) -> Result<GcStats> {
        let _w = self.inner.gc_lock.write().await;
        let inner = self.inner.clone();
        crate::pull::blocking(move || inner.sweep()).await
    }

    /// The parsed config blob of an image.
    pub fn config(&self, image: &Image) -> Result<ImageConfigFile> {
        let bytes = self.inner.content.read_blob(&image.id, manifest::CONFIG_LIMIT)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidContent {
            reference: image.repo_tags.first().cloned().unwrap_or_else(|| image.id.to_string()),
            what: "config",
            digest: image.id.to_string(),
            reason: e.to_string(),
        })
    }

    /// The raw bytes of a stored blob (manifest, config).
    pub fn blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        self.inner.content.read_blob(digest, limit)
    }

    /// Writes `refs` (references or ids) as one archive.
    pub fn save(&self, refs: &[String], w: &mut dyn std::io::Write, format: crate::archive::ArchiveFormat) -> Result<()> {
        crate::archive::save(&self.inner, refs, w, format)
    }

    /// Loads a docker or OCI archive (plain, gzip or zstd); returns the images.
    pub async fn load(&self, input: Box<dyn std::io::Read + Send>, progress: &Progress) -> Result<Vec<Image>> {
        let _g = self.inner.gc_lock.read().await;
        let (inner, pr) = (self.inner.clone(), progress.clone());
        crate::pull::blocking(move || crate::archive::load(&inner, input, &pr)).await
    }

    /// docker import: a rootfs tarball as a one-layer image, tagged
    /// `reference` when given, with `changes` applied to its config.
    pub async fn import(&self, input: Box<dyn std::io::Read + Send>, reference: Option<&str>, changes: &[crate::config::Change]) -> Result<Image> {
        let _g = self.inner.gc_lock.read().await;
        let (inner, r, ch) = (self.inner.clone(), reference.map(str::to_owned), changes.to_vec());
        crate::pull::blocking(move || crate::local::import(&inner, input, r.as_deref(), &ch)).await
    }

    /// Prepares a writable rootfs snapshot `key` on top of the image and
    /// records that the image is in use.
    pub fn prepare_rootfs(&self, image: &Image, key: &str) -> Result<Vec<berth_snapshots::Mount>> {
        let mounts = self
            .inner
            .snapshots
            .prepare_active(key, image.record.top_chain(), false)
            .map_err(|e| Error::Snapshot { key: key.to_owned(), source: Box::new(e) })?;
        self.inner.meta.set_active(key, &image.id)?;
        Ok(mounts)
    }

    /// docker commit: a new image from the changes in the container rootfs
    /// `key` (made by [`Self::prepare_rootfs`]) on top of its image.
    pub async fn commit_container(&self, key: &str, reference: Option<&str>, changes: &[crate::config::Change], comment: Option<&str>) -> Result<Image> {
        let _g = self.inner.gc_lock.read().await;
        let (inner, k, r, ch, c) = (self.inner.clone(), key.to_owned(), reference.map(str::to_owned), changes.to_vec(), comment.map(str::to_owned));
        crate::pull::blocking(move || crate::local::commit_container(&inner, &k, r.as_deref(), &ch, c.as_deref())).await
    }

    /// Removes a container rootfs snapshot prepared by [`Self::prepare_rootfs`].
    pub fn remove_rootfs(&self, key: &str) -> Result<()> {
        match self.inner.snapshots.remove(key) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::Snapshot { key: key.to_owned(), source: Box::new(e) }),
        }
        self.inner.meta.remove_active(key)?;
        Ok(())
    }
}
