//! The container lifecycle: create, start (prepare + start), exit handling,
//! stop, kill, restart, pause, wait, remove, rename, inspect, list, attach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine::{AttachIo, Container, Created, Inner, Record, WaitResult};
use crate::error::{Error, Result, StartFailure};
use crate::model::*;
use crate::oci::{self, Context, Device, Ns, OciMount, Shm};
use crate::shim::{Shim, SpawnArgs};
use crate::spec::{ContainerSpec, MountKind, WaitCondition};
use crate::store::Sync;

fn image_not_found(reference: &str) -> Error {
    let r = berth_image::Reference::parse(reference).map(|r| r.familiar()).unwrap_or_else(|_| reference.to_owned());
    Error::NoSuchImage(r)
}

pub(crate) fn resolve_image(inner: &Inner, reference: &str) -> Result<berth_image::Image> {
    match inner.images.get(reference) {
        Ok(i) => Ok(i),
        Err(e) if e.kind() == berth_image::ErrorKind::NotFound => Err(image_not_found(reference)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn runtime_for(inner: &Inner, name: &str) -> Result<crate::runtime::Runtime> {
    let handler = inner.config.runtime(name).ok_or_else(|| Error::invalid(format!("unknown or invalid runtime name: {name}")))?;
    Ok(crate::runtime::Runtime { name: name.to_owned(), handler, root: inner.runtime_root(name) })
}

// ---------------------------------------------------------------- create

pub(crate) async fn create(inner: &Arc<Inner>, spec: ContainerSpec) -> Result<Created> {
    if spec.image.is_empty() {
        return Err(Error::invalid("config cannot be empty in order to create a container"));
    }
    let image = resolve_image(inner, &spec.image)?;
    if let Some(p) = spec.platform.as_deref().filter(|p| !p.is_empty()) {
        let want = berth_image::Platform::parse(p)?;
        if !want.matches(&image.record.platform) {
            return Err(Error::NoSuchImage(format!(
                "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {}/{}",
                spec.image, image.record.platform.os, image.record.platform.architecture
            )));
        }
    }
    let cfg = inner.images.config(&image)?;
    let (merged, warnings) = oci::merge(&spec, cfg.config.as_ref(), &inner.host)?;
    let runtime = merged.runtime.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| inner.config.default_runtime.clone());
    runtime_for(inner, &runtime)?;
    crate::network::validate(inner, &merged)?;
    if merged.init == Some(true) {
        let init = inner.config.init_binary().ok_or_else(|| Error::FailedPrecondition("--init: the berth-init binary was not found next to berthd or in PATH".into()))?;
        match crate::config::needs_loader(&init) {
            Ok(false) => {}
            Ok(true) => {
                return Err(Error::FailedPrecondition(format!(
                    "--init: {} is dynamically linked and cannot run in images without the host's libc; install a static build (scripts/setup makes one)",
                    init.display()
                )));
            }
            Err(e) => return Err(Error::FailedPrecondition(format!("--init: {}: {e}", init.display()))),
        }
    }
    let id = crate::names::new_id();
    let hostname = match crate::network::mode_of(inner, &merged).as_str() {
        "host" => nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| id[..12].to_owned()),
        _ => merged.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| id[..12].to_owned()),
    };
    let mut rec = Record {
        id: id.clone(),
        name: String::new(),
        created: crate::time::now_nanos(),
        image_ref: spec.image.clone(),
        image_id: image.id.to_string(),
        spec: merged,
        runtime,
        state: ContainerState {
            status: Status::Created,
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: 0,
            finished_at: 0,
        },
        restart_count: 0,
        has_been_started: false,
        manually_stopped: false,
        creating: true,
        mounts: Vec::new(),
        hostname,
        network: Default::default(),
        restart_streak: 0,
    };
    // reserve the name with the record (one durable transaction)
    let mut attempt = 0;
    loop {
        let name = match &spec.name {
            Some(n) => crate::names::validate(n)?,
            None => crate::names::generate(attempt),
        };
        rec.name = name.clone();
        match inner.db.insert_container(&id, &name, &rec)? {
            Ok(()) => break,
            Err(holder) if spec.name.is_some() || attempt > 20 => return Err(Error::NameInUse { name, id: holder }),
            Err(_) => attempt += 1,
        }
    }
    match finish_create(inner, &mut rec, &image) {
        Ok(()) => {}
        Err(e) => {
            undo_create(inner, &rec);
            return Err(e);
        }
    }
    rec.creating = false;
    inner.db.put_container(&id, &rec, Sync::Durable)?;
    let c = Container::new(rec.clone());
    inner.containers.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), c);
    tracing::debug!(container = %id, image = %rec.image_id, "created");
    inner.container_event(&rec, "create", &[]);
    Ok(Created { id, warnings })
}

fn finish_create(inner: &Inner, rec: &mut Record, image: &berth_image::Image) -> Result<()> {
    let dir = inner.container_dir(&rec.id);
    std::fs::create_dir_all(dir.join("rootfs")).map_err(Error::io(&dir))?;
    inner.images.prepare_rootfs(image, &rec.id)?;
    // mounts: volumes made now (docker creates them at create), binds checked
    let mut points = Vec::new();
    for m in oci::mounts::collect(&rec.spec)? {
        let mp = match m.kind {
            MountKind::Bind => {
                let src = Path::new(&m.source);
                if !src.exists() {
                    if m.create_host_path {
                        std::fs::create_dir_all(src).map_err(Error::io(src))?;
                    } else {
                        return Err(Error::invalid(format!("invalid mount config for type \"bind\": bind source path does not exist: {}", m.source)));
                    }
                }
                MountPoint {
                    kind: MountKind::Bind,
                    name: String::new(),
                    source: m.source.clone(),
                    destination: m.destination.clone(),
                    driver: String::new(),
                    mode: m.mode.clone(),
                    rw: !m.read_only,
                    propagation: m.propagation.clone(),
                }
            }
            MountKind::Volume => {
                let (name, data) = inner.volumes.attach(inner, &m.source, &m.labels)?;
                MountPoint {
                    kind: MountKind::Volume,
                    name,
                    source: data.display().to_string(),
                    destination: m.destination.clone(),
                    driver: "local".into(),
                    mode: if m.nocopy { "nocopy".into() } else { m.mode.clone() },
                    rw: !m.read_only,
                    propagation: String::new(),
                }
            }
            MountKind::Tmpfs => MountPoint {
                kind: MountKind::Tmpfs,
                name: String::new(),
                source: String::new(),
                destination: m.destination.clone(),
                driver: String::new(),
                mode: m.tmpfs_options.join(","),
                rw: !m.read_only,
                propagation: String::new(),
            },
            MountKind::Other => return Err(Error::unsupported("mount type")),
        };
        points.push(mp);
    }
    rec.mounts = points;
    Ok(())
}

