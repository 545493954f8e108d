//! `POST /containers/create` body → the engine's [`ContainerSpec`], field by
//! field. Every option the client set reaches the engine: either in its
//! field, or named in `spec.unsupported` so that the engine refuses it
//! (`not supported yet: --link`) rather than it being ignored.

use berth_docker_types::container::{ContainerCreateRequest, HostConfig, Mount};
use berth_engine::spec::{
    ContainerSpec, DeviceMapping, EndpointSpec, LogConfig, MountKind, MountSpec, PortBinding, Resources, RestartPolicy, RestartPolicyName,
    ThrottleDevice, Ulimit, WeightDevice,
};

use crate::error::ApiError;

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Converts a create request; `name` and `platform` come from the query.
pub fn to_spec(req: ContainerCreateRequest, name: Option<&str>, platform: Option<&str>) -> Result<ContainerSpec, ApiError> {
    let c = req.config;
    let mut unsupported: Vec<String> = Vec::new();
    let mut flag = |set: bool, name: &str| {
        if set {
            unsupported.push(name.to_owned());
        }
    };
    if c.image.is_empty() {
        return Err(ApiError::bad_request("no image specified: Config.Image is empty"));
    }
    flag(c.args_escaped, "ArgsEscaped (Windows only)");
    flag(c.on_build.as_ref().is_some_and(|v| !v.is_empty()), "OnBuild");
    flag(c.shell.as_ref().is_some_and(|v| !v.is_empty()), "Shell");

    let entrypoint = c.entrypoint.map(|e| if e.len() == 1 && e[0].is_empty() { Vec::new() } else { e });
    let healthcheck = match &c.healthcheck {
        Some(h) => Some(serde_json::to_value(h).map_err(|e| ApiError::internal(format!("encoding Healthcheck: {e}")))?),
        None => None,
    };

    let mut spec = ContainerSpec {
        name: name.filter(|n| !n.is_empty()).map(str::to_owned),
        image: c.image,
        platform: platform.filter(|p| !p.is_empty()).map(str::to_owned),
        hostname: non_empty(&c.hostname),
        domainname: non_empty(&c.domainname),
        user: non_empty(&c.user),
        attach_stdin: c.attach_stdin,
        attach_stdout: c.attach_stdout,
        attach_stderr: c.attach_stderr,
        exposed_ports: c.exposed_ports.map(|p| p.into_keys().collect()).unwrap_or_default(),
        tty: c.tty,
        open_stdin: c.open_stdin,
        stdin_once: c.stdin_once,
        env: c.env.unwrap_or_default(),
        cmd: c.cmd,
        entrypoint,
        volumes: c.volumes.map(|v| v.into_keys().collect()).unwrap_or_default(),
        working_dir: non_empty(&c.working_dir),
        labels: c.labels.unwrap_or_default(),
        stop_signal: non_empty(&c.stop_signal),
        stop_timeout: c.stop_timeout,
        network_disabled: c.network_disabled,
        mac_address: non_empty(&c.mac_address),
        healthcheck,
        ..Default::default()
    };

    if let Some(h) = req.host_config {
        host_config(h, &mut spec, &mut flag)?;
    }

    if let Some(net) = req.networking_config {
        for (name, ep) in net.endpoints_config.unwrap_or_default() {
            let ipam = ep.ipam_config.unwrap_or_default();
            flag(ep.links.as_ref().is_some_and(|l| !l.is_empty()), "--link");
            flag(ep.driver_opts.as_ref().is_some_and(|d| !d.is_empty()), "--network driver-opt");
            flag(ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()), "--link-local-ip");
            flag(ep.gw_priority != 0, "--network gw-priority");
            let e = EndpointSpec {
                aliases: ep.aliases.unwrap_or_default(),
                ipv4_address: non_empty(&ipam.ipv4_address),
                ipv6_address: non_empty(&ipam.ipv6_address),
                mac_address: non_empty(&ep.mac_address),
            };
            // docker's CLI always sends an entry for the network it names in
            // NetworkMode ("default" for the daemon's default); an empty one
            // carries nothing
            let primary = name == "default" || spec.network_mode.as_deref().is_some_and(|m| m == name);
            if primary && e == EndpointSpec::default() {
                continue;
            }
            let name = if name == "default" { "bridge".to_owned() } else { name };
            spec.endpoints.insert(name, e);
        }
    }
    spec.unsupported.options = unsupported;
    Ok(spec)
}

