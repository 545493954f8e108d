//! Image operations that involve containers or events: pull/push/tag/remove
//! with events, docker's in-use conflicts, prune, load/import, commit,
//! `system df`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::Inner;
use crate::error::{Error, Result};
use crate::model::{CommitOptions, DiskUsage, EventType, ImageUsage, PruneReport};

fn image_event(inner: &Inner, action: &str, actor: &str, name: &str) {
    inner.events.publish(EventType::Image, action, actor.to_owned(), [("name".to_string(), name.to_string())].into());
}

fn familiar(r: &str) -> String {
    berth_image::Reference::parse(r).map(|x| x.familiar()).unwrap_or_else(|_| r.to_owned())
}

pub(crate) async fn pull(inner: &Arc<Inner>, reference: &str, platform: Option<&str>, auth: &berth_image::Auth, progress: &berth_image::Progress) -> Result<berth_image::Image> {
    let p = platform.filter(|p| !p.is_empty()).map(berth_image::Platform::parse).transpose()?;
    let img = inner.images.pull(reference, p.as_ref(), auth, progress).await?;
    let name = familiar(reference);
    image_event(inner, "pull", &name, &name);
    Ok(img)
}

pub(crate) async fn push(inner: &Arc<Inner>, reference: &str, auth: &berth_image::Auth, progress: &berth_image::Progress) -> Result<berth_image::Digest> {
    let d = inner.images.push(reference, auth, progress).await?;
    let name = familiar(reference);
    image_event(inner, "push", &name, &name);
    Ok(d)
}

pub(crate) async fn tag(inner: &Arc<Inner>, source: &str, target: &str) -> Result<()> {
    let img = crate::container::resolve_image(inner, source)?;
    inner.images.tag(source, target)?;
    let name = familiar(target);
    image_event(inner, "tag", &img.id.to_string(), &name);
    Ok(())
}

/// Containers (id, running) created from image `id`.
fn users(inner: &Inner, id: &str) -> Vec<(String, bool)> {
    inner.all().iter().map(|c| c.snapshot()).filter(|r| r.image_id == id).map(|r| (r.id, r.state.running)).collect()
}

pub(crate) async fn remove(inner: &Arc<Inner>, reference: &str, force: bool) -> Result<Vec<berth_image::Removed>> {
    let img = crate::container::resolve_image(inner, reference)?;
    let id = img.id.to_string();
    let users = users(inner, &id);
    let by_id = id.strip_prefix("sha256:").is_some_and(|h| h.starts_with(reference.trim_start_matches("sha256:")));
    // digest references do not keep an image alive once its last tag goes
    let last_name = img.repo_tags.len() <= 1;
    if let Some((cid, running)) = users.first()
        && (by_id || last_name)
    {
        if *running {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                &img.id.hex()[..12],
                &cid[..12]
            )));
        }
        if !force {
            return Err(Error::Conflict(if by_id {
                format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container {}", &img.id.hex()[..12], &cid[..12])
            } else {
                format!(
                    "conflict: unable to remove repository reference \"{reference}\" (must force) - container {} is using its referenced image {}",
                    &cid[..12],
                    &img.id.hex()[..12]
                )
            }));
        }
    }
    if by_id && img.repo_tags.len() > 1 && !force {
        return Err(Error::Conflict(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &img.id.hex()[..12]
        )));
    }
    let removed = inner.images.remove(reference, force).await?;
    for r in &removed {
        match r {
            berth_image::Removed::Untagged(t) => image_event(inner, "untag", &id, &familiar(t)),
            berth_image::Removed::Deleted(d) => image_event(inner, "delete", &d.to_string(), &d.to_string()),
        }
    }
    Ok(removed)
}