/// Removes what a failed or interrupted create left: snapshot, container
/// dir, record and name, anonymous volumes it made.
pub(crate) fn undo_create(inner: &Inner, rec: &Record) {
    let dir = inner.container_dir(&rec.id);
    let _ = berth_snapshots::unmount(&dir.join("rootfs"));
    if let Err(e) = inner.images.remove_rootfs(&rec.id) {
        tracing::warn!(container = %rec.id, error = %e, "removing the rootfs snapshot of a failed create");
    }
    let _ = std::fs::remove_dir_all(&dir);
    for m in &rec.mounts {
        if m.kind == MountKind::Volume && m.name.len() == 64 {
            let _ = inner.volumes.remove(inner, &m.name, true);
        }
    }
    if let Err(e) = inner.db.remove_container(&rec.id, &rec.name) {
        tracing::warn!(container = %rec.id, error = %e, "removing the record of a failed create");
    }
}

// ---------------------------------------------------------------- start

/// Everything up to a created (not started) container under a shim.
async fn prepare(inner: &Arc<Inner>, c: &Arc<Container>) -> Result<Arc<Shim>> {
    if let Some(s) = c.shim() {
        return Ok(s);
    }
    let rec = c.snapshot();
    let dir = inner.container_dir(&rec.id);
    let rootfs = dir.join("rootfs");
    let r = prepare_inner(inner, c, &rec, &dir, &rootfs).await;
    if r.is_err() {
        cleanup_run(inner, c).await;
    }
    r
}

async fn prepare_inner(inner: &Arc<Inner>, c: &Arc<Container>, rec: &Record, dir: &Path, rootfs: &Path) -> Result<Arc<Shim>> {
    let runtime = runtime_for(inner, &rec.runtime)?;
    mount_rootfs(inner, &rec.id, rootfs)?;
    // first use of a volume: the image's content at the mount point goes in
    for m in &rec.mounts {
        if m.kind == MountKind::Volume {
            let src = rootfs.join(m.destination.trim_start_matches('/'));
            let src_ok = crate::archive::resolve_in_root(rootfs, &m.destination).ok().is_some_and(|p| p == src);
            inner.volumes.populate(inner, &m.name, if src_ok { &src } else { Path::new("/nonexistent") }, m.mode.contains("nocopy"))?;
        }
    }
    let passwd = crate::archive::read_in_root(rootfs, "/etc/passwd");
    let group = crate::archive::read_in_root(rootfs, "/etc/group");
    let user = oci::user::resolve(rec.spec.user.as_deref().unwrap_or(""), &rec.spec.group_add, passwd.as_deref(), group.as_deref())?;
    if let Some(w) = rec.spec.working_dir.as_deref().filter(|w| !w.is_empty() && *w != "/") {
        crate::archive::mkdir_all_in_root(rootfs, w, user.uid, user.gid)?;
    }
    let (att, net) = crate::network::setup(inner, rec).await?;
    {
        let mut r = c.rec();
        r.network = att;
    }
    let (hosts, resolv, hostname) = crate::network::files(inner, &c.snapshot());
    let ns_of = |mode: Option<&str>, kind: &str| -> Result<Ns> {
        match mode.unwrap_or("") {
            "" | "private" | "shareable" | "none" => Ok(Ns::New),
            "host" => Ok(Ns::Host),
            m if m.starts_with("container:") => {
                let other = inner.lookup(&m["container:".len()..])?;
                let (pid, running) = {
                    let r = other.rec();
                    (r.state.pid, r.state.running)
                };
                if !running || pid <= 0 {
                    return Err(Error::FailedPrecondition(format!("cannot join {kind} namespace of a non running container: {}", other.id)));
                }
                Ok(Ns::Path(PathBuf::from(format!("/proc/{pid}/ns/{kind}"))))
            }
            m => Err(Error::invalid(format!("invalid {kind} mode: {m}"))),
        }
    };
    let ipc = ns_of(rec.spec.ipc_mode.as_deref(), "ipc")?;
    let shm = match (&ipc, rec.spec.ipc_mode.as_deref()) {
        (_, Some("none")) => Shm::None,
        (Ns::Host, _) => Shm::Bind(PathBuf::from("/dev/shm")),
        (Ns::Path(p), _) => {
            let pid = p.components().nth(2).map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
            Shm::Bind(PathBuf::from(format!("/proc/{pid}/root/dev/shm")))
        }
        (Ns::New, _) => Shm::Tmpfs(rec.spec.shm_size.filter(|s| *s > 0).unwrap_or(oci::DEFAULT_SHM_SIZE)),
    };
    let cgroup = match rec.spec.cgroupns_mode.as_deref() {
        Some("private") => Ns::New,
        Some("host") => Ns::Host,
        _ if inner.host.cgroup2 => Ns::New,
        _ => Ns::Host,
    };
    let mut mounts = Vec::new();
    for m in &rec.mounts {
        match m.kind {
            MountKind::Bind | MountKind::Volume => {
                let mut opts = vec![if m.kind == MountKind::Bind && m.mode.contains("nonrecursive") { "bind".to_string() } else { "rbind".to_string() }];
                opts.push(if m.propagation.is_empty() { "rprivate".into() } else { m.propagation.clone() });
                if !m.rw {
                    opts.push("ro".into());
                }
                mounts.push(OciMount { destination: m.destination.clone(), typ: "bind".into(), source: m.source.clone(), options: opts });
            }
            MountKind::Tmpfs => {
                let mut opts: Vec<String> = m.mode.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect();
                if !m.rw && !opts.iter().any(|o| o == "ro") {
                    opts.push("ro".into());
                }
                mounts.push(OciMount { destination: m.destination.clone(), typ: "tmpfs".into(), source: "tmpfs".into(), options: opts });
            }
            MountKind::Other => {}
        }
    }
    let devices = devices_for(&rec.spec)?;
    let ctx = Context {
        id: rec.id.clone(),
        rootfs: rootfs.to_owned(),
        user,
        hostname: rec.hostname.clone(),
        hostname_path: Some(hostname),
        hosts_path: Some(hosts),
        resolv_conf_path: Some(resolv),
        net,
        ipc,
        pid: ns_of(rec.spec.pid_mode.as_deref(), "pid")?,
        uts: if rec.spec.uts_mode.as_deref() == Some("host") || rec.spec.network_mode.as_deref() == Some("host") { Ns::Host } else { Ns::New },
        cgroup,
        shm,
        mounts,
        devices,
        init: inner.config.init_binary(),
        host: inner.host.clone(),
        cgroup_parent: inner.config.cgroup_parent.clone(),
    };
    if let Ns::Path(p) = &ctx.net
        && c.rec().network.netns.as_deref() == Some(p.as_path())
    {
        apply_net_sysctls(p, &oci::net_sysctls(&rec.spec, &ctx))?;
    }
    let spec = oci::generate(&rec.spec, &ctx)?;
    let cfg_path = dir.join("config.json");
    let bytes = serde_json::to_vec(&spec).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(&cfg_path, bytes).map_err(Error::io(&cfg_path))?;
    let (log_path, max_size, max_files) = log_settings(inner, rec);
    let shim = crate::shim::spawn(
        inner,
        SpawnArgs {
            id: &rec.id,
            bundle: dir,
            runtime: &runtime,
            log_path: log_path.as_deref(),
            log_max_size: max_size,
            log_max_files: max_files,
            terminal: rec.spec.tty,
            stdin: rec.spec.open_stdin,
        },
    )
    .await
    .map_err(start_error)?;
    c.set_shim(Some(shim.clone()));
    Ok(shim)
}

