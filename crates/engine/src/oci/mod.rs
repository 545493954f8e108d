//! The one place that turns image config + user options into an OCI spec.
//!
//! Two steps:
//! 1. [`merge`] (at create): validates a [`ContainerSpec`] as dockerd does
//!    (same texts) and fills in the image's defaults (env, cmd, entrypoint,
//!    working dir, user, labels, exposed ports, volumes, stop signal). The
//!    result is what `inspect` shows as `Config`/`HostConfig`.
//! 2. [`generate`] (at every start): the merged spec plus what only exists
//!    at start time ([`Context`]: the resolved user, namespace paths, volume
//!    host paths, hosts/resolv.conf/hostname files, host facts) becomes
//!    `config.json`, shaped as moby's default Linux spec makes it: docker's
//!    default mounts, masked and read-only paths, default capabilities,
//!    default seccomp profile, device cgroup rules, `PATH`/`HOSTNAME`/`TERM`
//!    environment, `cgroupsPath` `<cgroup parent>/<id>` (`/berth/<id>` by default).
//!
//! [`generate`] is pure (host facts come in the [`Context`]), so it is
//! unit-tested with golden JSON.

pub mod caps;
pub mod mounts;
pub mod user;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, RestartPolicyName};
pub use mounts::MountRequest;
pub use user::ResolvedUser;

/// docker's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;
/// OCI runtime spec version written into config.json. 1.0.2 although the
/// fields used exist in it unchanged: Debian 12's crun (1.8.1) refuses any
/// config that claims a later version ("unknown version specified").
pub const OCI_VERSION: &str = "1.0.2";

/// What the host is like, for validation and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub ncpu: usize,
    /// Swap can be limited (v1 `memory.memsw.*` or v2 `memory.swap.max`).
    pub swap_accounting: bool,
    /// Pure cgroup v2 (then containers get a private cgroup namespace by
    /// default, as docker does).
    pub cgroup2: bool,
}

impl HostFacts {
    /// Reads the running host.
    pub fn detect() -> HostFacts {
        let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let layout = berth_cgroups::detect().ok();
        let cgroup2 = matches!(layout, Some(berth_cgroups::Layout::V2));
        let swap_accounting = if cgroup2 {
            std::path::Path::new("/sys/fs/cgroup/memory.swap.max").exists()
                || std::fs::read_dir("/sys/fs/cgroup").ok().into_iter().flatten().flatten().any(|e| e.path().join("memory.swap.max").exists())
        } else {
            std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        HostFacts { ncpu, swap_accounting, cgroup2 }
    }
}

/// How a namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ns {
    /// A new one.
    New,
    /// The host's (no namespace entry).
    Host,
    /// Join the one at this path (`/proc/<pid>/ns/<x>` or a bind-mounted netns).
    Path(PathBuf),
}

/// What `/dev/shm` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shm {
    /// A private tmpfs of this size.
    Tmpfs(i64),
    /// Bind-mount this directory (another container's `/dev/shm`, `--ipc host`).
    Bind(PathBuf),
    /// `--ipc none`: no `/dev/shm` mount at all.
    None,
}

/// A host device given to the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Path in the container.
    pub path: String,
    /// `c`, `b` or `p`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// cgroup permissions (`rwm` subset).
    pub permissions: String,
}

/// A user mount resolved to host paths (a volume is a bind of its data dir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciMount {
    pub destination: String,
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Everything [`generate`] needs besides the merged spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub id: String,
    pub rootfs: PathBuf,
    pub user: ResolvedUser,
    /// The container's hostname (spec's, or the id's first 12 characters, or
    /// the host's with `--network host`).
    pub hostname: String,
    pub hostname_path: Option<PathBuf>,
    pub hosts_path: Option<PathBuf>,
    pub resolv_conf_path: Option<PathBuf>,
    pub net: Ns,
    pub ipc: Ns,
    pub pid: Ns,
    pub uts: Ns,
    pub cgroup: Ns,
    pub shm: Shm,
    pub mounts: Vec<OciMount>,
    /// `--device`s, or every host device when privileged.
    pub devices: Vec<Device>,
    /// berth-init on the host, for `--init`.
    pub init: Option<PathBuf>,
    pub host: HostFacts,
    /// The daemon's cgroup parent, for containers without `--cgroup-parent`.
    pub cgroup_parent: String,
}

