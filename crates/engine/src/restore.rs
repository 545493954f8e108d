//! Opening the engine: the data-root lock, the stores, and live restore.
//!
//! Restore reconciles the records with what exists, in this order:
//! 1. records of an interrupted create are undone (snapshot, dir, volumes);
//! 2. each container's shim (`<exec_root>/shims/<id>/`): alive and no
//!    `exit.json` → still running, re-attached (a new exit monitor); an
//!    `exit.json` → it exited while we were away, the exit is handled now
//!    (die event, cleanup, restart policy); no live shim and no record of
//!    an exit → exited with 137 and the error `shim died`;
//! 3. leftovers nothing refers to: shim dirs, runtime state, container
//!    dirs, active snapshots named like container ids, netns files;
//! 4. restart policies of a daemon start: `always`, and `unless-stopped`
//!    unless stopped by a user, start again.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use crate::config::EngineConfig;
use crate::engine::{Container, Engine, Inner, Record};
use crate::error::{Error, Result};
use crate::model::Status;
use crate::shim::Shim;
use crate::spec::RestartPolicyName;
use crate::store::{Db, Sync};

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn lock_root(config: &EngineConfig) -> Result<std::fs::File> {
    let path = config.data_root.join("berthd.lock");
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(Error::io(&path))?;
    // SAFETY: flock on an fd we own; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        return Err(Error::Unavailable {
            what: format!("data root {}", config.data_root.display()),
            detail: "in use by another berthd (one daemon per data root)".into(),
        });
    }
    Ok(f)
}

pub(crate) async fn open(config: EngineConfig) -> Result<Engine> {
    for d in [&config.data_root, &config.exec_root] {
        std::fs::create_dir_all(d).map_err(Error::io(d))?;
    }
    let lock = lock_root(&config)?;
    for d in [config.data_root.join("containers"), config.exec_root.join("shims"), config.exec_root.join("runtime")] {
        std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
    }
    let images = berth_image::ImageStore::open(&config.data_root, berth_image::StoreConfig { registries: config.registries.clone() })?;
    let db = Db::open(&config.data_root.join("engine.redb"))?;
    let volumes = crate::volumes::Volumes::new(&config.data_root)?;
    let network = crate::network::Network::open(&config)?;
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let inner = Arc::new(Inner {
        host: crate::oci::HostFacts::detect(),
        config,
        images,
        db,
        events: crate::events::Bus::new(),
        containers: Mutex::new(BTreeMap::new()),
        execs: Mutex::new(BTreeMap::new()),
        volumes,
        network,
        shutdown,
        _lock: lock,
    });
    restore(&inner).await?;
    Ok(Engine { inner })
}

