//! [`Engine`]: the handle every API holds, and the container registry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use crate::model::*;
use crate::oci::HostFacts;
use crate::spec::{ContainerSpec, ExecSpec, WaitCondition};
use crate::store::{Db, Sync};

/// What [`Engine::create`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    /// docker's `Warnings` (e.g. swap limit unsupported).
    pub warnings: Vec<String>,
}

/// What a finished [`Engine::wait`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    pub exit_code: i64,
    /// docker's `Error.Message`, when waiting itself failed.
    pub error: Option<String>,
}

/// A bidirectional byte stream (the attach or exec connection to a shim).
pub trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Duplex for T {}

/// An attached container or exec: the bytes to copy to and from the
/// client's hijacked connection.
///
/// * Reading `io` yields exactly what the Docker API puts on the wire:
///   stdcopy frames (`[stream, 0, 0, 0, len BE u32] payload`) when `tty` is
///   false, the raw terminal byte stream when it is true. EOF when the
///   process has exited and its output is drained.
/// * Writing `io` feeds the process's stdin (when stdin was asked for);
///   shutting down the write half closes stdin.
pub struct AttachIo {
    pub io: Box<dyn Duplex>,
    pub tty: bool,
}

impl std::fmt::Debug for AttachIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachIo").field("tty", &self.tty).finish_non_exhaustive()
    }
}

/// What [`Engine::exec_start`] returns: the stream unless detached.
#[derive(Debug)]
pub enum ExecStarted {
    Detached,
    Attached(AttachIo),
}

/// The persisted record of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub name: String,
    pub created: i64,
    /// The image as the client named it.
    pub image_ref: String,
    pub image_id: String,
    /// Merged with the image config.
    pub spec: ContainerSpec,
    pub runtime: String,
    pub state: ContainerState,
    pub restart_count: i64,
    pub has_been_started: bool,
    /// Stopped by a user (stop/kill/die while stopping): `unless-stopped`
    /// and `always` do not restart it after a daemon restart... (always does).
    pub manually_stopped: bool,
    /// Set while create is in progress; a record found with it at open is
    /// a leftover of a daemon killed mid-create and is removed.
    pub creating: bool,
    /// Mounts resolved at create (volumes created).
    pub mounts: Vec<MountPoint>,
    /// The hostname in use.
    pub hostname: String,
    /// Network state while running (netns, endpoints, ports).
    #[serde(default)]
    pub network: crate::network::Attachment,
    /// Runs of the current restart streak (for on-failure:N and backoff).
    #[serde(default)]
    pub restart_streak: u32,
}

/// A container in memory.
#[derive(Debug)]
pub(crate) struct Container {
    pub id: String,
    /// Serialises lifecycle operations (start, stop, remove, rename...).
    pub op: Arc<tokio::sync::Mutex<()>>,
    pub rec: Mutex<Record>,
    /// Bumped on every state change; `wait` and `stop` watch it.
    pub changed: watch::Sender<u64>,
    /// The shim while the container runs.
    pub shim: Mutex<Option<Arc<crate::shim::Shim>>>,
    /// Bumped by stop/kill/rm/start: a pending restart-policy timer whose
    /// generation is stale gives up.
    pub restart_gen: std::sync::atomic::AtomicU64,
    /// Exits seen (for `wait --condition next-exit` and stop).
    pub exits: std::sync::atomic::AtomicU64,
    /// Set once removed (for `wait --condition removed`).
    pub removed: std::sync::atomic::AtomicBool,
}

impl Container {
    pub(crate) fn new(rec: Record) -> Arc<Container> {
        let (changed, _) = watch::channel(0);
        Arc::new(Container {
            id: rec.id.clone(),
            op: Arc::new(tokio::sync::Mutex::new(())),
            rec: Mutex::new(rec),
            changed,
            shim: Mutex::new(None),
            restart_gen: std::sync::atomic::AtomicU64::new(0),
            exits: std::sync::atomic::AtomicU64::new(0),
            removed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn rec(&self) -> std::sync::MutexGuard<'_, Record> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Record {
        self.rec().clone()
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    pub(crate) fn shim(&self) -> Option<Arc<crate::shim::Shim>> {
        self.shim.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_shim(&self, s: Option<Arc<crate::shim::Shim>>) {
        *self.shim.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub host: HostFacts,
    pub images: berth_image::ImageStore,
    pub db: Db,
    pub events: crate::events::Bus,
    pub containers: Mutex<BTreeMap<String, Arc<Container>>>,
    pub execs: Mutex<BTreeMap<String, Arc<crate::exec::Exec>>>,
    pub volumes: crate::volumes::Volumes,
    pub network: crate::network::Network,
    pub shutdown: watch::Sender<bool>,
    /// Held for the engine's life: one engine per data root.
    pub _lock: std::fs::File,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("data_root", &self.config.data_root).finish_non_exhaustive()
    }
}

/// The container engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Inner {
    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    pub(crate) fn shim_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("shims").join(id)
    }

    pub(crate) fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.config.exec_root.join("runtime").join(runtime)
    }

    /// Finds a container by full id, name (`/name` too), or unique id prefix.
    pub(crate) fn lookup(&self, key: &str) -> Result<Arc<Container>> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if key.is_empty() {
            return Err(Error::NoSuchContainer(key.to_owned()));
        }
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = map.values().find(|c| c.rec().name == name) {
            return Ok(c.clone());
        }
        let mut found: Option<&Arc<Container>> = None;
        for (id, c) in map.iter() {
            if id.starts_with(key) {
                if found.is_some() {
                    return Err(Error::invalid(format!("multiple IDs found with provided prefix: {key}")));
                }
                found = Some(c);
            }
        }
        found.cloned().ok_or_else(|| Error::NoSuchContainer(key.to_owned()))
    }

