//! Regression tests for the escapes runc learned about the hard way, each
//! named after what it guards.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind, Runtime};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

/// CVE-2019-5736: a container process that gets hold of the runtime's
/// binary through /proc/<pid>/exe (while the runtime's init runs in the
/// container's pid namespace) reopens it for writing once the runtime has
/// exec'd away, and overwrites the host binary. (A failed `exec 3<` would
/// end the shell, hence the trial open in a subshell first.)
///
/// Here: container A is created (its init is the runtime, blocked before
/// exec); container B joins A's pid namespace and opens /proc/1/exe; A is
/// started; B then writes through /proc/self/fd/3. The runtime under test is
/// a copy of the real binary, so a failed defence damages only the copy,
/// and the copy must be byte-for-byte unchanged.
fn cve_2019_5736(rt: &Runtime) {
    let dir = berth_test_support::temp_dir("rtcopy-");
    let copy = dir.path().join(rt.binary().file_name().expect("binary name"));
    std::fs::copy(rt.binary(), &copy).expect("copy runtime binary");
    let original = std::fs::read(&copy).expect("read copy");
    let rt2 = Runtime::with_binary(rt.kind(), copy.clone());

    let mut victim_bundle = Bundle::busybox();
    victim_bundle.set_args(&["sleep", "100"]);
    let mut victim = Container::new(&rt2, &victim_bundle);
    victim.create(&[]).assert_ok();
    let victim_pid = victim.state_json()["pid"].as_i64().expect("pid");

    let mut b = Bundle::busybox();
    let out = out_dir(&mut b);
    let pidns = format!("/proc/{victim_pid}/ns/pid");
    b.set_namespace("pid", Some(Path::new(&pidns)));
    b.set_script(
        "echo \"exe: $(readlink /proc/1/exe 2>&1)\" >> /out/log; \
         if (exec 3< /proc/1/exe) 2>>/out/log; then exec 3< /proc/1/exe; echo opened >> /out/log; else echo open-refused >> /out/log; fi; \
         (echo direct >> /proc/1/exe) 2>> /out/log && echo direct-write-ok >> /out/log; \
         echo ready > /out/ready; \
         while [ ! -e /out/go ]; do sleep 0.05; done; \
         if [ -e /proc/self/fd/3 ]; then (echo PWNED > /proc/self/fd/3) 2>>/out/log && echo fd-write-ok >> /out/log; fi; \
         echo done > /out/done; exec sleep 100",
    );
    let mut attacker = Container::new(&rt2, &b);
    attacker.run(&["--detach"]).assert_ok();
    assert!(
        wait_for_file(&out.path().join("ready"), Duration::from_secs(10)),
        "attacker did not get ready: status {:?}, log {:?}, stderr {}",
        attacker.status(),
        std::fs::read_to_string(out.path().join("log")),
        attacker.stderr()
    );
    victim.start().assert_ok();
    assert_eq!(victim.wait_status("running", Duration::from_secs(5)).as_deref(), Some("running"));
    std::fs::write(out.path().join("go"), "").expect("go");
    assert!(wait_for_file(&out.path().join("done"), Duration::from_secs(10)), "attacker did not finish");
    let log = std::fs::read_to_string(out.path().join("log")).unwrap_or_default();
    eprintln!("{}: attacker log:\n{log}", rt.name());
    assert!(log.contains("opened") || log.contains("open-refused"), "the attack did not run: {log}");
    let now = std::fs::read(&copy).expect("read copy");
    assert!(now == original, "{}: the runtime binary was overwritten from inside a container: {log}", rt.name());
    attacker.delete_force().assert_ok();
    victim.delete_force().assert_ok();
    attacker.assert_no_leaks();
    victim.assert_no_leaks();
}

scenario! {
    fn cve_2019_5736_runtime_binary_is_not_writable(rt) {
        cve_2019_5736(rt);
    }
}

