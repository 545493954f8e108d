//! Scenarios run by both the host suite (cgroup v1 / hybrid) and the pure v2 suite. Each
//! reads back what the kernel enforces, not only what was written.

use std::path::Path;
use std::time::Duration;

use berth_cgroups::{
    Access, DeviceRule, DeviceRules, DeviceType, Error, FreezerState, Layout, OomEvent,
};
use serde_json::json;

use super::{Cg, Child, MIB, assert_cgroupfs, cpus_allowed, eventually, res};

fn v2(cg: &Cg) -> bool {
    cg.layout == Layout::V2
}

fn limit_file(cg: &Cg) -> &'static str {
    if v2(cg) { "memory.max" } else { "memory.limit_in_bytes" }
}

pub fn memory_limit_oom_kills_and_is_reported() {
    let cg = Cg::new("oom");
    cg.apply(&res(json!({"memory": {"limit": 64 * MIB}}))).unwrap();
    let lf = limit_file(&cg);
    assert_eq!(cg.read(lf), (64 * MIB).to_string());
    // guard: the limit lives on a cgroup fs, so the hog below is really capped
    assert_cgroupfs(&cg.file(lf));
    let before = cg.mgr.oom_kill_count().unwrap();
    let mut watcher = cg.mgr.oom_watcher().unwrap();
    assert_eq!(watcher.check().unwrap(), OomEvent::None);
    // second guard: an address-space limit far below the machine's memory
    let mut child = Child::spawn("ulimit -v 1048576; exec tail /dev/zero");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    let sig = child.signal(Duration::from_secs(120));
    assert_eq!(sig, Some(libc::SIGKILL), "not OOM-killed; stderr: {}", child.stderr());
    let after = cg.mgr.oom_kill_count().unwrap();
    assert!(after > before, "oom_kill count {before} -> {after}");
    match watcher.wait(Some(Duration::from_secs(10))).unwrap() {
        OomEvent::Oom(n) => assert!(n >= 1),
        other => panic!("oom watcher reported {other:?}"),
    }
    let st = cg.mgr.stats().unwrap();
    if st.memory.usage.max != 0 {
        assert!(
            st.memory.usage.max >= (48 * MIB) as u64 && st.memory.usage.max <= (64 * MIB) as u64,
            "peak usage {} not near the 64 MiB limit",
            st.memory.usage.max
        );
    }
    assert!(st.memory.usage.failcnt >= 1, "failcnt {}", st.memory.usage.failcnt);
}

pub fn pids_limit_stops_the_33rd_process() {
    let cg = Cg::new("pids");
    cg.apply(&res(json!({"pids": {"limit": 32}}))).unwrap();
    assert_eq!(cg.read("pids.max"), "32");
    // sh itself is process 1 of 32; it starts sleeps until a fork fails
    let mut child = Child::spawn(
        "i=0; while [ $i -lt 40 ]; do sleep 60 & echo started; i=$((i+1)); done; echo never",
    );
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    let status = child.wait(Duration::from_secs(60));
    let started = child.stdout().lines().filter(|l| *l == "started").count();
    assert_eq!(started, 31, "stdout: {}; stderr: {}", child.stdout(), child.stderr());
    assert!(!status.success());
    assert!(!child.stdout().contains("never"));
    assert!(child.stderr().to_lowercase().contains("fork"), "stderr: {}", child.stderr());
    assert!(eventually(Duration::from_secs(5), || cg.read("pids.current") == "31"));
    assert_eq!(cg.mgr.pids().unwrap().len(), 31);
    let st = cg.mgr.stats().unwrap();
    assert_eq!((st.pids.current, st.pids.limit), (31, 32));
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    assert!(cg.mgr.pids().unwrap().is_empty());
}