/// Writes `net.*` sysctls inside a network namespace (a helper thread
/// enters it; /proc/sys/net shows the namespace of the thread that reads it).
fn apply_net_sysctls(netns: &Path, sysctls: &BTreeMap<String, String>) -> Result<()> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let ns = std::fs::File::open(netns).map_err(Error::io(netns))?;
    let values = sysctls.clone();
    std::thread::spawn(move || -> std::result::Result<(), String> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("entering the network namespace: {e}"))?;
        for (k, v) in &values {
            if k.split('.').any(|c| c.is_empty() || c == "..") {
                return Err(format!("invalid sysctl {k:?}"));
            }
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&path, v).map_err(|e| format!("sysctl {k}={v}: {e}"))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| Error::Internal("sysctl helper thread panicked".into()))?
    .map_err(Error::invalid)
}

/// Turns a runtime's create/start failure into docker's error and code.
fn start_error(e: Error) -> Error {
    match e {
        Error::Runtime { detail, .. } | Error::Shim { detail, .. } => {
            let failure = StartFailure::classify(&detail);
            let message = match failure {
                StartFailure::Other => detail,
                _ => format!("failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {detail}"),
            };
            Error::StartFailed { message, failure }
        }
        e => e,
    }
}

/// The json-file log path and rotation of a container.
pub(crate) fn log_settings(inner: &Inner, rec: &Record) -> (Option<PathBuf>, u64, u32) {
    let lc = rec.spec.log_config.clone().unwrap_or_default();
    let driver = if lc.driver.is_empty() { inner.config.log.driver.clone() } else { lc.driver.clone() };
    if driver == "none" {
        return (None, 0, 1);
    }
    let opts = if lc.driver.is_empty() && lc.options.is_empty() { inner.config.log.options.clone() } else { lc.options.clone() };
    let size = opts.get("max-size").and_then(|s| parse_size(s)).unwrap_or(0);
    let files = opts.get("max-file").and_then(|s| s.parse::<u32>().ok()).unwrap_or(1).max(1);
    (Some(inner.container_dir(&rec.id).join(format!("{}-json.log", rec.id))), size, files)
}

/// docker's `max-size` values: `10m`, `1g`, `512k`, plain bytes.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.trim_end_matches('b').chars().last()? {
        'k' => (&s[..s.trim_end_matches('b').len() - 1], 1024u64),
        'm' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024),
        'g' => (&s[..s.trim_end_matches('b').len() - 1], 1024 * 1024 * 1024),
        _ => (s.trim_end_matches('b'), 1),
    };
    num.parse::<f64>().ok().filter(|n| *n >= 0.0).map(|n| (n * mult as f64) as u64)
}

fn devices_for(spec: &ContainerSpec) -> Result<Vec<Device>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    let add = |host: &Path, inside: String, perms: &str, out: &mut Vec<Device>| -> Result<()> {
        let m = std::fs::metadata(host).map_err(|e| Error::invalid(format!("error gathering device information while adding custom device {:?}: {e}", host.display().to_string())))?;
        let ft = m.file_type();
        let kind = if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_fifo() {
            'p'
        } else {
            return Err(Error::invalid(format!("error gathering device information while adding custom device {:?}: not a device node", host.display().to_string())));
        };
        out.push(Device {
            path: inside,
            kind,
            major: libc::major(m.rdev()) as i64,
            minor: libc::minor(m.rdev()) as i64,
            file_mode: m.mode() & 0o777,
            uid: m.uid(),
            gid: m.gid(),
            permissions: if perms.is_empty() { "rwm".into() } else { perms.into() },
        });
        Ok(())
    };
    for d in &spec.resources.devices {
        let host = Path::new(&d.path_on_host);
        let inside = if d.path_in_container.is_empty() { d.path_on_host.clone() } else { d.path_in_container.clone() };
        if host.is_dir() {
            // a directory: every device below it, at the same relative path
            let mut stack = vec![host.to_path_buf()];
            while let Some(p) = stack.pop() {
                for e in std::fs::read_dir(&p).map_err(Error::io(&p))?.flatten() {
                    let ep = e.path();
                    let ft = e.file_type().map_err(Error::io(&ep))?;
                    if ft.is_dir() {
                        stack.push(ep);
                    } else if ft.is_char_device() || ft.is_block_device() {
                        let rel = ep.strip_prefix(host).unwrap_or(&ep);
                        add(&ep, format!("{}/{}", inside.trim_end_matches('/'), rel.display()), &d.cgroup_permissions, &mut out)?;
                    }
                }
            }
        } else {
            add(host, inside, &d.cgroup_permissions, &mut out)?;
        }
    }
    if spec.privileged {
        // every host device, as docker gives a privileged container
        let mut stack = vec![PathBuf::from("/dev")];
        while let Some(p) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&p) else { continue };
            for e in rd.flatten() {
                let ep = e.path();
                let Ok(ft) = e.file_type() else { continue };
                let skip = ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx"].iter().any(|s| ep == Path::new(s));
                if skip {
                    continue;
                }
                if ft.is_dir() {
                    stack.push(ep);
                } else if (ft.is_char_device() || ft.is_block_device()) && !out.iter().any(|d| Path::new(&d.path) == ep) {
                    let _ = add(&ep, ep.display().to_string(), "rwm", &mut out);
                }
            }
        }
    }
    Ok(out)
}

fn mount_rootfs(inner: &Inner, id: &str, rootfs: &Path) -> Result<()> {
    std::fs::create_dir_all(rootfs).map_err(Error::io(rootfs))?;
    if is_mounted(rootfs) {
        return Ok(());
    }
    inner.images.snapshots().mount(id, rootfs).map_err(|e| Error::Snapshot { key: id.to_owned(), source: Box::new(e) })
}

pub(crate) fn is_mounted(p: &Path) -> bool {
    let want = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

pub(crate) fn unmount_rootfs(inner: &Inner, id: &str) {
    let rootfs = inner.container_dir(id).join("rootfs");
    while is_mounted(&rootfs) {
        if let Err(e) = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(container = %id, error = %e, "unmounting the rootfs");
            break;
        }
    }
}

