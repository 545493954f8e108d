//! Image metadata in one redb database (`metadata.redb`): image records,
//! tags, repo digests and which containers use which image.
//!
//! redb takes an exclusive lock on the file, so one process at a time owns a
//! store root; a second one gets a clear "database already open" error.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::Descriptor;
use crate::platform::Platform;

/// image id (config digest) -> json [`ImageRecord`]
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
/// `registry/repo:tag` -> image id
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");
/// `registry/repo@sha256:..` -> image id
const DIGESTS: TableDefinition<&str, &str> = TableDefinition::new("digests");
/// active snapshot key of a container rootfs -> image id
const ACTIVE: TableDefinition<&str, &str> = TableDefinition::new("active");

/// What the store knows about an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest, docker's image id.
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub config_media_type: String,
    /// The index (manifest list) the manifest was chosen from, if any.
    #[serde(default)]
    pub index_digest: Option<Digest>,
    /// Compressed layer descriptors, as in the manifest.
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
    /// Snapshot names (chain ids) of each layer, bottom first.
    pub chain_ids: Vec<String>,
    pub platform: Platform,
    pub created: Option<String>,
    /// Seconds since the epoch when the record was written.
    pub added: u64,
    /// Sum of the compressed layer sizes plus config.
    pub size: u64,
}

impl ImageRecord {
    /// The chain id of the top layer: the snapshot a container's rootfs sits on.
    pub fn top_chain(&self) -> Option<&str> {
        self.chain_ids.last().map(String::as_str)
    }
}

#[derive(Debug)]
pub struct MetadataDb {
    db: Database,
    path: PathBuf,
}