pub fn cpu_quota_shares_and_cpuset_are_enforced() {
    let cg = Cg::new("cpu");
    cg.apply(&res(json!({"cpu": {"shares": 512, "quota": 5000, "period": 100000, "cpus": "0"}})))
        .unwrap();
    if v2(&cg) {
        assert_eq!(cg.read("cpu.max"), "5000 100000");
        assert_eq!(cg.read("cpu.weight"), berth_cgroups::shares_to_weight(512).to_string());
    } else {
        assert_eq!(cg.read("cpu.cfs_quota_us"), "5000");
        assert_eq!(cg.read("cpu.cfs_period_us"), "100000");
        assert_eq!(cg.read("cpu.shares"), "512");
    }
    assert_eq!(cg.read("cpuset.cpus"), "0");
    let mut child = Child::spawn("while :; do :; done");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert!(eventually(Duration::from_secs(5), || cpus_allowed(child.pid()) == "0"));
    let t0 = cg.mgr.stats().unwrap().cpu.usage.total;
    std::thread::sleep(Duration::from_millis(1500));
    let st = cg.mgr.stats().unwrap();
    let used = st.cpu.usage.total - t0;
    // 5% of one CPU for 1.5 s is 75 ms; a small quota keeps the loop above it (and so
    // throttled) even on a loaded machine, and far below an unthrottled 1.5 s
    assert!(used > 5_000_000, "the loop barely ran: {used} ns");
    assert!(used < 300_000_000, "not throttled: {used} ns of CPU in 1.5 s");
    assert!(st.cpu.throttling.throttled_periods > 0, "{:?}", st.cpu.throttling);
    assert_eq!(st.cpuset.cpus, vec![0]);
}

pub fn device_rules_deny_and_allow(after_apply: impl Fn(&Cg)) {
    let cg = Cg::new("dev");
    let tmp = tempfile::tempdir().unwrap();
    let zero = tmp.path().join("zero");
    nix::sys::stat::mknod(
        &zero,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .unwrap();
    // control: outside the cgroup the node works, so a refusal below comes from the cgroup
    let mut b = [1u8; 1];
    std::io::Read::read_exact(&mut std::fs::File::open(&zero).unwrap(), &mut b).unwrap();
    assert_eq!(b, [0]);

    let rules = DeviceRules::new(vec![
        DeviceRule {
            allow: false,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: Access::ALL,
        },
        DeviceRule::char_dev(1, 3, Access::ALL),
    ]);
    cg.mgr.apply(&Default::default(), &rules).unwrap();
    if !v2(&cg) {
        assert_eq!(cg.read("devices.list"), "c 1:3 rwm");
    }
    after_apply(&cg);
    let script = format!(
        "cat /dev/null && echo null-ok; if head -c1 {z} >/dev/null; then echo zero-ok; else echo zero-denied; fi; mknod {d}/n c 1 5 && echo mknod-ok || echo mknod-denied",
        z = zero.display(),
        d = tmp.path().display()
    );
    let mut child = Child::spawn(&script);
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    child.wait(Duration::from_secs(30));
    let out = child.stdout();
    assert!(out.contains("null-ok"), "{out} / {}", child.stderr());
    assert!(out.contains("zero-denied"), "{out} / {}", child.stderr());
    assert!(out.contains("mknod-denied"), "{out} / {}", child.stderr());
    assert!(
        child.stderr().contains("Operation not permitted"),
        "expected EPERM: {}",
        child.stderr()
    );

    // replace the rules: the container defaults allow /dev/zero (1:5) and mknod
    let deny_all = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap();
    cg.mgr
        .apply_devices(&DeviceRules::for_container(&[deny_all], &[]).unwrap())
        .unwrap();
    after_apply(&cg);
    let mut child = Child::spawn(&script);
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    child.wait(Duration::from_secs(30));
    let out = child.stdout();
    assert!(out.contains("zero-ok") && out.contains("mknod-ok"), "{out} / {}", child.stderr());
}

pub fn freeze_stops_progress_and_thaw_resumes() {
    let cg = Cg::new("freeze");
    let mut child = Child::spawn("while :; do :; done");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Thawed);
    std::thread::sleep(Duration::from_millis(100));
    cg.mgr.freeze().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Frozen);
    // let the last slice before the freeze reach the counters
    std::thread::sleep(Duration::from_millis(100));
    let a = cg.mgr.stats().unwrap().cpu.usage.total;
    std::thread::sleep(Duration::from_millis(400));
    let b = cg.mgr.stats().unwrap().cpu.usage.total;
    assert_eq!(a, b, "a frozen process used CPU");
    cg.mgr.thaw().unwrap();
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Thawed);
    std::thread::sleep(Duration::from_millis(400));
    let c = cg.mgr.stats().unwrap().cpu.usage.total;
    assert!(c > b + 5_000_000, "no progress after thaw: {b} -> {c}");
}