pub(crate) async fn prune(inner: &Arc<Inner>, all: bool, filters: BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
    for k in filters.keys() {
        if !matches!(k.as_str(), "dangling" | "until" | "label" | "label!") {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
    }
    let all = all || filters.get("dangling").is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let until = match filters.get("until").and_then(|v| v.first()) {
        Some(u) => Some(crate::time::parse_api_time(u).ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))?),
        None => None,
    };
    let mut report = PruneReport::default();
    let used: std::collections::BTreeSet<String> = inner.all().iter().map(|c| c.rec().image_id.clone()).collect();
    for img in inner.images.list()? {
        let id = img.id.to_string();
        if used.contains(&id) {
            continue;
        }
        let dangling = img.repo_tags.is_empty();
        if !all && !dangling {
            continue;
        }
        if let Some(u) = until
            && (img.record.added as i64) * 1_000_000_000 >= u
        {
            continue;
        }
        if filters.contains_key("label") || filters.contains_key("label!") {
            let labels = inner.images.config(&img).ok().and_then(|c| c.config).and_then(|c| c.labels).unwrap_or_default();
            let ok = |k: &str, neg: bool| {
                filters.get(k).into_iter().flatten().all(|v| {
                    let has = match v.split_once('=') {
                        Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                        None => labels.contains_key(v.as_str()),
                    };
                    has != neg
                })
            };
            if !ok("label", false) || !ok("label!", true) {
                continue;
            }
        }
        let size = img.record.size;
        match inner.images.remove(&id, true).await {
            Ok(removed) => {
                for r in removed {
                    match r {
                        berth_image::Removed::Untagged(t) => {
                            image_event(inner, "untag", &id, &familiar(&t));
                            report.untagged.push(t);
                        }
                        berth_image::Removed::Deleted(d) => {
                            image_event(inner, "delete", &d.to_string(), &d.to_string());
                            report.deleted.push(d.to_string());
                            report.space_reclaimed += size;
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(image = %id, error = %e, "prune keeps an image"),
        }
    }
    Ok(report)
}

pub(crate) async fn load(inner: &Arc<Inner>, input: Box<dyn std::io::Read + Send>, progress: &berth_image::Progress) -> Result<Vec<berth_image::Image>> {
    let imgs = inner.images.load(input, progress).await?;
    for i in &imgs {
        let name = i.repo_tags.first().map(|t| familiar(t)).unwrap_or_else(|| i.id.to_string());
        image_event(inner, "load", &i.id.to_string(), &name);
    }
    Ok(imgs)
}

pub(crate) async fn import(inner: &Arc<Inner>, input: Box<dyn std::io::Read + Send>, reference: Option<&str>, changes: &[String]) -> Result<berth_image::Image> {
    let mut ch = Vec::new();
    for c in changes {
        ch.extend(berth_image::Change::parse(c)?);
    }
    let img = inner.images.import(input, reference.filter(|r| !r.is_empty()), &ch).await?;
    image_event(inner, "import", &img.id.to_string(), &reference.map(familiar).unwrap_or_else(|| img.id.to_string()));
    Ok(img)
}

pub(crate) async fn commit(inner: &Arc<Inner>, id: &str, opts: CommitOptions) -> Result<berth_image::Image> {
    let c = inner.lookup(id)?;
    let mut ch = Vec::new();
    for s in &opts.changes {
        ch.extend(berth_image::Change::parse(s)?);
    }
    if opts.author.as_deref().is_some_and(|a| !a.is_empty()) {
        return Err(Error::unsupported("commit --author"));
    }
    let running = c.rec().state.running && !c.rec().state.paused;
    let shim = c.shim();
    let paused_here = opts.pause && running && shim.is_some();
    if paused_here && let Some(s) = &shim {
        s.pause(true).await?;
    }
    let r = inner.images.commit_container(&c.id, opts.reference.as_deref().filter(|r| !r.is_empty()), &ch, opts.comment.as_deref()).await;
    if paused_here && let Some(s) = &shim {
        let _ = s.pause(false).await;
    }
    let img = r?;
    let rec = c.snapshot();
    inner.container_event(&rec, "commit", &[("comment", opts.comment.clone().unwrap_or_default())]);
    Ok(img)
}

pub(crate) async fn disk_usage(inner: &Arc<Inner>) -> Result<DiskUsage> {
    let mut du = DiskUsage::default();
    let containers = inner.all();
    let mut chain_users: BTreeMap<String, usize> = BTreeMap::new();
    let images = inner.images.list()?;
    for i in &images {
        for ch in &i.record.chain_ids {
            *chain_users.entry(ch.clone()).or_default() += 1;
        }
    }
    let mut layer_size: BTreeMap<String, i64> = BTreeMap::new();
    for ch in chain_users.keys() {
        let s = inner.images.snapshots().usage(ch).map(|u| u.size as i64).unwrap_or(0);
        layer_size.insert(ch.clone(), s);
    }
    du.layers_size = layer_size.values().sum();
    for i in images {
        let size: i64 = i.record.chain_ids.iter().map(|c| layer_size.get(c).copied().unwrap_or(0)).sum();
        let shared: i64 = i.record.chain_ids.iter().filter(|c| chain_users.get(*c).copied().unwrap_or(0) > 1).map(|c| layer_size.get(c).copied().unwrap_or(0)).sum();
        let id = i.id.to_string();
        du.images.push(ImageUsage {
            containers: containers.iter().filter(|c| c.rec().image_id == id).count() as i64,
            id,
            repo_tags: i.repo_tags.clone(),
            repo_digests: i.repo_digests.clone(),
            created: i.record.created.as_deref().and_then(crate::time::parse_rfc3339).map(|n| n / 1_000_000_000).unwrap_or(0),
            size,
            shared_size: shared,
        });
    }
    for c in &containers {
        du.containers.push(crate::container::summary(inner, c, true));
    }
    let mut vols = inner.volumes.list(inner, &BTreeMap::new())?;
    for v in &mut vols {
        v.size = Some(crate::volumes::dir_size(std::path::Path::new(&v.mountpoint)) as i64);
    }
    du.volumes = vols;
    Ok(du)
}