/// Docker's default device cgroup rules (runc's `AllowedDevices`):
/// `(type, major, minor, access)`, `-1` for `*`.
const ALLOWED_DEVICES: &[(&str, i64, i64, &str)] = &[
    ("c", -1, -1, "m"),
    ("b", -1, -1, "m"),
    ("c", 1, 3, "rwm"),
    ("c", 1, 8, "rwm"),
    ("c", 1, 7, "rwm"),
    ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"),
    ("c", 1, 9, "rwm"),
    ("c", 136, -1, "rwm"),
    ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Signal names and numbers (x86-64 / generic Linux).
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Parses `SIGTERM`, `TERM`, `term`, `15`, `SIGRTMIN+3` into a number,
/// with docker's error text.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || Error::invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: i32 = if rest.is_empty() { 0 } else { rest.strip_prefix('+').and_then(|r| r.parse().ok()).ok_or_else(bad)? };
        return if (0..=30).contains(&off) { Ok(34 + off) } else { Err(bad()) };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let off: i32 = if rest.is_empty() { 0 } else { rest.strip_prefix('-').and_then(|r| r.parse().ok()).ok_or_else(bad)? };
        return if (0..=30).contains(&off) { Ok(64 - off) } else { Err(bad()) };
    }
    SIGNALS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).ok_or_else(bad)
}

/// `RLIMIT_*` names docker accepts for `--ulimit`.
const ULIMITS: &[&str] =
    &["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"];

fn valid_cpuset(s: &str) -> bool {
    s.split(',').all(|part| {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|a| a.parse::<u32>().ok());
        match (a, it.next()) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b.parse::<u32>().is_ok_and(|b| b >= a),
            _ => false,
        }
    })
}

/// `80`, `80/tcp`, `53/udp` → `80/tcp`.
pub fn normalize_port(p: &str) -> Result<String> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::invalid(format!("invalid proto: {proto}")));
    }
    let ok = |x: &str| x.parse::<u16>().is_ok_and(|n| n > 0);
    let valid = match port.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(port),
    };
    if !valid {
        return Err(Error::invalid(format!("invalid containerPort: {port}")));
    }
    Ok(format!("{port}/{proto}"))
}

