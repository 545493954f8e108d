//! seccomp (issue #3): errnoRet and defaultErrnoRet, argument filters,
//! Docker's default profile, unknown syscall names, the filter installed
//! with and without noNewPrivileges (also for a non-root user, where the
//! runtime must install it while it still holds CAP_SYS_ADMIN). Malformed
//! profiles are in `bad_input`. What is checked is what the kernel does:
//! the errno a syscall fails with, `Seccomp:`/`NoNewPrivs:` in
//! /proc/self/status.

use crate::support::*;
use berth_test_support::Bundle;
use serde_json::{Value, json};

const ARCHES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];

/// A profile allowing everything but `rules`.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": rules})
}

/// Docker's default profile (profiles/seccomp/default.json) resolved for
/// the bundle's bounding set, as an OCI `linux.seccomp` value.
fn docker_default(b: &Bundle) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/seccomp/default.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let profile = berth_seccomp::DockerProfile::from_json(&text).expect("default.json parses");
    let caps: Vec<String> = b.spec["process"]["capabilities"]["bounding"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    serde_json::to_value(profile.resolve(&caps)).expect("serialize LinuxSeccomp")
}

fn with_tmp(b: &mut Bundle) {
    b.add_mount("/tmp", "tmpfs", "tmpfs", &["size=1m"]);
}

scenario! {
    /// errnoRet picks the errno of a rule (ENOSPC for mkdir here) and a
    /// rule without errnoRet fails with EPERM; other syscalls work.
    fn errno_ret(rt) {
        let out = run_script(
            rt,
            "mkdir /tmp/a 2>&1; rmdir /tmp 2>&1; touch /tmp/f && echo touch-ok",
            |b| {
                with_tmp(b);
                b.linux_mut()["seccomp"] = allow_all_but(json!([
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
                    {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}
                ]));
            },
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].contains("No space left on device"), "mkdir must fail with errnoRet 28 (ENOSPC): {out}");
        assert!(lines[1].contains("Operation not permitted"), "rmdir without errnoRet fails with EPERM: {out}");
        assert_eq!(lines[2], "touch-ok");
    }
}

scenario! {
    /// defaultErrnoRet is the errno of the default action: Docker's default
    /// profile with mkdir removed from its allow list and defaultErrnoRet
    /// ENOSPC makes mkdir fail with ENOSPC; the rest of busybox still works.
    fn default_errno_ret(rt) {
        let out = run_script(rt, "mkdir /tmp/a 2>&1; touch /tmp/f && ls /tmp && echo ok", |b| {
            with_tmp(b);
            let mut p = docker_default(b);
            p["defaultErrnoRet"] = json!(28);
            for rule in p["syscalls"].as_array_mut().expect("syscalls") {
                if let Some(names) = rule["names"].as_array_mut() {
                    names.retain(|n| n != "mkdir" && n != "mkdirat");
                }
            }
            if let Some(rules) = p["syscalls"].as_array_mut() {
                rules.retain(|r| r["names"].as_array().is_some_and(|n| !n.is_empty()));
            }
            b.linux_mut()["seccomp"] = p;
        });
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.first().is_some_and(|l| l.contains("No space left on device")), "{out}");
        assert_eq!(&lines[1..], ["f", "ok"], "{out}");
    }
}