    pub(crate) fn all(&self) -> Vec<Arc<Container>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Saves the record (lazily: state changes are re-derived at restore).
    pub(crate) fn save(&self, c: &Container, sync: Sync) -> Result<()> {
        let rec = c.snapshot();
        self.db.put_container(&c.id, &rec, sync)
    }

    pub(crate) fn container_event(&self, c: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = c.spec.labels.clone();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.image_ref.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events.publish(EventType::Container, action, c.id.clone(), attrs);
    }
}

impl Engine {
    /// Opens the engine: the metadata DB, the image store, volumes, and
    /// live restore of every container (see the crate docs). Fails when
    /// another engine holds the data root.
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        crate::restore::open(config).await
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The image store (for the image endpoints that need no container
    /// knowledge; use the `image_*` methods for those that do: they check
    /// containers and publish events).
    pub fn images(&self) -> &berth_image::ImageStore {
        &self.inner.images
    }

    /// Stops the engine's background tasks (exit monitors, restart timers,
    /// event subscriptions end). Containers keep running; a new engine on
    /// the same data root re-attaches them.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        crate::shim::close_all(&self.inner);
    }

    // ---- containers ----

    /// `POST /containers/create`. The image must be present (the API pulls
    /// first when asked to). Errors: image not found (404), name in use
    /// (409, docker's text), invalid options (400), `not supported yet`.
    pub async fn create(&self, spec: ContainerSpec) -> Result<Created> {
        crate::container::create(&self.inner, spec).await
    }

    /// `POST /containers/{id}/start`. `NotModified` when already running.
    /// A process that cannot be started gives [`Error::StartFailed`] (with
    /// [`crate::StartFailure`] for 126/127) and leaves the container exited
    /// with that code, as docker does; an auto-remove (`--rm`) container is
    /// removed before the error is returned, as dockerd does.
    pub async fn start(&self, id: &str) -> Result<()> {
        crate::container::start(&self.inner, id).await
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the
    /// timeout. `NotModified` when not running.
    pub async fn stop(&self, id: &str, opts: StopOptions) -> Result<()> {
        crate::container::stop(&self.inner, id, opts).await
    }

    /// `POST /containers/{id}/kill` (default SIGKILL). Conflict when not
    /// running (docker: `Container x is not running`).
    pub async fn kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        crate::container::kill(&self.inner, id, signal).await
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(&self, id: &str, opts: StopOptions) -> Result<()> {
        crate::container::restart(&self.inner, id, opts).await
    }

    pub async fn pause(&self, id: &str) -> Result<()> {
        crate::container::pause(&self.inner, id, true).await
    }

    pub async fn unpause(&self, id: &str) -> Result<()> {
        crate::container::pause(&self.inner, id, false).await
    }

    /// `POST /containers/{id}/wait`. Resolves the container and checks the
    /// condition at once (so that errors come before the API sends its
    /// headers); the returned future completes when the condition is met.
    pub async fn wait(&self, id: &str, condition: WaitCondition) -> Result<impl std::future::Future<Output = WaitResult> + Send + 'static> {
        crate::container::wait(&self.inner, id, condition).await
    }

    /// `DELETE /containers/{id}`. A running container needs `force`
    /// (docker's conflict text otherwise).
    pub async fn remove(&self, id: &str, opts: RemoveOptions) -> Result<()> {
        crate::container::remove(&self.inner, id, opts).await
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        crate::container::rename(&self.inner, id, new_name).await
    }

    /// `GET /containers/{id}/json`; `size` computes the writable layer size.
    pub async fn inspect(&self, id: &str, size: bool) -> Result<ContainerDetails> {
        crate::container::inspect(&self.inner, id, size).await
    }

