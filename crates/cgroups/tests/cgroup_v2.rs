//! The pure cgroup v2 suite. Runs inside the QEMU guest booted with `cgroup_no_v1=all`
//! (`scripts/test-cgroup-v2` sets `BERTH_CGROUP_V2_GUEST=1`). Without that variable every
//! test prints that it was skipped; with it, a host that is not pure v2 fails loudly.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_cgroups::devices::bpf;
use berth_cgroups::{CgroupSpec, DeviceRules, Error, Hierarchies, Layout};
use common::{Cg, Child, MIB, res, scenarios};
use serde_json::json;

fn guest() -> bool {
    if std::env::var_os("BERTH_CGROUP_V2_GUEST").is_none() {
        common::skip("needs the pure cgroup v2 guest; run scripts/test-cgroup-v2 (BERTH_CGROUP_V2_GUEST is unset)");
        return false;
    }
    let h = Hierarchies::detect().expect("detect");
    assert_eq!(
        h.layout,
        Layout::V2,
        "BERTH_CGROUP_V2_GUEST is set but this is not a pure cgroup v2 host: {h:?}"
    );
    common::assert_cgroupfs(Path::new("/sys/fs/cgroup"));
    true
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    if guest() {
        scenarios::memory_limit_oom_kills_and_is_reported();
    }
}

#[test]
fn pids_limit_stops_the_33rd_process() {
    if guest() {
        scenarios::pids_limit_stops_the_33rd_process();
    }
}

#[test]
fn cpu_quota_shares_and_cpuset_are_enforced() {
    if guest() {
        scenarios::cpu_quota_shares_and_cpuset_are_enforced();
    }
}

#[test]
fn ebpf_device_filter_denies_and_allows() {
    if guest() {
        scenarios::device_rules_deny_and_allow(|cg| {
            let progs = bpf::attached_programs(&cg.paths["unified"]).unwrap();
            assert_eq!(progs.len(), 1, "exactly one filter, the old one detached: {progs:?}");
        });
    }
}

#[test]
fn freeze_stops_progress_and_thaw_resumes() {
    if guest() {
        scenarios::freeze_stops_progress_and_thaw_resumes();
    }
}

#[test]
fn update_raises_a_memory_limit_and_keeps_the_rest() {
    if guest() {
        scenarios::update_raises_a_memory_limit_and_keeps_the_rest();
    }
}

#[test]
fn destroy_after_sigkill_leaves_nothing() {
    if guest() {
        scenarios::destroy_after_sigkill_leaves_nothing();
    }
}

#[test]
fn kill_all_with_sigterm_reaches_every_process() {
    if guest() {
        scenarios::kill_all_with_sigterm_reaches_every_process();
    }
}

#[test]
fn bad_input_is_refused_naming_the_field_and_leaves_nothing() {
    if guest() {
        scenarios::bad_input_is_refused_naming_the_field_and_leaves_nothing();
    }
}

#[test]
fn stats_report_a_live_container() {
    if guest() {
        scenarios::stats_report_a_live_container();
    }
}

#[test]
fn stored_spec_rebuilds_the_same_manager_and_tampering_is_refused() {
    if guest() {
        scenarios::stored_spec_rebuilds_the_same_manager_and_tampering_is_refused();
    }
}

#[test]
fn controllers_are_enabled_down_to_the_container() {
    if !guest() {
        return;
    }
    let cg = Cg::new("ctrl");
    let dir = &cg.paths["unified"];
    let mine = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap();
    for c in ["cpu", "memory", "pids", "io", "cpuset"] {
        assert!(mine.split_whitespace().any(|x| x == c), "{c} missing in {mine}");
    }
}

#[test]
fn swap_is_converted_to_swap_only() {
    if !guest() {
        return;
    }
    let cg = Cg::new("swap");
    let r = res(json!({"memory": {"limit": 64 * MIB, "swap": 96 * MIB, "reservation": 16 * MIB}}));
    if !cg.file("memory.swap.max").exists() {
        let e = cg.apply(&r).unwrap_err();
        assert!(matches!(e, Error::ControllerMissing { .. }), "{e}");
        return;
    }
    cg.apply(&r).unwrap();
    assert_eq!(cg.read("memory.max"), (64 * MIB).to_string());
    assert_eq!(cg.read("memory.swap.max"), (32 * MIB).to_string());
    assert_eq!(cg.read("memory.low"), (16 * MIB).to_string());
    cg.mgr.update(&res(json!({"memory": {"limit": -1}}))).unwrap();
    assert_eq!(cg.read("memory.max"), "max");
    assert_eq!(cg.read("memory.swap.max"), "max");
}