async fn restore(inner: &Arc<Inner>) -> Result<()> {
    let mut known = BTreeSet::new();
    for (id, rec) in inner.db.containers::<Record>()? {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(container = %id, error = %e, "unreadable container record: left as is");
                known.insert(id);
                continue;
            }
        };
        if rec.creating {
            tracing::info!(container = %id, "removing the leftovers of an interrupted create");
            crate::container::undo_create(inner, &rec);
            continue;
        }
        known.insert(id.clone());
        let c = Container::new(rec);
        inner.containers.lock().unwrap_or_else(|p| p.into_inner()).insert(id, c);
    }
    // the name index must point at records
    for (name, id) in inner.db.names()? {
        if !known.contains(&id) {
            inner.db.remove_name(&name)?;
        }
    }
    for c in inner.all() {
        let name = c.rec().name.clone();
        if inner.db.names()?.iter().all(|(n, _)| *n != name) {
            inner.db.set_name(&name, &c.id)?;
        }
    }

    let mut exits = Vec::new();
    for c in inner.all() {
        let shim = Arc::new(Shim::at(&c.id, inner.shim_dir(&c.id)));
        let has_dir = shim.dir.exists();
        let alive = has_dir && shim.alive();
        if alive && shim.exit_record().is_none() && shim.sock().exists() {
            // still running: re-attach
            let state = shim.request(serde_json::json!({"op": "state"})).await.ok();
            let status = state.as_ref().and_then(|s| s.get("status")).and_then(|s| s.as_str()).unwrap_or("running").to_owned();
            if status == "created" {
                // prepared by an attach, never started: start over later
                c.set_shim(Some(shim.clone()));
                crate::container::cleanup_run(inner, &c).await;
                continue;
            }
            let pid = state.as_ref().and_then(|s| s.get("pid")).and_then(|p| p.as_i64()).map(|p| p as i32).or_else(|| shim.init_pid()).unwrap_or(0);
            {
                let mut r = c.rec();
                r.state.running = true;
                r.state.paused = status == "paused";
                r.state.restarting = false;
                r.state.status = if status == "paused" { Status::Paused } else { Status::Running };
                r.state.pid = pid;
                if r.state.started_at == 0 {
                    r.state.started_at = crate::time::now_nanos();
                }
                r.has_been_started = true;
            }
            c.set_shim(Some(shim.clone()));
            let run_gen = c.restart_gen.load(std::sync::atomic::Ordering::SeqCst);
            crate::container::spawn_monitor(inner.clone(), c.clone(), shim, run_gen);
            tracing::info!(container = %c.id, pid, "re-attached");
            continue;
        }
        let was_running = c.rec().state.running || has_dir;
        if has_dir && alive {
            c.set_shim(Some(shim.clone()));
        }
        if was_running {
            let exit = shim.exit_record().unwrap_or_else(|| {
                c.rec().state.error = "shim died".into();
                crate::shim::Exit { exit_code: 137, signal: Some(9), exited_at: None }
            });
            {
                let mut r = c.rec();
                r.state.running = true;
            }
            exits.push((c.clone(), exit));
        } else {
            // not running: nothing of a run may be left
            crate::container::unmount_rootfs(inner, &c.id);
        }
    }
    for (c, exit) in exits {
        tracing::info!(container = %c.id, exit_code = exit.exit_code, "exited while the daemon was away");
        crate::container::handle_exit(inner, &c, exit).await;
    }

    sweep_leftovers(inner, &known).await;

    // restart policies at daemon start
    for c in inner.all() {
        let (running, policy, manual, started) = {
            let r = c.rec();
            (r.state.running || r.state.restarting, r.spec.restart_policy.name, r.manually_stopped, r.has_been_started)
        };
        let go = !running
            && started
            && match policy {
                RestartPolicyName::Always => true,
                RestartPolicyName::UnlessStopped => !manual,
                _ => false,
            };
        if go {
            {
                c.rec().manually_stopped = false;
            }
            crate::restart::schedule(inner.clone(), c.clone(), std::time::Duration::ZERO);
        }
    }
    for c in inner.all() {
        let _ = inner.save(&c, Sync::Lazy);
    }
    Ok(())
}

/// Removes what no record refers to.
async fn sweep_leftovers(inner: &Arc<Inner>, known: &BTreeSet<String>) {
    // shims
    if let Ok(rd) = std::fs::read_dir(inner.config.exec_root.join("shims")) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if known.contains(&id) {
                continue;
            }
            tracing::info!(container = %id, "removing an orphaned shim");
            let shim = Shim::at(&id, e.path());
            if shim.alive() {
                let _ = shim.delete(true).await;
                let _ = shim.request(serde_json::json!({"op": "shutdown"})).await;
            }
            if !shim.alive() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    // runtime state of every handler
    if let Ok(rd) = std::fs::read_dir(inner.config.exec_root.join("runtime")) {
        for h in rd.flatten() {
            let name = h.file_name().to_string_lossy().into_owned();
            let Ok(rt) = crate::container::runtime_for(inner, &name) else { continue };
            let Ok(ids) = std::fs::read_dir(h.path()) else { continue };
            for e in ids.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let running_here = inner.lookup(&id).ok().is_some_and(|c| c.rec().state.running || c.shim().is_some());
                if is_id(&id) && !running_here {
                    tracing::info!(container = %id, runtime = %name, "removing orphaned runtime state");
                    if let Err(e) = rt.delete_force(&id).await {
                        tracing::warn!(container = %id, error = %e, "runtime delete");
                    }
                }
            }
        }
    }
    // container dirs
    if let Ok(rd) = std::fs::read_dir(inner.config.data_root.join("containers")) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if known.contains(&id) {
                continue;
            }
            tracing::info!(container = %id, "removing an orphaned container dir");
            crate::container::unmount_rootfs(inner, &id);
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    // active snapshots named like containers
    if let Ok(list) = inner.images.snapshots().list() {
        for s in list {
            if s.kind == berth_snapshots::Kind::Active && is_id(&s.name) && !known.contains(&s.name) {
                tracing::info!(container = %s.name, "removing an orphaned rootfs snapshot");
                if let Err(e) = inner.images.remove_rootfs(&s.name) {
                    tracing::warn!(container = %s.name, error = %e, "removing a snapshot");
                }
            }
        }
    }
    // networks: DEL and namespaces of containers not running
    let live: Vec<String> = inner.all().iter().filter(|c| c.rec().state.running).map(|c| c.id.clone()).collect();
    crate::network::cleanup_stale(inner, live).await;
}
