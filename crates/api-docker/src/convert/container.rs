//! Engine container records → docker's inspect and list JSON.

use std::collections::BTreeMap;

use berth_docker_types::container as dt;
use berth_docker_types::de::Empty;
use berth_docker_types::network::{EndpointIpamConfig, EndpointSettings};
use berth_engine::model::{self, ContainerDetails, EndpointInfo};
use berth_engine::spec::{ContainerSpec, MountKind, MountSpec};

use super::time_or_zero;

fn opt_list(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The container's `Config` as docker shows it (image defaults merged in
/// by the engine).
pub fn config(spec: &ContainerSpec) -> dt::ContainerConfig {
    dt::ContainerConfig {
        hostname: spec.hostname.clone().unwrap_or_default(),
        domainname: spec.domainname.clone().unwrap_or_default(),
        user: spec.user.clone().unwrap_or_default(),
        attach_stdin: spec.attach_stdin,
        attach_stdout: spec.attach_stdout,
        attach_stderr: spec.attach_stderr,
        exposed_ports: (!spec.exposed_ports.is_empty()).then(|| spec.exposed_ports.iter().map(|p| (p.clone(), Empty)).collect()),
        tty: spec.tty,
        open_stdin: spec.open_stdin,
        stdin_once: spec.stdin_once,
        env: Some(spec.env.clone()),
        cmd: spec.cmd.clone(),
        healthcheck: spec.healthcheck.as_ref().and_then(|h| serde_json::from_value(h.clone()).ok()),
        args_escaped: false,
        image: spec.image.clone(),
        volumes: (!spec.volumes.is_empty()).then(|| spec.volumes.iter().map(|v| (v.clone(), Empty)).collect()),
        working_dir: spec.working_dir.clone().unwrap_or_default(),
        entrypoint: spec.entrypoint.clone().filter(|e| !e.is_empty()),
        network_disabled: spec.network_disabled,
        mac_address: String::new(),
        on_build: None,
        labels: Some(spec.labels.clone()),
        stop_signal: spec.stop_signal.clone().unwrap_or_default(),
        stop_timeout: spec.stop_timeout,
        shell: None,
    }
}

fn mount(m: &MountSpec) -> dt::Mount {
    let bind = (m.kind == MountKind::Bind && (m.bind_propagation.is_some() || m.bind_create_host_path || m.bind_non_recursive)).then(|| {
        dt::BindOptions {
            propagation: m.bind_propagation.clone().unwrap_or_default(),
            non_recursive: m.bind_non_recursive,
            create_mountpoint: m.bind_create_host_path,
            ..Default::default()
        }
    });
    let volume = (m.kind == MountKind::Volume
        && (m.volume_no_copy || !m.volume_labels.is_empty() || m.volume_driver.is_some() || m.volume_subpath.is_some()))
    .then(|| dt::VolumeOptions {
        no_copy: m.volume_no_copy,
        labels: (!m.volume_labels.is_empty()).then(|| m.volume_labels.clone()),
        subpath: m.volume_subpath.clone().unwrap_or_default(),
        driver_config: m.volume_driver.as_ref().map(|n| dt::Driver {
            name: n.clone(),
            options: (!m.volume_driver_options.is_empty()).then(|| m.volume_driver_options.clone()),
        }),
    });
    let tmpfs = (m.kind == MountKind::Tmpfs && (m.tmpfs_size.is_some() || m.tmpfs_mode.is_some() || !m.tmpfs_options.is_empty())).then(|| {
        dt::TmpfsOptions {
            size_bytes: m.tmpfs_size.unwrap_or(0),
            mode: m.tmpfs_mode.unwrap_or(0),
            options: (!m.tmpfs_options.is_empty()).then(|| {
                m.tmpfs_options.iter().map(|o| match o.split_once('=') {
                    Some((k, v)) => vec![k.to_owned(), v.to_owned()],
                    None => vec![o.clone()],
                })
                .collect()
            }),
        }
    });
    dt::Mount {
        r#type: m.kind.as_str().to_owned(),
        source: m.source.clone(),
        target: m.target.clone(),
        read_only: m.read_only,
        consistency: m.consistency.clone().unwrap_or_default(),
        bind_options: bind,
        volume_options: volume,
        tmpfs_options: tmpfs,
        ..Default::default()
    }
}

/// The container's `HostConfig` as it was asked for; the log config with
/// the daemon's defaults filled in, as dockerd shows it.
pub fn host_config(spec: &ContainerSpec, runtime: &str, log_defaults: &berth_engine::LogDefaults) -> dt::HostConfig {
    let r = &spec.resources;
    let throttle = |v: &[berth_engine::spec::ThrottleDevice]| -> Option<Vec<dt::ThrottleDevice>> {
        Some(v.iter().map(|d| dt::ThrottleDevice { path: d.path.clone(), rate: d.rate }).collect())
    };
    let mut log = spec.log_config.clone().unwrap_or_default();
    if log.driver.is_empty() {
        log.driver = log_defaults.driver.clone();
        for (k, v) in &log_defaults.options {
            log.options.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    dt::HostConfig {
        binds: opt_list(&spec.binds),
        log_config: dt::LogConfig { r#type: log.driver, config: Some(log.options) },
        network_mode: spec.network_mode.clone().unwrap_or_else(|| "bridge".to_owned()),
        port_bindings: Some(
            spec.port_bindings
                .iter()
                .map(|(p, b)| {
                    (p.clone(), Some(b.iter().map(|b| dt::PortBinding { host_ip: b.host_ip.clone(), host_port: b.host_port.clone() }).collect()))
                })
                .collect(),
        ),
        restart_policy: dt::RestartPolicy {
            name: spec.restart_policy.name.as_str().to_owned(),
            maximum_retry_count: spec.restart_policy.maximum_retry_count,
        },
        auto_remove: spec.auto_remove,
        annotations: (!spec.annotations.is_empty()).then(|| spec.annotations.clone()),
        cap_add: opt_list(&spec.cap_add),
        cap_drop: opt_list(&spec.cap_drop),
        cgroupns_mode: spec.cgroupns_mode.clone().unwrap_or_default(),
        dns: Some(spec.dns.clone()),
        dns_options: Some(spec.dns_options.clone()),
        dns_search: Some(spec.dns_search.clone()),
        extra_hosts: opt_list(&spec.extra_hosts),
        group_add: opt_list(&spec.group_add),
        ipc_mode: spec.ipc_mode.clone().unwrap_or_default(),
        oom_score_adj: spec.oom_score_adj.map(i64::from).unwrap_or(0),
        pid_mode: spec.pid_mode.clone().unwrap_or_default(),
        privileged: spec.privileged,
        publish_all_ports: spec.publish_all_ports,
        readonly_rootfs: spec.readonly_rootfs,
        security_opt: opt_list(&spec.security_opt),
        tmpfs: (!spec.tmpfs.is_empty()).then(|| spec.tmpfs.clone()),
        uts_mode: spec.uts_mode.clone().unwrap_or_default(),
        userns_mode: spec.userns_mode.clone().unwrap_or_default(),
        shm_size: spec.shm_size.unwrap_or(64 << 20),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone()),
        runtime: runtime.to_owned(),
        cpu_shares: r.cpu_shares,
        memory: r.memory,
        nano_cpus: r.nano_cpus,
        cgroup_parent: spec.cgroup_parent.clone().unwrap_or_default(),
        blkio_weight: r.blkio_weight,
        blkio_weight_device: Some(r.blkio_weight_device.iter().map(|d| dt::WeightDevice { path: d.path.clone(), weight: d.weight }).collect()),
        blkio_device_read_bps: throttle(&r.blkio_device_read_bps),
        blkio_device_write_bps: throttle(&r.blkio_device_write_bps),
        blkio_device_read_iops: throttle(&r.blkio_device_read_iops),
        blkio_device_write_iops: throttle(&r.blkio_device_write_iops),
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_realtime_period: r.cpu_realtime_period,
        cpu_realtime_runtime: r.cpu_realtime_runtime,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        devices: Some(
            r.devices
                .iter()
                .map(|d| dt::DeviceMapping {
                    path_on_host: d.path_on_host.clone(),
                    path_in_container: d.path_in_container.clone(),
                    cgroup_permissions: d.cgroup_permissions.clone(),
                })
                .collect(),
        ),
        device_cgroup_rules: opt_list(&r.device_cgroup_rules),
        memory_reservation: r.memory_reservation,
        memory_swap: r.memory_swap,
        memory_swappiness: r.memory_swappiness,
        oom_kill_disable: r.oom_kill_disable,
        pids_limit: r.pids_limit,
        ulimits: Some(r.ulimits.iter().map(|u| dt::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect()),
        mounts: (!spec.mounts.is_empty()).then(|| spec.mounts.iter().map(mount).collect()),
        masked_paths: spec.masked_paths.clone(),
        readonly_paths: spec.readonly_paths.clone(),
        init: spec.init,
        console_size: spec.console_size.map(|(h, w)| [u64::from(h), u64::from(w)]).unwrap_or_default(),
        ..Default::default()
    }
}

fn state(s: &model::ContainerState) -> dt::ContainerState {
    dt::ContainerState {
        status: s.status.as_str().to_owned(),
        running: s.running,
        paused: s.paused,
        restarting: s.restarting,
        oom_killed: s.oom_killed,
        dead: s.dead,
        pid: i64::from(s.pid),
        exit_code: i64::from(s.exit_code),
        error: s.error.clone(),
        started_at: time_or_zero(s.started_at),
        finished_at: time_or_zero(s.finished_at),
        health: None,
    }
}

/// An engine mount point in docker's shape.
pub fn mount_point(m: &model::MountPoint) -> dt::MountPoint {
    dt::MountPoint {
        r#type: m.kind.as_str().to_owned(),
        name: m.name.clone(),
        source: m.source.clone(),
        destination: m.destination.clone(),
        driver: m.driver.clone(),
        mode: m.mode.clone(),
        rw: m.rw,
        propagation: m.propagation.clone(),
    }
}

/// One network endpoint in docker's shape.
pub fn endpoint(e: &EndpointInfo, spec: Option<&berth_engine::spec::EndpointSpec>) -> EndpointSettings {
    let ipam = spec.and_then(|s| {
        (s.ipv4_address.is_some() || s.ipv6_address.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: s.ipv4_address.clone().unwrap_or_default(),
            ipv6_address: s.ipv6_address.clone().unwrap_or_default(),
            link_local_ips: None,
        })
    });
    EndpointSettings {
        ipam_config: ipam,
        links: None,
        aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
        mac_address: e.mac_address.clone(),
        driver_opts: None,
        gw_priority: 0,
        network_id: e.network_id.clone(),
        endpoint_id: e.endpoint_id.clone(),
        gateway: e.gateway.clone(),
        ip_address: e.ip_address.clone(),
        ip_prefix_len: i64::from(e.ip_prefix_len),
        ipv6_gateway: e.ipv6_gateway.clone(),
        global_ipv6_address: e.global_ipv6_address.clone(),
        global_ipv6_prefix_len: i64::from(e.global_ipv6_prefix_len),
        dns_names: None,
    }
}

/// Published ports in docker's `PortMap` shape: an exposed port without a
/// binding maps to `null`.
pub fn port_map(ports: &BTreeMap<String, Vec<berth_engine::spec::PortBinding>>) -> dt::PortMap {
    ports
        .iter()
        .map(|(p, b)| {
            let v = (!b.is_empty()).then(|| b.iter().map(|b| dt::PortBinding { host_ip: b.host_ip.clone(), host_port: b.host_port.clone() }).collect());
            (p.clone(), v)
        })
        .collect()
}

/// `GET /containers/{id}/json`.
pub fn inspect(d: &ContainerDetails, log_defaults: &berth_engine::LogDefaults) -> dt::ContainerInspect {
    let networks: BTreeMap<String, EndpointSettings> =
        d.network.networks.iter().map(|(name, e)| (name.clone(), endpoint(e, d.spec.endpoints.get(name)))).collect();
    // docker still fills the deprecated top-level fields from the default bridge
    let bridge = d.network.networks.get("bridge");
    let settings = dt::NetworkSettings {
        sandbox_id: if d.network.sandbox_key.is_empty() { String::new() } else { d.id.clone() },
        sandbox_key: d.network.sandbox_key.clone(),
        ports: Some(port_map(&d.network.ports)),
        endpoint_id: bridge.map(|b| b.endpoint_id.clone()).unwrap_or_default(),
        gateway: bridge.map(|b| b.gateway.clone()).unwrap_or_default(),
        global_ipv6_address: bridge.map(|b| b.global_ipv6_address.clone()).unwrap_or_default(),
        global_ipv6_prefix_len: bridge.map(|b| i64::from(b.global_ipv6_prefix_len)).unwrap_or(0),
        ip_address: bridge.map(|b| b.ip_address.clone()).unwrap_or_default(),
        ip_prefix_len: bridge.map(|b| i64::from(b.ip_prefix_len)).unwrap_or(0),
        ipv6_gateway: bridge.map(|b| b.ipv6_gateway.clone()).unwrap_or_default(),
        mac_address: bridge.map(|b| b.mac_address.clone()).unwrap_or_default(),
        networks: Some(networks),
        ..Default::default()
    };
    dt::ContainerInspect {
        id: d.id.clone(),
        created: time_or_zero(d.created),
        path: d.path.clone(),
        args: d.args.clone(),
        state: Some(state(&d.state)),
        image: d.image_id.clone(),
        resolv_conf_path: d.resolv_conf_path.clone(),
        hostname_path: d.hostname_path.clone(),
        hosts_path: d.hosts_path.clone(),
        log_path: d.log_path.clone(),
        name: format!("/{}", d.name),
        restart_count: d.restart_count,
        driver: d.driver.clone(),
        platform: d.platform.clone(),
        image_manifest_descriptor: None,
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: opt_list(&d.exec_ids),
        host_config: Some(host_config(&d.spec, &d.runtime, log_defaults)),
        graph_driver: dt::DriverData { name: d.driver.clone(), data: Some(d.graph_driver_data.clone()) },
        size_rw: d.size_rw,
        size_root_fs: d.size_root_fs,
        mounts: d.mounts.iter().map(mount_point).collect(),
        config: Some(dt::ContainerConfig { hostname: d.hostname.clone(), ..config(&d.spec) }),
        network_settings: Some(settings),
    }
}

/// One row of `GET /containers/json`.
pub fn summary(s: &model::ContainerSummary) -> dt::ContainerSummary {
    let mut ports: Vec<dt::Port> = s
        .ports
        .iter()
        .map(|p| dt::Port { ip: p.ip.clone(), private_port: p.private_port, public_port: p.public_port.unwrap_or(0), r#type: p.proto.clone() })
        .collect();
    ports.sort();
    dt::ContainerSummary {
        id: s.id.clone(),
        names: s.names.iter().map(|n| format!("/{n}")).collect(),
        image: s.image.clone(),
        image_id: s.image_id.clone(),
        image_manifest_descriptor: None,
        command: s.command.clone(),
        created: s.created.div_euclid(1_000_000_000),
        ports,
        size_rw: s.size_rw.unwrap_or(0),
        size_root_fs: s.size_root_fs.unwrap_or(0),
        labels: Some(s.labels.clone()),
        state: s.state.status.as_str().to_owned(),
        status: s.status_text.clone(),
        host_config: dt::SummaryHostConfig { network_mode: s.network_mode.clone(), annotations: None },
        network_settings: Some(dt::SummaryNetworkSettings {
            networks: Some(s.networks.iter().map(|(n, e)| (n.clone(), endpoint(e, None))).collect()),
        }),
        mounts: s.mounts.iter().map(mount_point).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::model::{ContainerState, NetworkSettings, PortSummary, Status};

    fn details() -> ContainerDetails {
        let spec = ContainerSpec {
            image: "busybox".into(),
            cmd: Some(vec!["sleep".into(), "9".into()]),
            env: vec!["PATH=/bin".into()],
            tty: true,
            labels: [("a".to_string(), "b".to_string())].into(),
            port_bindings: [("80/tcp".to_string(), vec![berth_engine::spec::PortBinding { host_ip: String::new(), host_port: "8080".into() }])].into(),
            ..Default::default()
        };
        let mut network = NetworkSettings::default();
        network.ports.insert("80/tcp".into(), vec![berth_engine::spec::PortBinding { host_ip: "0.0.0.0".into(), host_port: "8080".into() }]);
        network.ports.insert("443/tcp".into(), vec![]);
        network.networks.insert(
            "bridge".into(),
            EndpointInfo { ip_address: "172.17.0.2".into(), ip_prefix_len: 16, gateway: "172.17.0.1".into(), ..Default::default() },
        );
        ContainerDetails {
            id: "a".repeat(64),
            name: "web".into(),
            created: 1_700_000_000_000_000_000,
            path: "sleep".into(),
            args: vec!["9".into()],
            state: ContainerState {
                status: Status::Running,
                running: true,
                paused: false,
                restarting: false,
                oom_killed: false,
                dead: false,
                pid: 42,
                exit_code: 0,
                error: String::new(),
                started_at: 1_700_000_001_000_000_000,
                finished_at: 0,
            },
            image_id: "sha256:abc".into(),
            resolv_conf_path: String::new(),
            hostname: "aaaaaaaaaaaa".into(),
            hostname_path: String::new(),
            hosts_path: String::new(),
            log_path: "/var/lib/berth/containers/x/x-json.log".into(),
            restart_count: 0,
            driver: "overlay2".into(),
            platform: "linux".into(),
            exec_ids: vec![],
            spec,
            runtime: "berth".into(),
            mounts: vec![],
            network,
            size_rw: None,
            size_root_fs: None,
            graph_driver_data: BTreeMap::new(),
        }
    }

    #[test]
    fn inspect_shape() {
        let i = inspect(&details(), &berth_engine::LogDefaults::default());
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Image"], "sha256:abc");
        assert_eq!(v["State"]["Status"], "running");
        assert_eq!(v["State"]["StartedAt"], "2023-11-14T22:13:21Z");
        assert_eq!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v["Created"], "2023-11-14T22:13:20Z");
        assert!(v["ExecIDs"].is_null());
        assert_eq!(v["Config"]["Image"], "busybox");
        assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sleep", "9"]));
        assert!(v["Config"]["Entrypoint"].is_null());
        assert_eq!(v["Config"]["Tty"], true);
        assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert_eq!(v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(v["HostConfig"]["Runtime"], "berth");
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
        assert_eq!(v["HostConfig"]["LogConfig"]["Config"]["max-size"], "20m");
        assert_eq!(v["Config"]["Hostname"], "aaaaaaaaaaaa");
        assert_eq!(v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"], "0.0.0.0");
        assert!(v["NetworkSettings"]["Ports"]["443/tcp"].is_null());
        assert_eq!(v["NetworkSettings"]["IPAddress"], "172.17.0.2");
        assert_eq!(v["NetworkSettings"]["Networks"]["bridge"]["IPPrefixLen"], 16);
        assert!(v.get("SizeRw").is_none());
    }

    #[test]
    fn summary_shape() {
        let d = details();
        let s = model::ContainerSummary {
            id: d.id.clone(),
            names: vec!["web".into()],
            image: "busybox".into(),
            image_id: "sha256:abc".into(),
            command: "sleep 9".into(),
            created: 1_700_000_000_500_000_000,
            state: d.state.clone(),
            status_text: "Up 2 seconds".into(),
            ports: vec![PortSummary { ip: "0.0.0.0".into(), private_port: 80, public_port: Some(8080), proto: "tcp".into() }],
            labels: BTreeMap::new(),
            size_rw: None,
            size_root_fs: None,
            network_mode: "bridge".into(),
            networks: d.network.networks.clone(),
            mounts: vec![],
        };
        let v = serde_json::to_value(summary(&s)).unwrap();
        assert_eq!(v["Names"], serde_json::json!(["/web"]));
        assert_eq!(v["Created"], 1_700_000_000);
        assert_eq!(v["Status"], "Up 2 seconds");
        assert_eq!(v["State"], "running");
        assert_eq!(v["Ports"], serde_json::json!([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}]));
        assert!(v.get("SizeRw").is_none());
        assert_eq!(v["HostConfig"], serde_json::json!({"NetworkMode":"bridge"}));
    }
}