impl MetadataDb {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(Error::db(path))?;
        let me = Self { db, path: path.to_owned() };
        let tx = me.db.begin_write().map_err(me.e())?;
        {
            tx.open_table(IMAGES).map_err(me.e())?;
            tx.open_table(TAGS).map_err(me.e())?;
            tx.open_table(DIGESTS).map_err(me.e())?;
            tx.open_table(ACTIVE).map_err(me.e())?;
        }
        tx.commit().map_err(me.e())?;
        Ok(me)
    }

    fn e<E: Into<crate::error::redb_any::AnyDbError>>(&self) -> impl FnOnce(E) -> Error + use<E> {
        Error::db(self.path.clone())
    }

    fn decode(&self, bytes: &[u8]) -> Result<ImageRecord> {
        serde_json::from_slice(bytes).map_err(|e| Error::Db { path: self.path.clone(), source: Box::new(e) })
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>> {
        let tx = self.db.begin_read().map_err(self.e())?;
        let t = tx.open_table(IMAGES).map_err(self.e())?;
        match t.get(id.to_string().as_str()).map_err(self.e())? {
            Some(v) => Ok(Some(self.decode(v.value())?)),
            None => Ok(None),
        }
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let tx = self.db.begin_read().map_err(self.e())?;
        let t = tx.open_table(IMAGES).map_err(self.e())?;
        let mut out = Vec::new();
        for item in t.iter().map_err(self.e())? {
            let (_, v) = item.map_err(self.e())?;
            out.push(self.decode(v.value())?);
        }
        Ok(out)
    }

    fn pairs(&self, def: TableDefinition<&str, &str>) -> Result<Vec<(String, String)>> {
        let tx = self.db.begin_read().map_err(self.e())?;
        let t = tx.open_table(def).map_err(self.e())?;
        let mut out = Vec::new();
        for item in t.iter().map_err(self.e())? {
            let (k, v) = item.map_err(self.e())?;
            out.push((k.value().to_owned(), v.value().to_owned()));
        }
        Ok(out)
    }

    /// Every (tag, image id).
    pub fn tags(&self) -> Result<Vec<(String, String)>> {
        self.pairs(TAGS)
    }
    /// Every (repo digest, image id).
    pub fn repo_digests(&self) -> Result<Vec<(String, String)>> {
        self.pairs(DIGESTS)
    }
    /// Every (container key, image id).
    pub fn active(&self) -> Result<Vec<(String, String)>> {
        self.pairs(ACTIVE)
    }

    pub fn tag_target(&self, name: &str) -> Result<Option<String>> {
        self.lookup(TAGS, name)
    }
    pub fn digest_target(&self, name: &str) -> Result<Option<String>> {
        self.lookup(DIGESTS, name)
    }
    pub fn active_image(&self, key: &str) -> Result<Option<String>> {
        self.lookup(ACTIVE, key)
    }

    fn lookup(&self, def: TableDefinition<&str, &str>, k: &str) -> Result<Option<String>> {
        let tx = self.db.begin_read().map_err(self.e())?;
        let t = tx.open_table(def).map_err(self.e())?;
        Ok(t.get(k).map_err(self.e())?.map(|v| v.value().to_owned()))
    }

    /// Records an image with its tag and repo digest in one transaction.
    pub fn put_image(&self, rec: &ImageRecord, tag: Option<&str>, repo_digest: Option<&str>) -> Result<()> {
        let json = serde_json::to_vec(rec).map_err(|e| Error::Db { path: self.path.clone(), source: Box::new(e) })?;
        let id = rec.id.to_string();
        let tx = self.db.begin_write().map_err(self.e())?;
        {
            tx.open_table(IMAGES).map_err(self.e())?.insert(id.as_str(), json.as_slice()).map_err(self.e())?;
            if let Some(tag) = tag {
                tx.open_table(TAGS).map_err(self.e())?.insert(tag, id.as_str()).map_err(self.e())?;
            }
            if let Some(d) = repo_digest {
                tx.open_table(DIGESTS).map_err(self.e())?.insert(d, id.as_str()).map_err(self.e())?;
            }
        }
        tx.commit().map_err(self.e())
    }

    pub fn set_tag(&self, tag: &str, id: &Digest) -> Result<()> {
        self.set(TAGS, tag, &id.to_string())
    }

    pub fn set_active(&self, key: &str, id: &Digest) -> Result<()> {
        self.set(ACTIVE, key, &id.to_string())
    }

    fn set(&self, def: TableDefinition<&str, &str>, k: &str, v: &str) -> Result<()> {
        let tx = self.db.begin_write().map_err(self.e())?;
        tx.open_table(def).map_err(self.e())?.insert(k, v).map_err(self.e())?;
        tx.commit().map_err(self.e())
    }

    pub fn remove_tag(&self, tag: &str) -> Result<bool> {
        self.remove(TAGS, tag)
    }
    pub fn remove_repo_digest(&self, d: &str) -> Result<bool> {
        self.remove(DIGESTS, d)
    }
    pub fn remove_active(&self, key: &str) -> Result<bool> {
        self.remove(ACTIVE, key)
    }

    fn remove(&self, def: TableDefinition<&str, &str>, k: &str) -> Result<bool> {
        let tx = self.db.begin_write().map_err(self.e())?;
        let existed = tx.open_table(def).map_err(self.e())?.remove(k).map_err(self.e())?.is_some();
        tx.commit().map_err(self.e())?;
        Ok(existed)
    }

    /// Deletes an image record and every tag and repo digest pointing at it.
    pub fn delete_image(&self, id: &Digest) -> Result<()> {
        let id_s = id.to_string();
        let tx = self.db.begin_write().map_err(self.e())?;
        {
            tx.open_table(IMAGES).map_err(self.e())?.remove(id_s.as_str()).map_err(self.e())?;
            for def in [TAGS, DIGESTS] {
                let mut t = tx.open_table(def).map_err(self.e())?;
                t.retain(|_, v| v != id_s).map_err(self.e())?;
            }
        }
        tx.commit().map_err(self.e())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u8) -> ImageRecord {
        let d = Digest::of(&[n]);
        ImageRecord {
            id: d.clone(),
            manifest_digest: d.clone(),
            manifest_media_type: crate::manifest::OCI_MANIFEST.into(),
            config_media_type: crate::manifest::OCI_CONFIG.into(),
            index_digest: None,
            layers: vec![],
            diff_ids: vec![],
            chain_ids: vec![],
            platform: Platform::host(),
            created: None,
            added: 0,
            size: 0,
        }
    }

    #[test]
    fn images_tags_and_removal() {
        let t = tempfile::tempdir().unwrap();
        let db = MetadataDb::open(&t.path().join("m.redb")).unwrap();
        let a = rec(1);
        db.put_image(&a, Some("docker.io/library/a:latest"), Some("docker.io/library/a@x")).unwrap();
        db.set_tag("docker.io/library/a:v2", &a.id).unwrap();
        assert_eq!(db.image(&a.id).unwrap().unwrap(), a);
        assert_eq!(db.tags().unwrap().len(), 2);
        assert!(db.remove_tag("docker.io/library/a:v2").unwrap());
        assert!(!db.remove_tag("docker.io/library/a:v2").unwrap());
        db.delete_image(&a.id).unwrap();
        assert!(db.image(&a.id).unwrap().is_none());
        assert!(db.tags().unwrap().is_empty() && db.repo_digests().unwrap().is_empty());
        drop(db);
        // reopen keeps tables
        let db = MetadataDb::open(&t.path().join("m.redb")).unwrap();
        assert!(db.images().unwrap().is_empty());
    }
}
