//! `docker save` / `docker load` archives.
//!
//! Save writes one tar that is both an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/*`) and, for [`ArchiveFormat::Docker`],
//! docker's `manifest.json` + `repositories` pointing at the same blobs —
//! what `docker save` has written since 25.0 and what `docker load` accepts.
//!
//! Load never extracts the archive to disk by path: every regular file is
//! streamed into the content store (named by its own digest), symlinks and
//! hard links become aliases checked to stay inside the archive, and the
//! manifests are then resolved through that map. Entries with absolute or
//! `..` paths, links pointing outside, or device nodes are refused.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::ImageConfigFile;
use crate::digest::{Digest, truncate};
use crate::error::{Error, Result};
use crate::local::{decompressed, record_image};
use crate::manifest::{self, Compression, Descriptor, Parsed};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::store::{Image, Inner};

/// Which archive layout `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI layout plus docker's `manifest.json` and `repositories`.
    Docker,
    /// OCI image layout only.
    Oci,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

fn header(path: &str, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| Error::InvalidArgument(format!("archive path {path}: {e}")))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

pub(crate) fn save(inner: &Arc<Inner>, refs: &[String], w: &mut dyn Write, format: ArchiveFormat) -> Result<()> {
    let werr = |e: std::io::Error| Error::Io { path: "save archive".into(), source: e };
    let mut b = tar::Builder::new(w);
    let mut written: std::collections::HashSet<Digest> = Default::default();
    let mut index_entries = Vec::new();
    let mut docker_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut dir_done = false;
    for r in refs {
        let rec = inner.lookup(r)?;
        let named = Reference::parse(r).ok().filter(|p| p.digest().is_none() && inner.meta.tag_target(&p.to_string()).ok().flatten().is_some());
        let mut blobs: Vec<Digest> = vec![rec.manifest_digest.clone(), rec.id.clone()];
        blobs.extend(rec.layers.iter().map(|l| l.digest.clone()));
        if !dir_done {
            for dir in ["blobs/", "blobs/sha256/"] {
                let mut h = tar::Header::new_ustar();
                h.set_path(dir).map_err(werr)?;
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                h.set_cksum();
                b.append(&h, std::io::empty()).map_err(werr)?;
            }
            dir_done = true;
        }
        for d in &blobs {
            if !written.insert(d.clone()) {
                continue;
            }
            let size = inner.content.size(d)?.ok_or_else(|| Error::BlobNotFound { digest: d.clone() })?;
            let f = inner.content.open_blob(d)?;
            b.append(&header(&format!("blobs/sha256/{}", d.hex()), size)?, f).map_err(werr)?;
        }
        let msize = inner.content.size(&rec.manifest_digest)?.unwrap_or(0);
        let mut desc = Descriptor::new(&rec.manifest_media_type, rec.manifest_digest.clone(), msize);
        if let Some(n) = &named {
            let mut ann = BTreeMap::new();
            ann.insert(CONTAINERD_NAME.to_owned(), n.to_string());
            ann.insert(REF_NAME.to_owned(), n.tag().unwrap_or("latest").to_owned());
            desc.annotations = Some(ann);
        }
        index_entries.push(desc);
        let tags: Vec<String> = named.iter().map(|n| n.familiar()).collect();
        if let Some(n) = &named {
            let fam = n.familiar();
            let repo = fam.rsplit_once(':').map_or(fam.as_str(), |(a, _)| a).to_owned();
            if let Some(top) = rec.layers.last() {
                repositories.entry(repo).or_default().insert(n.tag().unwrap_or("latest").to_owned(), top.digest.hex().to_owned());
            }
        }
        docker_entries.push(DockerManifestEntry {
            config: format!("blobs/sha256/{}", rec.id.hex()),
            repo_tags: Some(tags),
            layers: rec.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect(),
        });
    }
    let index = manifest::Index { schema_version: 2, media_type: Some(manifest::OCI_INDEX.into()), manifests: index_entries, annotations: None };
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", serde_json::to_vec(&index).map_err(|e| Error::InvalidArgument(e.to_string()))?),
    ];
    if format == ArchiveFormat::Docker {
        files.push(("manifest.json", serde_json::to_vec(&docker_entries).map_err(|e| Error::InvalidArgument(e.to_string()))?));
        files.push(("repositories", serde_json::to_vec(&repositories).map_err(|e| Error::InvalidArgument(e.to_string()))?));
    }
    for (name, data) in files {
        b.append(&header(name, data.len() as u64)?, data.as_slice()).map_err(werr)?;
    }
    b.into_inner().map_err(werr)?.flush().map_err(werr)?;
    Ok(())
}

