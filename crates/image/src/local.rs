//! Images made locally: `import` of a rootfs tarball, and recording images
//! whose blobs are already in the content store (load, import).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use crate::config::{Change, History, ImageConfig, ImageConfigFile, RootFs};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::manifest::{self, Compression, Descriptor, Manifest};
use crate::metadata::ImageRecord;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{Image, Inner};

/// Wraps a reader in the decompressor its first bytes call for.
pub(crate) fn decompressed<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut b = BufReader::with_capacity(1 << 20, r);
    let head = b.fill_buf()?;
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(b)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(b)?),
        Compression::None => Box::new(b),
    })
}

/// Writes config and manifest blobs for local layers and records the image.
pub(crate) fn record_image(
    inner: &Arc<Inner>,
    config_bytes: &[u8],
    manifest_bytes: Option<(&[u8], &str)>,
    layers: Vec<Descriptor>,
    diff_ids: Vec<Digest>,
    chain_ids: Vec<String>,
    tags: &[String],
) -> Result<Image> {
    let config_digest = inner.content.write_blob("local image", config_bytes, None)?;
    let cfg: ImageConfigFile = serde_json::from_slice(config_bytes).map_err(|e| Error::InvalidContent {
        reference: "local image".into(),
        what: "config",
        digest: config_digest.to_string(),
        reason: e.to_string(),
    })?;
    let (mbytes, mt) = match manifest_bytes {
        Some((b, mt)) => (b.to_vec(), mt.to_owned()),
        None => {
            let m = Manifest {
                schema_version: 2,
                media_type: Some(manifest::OCI_MANIFEST.into()),
                config: Descriptor::new(manifest::OCI_CONFIG, config_digest.clone(), config_bytes.len() as u64),
                layers: layers.clone(),
                annotations: None,
            };
            let b = serde_json::to_vec(&m).map_err(|e| Error::InvalidArgument(format!("encoding manifest: {e}")))?;
            (b, manifest::OCI_MANIFEST.to_owned())
        }
    };
    let manifest_digest = inner.content.write_blob("local image", &mbytes, None)?;
    let size = config_bytes.len() as u64 + layers.iter().map(|l| l.size).sum::<u64>();
    let rec = ImageRecord {
        id: config_digest,
        manifest_digest,
        manifest_media_type: mt,
        config_media_type: manifest::OCI_CONFIG.into(),
        index_digest: None,
        layers,
        diff_ids,
        chain_ids,
        platform: Platform { os: cfg.os.clone(), architecture: cfg.architecture.clone(), variant: cfg.variant.clone(), os_version: None, os_features: None },
        created: cfg.created.clone(),
        added: crate::store::now(),
        size,
    };
    inner.meta.put_image(&rec, None, None)?;
    for t in tags {
        inner.meta.set_tag(t, &rec.id)?;
    }
    inner.image_from_record(rec)
}

/// docker import: one uncompressed layer (stored as an OCI `tar` layer whose
/// digest is its diff id), a config made from `changes`.
pub(crate) fn import(inner: &Arc<Inner>, input: Box<dyn Read + Send>, reference: Option<&str>, changes: &[Change]) -> Result<Image> {
    let tag = reference.map(Reference::parse).transpose()?.map(|r| r.to_string());
    let what = reference.unwrap_or("imported rootfs").to_owned();
    let input = decompressed(input).map_err(|e| Error::InvalidArgument(format!("reading {what}: {e}")))?;
    let (layer, diff_id, chain) = add_layer(inner, input, None, &what)?;
    let mut cc = ImageConfig::default();
    for c in changes {
        c.apply(&mut cc);
    }
    let host = Platform::host();
    let now = String::from(berth_time::Timestamp::now().rfc3339());
    let cfg = ImageConfigFile {
        created: Some(now.clone()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: Some(cc),
        rootfs: RootFs { kind: "layers".into(), diff_ids: vec![diff_id.clone()] },
        history: vec![History { created: Some(now), created_by: Some("berth import".into()), comment: Some(format!("Imported from {what}")), ..Default::default() }],
        ..Default::default()
    };
    let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| Error::InvalidArgument(format!("encoding config: {e}")))?;
    record_image(inner, &cfg_bytes, None, vec![layer], vec![diff_id], vec![chain], tag.as_slice())
}

