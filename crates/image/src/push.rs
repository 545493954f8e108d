//! Push: blobs first (skipping those the registry has, mounting those another
//! repository of the same registry has), then the manifest under the tag.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest;
use crate::progress::{Event, Progress, short_id};
use crate::reference::Reference;
use crate::registry::{Auth, Mount, Repo};
use crate::store::Inner;

/// Blobs up to this size go in one PUT; larger ones in chunks of this size.
pub const CHUNK: u64 = 16 << 20;

pub(crate) async fn push(inner: &Arc<Inner>, reference: &str, auth: &Auth, progress: &Progress) -> Result<Digest> {
    let r = Reference::parse(reference)?;
    let rs = r.to_string();
    let rec = inner.lookup(reference)?;
    let repo = inner.client.endpoints(&r, true, auth).await?.into_iter().next().ok_or_else(|| Error::ImageNotFound(rs.clone()))?;
    // Other repositories of this registry known to hold this image's blobs.
    let id_s = rec.id.to_string();
    let mut sources: Vec<String> = Vec::new();
    for (name, target) in inner.meta.tags()?.into_iter().chain(inner.meta.repo_digests()?) {
        if target != id_s {
            continue;
        }
        let base = name.split('@').next().unwrap_or(&name);
        if let Ok(other) = Reference::parse(base)
            && other.registry() == r.registry() && other.repository() != r.repository() && !sources.contains(&other.repository().to_owned()) {
                sources.push(other.repository().to_owned());
            }
    }
    // A token for a cross-repository mount must also allow pulling the source.
    let mut repo = repo;
    if let Some(from) = sources.first() {
        repo.scopes.push(format!("repository:{from}:pull"));
    }
    let mut blobs: Vec<(Digest, u64)> = rec.layers.iter().map(|l| (l.digest.clone(), l.size)).collect();
    let config_size = inner.content.size(&rec.id)?.ok_or_else(|| Error::BlobNotFound { digest: rec.id.clone() })?;
    blobs.push((rec.id.clone(), config_size));
    // Blobs go up in parallel (docker: 5 at once); the manifest only after all.
    let sem = Arc::new(tokio::sync::Semaphore::new(5));
    let mut tasks = tokio::task::JoinSet::new();
    for (d, size) in blobs {
        let (inner, repo, sources, progress, sem) = (inner.clone(), repo.clone(), sources.clone(), progress.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire().await.map_err(|_| Error::Cancelled("upload slots closed".into()))?;
            push_blob(&inner, &repo, &d, size, &sources, &progress).await
        });
    }
    let mut first = None;
    while let Some(res) = tasks.join_next().await {
        let res = res.unwrap_or_else(|e| Err(Error::Cancelled(format!("upload task of {rs}: {e}"))));
        if let (Err(e), None) = (res, &first) {
            first = Some(e);
            tasks.abort_all();
        }
    }
    if let Some(e) = first {
        return Err(e);
    }
    let bytes = inner.content.read_blob(&rec.manifest_digest, manifest::MANIFEST_LIMIT)?;
    let tag = r.digest().map(|d| d.to_string()).or_else(|| r.tag().map(str::to_owned)).unwrap_or_else(|| "latest".into());
    inner.client.put_manifest(&repo, &tag, &rec.manifest_media_type, Bytes::from(bytes)).await?;
    inner.meta.put_image(&rec, None, Some(&format!("{}@{}", r.name(), rec.manifest_digest)))?;
    progress.emit(Event::Complete { reference: rs, digest: rec.manifest_digest.clone() });
    Ok(rec.manifest_digest)
}

async fn push_blob(inner: &Arc<Inner>, repo: &Repo, d: &Digest, size: u64, sources: &[String], progress: &Progress) -> Result<()> {
    let id = short_id(d);
    if inner.client.blob_exists(repo, d).await? {
        progress.emit(Event::AlreadyExists { id });
        return Ok(());
    }
    // One mount attempt: a refused mount opens an upload session, used below.
    let mut location = None;
    if let Some(from) = sources.first() {
        match inner.client.mount_blob(repo, d, from).await? {
            Mount::Mounted => {
                progress.emit(Event::Mounted { id, from: from.clone() });
                return Ok(());
            }
            Mount::Upload(loc) => location = Some(loc),
        }
    }
    let mut location = match location {
        Some(l) => l,
        None => inner.client.start_upload(repo).await?,
    };
    let path = inner.content.blob_path(d);
    let mut file = inner.content.open_blob(d)?;
    let mut read_chunk = |n: u64| -> Result<Bytes> {
        let mut buf = Vec::with_capacity(n as usize);
        Read::by_ref(&mut file).take(n).read_to_end(&mut buf).map_err(Error::io(&path))?;
        if buf.len() as u64 != n {
            return Err(Error::SizeMismatch { reference: repo.reference.clone(), digest: d.clone(), expected: size, actual: buf.len() as u64 });
        }
        Ok(Bytes::from(buf))
    };
    if size <= CHUNK {
        let data = read_chunk(size)?;
        inner.client.finish_upload(repo, &location, d, data).await?;
    } else {
        let mut sent = 0u64;
        while sent < size {
            let n = CHUNK.min(size - sent);
            let data = read_chunk(n)?;
            location = inner.client.patch_chunk(repo, &location, sent, data).await?;
            sent += n;
            progress.emit(Event::Pushing { id: id.clone(), current: sent, total: size });
        }
        inner.client.finish_upload(repo, &location, d, Bytes::new()).await?;
    }
    progress.emit(Event::Done { id });
    Ok(())
}
