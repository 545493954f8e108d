//! berth-runtime, runc and crun on a pure cgroup v2 host (issue #3): the
//! limits in the cgroup2 files and enforced (OOM kill with the event, the
//! 33rd process refused, a throttled busy loop, the cpuset inside), the eBPF
//! device filter, pause/resume through cgroup.freeze, update, delete after
//! SIGKILL, and a cgroup namespace whose `cgroup` mount shows the
//! container's own cgroup2 tree.
//!
//! Runs in the QEMU guest booted with `cgroup_no_v1=all` (scripts/test-cgroup-v2
//! sets `BERTH_CGROUP_V2_GUEST=1` there). Without that variable each test
//! prints a visible skip and passes; with it on a host that is not pure v2,
//! each test fails loudly. Test names are `<scenario>::<runtime>` as in the
//! conformance suite, whose helpers this binary shares.

#[allow(dead_code)]
#[macro_use]
#[path = "conformance/support.rs"]
mod support;

use berth_test_support::cgroups::{self, CGROUP2_SUPER_MAGIC, assert_real, dir_of, keyed, read};
use berth_test_support::{Bundle, Container, Kind};
use serde_json::json;
use std::io::Write as _;
use std::time::Duration;
use support::*;

const MIB: u64 = 1024 * 1024;
const SECOND: Duration = Duration::from_secs(1);

/// Whether to run: only in the guest. Outside it (variable unset) a skip
/// line goes straight to the console, past libtest's capture; with the
/// variable set on a host that is not pure cgroup v2 this panics.
fn guest() -> bool {
    if std::env::var_os("BERTH_CGROUP_V2_GUEST").is_none() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIP cgroup_v2_runtime: needs the pure cgroup v2 guest; run scripts/test-cgroup-v2 (BERTH_CGROUP_V2_GUEST is unset)"
        );
        return false;
    }
    assert!(
        cgroups::pure_v2(),
        "BERTH_CGROUP_V2_GUEST is set but /sys/fs/cgroup is not cgroup2 (statfs magic {:x?})",
        cgroups::fs_magic(std::path::Path::new("/sys/fs/cgroup"))
    );
    assert!(
        berth_test_support::leaks::mountinfo().iter().all(|m| m.fs_type != "cgroup"),
        "BERTH_CGROUP_V2_GUEST is set but a cgroup v1 hierarchy is mounted"
    );
    true
}

/// The container's cgroup2 directory, checked to enforce `controllers`.
#[track_caller]
fn v2_dir(pid: i64, controllers: &[&str]) -> std::path::PathBuf {
    let dir = dir_of(pid, "");
    assert_eq!(cgroups::fs_magic(&dir), Some(CGROUP2_SUPER_MAGIC), "{}", dir.display());
    for c in controllers {
        assert_real(&dir, c);
    }
    dir
}

/// [`run_hog`] with the patience of software emulation.
#[track_caller]
fn hog(out: &tempfile::TempDir, n: u32) -> String {
    run_hog(out, n, 60 * SECOND)
}

/// runc's (and the OCI's) conversion of cpu shares to cpu.weight.
fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares - 2) * 9999) / 262142
}

scenario! {
    /// memory (limit, reservation -> memory.low, swap -> memory.swap.max as
    /// swap minus limit), pids, cpu (quota/period -> cpu.max, shares ->
    /// cpu.weight) and cpuset in the container's cgroup2 files; the cpuset
    /// in /proc/self/status inside; a busy loop under a 20% quota is
    /// throttled.
    fn limits_in_the_cgroup2_files(rt) {
        if !guest() {
            return;
        }
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script(
            "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status > /out/status; \
             timeout 1 sh -c 'while :; do :; done'; echo done > /out/done; exec sleep 100",
        );
        b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB});
        b.linux_mut()["resources"]["pids"] = json!({"limit": 32});
        b.linux_mut()["resources"]["cpu"] = json!({"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"});
        let (c, pid) = detached(rt, &b);
        let dir = v2_dir(pid, &["memory", "pids", "cpu", "cpuset"]);
        assert_eq!(read(&dir, "memory.max"), (64 * MIB).to_string());
        assert_eq!(read(&dir, "memory.low"), (32 * MIB).to_string());
        if dir.join("memory.swap.max").exists() {
            assert_eq!(read(&dir, "memory.swap.max"), (32 * MIB).to_string(), "swap is memory+swap in the spec");
        }
        assert_eq!(read(&dir, "pids.max"), "32");
        assert_eq!(read(&dir, "cpu.max"), "20000 100000");
        assert_eq!(read(&dir, "cpu.weight"), shares_to_weight(512).to_string());
        assert_eq!(read(&dir, "cpuset.cpus"), "0");
        assert_eq!(read(&dir, "cpuset.mems"), "0");
        wait_out(&out, "done", 30 * SECOND, "the busy loop");
        let status = out_file(&out, "status");
        assert_eq!(status_field(&status, "Cpus_allowed_list"), Some("0"), "{status}");
        assert_eq!(status_field(&status, "Mems_allowed_list"), Some("0"), "{status}");
        let stat = read(&dir, "cpu.stat");
        assert!(keyed(&stat, "nr_throttled").is_some_and(|n| n > 0), "a busy loop under a 20% quota must be throttled: {stat}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// 96 MiB under memory.max 64 MiB: OOM-killed, `run` exits 137; the
    /// kernel counts it in memory.events; 256 MiB is enough (positive
    /// control).
    fn memory_limit_oom_kill(rt) {
        if !guest() {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_script(&format!("exec {HOG}"));
        b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB});
        {
            let mut c = Container::new(rt, &b);
            c.create(&[]).assert_ok();
            let pid = c.state_json()["pid"].as_i64().expect("pid");
            assert_eq!(read(&v2_dir(pid, &["memory"]), "memory.max"), (64 * MIB).to_string());
            c.delete_force().assert_ok();
            c.assert_no_leaks();
        }
        let r = run(rt, &b);
        assert_eq!(r.code, Some(137), "{}: {r:?}", rt.name());
        b.linux_mut()["resources"]["memory"] = json!({"limit": 256 * MIB});
        let r = run(rt, &b);
        assert_eq!(r.code, Some(0), "{}: {r:?}", rt.name());
    }
}

