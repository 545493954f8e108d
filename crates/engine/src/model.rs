//! What the engine returns: container records and state, list entries,
//! events, execs, logs, stats, and the option structs of the verbs. Plain
//! data; the API crate turns them into docker's JSON.
//!
//! Times are nanoseconds since the Unix epoch (`i64`, 0 = never); use
//! [`crate::time::rfc3339_nano`] for docker's `2006-01-02T15:04:05.999999999Z`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::{ContainerSpec, MountKind, PortBinding};

/// Docker's container status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => return None,
        })
    }
}

/// docker inspect's `State`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub dead: bool,
    /// Host pid of the container's first process (0 when not running).
    pub pid: i32,
    pub exit_code: i32,
    /// Why the last start failed (docker's text), empty otherwise.
    pub error: String,
    pub started_at: i64,
    pub finished_at: i64,
}

/// docker inspect's `Mounts[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Volume name (volumes only).
    pub name: String,
    /// Host path.
    pub source: String,
    pub destination: String,
    /// `local` for volumes.
    pub driver: String,
    /// docker's `Mode`: the options string given (`ro`, `z`, ...).
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
}

/// A container's address on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub network_id: String,
    pub endpoint_id: String,
    pub gateway: String,
    pub ip_address: String,
    pub ip_prefix_len: u8,
    pub ipv6_gateway: String,
    pub global_ipv6_address: String,
    pub global_ipv6_prefix_len: u8,
    pub mac_address: String,
    pub aliases: Vec<String>,
}

/// docker inspect's `NetworkSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    /// Path of the container's network namespace (empty for host/none).
    pub sandbox_key: String,
    /// Published ports: `80/tcp` → bindings (actual host ports, after
    /// ephemeral ones were chosen); exposed but unpublished ports map to an
    /// empty list.
    pub ports: BTreeMap<String, Vec<PortBinding>>,
    /// By network name.
    pub networks: BTreeMap<String, EndpointInfo>,
}

/// Everything `docker inspect <container>` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerDetails {
    /// 64 hex.
    pub id: String,
    /// Without the leading `/` (the API adds it).
    pub name: String,
    pub created: i64,
    /// Entrypoint + cmd split as docker's `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    /// Image id (`sha256:...`).
    pub image_id: String,
    pub resolv_conf_path: String,
    /// The hostname in use: `--hostname`, the host's with `--network host`,
    /// else the short id (what `/etc/hostname` holds while it runs).
    pub hostname: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub restart_count: i64,
    /// `overlay2` for docker clients' sake.
    pub driver: String,
    pub platform: String,
    pub exec_ids: Vec<String>,
    /// The spec as created, merged with the image config (docker's
    /// `Config` + `HostConfig`: the image's env, cmd, entrypoint, working
    /// dir, labels, stop signal, exposed ports and volumes filled in).
    pub spec: ContainerSpec,
    /// Resolved runtime handler name.
    pub runtime: String,
    pub mounts: Vec<MountPoint>,
    pub network: NetworkSettings,
    /// Bytes in the writable layer / total, when asked (`size`).
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    /// Path of the overlay upper dir etc., for `GraphDriver.Data`.
    pub graph_driver_data: BTreeMap<String, String>,
}

/// One row of `docker ps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub id: String,
    /// Without the leading `/`.
    pub names: Vec<String>,
    /// The reference the container was created with (`busybox`).
    pub image: String,
    pub image_id: String,
    /// Entrypoint + cmd joined with spaces.
    pub command: String,
    pub created: i64,
    pub state: ContainerState,
    /// docker's human status: `Up 2 minutes`, `Exited (0) 3 seconds ago`, ...
    pub status_text: String,
    pub ports: Vec<PortSummary>,
    pub labels: BTreeMap<String, String>,
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    pub network_mode: String,
    pub networks: BTreeMap<String, EndpointInfo>,
    pub mounts: Vec<MountPoint>,
}

/// One port line of `docker ps` / `docker port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSummary {
    pub ip: String,
    pub private_port: u16,
    pub public_port: Option<u16>,
    /// `tcp`, `udp`, `sctp`.
    pub proto: String,
}

/// `docker ps` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-a`: stopped containers too.
    pub all: bool,
    /// `-n`: the last N created (implies all); 0 = no limit.
    pub limit: usize,
    /// `-s`.
    pub size: bool,
    /// docker's filters: `id`, `name`, `label` (`k` or `k=v`), `status`,
    /// `ancestor`, `exited`, `before`, `since`, `volume`, `network`,
    /// `health` (refused), `isolation`, `publish`, `expose`, `is-task`.
    /// Each key's values are ORed, keys ANDed.
    pub filters: BTreeMap<String, Vec<String>>,
}

/// `docker stop` / `docker restart` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopOptions {
    /// Seconds before SIGKILL; `None` = the container's stop timeout
    /// (default 10); negative = wait forever.
    pub timeout: Option<i64>,
    /// Signal instead of the container's stop signal.
    pub signal: Option<String>,
}

/// `docker rm` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove anonymous volumes.
    pub volumes: bool,
    /// `--link`: refused (not supported yet).
    pub link: bool,
}

/// `docker logs` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Nanoseconds since the epoch; 0 = from the beginning.
    pub since: i64,
    /// Nanoseconds since the epoch; 0 = no end.
    pub until: i64,
    /// Keep the last N lines; `None` = all.
    pub tail: Option<usize>,
}

/// Which output stream a log line or attach frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
}