/// Sysctls a container may set (docker's namespaced list); `net.*` only
/// with a private network namespace.
fn check_sysctl(k: &str, host_net: bool) -> Result<()> {
    let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if ipc.contains(&k) || k.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if k.starts_with("net.") {
        if host_net {
            return Err(Error::invalid(format!("sysctl {k:?} not allowed in host network namespace")));
        }
        return Ok(());
    }
    Err(Error::invalid(format!("sysctl {k:?} is not allowed")))
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Replaces or appends `KEY=V` entries (docker's `ReplaceOrAppendEnvValues`).
pub fn merge_env(base: &mut Vec<String>, over: &[String]) {
    for e in over {
        let k = env_key(e);
        if let Some(slot) = base.iter_mut().find(|b| env_key(b) == k) {
            *slot = e.clone();
        } else {
            base.push(e.clone());
        }
    }
}

/// Validates `spec` and fills in the image's defaults. Returns the merged
/// spec and docker's warnings (e.g. swap limit unsupported).
pub fn merge(spec: &ContainerSpec, image: Option<&berth_image::ImageConfig>, host: &HostFacts) -> Result<(ContainerSpec, Vec<String>)> {
    let mut s = spec.clone();
    let mut warnings = Vec::new();
    if let Some(opt) = spec.unsupported.options.first() {
        return Err(Error::unsupported(opt.clone()));
    }
    if spec.healthcheck.is_some() {
        return Err(Error::unsupported("--health-cmd and other healthcheck options"));
    }
    let empty = berth_image::ImageConfig::default();
    let img = image.unwrap_or(&empty);
    if img.healthcheck.as_ref().and_then(|h| h.test.as_ref()).is_some_and(|t| t.first().is_some_and(|x| x != "NONE")) {
        warnings.push("the image's HEALTHCHECK is not supported yet: it will not run and the container reports no health status".into());
    }

    // command: docker's merge rules
    let user_ep_empty = spec.entrypoint.as_ref().is_none_or(|e| e.is_empty() || (e.len() == 1 && e[0].is_empty()));
    if user_ep_empty {
        if spec.cmd.as_ref().is_none_or(|c| c.is_empty()) && spec.entrypoint.is_none() {
            s.cmd = img.cmd.clone();
        }
        if spec.entrypoint.is_none() {
            s.entrypoint = img.entrypoint.clone();
        } else {
            s.entrypoint = Some(Vec::new());
        }
    }
    let argv: Vec<&String> = s.entrypoint.iter().flatten().chain(s.cmd.iter().flatten()).collect();
    if argv.is_empty() {
        return Err(Error::invalid("No command specified"));
    }

    let mut env = img.env.clone().unwrap_or_default();
    merge_env(&mut env, &spec.env);
    for e in &env {
        if env_key(e).is_empty() {
            return Err(Error::invalid(format!("invalid environment variable: {e}")));
        }
    }
    s.env = env;

    if s.working_dir.as_deref().is_none_or(str::is_empty) {
        s.working_dir = img.working_dir.clone().filter(|w| !w.is_empty());
    }
    if let Some(w) = &s.working_dir
        && !w.starts_with('/')
    {
        return Err(Error::invalid(format!("the working directory '{w}' is invalid, it needs to be an absolute path")));
    }
    if s.user.as_deref().is_none_or(str::is_empty) {
        s.user = img.user.clone().filter(|u| !u.is_empty());
    }
    let mut labels = img.labels.clone().unwrap_or_default();
    labels.extend(spec.labels.clone());
    s.labels = labels;
    if s.stop_signal.as_deref().is_none_or(str::is_empty) {
        s.stop_signal = img.stop_signal.clone().filter(|x| !x.is_empty());
    }
    if let Some(sig) = &s.stop_signal {
        parse_signal(sig)?;
    }
    let mut ports: Vec<String> = Vec::new();
    for p in img.exposed_ports.iter().flat_map(|m| m.keys()).chain(spec.exposed_ports.iter()).chain(spec.port_bindings.keys()) {
        let p = normalize_port(p)?;
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports.sort();
    s.exposed_ports = ports;
    let mut bindings = BTreeMap::new();
    for (k, v) in &spec.port_bindings {
        for b in v {
            if !b.host_port.is_empty() {
                let ok = |x: &str| x.parse::<u16>().is_ok();
                let valid = match b.host_port.split_once('-') {
                    Some((a, c)) => ok(a) && ok(c),
                    None => ok(&b.host_port),
                };
                if !valid {
                    return Err(Error::invalid(format!("invalid hostPort: {}", b.host_port)));
                }
            }
            if !b.host_ip.is_empty() && b.host_ip.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::invalid(format!("invalid IP address: {}", b.host_ip)));
            }
        }
        bindings.insert(normalize_port(k)?, v.clone());
    }
    s.port_bindings = bindings;
    let mut vols: Vec<String> = img.volumes.iter().flat_map(|m| m.keys().cloned()).collect();
    for v in &spec.volumes {
        if !vols.contains(v) {
            vols.push(v.clone());
        }
    }
    s.volumes = vols;

    if let Some(h) = &s.hostname {
        let ok = h.len() <= 63 && h.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !h.is_empty() && !ok {
            return Err(Error::invalid(format!("invalid hostname format: {h}")));
        }
    }

    // restart policy
    let rp = &s.restart_policy;
    if rp.maximum_retry_count < 0 {
        return Err(Error::invalid("invalid restart policy: maximum retry count cannot be negative"));
    }
    if rp.maximum_retry_count > 0 && rp.name != RestartPolicyName::OnFailure {
        return Err(Error::invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'"));
    }
    if s.auto_remove && rp.name != RestartPolicyName::No {
        return Err(Error::invalid("can't create 'AutoRemove' container with restart policy"));
    }

    // resources (docker's daemon-side checks and texts)
    let r = &mut s.resources;
    if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(Error::invalid("You should always set the Memory limit when using Memoryswap limit, see usage"));
    }
    if r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(Error::invalid("Minimum memoryswap limit should be larger than memory limit, see usage"));
    }
    if r.memory > 0 && r.memory_swap == 0 {
        if host.swap_accounting {
            r.memory_swap = 2 * r.memory;
        } else {
            r.memory_swap = -1;
        }
    }
    if r.memory_swap != 0 && r.memory_swap != -1 && !host.swap_accounting {
        warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        r.memory_swap = -1;
    }
    if let Some(sw) = r.memory_swappiness
        && sw != -1
        && !(0..=100).contains(&sw)
    {
        return Err(Error::invalid(format!("Invalid value: {sw}, valid memory swappiness range is 0-100")));
    }
    if r.memory_reservation != 0 && r.memory != 0 && r.memory_reservation > r.memory {
        return Err(Error::invalid("Minimum memory limit can not be less than memory reservation limit, see usage"));
    }
    if r.nano_cpus != 0 {
        if r.cpu_period != 0 {
            return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set"));
        }
        if r.cpu_quota != 0 {
            return Err(Error::invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set"));
        }
        let max = host.ncpu as i64 * 1_000_000_000;
        if r.nano_cpus < 0 || r.nano_cpus > max {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
                host.ncpu, host.ncpu
            )));
        }
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(Error::invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(Error::invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if r.cpu_shares < 0 {
        return Err(Error::invalid(format!("invalid CPU shares: {}", r.cpu_shares)));
    }
    if r.cpu_realtime_period != 0 || r.cpu_realtime_runtime != 0 {
        return Err(Error::unsupported("--cpu-rt-period and --cpu-rt-runtime"));
    }
    if !r.cpuset_cpus.is_empty() && !valid_cpuset(&r.cpuset_cpus) {
        return Err(Error::invalid(format!("Invalid value {} for cpuset cpus", r.cpuset_cpus)));
    }
    if !r.cpuset_mems.is_empty() && !valid_cpuset(&r.cpuset_mems) {
        return Err(Error::invalid(format!("Invalid value {} for cpuset mems", r.cpuset_mems)));
    }
    if r.blkio_weight != 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    for w in &r.blkio_weight_device {
        if !(10..=1000).contains(&w.weight) {
            return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
        }
    }
    for u in &r.ulimits {
        if !ULIMITS.contains(&u.name.as_str()) {
            return Err(Error::invalid(format!("invalid ulimit type: {}", u.name)));
        }
        if u.soft > u.hard {
            return Err(Error::invalid(format!("ulimit soft limit must be less than or equal to hard limit: {} > {}", u.soft, u.hard)));
        }
    }
    for rule in &r.device_cgroup_rules {
        parse_device_rule(rule)?;
    }
    for d in &r.devices {
        if d.path_on_host.is_empty() || !d.path_on_host.starts_with('/') {
            return Err(Error::invalid(format!("invalid device specification: {}", d.path_on_host)));
        }
        if !d.cgroup_permissions.is_empty() && !d.cgroup_permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(Error::invalid(format!("invalid device mode: {}", d.cgroup_permissions)));
        }
    }
    if let Some(o) = s.oom_score_adj
        && !(-1000..=1000).contains(&o)
    {
        return Err(Error::invalid(format!("Invalid value {o}, range for oom score adj is [-1000, 1000]")));
    }
    if s.shm_size.is_some_and(|v| v < 0) {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    let host_net = s.network_mode.as_deref() == Some("host");
    for k in s.sysctls.keys() {
        check_sysctl(k, host_net)?;
    }
    if host_net && (!s.port_bindings.is_empty() || s.publish_all_ports) {
        warnings.push("Published ports are discarded when using host network mode".into());
        s.port_bindings.clear();
        s.publish_all_ports = false;
    }
    if host_net && s.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
        return Err(Error::invalid("conflicting options: hostname and the network mode"));
    }
    for m in [&s.userns_mode] {
        if m.as_deref().is_some_and(|v| !v.is_empty() && v != "host") {
            return Err(Error::unsupported(format!("--userns={}", m.as_deref().unwrap_or_default())));
        }
    }
    if let Some(m) = &s.cgroupns_mode
        && !matches!(m.as_str(), "" | "private" | "host")
    {
        return Err(Error::invalid(format!("invalid cgroup namespace mode: {m}")));
    }
    if let Some(m) = &s.uts_mode
        && !matches!(m.as_str(), "" | "host")
    {
        return Err(Error::invalid(format!("invalid UTS mode: {m}")));
    }
    if let Some(m) = &s.pid_mode
        && !(m.is_empty() || m == "host" || m.starts_with("container:"))
    {
        return Err(Error::invalid(format!("invalid PID mode: {m}")));
    }
    if let Some(m) = &s.ipc_mode
        && !(matches!(m.as_str(), "" | "private" | "shareable" | "host" | "none") || m.starts_with("container:"))
    {
        return Err(Error::invalid(format!("invalid IPC mode: {m}")));
    }
    security_opts(&s.security_opt)?;
    caps::compute(s.privileged, &s.cap_add, &s.cap_drop)?;
    if let Some(lc) = &s.log_config {
        if !matches!(lc.driver.as_str(), "" | "json-file" | "none") {
            return Err(Error::unsupported(format!("log driver {}", lc.driver)));
        }
        for k in lc.options.keys() {
            if !matches!(k.as_str(), "max-size" | "max-file" | "compress" | "labels" | "env" | "tag" | "mode" | "max-buffer-size") {
                return Err(Error::invalid(format!("unknown log opt '{k}' for json-file log driver")));
            }
            if matches!(k.as_str(), "compress" | "labels" | "env" | "tag" | "mode" | "max-buffer-size") {
                return Err(Error::unsupported(format!("log opt {k}")));
            }
        }
    }
    mounts::collect(&s)?;
    for h in &s.extra_hosts {
        parse_extra_host(h)?;
    }
    for d in &s.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::invalid(format!("{d} is not an ip address")));
        }
    }
    if s.mac_address.as_deref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::unsupported("--mac-address"));
    }
    Ok((s, warnings))
}