scenario! {
    /// `events` reports OOM kills on cgroup v2 too (memory.events); the
    /// kernel's count matches.
    fn oom_event(rt) {
        if !guest() || lacks(rt, &[Kind::Crun], "crun 1.8 has no `events` command") {
            return;
        }
        let mut b = Bundle::busybox();
        let out = hog_on_demand(&mut b);
        b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB});
        let (c, pid) = detached(rt, &b);
        let dir = v2_dir(pid, &["memory"]);
        let events_out = tempfile::NamedTempFile::new().expect("tempfile");
        let mut cmd = rt.cmd();
        cmd.args(["events", c.id()]).stdout(events_out.reopen().expect("reopen")).stderr(std::process::Stdio::null());
        let mut events = cmd.spawn().expect("spawn events");
        let mut n = 0;
        let reported = wait_until(60 * SECOND, || {
            n += 1;
            assert_eq!(hog(&out, n), "137", "{}: the hog must be OOM-killed", rt.name());
            std::fs::read_to_string(events_out.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["type"] == "oom")
        });
        let _ = events.kill();
        let _ = events.wait();
        let ev = reported.unwrap_or_else(|| panic!("{}: no oom event after {n} OOM kills", rt.name()));
        assert_eq!(ev["id"], c.id(), "{ev}");
        let kills = keyed(&read(&dir, "memory.events"), "oom_kill").expect("oom_kill in memory.events");
        assert!(kills >= n as u64, "memory.events oom_kill {kills}, the hog died {n} times");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// pids.max 32: the 33rd process cannot be forked (pids.events max);
    /// with 64 all forks work.
    fn pids_limit_33rd_fork_fails(rt) {
        if !guest() {
            return;
        }
        for (limit, want) in [(32, "30"), (64, "40")] {
            let mut b = Bundle::busybox();
            let out = out_dir(&mut b);
            b.set_script(
                "sh -c 'i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i > /out/n; done' 2>/out/err; \
                 echo done > /out/done; exec sleep 100",
            );
            b.linux_mut()["resources"]["pids"] = json!({"limit": limit});
            let (c, pid) = detached(rt, &b);
            wait_out(&out, "done", 60 * SECOND, "the forking shell");
            let dir = v2_dir(pid, &["pids"]);
            assert_eq!(read(&dir, "pids.max"), limit.to_string());
            assert_eq!(out_file(&out, "n"), want, "{}: forks under pids.max {limit}", rt.name());
            if limit == 32 {
                assert!(out_file(&out, "err").contains("can't fork"), "{}", out_file(&out, "err"));
                assert!(keyed(&read(&dir, "pids.events"), "max").is_some_and(|m| m >= 1));
            }
            c.delete_force().assert_ok();
            c.assert_no_leaks();
        }
    }
}

