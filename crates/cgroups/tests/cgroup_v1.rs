//! The cgroup v1 / hybrid suite, against this host's kernel. Needs root.
//!
//! Test cgroups are created below the test process's own cgroup (relative paths) and removed
//! by a Drop guard. On a pure v2 host every test prints why it does nothing: the pure v2 suite
//! (`cgroup_v2.rs`, run in a guest by `scripts/test-cgroup-v2`) covers that case.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_cgroups::devices::bpf;
use berth_cgroups::{
    Access, CgroupSpec, DeviceRule, DeviceRules, DeviceType, Error, Hierarchies, Layout,
};
use common::{Cg, Child, MIB, res, scenarios};
use serde_json::json;

fn host() -> Option<Hierarchies> {
    let h = Hierarchies::detect().expect("detect");
    if h.layout == Layout::V2 {
        common::skip("this host is pure cgroup v2; cgroup_v2.rs covers it");
        return None;
    }
    Some(h)
}

fn hybrid() -> Option<Hierarchies> {
    let h = host()?;
    if h.layout != Layout::Hybrid {
        common::skip("this host is not hybrid (no cgroup2 mount next to the v1 hierarchies)");
        return None;
    }
    Some(h)
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    if host().is_some() {
        scenarios::memory_limit_oom_kills_and_is_reported();
    }
}

#[test]
fn pids_limit_stops_the_33rd_process() {
    if host().is_some() {
        scenarios::pids_limit_stops_the_33rd_process();
    }
}

#[test]
fn cpu_quota_shares_and_cpuset_are_enforced() {
    if host().is_some() {
        scenarios::cpu_quota_shares_and_cpuset_are_enforced();
    }
}

#[test]
fn device_rules_deny_and_allow() {
    if host().is_some() {
        scenarios::device_rules_deny_and_allow(|_| {});
    }
}

#[test]
fn freeze_stops_progress_and_thaw_resumes() {
    if host().is_some() {
        scenarios::freeze_stops_progress_and_thaw_resumes();
    }
}

#[test]
fn update_raises_a_memory_limit_and_keeps_the_rest() {
    if host().is_some() {
        scenarios::update_raises_a_memory_limit_and_keeps_the_rest();
    }
}

#[test]
fn destroy_after_sigkill_leaves_nothing() {
    if host().is_some() {
        scenarios::destroy_after_sigkill_leaves_nothing();
    }
}

#[test]
fn kill_all_with_sigterm_reaches_every_process() {
    if host().is_some() {
        scenarios::kill_all_with_sigterm_reaches_every_process();
    }
}

#[test]
fn bad_input_is_refused_naming_the_field_and_leaves_nothing() {
    if host().is_some() {
        scenarios::bad_input_is_refused_naming_the_field_and_leaves_nothing();
    }
}

#[test]
fn stats_report_a_live_container() {
    if host().is_some() {
        scenarios::stats_report_a_live_container();
    }
}

#[test]
fn stored_spec_rebuilds_the_same_manager_and_tampering_is_refused() {
    if host().is_some() {
        scenarios::stored_spec_rebuilds_the_same_manager_and_tampering_is_refused();
    }
}

#[test]
fn swap_and_v1_only_memory_settings_reach_the_kernel() {
    if host().is_none() {
        return;
    }
    let cg = Cg::new("memsw");
    if !cg.file("memory.memsw.limit_in_bytes").exists() {
        let e = cg
            .apply(&res(json!({"memory": {"limit": 64 * MIB, "swap": 128 * MIB}})))
            .unwrap_err();
        assert!(matches!(e, Error::ControllerMissing { .. }), "{e}");
        return;
    }
    cg.apply(&res(json!({"memory": {"limit": 64 * MIB, "swap": 96 * MIB, "swappiness": 10, "reservation": 32 * MIB, "disableOOMKiller": false}})))
        .unwrap();
    assert_eq!(cg.read("memory.limit_in_bytes"), (64 * MIB).to_string());
    assert_eq!(cg.read("memory.memsw.limit_in_bytes"), (96 * MIB).to_string());
    assert_eq!(cg.read("memory.soft_limit_in_bytes"), (32 * MIB).to_string());
    assert_eq!(cg.read("memory.swappiness"), "10");
    // raising both: memsw must go first or the kernel refuses the limit
    cg.mgr
        .update(&res(json!({"memory": {"limit": 200 * MIB, "swap": 300 * MIB}})))
        .unwrap();
    assert_eq!(cg.read("memory.limit_in_bytes"), (200 * MIB).to_string());
    assert_eq!(cg.read("memory.memsw.limit_in_bytes"), (300 * MIB).to_string());
    // lowering both: the limit must go first
    cg.mgr
        .update(&res(json!({"memory": {"limit": 16 * MIB, "swap": 16 * MIB}})))
        .unwrap();
    assert_eq!(cg.read("memory.memsw.limit_in_bytes"), (16 * MIB).to_string());
    // unlimited memory lifts swap too (runc)
    cg.mgr.update(&res(json!({"memory": {"limit": -1}}))).unwrap();
    let unlimited: u64 = cg.read("memory.memsw.limit_in_bytes").parse().unwrap();
    assert!(unlimited > 1 << 60);
    // the kernel reports whether the OOM killer is disabled
    cg.mgr
        .update(&res(json!({"memory": {"disableOOMKiller": true}})))
        .unwrap();
    assert!(cg.read("memory.oom_control").contains("oom_kill_disable 1"));
}