/// Undoes a run: shim (and runtime state), network, rootfs mount.
pub(crate) async fn cleanup_run(inner: &Arc<Inner>, c: &Arc<Container>) {
    if let Some(shim) = c.shim() {
        match shim.delete(true).await {
            Ok(()) => {
                // the shim answers, then exits and removes its state dir
                wait_gone(&shim).await;
                if !shim.alive() {
                    let _ = std::fs::remove_dir_all(&shim.dir);
                }
            }
            Err(e) => {
                tracing::debug!(container = %c.id, error = %e, "shim delete");
                cleanup_dead_shim(inner, c).await;
            }
        }
    } else {
        cleanup_dead_shim(inner, c).await;
    }
    c.set_shim(None);
    let att = {
        let mut r = c.rec();
        let a = r.network.clone();
        // keep what inspect shows of a stopped container (files, network ids)
        r.network.netns = None;
        r.network.joined = None;
        r.network.ports.clear();
        a
    };
    if let Err(e) = crate::network::teardown(inner, &c.id, &att).await {
        tracing::warn!(container = %c.id, error = %e, "network teardown");
    }
    unmount_rootfs(inner, &c.id);
}

/// When the shim is gone: the runtime's own `delete --force` and the
/// shim's state dir.
pub(crate) async fn cleanup_dead_shim(inner: &Arc<Inner>, c: &Arc<Container>) {
    let rt = c.rec().runtime.clone();
    if let Ok(r) = runtime_for(inner, &rt)
        && let Err(e) = r.delete_force(&c.id).await
    {
        tracing::warn!(container = %c.id, error = %e, "runtime delete");
    }
    let dir = inner.shim_dir(&c.id);
    let shim = Shim::at(&c.id, dir.clone());
    // a shim that reported a failed start exits on its own a moment later
    wait_gone(&shim).await;
    if !shim.alive() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Waits (up to ~2 s) until the shim process is gone.
async fn wait_gone(shim: &Shim) {
    let mut delay = std::time::Duration::from_micros(500);
    for _ in 0..120 {
        if !shim.alive() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_millis(20));
    }
}

pub(crate) async fn start(inner: &Arc<Inner>, id: &str) -> Result<()> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    {
        let r = c.rec();
        if r.state.paused {
            return Err(Error::Conflict("cannot start a paused container, try unpause instead".into()));
        }
        if r.state.running {
            return Err(Error::NotModified("container already started".into()));
        }
        if r.state.status == Status::Removing || r.state.dead {
            return Err(Error::Conflict("container is marked for removal and cannot be started".into()));
        }
    }
    c.restart_gen.fetch_add(1, Ordering::SeqCst);
    {
        let mut r = c.rec();
        r.manually_stopped = false;
        r.restart_streak = 0;
    }
    do_start(inner, &c).await
}

/// Prepare (if not yet) and start; records the outcome. Caller holds `op`.
pub(crate) async fn do_start(inner: &Arc<Inner>, c: &Arc<Container>) -> Result<()> {
    let res = async {
        let shim = prepare(inner, c).await?;
        let answer = shim.start().await.map_err(start_error)?;
        let pid = answer.get("pid").and_then(|p| p.as_i64()).map(|p| p as i32).or_else(|| shim.init_pid()).unwrap_or(0);
        Ok::<_, Error>((shim, pid))
    }
    .await;
    match res {
        Ok((shim, pid)) => {
            let run_gen = {
                let mut r = c.rec();
                r.state = ContainerState {
                    status: Status::Running,
                    running: true,
                    paused: false,
                    restarting: false,
                    oom_killed: false,
                    dead: false,
                    pid,
                    exit_code: 0,
                    error: String::new(),
                    started_at: crate::time::now_nanos(),
                    finished_at: r.state.finished_at,
                };
                r.has_been_started = true;
                c.restart_gen.load(Ordering::SeqCst)
            };
            inner.save(c, Sync::Durable)?;
            c.bump();
            inner.container_event(&c.snapshot(), "start", &[]);
            tracing::debug!(container = %c.id, pid, "started");
            spawn_monitor(inner.clone(), c.clone(), shim, run_gen);
            Ok(())
        }
        Err(e) => {
            cleanup_run(inner, c).await;
            let code = e.start_failure().map(|f| f.exit_code()).unwrap_or(128);
            {
                let mut r = c.rec();
                r.state.status = if r.has_been_started { Status::Exited } else { Status::Created };
                r.state.running = false;
                r.state.restarting = false;
                r.state.pid = 0;
                r.state.exit_code = code;
                r.state.error = e.to_string();
                if r.has_been_started {
                    r.state.finished_at = crate::time::now_nanos();
                }
            }
            let _ = inner.save(c, Sync::Lazy);
            c.bump();
            let auto_remove = c.rec().spec.auto_remove;
            if auto_remove {
                // docker removes an --rm container whose start failed before
                // it answers the start (`docker run --rm` waits for that)
                if let Err(re) = remove_locked(inner, c, RemoveOptions { force: true, volumes: true, link: false }).await {
                    tracing::warn!(container = %c.id, error = %re, "auto-remove after a failed start");
                }
            }
            Err(e)
        }
    }
}

/// Watches one run of a container until it exits.
pub(crate) fn spawn_monitor(inner: Arc<Inner>, c: Arc<Container>, shim: Arc<Shim>, _gen: u64) {
    let mut shutdown = inner.shutdown.subscribe();
    tokio::spawn(async move {
        let exit = tokio::select! {
            _ = shutdown.wait_for(|v| *v) => return,
            e = wait_exit(&shim) => e,
        };
        handle_exit(&inner, &c, exit).await;
    });
}

