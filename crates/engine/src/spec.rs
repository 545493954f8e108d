//! [`ContainerSpec`]: what a client asks for when it creates a container.
//!
//! It mirrors docker's container `Config` + `HostConfig` + `NetworkingConfig`
//! in engine terms, so the API crate can convert field by field. The engine
//! validates it, merges it with the image config ([`crate::oci`]) and stores
//! it; `inspect` returns the merged form (docker's `Config` shows image
//! defaults filled in, `HostConfig` shows what was asked).
//!
//! Fields the engine does not implement yet are refused at create with
//! `not supported yet: <option>` ([`crate::Error::NotSupported`]), never
//! ignored. The API crate must pass every option the client sets, including
//! the ones listed in [`Unsupported`], so that the refusal happens in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A container to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    /// `--name`; docker's rules `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a leading `/`
    /// is allowed. A generated `adjective_surname` when `None`.
    pub name: Option<String>,
    /// Image reference or id.
    pub image: String,
    /// `--platform` (`linux/amd64`); the host's when `None`.
    pub platform: Option<String>,

    // ---- docker's Config ----
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `-u`: `name`, `uid`, `name:group`, `uid:gid`; resolved against the
    /// container's `/etc/passwd` and `/etc/group` at start.
    pub user: Option<String>,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// `--expose` / image `EXPOSE`: `80/tcp`, `53/udp`.
    pub exposed_ports: Vec<String>,
    pub tty: bool,
    /// `HostConfig.ConsoleSize`: the terminal's initial (height, width),
    /// given to the runtime as `process.consoleSize` (with `tty` only).
    pub console_size: Option<(u16, u16)>,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// `-e` (and `--env-file`, expanded by the client): `K=V`, or `K` alone
    /// to take... nothing (the client resolves `K` from its environment).
    pub env: Vec<String>,
    /// `None`: the image's `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `None`: the image's `Entrypoint`. `Some(vec![])` (`--entrypoint ""`)
    /// clears the image's entrypoint and its `Cmd`.
    pub entrypoint: Option<Vec<String>>,
    /// Anonymous volumes (`-v /data`, image `VOLUME`).
    pub volumes: Vec<String>,
    pub working_dir: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `--stop-signal` (`SIGTERM`, `TERM`, `15`); the image's, else SIGTERM.
    pub stop_signal: Option<String>,
    /// `--stop-timeout` seconds; default 10.
    pub stop_timeout: Option<i64>,
    /// `--network none` from old clients (`NetworkDisabled`).
    pub network_disabled: bool,
    pub mac_address: Option<String>,
    /// `Healthcheck` is refused when set (not supported yet).
    pub healthcheck: Option<serde_json::Value>,

    // ---- docker's HostConfig ----
    /// `-v src:dst[:opts]` in docker's syntax (parsed by the engine).
    pub binds: Vec<String>,
    /// `--mount` in structured form.
    pub mounts: Vec<MountSpec>,
    /// `--tmpfs dst[:opts]`.
    pub tmpfs: BTreeMap<String, String>,
    pub log_config: Option<LogConfig>,
    /// `--network`: `bridge` (default), `none`, `host`, `container:<id>`, or a
    /// user-defined network name.
    pub network_mode: Option<String>,
    /// `-p`: container port (`80/tcp`) → host bindings.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`.
    pub publish_all_ports: bool,
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    /// `--add-host host:ip` (or `host=ip`); `host-gateway` is resolved.
    pub extra_hosts: Vec<String>,
    /// `--group-add`: names (resolved in the container's /etc/group) or gids.
    pub group_add: Vec<String>,
    /// `--ipc`: `""`/`private`/`shareable`/`host`/`container:<id>`/`none`.
    pub ipc_mode: Option<String>,
    /// `--pid`: `""`/`host`/`container:<id>`.
    pub pid_mode: Option<String>,
    /// `--uts`: `""`/`host`.
    pub uts_mode: Option<String>,
    /// `--userns`: only `""`/`host` (remapping is not supported yet).
    pub userns_mode: Option<String>,
    /// `--cgroupns`: `""`/`private`/`host`.
    pub cgroupns_mode: Option<String>,
    pub oom_score_adj: Option<i32>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    /// `--security-opt`: `seccomp=unconfined|<json profile contents>`,
    /// `no-new-privileges[=true|false]`; `label=...`, `apparmor=...` are
    /// refused (not supported yet). Docker's CLI reads the seccomp file and
    /// sends its contents; the engine accepts either.
    pub security_opt: Vec<String>,
    pub shm_size: Option<i64>,
    pub sysctls: BTreeMap<String, String>,
    /// `--runtime`: a configured handler name.
    pub runtime: Option<String>,
    /// `--init`: `None` = the daemon default (off).
    pub init: Option<bool>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub cgroup_parent: Option<String>,
    pub resources: Resources,
    /// `--network` endpoints: network name → settings.
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// `--annotation` key/values for the OCI spec.
    pub annotations: BTreeMap<String, String>,
    /// Options the API saw set that have no field here; refused by name.
    pub unsupported: Unsupported,
}