impl StdStream {
    /// docker's stdcopy stream byte.
    pub fn id(self) -> u8 {
        match self {
            StdStream::Stdin => 0,
            StdStream::Stdout => 1,
            StdStream::Stderr => 2,
        }
    }
}

/// One log record: a line (with its `\n` when it had one) or a partial
/// chunk of a long line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: StdStream,
    /// Nanoseconds since the epoch.
    pub time: i64,
    pub bytes: Vec<u8>,
}

/// `docker attach` / hijacked start options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log before attaching (`logs=1`).
    pub logs: bool,
    /// Stream live output (`stream=1`).
    pub stream: bool,
}

/// `docker commit` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOptions {
    /// `repo[:tag]`.
    pub reference: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// `--pause` (default true in docker): pause a running container while
    /// its layer is written.
    pub pause: bool,
}

/// `docker exec` inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecDetails {
    pub id: String,
    pub container_id: String,
    pub running: bool,
    /// `None` until it has exited.
    pub exit_code: Option<i32>,
    /// Host pid while running (0 otherwise).
    pub pid: i32,
    pub open_stdin: bool,
    pub open_stdout: bool,
    pub open_stderr: bool,
    pub spec: crate::spec::ExecSpec,
    /// The program and its arguments, as docker's `ProcessConfig`.
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub user: String,
    pub can_remove: bool,
}

/// `docker exec` start options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStartOptions {
    pub detach: bool,
    pub tty: bool,
    pub console_size: Option<(u16, u16)>,
}

/// `docker top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One `docker stats` sample, docker's shape in engine terms. CPU times in
/// nanoseconds, memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// When taken (ns since epoch).
    pub read: i64,
    /// The previous sample's time (0 for the first).
    pub preread: i64,
    pub cpu: CpuSample,
    pub precpu: CpuSample,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    pub memory_limit: u64,
    /// cgroup memory.stat entries (`cache`, `rss`, `inactive_file`, ...).
    pub memory_stats: BTreeMap<String, u64>,
    pub pids_current: u64,
    pub pids_limit: u64,
    /// Per device `(major, minor, op, value)`, ops `Read`/`Write`/`Total`...
    pub blkio_io_service_bytes: Vec<(u64, u64, String, u64)>,
    pub blkio_io_serviced: Vec<(u64, u64, String, u64)>,
    /// By interface name in the container's netns.
    pub networks: BTreeMap<String, NetSample>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSample {
    pub total_usage: u64,
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
    /// Host CPU time (ns) from /proc/stat, for docker's CPU %.
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
    pub throttling_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSample {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// `HEAD /containers/{id}/archive`: docker's `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits (docker puts them in the header as is).
    pub mode: u32,
    /// RFC 3339 mtime.
    pub mtime: String,
    pub link_target: String,
}

/// `PUT /containers/{id}/archive` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchivePutOptions {
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// `-a`: keep the archive's uid/gid (else the container's root... as
    /// docker: the files get the archive's ids when true, 0:0 otherwise).
    pub copy_uid_gid: bool,
}

/// docker's event `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Container,
    Image,
    Volume,
    Network,
    Daemon,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::Network => "network",
            EventType::Daemon => "daemon",
        }
    }
}

/// One event, as `docker events` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub typ: EventType,
    /// `create`, `start`, `die`, `stop`, `kill`, `destroy`, `pause`,
    /// `unpause`, `rename`, `restart`, `attach`, `resize`, `oom`,
    /// `exec_create: sh`, `exec_start: sh`, `exec_die`, `commit`,
    /// `copy`... `pull`, `push`, `tag`, `untag`, `delete`, `import`, `load`,
    /// `save`; `create`/`destroy`/`mount`/`unmount` for volumes;
    /// `create`/`connect`/`disconnect`/`destroy` for networks.
    pub action: String,
    /// Container id, image reference or id, volume name, network id.
    pub actor_id: String,
    /// `name`, `image`, `exitCode`, `signal`, labels...
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

/// `docker events` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsOptions {
    /// ns since epoch; replay buffered events from then (0 = none).
    pub since: i64,
    /// ns since epoch; stop at (0 = follow forever).
    pub until: i64,
    /// docker's filters: `type`, `event`, `container`, `image`, `label`,
    /// `volume`, `network`, `daemon`, `scope`.
    pub filters: BTreeMap<String, Vec<String>>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Ids or names removed.
    pub deleted: Vec<String>,
    /// For images: untagged references.
    pub untagged: Vec<String>,
    pub space_reclaimed: u64,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    /// Host path of the data (`<data_root>/volumes/<name>/_data`).
    pub mountpoint: String,
    pub created_at: i64,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub scope: String,
    /// Containers using it (filled when asked, e.g. by `system df`).
    pub ref_count: Option<i64>,
    pub size: Option<i64>,
    /// Made for one container (`-v /data`) rather than by name.
    pub anonymous: bool,
}

/// `docker system df`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerSummary>,
    pub volumes: Vec<VolumeInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUsage {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: i64,
    pub size: i64,
    pub shared_size: i64,
    pub containers: i64,
}

/// `docker info` facts the engine knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub containers: usize,
    pub containers_running: usize,
    pub containers_paused: usize,
    pub containers_stopped: usize,
    pub images: usize,
    pub data_root: String,
    pub exec_root: String,
    pub runtimes: BTreeMap<String, String>,
    pub default_runtime: String,
    pub cgroup_version: String,
    pub cgroup_driver: String,
    pub logging_driver: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_type: String,
    pub architecture: String,
    pub ncpu: usize,
    pub mem_total: u64,
    pub name: String,
    pub init_binary: String,
    pub security_options: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub live_restore_enabled: bool,
}