/// The exit of a container's init, from the shim or (shim gone) its record.
async fn wait_exit(shim: &Shim) -> crate::shim::Exit {
    loop {
        match shim.wait(None).await {
            Ok(e) => return e,
            Err(e) => {
                tracing::debug!(container = %shim.id, error = %e, "shim wait");
                if let Some(x) = shim.exit_record() {
                    return x;
                }
                if !shim.alive() {
                    // the shim died before recording an exit: the container is gone with it
                    return crate::shim::Exit { exit_code: 137, signal: Some(9), exited_at: None };
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Records an exit, cleans up, applies the restart policy or `--rm`.
pub(crate) async fn handle_exit(inner: &Arc<Inner>, c: &Arc<Container>, exit: crate::shim::Exit) {
    let oom = oom_killed(inner, c);
    cleanup_run(inner, c).await;
    let (auto_remove, policy, started_at) = {
        let mut r = c.rec();
        r.state.status = Status::Exited;
        r.state.running = false;
        r.state.paused = false;
        r.state.restarting = false;
        r.state.pid = 0;
        r.state.exit_code = exit.exit_code;
        r.state.oom_killed = oom;
        r.state.finished_at = exit.at_nanos();
        (r.spec.auto_remove, r.spec.restart_policy.clone(), r.state.started_at)
    };
    let rec = c.snapshot();
    if oom {
        inner.container_event(&rec, "oom", &[]);
    }
    inner.container_event(&rec, "die", &[("exitCode", exit.exit_code.to_string()), ("execDuration", ((rec.state.finished_at - started_at).max(0) / 1_000_000_000).to_string())]);
    tracing::debug!(container = %c.id, exit_code = exit.exit_code, "exited");
    if auto_remove {
        c.bump();
        c.exits.fetch_add(1, Ordering::SeqCst);
        c.bump();
        let inner2 = inner.clone();
        let id = c.id.clone();
        tokio::spawn(async move {
            if let Err(e) = remove(&inner2, &id, RemoveOptions { force: true, volumes: true, link: false }).await {
                tracing::warn!(container = %id, error = %e, "auto-remove");
            }
        });
        return;
    }
    if let Err(e) = inner.save(c, Sync::Durable) {
        tracing::warn!(container = %c.id, error = %e, "saving the exit");
    }
    c.exits.fetch_add(1, Ordering::SeqCst);
    c.bump();
    crate::restart::after_exit(inner, c, &policy, exit.exit_code, (rec.state.finished_at - started_at).max(0));
}

fn oom_killed(inner: &Inner, c: &Container) -> bool {
    let parent = c.rec().spec.cgroup_parent.clone();
    crate::stats::cgroup(&inner.config.cgroup_parent, &c.id, parent.as_deref()).ok().and_then(|m| m.oom_kill_count().ok()).is_some_and(|n| n > 0)
}

// ---------------------------------------------------------------- stop, kill, restart, pause

fn not_running(c: &Container) -> Error {
    Error::Conflict(format!("Container {} is not running", c.id))
}

pub(crate) async fn stop(inner: &Arc<Inner>, id: &str, opts: StopOptions) -> Result<()> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    c.restart_gen.fetch_add(1, Ordering::SeqCst);
    let running = {
        let mut r = c.rec();
        r.manually_stopped = true;
        if r.state.restarting {
            r.state.restarting = false;
            r.state.status = Status::Exited;
        }
        r.state.running
    };
    if !running {
        let _ = inner.save(&c, Sync::Lazy);
        c.bump();
        return Err(Error::NotModified(format!("container {} is already stopped", c.id)));
    }
    stop_running(inner, &c, &opts).await?;
    inner.container_event(&c.snapshot(), "stop", &[]);
    Ok(())
}

/// The stop signal, then SIGKILL after the timeout; waits for the exit to
/// be handled. Caller holds `op`.
pub(crate) async fn stop_running(inner: &Arc<Inner>, c: &Arc<Container>, opts: &StopOptions) -> Result<()> {
    let (sig_name, timeout, paused) = {
        let r = c.rec();
        let sig = opts.signal.clone().filter(|s| !s.is_empty()).or_else(|| r.spec.stop_signal.clone()).unwrap_or_else(|| "SIGTERM".into());
        (sig, opts.timeout.or(r.spec.stop_timeout).unwrap_or(10), r.state.paused)
    };
    let sig = oci::parse_signal(&sig_name)?;
    let Some(shim) = c.shim() else { return Ok(()) };
    let mut watch = c.changed.subscribe();
    let exits = c.exits.load(Ordering::SeqCst);
    if paused {
        let _ = shim.pause(false).await;
    }
    if sig != libc::SIGKILL {
        match shim.kill(sig, false).await {
            Ok(()) => inner.container_event(&c.snapshot(), "kill", &[("signal", sig.to_string())]),
            Err(e) => tracing::debug!(container = %c.id, error = %e, "stop signal"),
        }
        let done = wait_exits(c, &mut watch, exits, (timeout >= 0).then(|| Duration::from_secs(timeout as u64))).await;
        if done {
            return Ok(());
        }
    }
    inner.container_event(&c.snapshot(), "kill", &[("signal", "9".into())]);
    if let Err(e) = shim.kill(libc::SIGKILL, true).await {
        tracing::debug!(container = %c.id, error = %e, "SIGKILL");
    }
    if wait_exits(c, &mut watch, exits, Some(Duration::from_secs(30))).await {
        Ok(())
    } else {
        Err(Error::Internal(format!("container {} did not exit within 30 seconds of SIGKILL", c.id)))
    }
}

async fn wait_exits(c: &Container, watch: &mut tokio::sync::watch::Receiver<u64>, before: u64, timeout: Option<Duration>) -> bool {
    let fut = async {
        loop {
            if c.exits.load(Ordering::SeqCst) > before || !c.rec().state.running {
                return;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
        None => {
            fut.await;
            true
        }
    }
}

pub(crate) async fn kill(inner: &Arc<Inner>, id: &str, signal: Option<&str>) -> Result<()> {
    let c = inner.lookup(id)?;
    let sig = oci::parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
    let _op = c.op.lock().await;
    let running = c.rec().state.running;
    if !running {
        return Err(not_running(&c));
    }
    let Some(shim) = c.shim() else { return Err(not_running(&c)) };
    {
        let mut r = c.rec();
        r.manually_stopped = true;
    }
    c.restart_gen.fetch_add(1, Ordering::SeqCst);
    let paused = c.rec().state.paused;
    if paused && sig == libc::SIGKILL {
        let _ = shim.pause(false).await;
    }
    shim.kill(sig, false).await?;
    inner.container_event(&c.snapshot(), "kill", &[("signal", sig.to_string())]);
    Ok(())
}

pub(crate) async fn restart(inner: &Arc<Inner>, id: &str, opts: StopOptions) -> Result<()> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    c.restart_gen.fetch_add(1, Ordering::SeqCst);
    let running = c.rec().state.running;
    if running {
        {
            c.rec().manually_stopped = true;
        }
        stop_running(inner, &c, &opts).await?;
        inner.container_event(&c.snapshot(), "stop", &[]);
    }
    {
        let mut r = c.rec();
        r.manually_stopped = false;
        r.state.restarting = false;
    }
    do_start(inner, &c).await?;
    inner.container_event(&c.snapshot(), "restart", &[]);
    Ok(())
}

pub(crate) async fn pause(inner: &Arc<Inner>, id: &str, pause: bool) -> Result<()> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    let (running, paused) = {
        let r = c.rec();
        (r.state.running, r.state.paused)
    };
    if !running {
        return Err(not_running(&c));
    }
    if pause && paused {
        return Err(Error::Conflict(format!("Container {} is already paused", c.id)));
    }
    if !pause && !paused {
        return Err(Error::Conflict(format!("Container {} is not paused", c.id)));
    }
    let shim = c.shim().ok_or_else(|| not_running(&c))?;
    shim.pause(pause).await?;
    {
        let mut r = c.rec();
        r.state.paused = pause;
        r.state.status = if pause { Status::Paused } else { Status::Running };
    }
    let _ = inner.save(&c, Sync::Lazy);
    c.bump();
    inner.container_event(&c.snapshot(), if pause { "pause" } else { "unpause" }, &[]);
    Ok(())
}

// ---------------------------------------------------------------- wait, remove, rename

pub(crate) async fn wait(inner: &Arc<Inner>, id: &str, cond: WaitCondition) -> Result<impl std::future::Future<Output = WaitResult> + Send + 'static> {
    let c = inner.lookup(id)?;
    let mut watch = c.changed.subscribe();
    let exits = c.exits.load(Ordering::SeqCst);
    let mut shutdown = inner.shutdown.subscribe();
    Ok(async move {
        let result = |c: &Container| WaitResult { exit_code: c.rec().state.exit_code as i64, error: None };
        loop {
            let done = match cond {
                WaitCondition::NotRunning => {
                    let r = c.rec();
                    !r.state.running && !r.state.restarting
                }
                WaitCondition::NextExit => c.exits.load(Ordering::SeqCst) > exits,
                WaitCondition::Removed => c.removed.load(Ordering::SeqCst),
            };
            if done {
                return result(&c);
            }
            tokio::select! {
                r = watch.changed() => if r.is_err() { return result(&c) },
                _ = shutdown.wait_for(|v| *v) => return WaitResult { exit_code: -1, error: Some("the daemon is shutting down".into()) },
            }
        }
    })
}

pub(crate) async fn remove(inner: &Arc<Inner>, id: &str, opts: RemoveOptions) -> Result<()> {
    if opts.link {
        return Err(Error::unsupported("rm --link"));
    }
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    remove_locked(inner, &c, opts).await
}

/// Removes a container whose `op` lock the caller holds.
async fn remove_locked(inner: &Arc<Inner>, c: &Arc<Container>, opts: RemoveOptions) -> Result<()> {
    if c.removed.load(Ordering::SeqCst) {
        return Err(Error::NoSuchContainer(c.id.clone()));
    }
    c.restart_gen.fetch_add(1, Ordering::SeqCst);
    let (running, paused, name) = {
        let r = c.rec();
        (r.state.running, r.state.paused, r.name.clone())
    };
    if running && !opts.force {
        let what = if paused { "container is paused and must be unpaused first" } else { "container is running: stop the container before removing or force remove" };
        return Err(Error::Conflict(format!("cannot remove container \"/{name}\": {what}")));
    }
    if running {
        {
            c.rec().manually_stopped = true;
        }
        stop_running(inner, c, &StopOptions { timeout: Some(0), signal: Some("SIGKILL".into()) }).await?;
    }
    {
        let mut r = c.rec();
        r.state.status = Status::Removing;
        r.state.restarting = false;
    }
    // a prepared (attached, never started) run
    cleanup_run(inner, c).await;
    inner.images.remove_rootfs(&c.id)?;
    let dir = inner.container_dir(&c.id);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(Error::io(&dir)(e));
    }
    inner.db.remove_container(&c.id, &name)?;
    crate::network::remove(inner, &c.id).await;
    inner.containers.lock().unwrap_or_else(|p| p.into_inner()).remove(&c.id);
    let rec = c.snapshot();
    if opts.volumes {
        for m in &rec.mounts {
            // anonymous volumes only, as docker's rm -v
            if m.kind == MountKind::Volume
                && let Ok(v) = inner.volumes.inspect(inner, &m.name)
                && v.anonymous
                && let Err(e) = inner.volumes.remove(inner, &m.name, true)
            {
                tracing::warn!(volume = %m.name, error = %e, "removing an anonymous volume");
            }
        }
    }
    // execs of the container go with it
    inner.execs.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, e| e.container_id != c.id);
    c.removed.store(true, Ordering::SeqCst);
    c.bump();
    inner.container_event(&rec, "destroy", &[]);
    Ok(())
}

pub(crate) async fn rename(inner: &Arc<Inner>, id: &str, new_name: &str) -> Result<()> {
    let c = inner.lookup(id)?;
    let _op = c.op.lock().await;
    let new = crate::names::validate(new_name)?;
    let old = c.rec().name.clone();
    if old == new {
        return Err(Error::invalid("Renaming a container with the same name as its current name"));
    }
    let mut rec = c.snapshot();
    rec.name = new.clone();
    match inner.db.rename_container(&c.id, &old, &new, &rec)? {
        Ok(()) => {}
        Err(holder) => return Err(Error::NameInUse { name: new, id: holder }),
    }
    c.rec().name = new;
    inner.container_event(&c.snapshot(), "rename", &[("oldName", format!("/{old}"))]);
    Ok(())
}

// ---------------------------------------------------------------- inspect, list

fn command_of(spec: &ContainerSpec) -> (String, Vec<String>) {
    let mut all: Vec<String> = spec.entrypoint.iter().flatten().chain(spec.cmd.iter().flatten()).cloned().collect();
    if spec.init == Some(true) {
        all.insert(0, "/sbin/docker-init".into());
        all.insert(1, "--".into());
    }
    if all.is_empty() {
        return (String::new(), Vec::new());
    }
    let path = all.remove(0);
    (path, all)
}

pub(crate) fn details(inner: &Inner, c: &Container, size: bool) -> ContainerDetails {
    let rec = c.snapshot();
    let (hosts, resolv, hostname) = crate::network::files(inner, &rec);
    let (path, args) = command_of(&rec.spec);
    let (log_path, _, _) = log_settings(inner, &rec);
    let (size_rw, size_root_fs) = if size { sizes(inner, &rec) } else { (None, None) };
    let exec_ids = inner.execs.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|e| e.container_id == rec.id).map(|e| e.id.clone()).collect();
    let mut graph = BTreeMap::new();
    if let Ok(Some(info)) = inner.images.snapshots().stat(&rec.id) {
        graph.insert("UpperDir".into(), info.path.display().to_string());
        graph.insert("MergedDir".into(), inner.container_dir(&rec.id).join("rootfs").display().to_string());
        if let Some(work) = info.path.parent().map(|p| p.join("work")) {
            graph.insert("WorkDir".into(), work.display().to_string());
        }
    }
    ContainerDetails {
        id: rec.id.clone(),
        name: rec.name.clone(),
        created: rec.created,
        path,
        args,
        state: rec.state.clone(),
        image_id: rec.image_id.clone(),
        resolv_conf_path: resolv.display().to_string(),
        hostname: rec.hostname.clone(),
        hostname_path: hostname.display().to_string(),
        hosts_path: hosts.display().to_string(),
        log_path: log_path.map(|p| p.display().to_string()).unwrap_or_default(),
        restart_count: rec.restart_count,
        driver: "overlay2".into(),
        platform: "linux".into(),
        exec_ids,
        runtime: rec.runtime.clone(),
        mounts: rec.mounts.clone(),
        network: crate::network::settings(&rec),
        size_rw,
        size_root_fs,
        graph_driver_data: graph,
        spec: rec.spec,
    }
}

