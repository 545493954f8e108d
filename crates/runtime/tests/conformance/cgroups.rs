//! cgroups read back from the kernel (issue #3): memory limit and OOM kill,
//! memory reservation/swap/swappiness, the pids limit, cpu quota/shares and
//! cpuset, blkio weight and throttling, the devices controller,
//! `linux.cgroupsPath` (absolute, relative, default) and `--systemd-cgroup`,
//! update, ps, delete after SIGKILL, kill --all.
//!
//! Every value is read from the cgroup filesystem (after checking with
//! `cgroups::assert_real` that it is cgroupfs with the controller, not the
//! tmpfs of this hybrid host) or observed inside the container. The memory
//! hog is busybox `dd bs=96M count=1`: one fixed 96 MiB buffer, so even a
//! runtime that set no limit at all cannot make it take the host's memory.
//!
//! This module is for the hybrid host (v1 controllers); the pure cgroup v2
//! equivalents are in `tests/cgroup_v2_runtime.rs`.

use crate::support::*;
use berth_test_support::cgroups::{self, assert_real, dir_of, keyed, path_of, read};
use berth_test_support::{Bundle, Container, Kind};
use serde_json::json;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const SECOND: Duration = Duration::from_secs(1);

/// The container's cgroup for `controller`, checked to be a real cgroup.
#[track_caller]
fn real_dir(pid: i64, controller: &str) -> std::path::PathBuf {
    let dir = dir_of(pid, controller);
    assert_real(&dir, controller);
    dir
}

/// Asks a [`hog_on_demand`] container for run `n`; returns the exit status.
#[track_caller]
fn hog(out: &tempfile::TempDir, n: u32) -> String {
    run_hog(out, n, 20 * SECOND)
}

scenario! {
    /// A 64 MiB memory limit: a process allocating 96 MiB is OOM-killed and
    /// `run` exits 137; with 256 MiB it completes (positive control).
    fn memory_limit_oom_kill(rt) {
        let limit = 64 * MIB;
        let mut b = Bundle::busybox();
        b.set_script(&format!("exec {HOG}"));
        b.linux_mut()["resources"]["memory"] = json!({"limit": limit});
        // The limit is real before anything allocates: create, read back.
        {
            let mut c = Container::new(rt, &b);
            c.create(&[]).assert_ok();
            let pid = c.state_json()["pid"].as_i64().expect("pid");
            let mem = real_dir(pid, "memory");
            assert_eq!(read(&mem, "memory.limit_in_bytes"), limit.to_string());
            c.delete_force().assert_ok();
            c.assert_no_leaks();
        }
        let r = run(rt, &b);
        assert_eq!(r.code, Some(137), "{}: the hog must be OOM-killed (128+SIGKILL): {r:?}", rt.name());
        b.linux_mut()["resources"]["memory"] = json!({"limit": 256 * MIB});
        let r = run(rt, &b);
        assert_eq!(r.code, Some(0), "{}: 96 MiB fit in 256 MiB: {r:?}", rt.name());
    }
}

