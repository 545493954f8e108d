//! linux.namespaces (each type, joining by path), user namespace mappings,
//! time offsets, hostname, domainname, sysctl.

use crate::support::*;
use berth_test_support::{Bundle, Kind};
use std::path::{Path, PathBuf};

const NS: [(&str, &str); 6] =
    [("pid", "pid"), ("network", "net"), ("ipc", "ipc"), ("uts", "uts"), ("mount", "mnt"), ("cgroup", "cgroup")];

fn host_ns(proc_name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{proc_name}"))
        .expect("readlink ns")
        .to_string_lossy()
        .into_owned()
}

/// `<proc name> <link>` lines for every namespace type, from inside.
fn container_ns(rt: &berth_test_support::Runtime, edit: impl FnOnce(&mut Bundle)) -> Vec<(String, String)> {
    let script = NS.iter().map(|(_, p)| format!("echo {p} $(readlink /proc/self/ns/{p})")).collect::<Vec<_>>().join("; ");
    let out = run_script(rt, &script, edit);
    out.lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').expect("two fields");
            (a.to_string(), b.to_string())
        })
        .collect()
}

scenario! {
    /// Each configured namespace type is new; each omitted one is the
    /// runtime's own (the host's here).
    fn namespace_types(rt) {
        let all = container_ns(rt, |b| {
            b.set_namespace("cgroup", None);
        });
        assert_eq!(all.len(), NS.len());
        for (p, link) in &all {
            assert_ne!(link, &host_ns(p), "{p} namespace should be new");
        }
        let only_mount = container_ns(rt, |b| {
            for (t, _) in NS {
                if t != "mount" {
                    b.remove_namespace(t);
                }
            }
            // a hostname needs a private uts namespace
            if let Some(o) = b.spec.as_object_mut() {
                o.remove("hostname");
            }
        });
        for (p, link) in &only_mount {
            if p == "mnt" {
                assert_ne!(link, &host_ns(p));
            } else {
                assert_eq!(link, &host_ns(p), "{p} namespace should be shared with the host");
            }
        }
    }
}

scenario! {
    /// In a new pid namespace the process is pid 1 and sees only its own
    /// processes.
    fn pid_namespace(rt) {
        // the glob is expanded by pid 1 itself, which has no child then
        let out = run_script(rt, "echo $$; echo /proc/[0-9]*", |_| {});
        assert_eq!(out, "1\n/proc/1\n");
    }
}

scenario! {
    /// hostname and domainname are set in the new uts namespace; the host's
    /// are untouched.
    fn hostname_and_domainname(rt) {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
        let out = run_script(rt, "hostname; cat /proc/sys/kernel/hostname", |b| {
            b.spec["hostname"] = serde_json::json!("box-1");
        });
        assert_eq!(out, "box-1\nbox-1\n");
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"), host_name);
        if lacks(rt, &[Kind::Runc], "runc 1.1.5 ignores domainname (runc 1.2 adds it)") {
            return;
        }
        let host_domain = std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname");
        let out = run_script(rt, "cat /proc/sys/kernel/domainname", |b| {
            b.spec["domainname"] = serde_json::json!("example.test");
        });
        assert_eq!(out, "example.test\n");
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname"), host_domain);
    }
}

/// A namespace pinned by a bind mount on a file, made with unshare(1);
/// unmounted and removed on drop.
struct PinnedNs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl PinnedNs {
    /// `unshare --<flag>=<file> <cmd...>`.
    fn new(flag: &str, cmd: &[&str]) -> PinnedNs {
        let dir = berth_test_support::temp_dir("ns-");
        let path = dir.path().join(flag);
        std::fs::write(&path, "").expect("create ns file");
        let status = std::process::Command::new("unshare")
            .arg(format!("--{flag}={}", path.display()))
            .args(cmd)
            .status()
            .expect("run unshare");
        assert!(status.success(), "unshare --{flag} failed");
        PinnedNs { _dir: dir, path }
    }

    fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).expect("stat ns").ino()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PinnedNs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
    }
}

scenario! {
    /// A namespace with `path` is joined, not created: network and uts.
    fn join_namespace_by_path(rt) {
        let net = PinnedNs::new("net", &["true"]);
        let uts = PinnedNs::new("uts", &["hostname", "joined-uts"]);
        let out = run_script(rt, "readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname", |b| {
            b.set_namespace("network", Some(net.path()));
            b.set_namespace("uts", Some(uts.path()));
            if let Some(o) = b.spec.as_object_mut() {
                o.remove("hostname");
            }
        });
        assert_eq!(out, format!("net:[{}]\nuts:[{}]\njoined-uts\n", net.inode(), uts.inode()));
    }
}