scenario! {
    /// Argument filters: chmod to exactly 0777 (SCMP_CMP_EQ) and any mode
    /// with the setuid bit (SCMP_CMP_MASKED_EQ) are denied; chmod 0755
    /// works.
    fn argument_filters(rt) {
        let rule = |name: &str, index: u32, value: u32, value_two: Option<u32>, op: &str| {
            let mut arg = json!({"index": index, "value": value, "op": op});
            if let Some(v2) = value_two {
                arg["valueTwo"] = json!(v2);
            }
            json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [arg]})
        };
        let out = run_script(
            rt,
            "touch /tmp/f; chmod 755 /tmp/f && echo 755-ok; chmod 777 /tmp/f 2>&1; chmod 4755 /tmp/f 2>&1; \
             chmod 700 /tmp/f && echo 700-ok; stat -c %a /tmp/f",
            |b| {
                with_tmp(b);
                b.linux_mut()["seccomp"] = allow_all_but(json!([
                    rule("chmod", 1, 0o777, None, "SCMP_CMP_EQ"),
                    rule("fchmodat", 2, 0o777, None, "SCMP_CMP_EQ"),
                    rule("chmod", 1, 0o4000, Some(0o4000), "SCMP_CMP_MASKED_EQ"),
                    rule("fchmodat", 2, 0o4000, Some(0o4000), "SCMP_CMP_MASKED_EQ"),
                ]));
            },
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert_eq!(lines[0], "755-ok");
        assert!(lines[1].contains("Operation not permitted"), "chmod 777: {out}");
        assert!(lines[2].contains("Operation not permitted"), "chmod 4755: {out}");
        assert_eq!(lines[3], "700-ok");
        assert_eq!(lines[4], "700");
    }
}

scenario! {
    /// Docker's default profile runs busybox normally (Seccomp: 2) and
    /// denies what it should: unshare(CLONE_NEWUSER) without CAP_SYS_ADMIN,
    /// which works without the profile (positive control).
    fn docker_default_profile(rt) {
        let script = "grep ^Seccomp: /proc/self/status; mkdir /tmp/d && touch /tmp/d/f && ls /tmp/d && \
                      ps -o pid,comm >/dev/null && date >/dev/null && echo busybox-ok; \
                      unshare -U true 2>&1 && echo userns-ok; exit 0";
        let out = run_script(rt, script, |b| {
            with_tmp(b);
            b.linux_mut()["seccomp"] = docker_default(b);
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.first().map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["Seccomp:", "2"]), "{out}");
        assert_eq!(lines.get(1..3), Some(&["f", "busybox-ok"][..]), "{out}");
        assert!(lines.get(3).is_some_and(|l| l.contains("Operation not permitted")), "unshare -U must be denied: {out}");
        assert_eq!(lines.len(), 4, "{out}");

        let out = run_script(rt, script, with_tmp);
        assert!(out.starts_with("Seccomp:\t0\n"), "{out}");
        assert!(out.ends_with("busybox-ok\nuserns-ok\n"), "without a profile unshare -U works: {out}");
    }
}

scenario! {
    /// Syscall names this architecture does not know are skipped, as runc
    /// does; the known ones in the same rule still apply.
    fn unknown_syscall_names_are_skipped(rt) {
        let out = run_script(rt, "mkdir /tmp/x 2>&1; echo done", |b| {
            with_tmp(b);
            b.linux_mut()["seccomp"] = allow_all_but(json!([
                {"names": ["mkdir", "mkdirat", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO"}
            ]));
        });
        assert!(out.contains("Operation not permitted") && out.ends_with("done\n"), "{out}");
    }
}

scenario! {
    /// The filter is in place with and without noNewPrivileges, for root
    /// and for a user without capabilities (the runtime must load it before
    /// it gives up CAP_SYS_ADMIN, since without no_new_privs seccomp(2)
    /// needs it).
    fn with_and_without_no_new_privileges(rt) {
        for (nnp, uid) in [(true, 0), (false, 0), (true, 1000), (false, 1000)] {
            let out = run_script(rt, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/x 2>&1; echo done", |b| {
                with_tmp(b);
                b.process_mut()["noNewPrivileges"] = json!(nnp);
                if uid != 0 {
                    b.set_user(uid, uid, &[]);
                    for set in ["bounding", "effective", "permitted", "ambient"] {
                        b.set_caps(set, &[]);
                    }
                }
                b.linux_mut()["seccomp"] = allow_all_but(json!([
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
                ]));
            });
            let ctx = format!("{}: noNewPrivileges {nnp}, uid {uid}: {out}", rt.name());
            assert_eq!(status_field(&out, "NoNewPrivs"), Some(if nnp { "1" } else { "0" }), "{ctx}");
            assert_eq!(status_field(&out, "Seccomp"), Some("2"), "{ctx}");
            assert!(out.contains("Operation not permitted"), "{ctx}");
        }
    }
}