/// `host:ip` or `host=ip` (`host-gateway` allowed) → (host, ip).
pub fn parse_extra_host(h: &str) -> Result<(String, String)> {
    let (name, ip) = h.split_once('=').or_else(|| h.split_once(':')).ok_or_else(|| Error::invalid(format!("bad format for add-host: {h:?}")))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err()) {
        return Err(Error::invalid(format!("invalid IP address in add-host: {ip:?}")));
    }
    Ok((name.to_owned(), ip.to_owned()))
}

/// What `--security-opt` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    /// A docker-format profile (JSON text).
    pub seccomp_profile: Option<String>,
}

/// Parses `--security-opt` values (`k=v` or the old `k:v`).
pub fn security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for o in opts {
        let (k, v) = o.split_once('=').or_else(|| o.split_once(':')).unwrap_or((o.as_str(), ""));
        match k {
            "no-new-privileges" => {
                out.no_new_privileges = match v {
                    "" | "true" => true,
                    "false" => false,
                    _ => return Err(Error::invalid(format!("invalid --security-opt 2: {o:?}"))),
                }
            }
            "seccomp" => {
                if v == "unconfined" {
                    out.seccomp_unconfined = true;
                } else if v.trim_start().starts_with('{') {
                    out.seccomp_profile = Some(v.to_owned());
                } else if v.starts_with('/') {
                    let text = std::fs::read_to_string(v).map_err(|e| Error::invalid(format!("opening seccomp profile ({v}) failed: {e}")))?;
                    out.seccomp_profile = Some(text);
                } else if v == "builtin" || v.is_empty() {
                } else {
                    return Err(Error::invalid(format!("opening seccomp profile ({v}) failed: not a JSON profile or an absolute path")));
                }
            }
            "label" | "apparmor" | "systempaths" | "writable-cgroups" | "mask" | "unmask" => {
                return Err(Error::unsupported(format!("--security-opt {o}")));
            }
            _ => return Err(Error::invalid(format!("invalid --security-opt 1: {o:?}"))),
        }
    }
    Ok(out)
}

