//! cgroups through the runtime: linux.resources at create, update, pause
//! and resume, events --stats.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind, Runtime};
use std::path::PathBuf;
use std::time::Duration;

/// The file `file` of `controller` in the cgroup of host process `pid`
/// (cgroup v1 hierarchy, or the unified one when the controller has no v1
/// hierarchy).
fn cgroup_file(pid: i64, controller: &str, file: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == controller) {
            return PathBuf::from(format!("/sys/fs/cgroup/{controller}{path}/{file}"));
        }
    }
    let path = text.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup path");
    PathBuf::from(format!("/sys/fs/cgroup{path}/{file}"))
}

fn read_trim(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

fn running<'r>(rt: &'r Runtime, b: &Bundle) -> (Container<'r>, i64) {
    let mut c = Container::new(rt, b);
    c.run(&["--detach"]).assert_ok();
    let pid = c.state_json()["pid"].as_i64().expect("pid");
    (c, pid)
}

scenario! {
    /// linux.resources are written to the container's cgroups at create.
    fn resources_applied_at_create(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        b.linux_mut()["resources"]["memory"] = serde_json::json!({"limit": 67108864});
        b.linux_mut()["resources"]["pids"] = serde_json::json!({"limit": 64});
        b.linux_mut()["resources"]["cpu"] = serde_json::json!({"shares": 512});
        let (c, pid) = running(rt, &b);
        assert_eq!(read_trim(&cgroup_file(pid, "memory", "memory.limit_in_bytes")), "67108864");
        assert_eq!(read_trim(&cgroup_file(pid, "pids", "pids.max")), "64");
        assert_eq!(read_trim(&cgroup_file(pid, "cpu", "cpu.shares")), "512");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// The pids limit is enforced: with pids.max 4 the shell (1) starts 3
    /// children and the 4th fork fails (busybox sh then exits).
    fn pids_limit_enforced(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script("i=0; while [ $i -lt 8 ]; do sleep 30 & i=$((i+1)); echo $i > /out/n; done; echo all > /out/n; exec sleep 30");
        b.linux_mut()["resources"]["pids"] = serde_json::json!({"limit": 4});
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        let n = out.path().join("n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            last = std::fs::read_to_string(&n).unwrap_or_default().trim().to_string();
            if last == "3" && c.status().as_deref() == Some("stopped") || last == "all" {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(last, "3", "children started under pids.max 4");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// update changes the limits of a running container.
    fn update_limits(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let (c, pid) = running(rt, &b);
        c.verb("update", &["--memory", "104857600", "--pids-limit", "50"]).assert_ok();
        assert_eq!(read_trim(&cgroup_file(pid, "memory", "memory.limit_in_bytes")), "104857600");
        assert_eq!(read_trim(&cgroup_file(pid, "pids", "pids.max")), "50");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// pause freezes every process (status paused, no progress), resume
    /// thaws them.
    fn pause_resume(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script("i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done");
        let (c, pid) = running(rt, &b);
        assert!(wait_for_file(&out.path().join("n"), Duration::from_secs(5)));
        let n = || std::fs::read_to_string(out.path().join("n")).unwrap_or_default().trim().parse::<u64>().unwrap_or(0);
        c.verb("pause", &[]).assert_ok();
        assert_eq!(c.status().as_deref(), Some("paused"));
        let freezer = cgroup_file(pid, "freezer", "freezer.state");
        if freezer.exists() {
            assert_eq!(read_trim(&freezer), "FROZEN");
        }
        std::thread::sleep(Duration::from_millis(100));
        let frozen_at = n();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(n(), frozen_at, "a paused container made progress");
        c.verb("resume", &[]).assert_ok();
        assert_eq!(c.status().as_deref(), Some("running"));
        std::thread::sleep(Duration::from_millis(300));
        assert!(n() > frozen_at, "a resumed container made no progress");
        // a paused container can be killed and deleted
        c.verb("pause", &[]).assert_ok();
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// resume of a container that is not paused is an error.
    fn resume_running_is_an_error(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 exits 0 on resume of a running container") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let (c, _) = running(rt, &b);
        c.verb("resume", &[]).assert_fails();
        assert_eq!(c.status().as_deref(), Some("running"));
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// events --stats prints one JSON stats event with cgroup figures.
    fn events_stats(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 has no `events` command") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        b.linux_mut()["resources"]["memory"] = serde_json::json!({"limit": 67108864});
        let (c, _) = running(rt, &b);
        let v = c.verb("events", &["--stats"]).assert_ok().json();
        assert_eq!(v["type"], "stats", "{v}");
        assert_eq!(v["id"], c.id());
        assert!(v["data"]["pids"]["current"].as_u64().is_some_and(|n| n >= 1), "{v}");
        assert!(v["data"]["memory"]["usage"]["usage"].as_u64().is_some_and(|n| n > 0), "{v}");
        assert_eq!(v["data"]["memory"]["usage"]["limit"].as_u64(), Some(67108864), "{v}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}