scenario! {
    /// `events` reports each OOM kill as `{"type":"oom"}`; the kernel
    /// counts it (memory.oom_control oom_kill) and `events --stats` shows
    /// the limit, the usage and the failures.
    fn oom_event_and_stats(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 has no `events` command") {
            return;
        }
        let limit = 64 * MIB;
        let mut b = Bundle::busybox();
        let out = hog_on_demand(&mut b);
        b.linux_mut()["resources"]["memory"] = json!({"limit": limit});
        let (c, pid) = detached(rt, &b);
        let mem = real_dir(pid, "memory");
        assert_eq!(read(&mem, "memory.limit_in_bytes"), limit.to_string());
        let events_out = tempfile::tempfile().expect("tempfile");
        let mut cmd = rt.cmd();
        cmd.args(["events", c.id()]).stdout(events_out.try_clone().expect("dup")).stderr(std::process::Stdio::null());
        let mut events = cmd.spawn().expect("spawn events");
        // `events` may subscribe after the first OOM: keep killing until
        // one is reported.
        let mut n = 0;
        let reported = wait_until(20 * SECOND, || {
            n += 1;
            assert_eq!(hog(&out, n), "137", "{}: the hog must be OOM-killed", rt.name());
            let text = std::fs::read_to_string(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&events_out))).unwrap_or_default();
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["type"] == "oom")
        });
        let _ = events.kill();
        let _ = events.wait();
        let ev = reported.unwrap_or_else(|| panic!("{}: no oom event after {n} OOM kills", rt.name()));
        assert_eq!(ev["id"], c.id(), "{ev}");
        let oom_kills = keyed(&read(&mem, "memory.oom_control"), "oom_kill").expect("oom_kill in memory.oom_control");
        assert!(oom_kills >= n as u64, "the kernel counted {oom_kills} OOM kills, the hog died {n} times");
        let s = c.verb("events", &["--stats"]).assert_ok().json();
        assert_eq!(s["type"], "stats", "{s}");
        let usage = &s["data"]["memory"]["usage"];
        assert_eq!(usage["limit"].as_u64(), Some(limit), "{s}");
        assert!(usage["usage"].as_u64().is_some_and(|u| u > 0 && u <= limit), "{s}");
        assert!(usage["failcnt"].as_u64().is_some_and(|f| f > 0), "failcnt after OOM kills: {s}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// memory reservation, swap (memory+swap), swappiness and
    /// disableOOMKiller land in the v1 memory files.
    fn memory_reservation_swap_swappiness(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        b.linux_mut()["resources"]["memory"] = json!({
            "limit": 128 * MIB, "reservation": 64 * MIB, "swap": 256 * MIB, "swappiness": 10,
            "disableOOMKiller": true
        });
        let (c, pid) = detached(rt, &b);
        let mem = real_dir(pid, "memory");
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (128 * MIB).to_string());
        assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), (64 * MIB).to_string());
        if mem.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), (256 * MIB).to_string());
        } else {
            eprintln!("SKIP swap part: no swap accounting on this kernel (memory.memsw.*)");
        }
        assert_eq!(read(&mem, "memory.swappiness"), "10");
        assert_eq!(keyed(&read(&mem, "memory.oom_control"), "oom_kill_disable"), Some(1));
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// A shell that starts `sleep`s in the background until a fork fails;
/// `/out/n` counts the successful ones, `/out/err` has the shell's error.
/// The outer shell survives (and the container stays up) so that the
/// cgroup can be read afterwards.
fn fork_until_failure(b: &mut Bundle) -> tempfile::TempDir {
    let out = out_dir(b);
    b.set_script(
        "sh -c 'i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i > /out/n; done' 2>/out/err; \
         echo done > /out/done; exec sleep 100",
    );
    out
}