#[test]
fn cpu_shares_out_of_range_is_reported_not_clamped() {
    if host().is_none() {
        return;
    }
    let cg = Cg::new("shares");
    let e = cg.apply(&res(json!({"cpu": {"shares": 1_000_000}}))).unwrap_err();
    assert!(e.to_string().contains("cpu.shares"), "{e}");
}

#[test]
fn hybrid_host_keeps_controllers_in_v1_and_joins_the_unified_hierarchy() {
    let Some(h) = hybrid() else { return };
    let u = h.unified.as_ref().unwrap();
    // the cgroup2 mount of a hybrid host is not the controllers' home
    assert!(!u.controllers.iter().any(|c| c == "memory" || c == "pids" || c == "cpu"));
    let cg = Cg::new("hybrid");
    let unified = &cg.paths["unified"];
    assert!(unified.starts_with(&u.mount_point), "{}", unified.display());
    assert!(cg.paths["memory"].starts_with(&h.v1_for("memory").unwrap().mount_point));
    let mut child = Child::spawn("exec sleep 100");
    cg.mgr.add_process(child.pid()).unwrap();
    let procs = std::fs::read_to_string(unified.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), child.pid().to_string());
    child.go();
    let mounts = cg.mgr.mounts().unwrap();
    assert_eq!(mounts.len(), h.v1.len() + 1);
    let last = mounts.last().unwrap();
    assert_eq!((last.fstype.as_str(), last.subdir.as_str()), ("cgroup2", "unified"));
    let mem = mounts.iter().find(|m| m.data == "memory").unwrap();
    assert_eq!((mem.fstype.as_str(), mem.subdir.as_str()), ("cgroup", "memory"));
    assert_eq!(mem.host_dir, cg.paths["memory"]);
    assert!(mounts.iter().any(|m| m.data == "name=systemd") == h.v1.iter().any(|x| x.is_named_only()));
}

#[test]
fn hugepage_limits_go_where_the_hugetlb_controller_lives() {
    let Some(h) = host() else { return };
    let cg = Cg::new("hugetlb");
    let r = res(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}));
    let in_v1 = h.v1_for("hugetlb").is_some();
    let in_unified = h.unified.as_ref().is_some_and(|u| u.controllers.iter().any(|c| c == "hugetlb"));
    match (in_v1, in_unified) {
        (true, _) => {
            cg.apply(&r).unwrap();
            assert_eq!(cg.read("hugetlb.2MB.limit_in_bytes"), "0");
        }
        (false, true) => {
            cg.apply(&r).unwrap();
            let f = cg.paths["unified"].join("hugetlb.2MB.max");
            assert_eq!(std::fs::read_to_string(&f).unwrap().trim(), "0");
            assert!(cg.mgr.stats().unwrap().hugetlb.contains_key("2MB"));
            // unified keys are allowed for controllers of the cgroup2 mount only
            cg.apply(&res(json!({"unified": {"hugetlb.2MB.max": "4194304"}}))).unwrap();
            assert_eq!(std::fs::read_to_string(&f).unwrap().trim(), "4194304");
            let e = cg.apply(&res(json!({"unified": {"memory.high": "1M"}}))).unwrap_err();
            assert!(e.to_string().contains("memory.high"), "{e}");
        }
        (false, false) => {
            let e = cg.apply(&r).unwrap_err();
            assert!(matches!(e, Error::ControllerMissing { .. }), "{e}");
        }
    }
    let e = cg
        .apply(&res(json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]})))
        .unwrap_err();
    assert!(e.to_string().contains("pageSize"), "{e}");
}