scenario! {
    /// The eBPF device filter: an eBPF program is attached to the
    /// container's cgroup; a node for 8:0 made inside cannot be opened
    /// ("Operation not permitted") unless a rule allows it; /dev/null works.
    fn ebpf_device_filter(rt) {
        if !guest() {
            return;
        }
        for allow in [false, true] {
            let mut b = Bundle::busybox();
            b.set_script(
                "mknod /tmp/sda b 8 0 && echo mknod-ok; head -c 1 /tmp/sda >/dev/null 2>/tmp/err && echo open-ok; cat /tmp/err; \
                 echo x > /dev/null && head -c 1 /dev/null && echo null-ok; exec sleep 100",
            );
            for set in ["bounding", "effective", "permitted"] {
                b.set_caps(set, &["CAP_MKNOD", "CAP_KILL"]);
            }
            b.add_mount("/tmp", "tmpfs", "tmpfs", &["size=1m"]);
            if allow && let Some(list) = b.linux_mut()["resources"]["devices"].as_array_mut() {
                list.push(json!({"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}));
            }
            let (c, pid) = detached(rt, &b);
            let dir = v2_dir(pid, &[]);
            let progs = berth_cgroups::devices::bpf::attached_programs(&dir).expect("query the cgroup's bpf programs");
            assert!(!progs.is_empty(), "{}: no device program attached to {}", rt.name(), dir.display());
            let out = wait_until(30 * SECOND, || {
                let s = c.stdout();
                s.contains("null-ok").then_some(s)
            }).unwrap_or_else(|| panic!("{}: {:?} {:?}", rt.name(), c.stdout(), c.stderr()));
            assert!(out.contains("mknod-ok"), "{out}");
            if allow {
                assert!(!out.contains("Operation not permitted"), "8:0 is allowed: {out}");
            } else {
                assert!(out.contains("head: /tmp/sda: Operation not permitted"), "8:0 must be denied: {out}");
            }
            c.delete_force().assert_ok();
            c.assert_no_leaks();
        }
    }
}

scenario! {
    /// pause freezes through cgroup.freeze (cgroup.events frozen 1, no
    /// progress, state paused); resume thaws.
    fn pause_resume_with_cgroup_freeze(rt) {
        if !guest() {
            return;
        }
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script("i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done");
        let (c, pid) = detached(rt, &b);
        let dir = v2_dir(pid, &[]);
        assert!(wait_for_file(&out.path().join("n"), 10 * SECOND));
        let n = || out_file(&out, "n").parse::<u64>().unwrap_or(0);
        c.verb("pause", &[]).assert_ok();
        assert_eq!(c.status().as_deref(), Some("paused"));
        assert_eq!(read(&dir, "cgroup.freeze"), "1");
        assert!(wait_until(5 * SECOND, || (keyed(&read(&dir, "cgroup.events"), "frozen") == Some(1)).then_some(())).is_some(), "cgroup.events: {}", read(&dir, "cgroup.events"));
        let at = n();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(n(), at, "a paused container made progress");
        c.verb("resume", &[]).assert_ok();
        assert_eq!(c.status().as_deref(), Some("running"));
        assert_eq!(read(&dir, "cgroup.freeze"), "0");
        assert!(wait_until(5 * SECOND, || (n() > at).then_some(())).is_some(), "a resumed container made no progress");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// update raises memory.max (`--memory`, then `-r FILE`): the 96 MiB
    /// that were OOM-killed under 64 MiB now fit.
    fn update_memory(rt) {
        if !guest() {
            return;
        }
        let mut b = Bundle::busybox();
        let out = hog_on_demand(&mut b);
        b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB});
        let (c, pid) = detached(rt, &b);
        let dir = v2_dir(pid, &["memory"]);
        assert_eq!(hog(&out, 1), "137");
        c.verb("update", &["--memory", &(256 * MIB).to_string()]).assert_ok();
        assert_eq!(read(&dir, "memory.max"), (256 * MIB).to_string());
        assert_eq!(hog(&out, 2), "0");
        let file = berth_test_support::temp_dir("update-");
        let res = file.path().join("r.json");
        std::fs::write(&res, json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 77}}).to_string()).expect("write");
        c.verb("update", &["-r", &res.to_string_lossy()]).assert_ok();
        assert_eq!(read(&dir, "memory.max"), (64 * MIB).to_string());
        assert_eq!(read(&dir, "pids.max"), "77");
        assert_eq!(hog(&out, 3), "137");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// A cgroup namespace with a `cgroup` mount: the container sees 0::/,
    /// cgroup2 on /sys/fs/cgroup, and there its own limits.
    fn cgroup_namespace_mount(rt) {
        if !guest() {
            return;
        }
        let out = run_script(
            rt,
            "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1; \
             cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
            |b| {
                b.set_namespace("cgroup", None);
                b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB});
                b.linux_mut()["resources"]["pids"] = json!({"limit": 32});
            },
        );
        assert_eq!(out, format!("0::/\ncgroup2\n{}\n32\n", 64 * MIB), "{}", rt.name());
    }
}

scenario! {
    /// delete after the init died of SIGKILL (from the host) removes the
    /// container's cgroup.
    fn delete_after_sigkill(rt) {
        if !guest() {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_script("sleep 100 & exec sleep 100");
        let (c, pid) = detached(rt, &b);
        let dir = v2_dir(pid, &[]);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).expect("kill");
        assert_eq!(c.wait_status("stopped", 10 * SECOND).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        assert!(!dir.exists(), "{}: delete left {}", rt.name(), dir.display());
        c.assert_no_leaks();
    }
}
