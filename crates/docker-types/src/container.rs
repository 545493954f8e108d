//! Containers: the create body (`Config` + `HostConfig` + `NetworkingConfig`),
//! inspect, list, wait, top, changes, archive stat, prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::{Empty, is_empty_opt, is_zero, nullable, str_slice};
use crate::network::EndpointSettings;

pub type Labels = BTreeMap<String, String>;

/// `"80/tcp" -> [bindings]`; a port with no binding maps to `null`.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// Go's `map[string]struct{}`: `{"80/tcp": {}}`.
pub type PortSet = BTreeMap<String, Empty>;

/// Container configuration that is portable between hosts (`Config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "nullable")]
    pub hostname: String,
    #[serde(deserialize_with = "nullable")]
    pub domainname: String,
    #[serde(deserialize_with = "nullable")]
    pub user: String,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "nullable")]
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub exposed_ports: Option<PortSet>,
    #[serde(deserialize_with = "nullable")]
    pub tty: bool,
    #[serde(deserialize_with = "nullable")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "nullable")]
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub args_escaped: bool,
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub network_disabled: bool,
    /// Deprecated since API 1.44 (use the endpoint's `MacAddress`).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<Labels>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(deserialize_with = "str_slice", skip_serializing_if = "is_empty_opt")]
    pub shell: Option<Vec<String>>,
}

/// A healthcheck (`Healthcheck`); durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub test: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub retries: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    pub config: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    #[serde(deserialize_with = "nullable")]
    pub host_ip: String,
    #[serde(deserialize_with = "nullable")]
    pub host_port: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    #[serde(deserialize_with = "nullable")]
    pub path_on_host: String,
    #[serde(deserialize_with = "nullable")]
    pub path_in_container: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_permissions: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    #[serde(deserialize_with = "nullable")]
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub weight: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    #[serde(deserialize_with = "nullable")]
    pub rate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub hard: i64,
    #[serde(deserialize_with = "nullable")]
    pub soft: i64,
}

/// A `--mount` specification (`HostConfig.Mounts[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe`, `cluster`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub read_only: bool,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_options: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub non_recursive: bool,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub create_mountpoint: bool,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub read_only_non_recursive: bool,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub read_only_force_recursive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub no_copy: bool,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub labels: Option<Labels>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<Driver>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageOptions {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Driver {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// Go's `os.FileMode` (permission bits for a tmpfs).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub mode: u32,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub options: Option<Vec<Vec<String>>>,
}

/// Container configuration that depends on the host (`HostConfig`), with
/// the `Resources` fields inline as docker serialises them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "nullable")]
    pub container_id_file: String,
    #[serde(deserialize_with = "nullable")]
    pub log_config: LogConfig,
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
    pub port_bindings: Option<PortMap>,
    #[serde(deserialize_with = "nullable")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "nullable")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "nullable")]
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    /// `[height, width]`.
    #[serde(deserialize_with = "nullable")]
    pub console_size: [u64; 2],
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cap_add: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub ipc_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    #[serde(deserialize_with = "nullable")]
    pub oom_score_adj: i64,
    #[serde(deserialize_with = "nullable")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub privileged: bool,
    #[serde(deserialize_with = "nullable")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "nullable")]
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", deserialize_with = "nullable")]
    pub uts_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub userns_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub shm_size: i64,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(deserialize_with = "nullable")]
    pub isolation: String,

    // Resources
    #[serde(deserialize_with = "nullable")]
    pub cpu_shares: i64,
    #[serde(deserialize_with = "nullable")]
    pub memory: i64,
    #[serde(deserialize_with = "nullable")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "nullable")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "nullable")]
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(deserialize_with = "nullable")]
    pub cpu_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_quota: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_period: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_realtime_runtime: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "nullable")]
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP", deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub kernel_memory_tcp: i64,
    #[serde(deserialize_with = "nullable")]
    pub memory_reservation: i64,
    #[serde(deserialize_with = "nullable")]
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(deserialize_with = "nullable")]
    pub cpu_count: i64,
    #[serde(deserialize_with = "nullable")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", deserialize_with = "nullable")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "nullable")]
    pub io_maximum_bandwidth: u64,

    #[serde(skip_serializing_if = "is_empty_opt")]
    pub mounts: Option<Vec<Mount>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// The body of `POST /containers/create`: `Config` with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_config: Option<HostConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