#[test]
fn ebpf_device_filter_is_enforced_on_the_unified_hierarchy() {
    let Some(_) = hybrid() else { return };
    let cg = Cg::new("bpf");
    let unified = cg.paths["unified"].clone();
    // v1 devices stays allow-all; the eBPF filter alone must deny /dev/zero
    cg.mgr.apply_devices(&DeviceRules::allow_all()).unwrap();
    let rules = DeviceRules::new(vec![
        DeviceRule {
            allow: true,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: Access::ALL,
        },
        DeviceRule {
            allow: false,
            kind: DeviceType::Char,
            major: Some(1),
            minor: Some(5),
            access: Access::READ,
        },
    ]);
    bpf::apply(&unified, &rules.emulate()).unwrap();
    bpf::apply(&unified, &rules.emulate()).unwrap();
    assert_eq!(bpf::attached_programs(&unified).unwrap().len(), 1, "old filter not replaced");
    let mut child = Child::spawn(
        "if head -c1 /dev/zero >/dev/null; then echo zero-ok; else echo zero-denied; fi; if echo x > /dev/zero; then echo write-ok; fi",
    );
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    child.wait(Duration::from_secs(30));
    let out = child.stdout();
    assert!(out.contains("zero-denied") && out.contains("write-ok"), "{out} / {}", child.stderr());
}

#[test]
fn systemd_paths_are_mapped_onto_cgroupfs_when_systemd_is_not_running() {
    if host().is_none() {
        return;
    }
    if Path::new("/run/systemd/system").exists() {
        let mut spec = CgroupSpec::new("x");
        spec.systemd = true;
        let e = berth_cgroups::manager(&spec).unwrap_err();
        assert!(matches!(e, Error::NotSupported { .. }), "{e}");
        return;
    }
    let slice = format!("berthtest{}.slice", std::process::id());
    let mut spec = CgroupSpec::new("c1");
    spec.systemd = true;
    spec.cgroups_path = Some(PathBuf::from(format!("{slice}:berth:c1")));
    let m = berth_cgroups::manager(&spec).unwrap();
    struct Slices(Vec<PathBuf>);
    impl Drop for Slices {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_dir(p.join("berth-c1.scope"));
                let _ = std::fs::remove_dir(p);
            }
        }
    }
    let paths = m.paths();
    let _guard = Slices(paths.values().map(|p| p.parent().unwrap().to_owned()).collect());
    for p in paths.values() {
        assert!(
            p.ends_with(format!("{slice}/berth-c1.scope")),
            "{}",
            p.display()
        );
    }
    m.create().unwrap();
    assert!(paths.values().all(|p| p.is_dir()));
    m.destroy().unwrap();
    assert!(paths.values().all(|p| !p.exists()));
}