/// Stores an uncompressed layer tar as a blob while unpacking it on top of
/// `parent` (a chain id); returns its descriptor, diff id and chain id.
fn add_layer(inner: &Arc<Inner>, input: Box<dyn Read + '_>, parent: Option<&str>, what: &str) -> Result<(Descriptor, Digest, String)> {
    let mut tee = Tee { inner: input, out: inner.content.begin_unknown()?, hasher: Hasher::new(), err: None };
    let w = inner.snapshots.prepare_layer(parent).map_err(|e| Error::Snapshot { key: format!("layer of {what}"), source: Box::new(e) })?;
    let applied = berth_snapshots::Snapshotter::apply_tar(&w, &mut tee);
    if let Some(e) = tee.err.take() {
        return Err(e);
    }
    applied.map_err(|e| Error::Snapshot { key: format!("layer of {what}"), source: Box::new(e) })?;
    io::copy(&mut tee, &mut io::sink()).map_err(|e| Error::InvalidArgument(format!("reading {what}: {e}")))?;
    if let Some(e) = tee.err.take() {
        return Err(e);
    }
    let Tee { out, hasher, .. } = tee;
    let diff_id = hasher.finish();
    let (blob, size) = out.finish()?;
    let chain = match parent {
        None => diff_id.to_string(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()).to_string(),
    };
    match inner.snapshots.commit(w, &chain) {
        Ok(()) => {}
        Err(e) if e.is_already_exists() => {}
        Err(e) => return Err(Error::Snapshot { key: chain, source: Box::new(e) }),
    }
    Ok((Descriptor::new(manifest::OCI_LAYER_TAR, blob, size), diff_id, chain))
}

/// docker commit: the container rootfs' changes (the snapshotter's diff of
/// `key`) become a new layer on top of the image the rootfs was made from.
pub(crate) fn commit_container(inner: &Arc<Inner>, key: &str, reference: Option<&str>, changes: &[Change], comment: Option<&str>) -> Result<Image> {
    let tag = reference.map(Reference::parse).transpose()?.map(|r| r.to_string());
    let parent_id = inner.meta.active_image(key)?.ok_or_else(|| Error::InvalidArgument(format!("{key} is not a container rootfs prepared from an image")))?;
    let parent = inner.lookup(&parent_id)?;
    let cfg_bytes = inner.content.read_blob(&parent.id, manifest::CONFIG_LIMIT)?;
    let mut cfg: ImageConfigFile = serde_json::from_slice(&cfg_bytes).map_err(|e| Error::InvalidContent {
        reference: parent_id.clone(),
        what: "config",
        digest: parent.id.to_string(),
        reason: e.to_string(),
    })?;
    let diff = inner.snapshots.diff(key).map_err(|e| Error::Snapshot { key: key.to_owned(), source: Box::new(e) })?;
    let what = format!("container rootfs {key}");
    let (layer, diff_id, chain) = add_layer(inner, Box::new(diff), parent.top_chain(), &what)?;
    let now = String::from(berth_time::Timestamp::now().rfc3339());
    let cc = cfg.config.get_or_insert_with(ImageConfig::default);
    for c in changes {
        c.apply(cc);
    }
    cfg.created = Some(now.clone());
    cfg.rootfs.diff_ids.push(diff_id);
    cfg.history.push(History { created: Some(now), created_by: Some("berth commit".into()), comment: comment.map(str::to_owned), ..Default::default() });
    let bytes = serde_json::to_vec(&cfg).map_err(|e| Error::InvalidArgument(format!("encoding config: {e}")))?;
    let mut layers = parent.layers.clone();
    layers.push(layer);
    let mut chains = parent.chain_ids.clone();
    chains.push(chain);
    record_image(inner, &bytes, None, layers, cfg.rootfs.diff_ids.clone(), chains, tag.as_slice())
}

/// Copies what it reads into a content-store blob while hashing it.
struct Tee<R> {
    inner: R,
    out: crate::content::TempIngest,
    hasher: Hasher,
    err: Option<Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let msg = e.to_string();
            self.err = Some(e);
            return Err(io::Error::other(msg));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