/// `c 1:3 rwm`, `b *:* m`, `a` → (type, major, minor, access).
pub fn parse_device_rule(rule: &str) -> Result<(String, i64, i64, String)> {
    let bad = || Error::invalid(format!("invalid device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let (t, mm, acc) = match parts.as_slice() {
        [t] if *t == "a" => return Ok(("a".into(), -1, -1, "rwm".into())),
        [t, mm, acc] => (*t, *mm, *acc),
        _ => return Err(bad()),
    };
    if !matches!(t, "a" | "b" | "c") || acc.is_empty() || !acc.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad());
    }
    let (ma, mi) = mm.split_once(':').ok_or_else(bad)?;
    let num = |x: &str| -> Result<i64> { if x == "*" { Ok(-1) } else { x.parse::<i64>().map_err(|_| bad()) } };
    Ok((t.into(), num(ma)?, num(mi)?, acc.into()))
}

fn device_rule(allow: bool, t: &str, major: i64, minor: i64, access: &str) -> Value {
    let mut v = json!({"allow": allow, "access": access});
    if t != "a" {
        v["type"] = json!(t);
    }
    if major >= 0 {
        v["major"] = json!(major);
    }
    if minor >= 0 {
        v["minor"] = json!(minor);
    }
    v
}

fn ns(kind: &str, mode: &Ns, out: &mut Vec<Value>) {
    match mode {
        Ns::New => out.push(json!({"type": kind})),
        Ns::Host => {}
        Ns::Path(p) => out.push(json!({"type": kind, "path": p})),
    }
}

