//! The whole view from inside, compared across runtimes: berth against runc,
//! runc against crun, crun against runc. Identity, umask, cwd, hostname, env,
//! `ulimit -a`, /proc/self/status (capabilities, NoNewPrivs, Seccomp,
//! Cpus_allowed, ids), `ls -lan /dev`, the mount table and a few sysctls.
//!
//! Normalised where the references legitimately differ:
//! - mountinfo: ids, device numbers and superblock options dropped; sorted by
//!   mount point; a masked file (a bind of some /dev/null) shows as
//!   `masked-file`, whatever filesystem the null device lives on (runc binds
//!   the container's /dev/null, crun the host's); cgroup mounts lose their
//!   root (runc nests relative cgroup paths under its own cgroup, crun does
//!   not); `relatime` is dropped (the kernel default, shown or not).
//! - /dev: crun's extra `/dev/core` symlink and the size of `/dev` itself;
//!   the owner of /dev/null (crun chowns it to the process user).
//! - the root mount's source path (each run has its own bundle).

use crate::support::*;
use berth_test_support::leaks::parse_mountinfo;
use berth_test_support::{Bundle, Kind, Runtime};

const SCRIPT: &str = r#"id; umask; pwd; hostname; env | grep -v -e ^PWD= -e ^SHLVL= | sort
echo ---ulimit; ulimit -a
echo ---status; grep -E '^(Cap|NoNewPrivs|Seccomp|Cpus_allowed|Uid|Gid|Groups|Umask)' /proc/self/status
echo ---dev; ls -lan /dev | sed 1d | awk '$NF != "." && $NF != ".." && $NF != "/proc/kcore" && $NF != "core" {print $1, $3, $4, $5, $6, $NF}'
echo ---sysctl; for k in net/ipv4/ip_forward kernel/shm_rmid_forced kernel/domainname kernel/hostname; do echo "$k $(cat /proc/sys/$k)"; done
echo ---mountinfo; cat /proc/self/mountinfo"#;

fn view(rt: &Runtime, edit: &dyn Fn(&mut Bundle)) -> Vec<String> {
    let mut b = Bundle::busybox();
    edit(&mut b);
    b.set_script(SCRIPT);
    let out = run_ok(rt, &b);
    let (head, mi) = out.split_once("---mountinfo\n").expect("mountinfo marker");
    let mut lines: Vec<String> = head
        .lines()
        .map(|l| {
            // crun chowns /dev/null to the process user; runc leaves it root's
            match l.strip_suffix(" 1, 3 null") {
                Some(pre) => format!("{} uid gid 1, 3 null", pre.split(' ').next().unwrap_or("")),
                None => l.to_owned(),
            }
        })
        .collect();
    let mut mounts: Vec<String> = parse_mountinfo(mi)
        .into_iter()
        .map(|m| {
            let opts: Vec<&str> = m.mount_options.split(',').filter(|o| *o != "relatime").collect();
            let opts = opts.join(",");
            if m.mount_point == "/" {
                format!("mount / {} {}", m.fs_type, opts)
            } else if m.root.ends_with("/null") || m.root == "/null" {
                format!("mount {} masked-file", m.mount_point)
            } else if m.fs_type == "cgroup" || m.fs_type == "cgroup2" {
                format!("mount {} {} {}", m.mount_point, m.fs_type, opts)
            } else {
                format!("mount {} {} {} {}", m.mount_point, m.fs_type, m.root, opts)
            }
        })
        .collect();
    mounts.sort();
    lines.extend(mounts);
    lines
}

fn reference_for(rt: &Runtime) -> Runtime {
    let kind = if rt.kind() == Kind::Runc { Kind::Crun } else { Kind::Runc };
    Runtime::new(kind, berth_bin())
}

#[track_caller]
fn assert_same_view(rt: &Runtime, edit: &dyn Fn(&mut Bundle)) {
    let reference = reference_for(rt);
    let want = view(&reference, edit);
    let got = view(rt, edit);
    if got != want {
        let mut diff = String::new();
        for l in &want {
            if !got.contains(l) {
                diff.push_str(&format!("- {l}\n"));
            }
        }
        for l in &got {
            if !want.contains(l) {
                diff.push_str(&format!("+ {l}\n"));
            }
        }
        panic!(
            "{} sees a different container than {} (- {} only, + {} only):\n{diff}",
            rt.name(),
            reference.name(),
            reference.name(),
            rt.name()
        );
    }
}

scenario! {
    /// The default config (runc spec's) looks the same from inside.
    fn default_view_matches_reference(rt) {
        assert_same_view(rt, &|_| {});
    }
}

scenario! {
    /// A config using many fields at once looks the same from inside.
    fn rich_view_matches_reference(rt) {
        assert_same_view(rt, &|b: &mut Bundle| {
            b.set_user(1000, 1000, &[10, 100]);
            b.process_mut()["user"]["umask"] = serde_json::json!(0o077);
            b.set_cwd("/home/user");
            b.set_env(&["PATH=/bin:/usr/bin", "HOME=/home/user", "LANG=C.UTF-8"]);
            b.spec["hostname"] = serde_json::json!("rich");
            for set in ["bounding", "permitted", "effective", "inheritable", "ambient"] {
                b.set_caps(set, &["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
            }
            b.process_mut()["rlimits"] = serde_json::json!([
                {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
                {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608}
            ]);
            b.process_mut()["noNewPrivileges"] = serde_json::json!(false);
            b.add_mount("/scratch", "tmpfs", "tmpfs", &["nosuid", "nodev", "noexec", "size=2m", "mode=700"]);
            b.add_mount("/run/lock", "tmpfs", "tmpfs", &["ro", "size=64k"]);
            b.linux_mut()["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"});
            b.linux_mut()["maskedPaths"].as_array_mut().expect("maskedPaths").push(serde_json::json!("/etc/group"));
            b.set_namespace("cgroup", None);
        });
    }
}

scenario! {
    /// Making a readonlyPath read-only keeps the mount's nosuid, nodev and
    /// noexec.
    fn readonly_path_keeps_mount_flags(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 drops nosuid/nodev/noexec when it remounts a readonlyPath ro") {
            return;
        }
        let out = run_script(rt, "cat /proc/self/mountinfo", |b| {
            b.add_mount("/scratch", "tmpfs", "tmpfs", &["nosuid", "nodev", "noexec", "size=2m"]);
            b.linux_mut()["readonlyPaths"].as_array_mut().expect("readonlyPaths").push(serde_json::json!("/scratch"));
        });
        let all = parse_mountinfo(&out);
        let at: Vec<_> = all.iter().filter(|m| m.mount_point == "/scratch").collect();
        // the visible one: not the parent of another mount on /scratch
        let top = at
            .iter()
            .find(|m| !at.iter().any(|o| o.parent_id == m.mount_id))
            .unwrap_or_else(|| panic!("/scratch not mounted: {out}"));
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(top.has_option(o), "{o} missing on /scratch: {top:?}");
        }
    }
}