fn host_config(h: HostConfig, spec: &mut ContainerSpec, flag: &mut impl FnMut(bool, &str)) -> Result<(), ApiError> {
    flag(h.volumes_from.as_ref().is_some_and(|v| !v.is_empty()), "--volumes-from");
    flag(!h.volume_driver.is_empty() && h.volume_driver != "local", "--volume-driver");
    flag(h.links.as_ref().is_some_and(|v| !v.is_empty()), "--link");
    flag(!h.cgroup.is_empty(), "HostConfig.Cgroup");
    flag(h.storage_opt.as_ref().is_some_and(|v| !v.is_empty()), "--storage-opt");
    flag(!h.isolation.is_empty() && h.isolation != "default", "--isolation");
    flag(h.device_requests.as_ref().is_some_and(|v| !v.is_empty()), "--gpus");
    flag(h.kernel_memory != 0, "--kernel-memory");
    flag(h.kernel_memory_tcp != 0, "HostConfig.KernelMemoryTCP");
    flag(h.cpu_count != 0, "--cpu-count (Windows only)");
    flag(h.cpu_percent != 0, "--cpu-percent (Windows only)");
    flag(h.io_maximum_iops != 0, "--io-maxiops (Windows only)");
    flag(h.io_maximum_bandwidth != 0, "--io-maxbandwidth (Windows only)");

    spec.binds = h.binds.unwrap_or_default();
    spec.mounts = h.mounts.unwrap_or_default().into_iter().map(mount).collect::<Result<_, _>>()?;
    spec.tmpfs = h.tmpfs.unwrap_or_default();
    if !h.log_config.r#type.is_empty() || h.log_config.config.as_ref().is_some_and(|c| !c.is_empty()) {
        spec.log_config = Some(LogConfig { driver: h.log_config.r#type, options: h.log_config.config.unwrap_or_default() });
    }
    spec.network_mode = match h.network_mode.as_str() {
        "" | "default" => None,
        m => Some(m.to_owned()),
    };
    spec.port_bindings = h
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .map(|(port, b)| {
            let b = b.unwrap_or_default().into_iter().map(|b| PortBinding { host_ip: b.host_ip, host_port: b.host_port }).collect();
            (port, b)
        })
        .collect();
    spec.publish_all_ports = h.publish_all_ports;
    spec.restart_policy = restart_policy(&h.restart_policy.name, h.restart_policy.maximum_retry_count)?;
    spec.auto_remove = h.auto_remove;
    spec.cap_add = h.cap_add.unwrap_or_default();
    spec.cap_drop = h.cap_drop.unwrap_or_default();
    spec.dns = h.dns.unwrap_or_default();
    spec.dns_options = h.dns_options.unwrap_or_default();
    spec.dns_search = h.dns_search.unwrap_or_default();
    spec.extra_hosts = h.extra_hosts.unwrap_or_default();
    spec.group_add = h.group_add.unwrap_or_default();
    spec.ipc_mode = non_empty(&h.ipc_mode);
    spec.pid_mode = non_empty(&h.pid_mode);
    spec.uts_mode = non_empty(&h.uts_mode);
    spec.userns_mode = non_empty(&h.userns_mode);
    spec.cgroupns_mode = non_empty(&h.cgroupns_mode);
    if h.oom_score_adj != 0 {
        if !(-1000..=1000).contains(&h.oom_score_adj) {
            return Err(ApiError::bad_request(format!("Invalid value {}, range for oom score adj is [-1000, 1000]", h.oom_score_adj)));
        }
        spec.oom_score_adj = i32::try_from(h.oom_score_adj).ok();
    }
    spec.privileged = h.privileged;
    spec.readonly_rootfs = h.readonly_rootfs;
    spec.security_opt = h.security_opt.unwrap_or_default();
    if h.shm_size < 0 {
        return Err(ApiError::bad_request("SHM size can not be less than 0"));
    }
    spec.shm_size = (h.shm_size != 0).then_some(h.shm_size);
    spec.sysctls = h.sysctls.unwrap_or_default();
    spec.runtime = non_empty(&h.runtime);
    spec.init = h.init;
    spec.masked_paths = h.masked_paths;
    spec.readonly_paths = h.readonly_paths;
    spec.cgroup_parent = non_empty(&h.cgroup_parent);
    spec.annotations = h.annotations.unwrap_or_default();
    let throttle = |v: Option<Vec<berth_docker_types::container::ThrottleDevice>>| -> Vec<ThrottleDevice> {
        v.unwrap_or_default().into_iter().map(|d| ThrottleDevice { path: d.path, rate: d.rate }).collect()
    };
    spec.resources = Resources {
        memory: h.memory,
        memory_reservation: h.memory_reservation,
        memory_swap: h.memory_swap,
        // docker's CLI sends -1 for "not set"
        memory_swappiness: h.memory_swappiness.filter(|s| *s != -1),
        nano_cpus: h.nano_cpus,
        cpu_shares: h.cpu_shares,
        cpu_period: h.cpu_period,
        cpu_quota: h.cpu_quota,
        cpu_realtime_period: h.cpu_realtime_period,
        cpu_realtime_runtime: h.cpu_realtime_runtime,
        cpuset_cpus: h.cpuset_cpus,
        cpuset_mems: h.cpuset_mems,
        // as dockerd: 0 and negative values mean "no limit", stored as unset
        pids_limit: h.pids_limit.filter(|p| *p > 0),
        ulimits: h.ulimits.unwrap_or_default().into_iter().map(|u| Ulimit { name: u.name, soft: u.soft, hard: u.hard }).collect(),
        blkio_weight: h.blkio_weight,
        blkio_weight_device: h
            .blkio_weight_device
            .unwrap_or_default()
            .into_iter()
            .map(|d| WeightDevice { path: d.path, weight: d.weight })
            .collect(),
        blkio_device_read_bps: throttle(h.blkio_device_read_bps),
        blkio_device_write_bps: throttle(h.blkio_device_write_bps),
        blkio_device_read_iops: throttle(h.blkio_device_read_iops),
        blkio_device_write_iops: throttle(h.blkio_device_write_iops),
        // docker's CLI sends false for "not set"
        oom_kill_disable: h.oom_kill_disable.filter(|d| *d),
        devices: h
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| DeviceMapping { path_on_host: d.path_on_host, path_in_container: d.path_in_container, cgroup_permissions: d.cgroup_permissions })
            .collect(),
        device_cgroup_rules: h.device_cgroup_rules.unwrap_or_default(),
    };
    let [height, width] = h.console_size;
    if height > 0 && width > 0 {
        spec.console_size = Some((
            u16::try_from(height).map_err(|_| ApiError::bad_request("invalid ConsoleSize height"))?,
            u16::try_from(width).map_err(|_| ApiError::bad_request("invalid ConsoleSize width"))?,
        ));
    }
    Ok(())
}