    /// `GET /containers/json`, newest first.
    pub async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        crate::container::list(&self.inner, opts).await
    }

    /// `GET /containers/{id}/logs`: records from the json-file log, then
    /// (with `follow`) new ones until the container stops and the log is
    /// drained, or the receiver is dropped. Errors inside the stream are
    /// sent as `Err` and end it.
    pub async fn logs(&self, id: &str, opts: LogOptions) -> Result<tokio::sync::mpsc::Receiver<Result<LogLine>>> {
        crate::logs::logs(&self.inner, id, opts).await
    }

    /// `POST /containers/{id}/attach`: connects to the shim's attach socket.
    /// With `opts.logs` the past log is replayed first (non-tty: as stdcopy
    /// frames).
    pub async fn attach(&self, id: &str, opts: AttachOptions) -> Result<AttachIo> {
        crate::container::attach(&self.inner, id, opts).await
    }

    /// `POST /containers/{id}/resize` (tty only).
    pub async fn resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        crate::container::resize(&self.inner, id, height, width).await
    }

    /// `GET /containers/{id}/top`: `ps` on the host, filtered to the
    /// container's processes (docker's behaviour; default args `-ef`).
    pub async fn top(&self, id: &str, ps_args: Option<&str>) -> Result<Top> {
        crate::stats::top(&self.inner, id, ps_args).await
    }

    /// `GET /containers/{id}/stats`: one sample per second while `stream`;
    /// without it, one sample (taken after a first one so that `precpu` is
    /// filled, as docker does unless `one_shot`).
    pub async fn stats(&self, id: &str, stream: bool, one_shot: bool) -> Result<tokio::sync::mpsc::Receiver<Result<StatsSample>>> {
        crate::stats::stats(&self.inner, id, stream, one_shot).await
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_head(&self, id: &str, path: &str) -> Result<PathStat> {
        crate::archive::head(&self.inner, id, path).await
    }

    /// `GET /containers/{id}/archive?path=`: the stat and a tar stream of
    /// the path (resolved inside the container's rootfs and mounts, never
    /// following a symlink out).
    pub async fn archive_get(&self, id: &str, path: &str) -> Result<(PathStat, tokio::sync::mpsc::Receiver<Result<bytes::Bytes>>)> {
        crate::archive::get(&self.inner, id, path).await
    }

    /// `PUT /containers/{id}/archive?path=`: extracts a tar (plain or
    /// compressed) into the directory `path`.
    pub async fn archive_put(&self, id: &str, path: &str, tar: Box<dyn std::io::Read + Send>, opts: ArchivePutOptions) -> Result<()> {
        crate::archive::put(&self.inner, id, path, tar, opts).await
    }

    /// `GET /containers/{id}/export`: the whole rootfs as a tar stream.
    pub async fn export(&self, id: &str) -> Result<tokio::sync::mpsc::Receiver<Result<bytes::Bytes>>> {
        crate::archive::export(&self.inner, id).await
    }

    /// `GET /containers/{id}/changes`.
    pub async fn changes(&self, id: &str) -> Result<Vec<berth_snapshots::Change>> {
        crate::archive::changes(&self.inner, id).await
    }

    /// `POST /commit`: a new image from the container's changes.
    pub async fn commit(&self, id: &str, opts: CommitOptions) -> Result<berth_image::Image> {
        crate::images::commit(&self.inner, id, opts).await
    }

    /// `docker port`: the published ports (actual host ports).
    pub async fn port(&self, id: &str) -> Result<Vec<PortSummary>> {
        crate::container::port(&self.inner, id).await
    }

    /// `GET /events` (call within a tokio runtime: the subscription is a task).
    pub fn events(&self, opts: EventsOptions) -> crate::events::EventStream {
        self.inner.events.subscribe(opts)
    }

    /// `POST /containers/prune` (`until`, `label` filters).
    pub async fn prune_containers(&self, filters: BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        crate::container::prune(&self.inner, filters).await
    }

    // ---- execs ----

    /// `POST /containers/{id}/exec`: returns the exec id. The container must
    /// be running (docker: `Container x is not running`, 409).
    pub async fn exec_create(&self, id: &str, spec: ExecSpec) -> Result<String> {
        crate::exec::create(&self.inner, id, spec).await
    }

    /// `POST /exec/{id}/start`.
    pub async fn exec_start(&self, exec_id: &str, opts: ExecStartOptions) -> Result<ExecStarted> {
        crate::exec::start(&self.inner, exec_id, opts).await
    }

    /// `GET /exec/{id}/json`.
    pub async fn exec_inspect(&self, exec_id: &str) -> Result<ExecDetails> {
        crate::exec::inspect(&self.inner, exec_id).await
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        crate::exec::resize(&self.inner, exec_id, height, width).await
    }

    // ---- images (those that involve containers or events) ----

    /// `POST /images/create?fromImage=`: pull, publishing a `pull` event.
    pub async fn image_pull(&self, reference: &str, platform: Option<&str>, auth: &berth_image::Auth, progress: &berth_image::Progress) -> Result<berth_image::Image> {
        crate::images::pull(&self.inner, reference, platform, auth, progress).await
    }

    /// `POST /images/{name}/push`.
    pub async fn image_push(&self, reference: &str, auth: &berth_image::Auth, progress: &berth_image::Progress) -> Result<berth_image::Digest> {
        crate::images::push(&self.inner, reference, auth, progress).await
    }

    /// `POST /images/{name}/tag`.
    pub async fn image_tag(&self, source: &str, target: &str) -> Result<()> {
        crate::images::tag(&self.inner, source, target).await
    }

    /// `DELETE /images/{name}`: refuses an image a container uses (docker's
    /// conflict text) unless `force`.
    pub async fn image_remove(&self, reference: &str, force: bool) -> Result<Vec<berth_image::Removed>> {
        crate::images::remove(&self.inner, reference, force).await
    }

    /// `POST /images/prune`: `dangling` only (default) or all unused.
    pub async fn image_prune(&self, all: bool, filters: BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        crate::images::prune(&self.inner, all, filters).await
    }

    /// `POST /images/load`.
    pub async fn image_load(&self, input: Box<dyn std::io::Read + Send>, progress: &berth_image::Progress) -> Result<Vec<berth_image::Image>> {
        crate::images::load(&self.inner, input, progress).await
    }

    /// `POST /images/create?fromSrc=-`.
    pub async fn image_import(&self, input: Box<dyn std::io::Read + Send>, reference: Option<&str>, changes: &[String]) -> Result<berth_image::Image> {
        crate::images::import(&self.inner, input, reference, changes).await
    }

    // ---- volumes ----

    /// `POST /volumes/create` (driver `local` only; `opts` refused).
    pub async fn volume_create(&self, name: Option<&str>, labels: BTreeMap<String, String>, driver_opts: BTreeMap<String, String>) -> Result<VolumeInfo> {
        self.inner.volumes.create(&self.inner, name, labels, driver_opts, false)
    }

    pub async fn volume_inspect(&self, name: &str) -> Result<VolumeInfo> {
        self.inner.volumes.inspect(&self.inner, name)
    }

    /// Filters: `name`, `label`, `dangling`, `driver`.
    pub async fn volume_list(&self, filters: BTreeMap<String, Vec<String>>) -> Result<Vec<VolumeInfo>> {
        self.inner.volumes.list(&self.inner, &filters)
    }

    /// Refuses a volume in use (docker's text) unless... docker has no force
    /// for in-use volumes; `force` only ignores a missing one.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        self.inner.volumes.remove(&self.inner, name, force)
    }

    /// `POST /volumes/prune`: unused anonymous volumes (`all` for named too).
    pub async fn volume_prune(&self, all: bool, filters: BTreeMap<String, Vec<String>>) -> Result<PruneReport> {
        self.inner.volumes.prune(&self.inner, all, &filters)
    }

    // ---- networks (berth-network) ----

    /// `POST /networks/create`.
    pub async fn network_create(&self, name: &str, opts: crate::network::NetworkOptions) -> Result<crate::network::NetworkInfo> {
        crate::network::create_network(&self.inner, name, opts).await
    }

    /// `GET /networks/{id}` (name, id or unique id prefix).
    pub async fn network_inspect(&self, name: &str) -> Result<crate::network::NetworkInfo> {
        crate::network::inspect_network(&self.inner, name).await
    }

    /// `GET /networks` (the API filters).
    pub async fn network_list(&self) -> Result<Vec<crate::network::NetworkInfo>> {
        crate::network::list_networks(&self.inner).await
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, name: &str) -> Result<()> {
        crate::network::remove_network(&self.inner, name).await
    }

    /// `POST /networks/prune`: names of the removed networks.
    pub async fn network_prune(&self) -> Result<Vec<String>> {
        crate::network::prune_networks(&self.inner).await
    }

    /// `POST /networks/{id}/connect` (running containers only for now).
    pub async fn network_connect(&self, container: &str, network: &str, endpoint: crate::spec::EndpointSpec) -> Result<()> {
        crate::network::connect(&self.inner, container, network, endpoint).await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, container: &str, network: &str, force: bool) -> Result<()> {
        crate::network::disconnect(&self.inner, container, network, force).await
    }

    // ---- system ----

    /// `GET /system/df`.
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        crate::images::disk_usage(&self.inner).await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<SystemInfo> {
        crate::container::info(&self.inner).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn engine_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Engine>();
    }
}