/// Normalises an archive path: relative, no `..`, no empty components.
fn clean_path(entry: &str) -> Result<String> {
    let bad = |reason: &str| Error::InvalidArchive { entry: truncate(entry), reason: reason.to_owned() };
    if entry.starts_with('/') {
        return Err(bad("absolute path"));
    }
    let mut parts = Vec::new();
    for c in entry.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("path with '..' escapes the archive")),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a link target lexically from `base_dir`, refusing escapes.
fn resolve_link(entry: &str, base_dir: &str, target: &str) -> Result<String> {
    let bad = || Error::InvalidArchive { entry: truncate(entry), reason: format!("link to {} points outside the archive", truncate(target)) };
    if target.starts_with('/') {
        return Err(bad());
    }
    let mut parts: Vec<&str> = if base_dir.is_empty() { vec![] } else { base_dir.split('/').collect() };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad());
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

pub(crate) fn load(inner: &Arc<Inner>, input: Box<dyn Read + Send>, progress: &Progress) -> Result<Vec<Image>> {
    let rerr = |e: std::io::Error| Error::InvalidArchive { entry: "<archive>".into(), reason: e.to_string() };
    let mut ar = tar::Archive::new(decompressed(input).map_err(rerr)?);
    let mut files: HashMap<String, Digest> = HashMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for entry in ar.entries().map_err(rerr)? {
        let mut entry = entry.map_err(rerr)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = clean_path(&raw)?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (d, _) = inner.content.write_stream(&mut entry)?;
                files.insert(path, d);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                let resolved = if kind == tar::EntryType::Symlink {
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                    resolve_link(&raw, dir, &target)?
                } else {
                    resolve_link(&raw, "", &target)?
                };
                links.push((path, resolved));
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {}
            other => {
                return Err(Error::InvalidArchive { entry: truncate(&raw), reason: format!("unexpected entry type {other:?}") });
            }
        }
    }
    for _ in 0..8 {
        for (p, t) in &links {
            if let Some(d) = files.get(t).cloned() {
                files.entry(p.clone()).or_insert(d);
            }
        }
    }
    let get = |path: &str| -> Result<Digest> {
        let p = clean_path(path)?;
        files.get(&p).cloned().ok_or_else(|| Error::InvalidArchive { entry: truncate(path), reason: "referenced but missing from the archive".into() })
    };
    let small = |d: &Digest, what: &str| -> Result<Vec<u8>> {
        inner.content.read_blob(d, manifest::MANIFEST_LIMIT.max(manifest::CONFIG_LIMIT)).map_err(|_| Error::InvalidArchive { entry: what.to_owned(), reason: "too large".into() })
    };
    let mut out = Vec::new();
    if let Some(md) = files.get("manifest.json").cloned() {
        let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&small(&md, "manifest.json")?)
            .map_err(|e| Error::InvalidArchive { entry: "manifest.json".into(), reason: e.to_string() })?;
        for e in entries {
            let cd = get(&e.config)?;
            let cfg_bytes = small(&cd, &e.config)?;
            let cfg: ImageConfigFile = serde_json::from_slice(&cfg_bytes).map_err(|x| Error::InvalidArchive { entry: e.config.clone(), reason: x.to_string() })?;
            if cfg.rootfs.diff_ids.len() != e.layers.len() {
                return Err(Error::InvalidArchive { entry: e.config.clone(), reason: format!("{} diff_ids for {} layers", cfg.rootfs.diff_ids.len(), e.layers.len()) });
            }
            let mut layers = Vec::new();
            for l in &e.layers {
                let d = get(l)?;
                let size = inner.content.size(&d)?.unwrap_or(0);
                let mut head = [0u8; 4];
                let n = inner.content.open_blob(&d)?.read(&mut head).unwrap_or(0);
                let mt = match Compression::sniff(&head[..n]) {
                    Compression::Gzip => manifest::OCI_LAYER_GZIP,
                    Compression::Zstd => manifest::OCI_LAYER_ZSTD,
                    Compression::None => manifest::OCI_LAYER_TAR,
                };
                layers.push(Descriptor::new(mt, d, size));
            }
            let tags: Vec<String> = e.repo_tags.unwrap_or_default().iter().map(|t| Reference::parse(t).map(|r| r.to_string())).collect::<Result<_>>()?;
            let name = tags.first().cloned().unwrap_or_else(|| cd.to_string());
            let chains = crate::pull::unpack_local(inner, &name, &layers, &cfg.rootfs.diff_ids, progress)?;
            out.push(record_image(inner, &cfg_bytes, None, layers, cfg.rootfs.diff_ids.clone(), chains, &tags)?);
        }
        return Ok(out);
    }
    let Some(idx_d) = files.get("index.json").cloned() else {
        return Err(Error::InvalidArchive { entry: "<archive>".into(), reason: "neither manifest.json nor index.json found".into() });
    };
    let idx_bytes = small(&idx_d, "index.json")?;
    let index = match manifest::parse("index.json", &idx_d.to_string(), Some(manifest::OCI_INDEX), &idx_bytes)? {
        Parsed::Index { index, .. } => index,
        Parsed::Manifest { .. } => return Err(Error::InvalidArchive { entry: "index.json".into(), reason: "not an image index".into() }),
    };
    let blob = |d: &Digest| -> Result<Digest> {
        let got = get(&format!("blobs/sha256/{}", d.hex()))?;
        if got != *d {
            return Err(Error::DigestMismatch { reference: format!("archive entry blobs/sha256/{}", d.hex()), expected: d.clone(), actual: got });
        }
        Ok(got)
    };
    for desc in &index.manifests {
        let name = desc.annotations.as_ref().and_then(|a| a.get(CONTAINERD_NAME).or(a.get(REF_NAME))).and_then(|n| Reference::parse(n).ok());
        let label = name.as_ref().map_or_else(|| desc.digest.to_string(), |n| n.to_string());
        let mut md = blob(&desc.digest)?;
        let mut mbytes = small(&md, &label)?;
        let mut parsed = manifest::parse(&label, &md.to_string(), Some(&desc.media_type), &mbytes)?;
        if let Parsed::Index { index: inner_idx, .. } = &parsed {
            let pick = manifest::select(&label, inner_idx, &Platform::host())?.clone();
            md = blob(&pick.digest)?;
            mbytes = small(&md, &label)?;
            parsed = manifest::parse(&label, &md.to_string(), Some(&pick.media_type), &mbytes)?;
        }
        let Parsed::Manifest { media_type, manifest: m } = parsed else {
            return Err(Error::InvalidArchive { entry: label, reason: "nested index".into() });
        };
        blob(&m.config.digest)?;
        let cfg_bytes = small(&m.config.digest, &label)?;
        let cfg: ImageConfigFile = serde_json::from_slice(&cfg_bytes).map_err(|x| Error::InvalidArchive { entry: format!("config of {label}"), reason: x.to_string() })?;
        for l in &m.layers {
            blob(&l.digest)?;
        }
        if cfg.rootfs.diff_ids.len() != m.layers.len() {
            return Err(Error::InvalidArchive { entry: label, reason: "diff_ids do not match layers".into() });
        }
        let chains = crate::pull::unpack_local(inner, &label, &m.layers, &cfg.rootfs.diff_ids, progress)?;
        let tags: Vec<String> = name.iter().filter(|n| n.digest().is_none()).map(|n| n.to_string()).collect();
        out.push(record_image(inner, &cfg_bytes, Some((&mbytes, &media_type)), m.layers.clone(), cfg.rootfs.diff_ids.clone(), chains, &tags)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links() {
        assert_eq!(clean_path("./blobs//sha256/x").unwrap(), "blobs/sha256/x");
        assert!(clean_path("../x").is_err());
        assert!(clean_path("a/../../x").is_err());
        assert!(clean_path("/etc/passwd").is_err());
        assert_eq!(resolve_link("a/l", "a", "../b/layer.tar").unwrap(), "b/layer.tar");
        assert!(resolve_link("a/l", "a", "../../etc/passwd").is_err());
        assert!(resolve_link("l", "", "/etc/passwd").is_err());
    }
}