scenario! {
    /// pids limit 32: the outer shell and the forking shell are 2 tasks,
    /// so 30 sleeps start and the 33rd process cannot be forked; the kernel
    /// counts the refusal in pids.events. With 64 every fork works.
    fn pids_limit_33rd_fork_fails(rt) {
        let mut b = Bundle::busybox();
        let out = fork_until_failure(&mut b);
        b.linux_mut()["resources"]["pids"] = json!({"limit": 32});
        let (c, pid) = detached(rt, &b);
        wait_out(&out, "done", 10 * SECOND, "the forking shell");
        let pids = real_dir(pid, "pids");
        assert_eq!(read(&pids, "pids.max"), "32");
        assert_eq!(out_file(&out, "n"), "30", "{}: sleeps started under pids.max 32", rt.name());
        let err = out_file(&out, "err");
        assert!(err.contains("can't fork") && err.contains("Resource temporarily unavailable"), "fork must fail with EAGAIN: {err:?}");
        assert!(keyed(&read(&pids, "pids.events"), "max").is_some_and(|m| m >= 1), "pids.events counts the refused fork");
        assert_eq!(read(&pids, "pids.current"), "31", "init and the 30 sleeps");
        c.delete_force().assert_ok();
        c.assert_no_leaks();

        b.linux_mut()["resources"]["pids"] = json!({"limit": 64});
        let out = fork_until_failure(&mut b);
        let (c, _) = detached(rt, &b);
        wait_out(&out, "done", 10 * SECOND, "the forking shell");
        assert_eq!(out_file(&out, "n"), "40", "{}: all 40 forks work under pids.max 64", rt.name());
        assert_eq!(out_file(&out, "err"), "");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// The last online cpu (`0-1` -> 1).
fn last_cpu() -> u32 {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("read cpu/online");
    online
        .trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a cpu number")
}

scenario! {
    /// cpu shares/quota/period in the cpu files, the quota enforced (a busy
    /// loop is throttled: cpu.stat nr_throttled; 5% so that it holds even
    /// when the shared machine leaves the loop little cpu), and the cpuset
    /// both in cpuset.cpus/mems and in /proc/self/status inside.
    fn cpu_quota_shares_and_cpuset(rt) {
        let cpu = last_cpu();
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script(
            "grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status > /out/status; \
             timeout 1 sh -c 'while :; do :; done'; echo done > /out/done; exec sleep 100",
        );
        b.linux_mut()["resources"]["cpu"] = json!({
            "shares": 512, "quota": 5000, "period": 100000, "cpus": cpu.to_string(), "mems": "0"
        });
        let (c, pid) = detached(rt, &b);
        let cpu_dir = real_dir(pid, "cpu");
        assert_eq!(read(&cpu_dir, "cpu.shares"), "512");
        assert_eq!(read(&cpu_dir, "cpu.cfs_quota_us"), "5000");
        assert_eq!(read(&cpu_dir, "cpu.cfs_period_us"), "100000");
        let cpuset = real_dir(pid, "cpuset");
        assert_eq!(read(&cpuset, "cpuset.cpus"), cpu.to_string());
        assert_eq!(read(&cpuset, "cpuset.mems"), "0");
        wait_out(&out, "done", 10 * SECOND, "the busy loop");
        let status = out_file(&out, "status");
        assert_eq!(status_field(&status, "Cpus_allowed_list"), Some(cpu.to_string().as_str()), "{status}");
        assert_eq!(status_field(&status, "Mems_allowed_list"), Some("0"), "{status}");
        let stat = read(&cpu_dir, "cpu.stat");
        assert!(keyed(&stat, "nr_throttled").is_some_and(|n| n > 0), "a busy loop under a 5% quota must be throttled: {stat}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// blockIO.weight lands in the blkio weight file of the kernel's I/O
    /// scheduler (bfq here: blkio.bfq.weight).
    fn blkio_weight(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 writes only blkio.weight, which a bfq-only kernel does not have (\"opening file `blkio.weight` for writing: No such file or directory\")") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        b.linux_mut()["resources"]["blockIO"] = json!({"weight": 500});
        let (c, pid) = detached(rt, &b);
        let blkio = real_dir(pid, "blkio");
        let file = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| blkio.join(f).exists()).expect("a blkio weight file");
        // blkio.bfq.weight reads "default N" on some kernels
        let text = read(&blkio, file);
        assert!(text.split_whitespace().last() == Some("500"), "{file}: {text:?}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// The whole-disk `major:minor` of the block device holding `path`, if it
/// is on one.
fn disk_of(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let sys = std::path::PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if !sys.exists() {
        return None;
    }
    if sys.join("partition").exists() {
        let parent = std::fs::read_to_string(std::fs::canonicalize(&sys).ok()?.parent()?.join("dev")).ok()?;
        let (ma, mi) = parent.trim().split_once(':')?;
        return Some((ma.parse().ok()?, mi.parse().ok()?));
    }
    Some((major, minor))
}

scenario! {
    /// blockIO throttles land in blkio.throttle.* and are enforced: 1.5 MiB
    /// of O_DIRECT writes at 1 MiB/s take over a second (the kernel's
    /// blkio.throttle.io_service_bytes sees them).
    fn blkio_throttle(rt) {
        // a host directory on a real disk (the bundles live on tmpfs)
        let dir = tempfile::Builder::new().prefix("berth-blkio-").tempdir_in("/var/tmp").expect("tempdir in /var/tmp");
        let Some((major, minor)) = disk_of(dir.path()) else {
            eprintln!("SKIP {}: /var/tmp is not on a block device", rt.name());
            return;
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.add_bind(dir.path(), "/disk", &[]);
        b.set_script(
            "while [ ! -e /out/go ]; do sleep 0.02; done; \
             dd if=/dev/zero of=/disk/f bs=64k count=24 oflag=direct 2>/out/dd; echo $? > /out/done; exec sleep 100",
        );
        let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
        b.linux_mut()["resources"]["blockIO"] = json!({
            "throttleWriteBpsDevice": dev(MIB), "throttleReadBpsDevice": dev(2 * MIB),
            "throttleWriteIOPSDevice": dev(1000), "throttleReadIOPSDevice": dev(2000)
        });
        let (c, pid) = detached(rt, &b);
        let blkio = real_dir(pid, "blkio");
        let dev_line = |file: &str| read(&blkio, file).lines().find(|l| l.starts_with(&format!("{major}:{minor} "))).map(str::to_owned);
        assert_eq!(dev_line("blkio.throttle.write_bps_device"), Some(format!("{major}:{minor} {MIB}")));
        assert_eq!(dev_line("blkio.throttle.read_bps_device"), Some(format!("{major}:{minor} {}", 2 * MIB)));
        assert_eq!(dev_line("blkio.throttle.write_iops_device"), Some(format!("{major}:{minor} 1000")));
        assert_eq!(dev_line("blkio.throttle.read_iops_device"), Some(format!("{major}:{minor} 2000")));
        let t0 = Instant::now();
        std::fs::write(out.path().join("go"), "").expect("go");
        let rc = wait_out(&out, "done", 30 * SECOND, "the throttled writer");
        let took = t0.elapsed();
        assert_eq!(rc, "0", "dd: {}", out_file(&out, "dd"));
        assert!(took >= Duration::from_millis(1000), "1.5 MiB at 1 MiB/s took only {took:?}: not throttled");
        let written = read(&blkio, "blkio.throttle.io_service_bytes")
            .lines()
            .find(|l| l.starts_with(&format!("{major}:{minor} Write ")))
            .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .unwrap_or(0);
        assert!(written >= 24 * 64 * 1024, "blkio.throttle.io_service_bytes Write {written}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// Script for the device scenarios: make a block device node for 8:0
/// (`/dev/sda` on most machines) on a tmpfs with CAP_MKNOD, try to read it,
/// and use /dev/null.
const DEVICE_SCRIPT: &str = "mknod /tmp/sda b 8 0 && echo mknod-ok; \
    head -c 1 /tmp/sda >/dev/null 2>/tmp/err && echo open-ok; cat /tmp/err; \
    echo x > /dev/null && head -c 1 /dev/null && echo null-ok";

fn device_bundle(extra_rules: serde_json::Value) -> Bundle {
    let mut b = Bundle::busybox();
    b.set_script(&format!("{DEVICE_SCRIPT}; exec sleep 100"));
    let caps = ["CAP_MKNOD", "CAP_KILL"];
    for set in ["bounding", "effective", "permitted"] {
        b.set_caps(set, &caps);
    }
    b.add_mount("/tmp", "tmpfs", "tmpfs", &["size=1m"]);
    if let Some(rules) = extra_rules.as_array() {
        for r in rules {
            if let Some(list) = b.linux_mut()["resources"]["devices"].as_array_mut() {
                list.push(r.clone());
            }
        }
    }
    b
}

scenario! {
    /// The devices controller: a device node made inside (mknod is allowed
    /// for every device, as runc does) cannot be opened unless a rule allows
    /// it ("Operation not permitted" comes from the cgroup; once allowed the
    /// driver answers: ENXIO when there is no such disk); /dev/null works.
    fn devices_denied_unless_allowed(rt) {
        let b = device_bundle(json!([]));
        let (c, pid) = detached(rt, &b);
        let out = wait_until(10 * SECOND, || {
            let s = c.stdout();
            s.contains("null-ok").then_some(s)
        }).unwrap_or_else(|| panic!("{}: script did not finish: {:?} {:?}", rt.name(), c.stdout(), c.stderr()));
        assert!(out.contains("mknod-ok"), "{out}");
        assert!(out.contains("head: /tmp/sda: Operation not permitted"), "8:0 must be denied: {out}");
        let list = read(&real_dir(pid, "devices"), "devices.list");
        assert!(!list.lines().any(|l| l.starts_with("b 8:0") || l.starts_with("a ")), "devices.list: {list}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();

        let b = device_bundle(json!([{"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"}]));
        let (c, pid) = detached(rt, &b);
        let out = wait_until(10 * SECOND, || {
            let s = c.stdout();
            s.contains("null-ok").then_some(s)
        }).unwrap_or_else(|| panic!("{}: script did not finish: {:?} {:?}", rt.name(), c.stdout(), c.stderr()));
        assert!(!out.contains("Operation not permitted"), "8:0 is allowed for reading: {out}");
        assert!(out.contains("open-ok") || out.contains("No such device or address"), "{out}");
        let list = read(&real_dir(pid, "devices"), "devices.list");
        assert!(list.lines().any(|l| l == "b 8:0 r"), "devices.list must allow b 8:0 r: {list}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// The v1 controllers a container's cgroups are checked in (named by the
/// kernel in /proc/<pid>/cgroup; those mounted here).
fn v1_controllers() -> Vec<&'static str> {
    ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]
        .into_iter()
        .filter(|c| cgroups::hierarchy_mount(c).is_some())
        .collect()
}

scenario! {
    /// An absolute cgroupsPath is the container's cgroup in every
    /// hierarchy; delete removes it.
    fn cgroups_path_absolute(rt) {
        let parent = format!("berth-t-{}-abs-{}", std::process::id(), rt.name());
        let _cleanup = CgroupParents(vec![parent.clone()]);
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let id = berth_test_support::container::unique_id();
        let path = format!("/{parent}/{id}");
        b.linux_mut()["cgroupsPath"] = json!(path);
        let mut c = Container::with_id(rt, &b, &id);
        c.run(&["--detach"]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        for ctrl in v1_controllers() {
            assert_eq!(path_of(pid, ctrl), path, "{ctrl}");
        }
        assert_real(&dir_of(pid, "memory"), "memory");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// A relative cgroupsPath is below the runtime's own cgroup in each
    /// hierarchy (here the memory cgroup of this test process is not the
    /// root, so the difference shows).
    fn cgroups_path_relative(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 puts a relative cgroupsPath at the root of each hierarchy") {
            return;
        }
        let parent = format!("berth-t-{}-rel-{}", std::process::id(), rt.name());
        let me = std::process::id() as i64;
        let mut parents = vec![parent.clone()];
        for ctrl in v1_controllers() {
            parents.push(format!("{}/{parent}", path_of(me, ctrl).trim_end_matches('/')));
        }
        let _cleanup = CgroupParents(parents);
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let id = berth_test_support::container::unique_id();
        b.linux_mut()["cgroupsPath"] = json!(format!("{parent}/{id}"));
        let mut c = Container::with_id(rt, &b, &id);
        c.run(&["--detach"]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        for ctrl in v1_controllers() {
            let own = path_of(me, ctrl);
            let want = format!("{}/{parent}/{id}", own.trim_end_matches('/'));
            assert_eq!(path_of(pid, ctrl), want, "{ctrl} (the runtime runs in {own})");
        }
        assert_real(&dir_of(pid, "memory"), "memory");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// Without cgroupsPath every container gets its own cgroup named after
    /// its id in every hierarchy, removed by delete.
    fn cgroups_path_default(rt) {
        let mut b1 = Bundle::busybox();
        b1.set_args(&["sleep", "100"]);
        let mut b2 = Bundle::busybox();
        b2.set_args(&["sleep", "100"]);
        let (c1, pid1) = detached(rt, &b1);
        let (c2, pid2) = detached(rt, &b2);
        for ctrl in v1_controllers() {
            let (p1, p2) = (path_of(pid1, ctrl), path_of(pid2, ctrl));
            assert!(p1.ends_with(&format!("/{}", c1.id())), "{ctrl}: {p1}");
            assert!(p2.ends_with(&format!("/{}", c2.id())), "{ctrl}: {p2}");
        }
        assert_real(&dir_of(pid1, "memory"), "memory");
        for c in [&c1, &c2] {
            c.delete_force().assert_ok();
            c.assert_no_leaks();
        }
    }
}

scenario! {
    /// `--systemd-cgroup` with `slice:prefix:name` on cgroupfs: the layout
    /// systemd would make (a dashed slice name nests in its parents; the
    /// container is `<prefix>-<name>.scope`), in every hierarchy; delete
    /// removes the scope. Without cgroupsPath: `system.slice`.
    fn systemd_cgroup_layout(rt) {
        if lacks(rt, &[Kind::Runc, Kind::Crun], "runc 1.1.5 and crun 1.8.1 need a running systemd (D-Bus) for --systemd-cgroup") {
            return;
        }
        let top = format!("berthtest{}{}.slice", std::process::id(), rt.name());
        let slice = top.replace(".slice", "-x.slice");
        let system_slice_existed = cgroups::hierarchy_mount("memory").is_some_and(|m| std::path::Path::new(&m.mount_point).join("system.slice").exists());
        let id = berth_test_support::container::unique_id();
        // the scope too: the guard's scrub finds only cgroups named <id>
        let mut parents = vec![top.clone(), format!("{top}/{slice}"), format!("{top}/{slice}/bprefix-{id}.scope")];
        if !system_slice_existed {
            parents.push("system.slice".into());
        }
        let mut cleanup = CgroupParents(parents);
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        b.linux_mut()["cgroupsPath"] = json!(format!("{slice}:bprefix:{id}"));
        let c = Container::with_id(rt, &b, &id);
        let bundle = b.path().to_string_lossy().into_owned();
        rt.run(&["--systemd-cgroup", "run", "--detach", "--bundle", &bundle, &id]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        let want = format!("/{top}/{slice}/bprefix-{id}.scope");
        for ctrl in v1_controllers() {
            assert_eq!(path_of(pid, ctrl), want, "{ctrl}");
        }
        let mem = dir_of(pid, "memory");
        assert_real(&mem, "memory");
        rt.run(&["--systemd-cgroup", "delete", "--force", &id]).assert_ok();
        for ctrl in v1_controllers() {
            let dir = cgroups::dir_for_path(ctrl, &want);
            assert!(!dir.exists(), "delete left {}", dir.display());
        }
        c.assert_no_leaks();

        // the default: <prefix>-<id>.scope in system.slice
        b.linux_mut()["cgroupsPath"] = json!("");
        let id = berth_test_support::container::unique_id();
        let c = Container::with_id(rt, &b, &id);
        rt.run(&["--systemd-cgroup", "run", "--detach", "--bundle", &bundle, &id]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        let path = path_of(pid, "memory");
        cleanup.0.push(path.clone());
        assert!(path.starts_with("/system.slice/") && path.ends_with(&format!("-{id}.scope")), "{path}");
        rt.run(&["--systemd-cgroup", "delete", "--force", &id]).assert_ok();
        assert!(!cgroups::dir_for_path("memory", &path).exists(), "delete left {path}");
        c.assert_no_leaks();
    }
}

scenario! {
    /// update raises the memory limit of a running container, with
    /// `--memory` and with `-r FILE`: the same 96 MiB allocation that was
    /// OOM-killed under 64 MiB completes after the update, and is killed
    /// again once `-r` lowers the limit back.
    fn update_memory_is_enforced(rt) {
        let mut b = Bundle::busybox();
        let out = hog_on_demand(&mut b);
        b.linux_mut()["resources"]["memory"] = json!({"limit": 64 * MIB});
        let (c, pid) = detached(rt, &b);
        let mem = real_dir(pid, "memory");
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (64 * MIB).to_string());
        assert_eq!(hog(&out, 1), "137", "{}: 96 MiB under 64 MiB", rt.name());

        c.verb("update", &["--memory", &(256 * MIB).to_string()]).assert_ok();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (256 * MIB).to_string());
        assert_eq!(hog(&out, 2), "0", "{}: 96 MiB under 256 MiB after update --memory", rt.name());

        let file = berth_test_support::temp_dir("update-");
        let res = file.path().join("resources.json");
        std::fs::write(&res, json!({"memory": {"limit": 64 * MIB}, "pids": {"limit": 77}}).to_string()).expect("write");
        c.verb("update", &["-r", &res.to_string_lossy()]).assert_ok();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (64 * MIB).to_string());
        assert_eq!(read(&real_dir(pid, "pids"), "pids.max"), "77");
        assert_eq!(hog(&out, 3), "137", "{}: 96 MiB under 64 MiB again after update -r", rt.name());

        std::fs::write(&res, json!({"memory": {"limit": 512 * MIB}}).to_string()).expect("write");
        c.verb("update", &["-r", &res.to_string_lossy()]).assert_ok();
        assert_eq!(read(&mem, "memory.limit_in_bytes"), (512 * MIB).to_string());
        assert_eq!(hog(&out, 4), "0", "{}: 96 MiB under 512 MiB after update -r", rt.name());
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// ps lists exactly the processes of the container's cgroup (including
    /// one added by exec).
    fn ps_lists_the_cgroup(rt) {
        let mut b = Bundle::busybox();
        b.set_script("sleep 100 & sleep 100 & exec sleep 100");
        let (c, pid) = detached(rt, &b);
        let pids_dir = real_dir(pid, "pids");
        let exec = c.exec(&["--detach"], &["sleep", "100"]);
        assert!(exec.success(), "{}", exec.describe());
        let procs = wait_until(5 * SECOND, || {
            let p = cgroups::procs(&pids_dir);
            (p.len() == 4).then_some(p)
        }).unwrap_or_else(|| panic!("cgroup.procs: {:?}", cgroups::procs(&pids_dir)));
        let j = c.verb("ps", &["--format", "json"]).assert_ok().json();
        let mut listed: Vec<i64> = j.as_array().expect("a JSON array").iter().filter_map(|v| v.as_i64()).collect();
        listed.sort_unstable();
        assert_eq!(listed, procs, "ps vs the kernel's cgroup.procs");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// A container whose init died of SIGKILL (sent from the host, not
    /// through the runtime) is stopped, and `delete` removes its cgroups in
    /// every hierarchy. Without a pid namespace the children outlive init;
    /// delete kills them too.
    fn delete_after_sigkill(rt) {
        for pid_ns in [true, false] {
            let mut b = Bundle::busybox();
            let out = out_dir(&mut b);
            b.set_script("sleep 100 & echo $! > /out/child; exec sleep 100");
            if !pid_ns {
                b.remove_namespace("pid");
            }
            let (c, pid) = detached(rt, &b);
            let child = wait_out(&out, "child", 5 * SECOND, "the child");
            assert!(!berth_test_support::leaks::cgroups_named(c.id()).is_empty(), "the container has cgroups named after it");
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).expect("kill init");
            assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"), "pid ns {pid_ns}");
            let out_del = c.delete();
            assert!(out_del.success(), "pid ns {pid_ns}: {}", out_del.describe());
            assert!(!c.state().success(), "deleted");
            let left = berth_test_support::leaks::cgroups_named(c.id());
            assert!(left.is_empty(), "{}: pid ns {pid_ns}: delete left cgroups {left:?}", rt.name());
            if !pid_ns {
                // the child is in the (removed) cgroup's pid list no more
                let child: i64 = child.parse().expect("child pid");
                assert!(wait_until(2 * SECOND, || (!alive(child)).then_some(())).is_some(), "{}: delete left the child {child} running", rt.name());
            }
            c.assert_no_leaks();
        }
    }
}

scenario! {
    /// kill --all without a pid namespace: every process of the cgroup gets
    /// the signal, the cgroup empties.
    fn kill_all_without_pid_namespace(rt) {
        let mut b = Bundle::busybox();
        b.remove_namespace("pid");
        b.set_script("sleep 100 & sleep 100 & exec sleep 100");
        let (c, pid) = detached(rt, &b);
        let pids_dir = real_dir(pid, "pids");
        let before = wait_until(5 * SECOND, || {
            let p = cgroups::procs(&pids_dir);
            (p.len() == 3).then_some(p)
        }).expect("three processes in the cgroup");
        rt.run(&["kill", "--all", c.id(), "KILL"]).assert_ok();
        for p in &before {
            assert!(wait_until(5 * SECOND, || (!alive(*p)).then_some(())).is_some(), "{}: process {p} survived kill --all", rt.name());
        }
        let emptied = wait_until(5 * SECOND, || cgroups::procs(&pids_dir).is_empty().then_some(()));
        assert!(emptied.is_some(), "{}: still in the cgroup: {:?}", rt.name(), cgroups::procs(&pids_dir));
        assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}
