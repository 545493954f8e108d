//! `run`/`create` options → the `POST /containers/create` body, as docker's
//! CLI builds it (the same JSON shape, field for field, so that berthd sees
//! the same request from `berth run` as from `docker run`).
//!
//! Values docker checks while parsing flags are checked here the same way
//! (errors name the flag); the rest are checked after parsing, with
//! docker's texts. Options berth does not do are refused — here for a few
//! flags the CLI itself would have to interpret, otherwise by berthd,
//! which names every request field it does not implement.

pub mod kv;
pub mod misc;
pub mod mounts;
pub mod ports;

use std::collections::BTreeMap;

use berth_docker_types::container::{
    ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig, LogConfig, NetworkingConfig,
    RestartPolicy,
};
use berth_docker_types::de::Empty;
use berth_docker_types::network::{EndpointIpamConfig, EndpointSettings};

use crate::flags::{Flag, Kind, Matches, UsageError, b, bs, l, ls, v, vs};
use crate::format::units::{parse_go_duration, ram_in_bytes};

macro_rules! container_flags {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            ls('a', "attach", "Attach to STDIN, STDOUT or STDERR"),
            l("add-host", "Add a custom host-to-IP mapping (host:ip)"),
            l("annotation", "Add an annotation to the container (passed through to the OCI runtime)"),
            Flag::new("blkio-weight", None, Kind::Value, "uint16", "Block IO (relative weight), between 10 and 1000, or 0 to disable"),
            l("blkio-weight-device", "Block IO weight (relative device weight)").unsupported(),
            l("cap-add", "Add Linux capabilities"),
            l("cap-drop", "Drop Linux capabilities"),
            v("cgroup-parent", "string", "Optional parent cgroup for the container"),
            v("cgroupns", "string", "Cgroup namespace to use (host|private)"),
            v("cidfile", "string", "Write the container ID to the file"),
            Flag::new("cpu-count", None, Kind::Value, "int", "CPU count (Windows only)").unsupported(),
            Flag::new("cpu-percent", None, Kind::Value, "int", "CPU percent (Windows only)").unsupported(),
            Flag::new("cpu-period", None, Kind::Value, "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
            Flag::new("cpu-quota", None, Kind::Value, "int", "Limit CPU CFS (Completely Fair Scheduler) quota"),
            Flag::new("cpu-rt-period", None, Kind::Value, "int", "Limit CPU real-time period in microseconds"),
            Flag::new("cpu-rt-runtime", None, Kind::Value, "int", "Limit CPU real-time runtime in microseconds"),
            Flag::new("cpu-shares", Some('c'), Kind::Value, "int", "CPU shares (relative weight)"),
            v("cpus", "decimal", "Number of CPUs"),
            v("cpuset-cpus", "string", "CPUs in which to allow execution (0-3, 0,1)"),
            v("cpuset-mems", "string", "MEMs in which to allow execution (0-3, 0,1)"),
            l("device", "Add a host device to the container"),
            l("device-cgroup-rule", "Add a rule to the cgroup allowed devices list"),
            l("device-read-bps", "Limit read rate (bytes per second) from a device").unsupported(),
            l("device-read-iops", "Limit read rate (IO per second) from a device").unsupported(),
            l("device-write-bps", "Limit write rate (bytes per second) to a device").unsupported(),
            l("device-write-iops", "Limit write rate (IO per second) to a device").unsupported(),
            b("disable-content-trust", "Skip image verification (berth has no content trust: only true is accepted)").default_value("true"),
            l("dns", "Set custom DNS servers"),
            l("dns-opt", "Set DNS options").hidden(),
            l("dns-option", "Set DNS options"),
            l("dns-search", "Set custom DNS search domains"),
            v("domainname", "string", "Container NIS domain name"),
            v("entrypoint", "string", "Overwrite the default ENTRYPOINT of the image"),
            ls('e', "env", "Set environment variables"),
            l("env-file", "Read in a file of environment variables"),
            l("expose", "Expose a port or a range of ports"),
            l("gpus", "GPU devices to add to the container ('all' to pass all GPUs)").unsupported(),
            l("group-add", "Add additional groups to join"),
            v("health-cmd", "string", "Command to run to check health"),
            v("health-interval", "duration", "Time between running the check (ms|s|m|h) (default 0s)"),
            Flag::new("health-retries", None, Kind::Value, "int", "Consecutive failures needed to report unhealthy"),
            v("health-start-interval", "duration", "Time between running the check during the start period (ms|s|m|h) (default 0s)"),
            v("health-start-period", "duration", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)"),
            v("health-timeout", "duration", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
            vs('h', "hostname", "string", "Container host name"),
            b("init", "Run an init inside the container that forwards signals and reaps processes"),
            bs('i', "interactive", "Keep STDIN open even if not attached"),
            v("io-maxbandwidth", "bytes", "Maximum IO bandwidth limit for the system drive (Windows only)").unsupported(),
            v("io-maxiops", "uint", "Maximum IOps limit for the system drive (Windows only)").unsupported(),
            v("ip", "string", "IPv4 address (e.g., 172.30.100.104)"),
            v("ip6", "string", "IPv6 address (e.g., 2001:db8::33)"),
            v("ipc", "string", "IPC mode to use"),
            v("isolation", "string", "Container isolation technology").unsupported(),
            v("kernel-memory", "bytes", "Kernel memory limit").unsupported(),
            ls('l', "label", "Set meta data on a container"),
            l("label-file", "Read in a line delimited file of labels"),
            l("link", "Add link to another container").unsupported(),
            l("link-local-ip", "Container IPv4/IPv6 link-local addresses").unsupported(),
            v("log-driver", "string", "Logging driver for the container"),
            l("log-opt", "Log driver options"),
            v("mac-address", "string", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
            vs('m', "memory", "bytes", "Memory limit"),
            v("memory-reservation", "bytes", "Memory soft limit"),
            v("memory-swap", "bytes", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
            Flag::new("memory-swappiness", None, Kind::Value, "int", "Tune container memory swappiness (0 to 100)").default_value("-1"),
            Flag::new("mount", None, Kind::List, "mount", "Attach a filesystem mount to the container"),
            v("name", "string", "Assign a name to the container"),
            Flag::new("net", None, Kind::List, "network", "Connect a container to a network").hidden(),
            Flag::new("net-alias", None, Kind::List, "list", "Add network-scoped alias for the container").hidden(),
            Flag::new("network", None, Kind::List, "network", "Connect a container to a network"),
            l("network-alias", "Add network-scoped alias for the container"),
            b("no-healthcheck", "Disable any container-specified HEALTHCHECK"),
            b("oom-kill-disable", "Disable OOM Killer"),
            Flag::new("oom-score-adj", None, Kind::Value, "int", "Tune host's OOM preferences (-1000 to 1000)"),
            v("pid", "string", "PID namespace to use"),
            Flag::new("pids-limit", None, Kind::Value, "int", "Tune container pids limit (set -1 for unlimited)"),
            v("platform", "string", "Set platform if server is multi-platform capable"),
            b("privileged", "Give extended privileges to this container"),
            ls('p', "publish", "Publish a container's port(s) to the host"),
            bs('P', "publish-all", "Publish all exposed ports to random ports"),
            v("pull", "string", "Pull image before running (\"always\", \"missing\", \"never\")").default_value("\"missing\""),
            bs('q', "quiet", "Suppress the pull output"),
            b("read-only", "Mount the container's root filesystem as read only"),
            v("restart", "string", "Restart policy to apply when a container exits").default_value("\"no\""),
            b("rm", "Automatically remove the container and its associated anonymous volumes when it exits"),
            v("runtime", "string", "Runtime to use for this container"),
            l("security-opt", "Security Options"),
            v("shm-size", "bytes", "Size of /dev/shm"),
            v("stop-signal", "string", "Signal to stop the container"),
            Flag::new("stop-timeout", None, Kind::Value, "int", "Timeout (in seconds) to stop a container"),
            l("storage-opt", "Storage driver options for the container").unsupported(),
            Flag::new("sysctl", None, Kind::List, "map", "Sysctl options"),
            l("tmpfs", "Mount a tmpfs directory"),
            bs('t', "tty", "Allocate a pseudo-TTY"),
            Flag::new("ulimit", None, Kind::List, "ulimit", "Ulimit options"),
            b("use-api-socket", "Bind mount Docker API socket and required auth").unsupported(),
            vs('u', "user", "string", "Username or UID (format: <name|uid>[:<group|gid>])"),
            v("userns", "string", "User namespace to use"),
            v("uts", "string", "UTS namespace to use"),
            ls('v', "volume", "Bind mount a volume"),
            v("volume-driver", "string", "Optional volume driver for the container").unsupported(),
            l("volumes-from", "Mount volumes from the specified container(s)").unsupported(),
            vs('w', "workdir", "string", "Working directory inside the container"),
        ]
    };
}

/// `run`'s flags.
pub static RUN_FLAGS: &[Flag] = container_flags!(
    bs(
        'd',
        "detach",
        "Run container in background and print container ID"
    ),
    v(
        "detach-keys",
        "string",
        "Override the key sequence for detaching a container"
    ),
    b("sig-proxy", "Proxy received signals to the process").default_value("true"),
);

/// `create`'s flags.
pub static CREATE_FLAGS: &[Flag] = container_flags!();

/// A parsed `run`/`create` command line.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub name: String,
    pub platform: String,
    /// `always`, `missing` or `never`.
    pub pull: String,
    pub quiet: bool,
    pub cidfile: String,
    pub auto_remove: bool,
    pub body: ContainerCreateRequest,
}

/// Why options do not make a container.
#[derive(Debug, thiserror::Error)]
pub enum OptsError {
    /// A flag value (usage shown, exit 125).
    #[error(transparent)]
    Flag(#[from] UsageError),
    /// A combination or file problem (`berth: ...`, exit 125).
    #[error("{0}")]
    Invalid(String),
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    if v.is_empty() { None } else { Some(v) }
}

fn duration_ns(m: &Matches, flag: &str) -> Result<i64, UsageError> {
    Ok(m.parse(flag, |s| {
        parse_go_duration(s).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    })?
    .unwrap_or(0))
}

/// Parses the flags and arguments (`IMAGE [COMMAND] [ARG...]`).
/// `console_size` is the terminal's `(rows, cols)` when stdout is one.
pub fn parse(m: &Matches, console_size: Option<(u16, u16)>) -> Result<CreateOptions, OptsError> {
    let invalid = |s: String| OptsError::Invalid(s);
    // values docker checks as flags are parsed
    let attach = m.parse_list("attach", misc::validate_attach)?;
    let env_flags = m.parse_list("env", kv::validate_env)?;
    let label_flags = m.parse_list("label", kv::validate_label)?;
    let extra_hosts = m.parse_list("add-host", kv::validate_extra_host)?;
    let sysctls = m.parse_list("sysctl", kv::validate_sysctl)?;
    let ulimits = m.parse_list("ulimit", misc::parse_ulimit)?;
    let mounts = m.parse_list("mount", mounts::parse_mount)?;
    let dns = m.parse_list("dns", |s| {
        s.parse::<std::net::IpAddr>()
            .map(|_| s.to_owned())
            .map_err(|_| format!("IP address is not correctly formatted: {s}"))
    })?;
    let dns_search = m.parse_list("dns-search", |s| {
        let d = s.trim_end_matches('.');
        if d.starts_with('.') || d.len() > 255 {
            Err(format!("{s} is not a valid domain"))
        } else {
            Ok(s.to_owned())
        }
    })?;
    let device_cgroup_rules = m.parse_list("device-cgroup-rule", |s| {
        let ok = {
            let p: Vec<&str> = s.split(' ').collect();
            p.len() == 3
                && matches!(p[0], "a" | "b" | "c")
                && p[1].split_once(':').is_some_and(|(a, b)| {
                    [a, b].iter().all(|x| {
                        *x == "*" || (!x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()))
                    })
                })
                && !p[2].is_empty()
                && p[2].len() <= 3
                && p[2].bytes().all(|c| matches!(c, b'r' | b'w' | b'm'))
        };
        if ok {
            Ok(s.to_owned())
        } else {
            Err(format!("invalid device cgroup format '{s}'"))
        }
    })?;
    let memory = m.parse("memory", ram_in_bytes)?.unwrap_or(0);
    let memory_reservation = m.parse("memory-reservation", ram_in_bytes)?.unwrap_or(0);
    let memory_swap = m
        .parse("memory-swap", |s| {
            if s == "-1" { Ok(-1) } else { ram_in_bytes(s) }
        })?
        .unwrap_or(0);
    let shm_size = m.parse("shm-size", ram_in_bytes)?.unwrap_or(0);
    let nano_cpus = m.parse("cpus", misc::parse_cpus)?.unwrap_or(0);
    let blkio_weight = m
        .parse("blkio-weight", |s| {
            s.parse::<u16>()
                .map_err(|_| format!("strconv.ParseUint: parsing \"{s}\": invalid syntax"))
        })?
        .unwrap_or(0);
    let mut networks = m.parse_list("network", misc::parse_network)?;
    networks.extend(m.parse_list("net", misc::parse_network)?);
    let health_interval = duration_ns(m, "health-interval")?;
    let health_timeout = duration_ns(m, "health-timeout")?;
    let health_start_period = duration_ns(m, "health-start-period")?;
    let health_start_interval = duration_ns(m, "health-start-interval")?;
    if m.changed("disable-content-trust") && !m.bool("disable-content-trust") {
        return Err(UsageError::Unsupported(
            "--disable-content-trust=false (content trust)".into(),
        )
        .into());
    }

    let pull = m.value("pull").unwrap_or("missing").to_owned();
    misc::validate_pull(&pull).map_err(invalid)?;

    let image = m.args.first().cloned().unwrap_or_default();
    let cmd: Vec<String> = m.args.iter().skip(1).cloned().collect();

    let mac = m.str("mac-address");
    if !mac.is_empty() && !misc::valid_mac(mac) {
        return Err(invalid(format!("{mac} is not a valid mac address")));
    }
    let swappiness = m.int("memory-swappiness", -1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return Err(invalid(format!(
            "invalid value: {swappiness}. Valid memory swappiness range is 0-100"
        )));
    }

    // volumes: binds vs anonymous volumes
    let mut binds = Vec::new();
    let mut volumes: BTreeMap<String, Empty> = BTreeMap::new();
    for spec in m.list("volume") {
        let parsed = mounts::parse_volume(spec).map_err(invalid)?;
        if parsed.source.is_empty() {
            volumes.insert(spec.to_owned(), Empty);
            continue;
        }
        let mut bind = spec.to_owned();
        if parsed.is_bind
            && parsed.source.starts_with('.')
            && let Some((host, rest)) = spec.split_once(':')
            && let Ok(cwd) = std::env::current_dir()
        {
            bind = format!(
                "{}:{rest}",
                mounts::clean_path(&cwd.join(host).to_string_lossy())
            );
        }
        binds.push(bind);
    }
    let tmpfs: BTreeMap<String, String> = m
        .list("tmpfs")
        .iter()
        .map(|t| mounts::parse_tmpfs(t))
        .collect();

    let (mut exposed, port_bindings) = ports::parse_publish(&m.list("publish")).map_err(invalid)?;
    ports::add_expose(&mut exposed, &m.list("expose")).map_err(invalid)?;

    let mut devices = Vec::new();
    for d in m.list("device") {
        devices.extend(misc::parse_device(d).map_err(invalid)?);
    }

    let env = kv::merge(&m.list("env-file"), &env_flags, true).map_err(invalid)?;
    let labels = kv::merge(&m.list("label-file"), &label_flags, false).map_err(invalid)?;

    for (flag, what) in [
        ("pid", "PID"),
        ("uts", "UTS"),
        ("userns", "USER"),
        ("cgroupns", "CGROUP"),
    ] {
        let v = m.str(flag);
        let ok = match flag {
            "pid" => {
                v.is_empty()
                    || v == "host"
                    || v.strip_prefix("container:").is_some_and(|c| !c.is_empty())
            }
            "uts" => v.is_empty() || v == "host",
            "userns" => v.is_empty() || v == "host",
            _ => v.is_empty() || v == "host" || v == "private",
        };
        if !ok {
            return Err(invalid(format!("--{flag}: invalid {what} mode")));
        }
    }

    let restart = m
        .parse("restart", misc::parse_restart)?
        .unwrap_or(RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        });
    let log_opts: Vec<String> = m.list("log-opt").into_iter().map(str::to_owned).collect();
    if m.str("log-driver") == "none" && !log_opts.is_empty() {
        return Err(invalid("invalid logging opts for driver none".into()));
    }
    let (security_opt, unconfined_paths) =
        misc::parse_security_opts(&m.list("security-opt")).map_err(invalid)?;

    // healthcheck
    let have_health = m.changed("health-cmd")
        || health_interval != 0
        || health_timeout != 0
        || health_start_period != 0
        || health_start_interval != 0
        || m.int("health-retries", 0) != 0;
    let healthcheck = if m.bool("no-healthcheck") {
        if have_health {
            return Err(invalid(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        })
    } else if have_health {
        if m.int("health-retries", 0) < 0 {
            return Err(invalid("--health-retries cannot be negative".into()));
        }
        let test = m
            .value("health-cmd")
            .filter(|c| !c.is_empty())
            .map(|c| vec!["CMD-SHELL".to_owned(), c.to_owned()]);
        Some(HealthConfig {
            test,
            interval: health_interval,
            timeout: health_timeout,
            start_period: health_start_period,
            start_interval: health_start_interval,
            retries: m.int("health-retries", 0),
        })
    } else {
        None
    };

    let entrypoint = match m.value("entrypoint") {
        Some("") => Some(vec![String::new()]),
        Some(e) => Some(vec![e.to_owned()]),
        None => None,
    };

    // attach: -a given, else stdout+stderr; -i adds stdin
    let mut attach_stdin = attach.iter().any(|a| a == "stdin");
    let (mut attach_stdout, mut attach_stderr) = (
        attach.iter().any(|a| a == "stdout"),
        attach.iter().any(|a| a == "stderr"),
    );
    let interactive = m.bool("interactive");
    if interactive {
        attach_stdin = true;
    }
    if attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    if m.bool("rm") && !matches!(restart.name.as_str(), "" | "no") {
        return Err(invalid(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }

    let mut config = ContainerConfig {
        hostname: m.str("hostname").to_owned(),
        domainname: m.str("domainname").to_owned(),
        user: m.str("user").to_owned(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: Some(exposed),
        tty: m.bool("tty"),
        open_stdin: interactive,
        stdin_once: interactive && attach_stdin,
        env: non_empty(env),
        cmd: non_empty(cmd),
        healthcheck,
        image,
        volumes: Some(volumes),
        working_dir: m.str("workdir").to_owned(),
        entrypoint,
        labels: Some(kv::to_map(&labels)),
        ..Default::default()
    };
    if m.changed("stop-signal") {
        config.stop_signal = m.str("stop-signal").to_owned();
    }
    if m.changed("stop-timeout") {
        config.stop_timeout = Some(m.int("stop-timeout", 0));
    }

    let list = |flag: &str| -> Option<Vec<String>> {
        non_empty(m.list(flag).into_iter().map(str::to_owned).collect())
    };
    let mut dns_options: Vec<String> = m
        .list("dns-option")
        .into_iter()
        .map(str::to_owned)
        .collect();
    dns_options.extend(m.list("dns-opt").into_iter().map(str::to_owned));
    let annotations: BTreeMap<String, String> = m
        .list("annotation")
        .iter()
        .map(|a| {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();

    let network_mode = networks
        .first()
        .map_or_else(|| "default".to_owned(), |n| n.target.clone());
    let host_config = HostConfig {
        binds: non_empty(binds),
        container_id_file: m.str("cidfile").to_owned(),
        log_config: LogConfig {
            r#type: m.str("log-driver").to_owned(),
            config: Some(kv::to_map(&log_opts)),
        },
        network_mode: network_mode.clone(),
        port_bindings: Some(port_bindings),
        restart_policy: restart,
        auto_remove: m.bool("rm"),
        console_size: console_size.map_or([0, 0], |(h, w)| [u64::from(h), u64::from(w)]),
        annotations: if annotations.is_empty() {
            None
        } else {
            Some(annotations)
        },
        cap_add: list("cap-add"),
        cap_drop: list("cap-drop"),
        cgroupns_mode: m.str("cgroupns").to_owned(),
        dns: Some(dns),
        dns_options: Some(dns_options),
        dns_search: Some(dns_search),
        extra_hosts: non_empty(extra_hosts),
        group_add: list("group-add"),
        ipc_mode: m.str("ipc").to_owned(),
        oom_score_adj: m.int("oom-score-adj", 0),
        pid_mode: m.str("pid").to_owned(),
        privileged: m.bool("privileged"),
        publish_all_ports: m.bool("publish-all"),
        readonly_rootfs: m.bool("read-only"),
        security_opt: non_empty(security_opt),
        tmpfs: if tmpfs.is_empty() { None } else { Some(tmpfs) },
        uts_mode: m.str("uts").to_owned(),
        userns_mode: m.str("userns").to_owned(),
        shm_size,
        sysctls: if sysctls.is_empty() {
            None
        } else {
            Some(kv::to_map(&sysctls))
        },
        runtime: m.str("runtime").to_owned(),
        cpu_shares: m.int("cpu-shares", 0),
        memory,
        nano_cpus,
        cgroup_parent: m.str("cgroup-parent").to_owned(),
        blkio_weight,
        blkio_weight_device: Some(Vec::new()),
        blkio_device_read_bps: Some(Vec::new()),
        blkio_device_write_bps: Some(Vec::new()),
        blkio_device_read_iops: Some(Vec::new()),
        blkio_device_write_iops: Some(Vec::new()),
        cpu_period: m.int("cpu-period", 0),
        cpu_quota: m.int("cpu-quota", 0),
        cpu_realtime_period: m.int("cpu-rt-period", 0),
        cpu_realtime_runtime: m.int("cpu-rt-runtime", 0),
        cpuset_cpus: m.str("cpuset-cpus").to_owned(),
        cpuset_mems: m.str("cpuset-mems").to_owned(),
        devices: Some(devices),
        device_cgroup_rules: non_empty(device_cgroup_rules),
        memory_reservation,
        memory_swap,
        memory_swappiness: Some(swappiness),
        oom_kill_disable: Some(m.bool("oom-kill-disable")),
        pids_limit: Some(m.int("pids-limit", 0)),
        ulimits: Some(ulimits),
        mounts: non_empty_mounts(mounts),
        masked_paths: unconfined_paths.then(Vec::new),
        readonly_paths: unconfined_paths.then(Vec::new),
        init: m.changed("init").then(|| m.bool("init")),
        ..Default::default()
    };

    let networking_config = endpoints(m, &networks, &network_mode).map_err(invalid)?;
    Ok(CreateOptions {
        name: m.str("name").to_owned(),
        platform: m.str("platform").to_owned(),
        pull,
        quiet: m.bool("quiet"),
        cidfile: m.str("cidfile").to_owned(),
        auto_remove: m.bool("rm"),
        body: ContainerCreateRequest {
            config,
            host_config: Some(host_config),
            networking_config: Some(networking_config),
        },
    })
}

fn non_empty_mounts(
    v: Vec<berth_docker_types::container::Mount>,
) -> Option<Vec<berth_docker_types::container::Mount>> {
    if v.is_empty() { None } else { Some(v) }
}

fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// docker's `parseNetworkOpts`: per-network endpoint settings, with
/// `--network-alias`, `--ip`, `--ip6`, `--mac-address` on the first.
fn endpoints(
    m: &Matches,
    networks: &[misc::NetworkAttachment],
    mode: &str,
) -> Result<NetworkingConfig, String> {
    let mut aliases: Vec<String> = m
        .list("network-alias")
        .into_iter()
        .map(str::to_owned)
        .collect();
    aliases.extend(m.list("net-alias").into_iter().map(str::to_owned));
    let (ip, ip6, mac) = (m.str("ip"), m.str("ip6"), m.str("mac-address"));
    let mut eps: BTreeMap<String, EndpointSettings> = BTreeMap::new();
    if networks.is_empty() {
        // what docker 28 sends without --network
        let mut ep = EndpointSettings::default();
        apply_first(&mut ep, &aliases, ip, ip6, mac);
        if !aliases.is_empty() {
            return Err(
                "network-scoped aliases are only supported for user-defined networks".into(),
            );
        }
        eps.insert("default".into(), ep);
        return Ok(NetworkingConfig {
            endpoints_config: Some(eps),
        });
    }
    let (mut user, mut builtin) = (false, false);
    for (i, n) in networks.iter().enumerate() {
        if n.target.trim().is_empty() {
            return Err("no name set for network".into());
        }
        if is_user_defined(&n.target) {
            user = true;
        } else {
            builtin = true;
        }
        let mut ep = EndpointSettings::default();
        if !n.aliases.is_empty() {
            ep.aliases = Some(n.aliases.clone());
        }
        if !n.driver_opts.is_empty() {
            ep.driver_opts = Some(n.driver_opts.iter().cloned().collect());
        }
        if !n.ipv4.is_empty() || !n.ipv6.is_empty() || !n.link_local_ips.is_empty() {
            ep.ipam_config = Some(EndpointIpamConfig {
                ipv4_address: n.ipv4.clone(),
                ipv6_address: n.ipv6.clone(),
                link_local_ips: non_empty(n.link_local_ips.clone()),
            });
        }
        ep.mac_address = n.mac.clone();
        ep.gw_priority = n.gw_priority;
        if i == 0 {
            if !n.aliases.is_empty() && !aliases.is_empty() {
                return Err("conflicting options: cannot specify both --network-alias and per-network alias".into());
            }
            if !n.ipv4.is_empty() && !ip.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --ip and per-network IPv4 address"
                        .into(),
                );
            }
            if !n.ipv6.is_empty() && !ip6.is_empty() {
                return Err(
                    "conflicting options: cannot specify both --ip6 and per-network IPv6 address"
                        .into(),
                );
            }
            apply_first(&mut ep, &aliases, ip, ip6, mac);
        }
        if !is_user_defined(&n.target) && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(
                "network-scoped aliases are only supported for user-defined networks".into(),
            );
        }
        if eps.contains_key(&n.target) {
            return Err(format!(
                "network {:?} is specified multiple times",
                n.target
            ));
        }
        if i == 0 && networks.len() == 1 && ep == EndpointSettings::default() {
            continue;
        }
        eps.insert(n.target.clone(), ep);
    }
    if user && builtin {
        return Err("conflicting options: cannot attach both user-defined and non-user-defined network-modes".into());
    }
    let _ = mode;
    Ok(NetworkingConfig {
        endpoints_config: Some(eps),
    })
}

fn apply_first(ep: &mut EndpointSettings, aliases: &[String], ip: &str, ip6: &str, mac: &str) {
    if !aliases.is_empty() {
        ep.aliases = Some(aliases.to_vec());
    }
    if !ip.is_empty() || !ip6.is_empty() {
        let ipam = ep.ipam_config.get_or_insert_with(Default::default);
        if !ip.is_empty() {
            ipam.ipv4_address = ip.to_owned();
        }
        if !ip6.is_empty() {
            ipam.ipv6_address = ip6.to_owned();
        }
    }
    if !mac.is_empty() {
        ep.mac_address = mac.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Args, Spec};

    static RUN: Spec = Spec::new(
        "run",
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "",
        RUN_FLAGS,
        Args::Min(1),
    )
    .stop_at_first_arg()
    .no_short_help();

    fn parse_line(line: &str) -> Result<CreateOptions, OptsError> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let m = Matches::new(&RUN, "run", &argv).map_err(OptsError::Flag)?;
        parse(&m, None)
    }

    #[test]
    fn same_body_as_docker_28() {
        // docker run -d --name web -p 8080:80 -e A=1 busybox sleep 9, as captured from docker 28.2.2
        let want = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":["sleep","9"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;
        let o = parse_line("--name web -p 8080:80 -e A=1 busybox sleep 9").unwrap();
        // -d is applied by `run` itself (it clears the attach flags)
        let got = serde_json::to_value(&o.body).unwrap();
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(got, want);
        assert_eq!(o.name, "web");
    }

    #[test]
    fn second_capture() {
        let o = parse_line("--network foo -v /data -v /tmp:/x:ro --mount type=tmpfs,target=/t,tmpfs-size=1m --restart on-failure:3 --pids-limit 10 -m 64m --cpus 1.5 --ulimit nofile=10:20 --init -t -i busybox").unwrap();
        let v = serde_json::to_value(&o.body).unwrap();
        assert_eq!(v["Volumes"], serde_json::json!({"/data":{}}));
        assert_eq!(v["StdinOnce"], true);
        assert_eq!(v["Tty"], true);
        let h = &v["HostConfig"];
        assert_eq!(h["Binds"], serde_json::json!(["/tmp:/x:ro"]));
        assert_eq!(h["NetworkMode"], "foo");
        assert_eq!(h["Memory"], 67108864);
        assert_eq!(h["NanoCpus"], 1500000000);
        assert_eq!(h["PidsLimit"], 10);
        assert_eq!(h["Init"], true);
        assert_eq!(
            h["Ulimits"],
            serde_json::json!([{"Name":"nofile","Hard":20,"Soft":10}])
        );
        assert_eq!(
            h["Mounts"],
            serde_json::json!([{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576}}])
        );
        assert_eq!(
            h["RestartPolicy"],
            serde_json::json!({"Name":"on-failure","MaximumRetryCount":3})
        );
        assert_eq!(
            v["NetworkingConfig"],
            serde_json::json!({"EndpointsConfig":{}})
        );
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let e = parse_line("-m abc busybox").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'"
            ),
            "{e}"
        );
        let e = parse_line("--ulimit bogus=1 busybox").unwrap_err();
        assert!(
            e.to_string()
                .contains("for \"--ulimit\" flag: invalid ulimit type: bogus"),
            "{e}"
        );
        let e = parse_line("-e =x busybox").unwrap_err();
        assert!(
            e.to_string().contains("invalid environment variable: =x"),
            "{e}"
        );
        let e = parse_line("--gpus all busybox").unwrap_err();
        assert_eq!(e.to_string(), "berth: not supported yet: --gpus");
    }

    #[test]
    fn combination_errors() {
        assert_eq!(
            parse_line("--rm --restart always busybox")
                .unwrap_err()
                .to_string(),
            "conflicting options: cannot specify both --restart and --rm"
        );
        assert_eq!(
            parse_line("--pull sometimes busybox")
                .unwrap_err()
                .to_string(),
            "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\""
        );
        assert_eq!(
            parse_line("-p 80:x busybox").unwrap_err().to_string(),
            "invalid containerPort: x"
        );
        assert_eq!(
            parse_line("--pid bogus busybox").unwrap_err().to_string(),
            "--pid: invalid PID mode"
        );
        assert!(
            parse_line("--no-healthcheck --health-cmd true busybox")
                .unwrap_err()
                .to_string()
                .contains("conflicts")
        );
        assert_eq!(
            parse_line("--mac-address zz busybox")
                .unwrap_err()
                .to_string(),
            "zz is not a valid mac address"
        );
    }

    #[test]
    fn entrypoint_env_labels_and_health() {
        let o =
            parse_line("--entrypoint= -l a=b -l c --health-cmd true --health-interval 2s busybox")
                .unwrap();
        assert_eq!(o.body.config.entrypoint, Some(vec![String::new()]));
        let labels = o.body.config.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c"], "");
        let h = o.body.config.healthcheck.unwrap();
        assert_eq!(h.test, Some(vec!["CMD-SHELL".into(), "true".into()]));
        assert_eq!(h.interval, 2_000_000_000);
        let o = parse_line("-a stdout --stop-signal TERM --stop-timeout 5 busybox").unwrap();
        assert!(
            o.body.config.attach_stdout
                && !o.body.config.attach_stderr
                && !o.body.config.attach_stdin
        );
        assert_eq!(o.body.config.stop_signal, "TERM");
        assert_eq!(o.body.config.stop_timeout, Some(5));
    }
}
