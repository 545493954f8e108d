//! Named volumes (driver `local`): `<data_root>/volumes/<name>/_data`,
//! records in the engine DB, reference counts from container records, and
//! copy-up of the image's content at the mount point into a new, empty
//! volume on first use (docker's behaviour, unless `nocopy`).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::model::{EventType, PruneReport, VolumeInfo};
use crate::spec::MountKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeRecord {
    name: String,
    created_at: i64,
    labels: BTreeMap<String, String>,
    anonymous: bool,
    /// Image content was copied in (or `nocopy` was asked) already.
    #[serde(default)]
    populated: bool,
}

#[derive(Debug)]
pub(crate) struct Volumes {
    root: PathBuf,
    lock: Mutex<()>,
}

const ANON_LABEL: &str = "com.docker.volume.anonymous";

impl Volumes {
    pub(crate) fn new(data_root: &Path) -> Result<Volumes> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root).map_err(Error::io(&root))?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o701)).map_err(Error::io(&root))?;
        Ok(Volumes { root, lock: Mutex::new(()) })
    }

    pub(crate) fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, inner: &Inner, name: &str) -> Result<Option<VolumeRecord>> {
        Ok(inner.db.volumes::<VolumeRecord>()?.into_iter().find(|(n, _)| n == name).and_then(|(_, r)| r.ok()))
    }

    fn info(&self, r: &VolumeRecord, refs: Option<i64>) -> VolumeInfo {
        let mut labels = r.labels.clone();
        if r.anonymous {
            labels.insert(ANON_LABEL.into(), String::new());
        }
        VolumeInfo {
            name: r.name.clone(),
            driver: "local".into(),
            mountpoint: self.data_dir(&r.name).display().to_string(),
            created_at: r.created_at,
            labels,
            options: BTreeMap::new(),
            scope: "local".into(),
            ref_count: refs,
            size: None,
            anonymous: r.anonymous,
        }
    }

    /// Which containers use `name`.
    fn users(&self, inner: &Inner, name: &str) -> Vec<String> {
        inner
            .all()
            .iter()
            .filter(|c| c.rec().mounts.iter().any(|m| m.kind == MountKind::Volume && m.name == name))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Creates (or returns the existing) volume. `anonymous` volumes get a
    /// random 64-hex name.
    pub(crate) fn create(
        &self,
        inner: &Inner,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        driver_opts: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<VolumeInfo> {
        if !driver_opts.is_empty() {
            return Err(Error::unsupported("volume driver options (--opt) of the local driver"));
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let b = n.as_bytes();
                if !(b.len() >= 2 && b[0].is_ascii_alphanumeric() && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))) {
                    return Err(Error::invalid(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                n.to_owned()
            }
            None => crate::names::new_id(),
        };
        let _g = self.guard();
        if let Some(r) = self.record(inner, &name)? {
            return Ok(self.info(&r, None));
        }
        let data = self.data_dir(&name);
        std::fs::create_dir_all(&data).map_err(Error::io(&data))?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).map_err(Error::io(&data))?;
        let rec = VolumeRecord { name: name.clone(), created_at: crate::time::now_nanos(), labels, anonymous, populated: false };
        inner.db.put_volume(&name, &rec)?;
        inner.events.publish(EventType::Volume, "create", name.clone(), [("driver".to_string(), "local".to_string())].into());
        Ok(self.info(&rec, None))
    }

    pub(crate) fn inspect(&self, inner: &Inner, name: &str) -> Result<VolumeInfo> {
        let r = self.record(inner, name)?.ok_or_else(|| Error::NoSuchVolume(name.to_owned()))?;
        Ok(self.info(&r, None))
    }

    pub(crate) fn list(&self, inner: &Inner, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<VolumeInfo>> {
        let mut out = Vec::new();
        for (_, r) in inner.db.volumes::<VolumeRecord>()? {
            let Ok(r) = r else { continue };
            let refs = self.users(inner, &r.name).len() as i64;
            let info = self.info(&r, Some(refs));
            let ok = filters.iter().all(|(k, vals)| {
                vals.iter().any(|v| match k.as_str() {
                    "name" => info.name.contains(v.as_str()),
                    "driver" => v == "local",
                    "dangling" => (v == "true" || v == "1") == (refs == 0),
                    "label" => match v.split_once('=') {
                        Some((lk, lv)) => info.labels.get(lk).is_some_and(|x| x == lv),
                        None => info.labels.contains_key(v),
                    },
                    _ => false,
                })
            });
            if let Some(bad) = filters.keys().find(|k| !matches!(k.as_str(), "name" | "driver" | "dangling" | "label")) {
                return Err(Error::invalid(format!("invalid filter '{bad}'")));
            }
            if ok {
                out.push(info);
            }
        }
        Ok(out)
    }

    pub(crate) fn remove(&self, inner: &Inner, name: &str, force: bool) -> Result<()> {
        let _g = self.guard();
        let Some(_) = self.record(inner, name)? else {
            return if force { Ok(()) } else { Err(Error::NoSuchVolume(name.to_owned())) };
        };
        let users = self.users(inner, name);
        if !users.is_empty() {
            return Err(Error::Conflict(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        let dir = self.root.join(name);
        remove_tree(&dir)?;
        inner.db.remove_volume(name)?;
        inner.events.publish(EventType::Volume, "destroy", name.to_owned(), [("driver".to_string(), "local".to_string())].into());
        Ok(())
    }

    pub(crate) fn prune(&self, inner: &Inner, all: bool, filters: &BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        for v in self.list(inner, filters)? {
            if v.ref_count.unwrap_or(0) > 0 || (!all && !v.anonymous) {
                continue;
            }
            let size = dir_size(&self.root.join(&v.name));
            if self.remove(inner, &v.name, false).is_ok() {
                report.deleted.push(v.name);
                report.space_reclaimed += size;
            }
        }
        Ok(report)
    }

    /// Makes sure a volume exists for a container mount and returns its
    /// name and data dir; copies the image content at `dest` (in the
    /// container rootfs `rootfs`, which must be mounted or an upper-less
    /// view) into it when the volume is new and empty.
    pub(crate) fn attach(&self, inner: &Inner, name: &str, labels: &BTreeMap<String, String>) -> Result<(String, PathBuf)> {
        let anonymous = name.is_empty();
        let info = self.create(inner, if anonymous { None } else { Some(name) }, labels.clone(), BTreeMap::new(), anonymous)?;
        Ok((info.name.clone(), self.data_dir(&info.name)))
    }

    /// Copy-up on first use: the image's files under `src` go into the
    /// volume `name` when it has never been populated and is empty.
    pub(crate) fn populate(&self, inner: &Inner, name: &str, src: &Path, nocopy: bool) -> Result<()> {
        let _g = self.guard();
        let Some(mut rec) = self.record(inner, name)? else { return Ok(()) };
        if rec.populated {
            return Ok(());
        }
        let data = self.data_dir(name);
        let empty = std::fs::read_dir(&data).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !nocopy && empty && src.is_dir() {
            copy_tree(src, &data)?;
            // the volume root takes the mode and owner of the image's directory
            if let Ok(m) = std::fs::symlink_metadata(src) {
                let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(m.mode() & 0o7777));
                let _ = std::os::unix::fs::lchown(&data, Some(m.uid()), Some(m.gid()));
            }
        }
        rec.populated = true;
        inner.db.put_volume(name, &rec)
    }
}

pub(crate) fn dir_size(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
    if !m.is_dir() {
        return m.blocks() * 512;
    }
    let mut total = m.blocks() * 512;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            total += dir_size(&e.path());
        }
    }
    total
}

/// Removes a directory tree without following symlinks or crossing into
/// other filesystems (a volume can hold a mount a container left? no: the
/// container's mounts live in its own namespace; this is belt and braces).
pub(crate) fn remove_tree(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p)(e)),
        Ok(_) => std::fs::remove_dir_all(p).map_err(Error::io(p)),
    }
}

/// Copies a directory tree, keeping modes, owners, symlinks and times; never
/// follows symlinks.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    for e in std::fs::read_dir(src).map_err(Error::io(src))? {
        let e = e.map_err(Error::io(src))?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::symlink_metadata(&from).map_err(Error::io(&from))?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(Error::io(&to))?;
            copy_tree(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777)).map_err(Error::io(&to))?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(Error::io(&from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(Error::io(&to))?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(Error::io(&to))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777)).map_err(Error::io(&to))?;
        } else {
            // devices, fifos, sockets: docker copies them too; mknod keeps the type
            let mode = m.mode();
            nix::sys::stat::mknod(&to, nix::sys::stat::SFlag::from_bits_truncate(mode & libc::S_IFMT), nix::sys::stat::Mode::from_bits_truncate(mode & 0o7777), m.rdev())
                .map_err(|e| Error::io(&to)(e.into()))?;
        }
        let _ = std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()));
    }
    Ok(())
}