pub fn update_raises_a_memory_limit_and_keeps_the_rest() {
    let cg = Cg::new("update");
    cg.apply(&res(json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 20}})))
        .unwrap();
    let lf = limit_file(&cg);
    cg.mgr
        .update(&res(json!({"memory": {"limit": 256 * MIB}})))
        .unwrap();
    assert_eq!(cg.read(lf), (256 * MIB).to_string());
    assert_eq!(cg.read("pids.max"), "20");
    cg.mgr.update(&res(json!({"pids": {"limit": 40}}))).unwrap();
    assert_eq!(cg.read("pids.max"), "40");
    assert_eq!(cg.read(lf), (256 * MIB).to_string());
    // a running process sees the new limit: it can now hold 100 MB (dash may need twice that while reading it)
    let mut child = Child::spawn(
        "ulimit -v 1048576; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo held ${#x}",
    );
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    let st = child.wait(Duration::from_secs(120));
    assert!(st.success(), "{st:?} {}", child.stderr());
    assert!(child.stdout().contains("held 100000000"));
}

pub fn destroy_after_sigkill_leaves_nothing() {
    let cg = Cg::new("destroy");
    let mut child = Child::spawn("sleep 100 & sleep 100 & exec sleep 100");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert!(eventually(Duration::from_secs(5), || cg.mgr.pids().unwrap().len() == 3));
    // the container's init dies by SIGKILL; its children are killed by kill_all, and the
    // cgroup is removed at once, without reaping
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.pid()), nix::sys::signal::SIGKILL).unwrap();
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    cg.mgr.destroy().unwrap();
    assert!(cg.all_gone(), "left behind: {:?}", cg.paths);
    // already gone is fine
    cg.mgr.destroy().unwrap();
    assert_eq!(child.signal(Duration::from_secs(5)), Some(libc::SIGKILL));

    // a single process killed from outside: destroy right away retries until it is out
    let cg = Cg::new("destroy2");
    let mut child = Child::spawn("exec sleep 100");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.pid()), nix::sys::signal::SIGKILL).unwrap();
    cg.mgr.destroy().unwrap();
    assert!(cg.all_gone());
}

pub fn kill_all_with_sigterm_reaches_every_process() {
    let cg = Cg::new("term");
    let mut child = Child::spawn("sleep 100 & sleep 100 & sleep 100 & wait");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert!(eventually(Duration::from_secs(5), || cg.mgr.pids().unwrap().len() == 4));
    cg.mgr.kill_all(libc::SIGTERM).unwrap();
    assert!(eventually(Duration::from_secs(5), || cg.mgr.pids().unwrap().is_empty()));
    assert_eq!(cg.mgr.freezer_state().unwrap(), FreezerState::Thawed);
    assert_eq!(child.signal(Duration::from_secs(5)), Some(libc::SIGTERM));
}