scenario! {
    /// CVE-2024-21626: no host fd reaches the container, and a cwd of
    /// /proc/self/fd/N (a leaked directory fd) cannot put the process
    /// outside its root — neither for the init process nor for exec.
    fn cve_2024_21626_no_host_fd_or_cwd_leaks(rt) {
        let out = run_script(rt, "ls -l /proc/1/fd; true", |_| {});
        let fds: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).collect();
        assert_eq!(fds.len(), 3, "only 0, 1, 2 may be open: {out}");

        let escaped = |out: &str| out.contains("ESCAPED");
        for n in 3..=12 {
            let mut b = Bundle::busybox();
            std::fs::write(b.path().join("HOST_MARKER"), "host\n").expect("marker");
            let marker = format!(".{}/HOST_MARKER", b.path().display());
            b.set_cwd(&format!("/proc/self/fd/{n}"));
            b.set_script(&format!("cd ../../../../../../../../../..; cat {marker} >/dev/null 2>&1 && echo ESCAPED; pwd"));
            let r = run(rt, &b);
            assert!(!escaped(&r.stdout), "{}: cwd /proc/self/fd/{n} reached the host: {r:?}", rt.name());
        }

        let mut b = Bundle::busybox();
        std::fs::write(b.path().join("HOST_MARKER"), "host\n").expect("marker");
        let marker = format!(".{}/HOST_MARKER", b.path().display());
        b.set_args(&["sleep", "100"]);
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        for n in 3..=12 {
            let cwd = format!("/proc/self/fd/{n}");
            let r = c.exec(&["--cwd", &cwd], &["/bin/sh", "-c", &format!("cd ../../../../../../../../../..; cat {marker} >/dev/null 2>&1 && echo ESCAPED; true")]);
            assert!(!escaped(&r.stdout()), "{}: exec --cwd {cwd} reached the host: {}", rt.name(), r.describe());
        }
        let fds = c.exec(&[], &["/bin/sh", "-c", "ls -l /proc/$$/fd; true"]).assert_ok().stdout();
        assert_eq!(fds.lines().filter(|l| l.contains(" -> ")).count(), 3, "exec'd process has extra fds: {fds}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// A mount destination that goes through a symlink pointing out of the
    /// rootfs (absolute or ../..) is resolved inside the rootfs: nothing is
    /// created or mounted on the host.
    fn mount_destination_symlink_cannot_escape_rootfs(rt) {
        let host = berth_test_support::temp_dir("escape-target-");
        let h = host.path().to_str().expect("utf-8");
        let mut b = Bundle::busybox();
        b.spec["root"]["readonly"] = serde_json::json!(false);
        symlink(h, b.rootfs_path("evil-abs")).expect("symlink");
        symlink(format!("../../../../../../../../..{h}"), b.rootfs_path("evil-rel")).expect("symlink");
        let src = berth_test_support::temp_dir("escape-src-");
        std::fs::write(src.path().join("file"), "x").expect("write");
        b.add_mount("/evil-abs/tmpfs-here", "tmpfs", "tmpfs", &["size=1m"]);
        b.add_bind(src.path(), "/evil-rel/bind-here", &[]);
        b.add_bind(&src.path().join("file"), "/evil-abs/file-here", &[]);
        b.set_script(&format!("stat -f -c %T {h}/tmpfs-here; cat {h}/bind-here/file {h}/file-here"));
        let mut c = Container::new(rt, &b);
        let r = c.run(&[]);
        eprintln!("{}: {}", rt.name(), r.describe());
        let r = Ran { code: r.code(), stdout: r.stdout(), stderr: r.stderr() };
        c.assert_no_leaks();
        let left: Vec<_> = std::fs::read_dir(host.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "{}: mount targets were created outside the rootfs: {left:?}", rt.name());
        // runc resolves the symlinks inside the rootfs and mounts there; crun
        // refuses (it resolves in root but does not create the missing
        // directories behind the link). berth must do what runc does.
        if rt.kind() == Kind::Crun && r.code != Some(0) {
            eprintln!("NOTE crun: refuses mount destinations through symlinks whose in-root target is missing");
            return;
        }
        assert_eq!(r.code, Some(0), "{}: {r:?}", rt.name());
        assert_eq!(r.stdout, "tmpfs\nxx", "{}: the mounts must land inside the rootfs", rt.name());
    }
}

scenario! {
    /// A cwd that goes through a symlink pointing out of the rootfs is
    /// resolved inside the rootfs.
    fn cwd_symlink_cannot_escape_rootfs(rt) {
        // On the host's disk, not under /dev (which is a tmpfs inside the
        // container), so that its in-root twin is on the rootfs.
        let host = tempfile::Builder::new().prefix("berth-cwd-target-").tempdir_in("/tmp").expect("tempdir");
        std::fs::write(host.path().join("HOST_ONLY"), "x").expect("marker");
        let h = host.path().to_str().expect("utf-8");
        for (link, target) in [("work-abs", h.to_string()), ("work-rel", format!("../../../../../../../../..{h}"))] {
            for in_root_exists in [true, false] {
                let mut b = Bundle::busybox();
                b.spec["root"]["readonly"] = serde_json::json!(false);
                symlink(&target, b.rootfs_path(link)).expect("symlink");
                if in_root_exists {
                    b.write_file(&format!("{h}/newdir/IN_ROOT"), "", 0o644);
                }
                b.set_cwd(&format!("/{link}/newdir"));
                b.set_script("ls; pwd -P");
                let mut c = Container::new(rt, &b);
                let r = c.run(&[]);
                let r = Ran { code: r.code(), stdout: r.stdout(), stderr: r.stderr() };
                assert!(!r.stdout.contains("HOST_ONLY"), "{}: cwd via {link} reached the host: {r:?}", rt.name());
                c.assert_no_leaks();
                let left: Vec<_> = std::fs::read_dir(host.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
                assert_eq!(left, ["HOST_ONLY"], "{}: the cwd was created outside the rootfs via {link}", rt.name());
                if in_root_exists {
                    // resolved in the container's root
                    assert_eq!(r.code, Some(0), "{}: {r:?}", rt.name());
                    assert_eq!(r.stdout, format!("IN_ROOT\n{h}/newdir\n"), "{}", rt.name());
                } else if r.code == Some(0) {
                    // a runtime may create the missing cwd, inside the root
                    assert_eq!(r.stdout, format!("{h}/newdir\n"), "{}", rt.name());
                    assert!(b.rootfs_path(&format!("{h}/newdir")).is_dir());
                } // runc and crun refuse a missing cwd behind a symlink
            }
        }
    }
}

scenario! {
    /// /proc must be a real procfs (CVE-2019-16884 / CVE-2019-19921 family):
    /// a bind mount of an ordinary directory over /proc is refused.
    fn proc_mount_target_must_be_procfs(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 accepts a bind mount of an ordinary directory on /proc") {
            return;
        }
        let fake = berth_test_support::temp_dir("fakeproc-");
        std::fs::create_dir_all(fake.path().join("self/attr")).expect("mkdir");
        let mut b = Bundle::busybox();
        b.remove_mount("/proc");
        b.add_bind(fake.path(), "/proc", &[]);
        b.set_args(&["true"]);
        let mut c = Container::new(rt, &b);
        let r = c.run(&[]);
        let (code, stderr) = (r.code(), r.stderr());
        assert_clean_error(rt, code, &stderr, &["/proc"]);
        c.assert_no_leaks();
    }
}

scenario! {
    /// /proc in the rootfs being a symlink is refused (procfs would be
    /// mounted wherever it points).
    fn proc_mount_over_symlink_is_refused(rt) {
        let mut b = Bundle::busybox();
        std::fs::remove_dir(b.rootfs_path("proc")).expect("rmdir proc");
        std::fs::create_dir(b.rootfs_path("elsewhere")).expect("mkdir");
        symlink("/elsewhere", b.rootfs_path("proc")).expect("symlink");
        b.set_args(&["true"]);
        let mut c = Container::new(rt, &b);
        let r = c.run(&[]);
        eprintln!("{}: {}", rt.name(), r.describe());
        let (code, stderr) = (r.code(), r.stderr());
        if code == Some(0) {
            // Accepted only if procfs did not land on the symlink's target.
            assert!(std::fs::read_dir(b.rootfs_path("elsewhere")).expect("ls").next().is_none());
        } else {
            assert_clean_error(rt, code, &stderr, &["/proc"]);
        }
        c.assert_no_leaks();
    }
}