#[test]
fn fields_cgroup_v2_cannot_express_are_refused_and_nothing_is_written() {
    if !guest() {
        return;
    }
    let cg = Cg::new("unsupp");
    for (r, what) in [
        (json!({"memory": {"limit": 32 * MIB, "swappiness": 10}}), "swappiness"),
        (json!({"memory": {"limit": 32 * MIB, "kernelTCP": 1000000}}), "kernelTCP"),
        (json!({"memory": {"limit": 32 * MIB, "disableOOMKiller": true}}), "disableOOMKiller"),
        (json!({"memory": {"limit": 32 * MIB}, "cpu": {"realtimeRuntime": 1000}}), "realtime"),
        (json!({"memory": {"limit": 32 * MIB}, "network": {"classID": 1}}), "network"),
        (json!({"memory": {"limit": 32 * MIB}, "blockIO": {"leafWeight": 100}}), "leafWeight"),
    ] {
        let e = cg.apply(&res(r)).unwrap_err();
        assert!(matches!(e, Error::NotSupported { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
        assert_eq!(cg.read("memory.max"), "max", "written despite {what}");
    }
}

#[test]
fn unified_keys_are_written_last_and_checked() {
    if !guest() {
        return;
    }
    let cg = Cg::new("unified");
    cg.apply(&res(json!({"memory": {"limit": 64 * MIB}, "unified": {"memory.high": "50M", "memory.max": "100M"}})))
        .unwrap();
    assert_eq!(cg.read("memory.high"), (50 * MIB).to_string());
    // unified wins over the structured field
    assert_eq!(cg.read("memory.max"), (100 * MIB).to_string());
    let e = cg.apply(&res(json!({"unified": {"memory.bogus": "1"}}))).unwrap_err();
    assert!(e.to_string().contains("memory.bogus"), "{e}");
    for bad in ["cgroup.procs", "cgroup.kill", "../cgroup.procs"] {
        let e = cg.apply(&res(json!({"unified": {bad: "1"}}))).unwrap_err();
        assert!(matches!(e, Error::InvalidResource { .. }), "{bad}: {e}");
    }
}

#[test]
fn hugepage_limits_are_set() {
    if !guest() {
        return;
    }
    let cg = Cg::new("huge");
    cg.apply(&res(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})))
        .unwrap();
    assert_eq!(cg.read("hugetlb.2MB.max"), "0");
    assert!(cg.mgr.stats().unwrap().hugetlb.contains_key("2MB"));
}

#[test]
fn io_max_throttles_direct_writes() {
    if !guest() {
        return;
    }
    let Ok(dev) = std::fs::read_to_string("/sys/block/vda/dev") else {
        common::skip("no scratch disk /dev/vda (scripts/test-cgroup-v2 attaches one with V2_DISK_MB)");
        return;
    };
    let (major, minor) = dev.trim().split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let cg = Cg::new("io");
    cg.apply(&res(json!({"blockIO": {"throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2 * MIB}]}})))
        .unwrap();
    let io_max = cg.read("io.max");
    assert!(io_max.contains(&format!("{major}:{minor} rbps=max wbps={}", 2 * MIB)), "{io_max}");
    let mut child = Child::spawn("exec dd if=/dev/zero of=/dev/vda bs=1M count=6 oflag=direct");
    cg.mgr.add_process(child.pid()).unwrap();
    let start = Instant::now();
    child.go();
    let st = child.wait(Duration::from_secs(120));
    let took = start.elapsed();
    assert!(st.success(), "{}", child.stderr());
    // 6 MiB at 2 MiB/s: about 3 s (the first second's budget may go at once)
    assert!(took >= Duration::from_millis(1800), "not throttled: {took:?}");
    let stats = cg.mgr.stats().unwrap();
    let written: u64 = stats
        .blkio
        .io_service_bytes_recursive
        .iter()
        .filter(|e| e.op == "Write")
        .map(|e| e.value)
        .sum();
    assert!(written >= 6 << 20, "io.stat shows {written} bytes written");
    // rate 0 lifts the throttle
    cg.mgr
        .update(&res(json!({"blockIO": {"throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 0}]}})))
        .unwrap();
    assert!(!cg.read("io.max").contains("wbps=2097152"));
}

#[test]
fn freezing_reports_the_state_of_cgroup_events() {
    if !guest() {
        return;
    }
    let cg = Cg::new("events");
    let mut child = Child::spawn("exec sleep 100");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    cg.mgr.freeze().unwrap();
    assert_eq!(cg.read("cgroup.freeze"), "1");
    assert!(cg.read("cgroup.events").contains("frozen 1"));
    cg.mgr.thaw().unwrap();
    assert!(cg.read("cgroup.events").contains("frozen 0"));
}

/// A rootless runtime with a delegated sub-tree (owned by its uid) gets a real cgroup; one
/// without gets none.
#[test]
fn rootless_uses_a_delegated_subtree_and_nothing_else() {
    if !guest() {
        return;
    }
    common::require_root();
    let parent = PathBuf::from(format!("/sys/fs/cgroup/berth-test-deleg-{}", std::process::id()));
    struct Guard(PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(rd) = std::fs::read_dir(&self.0) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    std::fs::create_dir(&parent).unwrap();
    let _g = Guard(parent.clone());
    std::fs::write(parent.join("cgroup.subtree_control"), "+pids +memory").unwrap();
    // delegate: the directory and its cgroup.procs / subtree_control to uid 65534
    for p in [parent.clone(), parent.join("cgroup.procs"), parent.join("cgroup.subtree_control")] {
        nix::unistd::chown(&p, Some(65534.into()), Some(65534.into())).unwrap();
    }
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (path, expect) in [
        (format!("/berth-test-deleg-{}/c1", std::process::id()), "delegated"),
        ("/berth-test-not-delegated/c1".to_owned(), "none"),
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "rootless_probe_v2", "--ignored", "--nocapture", "--test-threads=1"])
            .env("BERTH_CGROUP_V2_GUEST", "1")
            .env("BERTH_ROOTLESS_PROBE_PATH", &path)
            .env("BERTH_ROOTLESS_PROBE_EXPECT", expect)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("rootless probe ok"),
            "{path}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!Path::new("/sys/fs/cgroup/berth-test-not-delegated").exists());
}

#[test]
#[ignore = "run as an unprivileged user by rootless_uses_a_delegated_subtree_and_nothing_else"]
fn rootless_probe_v2() {
    let (Some(path), Some(expect)) = (
        std::env::var_os("BERTH_ROOTLESS_PROBE_PATH"),
        std::env::var("BERTH_ROOTLESS_PROBE_EXPECT").ok(),
    ) else {
        eprintln!("rootless_probe_v2: only meaningful when started by its parent test");
        return;
    };
    assert!(!nix::unistd::geteuid().is_root());
    let mut spec = CgroupSpec::new("c1");
    spec.cgroups_path = Some(PathBuf::from(path));
    spec.rootless = true;
    let m = berth_cgroups::manager(&spec).unwrap();
    if expect == "delegated" {
        assert!(m.enabled());
        m.create().unwrap();
        m.apply(&res(json!({"pids": {"limit": 7}})), &DeviceRules::allow_all())
            .unwrap();
        assert!(m.apply_devices(&DeviceRules::allow_all()).is_err());
        let dir = &m.paths()["unified"];
        assert_eq!(std::fs::read_to_string(dir.join("pids.max")).unwrap().trim(), "7");
        m.destroy().unwrap();
        assert!(!dir.exists());
    } else {
        assert!(!m.enabled());
        let e = m
            .apply(&res(json!({"pids": {"limit": 7}})), &DeviceRules::default())
            .unwrap_err();
        assert!(matches!(e, Error::NoCgroup { .. }), "{e}");
    }
    println!("rootless probe ok");
}

#[test]
fn a_parent_holding_processes_cannot_delegate_and_the_error_says_so() {
    if !guest() {
        return;
    }
    // The parent gets a process first; then no domain controller (memory, io) can be enabled
    // for its children (threaded ones such as pids still can).
    let parent = Cg::new("busy-parent");
    let mut child = Child::spawn("exec sleep 100");
    parent.mgr.add_process(child.pid()).unwrap();
    child.go();
    let pdir = parent.paths["unified"].clone();
    let mut spec = CgroupSpec::new("inner");
    spec.cgroups_path = Some(Path::new("/").join(pdir.strip_prefix("/sys/fs/cgroup").unwrap()).join("inner"));
    let m = berth_cgroups::manager(&spec).unwrap();
    m.create().unwrap();
    let e = m
        .apply(&res(json!({"memory": {"limit": 64 * MIB}})), &DeviceRules::allow_all())
        .unwrap_err();
    m.destroy().unwrap();
    assert!(matches!(e, Error::ControllerNotDelegated { .. }), "{e}");
    assert!(e.to_string().contains("memory"), "{e}");
}

#[test]
fn cpu_idle_and_burst_reach_the_kernel() {
    if !guest() {
        return;
    }
    let cg = Cg::new("idle");
    cg.apply(&res(json!({"cpu": {"quota": 50000, "period": 100000, "burst": 10000}})))
        .unwrap();
    assert_eq!(cg.read("cpu.max"), "50000 100000");
    assert_eq!(cg.read("cpu.max.burst"), "10000");
    // lowering the quota below the burst needs the burst first
    cg.mgr
        .update(&res(json!({"cpu": {"quota": 5000, "burst": 1000}})))
        .unwrap();
    assert_eq!(cg.read("cpu.max"), "5000 100000");
    assert_eq!(cg.read("cpu.max.burst"), "1000");
    if cg.file("cpu.idle").exists() {
        cg.mgr.update(&res(json!({"cpu": {"idle": 1}}))).unwrap();
        assert_eq!(cg.read("cpu.idle"), "1");
    }
}