fn sizes(inner: &Inner, rec: &Record) -> (Option<i64>, Option<i64>) {
    let rw = inner.images.snapshots().usage(&rec.id).ok().map(|u| u.size as i64);
    let image = inner.images.get(&rec.image_id).ok().map(|i| {
        i.record.chain_ids.iter().filter_map(|ch| inner.images.snapshots().usage(ch).ok()).map(|u| u.size as i64).sum::<i64>()
    });
    (rw, match (rw, image) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    })
}

pub(crate) async fn inspect(inner: &Arc<Inner>, id: &str, size: bool) -> Result<ContainerDetails> {
    let c = inner.lookup(id)?;
    Ok(details(inner, &c, size))
}

/// docker's status column.
pub(crate) fn status_text(s: &ContainerState, now: i64) -> String {
    match s.status {
        Status::Running | Status::Paused if s.running => {
            let up = crate::time::human_duration(now - s.started_at);
            if s.paused { format!("Up {up} (Paused)") } else { format!("Up {up}") }
        }
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, crate::time::human_duration(now - s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        _ if s.finished_at == 0 => "Created".into(),
        _ => format!("Exited ({}) {} ago", s.exit_code, crate::time::human_duration(now - s.finished_at)),
    }
}

pub(crate) fn summary(inner: &Inner, c: &Container, size: bool) -> ContainerSummary {
    let rec = c.snapshot();
    let (path, args) = command_of(&rec.spec);
    let command = std::iter::once(path).chain(args).collect::<Vec<_>>().join(" ");
    let mut ports = Vec::new();
    for p in &rec.spec.exposed_ports {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let private: u16 = port.split('-').next().and_then(|x| x.parse().ok()).unwrap_or(0);
        match rec.network.ports.get(p).filter(|b| !b.is_empty() && rec.state.running) {
            Some(bs) => {
                for b in bs {
                    ports.push(PortSummary { ip: if b.host_ip.is_empty() { "0.0.0.0".into() } else { b.host_ip.clone() }, private_port: private, public_port: b.host_port.parse().ok(), proto: proto.into() });
                }
            }
            None => ports.push(PortSummary { ip: String::new(), private_port: private, public_port: None, proto: proto.into() }),
        }
    }
    let (size_rw, size_root_fs) = if size { sizes(inner, &rec) } else { (None, None) };
    let network_mode = rec.spec.network_mode.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| inner.config.network.default_network.clone());
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![rec.name.clone()],
        image: rec.image_ref.clone(),
        image_id: rec.image_id.clone(),
        command,
        created: rec.created,
        status_text: status_text(&rec.state, crate::time::now_nanos()),
        state: rec.state.clone(),
        ports,
        labels: rec.spec.labels.clone(),
        size_rw,
        size_root_fs,
        network_mode,
        networks: crate::network::settings(&rec).networks,
        mounts: rec.mounts.clone(),
    }
}