#[test]
fn rootless_without_delegation_gets_no_cgroup() {
    if host().is_none() {
        return;
    }
    common::require_root();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "rootless_probe", "--ignored", "--nocapture", "--test-threads=1"])
        .env("BERTH_ROOTLESS_PROBE", "1")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("rootless probe ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs as uid 65534, started by `rootless_without_delegation_gets_no_cgroup`.
#[test]
#[ignore = "run as an unprivileged user by rootless_without_delegation_gets_no_cgroup"]
fn rootless_probe() {
    if std::env::var_os("BERTH_ROOTLESS_PROBE").is_none() {
        eprintln!("rootless_probe: only meaningful when started by rootless_without_delegation_gets_no_cgroup");
        return;
    }
    assert!(!nix::unistd::geteuid().is_root());
    let mut spec = CgroupSpec::new(format!("berth-test-rootless-{}", std::process::id()));
    spec.rootless = true;
    let m = berth_cgroups::manager(&spec).unwrap();
    assert!(!m.enabled());
    m.create().unwrap();
    m.add_process(std::process::id() as i32).unwrap();
    m.apply(&Default::default(), &DeviceRules::default()).unwrap();
    let e = m
        .apply(&res(json!({"memory": {"limit": 64 * MIB}})), &DeviceRules::default())
        .unwrap_err();
    assert!(matches!(e, Error::NoCgroup { .. }), "{e}");
    assert!(e.to_string().contains("not writable"), "{e}");
    assert!(m.pids().is_err() && m.freeze().is_err() && m.stats().is_err());
    m.destroy().unwrap();
    println!("rootless probe ok");
}

#[test]
fn default_path_is_below_berth_and_its_empty_parent_is_removed_too() {
    let Some(h) = host() else { return };
    let id = format!("berth-test-default-{}", std::process::id());
    let m = berth_cgroups::manager_with(&h, &CgroupSpec::new(id.clone())).unwrap();
    struct G(Box<dyn berth_cgroups::CgroupManager>);
    impl Drop for G {
        fn drop(&mut self) {
            let _ = self.0.destroy();
        }
    }
    let m = G(m);
    let paths = m.0.paths();
    let pids = &paths["pids"];
    assert_eq!(pids, &h.v1_for("pids").unwrap().mount_point.join("berth").join(&id));
    // another container keeps /berth alive
    let other = berth_cgroups::manager_with(&h, &CgroupSpec::new(format!("{id}-b"))).unwrap();
    let other = G(other);
    m.0.create().unwrap();
    other.0.create().unwrap();
    m.0.destroy().unwrap();
    assert!(!pids.exists());
    assert!(pids.parent().unwrap().is_dir(), "the parent still holds the other container");
    other.0.destroy().unwrap();
    // /berth goes once empty, unless something else (e.g. a running runtime test) uses it
    let parent = pids.parent().unwrap();
    let busy = std::fs::read_dir(parent).map(|rd| rd.flatten().any(|e| e.path().is_dir())).unwrap_or(false);
    assert!(busy || !parent.exists(), "{} left behind", parent.display());
}

#[test]
fn blkio_throttle_slows_direct_writes() {
    if host().is_none() {
        return;
    }
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let st = nix::sys::stat::stat(tmp.path()).unwrap();
    let (major, minor) = (nix::sys::stat::major(st.st_dev) as i64, nix::sys::stat::minor(st.st_dev) as i64);
    if !Path::new(&format!("/sys/dev/block/{major}:{minor}")).exists() {
        common::skip(&format!("/var/tmp is not on a block device ({major}:{minor})"));
        return;
    }
    let cg = Cg::new("blkio");
    cg.apply(&res(json!({"blockIO": {"throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2 * MIB}]}})))
        .unwrap();
    assert_eq!(
        cg.read("blkio.throttle.write_bps_device"),
        format!("{major}:{minor} {}", 2 * MIB)
    );
    let f = tmp.path().join("data");
    let mut child = Child::spawn(&format!(
        "exec dd if=/dev/zero of={} bs=1M count=5 oflag=direct",
        f.display()
    ));
    cg.mgr.add_process(child.pid()).unwrap();
    let start = std::time::Instant::now();
    child.go();
    let status = child.wait(Duration::from_secs(120));
    let took = start.elapsed();
    if !status.success() && child.stderr().contains("Invalid argument") {
        common::skip("this filesystem does not take O_DIRECT");
        return;
    }
    assert!(status.success(), "{}", child.stderr());
    // 5 MiB at 2 MiB/s
    assert!(took >= Duration::from_millis(1500), "not throttled: {took:?}");
    let written: u64 = cg
        .mgr
        .stats()
        .unwrap()
        .blkio
        .io_service_bytes_recursive
        .iter()
        .filter(|e| e.op == "Write" && e.major == major as u64)
        .map(|e| e.value)
        .sum();
    assert!(written >= 5 << 20, "blkio stats show {written} bytes written");
    // weights need CFQ or BFQ: either set or refused clearly
    match cg.apply(&res(json!({"blockIO": {"weight": 500}}))) {
        Ok(()) => {}
        Err(e) => assert!(matches!(e, Error::NotSupported { .. }), "{e}"),
    }
}

#[test]
fn controllers_the_host_lacks_are_errors_naming_the_field() {
    let Some(h) = host() else { return };
    let cg = Cg::new("missing");
    for (r, ctrl, field) in [
        (json!({"network": {"classID": 1048577}}), "net_cls", "network.classID"),
        (json!({"network": {"priorities": [{"name": "lo", "priority": 5}]}}), "net_prio", "network.priorities"),
        (json!({"rdma": {"mlx4_0": {"hcaHandles": 2}}}), "rdma", "rdma"),
    ] {
        let in_unified = h.unified.as_ref().is_some_and(|u| u.controllers.iter().any(|c| c == ctrl));
        if h.v1_for(ctrl).is_some() || in_unified {
            continue;
        }
        let e = cg.apply(&res(r)).unwrap_err();
        assert!(matches!(e, Error::ControllerMissing { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(ctrl) && msg.contains(field), "{msg}");
    }
}

#[test]
fn cpu_idle_burst_and_realtime_reach_the_kernel() {
    if host().is_none() {
        return;
    }
    let cg = Cg::new("cpuextra");
    cg.apply(&res(json!({"cpu": {"quota": 50000, "period": 100000, "burst": 10000}})))
        .unwrap();
    assert_eq!(cg.read("cpu.cfs_burst_us"), "10000");
    if cg.file("cpu.idle").exists() {
        cg.mgr.update(&res(json!({"cpu": {"idle": 1}}))).unwrap();
        assert_eq!(cg.read("cpu.idle"), "1");
    }
    if cg.file("cpu.rt_runtime_us").exists() {
        cg.mgr
            .update(&res(json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}})))
            .unwrap();
        assert_eq!(cg.read("cpu.rt_period_us"), "1000000");
        assert_eq!(cg.read("cpu.rt_runtime_us"), "10000");
        // more than the parent can give is the kernel's refusal, naming the field
        let e = cg
            .mgr
            .update(&res(json!({"cpu": {"realtimeRuntime": 2000000}})))
            .unwrap_err();
        assert!(e.to_string().contains("cpu.realtimeRuntime"), "{e}");
    }
}