impl ContainerCreateRequest {
    /// Parses a create body, naming the field that is wrong
    /// (`HostConfig.Memory: invalid type: string "x", expected i64`).
    pub fn from_json(body: &[u8]) -> Result<Self, crate::FieldError> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| crate::FieldError::syntax(&e))?;
        let serde_json::Value::Object(mut map) = value else {
            return Err(crate::FieldError { path: String::new(), message: "expected a JSON object".into() });
        };
        let host = map.remove("HostConfig");
        let net = map.remove("NetworkingConfig");
        let config: ContainerConfig = crate::from_value_at("", serde_json::Value::Object(map))?;
        let host_config = match host {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(crate::from_value_at("HostConfig", v)?),
        };
        let networking_config = match net {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(crate::from_value_at("NetworkingConfig", v)?),
        };
        Ok(Self { config, host_config, networking_config })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `none`, `starting`, `healthy`, `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    pub log: Option<Vec<HealthcheckResult>>,
}

/// `State` of a container in inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Storage driver data (`GraphDriver`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverData {
    pub name: String,
    pub data: Option<BTreeMap<String, String>>,
}

/// A mount as reported by inspect and list (`MountPoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    pub addr: String,
    pub prefix_len: i64,
}

/// `NetworkSettings` of inspect, including the deprecated top-level fields of
/// the default bridge that docker still fills in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: Option<PortMap>,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: i64,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Address>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Address>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    #[serde(rename = "Id")]
    pub id: String,
    pub created: String,
    pub path: String,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub args: Vec<String>,
    pub state: Option<ContainerState>,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_manifest_descriptor: Option<crate::image::Descriptor>,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: Option<HostConfig>,
    pub graph_driver: DriverData,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub mounts: Vec<MountPoint>,
    pub config: Option<ContainerConfig>,
    pub network_settings: Option<NetworkSettings>,
}

/// A port in the container list.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "is_zero")]
    pub public_port: u16,
    pub r#type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_manifest_descriptor: Option<crate::image::Descriptor>,
    pub command: String,
    pub created: i64,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "is_zero")]
    pub size_rw: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub size_root_fs: i64,
    pub labels: Option<Labels>,
    pub state: String,
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: Option<SummaryNetworkSettings>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub mounts: Vec<MountPoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitExitError {
    pub message: String,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    #[serde(deserialize_with = "crate::de::nullable")]
    pub titles: Vec<String>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub processes: Vec<Vec<String>>,
}

/// One entry of `GET /containers/{id}/changes`; `Kind` 0 modified, 1 added,
/// 2 deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FilesystemChange {
    pub path: String,
    pub kind: u8,
}

