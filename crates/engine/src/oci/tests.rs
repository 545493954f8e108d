//! Golden tests of the spec generator: the JSON of a few typical containers
//! is compared whole with files in `testdata/` (regenerate with
//! `BERTH_UPDATE_GOLDEN=1 cargo test -p berth-engine oci::`, then review the
//! diff). The seccomp profile, which depends on the kernel and architecture,
//! is checked separately and replaced by a marker in the golden files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::spec::{ContainerSpec, DeviceMapping, PortBinding, Resources, RestartPolicy, Ulimit};

fn host() -> HostFacts {
    HostFacts { ncpu: 2, swap_accounting: true, cgroup2: false }
}

fn busybox_image() -> berth_image::ImageConfig {
    berth_image::ImageConfig {
        env: Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(), "LANG=C".into()]),
        cmd: Some(vec!["sh".into()]),
        labels: Some([("maintainer".to_string(), "x".to_string())].into()),
        ..Default::default()
    }
}

fn ctx(id: &str) -> Context {
    Context {
        id: id.into(),
        rootfs: PathBuf::from(format!("/var/lib/berth/containers/{id}/rootfs")),
        user: ResolvedUser { uid: 0, gid: 0, additional_gids: vec![10], home: "/root".into() },
        hostname: id[..12].to_owned(),
        hostname_path: Some(PathBuf::from(format!("/var/lib/berth/containers/{id}/hostname"))),
        hosts_path: Some(PathBuf::from(format!("/var/lib/berth/containers/{id}/hosts"))),
        resolv_conf_path: Some(PathBuf::from(format!("/var/lib/berth/containers/{id}/resolv.conf"))),
        net: Ns::Path(PathBuf::from(format!("/run/berth/netns/{id}"))),
        ipc: Ns::New,
        pid: Ns::New,
        uts: Ns::New,
        cgroup: Ns::Host,
        shm: Shm::Tmpfs(DEFAULT_SHM_SIZE),
        mounts: vec![],
        devices: vec![],
        init: None,
        host: host(),
        cgroup_parent: crate::config::DEFAULT_CGROUP_PARENT.into(),
    }
}

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn golden(name: &str, mut v: Value) {
    let seccomp = v["linux"].as_object_mut().and_then(|l| l.remove("seccomp"));
    if let Some(s) = seccomp {
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        v["linux"]["seccomp"] = json!("<docker's default profile>");
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/oci/testdata").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (BERTH_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(want == text, "{name}: generated config.json differs from {}:\n{text}", path.display());
}

#[test]
fn default_busybox_container() {
    let spec = ContainerSpec { image: "busybox".into(), ..Default::default() };
    let (merged, warnings) = merge(&spec, Some(&busybox_image()), &host()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(merged.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(merged.labels.get("maintainer").map(String::as_str), Some("x"));
    let v = generate(&merged, &ctx(ID)).unwrap();
    assert_eq!(v["process"]["env"], json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=0123456789ab", "LANG=C"]));
    golden("default", v);
}

#[test]
fn many_options() {
    let spec = ContainerSpec {
        image: "busybox".into(),
        entrypoint: Some(vec!["/bin/app".into()]),
        cmd: Some(vec!["--serve".into()]),
        env: vec!["LANG=en_US.UTF-8".into(), "A=1".into()],
        tty: true,
        user: Some("1000:1000".into()),
        working_dir: Some("/srv".into()),
        hostname: Some("web".into()),
        domainname: Some("example.org".into()),
        readonly_rootfs: true,
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["MKNOD".into()],
        security_opt: vec!["no-new-privileges".into()],
        sysctls: [("net.core.somaxconn".to_string(), "1024".to_string())].into(),
        oom_score_adj: Some(500),
        shm_size: Some(128 << 20),
        init: Some(true),
        port_bindings: [("80".to_string(), vec![PortBinding { host_ip: String::new(), host_port: "8080".into() }])].into(),
        restart_policy: RestartPolicy { name: crate::spec::RestartPolicyName::OnFailure, maximum_retry_count: 3 },
        resources: Resources {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0-1".into(),
            pids_limit: Some(100),
            ulimits: vec![Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }],
            device_cgroup_rules: vec!["c 42:* rmw".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let (merged, _) = merge(&spec, Some(&busybox_image()), &host()).unwrap();
    assert_eq!(merged.cmd, Some(vec!["--serve".to_string()]), "an explicit cmd wins over the image's");
    assert_eq!(merged.exposed_ports, vec!["80/tcp".to_string()]);
    assert_eq!(merged.resources.memory_swap, 128 << 20, "swap defaults to twice the memory");
    let mut c = ctx(ID);
    c.hostname = "web".into();
    c.user = ResolvedUser { uid: 1000, gid: 1000, additional_gids: vec![], home: "/".into() };
    c.shm = Shm::Tmpfs(128 << 20);
    c.init = Some(PathBuf::from("/usr/libexec/berth/berth-init"));
    c.mounts = vec![
        OciMount { destination: "/data".into(), typ: "bind".into(), source: "/srv/data".into(), options: vec!["rbind".into(), "rprivate".into(), "ro".into()] },
        OciMount { destination: "/tmp".into(), typ: "tmpfs".into(), source: "tmpfs".into(), options: vec!["noexec".into(), "nosuid".into(), "nodev".into()] },
    ];
    c.devices = vec![Device { path: "/dev/fuse".into(), kind: 'c', major: 10, minor: 229, file_mode: 0o666, uid: 0, gid: 0, permissions: "rwm".into() }];
    let v = generate(&merged, &c).unwrap();
    assert_eq!(v["process"]["args"], json!(["/sbin/docker-init", "--", "/bin/app", "--serve"]));
    assert!(v["process"]["capabilities"]["bounding"].as_array().unwrap().contains(&json!("CAP_NET_ADMIN")));
    assert!(!v["process"]["capabilities"]["bounding"].as_array().unwrap().contains(&json!("CAP_MKNOD")));
    assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 150_000);
    golden("options", v);
}

#[test]
fn privileged_host_namespaces_unconfined() {
    let spec = ContainerSpec {
        image: "busybox".into(),
        cmd: Some(vec!["true".into()]),
        privileged: true,
        network_mode: Some("host".into()),
        pid_mode: Some("host".into()),
        ipc_mode: Some("host".into()),
        uts_mode: Some("host".into()),
        ..Default::default()
    };
    let (merged, _) = merge(&spec, Some(&busybox_image()), &host()).unwrap();
    let mut c = ctx(ID);
    c.net = Ns::Host;
    c.pid = Ns::Host;
    c.ipc = Ns::Host;
    c.uts = Ns::Host;
    c.shm = Shm::Bind(PathBuf::from("/dev/shm"));
    c.hostname = "vm".into();
    let v = generate(&merged, &c).unwrap();
    assert!(v["linux"].get("seccomp").is_none(), "privileged: no seccomp");
    assert!(v["linux"].get("maskedPaths").is_none());
    assert!(v["linux"].get("sysctl").is_none(), "no net sysctls in the host netns");
    assert_eq!(v["linux"]["namespaces"], json!([{"type": "mount"}]));
    assert_eq!(v["process"]["capabilities"]["bounding"].as_array().unwrap().len(), caps::ALL.len());
    golden("privileged-host", v);
}

#[test]
fn seccomp_default_unconfined_and_custom() {
    let spec = ContainerSpec { image: "x".into(), cmd: Some(vec!["true".into()]), ..Default::default() };
    let v = generate(&spec, &ctx(ID)).unwrap();
    let names: Vec<&str> = v["linux"]["seccomp"]["syscalls"].as_array().unwrap().iter().flat_map(|s| s["names"].as_array().unwrap()).map(|n| n.as_str().unwrap()).collect();
    assert!(names.contains(&"read") && !names.contains(&"mount"));
    let spec2 = ContainerSpec { security_opt: vec!["seccomp=unconfined".into()], ..spec.clone() };
    assert!(generate(&spec2, &ctx(ID)).unwrap()["linux"].get("seccomp").is_none());
    let custom = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let spec3 = ContainerSpec { security_opt: vec![format!("seccomp={custom}")], ..spec.clone() };
    let v = generate(&spec3, &ctx(ID)).unwrap();
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
    let spec4 = ContainerSpec { security_opt: vec!["seccomp={bad".into()], ..spec.clone() };
    assert!(generate(&spec4, &ctx(ID)).unwrap_err().to_string().contains("seccomp profile"));
    for unsupported in ["label=disable", "apparmor=unconfined"] {
        let s = ContainerSpec { security_opt: vec![unsupported.into()], ..spec.clone() };
        let e = merge(&s, None, &host()).unwrap_err();
        assert!(e.to_string().starts_with("not supported yet: --security-opt"), "{e}");
    }
}

#[test]
fn command_merge_rules() {
    let img = berth_image::ImageConfig { entrypoint: Some(vec!["/ep".into()]), cmd: Some(vec!["default".into()]), ..Default::default() };
    let m = |spec: ContainerSpec| merge(&spec, Some(&img), &host());
    let (s, _) = m(ContainerSpec::default()).unwrap();
    assert_eq!((s.entrypoint.clone(), s.cmd.clone()), (Some(vec!["/ep".into()]), Some(vec!["default".into()])));
    let (s, _) = m(ContainerSpec { cmd: Some(vec!["x".into()]), ..Default::default() }).unwrap();
    assert_eq!((s.entrypoint.clone(), s.cmd.clone()), (Some(vec!["/ep".into()]), Some(vec!["x".into()])));
    let (s, _) = m(ContainerSpec { entrypoint: Some(vec!["/other".into()]), ..Default::default() }).unwrap();
    assert_eq!((s.entrypoint.clone(), s.cmd.clone()), (Some(vec!["/other".into()]), None), "a new entrypoint drops the image's cmd");
    let (s, _) = m(ContainerSpec { entrypoint: Some(vec!["".into()]), cmd: Some(vec!["sh".into()]), ..Default::default() }).unwrap();
    assert_eq!((s.entrypoint.clone(), s.cmd.clone()), (Some(vec![]), Some(vec!["sh".into()])));
    let e = m(ContainerSpec { entrypoint: Some(vec!["".into()]), ..Default::default() }).unwrap_err();
    assert_eq!(e.to_string(), "invalid argument: No command specified");
    let e = merge(&ContainerSpec::default(), None, &host()).unwrap_err();
    assert_eq!(e.to_string(), "invalid argument: No command specified");
}

#[test]
fn docker_validation_texts() {
    let base = ContainerSpec { cmd: Some(vec!["true".into()]), ..Default::default() };
    let check = |f: &dyn Fn(&mut ContainerSpec), want: &str| {
        let mut s = base.clone();
        f(&mut s);
        let e = merge(&s, None, &host()).unwrap_err();
        assert!(e.to_string().contains(want), "want {want:?}, got {e}");
    };
    check(&|s| s.resources.memory = 1024, "Minimum memory limit allowed is 6MB");
    check(&|s| s.resources.memory_swap = 100 << 20, "You should always set the Memory limit when using Memoryswap limit");
    check(
        &|s| {
            s.resources.memory = 100 << 20;
            s.resources.memory_swap = 50 << 20
        },
        "Minimum memoryswap limit should be larger than memory limit",
    );
    check(&|s| s.resources.nano_cpus = 3_000_000_000, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    check(
        &|s| {
            s.resources.nano_cpus = 1_000_000_000;
            s.resources.cpu_quota = 50000
        },
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
    );
    check(&|s| s.resources.blkio_weight = 5, "Range of blkio weight is from 10 to 1000");
    check(&|s| s.resources.cpuset_cpus = "0-x".into(), "Invalid value 0-x for cpuset cpus");
    check(&|s| s.oom_score_adj = Some(2000), "range for oom score adj is [-1000, 1000]");
    check(&|s| s.shm_size = Some(-1), "SHM size can not be less than 0");
    check(&|s| s.working_dir = Some("rel".into()), "the working directory 'rel' is invalid, it needs to be an absolute path");
    check(&|s| s.stop_signal = Some("SIGFOO".into()), "Invalid signal: SIGFOO");
    check(
        &|s| {
            s.auto_remove = true;
            s.restart_policy.name = crate::spec::RestartPolicyName::Always
        },
        "can't create 'AutoRemove' container with restart policy",
    );
    check(&|s| s.restart_policy.maximum_retry_count = 3, "maximum retry count can only be used with 'on-failure'");
    check(&|s| s.sysctls = [("kernel.hostname".to_string(), "x".to_string())].into(), "sysctl \"kernel.hostname\" is not allowed");
    check(
        &|s| {
            s.network_mode = Some("host".into());
            s.sysctls = [("net.core.somaxconn".to_string(), "1".to_string())].into()
        },
        "not allowed in host network namespace",
    );
    check(&|s| s.resources.ulimits = vec![Ulimit { name: "bogus".into(), soft: 1, hard: 1 }], "invalid ulimit type: bogus");
    check(&|s| s.resources.ulimits = vec![Ulimit { name: "nofile".into(), soft: 10, hard: 1 }], "soft limit must be less than or equal to hard limit");
    check(&|s| s.resources.device_cgroup_rules = vec!["x 1:2 r".into()], "invalid device cgroup rule format");
    check(&|s| s.resources.devices = vec![DeviceMapping { path_on_host: "dev/null".into(), ..Default::default() }], "invalid device specification");
    check(&|s| s.cap_add = vec!["BOGUS".into()], "unknown capability: \"BOGUS\"");
    check(&|s| s.exposed_ports = vec!["80/xtp".into()], "invalid proto: xtp");
    check(&|s| s.userns_mode = Some("remap".into()), "not supported yet: --userns=remap");
    check(&|s| s.unsupported.options = vec!["--link".into()], "not supported yet: --link");
    check(&|s| s.healthcheck = Some(json!({"Test": ["CMD", "true"]})), "not supported yet");
    check(&|s| s.log_config = Some(crate::spec::LogConfig { driver: "syslog".into(), options: BTreeMap::new() }), "not supported yet: log driver syslog");
    check(&|s| s.extra_hosts = vec!["nohost".into()], "bad format for add-host");
    check(&|s| s.dns = vec!["not-an-ip".into()], "not-an-ip is not an ip address");
    check(&|s| s.hostname = Some("bad_host!".into()), "invalid hostname format");
}

#[test]
fn swap_without_accounting_warns() {
    let spec = ContainerSpec { cmd: Some(vec!["true".into()]), resources: Resources { memory: 64 << 20, memory_swap: 128 << 20, ..Default::default() }, ..Default::default() };
    let h = HostFacts { swap_accounting: false, ..host() };
    let (m, w) = merge(&spec, None, &h).unwrap();
    assert_eq!(m.resources.memory_swap, -1);
    assert!(w[0].contains("Memory limited without swap"));
}

#[test]
fn signals() {
    assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
    assert_eq!(parse_signal("kill").unwrap(), 9);
    assert_eq!(parse_signal("10").unwrap(), 10);
    assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), 37);
    assert!(parse_signal("0").is_err());
    assert!(parse_signal("SIGNOPE").is_err());
}

#[test]
fn extra_hosts_and_ports() {
    assert_eq!(parse_extra_host("db:10.0.0.2").unwrap(), ("db".into(), "10.0.0.2".into()));
    assert_eq!(parse_extra_host("gw=host-gateway").unwrap(), ("gw".into(), "host-gateway".into()));
    assert_eq!(parse_extra_host("v6:[::1]").unwrap(), ("v6".into(), "::1".into()));
    assert_eq!(normalize_port("53/UDP").unwrap(), "53/udp");
    assert_eq!(normalize_port("8000-8010").unwrap(), "8000-8010/tcp");
    assert!(normalize_port("0").is_err());
}

#[test]
fn net_sysctls_follow_the_namespace() {
    let spec = ContainerSpec { cmd: Some(vec!["true".into()]), sysctls: [("net.core.somaxconn".to_string(), "1024".to_string()), ("kernel.shmmax".to_string(), "1".to_string())].into(), ..Default::default() };
    // a namespace the engine made: net.* applied by the engine, not in config.json
    let v = generate(&spec, &ctx(ID)).unwrap();
    assert_eq!(v["linux"]["sysctl"], json!({"kernel.shmmax": "1"}));
    let n = net_sysctls(&spec, &ctx(ID));
    assert_eq!(n.get("net.core.somaxconn").map(String::as_str), Some("1024"));
    assert_eq!(n.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
    // a namespace the runtime makes: all of them in config.json
    let mut c = ctx(ID);
    c.net = Ns::New;
    let v = generate(&spec, &c).unwrap();
    assert_eq!(v["linux"]["sysctl"]["net.ipv4.ping_group_range"], "0 2147483647");
    assert_eq!(v["linux"]["sysctl"]["net.core.somaxconn"], "1024");
    c.net = Ns::Host;
    assert!(net_sysctls(&spec, &c).is_empty());
}

#[test]
fn cgroups_path_from_the_container_else_the_daemon() {
    use super::cgroups_path;
    assert_eq!(cgroups_path(None, "/berth", "abc"), "/berth/abc");
    assert_eq!(cgroups_path(Some(""), "/ci-runner/", "abc"), "/ci-runner/abc");
    assert_eq!(cgroups_path(Some("/tenant-a/"), "/berth", "abc"), "/tenant-a/abc");
    let mut c = ctx(ID);
    c.cgroup_parent = "/daemon-parent".into();
    let s = ContainerSpec { image: "busybox".into(), cmd: Some(vec!["true".into()]), ..Default::default() };
    let spec = generate(&s, &c).unwrap();
    assert_eq!(spec["linux"]["cgroupsPath"], format!("/daemon-parent/{ID}"));
}
