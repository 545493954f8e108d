//! config.json root and mounts, checked in the container's own
//! /proc/self/mountinfo.

use crate::support::*;
use berth_test_support::leaks::{MountInfo, parse_mountinfo};
use berth_test_support::{Bundle, Kind, Runtime};
use std::path::{Path, PathBuf};

/// Runs `cat /proc/self/mountinfo` (after `script`) and parses it.
fn mounts_inside(rt: &Runtime, b: &mut Bundle, script: &str) -> (Vec<MountInfo>, String) {
    b.set_script(&format!("{script}; echo ---mountinfo---; cat /proc/self/mountinfo"));
    let out = run_ok(rt, b);
    let (before, mi) = out.split_once("---mountinfo---\n").expect("marker");
    (parse_mountinfo(mi), before.to_string())
}

#[track_caller]
fn find<'a>(mounts: &'a [MountInfo], mount_point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .unwrap_or_else(|| panic!("{mount_point} not mounted: {mounts:#?}"))
}

/// A host directory with one file in it.
fn host_dir(name: &str) -> tempfile::TempDir {
    let d = berth_test_support::temp_dir(name);
    std::fs::write(d.path().join("file"), "host file\n").expect("write");
    std::fs::write(d.path().join("run.sh"), "#!/bin/sh\necho executed\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

/// A tmpfs mounted on the host for the duration of a test; detached on drop.
struct HostMount {
    path: PathBuf,
}

impl HostMount {
    fn tmpfs(path: &Path, shared: bool) -> HostMount {
        std::fs::create_dir_all(path).expect("mkdir");
        berth_test_support::process::sh(&format!("mount -t tmpfs -o size=1m tmpfs {}", path.display()));
        let m = HostMount { path: path.to_path_buf() };
        if shared {
            berth_test_support::process::sh(&format!("mount --make-shared {}", path.display()));
        }
        m
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
    }
}

scenario! {
    /// root.readonly: "/" is mounted ro and cannot be written; with
    /// readonly false it can.
    fn root_readonly(rt) {
        let mut b = Bundle::busybox();
        let (m, out) = mounts_inside(rt, &mut b, "touch /written 2>&1 && echo wrote || echo refused");
        assert!(find(&m, "/").has_option("ro"));
        assert!(out.contains("refused"), "{out}");
        assert!(!b.rootfs_path("written").exists());

        let mut b = Bundle::busybox();
        b.spec["root"]["readonly"] = serde_json::json!(false);
        let (m, out) = mounts_inside(rt, &mut b, "touch /written && echo wrote");
        assert!(find(&m, "/").has_option("rw"));
        assert_eq!(out.trim(), "wrote");
        assert!(b.rootfs_path("written").exists());
    }
}

scenario! {
    /// root.path may be absolute and outside the bundle.
    fn root_path_absolute(rt) {
        let elsewhere = Bundle::busybox();
        let mut b = Bundle::busybox();
        std::fs::remove_dir_all(b.rootfs()).expect("rm own rootfs");
        elsewhere.write_file("/etc/which", "elsewhere\n", 0o644);
        b.spec["root"]["path"] = serde_json::json!(elsewhere.rootfs().to_str().expect("utf-8"));
        let (m, out) = mounts_inside(rt, &mut b, "cat /etc/which");
        assert_eq!(out, "elsewhere\n");
        assert!(find(&m, "/").has_option("ro"));
    }
}

scenario! {
    /// Bind mounts with ro, nosuid, nodev, noexec take effect.
    fn bind_mount_options(rt) {
        let host = host_dir("bind-");
        let mut b = Bundle::busybox();
        b.add_bind(host.path(), "/b/plain", &[]);
        b.add_bind(host.path(), "/b/ro", &["ro"]);
        b.add_bind(host.path(), "/b/nosuid", &["nosuid"]);
        b.add_bind(host.path(), "/b/nodev", &["nodev"]);
        b.add_bind(host.path(), "/b/noexec", &["noexec"]);
        let (m, out) = mounts_inside(
            rt,
            &mut b,
            "cat /b/plain/file; echo x > /b/plain/new && echo plain-writable; \
             echo x > /b/ro/new2 2>/dev/null || echo ro-refused; \
             /b/plain/run.sh; /b/noexec/run.sh 2>/dev/null || echo noexec-refused",
        );
        assert_eq!(out, "host file\nplain-writable\nro-refused\nexecuted\nnoexec-refused\n");
        assert!(host.path().join("new").exists() && !host.path().join("new2").exists());
        let plain = find(&m, "/b/plain");
        assert!(plain.has_option("rw") && !plain.has_option("nosuid") && !plain.has_option("noexec"), "{plain:?}");
        assert!(find(&m, "/b/ro").has_option("ro"));
        assert!(find(&m, "/b/nosuid").has_option("nosuid"));
        assert!(find(&m, "/b/nodev").has_option("nodev"));
        assert!(find(&m, "/b/noexec").has_option("noexec"));
    }
}

scenario! {
    /// relatime, strictatime and noatime on bind mounts.
    fn atime_options(rt) {
        let host = host_dir("atime-");
        let mut b = Bundle::busybox();
        b.add_bind(host.path(), "/a/rel", &["relatime"]);
        b.add_bind(host.path(), "/a/strict", &["strictatime"]);
        b.add_bind(host.path(), "/a/no", &["noatime"]);
        let (m, _) = mounts_inside(rt, &mut b, "true");
        let rel = find(&m, "/a/rel");
        assert!(rel.has_option("relatime"), "{rel:?}");
        let strict = find(&m, "/a/strict");
        assert!(!strict.has_option("relatime") && !strict.has_option("noatime"), "{strict:?}");
        let no = find(&m, "/a/no");
        assert!(no.has_option("noatime"), "{no:?}");
    }
}

scenario! {
    /// bind copies one mount; rbind copies the mounts below it too.
    fn bind_versus_rbind(rt) {
        let host = host_dir("rbind-");
        let _sub = HostMount::tmpfs(&host.path().join("sub"), false);
        std::fs::write(host.path().join("sub/in-submount"), "").expect("write");
        let mut b = Bundle::busybox();
        b.add_mount("/nb", "bind", host.path().to_str().expect("utf-8"), &["bind"]);
        b.add_mount("/rb", "bind", host.path().to_str().expect("utf-8"), &["rbind"]);
        let (m, out) = mounts_inside(rt, &mut b, "ls /nb/sub; echo --; ls /rb/sub");
        assert_eq!(out, "--\nin-submount\n");
        assert!(m.iter().all(|x| x.mount_point != "/nb/sub"));
        assert_eq!(find(&m, "/rb/sub").fs_type, "tmpfs");
    }
}

scenario! {
    /// Mount propagation options show in the container's mountinfo.
    fn mount_propagation(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 leaves every bind mount private whatever its propagation option") {
            return;
        }
        let dir = berth_test_support::temp_dir("prop-");
        let shared_src = HostMount::tmpfs(&dir.path().join("src"), true);
        let src = shared_src.path.to_str().expect("utf-8");
        let mut b = Bundle::busybox();
        b.add_mount("/p/private", "bind", src, &["rbind", "rprivate"]);
        b.add_mount("/p/shared", "bind", src, &["rbind", "rshared"]);
        b.add_mount("/p/slave", "bind", src, &["rbind", "rslave"]);
        b.add_mount("/p/unbindable", "bind", src, &["rbind", "runbindable"]);
        let (m, _) = mounts_inside(rt, &mut b, "true");
        let got: Vec<(&str, String)> = ["private", "shared", "slave", "unbindable"]
            .into_iter()
            .map(|p| (p, find(&m, &format!("/p/{p}")).propagation()))
            .collect();
        eprintln!("{}: {got:?}", rt.name());
        for (want, prop) in &got {
            assert!(prop.split(',').any(|p| p == *want), "{want} mount shows {prop}: {got:?}");
        }
    }
}

scenario! {
    /// linux.rootfsPropagation applies to the container's "/".
    fn rootfs_propagation(rt) {
        for (prop, want) in [("shared", "shared"), ("private", "private"), ("unbindable", "unbindable")] {
            if prop != "private" && lacks(rt, &[Kind::Runc], &format!("runc 1.1.5 leaves the container's \"/\" private with rootfsPropagation {prop} (it applies it to the parent mount)")) {
                continue;
            }
            let mut b = Bundle::busybox();
            b.linux_mut()["rootfsPropagation"] = serde_json::json!(prop);
            let (m, _) = mounts_inside(rt, &mut b, "true");
            assert_eq!(find(&m, "/").propagation(), want, "rootfsPropagation {prop}");
        }
    }
}

scenario! {
    /// proc, sysfs (ro), tmpfs with size= and mode=, devpts newinstance with
    /// ptmxmode, mqueue, cgroup (ro).
    fn special_filesystems(rt) {
        let mut b = Bundle::busybox();
        b.add_mount("/t", "tmpfs", "tmpfs", &["nosuid", "size=1m", "mode=1770"]);
        let (m, out) = mounts_inside(rt, &mut b, "stat -c %a /t");
        assert_eq!(out, "1770\n");
        assert_eq!(find(&m, "/proc").fs_type, "proc");
        let sys = find(&m, "/sys");
        assert_eq!(sys.fs_type, "sysfs");
        assert!(sys.has_option("ro"), "{sys:?}");
        let t = find(&m, "/t");
        assert_eq!(t.fs_type, "tmpfs");
        assert!(t.has_option("nosuid"));
        assert!(t.super_options.split(',').any(|o| o == "size=1024k"), "{t:?}");
        assert!(t.super_options.split(',').any(|o| o == "mode=1770"), "{t:?}");
        let pts = find(&m, "/dev/pts");
        assert_eq!(pts.fs_type, "devpts");
        for o in ["ptmxmode=666", "mode=620", "gid=5"] {
            assert!(pts.super_options.split(',').any(|x| x == o), "{o} missing: {pts:?}");
        }
        assert_eq!(find(&m, "/dev/mqueue").fs_type, "mqueue");
        assert_eq!(find(&m, "/dev/shm").fs_type, "tmpfs");
        let cgroups: Vec<&MountInfo> = m.iter().filter(|x| x.fs_type == "cgroup" || x.fs_type == "cgroup2").collect();
        assert!(!cgroups.is_empty(), "no cgroup mounts under /sys/fs/cgroup");
        for cg in cgroups {
            assert!(cg.mount_point.starts_with("/sys/fs/cgroup"), "{cg:?}");
            assert!(cg.has_option("ro"), "cgroup mount not ro: {cg:?}");
        }
    }
}

scenario! {
    /// The devpts instance is the container's own: a pty opened inside does
    /// not appear in the host's /dev/pts.
    fn devpts_is_a_new_instance(rt) {
        let before: Vec<_> = std::fs::read_dir("/dev/pts").expect("ls").flatten().map(|e| e.file_name()).collect();
        let out = run_script(rt, "ls /dev/pts", |_| {});
        let inside: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(inside, ["ptmx"], "fresh devpts has only ptmx: {out}");
        assert!(before.iter().any(|n| n != "ptmx") || inside.len() == 1);
    }
}

scenario! {
    /// A mount whose destination does not exist in the rootfs is created
    /// (directories for dirs, a file for a file bind).
    fn mount_targets_are_created(rt) {
        let host = host_dir("target-");
        let mut b = Bundle::busybox();
        b.spec["root"]["readonly"] = serde_json::json!(false);
        b.add_bind(host.path(), "/new/deep/dir", &[]);
        b.add_bind(&host.path().join("file"), "/new/file-target", &[]);
        let (_, out) = mounts_inside(rt, &mut b, "cat /new/deep/dir/file /new/file-target");
        assert_eq!(out, "host file\nhost file\n");
        assert!(b.rootfs_path("new/deep/dir").is_dir());
        assert!(b.rootfs_path("new/file-target").is_file());
    }
}