pub fn bad_input_is_refused_naming_the_field_and_leaves_nothing() {
    let cg = Cg::new("bad");
    let lf = limit_file(&cg);
    let initial = cg.read(lf);

    // checked before anything is written
    let unified = if v2(&cg) {
        json!({"../memory.max": "1"})
    } else {
        json!({"memory.high": "1M"})
    };
    let e = cg
        .apply(&res(json!({"memory": {"limit": 32 * MIB}, "unified": unified})))
        .unwrap_err();
    assert!(e.to_string().contains("unified"), "{e}");
    assert_eq!(cg.read(lf), initial, "the memory limit was written despite the error");

    let e = cg.apply(&res(json!({"memory": {"limit": -5}}))).unwrap_err();
    assert!(matches!(e, Error::InvalidResource { .. }), "{e}");
    assert!(e.to_string().contains("memory.limit"), "{e}");

    // refused by the kernel: this host has 2 CPUs at most in these tests
    let e = cg.apply(&res(json!({"cpu": {"cpus": "64"}}))).unwrap_err();
    assert!(matches!(e, Error::Apply { .. }), "{e}");
    assert!(e.to_string().contains("cpu.cpus"), "{e}");

    // below current usage, with checkBeforeUpdate
    cg.apply(&res(json!({"memory": {"limit": 256 * MIB}}))).unwrap();
    let mut child = Child::spawn(
        "ulimit -v 1048576; x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ready; sleep 100; echo ${#x}",
    );
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert!(eventually(Duration::from_secs(60), || child.stdout().contains("ready")));
    let e = cg
        .mgr
        .update(&res(json!({"memory": {"limit": 8 * MIB, "checkBeforeUpdate": true}})))
        .unwrap_err();
    assert!(matches!(e, Error::MemoryBelowUsage { .. }), "{e}");
    assert!(e.to_string().contains("memory.limit"), "{e}");
    assert_eq!(cg.read(lf), (256 * MIB).to_string());
    if !v2(&cg) {
        // v1 refuses to shrink below what it cannot reclaim (no swap here)
        let e = cg
            .mgr
            .update(&res(json!({"memory": {"limit": 8 * MIB, "swap": 8 * MIB}})))
            .unwrap_err();
        assert!(e.to_string().contains("memory.limit"), "{e}");
    }
    drop(child);
    cg.mgr.kill_all(libc::SIGKILL).unwrap();
    cg.mgr.destroy().unwrap();
    assert!(cg.all_gone(), "left behind: {:?}", cg.paths);
}

pub fn stats_report_a_live_container() {
    let cg = Cg::new("stats");
    cg.apply(&res(json!({"memory": {"limit": 128 * MIB}, "pids": {"limit": 50}})))
        .unwrap();
    let mut child = Child::spawn("sleep 100 & sleep 100 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; wait");
    cg.mgr.add_process(child.pid()).unwrap();
    child.go();
    assert!(eventually(Duration::from_secs(5), || cg.mgr.pids().unwrap().len() == 3));
    std::thread::sleep(Duration::from_millis(200));
    let st = cg.mgr.stats().unwrap();
    assert_eq!(st.pids.current, 3);
    assert_eq!(st.pids.limit, 50);
    assert!(st.memory.usage.usage > 0);
    assert_eq!(st.memory.usage.limit, (128 * MIB) as u64);
    assert!(st.cpu.usage.total > 0);
    assert!(!st.memory.raw.is_empty());
    let v = serde_json::to_value(&st).unwrap();
    for k in ["cpu", "memory", "pids", "blkio", "hugetlb", "cpuset"] {
        assert!(v.get(k).is_some(), "no {k} in {v}");
    }
    assert!(v["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
}

pub fn stored_spec_rebuilds_the_same_manager_and_tampering_is_refused() {
    let cg = Cg::new("spec");
    let stored = serde_json::to_string(&cg.mgr.spec()).unwrap();
    let spec: berth_cgroups::CgroupSpec = serde_json::from_str(&stored).unwrap();
    let again = berth_cgroups::manager(&spec).unwrap();
    assert_eq!(again.paths(), cg.paths);

    let mut bad = spec.clone();
    let res = bad.resolved.as_mut().unwrap();
    let (k, p) = res.iter().next().map(|(k, p)| (k.clone(), p.clone())).unwrap();
    res.insert(k.clone(), p.join("../../../.."));
    let e = berth_cgroups::manager(&bad).unwrap_err();
    assert!(e.to_string().contains(".."), "{e}");
    let mut bad = spec;
    bad.resolved.as_mut().unwrap().insert(k, Path::new("/etc").to_owned());
    assert!(berth_cgroups::manager(&bad).is_err());
}