scenario! {
    /// A user namespace with uid/gid mappings: root inside is the mapped
    /// host uid, files of the (chowned) rootfs belong to root inside.
    fn user_namespace_mappings(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.map_user_namespace(100000, 65536);
        // cgroupfs cannot be mounted from a user namespace that does not own
        // the cgroup namespace on v1: leave it out.
        b.remove_mount("/sys/fs/cgroup");
        b.set_script("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c '%u:%g' /bin/busybox /home/user; touch /out/made-by-root");
        let text = run_ok(rt, &b);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["0", "100000", "65536"], "{text}");
        assert_eq!(lines[1], ["0", "100000", "65536"], "{text}");
        assert_eq!(&lines[2..], [vec!["0"], vec!["0"], vec!["0:0"], vec!["1000:1000"]], "{text}");
        use std::os::unix::fs::MetadataExt;
        let made = std::fs::metadata(out.path().join("made-by-root")).expect("file made in the container");
        assert_eq!((made.uid(), made.gid()), (100000, 100000), "container root is host uid 100000");
    }
}

scenario! {
    /// With a cgroup namespace the container's cgroup paths are "/".
    fn cgroup_namespace(rt) {
        let out = run_script(rt, "cat /proc/self/cgroup", |b| {
            b.set_namespace("cgroup", None);
        });
        for line in out.lines() {
            let path = line.splitn(3, ':').nth(2).expect("path");
            assert_eq!(path, "/", "{out}");
        }
        let out = run_script(rt, "cat /proc/self/cgroup", |_| {});
        assert!(out.lines().any(|l| l.ends_with("berth-t-") || l.contains("/berth-t-")), "without a cgroup ns the container's cgroup path shows: {out}");
    }
}

scenario! {
    /// A time namespace with offsets shifts CLOCK_BOOTTIME and
    /// CLOCK_MONOTONIC for the container only.
    fn time_namespace_offsets(rt) {
        if lacks(rt, &[Kind::Runc], "runc 1.1.5 has no time namespace (\"namespace {time} does not exist\")")
            || lacks(rt, &[Kind::Crun], "crun 1.8.1 fails to create a time namespace (\"write to sync socket: Connection reset by peer\")")
        {
            return;
        }
        let year = 365 * 24 * 3600u64;
        let out = run_script(rt, "cat /proc/uptime", |b| {
            b.set_namespace("time", None);
            b.linux_mut()["timeOffsets"] = serde_json::json!({
                "boottime": {"secs": year, "nanosecs": 0},
                "monotonic": {"secs": year, "nanosecs": 0}
            });
        });
        let inside: f64 = out.split_whitespace().next().expect("uptime").parse().expect("float");
        let host: f64 = std::fs::read_to_string("/proc/uptime").expect("uptime")
            .split_whitespace().next().expect("uptime").parse().expect("float");
        assert!(inside > host + year as f64 - 60.0, "inside {inside}, host {host}");
    }
}

scenario! {
    /// sysctl: namespaced keys are set inside only.
    fn sysctl(rt) {
        let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read");
        let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").expect("read");
        let flip = |v: &str| if v.trim() == "1" { "0" } else { "1" };
        let (fwd, shm) = (flip(&host_fwd), flip(&host_shm));
        let out = run_script(rt, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced", |b| {
            b.linux_mut()["sysctl"] = serde_json::json!({
                "net.ipv4.ip_forward": fwd,
                "kernel.shm_rmid_forced": shm
            });
        });
        assert_eq!(out, format!("{fwd}\n{shm}\n"));
        assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read"), host_fwd);
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").expect("read"), host_shm);
    }
}

scenario! {
    /// A sysctl of a namespace the container does not own is refused (here:
    /// net.* without a network namespace would change the host).
    fn sysctl_outside_own_namespace_is_refused(rt) {
        let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read");
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.remove_namespace("network");
        b.linux_mut()["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": if host_fwd.trim() == "1" { "0" } else { "1" }});
        let mut c = berth_test_support::Container::new(rt, &b);
        let out = c.run(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &["net.ipv4.ip_forward"]);
        c.assert_no_leaks();
        assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read"), host_fwd, "host sysctl changed");
    }
}

scenario! {
    /// hostname without a private uts namespace is refused (it would rename
    /// the host).
    fn hostname_without_uts_namespace_is_refused(rt) {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.remove_namespace("uts");
        b.spec["hostname"] = serde_json::json!("not-the-host");
        let mut c = berth_test_support::Container::new(rt, &b);
        let out = c.run(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &["hostname", "uts"]);
        c.assert_no_leaks();
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"), host_name);
    }
}