/// docker's restart policy checks, with its texts.
pub fn restart_policy(name: &str, max_retry: i64) -> Result<RestartPolicy, ApiError> {
    let parsed = RestartPolicyName::parse(name).map_err(|_| ApiError::bad_request(format!("invalid restart policy '{name}'")))?;
    if max_retry < 0 {
        return Err(ApiError::bad_request(format!("invalid value for MaximumRetryCount: {max_retry}: must be a positive integer")));
    }
    if max_retry > 0 && parsed != RestartPolicyName::OnFailure {
        return Err(ApiError::bad_request("invalid restart policy: maximum retry count can only be used with 'on-failure'"));
    }
    Ok(RestartPolicy { name: parsed, maximum_retry_count: max_retry })
}

fn mount(m: Mount) -> Result<MountSpec, ApiError> {
    let kind = match m.r#type.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        "" => return Err(ApiError::bad_request("invalid mount config: mount type must be specified")),
        // npipe, cluster, image: the engine refuses them by name
        _ => MountKind::Other,
    };
    let bind = m.bind_options.unwrap_or_default();
    let vol = m.volume_options.unwrap_or_default();
    let tmpfs = m.tmpfs_options.unwrap_or_default();
    let driver = vol.driver_config.unwrap_or_default();
    let mut tmpfs_options = Vec::new();
    for o in tmpfs.options.unwrap_or_default() {
        match o.as_slice() {
            [flag] => tmpfs_options.push(flag.clone()),
            [k, v] => tmpfs_options.push(format!("{k}={v}")),
            _ => return Err(ApiError::bad_request(format!("invalid mount config: invalid tmpfs option {o:?}"))),
        }
    }
    if m.cluster_options.is_some() {
        return Err(ApiError::option_not_supported("cluster volumes (Mounts[].ClusterOptions)"));
    }
    if m.image_options.as_ref().is_some_and(|o| !o.subpath.is_empty()) {
        return Err(ApiError::option_not_supported("image mounts (Mounts[].ImageOptions)"));
    }
    if bind.read_only_non_recursive || bind.read_only_force_recursive {
        return Err(ApiError::option_not_supported("Mounts[].BindOptions.ReadOnlyNonRecursive/ReadOnlyForceRecursive"));
    }
    Ok(MountSpec {
        kind,
        source: m.source,
        target: m.target,
        read_only: m.read_only,
        bind_propagation: non_empty(&bind.propagation),
        bind_create_host_path: bind.create_mountpoint,
        bind_non_recursive: bind.non_recursive,
        volume_no_copy: vol.no_copy,
        volume_labels: vol.labels.unwrap_or_default(),
        volume_driver: non_empty(&driver.name),
        volume_driver_options: driver.options.unwrap_or_default(),
        volume_subpath: non_empty(&vol.subpath),
        tmpfs_size: (tmpfs.size_bytes != 0).then_some(tmpfs.size_bytes),
        tmpfs_mode: (tmpfs.mode != 0).then_some(tmpfs.mode),
        tmpfs_options,
        consistency: non_empty(&m.consistency).filter(|c| c != "default"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> ContainerCreateRequest {
        ContainerCreateRequest::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn docker_run_body() {
        let r = req(r#"{"Image":"busybox","Cmd":["sleep","9"],"Env":["A=1"],"Tty":true,"OpenStdin":true,
            "ExposedPorts":{"80/tcp":{}},"Labels":{"l":"v"},"Entrypoint":null,"StopTimeout":3,
            "HostConfig":{"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},
              "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"AutoRemove":false,"ConsoleSize":[40,120],
              "Memory":67108864,"NanoCpus":500000000,"PidsLimit":50,"CapAdd":"NET_ADMIN","Binds":["/tmp:/data:ro"],
              "Tmpfs":{"/run":"size=1m"},"Ulimits":[{"Name":"nofile","Soft":10,"Hard":20}],"Init":true,
              "SecurityOpt":["no-new-privileges"],"Mounts":[{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1024,"Options":[["noexec"],["uid","5"]]}}]},
            "NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":["web"]}}}}"#);
        let c = to_spec(r, Some("web"), None).unwrap();
        let s = &c;
        assert_eq!(s.name.as_deref(), Some("web"));
        assert_eq!(s.cmd, Some(vec!["sleep".into(), "9".into()]));
        assert_eq!(s.entrypoint, None);
        assert!(s.tty && s.open_stdin);
        assert_eq!(s.exposed_ports, vec!["80/tcp".to_string()]);
        assert_eq!(s.stop_timeout, Some(3));
        assert_eq!(s.network_mode, None);
        assert_eq!(s.port_bindings["80/tcp"][0].host_port, "8080");
        assert_eq!(s.restart_policy, RestartPolicy { name: RestartPolicyName::OnFailure, maximum_retry_count: 2 });
        assert_eq!(s.resources.memory, 64 << 20);
        assert_eq!(s.resources.nano_cpus, 500_000_000);
        assert_eq!(s.resources.pids_limit, Some(50));
        assert_eq!(s.resources.ulimits[0], Ulimit { name: "nofile".into(), soft: 10, hard: 20 });
        assert_eq!(s.cap_add, vec!["NET_ADMIN".to_string()]);
        assert_eq!(s.binds, vec!["/tmp:/data:ro".to_string()]);
        assert_eq!(s.init, Some(true));
        assert_eq!(s.mounts[0].kind, MountKind::Tmpfs);
        assert_eq!(s.mounts[0].tmpfs_size, Some(1024));
        assert_eq!(s.mounts[0].tmpfs_options, vec!["noexec".to_string(), "uid=5".to_string()]);
        assert_eq!(s.endpoints["bridge"].aliases, vec!["web".to_string()]);
        assert_eq!(c.console_size, Some((40, 120)));
        let c = to_spec(req(r#"{"Image":"b","HostConfig":{"NetworkMode":"default","MemorySwappiness":-1,"OomKillDisable":false},
            "NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Aliases":null,"MacAddress":""}}}}"#), None, None).unwrap();
        assert!(c.endpoints.is_empty());
        assert_eq!(c.resources.memory_swappiness, None);
        assert_eq!(c.resources.oom_kill_disable, None);
        let c = to_spec(req(r#"{"Image":"b","HostConfig":{"PidsLimit":0}}"#), None, None).unwrap();
        assert_eq!(c.resources.pids_limit, None);
        let c = to_spec(req(r#"{"Image":"b","HostConfig":{"PidsLimit":-1}}"#), None, None).unwrap();
        assert_eq!(c.resources.pids_limit, None);
        assert!(s.unsupported.options.is_empty(), "{:?}", s.unsupported.options);
    }

    #[test]
    fn entrypoint_reset() {
        let c = to_spec(req(r#"{"Image":"busybox","Entrypoint":[""]}"#), None, None).unwrap();
        assert_eq!(c.entrypoint, Some(vec![]));
        let c = to_spec(req(r#"{"Image":"busybox","Entrypoint":"sh"}"#), None, None).unwrap();
        assert_eq!(c.entrypoint, Some(vec!["sh".to_string()]));
    }

    #[test]
    fn unimplemented_options_are_named_not_dropped() {
        let r = req(r#"{"Image":"b","HostConfig":{"VolumesFrom":["x"],"Links":["a:b"],"StorageOpt":{"size":"1G"},"Isolation":"hyperv",
            "DeviceRequests":[{"Count":-1}]},"NetworkingConfig":{"EndpointsConfig":{"n":{"Links":["c"]}}}}"#);
        let opts = to_spec(r, None, None).unwrap().unsupported.options;
        for o in ["--volumes-from", "--link", "--storage-opt", "--isolation", "--gpus"] {
            assert!(opts.iter().any(|x| x == o), "{o} missing from {opts:?}");
        }
    }

    #[test]
    fn docker_validation_texts() {
        let e = to_spec(req(r#"{"Image":"b","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#), None, None).unwrap_err();
        assert_eq!(e.message, "invalid restart policy 'sometimes'");
        let e = to_spec(req(r#"{"Image":"b","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#), None, None).unwrap_err();
        assert_eq!(e.message, "invalid restart policy: maximum retry count can only be used with 'on-failure'");
        let e = to_spec(req(r#"{"Image":"b","HostConfig":{"OomScoreAdj":5000}}"#), None, None).unwrap_err();
        assert_eq!(e.message, "Invalid value 5000, range for oom score adj is [-1000, 1000]");
        let e = to_spec(req(r#"{"Cmd":["x"]}"#), None, None).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = to_spec(req(r#"{"Image":"b","HostConfig":{"Mounts":[{"Target":"/x"}]}}"#), None, None).unwrap_err();
        assert_eq!(e.message, "invalid mount config: mount type must be specified");
    }
}