/// Options the engine does not implement; the API crate sets what the client
/// sent, and create refuses with `not supported yet: <name>` for each one set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Unsupported {
    /// Option names as docker's CLI spells them (`--volumes-from`, `--link`,
    /// `--isolation`, `--volume-driver`, `--storage-opt`, `--gpus`...).
    pub options: Vec<String>,
}

/// One `--mount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind), volume name (volume; anonymous when empty), unused (tmpfs).
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    pub read_only: bool,
    /// Bind: `rprivate` (default), `private`, `rshared`, `shared`, `rslave`, `slave`.
    pub bind_propagation: Option<String>,
    /// Bind: fail when the source is missing (docker's `--mount` does), unlike `-v`.
    pub bind_create_host_path: bool,
    pub bind_non_recursive: bool,
    /// Volume: do not copy image content into an empty new volume.
    pub volume_no_copy: bool,
    pub volume_labels: BTreeMap<String, String>,
    /// Volume drivers other than `local` are refused.
    pub volume_driver: Option<String>,
    pub volume_driver_options: BTreeMap<String, String>,
    /// Volume subpath.
    pub volume_subpath: Option<String>,
    pub tmpfs_size: Option<i64>,
    pub tmpfs_mode: Option<u32>,
    /// Extra tmpfs options (`noexec`...).
    pub tmpfs_options: Vec<String>,
    /// `z`/`Z` relabelling: refused (not supported yet).
    pub consistency: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Bind,
    Volume,
    Tmpfs,
    /// `npipe`, `cluster`, `image`: refused.
    Other,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Other => "other",
        }
    }
}

/// One host binding of a published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortBinding {
    /// Empty: all addresses.
    pub host_ip: String,
    /// Empty or `0`: an ephemeral port; `8000-8010`: a range.
    pub host_port: String,
}

/// `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    pub name: RestartPolicyName,
    /// on-failure only; 0 = unlimited.
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicyName {
    #[default]
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

impl RestartPolicyName {
    /// docker's spelling (`""` for none, as docker reports `no`).
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicyName::No => "no",
            RestartPolicyName::Always => "always",
            RestartPolicyName::UnlessStopped => "unless-stopped",
            RestartPolicyName::OnFailure => "on-failure",
        }
    }

    /// Parses docker's names (`""` and `no` are both none).
    pub fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "" | "no" => RestartPolicyName::No,
            "always" => RestartPolicyName::Always,
            "unless-stopped" => RestartPolicyName::UnlessStopped,
            "on-failure" => RestartPolicyName::OnFailure,
            other => return Err(crate::Error::invalid(format!("invalid restart policy '{other}'"))),
        })
    }
}

/// `--log-driver`/`--log-opt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file` or `none`; empty = the daemon default.
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// Resource limits (docker's HostConfig resources, in docker's units).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `--memory` bytes (0 = unlimited).
    pub memory: i64,
    pub memory_reservation: i64,
    /// `--memory-swap` bytes: memory + swap; -1 = unlimited swap.
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    /// `--cpus` × 1e9.
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `--pids-limit`: 0 or -1 = unlimited (docker's API: nil/0 unset, -1 unlimited).
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<Ulimit>,
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    pub oom_kill_disable: Option<bool>,
    /// `--device host[:container[:rwm]]`.
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule 'c 1:3 rwm'`.
    pub device_cgroup_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ... (without `RLIMIT_`).
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub path_on_host: String,
    /// Empty: the host path.
    pub path_in_container: String,
    /// `rwm` subset; empty = `rwm`.
    pub cgroup_permissions: String,
}

/// A container's settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSpec {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub mac_address: Option<String>,
}

/// An exec to create (`docker exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `-u`; the container's user when `None`.
    pub user: Option<String>,
    /// `-w`; the container's working dir when `None`.
    pub working_dir: Option<String>,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    /// `--detach-keys`: refused when set (not supported yet).
    pub detach_keys: Option<String>,
    /// Initial terminal size (height, width).
    pub console_size: Option<(u16, u16)>,
}

/// `docker wait --condition`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Returns at once when the container is not running.
    #[default]
    NotRunning,
    /// Waits for the next exit, even when not running now.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "" | "not-running" => WaitCondition::NotRunning,
            "next-exit" => WaitCondition::NextExit,
            "removed" => WaitCondition::Removed,
            other => return Err(crate::Error::invalid(format!("invalid condition: \"{other}\""))),
        })
    }
}