fn rlimit_name(n: &str) -> String {
    format!("RLIMIT_{}", n.to_ascii_uppercase())
}

/// The `net.*` sysctls of a container with a network namespace of its own:
/// docker's defaults (unprivileged ports and ping) and the user's.
pub fn net_sysctls(s: &ContainerSpec, ctx: &Context) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if ctx.net == Ns::Host {
        return m;
    }
    m.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
    m.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    for (k, v) in &s.sysctls {
        if k.starts_with("net.") {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// The container's `config.json`.
/// The container's `linux.cgroupsPath`: `<--cgroup-parent>/<id>`, else
/// `<the daemon's cgroup_parent>/<id>`. The engine reads stats, pids and
/// OOM kills from there too.
pub(crate) fn cgroups_path(cgroup_parent: Option<&str>, default_parent: &str, id: &str) -> String {
    let parent = cgroup_parent.filter(|p| !p.is_empty()).unwrap_or(default_parent);
    format!("{}/{id}", parent.trim_end_matches('/'))
}

pub fn generate(s: &ContainerSpec, ctx: &Context) -> Result<Value> {
    let sec = security_opts(&s.security_opt)?;
    let caps = caps::compute(s.privileged, &s.cap_add, &s.cap_drop)?;

    // process
    let mut args: Vec<String> = s.entrypoint.iter().flatten().chain(s.cmd.iter().flatten()).cloned().collect();
    if args.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    if s.init == Some(true) {
        let mut a = vec!["/sbin/docker-init".to_owned(), "--".to_owned()];
        a.append(&mut args);
        args = a;
    }
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOSTNAME={}", ctx.hostname)];
    if s.tty {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, &s.env);
    let mut process = json!({
        "terminal": s.tty,
        "user": {"uid": ctx.user.uid, "gid": ctx.user.gid},
        "args": args,
        "env": env,
        "cwd": s.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !ctx.user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(ctx.user.additional_gids);
    }
    if let (true, Some((height, width))) = (s.tty, s.console_size) {
        process["consoleSize"] = json!({"height": height, "width": width});
    }
    if let Some(o) = s.oom_score_adj {
        process["oomScoreAdj"] = json!(o);
    }
    if !s.resources.ulimits.is_empty() {
        process["rlimits"] =
            Value::Array(s.resources.ulimits.iter().map(|u| json!({"type": rlimit_name(&u.name), "soft": u.soft, "hard": u.hard})).collect());
    }

    // mounts: docker's defaults, then /dev/shm, then the container files, then user mounts
    let ro_sys = !s.privileged;
    let mut mounts: Vec<Value> = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": if ro_sys { json!(["nosuid", "noexec", "nodev", "ro"]) } else { json!(["nosuid", "noexec", "nodev", "rw"]) }}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": if ro_sys { json!(["ro", "nosuid", "noexec", "nodev"]) } else { json!(["rw", "nosuid", "noexec", "nodev"]) }}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if ctx.ipc == Ns::Host {
        // the host's mqueue cannot be mounted from inside another ipc namespace's view
        mounts.retain(|m| m["destination"] != "/dev/mqueue");
        mounts.push(json!({"destination": "/dev/mqueue", "type": "bind", "source": "/dev/mqueue", "options": ["rbind", "nosuid", "noexec", "nodev"]}));
    }
    let user_dests: Vec<&str> = ctx.mounts.iter().map(|m| m.destination.as_str()).collect();
    match &ctx.shm {
        Shm::Tmpfs(size) if !user_dests.contains(&"/dev/shm") => mounts.push(json!({
            "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={size}")]
        })),
        Shm::Bind(p) if !user_dests.contains(&"/dev/shm") => {
            mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": p, "options": ["rbind", "rprivate"]}))
        }
        _ => {}
    }
    for (dest, path) in [("/etc/resolv.conf", &ctx.resolv_conf_path), ("/etc/hostname", &ctx.hostname_path), ("/etc/hosts", &ctx.hosts_path)] {
        if let Some(p) = path
            && !user_dests.contains(&dest)
        {
            let mut opts = vec!["rbind", "rprivate"];
            if s.readonly_rootfs {
                opts.push("ro");
            }
            mounts.push(json!({"destination": dest, "type": "bind", "source": p, "options": opts}));
        }
    }
    if s.init == Some(true) {
        let init = ctx.init.as_ref().ok_or_else(|| Error::FailedPrecondition("--init: the berth-init binary was not found next to berthd or in PATH".into()))?;
        mounts.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }
    // user mounts in path order so that parents come first
    let mut user_mounts = ctx.mounts.clone();
    user_mounts.sort_by_key(|m| m.destination.matches('/').count());
    for m in &user_mounts {
        // a user mount over a default one replaces it
        mounts.retain(|d| d["destination"] != m.destination.as_str());
        mounts.push(json!({"destination": m.destination, "type": m.typ, "source": m.source, "options": m.options}));
    }

    // namespaces
    let mut namespaces = Vec::new();
    ns("pid", &ctx.pid, &mut namespaces);
    ns("network", &ctx.net, &mut namespaces);
    ns("ipc", &ctx.ipc, &mut namespaces);
    ns("uts", &ctx.uts, &mut namespaces);
    namespaces.push(json!({"type": "mount"}));
    ns("cgroup", &ctx.cgroup, &mut namespaces);

    // resources
    let r = &s.resources;
    let mut res = serde_json::Map::new();
    let mut devrules = vec![device_rule(false, "a", -1, -1, "rwm")];
    if s.privileged {
        devrules.push(device_rule(true, "a", -1, -1, "rwm"));
    } else {
        for (t, ma, mi, acc) in ALLOWED_DEVICES {
            devrules.push(device_rule(true, t, *ma, *mi, acc));
        }
        for d in &ctx.devices {
            devrules.push(device_rule(true, &d.kind.to_string(), d.major, d.minor, &d.permissions));
        }
        for rule in &r.device_cgroup_rules {
            let (t, ma, mi, acc) = parse_device_rule(rule)?;
            devrules.push(device_rule(true, &t, ma, mi, &acc));
        }
    }
    res.insert("devices".into(), Value::Array(devrules));
    let mut mem = serde_json::Map::new();
    if r.memory > 0 {
        mem.insert("limit".into(), json!(r.memory));
    }
    if r.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(r.memory_reservation));
    }
    if r.memory_swap > 0 || (r.memory_swap == -1 && r.memory > 0 && ctx.host.swap_accounting) {
        mem.insert("swap".into(), json!(r.memory_swap));
    }
    if let Some(sw) = r.memory_swappiness
        && sw >= 0
    {
        mem.insert("swappiness".into(), json!(sw));
    }
    if r.oom_kill_disable == Some(true) {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        res.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = serde_json::Map::new();
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if r.nano_cpus > 0 {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(r.nano_cpus * period / 1_000_000_000));
    } else {
        if r.cpu_period > 0 {
            cpu.insert("period".into(), json!(r.cpu_period));
        }
        if r.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(r.cpu_quota));
        }
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(r.cpuset_cpus));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(r.cpuset_mems));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = r.pids_limit
        && p != 0
    {
        res.insert("pids".into(), json!({"limit": if p < 0 { -1 } else { p }}));
    }
    let mut blkio = serde_json::Map::new();
    if r.blkio_weight > 0 {
        blkio.insert("weight".into(), json!(r.blkio_weight));
    }
    let dev_of = |path: &str| -> Result<(i64, i64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| Error::invalid(format!("{path}: {e}")))?;
        let rdev = m.rdev();
        Ok((libc::major(rdev) as i64, libc::minor(rdev) as i64))
    };
    if !r.blkio_weight_device.is_empty() {
        let mut v = Vec::new();
        for w in &r.blkio_weight_device {
            let (ma, mi) = dev_of(&w.path)?;
            v.push(json!({"major": ma, "minor": mi, "weight": w.weight}));
        }
        blkio.insert("weightDevice".into(), Value::Array(v));
    }
    for (key, list) in [
        ("throttleReadBpsDevice", &r.blkio_device_read_bps),
        ("throttleWriteBpsDevice", &r.blkio_device_write_bps),
        ("throttleReadIOPSDevice", &r.blkio_device_read_iops),
        ("throttleWriteIOPSDevice", &r.blkio_device_write_iops),
    ] {
        if !list.is_empty() {
            let mut v = Vec::new();
            for t in list {
                let (ma, mi) = dev_of(&t.path)?;
                v.push(json!({"major": ma, "minor": mi, "rate": t.rate}));
            }
            blkio.insert(key.into(), Value::Array(v));
        }
    }
    if !blkio.is_empty() {
        res.insert("blockIO".into(), Value::Object(blkio));
    }

    // net.* sysctls go into config.json only when the runtime makes the
    // namespace; a namespace made by berth-network gets them from the
    // engine before start (see [`net_sysctls`]), since berth-runtime
    // refuses net sysctls for a joined namespace
    let mut sysctl: BTreeMap<String, String> = s.sysctls.iter().filter(|(k, _)| !k.starts_with("net.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    if ctx.net == Ns::New {
        sysctl.extend(net_sysctls(s, ctx));
    }

    let mut linux = json!({
        "resources": Value::Object(res),
        "cgroupsPath": cgroups_path(s.cgroup_parent.as_deref(), &ctx.cgroup_parent, &ctx.id),
        "namespaces": namespaces,
    });
    if !sysctl.is_empty() {
        linux["sysctl"] = json!(sysctl);
    }
    if !ctx.devices.is_empty() {
        linux["devices"] = Value::Array(
            ctx.devices
                .iter()
                .map(|d| json!({"path": d.path, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid}))
                .collect(),
        );
    }
    if !s.privileged {
        linux["maskedPaths"] = json!(s.masked_paths.clone().unwrap_or_else(|| MASKED_PATHS.iter().map(|p| p.to_string()).collect()));
        linux["readonlyPaths"] = json!(s.readonly_paths.clone().unwrap_or_else(|| READONLY_PATHS.iter().map(|p| p.to_string()).collect()));
    }
    if !s.privileged && !sec.seccomp_unconfined {
        let profile = match &sec.seccomp_profile {
            Some(text) => berth_seccomp::DockerProfile::from_json(text.as_bytes())
                .map_err(|e| Error::invalid(format!("decoding seccomp profile failed: {e}")))?
                .resolve(&caps),
            None => berth_seccomp::default_profile(&caps),
        };
        linux["seccomp"] = serde_json::to_value(&profile).map_err(|e| Error::Internal(format!("encoding the seccomp profile: {e}")))?;
    }

    let mut spec = json!({
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": s.readonly_rootfs},
        "hostname": ctx.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if let Some(d) = s.domainname.as_deref().filter(|d| !d.is_empty()) {
        spec["domainname"] = json!(d);
    }
    if !s.annotations.is_empty() {
        spec["annotations"] = json!(s.annotations);
    }
    // shape check: it must parse as an OCI spec
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone()).map_err(|e| Error::Internal(format!("generated config.json is not a valid OCI spec: {e}")))?;
    Ok(spec)
}

#[cfg(test)]
mod tests;
