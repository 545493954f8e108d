//! /dev: default devices and symlinks, linux.devices, and the /proc and /sys
//! hardening of maskedPaths and readonlyPaths.

use crate::support::*;
use berth_test_support::Bundle;

scenario! {
    /// The default devices of config-linux.md exist as the right char
    /// devices, with the /dev symlinks.
    fn default_devices(rt) {
        let out = run_script(
            rt,
            "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
             for l in fd stdin stdout stderr ptmx; do echo /dev/$l $(readlink /dev/$l); done; \
             stat -c '%F' /dev/pts; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/null && echo null-ok; \
             echo x > /dev/full 2>/dev/null || echo full-refused",
            |_| {},
        );
        let want = "\
/dev/null character special file 1:3 666
/dev/zero character special file 1:5 666
/dev/full character special file 1:7 666
/dev/random character special file 1:8 666
/dev/urandom character special file 1:9 666
/dev/tty character special file 5:0 666
/dev/fd /proc/self/fd
/dev/stdin /proc/self/fd/0
/dev/stdout /proc/self/fd/1
/dev/stderr /proc/self/fd/2
/dev/ptmx pts/ptmx
directory
 00 00 00 00
null-ok
full-refused
";
        assert_eq!(out, want);
    }
}

scenario! {
    /// /dev holds the default devices, symlinks and mount points, and
    /// nothing of the host's /dev.
    fn dev_listing(rt) {
        let out = run_script(rt, "ls -a /dev", |_| {});
        let mut names: Vec<&str> = out.split_whitespace().filter(|n| *n != "." && *n != "..").collect();
        // crun also links /dev/core -> /proc/kcore (a docker habit); both
        // are fine, the spec neither requires nor forbids it.
        names.retain(|n| *n != "core");
        names.sort();
        assert_eq!(
            names,
            ["fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"]
        );
    }
}

scenario! {
    /// A device from linux.devices, with fileMode, uid and gid, usable when
    /// the device cgroup allows it.
    fn spec_devices(rt) {
        let out = run_script(
            rt,
            "stat -c '%n %F %t:%T %a %u:%g' /dev/mynull /dev/sub/myzero; echo data > /dev/sub/myzero && echo write-ok; \
             head -c 2 /dev/sub/myzero | od -An -tx1",
            |b| {
                b.linux_mut()["devices"] = serde_json::json!([
                    {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 100},
                    {"path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600, "uid": 0, "gid": 0}
                ]);
                b.linux_mut()["resources"]["devices"] = serde_json::json!([
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
                ]);
            },
        );
        assert_eq!(
            out,
            "/dev/mynull character special file 1:3 640 1000:100\n\
             /dev/sub/myzero character special file 1:5 600 0:0\n\
             write-ok\n 00 00\n"
        );
    }
}

scenario! {
    /// maskedPaths: files read empty (writes go nowhere), directories are
    /// empty; the default list plus paths of our own; a missing path is
    /// skipped.
    fn masked_paths(rt) {
        let mut b = Bundle::busybox();
        b.write_file("/secret/file", "secret\n", 0o644);
        b.write_file("/secret-dir/inner", "secret\n", 0o644);
        let masked = b.linux_mut()["maskedPaths"].as_array_mut().expect("default maskedPaths");
        masked.push(serde_json::json!("/secret/file"));
        masked.push(serde_json::json!("/secret-dir"));
        masked.push(serde_json::json!("/does/not/exist"));
        b.set_script(
            "wc -c < /secret/file; ls -A /secret-dir | wc -l; wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; \
             ls -A /sys/firmware | wc -l; wc -c < /proc/keys; echo x > /secret/file; cat /secret/file | wc -c",
        );
        let r = run(rt, &b);
        let out = r.stdout;
        assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "0", "0", "0", "0", "0"], "{out}\nstderr: {}", r.stderr);
        assert_eq!(std::fs::read_to_string(b.rootfs_path("/secret/file")).expect("read"), "secret\n");
    }
}

scenario! {
    /// readonlyPaths: readable, not writable, even for root with
    /// CAP_SYS_ADMIN.
    fn readonly_paths(rt) {
        let mut b = Bundle::busybox();
        let out_host = out_dir(&mut b);
        std::fs::create_dir(out_host.path().join("ro")).expect("mkdir");
        std::fs::write(out_host.path().join("ro/f"), "keep\n").expect("write");
        b.linux_mut()["readonlyPaths"].as_array_mut().expect("readonlyPaths").push(serde_json::json!("/out/ro"));
        for set in ["bounding", "effective", "permitted"] {
            b.set_caps(set, &["CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE"]);
        }
        b.set_script(
            "cat /out/ro/f; echo x > /out/ro/f 2>/dev/null || echo file-refused; \
             echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null || echo proc-sys-refused; \
             touch /out/rw-ok && echo rw-ok; grep -E ' /proc/sys | /out/ro ' /proc/self/mountinfo | cut -d' ' -f5,6",
        );
        let out = run_ok(rt, &b);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("keep"));
        assert_eq!(lines.next(), Some("file-refused"));
        assert_eq!(lines.next(), Some("proc-sys-refused"));
        assert_eq!(lines.next(), Some("rw-ok"));
        for l in lines {
            let (mp, opts) = l.split_once(' ').expect("two fields");
            assert!(opts.split(',').any(|o| o == "ro"), "{mp} not ro: {opts}");
        }
        assert_eq!(std::fs::read_to_string(out_host.path().join("ro/f")).expect("read"), "keep\n");
    }
}