pub(crate) async fn list(inner: &Arc<Inner>, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
    for k in opts.filters.keys() {
        if !matches!(
            k.as_str(),
            "id" | "name" | "label" | "status" | "ancestor" | "exited" | "before" | "since" | "volume" | "network" | "health" | "isolation" | "publish" | "expose" | "is-task"
        ) {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
    }
    if opts.filters.contains_key("health") {
        return Err(Error::unsupported("the health filter (healthchecks are not implemented)"));
    }
    for s in opts.filters.get("status").into_iter().flatten() {
        if Status::parse(s).is_none() {
            return Err(Error::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    let mut all = inner.all();
    all.retain(|c| !c.removed.load(Ordering::SeqCst) && !c.rec().creating);
    all.sort_by_key(|c| std::cmp::Reverse(c.rec().created));
    let created_of = |key: &str| -> Result<i64> { Ok(inner.lookup(key)?.rec().created) };
    let before = match opts.filters.get("before").and_then(|v| v.first()) {
        Some(k) => Some(created_of(k)?),
        None => None,
    };
    let since = match opts.filters.get("since").and_then(|v| v.first()) {
        Some(k) => Some(created_of(k)?),
        None => None,
    };
    let ancestors: Vec<String> = opts.filters.get("ancestor").into_iter().flatten().filter_map(|a| inner.images.get(a).ok().map(|i| i.id.to_string())).collect();
    let all_flag = opts.all || opts.limit > 0 || opts.filters.contains_key("status") || opts.filters.contains_key("exited");
    let mut out = Vec::new();
    for c in all {
        let rec = c.snapshot();
        if !all_flag && !rec.state.running {
            continue;
        }
        let f = &opts.filters;
        let any = |key: &str, pred: &dyn Fn(&str) -> bool| f.get(key).is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| pred(v)));
        let ok = any("id", &|v| rec.id.starts_with(v))
            && any("name", &|v| rec.name.contains(v.trim_start_matches('/')))
            && any("label", &|v| match v.split_once('=') {
                Some((k, val)) => rec.spec.labels.get(k).is_some_and(|x| x == val),
                None => rec.spec.labels.contains_key(v),
            })
            && any("status", &|v| rec.state.status.as_str() == v)
            && any("exited", &|v| !rec.state.running && rec.has_been_started && v.parse::<i32>().is_ok_and(|n| n == rec.state.exit_code))
            && (f.get("ancestor").is_none() || ancestors.contains(&rec.image_id) || f["ancestor"].contains(&rec.image_ref))
            && before.is_none_or(|b| rec.created < b)
            && since.is_none_or(|s| rec.created > s)
            && any("volume", &|v| rec.mounts.iter().any(|m| m.name == v || m.source == v || m.destination == v))
            && any("network", &|v| crate::network::mode_of(inner, &rec.spec) == v)
            && any("isolation", &|v| v == "default")
            && any("is-task", &|v| v == "false")
            && any("expose", &|v| oci::normalize_port(v).is_ok_and(|p| rec.spec.exposed_ports.contains(&p)))
            && any("publish", &|v| oci::normalize_port(v).is_ok_and(|p| rec.network.ports.contains_key(&p)));
        if ok {
            out.push(summary(inner, &c, opts.size));
        }
        if opts.limit > 0 && out.len() >= opts.limit {
            break;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- attach, resize, port

pub(crate) async fn attach(inner: &Arc<Inner>, id: &str, opts: AttachOptions) -> Result<AttachIo> {
    let c = inner.lookup(id)?;
    let tty = c.rec().spec.tty;
    let mut prefix = Vec::new();
    if opts.logs {
        let mut rx = crate::logs::logs(inner, id, LogOptions { follow: false, stdout: opts.stdout, stderr: opts.stderr, ..Default::default() }).await?;
        while let Some(l) = rx.recv().await {
            let l = l?;
            if tty {
                prefix.extend_from_slice(&l.bytes);
            } else {
                prefix.push(l.stream.id());
                prefix.extend_from_slice(&[0, 0, 0]);
                prefix.extend_from_slice(&(l.bytes.len() as u32).to_be_bytes());
                prefix.extend_from_slice(&l.bytes);
            }
        }
    }
    if !opts.stream {
        return Ok(AttachIo { io: Box::new(crate::logs::Prefixed::new(prefix, None)), tty });
    }
    let shim = {
        let _op = c.op.lock().await;
        let (running, removed) = (c.rec().state.running, c.removed.load(Ordering::SeqCst));
        if removed {
            return Err(Error::NoSuchContainer(id.to_owned()));
        }
        match c.shim() {
            Some(s) => s,
            None if !running => prepare(inner, &c).await?,
            None => return Err(Error::Conflict(format!("container {} is running but its shim is not reachable", c.id))),
        }
    };
    // docker's StdinOnce closes stdin when the attacher's input ends, but
    // never with a tty: there the input only ends when a client detaches
    // (ctrl-p ctrl-q), and a later attach must still reach the process
    let close_stdin = {
        let r = c.rec();
        r.spec.stdin_once && !r.spec.tty
    };
    let (_, stream) = shim
        .stream(serde_json::json!({"op": "attach", "stdin": opts.stdin, "stdout": opts.stdout, "stderr": opts.stderr, "close_stdin": close_stdin}))
        .await?;
    inner.container_event(&c.snapshot(), "attach", &[]);
    Ok(AttachIo { io: Box::new(crate::logs::Prefixed::new(prefix, Some(stream))), tty })
}

pub(crate) async fn resize(inner: &Arc<Inner>, id: &str, height: u16, width: u16) -> Result<()> {
    let c = inner.lookup(id)?;
    let shim = c.shim().ok_or_else(|| not_running(&c))?;
    if !c.rec().spec.tty {
        return Err(Error::Conflict(format!("container {} has no terminal to resize", c.id)));
    }
    shim.resize(None, height, width).await?;
    inner.container_event(&c.snapshot(), "resize", &[("height", height.to_string()), ("width", width.to_string())]);
    Ok(())
}

pub(crate) async fn port(inner: &Arc<Inner>, id: &str) -> Result<Vec<PortSummary>> {
    let c = inner.lookup(id)?;
    if !c.rec().state.running {
        return Err(not_running(&c));
    }
    Ok(summary(inner, &c, false).ports.into_iter().filter(|p| p.public_port.is_some()).collect())
}

pub(crate) async fn prune(inner: &Arc<Inner>, filters: BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
    for k in filters.keys() {
        if !matches!(k.as_str(), "until" | "label" | "label!") {
            return Err(Error::invalid(format!("invalid filter '{k}'")));
        }
    }
    let until = match filters.get("until").and_then(|v| v.first()) {
        Some(u) => Some(crate::time::parse_api_time(u).ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))?),
        None => None,
    };
    let mut report = PruneReport::default();
    for c in inner.all() {
        let rec = c.snapshot();
        if rec.state.running || rec.state.restarting || rec.creating {
            continue;
        }
        if until.is_some_and(|u| rec.created >= u) {
            continue;
        }
        let label_ok = |k: &str, neg: bool| {
            filters.get(k).into_iter().flatten().all(|v| {
                let has = match v.split_once('=') {
                    Some((lk, lv)) => rec.spec.labels.get(lk).is_some_and(|x| x == lv),
                    None => rec.spec.labels.contains_key(v.as_str()),
                };
                has != neg
            })
        };
        if !label_ok("label", false) || !label_ok("label!", true) {
            continue;
        }
        let size = inner.images.snapshots().usage(&rec.id).map(|u| u.size).unwrap_or(0);
        if remove(inner, &rec.id, RemoveOptions::default()).await.is_ok() {
            report.deleted.push(rec.id);
            report.space_reclaimed += size;
        }
    }
    Ok(report)
}

pub(crate) async fn info(inner: &Arc<Inner>) -> Result<SystemInfo> {
    let all = inner.all();
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for c in &all {
        let r = c.rec();
        if r.state.paused {
            paused += 1;
        } else if r.state.running {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let uname = nix::sys::utsname::uname().ok();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned())))
        .unwrap_or_else(|| "Linux".into());
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .unwrap_or(0)
        * 1024;
    let mut runtimes = BTreeMap::new();
    for name in inner.config.runtimes.keys().cloned().chain(std::iter::once(crate::config::DEFAULT_RUNTIME.to_owned())) {
        if let Some(h) = inner.config.runtime(&name) {
            runtimes.insert(name, h.path.display().to_string());
        }
    }
    Ok(SystemInfo {
        containers: all.len(),
        containers_running: running,
        containers_paused: paused,
        containers_stopped: stopped,
        images: inner.images.list().map(|l| l.len()).unwrap_or(0),
        data_root: inner.config.data_root.display().to_string(),
        exec_root: inner.config.exec_root.display().to_string(),
        runtimes,
        default_runtime: inner.config.default_runtime.clone(),
        cgroup_version: if inner.host.cgroup2 { "2".into() } else { "1".into() },
        cgroup_driver: "cgroupfs".into(),
        logging_driver: inner.config.log.driver.clone(),
        kernel_version: uname.as_ref().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default(),
        operating_system: os,
        os_type: "linux".into(),
        architecture: uname.as_ref().map(|u| u.machine().to_string_lossy().into_owned()).unwrap_or_default(),
        ncpu: inner.host.ncpu,
        mem_total,
        name: nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
        init_binary: inner.config.init_binary().map(|p| p.display().to_string()).unwrap_or_default(),
        security_options: vec!["name=seccomp,profile=builtin".into()],
        insecure_registries: inner.config.registries.insecure.clone(),
        registry_mirrors: inner.config.registries.mirrors.clone(),
        live_restore_enabled: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn status_texts() {
        let s = 1_000_000_000i64;
        let mut st = ContainerState {
            status: Status::Running,
            running: true,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 1,
            exit_code: 0,
            error: String::new(),
            started_at: 100 * s,
            finished_at: 0,
        };
        assert_eq!(status_text(&st, 105 * s), "Up 5 seconds");
        st.paused = true;
        st.status = Status::Paused;
        assert_eq!(status_text(&st, 105 * s), "Up 5 seconds (Paused)");
        st = ContainerState { status: Status::Exited, running: false, paused: false, exit_code: 3, finished_at: 100 * s, ..st };
        assert_eq!(status_text(&st, 400 * s), "Exited (3) 5 minutes ago");
        st.status = Status::Created;
        assert_eq!(status_text(&st, 400 * s), "Created");
    }
}
