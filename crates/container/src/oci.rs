//! The parts of the OCI runtime configuration (config.json) this runtime
//! reads, as plain serde types.
//!
//! Why not the `oci-spec` crate's types here: they pull a regular-expression
//! engine and builder code into the runtime binary (more than half of its
//! size), and the runtime is a short-lived process on every container's
//! start path whose resident size is benchmarked. The sections other crates
//! own — `linux.resources` (berth-cgroups) and `linux.seccomp`
//! (berth-seccomp) — are kept as raw JSON and handed to `oci-spec`'s types
//! only when present.
//!
//! Unknown properties are ignored, as the spec requires; unknown values of
//! known enumerations are errors that name the field.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// config.json.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub oci_version: String,
    pub root: Option<Root>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub process: Option<Process>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub linux: Option<Linux>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Root {
    pub path: PathBuf,
    #[serde(default)]
    pub readonly: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Mount {
    pub destination: PathBuf,
    #[serde(rename = "type")]
    pub typ: Option<String>,
    pub source: Option<PathBuf>,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(rename = "uidMappings", default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(rename = "gidMappings", default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

/// `process`, also the format of `exec --process FILE`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default)]
    pub args: Vec<String>,
    pub command_line: Option<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cwd: PathBuf,
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
    pub apparmor_profile: Option<String>,
    pub oom_score_adj: Option<i32>,
    pub selinux_label: Option<String>,
    pub io_priority: Option<IoPriority>,
    pub scheduler: Option<Scheduler>,
    #[serde(rename = "execCPUAffinity")]
    pub exec_cpu_affinity: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct ConsoleSize {
    pub height: u32,
    pub width: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    pub umask: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
    pub username: Option<String>,
}

/// The five capability sets, by name (`CAP_...`), checked against the
/// names the kernel has when applied.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Capabilities {
    #[serde(default)]
    pub bounding: Vec<String>,
    #[serde(default)]
    pub effective: Vec<String>,
    #[serde(default)]
    pub inheritable: Vec<String>,
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub typ: RlimitType,
    pub hard: u64,
    pub soft: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RlimitType {
    RlimitCpu,
    RlimitFsize,
    RlimitData,
    RlimitStack,
    RlimitCore,
    RlimitRss,
    RlimitNproc,
    RlimitNofile,
    RlimitMemlock,
    RlimitAs,
    RlimitLocks,
    RlimitSigpending,
    RlimitMsgqueue,
    RlimitNice,
    RlimitRtprio,
    RlimitRttime,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct IoPriority {
    pub class: IoPriorityClass,
    #[serde(default)]
    pub priority: i64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IoPriorityClass {
    IoprioClassRt,
    IoprioClassBe,
    IoprioClassIdle,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Scheduler {
    pub policy: SchedPolicy,
    pub nice: Option<i32>,
    pub priority: Option<i32>,
    #[serde(default)]
    pub flags: Vec<SchedFlag>,
    pub runtime: Option<u64>,
    pub deadline: Option<u64>,
    pub period: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedPolicy {
    SchedOther,
    SchedFifo,
    SchedRr,
    SchedBatch,
    SchedIso,
    SchedIdle,
    SchedDeadline,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub enum SchedFlag {
    #[serde(rename = "SCHED_FLAG_RESET_ON_FORK")]
    ResetOnFork,
    #[serde(rename = "SCHED_FLAG_RECLAIM")]
    Reclaim,
    #[serde(rename = "SCHED_FLAG_DL_OVERRUN")]
    DlOverrun,
    #[serde(rename = "SCHED_FLAG_KEEP_POLICY")]
    KeepPolicy,
    #[serde(rename = "SCHED_FLAG_KEEP_PARAMS")]
    KeepParams,
    #[serde(rename = "SCHED_FLAG_UTIL_CLAMP_MIN")]
    UtilClampMin,
    #[serde(rename = "SCHED_FLAG_UTIL_CLAMP_MAX")]
    UtilClampMax,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default)]
    pub prestart: Vec<Hook>,
    #[serde(default)]
    pub create_runtime: Vec<Hook>,
    #[serde(default)]
    pub create_container: Vec<Hook>,
    #[serde(default)]
    pub start_container: Vec<Hook>,
    #[serde(default)]
    pub poststart: Vec<Hook>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Hook {
    pub path: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    pub timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(rename = "uidMappings", default)]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(rename = "gidMappings", default)]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default)]
    pub sysctl: HashMap<String, String>,
    /// for berth-cgroups: `oci_spec::runtime::LinuxResources`
    pub resources: Option<Box<RawValue>>,
    pub cgroups_path: Option<PathBuf>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub devices: Vec<Device>,
    /// for berth-seccomp: `oci_spec::runtime::LinuxSeccomp`
    pub seccomp: Option<Box<RawValue>>,
    pub rootfs_propagation: Option<String>,
    #[serde(default)]
    pub masked_paths: Vec<String>,
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    pub mount_label: Option<String>,
    pub intel_rdt: Option<serde_json::Value>,
    pub memory_policy: Option<serde_json::Value>,
    pub personality: Option<Personality>,
    #[serde(default)]
    pub time_offsets: HashMap<String, TimeOffset>,
    pub net_devices: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub typ: NsType,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum NsType {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
    Time,
}

impl NsType {
    /// The name config.json uses.
    pub fn name(self) -> &'static str {
        match self {
            NsType::Pid => "pid",
            NsType::Network => "network",
            NsType::Mount => "mount",
            NsType::Ipc => "ipc",
            NsType::Uts => "uts",
            NsType::User => "user",
            NsType::Cgroup => "cgroup",
            NsType::Time => "time",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(rename = "type")]
    pub typ: DeviceType,
    pub path: PathBuf,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    pub file_mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum DeviceType {
    #[serde(rename = "c")]
    Char,
    #[serde(rename = "u")]
    Unbuffered,
    #[serde(rename = "b")]
    Block,
    #[serde(rename = "p")]
    Fifo,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Personality {
    pub domain: PersonalityDomain,
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub enum PersonalityDomain {
    #[serde(rename = "LINUX")]
    Linux,
    #[serde(rename = "LINUX32")]
    Linux32,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct TimeOffset {
    #[serde(default)]
    pub secs: i64,
    #[serde(default)]
    pub nanosecs: u32,
}

impl Linux {
    /// `linux.resources` as berth-cgroups takes it.
    pub fn resources(&self) -> crate::Result<oci_spec::runtime::LinuxResources> {
        match &self.resources {
            Some(raw) => crate::config::parse_json_field("config.json", "linux.resources", raw.get().as_bytes()),
            None => Ok(oci_spec::runtime::LinuxResources::default()),
        }
    }

    /// `linux.seccomp` as berth-seccomp takes it.
    pub fn seccomp(&self) -> crate::Result<Option<oci_spec::runtime::LinuxSeccomp>> {
        match &self.seccomp {
            Some(raw) => crate::config::parse_json_field("config.json", "linux.seccomp", raw.get().as_bytes()).map(Some),
            None => Ok(None),
        }
    }

    /// `linux.devices` as berth-cgroups takes them (for the device rules).
    pub fn devices_oci(&self) -> crate::Result<Vec<oci_spec::runtime::LinuxDevice>> {
        let json = serde_json::to_vec(&self.devices).map_err(|e| crate::Error::Msg(format!("encode linux.devices: {e}")))?;
        crate::config::parse_json_field("config.json", "linux.devices", &json)
    }

    /// The seccomp listener path and metadata, without parsing the profile.
    pub fn seccomp_listener(&self) -> (Option<PathBuf>, Option<String>) {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct L {
            listener_path: Option<PathBuf>,
            listener_metadata: Option<String>,
        }
        match self.seccomp.as_ref().and_then(|r| serde_json::from_str::<L>(r.get()).ok()) {
            Some(l) => (l.listener_path, l.listener_metadata),
            None => (None, None),
        }
    }
}