/// The JSON in the base64 `X-Docker-Container-Path-Stat` header of
/// `HEAD`/`GET /containers/{id}/archive`. `mode` is Go's `os.FileMode`
/// (see [`go_file_mode`]), `mtime` RFC 3339.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` bits for a Unix `st_mode`: type bits move to the top
/// of the word (`ModeDir` is 1<<31, `ModeSymlink` 1<<27, ...), permission and
/// setuid/setgid/sticky bits follow Go's layout. The docker CLI decides
/// "directory or file" from these bits.
pub fn go_file_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match st_mode & 0o170000 {
        0o040000 => DIR,
        0o120000 => SYMLINK,
        0o060000 => DEVICE,
        0o020000 => DEVICE | CHAR_DEVICE,
        0o010000 => NAMED_PIPE,
        0o140000 => SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= STICKY;
    }
    m
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerPruneResponse {
    pub containers_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateResponse {
    pub warnings: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_from_docker_cli() {
        // what docker 28 sends for `docker run -d --name web -p 8080:80 -e A=1 busybox sleep 9`
        let body = br#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,
            "AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,
            "Env":["A=1"],"Cmd":["sleep","9"],"Image":"busybox","Volumes":null,"WorkingDir":"","Entrypoint":null,
            "OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"bridge","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
            "RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,
            "ConsoleSize":[50,200],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
            "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"",
            "Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"",
            "UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"",
            "BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],
            "BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,
            "CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,
            "DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,
            "PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,
            "MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"bridge":{}}},
            "SomethingNew":true}"#;
        let req = ContainerCreateRequest::from_json(body).unwrap();
        assert_eq!(req.config.image, "busybox");
        assert_eq!(req.config.cmd.as_deref(), Some(&["sleep".to_owned(), "9".to_owned()][..]));
        assert_eq!(req.config.entrypoint, None);
        let hc = req.host_config.unwrap();
        assert_eq!(hc.network_mode, "bridge");
        assert_eq!(hc.restart_policy.name, "no");
        assert_eq!(hc.console_size, [50, 200]);
        let pb = hc.port_bindings.unwrap();
        assert_eq!(pb["80/tcp"].as_ref().unwrap()[0].host_port, "8080");
        assert!(req.networking_config.unwrap().endpoints_config.unwrap().contains_key("bridge"));
    }

    #[test]
    fn create_body_error_names_the_field() {
        let err = ContainerCreateRequest::from_json(br#"{"Image":"x","HostConfig":{"Memory":"lots"}}"#).unwrap_err();
        assert_eq!(err.path, "HostConfig.Memory");
        assert!(err.to_string().starts_with("HostConfig.Memory: invalid type: string \"lots\""), "{err}");
        let err = ContainerCreateRequest::from_json(br#"{"Image":"x","Env":[1]}"#).unwrap_err();
        assert_eq!(err.path, "Env[0]");
        let err = ContainerCreateRequest::from_json(br#"{"Image":"x","#).unwrap_err();
        assert!(err.to_string().contains("EOF"), "{err}");
        let err = ContainerCreateRequest::from_json(br#"[1]"#).unwrap_err();
        assert_eq!(err.to_string(), "expected a JSON object");
    }

    #[test]
    fn inspect_nulls_like_docker() {
        let i = ContainerInspect { id: "x".into(), ..Default::default() };
        let v = serde_json::to_value(&i).unwrap();
        assert!(v["ExecIDs"].is_null());
        assert!(v.get("SizeRw").is_none(), "SizeRw is omitted unless requested");
        assert_eq!(v["Args"], serde_json::json!([]));
        let c = ContainerConfig::default();
        let v = serde_json::to_value(&c).unwrap();
        assert!(v["Cmd"].is_null());
        assert!(v.get("ExposedPorts").is_none());
        assert!(v.get("StopSignal").is_none());
        assert!(v.get("Healthcheck").is_none());
    }

    #[test]
    fn null_lists_from_other_daemons_are_empty() {
        let i: ContainerInspect = serde_json::from_str(r#"{"Id":"x","Args":null,"Mounts":null,"ExecIDs":null}"#).unwrap();
        assert!(i.args.is_empty() && i.mounts.is_empty());
        let s: ContainerSummary = serde_json::from_str(r#"{"Id":"x","Names":null,"Ports":null,"Mounts":null}"#).unwrap();
        assert!(s.names.is_empty());
        let info: crate::system::Info = serde_json::from_str(r#"{"DriverStatus":null,"Labels":null,"Runtimes":null,"SecurityOptions":null}"#).unwrap();
        assert!(info.driver_status.is_empty());
    }

    #[test]
    fn port_omits_unpublished_fields() {
        let p = Port { private_port: 80, r#type: "tcp".into(), ..Default::default() };
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"PrivatePort":80,"Type":"tcp"}"#);
    }

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
    }
}
