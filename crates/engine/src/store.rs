//! The engine's metadata database (`<data_root>/engine.redb`): container
//! records and the name index, named volumes.
//!
//! berth-image keeps its own `metadata.redb` (redb locks a file per
//! process, and the image store is a library of its own); both live under
//! the same data root and are opened by the one daemon.
//!
//! Durability: creating, renaming and removing a container, and volume
//! changes, are committed durably (fsync). State changes (started, exited)
//! are committed without fsync: after a host crash the last durable record
//! is read back and live restore re-derives the state from the shim and
//! its `exit.json`, so nothing depends on them surviving.

use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// container id -> json record
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// container name (without `/`) -> container id
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("names");
/// volume name -> json record
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");

#[derive(Debug)]
pub(crate) struct Db {
    db: Database,
    path: PathBuf,
}

/// How hard a commit must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    Durable,
    Lazy,
}

impl Db {
    pub(crate) fn open(path: &Path) -> Result<Db> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Unavailable {
                what: format!("metadata database {}", path.display()),
                detail: "already open by another berthd (one daemon per data root)".into(),
            },
            e => Error::db(path)(e),
        })?;
        let me = Db { db, path: path.to_owned() };
        me.write(Sync::Durable, |tx| {
            tx.open_table(CONTAINERS)?;
            tx.open_table(NAMES)?;
            tx.open_table(VOLUMES)?;
            Ok(())
        })?;
        Ok(me)
    }

    fn write<T>(&self, sync: Sync, f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>) -> Result<T> {
        let p = &self.path;
        let mut tx = self.db.begin_write().map_err(Error::db(p))?;
        if sync == Sync::Lazy {
            tx.set_durability(Durability::None).map_err(Error::db(p))?;
        }
        let out = f(&tx).map_err(Error::db(p))?;
        tx.commit().map_err(Error::db(p))?;
        Ok(out)
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("corrupt {what} record in {}: {e}", self.path.display())))
    }

    fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(v).map_err(|e| Error::Internal(format!("encoding a record: {e}")))
    }

    /// Inserts a new container and its name, failing with the id holding the
    /// name when it is taken.
    pub(crate) fn insert_container<T: Serialize>(&self, id: &str, name: &str, rec: &T) -> Result<Result<(), String>> {
        let bytes = Self::encode(rec)?;
        self.write(Sync::Durable, |tx| {
            let mut names = tx.open_table(NAMES)?;
            if let Some(holder) = names.get(name)? {
                return Ok(Err(holder.value().to_owned()));
            }
            names.insert(name, id)?;
            tx.open_table(CONTAINERS)?.insert(id, bytes.as_slice())?;
            Ok(Ok(()))
        })
    }

    pub(crate) fn put_container<T: Serialize>(&self, id: &str, rec: &T, sync: Sync) -> Result<()> {
        let bytes = Self::encode(rec)?;
        self.write(sync, |tx| {
            tx.open_table(CONTAINERS)?.insert(id, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Moves `old` to `new` in the name index and stores the record, or
    /// returns the id holding `new`.
    pub(crate) fn rename_container<T: Serialize>(&self, id: &str, old: &str, new: &str, rec: &T) -> Result<Result<(), String>> {
        let bytes = Self::encode(rec)?;
        self.write(Sync::Durable, |tx| {
            let mut names = tx.open_table(NAMES)?;
            if let Some(holder) = names.get(new)? {
                return Ok(Err(holder.value().to_owned()));
            }
            names.remove(old)?;
            names.insert(new, id)?;
            tx.open_table(CONTAINERS)?.insert(id, bytes.as_slice())?;
            Ok(Ok(()))
        })
    }

    pub(crate) fn remove_container(&self, id: &str, name: &str) -> Result<()> {
        self.write(Sync::Durable, |tx| {
            let mut names = tx.open_table(NAMES)?;
            let holder = names.get(name)?.map(|v| v.value().to_owned());
            if holder.as_deref() == Some(id) {
                names.remove(name)?;
            }
            tx.open_table(CONTAINERS)?.remove(id)?;
            Ok(())
        })
    }

    pub(crate) fn containers<T: DeserializeOwned>(&self) -> Result<Vec<(String, Result<T>)>> {
        let p = &self.path;
        let tx = self.db.begin_read().map_err(Error::db(p))?;
        let t = tx.open_table(CONTAINERS).map_err(Error::db(p))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(Error::db(p))? {
            let (k, v) = item.map_err(Error::db(p))?;
            out.push((k.value().to_owned(), self.decode("container", v.value())));
        }
        Ok(out)
    }

    /// The name index (name → id), to repair it against the records.
    pub(crate) fn names(&self) -> Result<Vec<(String, String)>> {
        let p = &self.path;
        let tx = self.db.begin_read().map_err(Error::db(p))?;
        let t = tx.open_table(NAMES).map_err(Error::db(p))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(Error::db(p))? {
            let (k, v) = item.map_err(Error::db(p))?;
            out.push((k.value().to_owned(), v.value().to_owned()));
        }
        Ok(out)
    }

    pub(crate) fn remove_name(&self, name: &str) -> Result<()> {
        self.write(Sync::Durable, |tx| {
            tx.open_table(NAMES)?.remove(name)?;
            Ok(())
        })
    }

    pub(crate) fn set_name(&self, name: &str, id: &str) -> Result<()> {
        self.write(Sync::Durable, |tx| {
            tx.open_table(NAMES)?.insert(name, id)?;
            Ok(())
        })
    }

    pub(crate) fn put_volume<T: Serialize>(&self, name: &str, rec: &T) -> Result<()> {
        let bytes = Self::encode(rec)?;
        self.write(Sync::Durable, |tx| {
            tx.open_table(VOLUMES)?.insert(name, bytes.as_slice())?;
            Ok(())
        })
    }

    pub(crate) fn remove_volume(&self, name: &str) -> Result<()> {
        self.write(Sync::Durable, |tx| {
            tx.open_table(VOLUMES)?.remove(name)?;
            Ok(())
        })
    }

    pub(crate) fn volumes<T: DeserializeOwned>(&self) -> Result<Vec<(String, Result<T>)>> {
        let p = &self.path;
        let tx = self.db.begin_read().map_err(Error::db(p))?;
        let t = tx.open_table(VOLUMES).map_err(Error::db(p))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(Error::db(p))? {
            let (k, v) = item.map_err(Error::db(p))?;
            out.push((k.value().to_owned(), self.decode("volume", v.value())));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_renames() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("e.redb")).unwrap();
        assert_eq!(db.insert_container("a1", "web", &1u32).unwrap(), Ok(()));
        assert_eq!(db.insert_container("b2", "web", &2u32).unwrap(), Err("a1".to_string()));
        assert_eq!(db.rename_container("a1", "web", "api", &3u32).unwrap(), Ok(()));
        assert_eq!(db.insert_container("b2", "web", &2u32).unwrap(), Ok(()));
        assert_eq!(db.rename_container("a1", "api", "web", &3u32).unwrap(), Err("b2".to_string()));
        db.put_container("a1", &4u32, Sync::Lazy).unwrap();
        let all: Vec<(String, Result<u32>)> = db.containers().unwrap();
        let vals: Vec<(String, u32)> = all.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        assert_eq!(vals, vec![("a1".into(), 4), ("b2".into(), 2)]);
        db.remove_container("a1", "api").unwrap();
        assert_eq!(db.names().unwrap(), vec![("web".to_string(), "b2".to_string())]);
        drop(db);
        // reopened: what was committed is there
        let db = Db::open(&dir.path().join("e.redb")).unwrap();
        assert_eq!(db.containers::<u32>().unwrap().len(), 1);
    }

    #[test]
    fn second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _db = Db::open(&dir.path().join("e.redb")).unwrap();
        let e = Db::open(&dir.path().join("e.redb")).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unavailable, "{e}");
    }
}
