//! config.json `process`: args, env, cwd, user, umask, terminal, rlimits,
//! noNewPrivileges, oomScoreAdj, capabilities, ioPriority, scheduler,
//! personality; plus the config's ociVersion.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind};

/// `env` output without the variables the shell itself adds.
fn env_set(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("OLDPWD="))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

scenario! {
    /// args are passed verbatim (spaces, empty strings); env exactly as
    /// given plus HOME from /etc/passwd when absent; cwd.
    fn args_env_cwd(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["sh", "-c", "printf '[%s]' \"$0\" \"$1\" \"$2\" \"$3\"; echo; pwd; env", "zero", "one two", "", "three"]);
        b.set_env(&["PATH=/bin", "FOO=bar baz", "EMPTY=", "MULTI=a=b=c"]);
        b.set_cwd("/home/user");
        let out = run_ok(rt, &b);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("[zero][one two][][three]"));
        assert_eq!(lines.next(), Some("/home/user"));
        let env = env_set(&lines.collect::<Vec<_>>().join("\n"));
        assert_eq!(env, ["EMPTY=", "FOO=bar baz", "HOME=/root", "MULTI=a=b=c", "PATH=/bin"]);
    }
}

scenario! {
    /// A HOME given in env wins over /etc/passwd; uid 1000 gets its own HOME.
    fn home_from_passwd(rt) {
        let out = run_script(rt, "echo $HOME", |b| {
            b.set_user(1000, 1000, &[]);
        });
        assert_eq!(out, "/home/user\n");
        let out = run_script(rt, "echo $HOME", |b| {
            b.add_env("HOME=/custom");
        });
        assert_eq!(out, "/custom\n");
    }
}

scenario! {
    /// user uid/gid/additionalGids as seen in /proc/self/status and id(1).
    fn user_and_groups(rt) {
        let out = run_script(rt, "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id", |b| {
            b.set_user(1000, 1000, &[10, 100]);
        });
        let status = out.as_str();
        assert_eq!(status_field(status, "Uid"), Some("1000\t1000\t1000\t1000"));
        assert_eq!(status_field(status, "Gid"), Some("1000\t1000\t1000\t1000"));
        let mut groups: Vec<&str> = status_field(status, "Groups").expect("Groups").split_whitespace().collect();
        groups.sort();
        assert_eq!(groups, ["10", "100"]);
        assert!(out.contains("uid=1000(user) gid=1000(user)"), "{out}");

        // Without additionalGids: no supplementary groups at all (not root's
        // and not those /etc/group lists for the user).
        let out = run_script(rt, "grep -E '^Groups:' /proc/self/status", |b| {
            b.set_user(1000, 1000, &[]);
        });
        assert_eq!(status_field(&out, "Groups"), Some(""));
    }
}

scenario! {
    /// umask: 0022 by default, process.user.umask when set.
    fn umask(rt) {
        assert_eq!(run_script(rt, "umask", |_| {}), "0022\n");
        let out = run_script(rt, "umask", |b| {
            b.process_mut()["user"]["umask"] = serde_json::json!(0o027);
        });
        assert_eq!(out, "0027\n");
    }
}

scenario! {
    /// rlimits are applied (soft and hard), here lowering RLIMIT_NOFILE and
    /// RLIMIT_CORE.
    fn rlimits(rt) {
        let out = run_script(rt, "ulimit -Sn; ulimit -Hn; ulimit -Sc; ulimit -Hc", |b| {
            b.process_mut()["rlimits"] = serde_json::json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
            ]);
        });
        // busybox's ulimit -c counts 512-byte blocks
        assert_eq!(out, "100\n200\n0\n8\n");
    }
}

scenario! {
    /// Raising a hard rlimit above the runtime's own needs CAP_SYS_RESOURCE,
    /// which root lacks on this machine: create must fail cleanly.
    fn rlimit_above_hard_limit_fails(rt) {
        let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
        if can_raise_hard_nofile(cur.rlim_max) {
            eprintln!("SKIP: this process may raise RLIMIT_NOFILE (has CAP_SYS_RESOURCE)");
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.process_mut()["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": cur.rlim_max + 1}
        ]);
        let mut c = Container::new(rt, &b);
        let out = c.run(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &["rlimits"]);
        c.assert_no_leaks();
    }
}

/// Whether we could raise the hard NOFILE limit (tried in a child).
fn can_raise_hard_nofile(max: u64) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -Hn {}", max + 1))
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

scenario! {
    /// noNewPrivileges true/false shows in NoNewPrivs.
    fn no_new_privileges(rt) {
        let on = run_script(rt, "grep NoNewPrivs /proc/self/status", |_| {});
        assert_eq!(status_field(&on, "NoNewPrivs"), Some("1"));
        let off = run_script(rt, "grep NoNewPrivs /proc/self/status", |b| {
            b.process_mut()["noNewPrivileges"] = serde_json::json!(false);
        });
        assert_eq!(status_field(&off, "NoNewPrivs"), Some("0"));
    }
}

scenario! {
    /// oomScoreAdj: raising works.
    fn oom_score_adj_raise(rt) {
        let out = run_script(rt, "cat /proc/self/oom_score_adj", |b| {
            b.process_mut()["oomScoreAdj"] = serde_json::json!(500);
        });
        assert_eq!(out, "500\n");
    }
}

scenario! {
    /// oomScoreAdj below the runtime's own value needs CAP_SYS_RESOURCE,
    /// which root lacks here: create fails with a clear error, no leftovers.
    fn oom_score_adj_lowering_fails_cleanly(rt) {
        let own: i32 = std::fs::read_to_string("/proc/self/oom_score_adj").expect("read").trim().parse().expect("int");
        if std::fs::write("/proc/self/oom_score_adj", format!("{}", own - 1)).is_ok() {
            let _ = std::fs::write("/proc/self/oom_score_adj", format!("{own}"));
            eprintln!("SKIP: this process may lower oom_score_adj (has CAP_SYS_RESOURCE)");
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.process_mut()["oomScoreAdj"] = serde_json::json!(own - 5);
        let mut c = Container::new(rt, &b);
        let out = c.run(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &["oomScoreAdj"]);
        c.assert_no_leaks();
    }
}

scenario! {
    /// The five capability sets for root (effective shows as permitted: see
    /// below).
    fn capabilities_root(rt) {
        let out = run_script(rt, "grep ^Cap /proc/self/status", |b| {
            b.set_caps("bounding", &["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID"]);
            b.set_caps("permitted", &["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"]);
            b.set_caps("effective", &["CAP_KILL", "CAP_CHOWN"]);
            b.set_caps("inheritable", &["CAP_KILL", "CAP_NET_RAW"]);
            b.set_caps("ambient", &["CAP_KILL"]);
        });
        assert_eq!(status_field(&out, "CapBnd"), Some(cap_mask(&["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID"]).as_str()));
        assert_eq!(status_field(&out, "CapPrm"), Some(cap_mask(&["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"]).as_str()));
        // execve as uid 0 raises effective to permitted (no SECBIT_NOROOT),
        // so the configured effective set is not observable for root.
        assert_eq!(status_field(&out, "CapEff"), Some(cap_mask(&["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"]).as_str()));
        assert_eq!(status_field(&out, "CapInh"), Some(cap_mask(&["CAP_KILL", "CAP_NET_RAW"]).as_str()));
        assert_eq!(status_field(&out, "CapAmb"), Some(cap_mask(&["CAP_KILL"]).as_str()));
    }
}

scenario! {
    /// For a non-root user only the ambient set survives execve into
    /// permitted and effective.
    fn capabilities_ambient_for_non_root(rt) {
        let out = run_script(rt, "grep ^Cap /proc/self/status", |b| {
            b.set_user(1000, 1000, &[]);
            b.set_caps("bounding", &["CAP_KILL", "CAP_CHOWN"]);
            b.set_caps("permitted", &["CAP_KILL", "CAP_CHOWN"]);
            b.set_caps("effective", &["CAP_KILL", "CAP_CHOWN"]);
            b.set_caps("inheritable", &["CAP_KILL"]);
            b.set_caps("ambient", &["CAP_KILL"]);
        });
        let kill = cap_mask(&["CAP_KILL"]);
        assert_eq!(status_field(&out, "CapBnd"), Some(cap_mask(&["CAP_KILL", "CAP_CHOWN"]).as_str()));
        for set in ["CapPrm", "CapEff", "CapInh", "CapAmb"] {
            assert_eq!(status_field(&out, set), Some(kill.as_str()), "{set} in {out}");
        }
    }
}

scenario! {
    /// No capabilities object: every set empty.
    fn capabilities_none(rt) {
        let out = run_script(rt, "grep ^Cap /proc/self/status", |b| {
            if let Some(p) = b.process_mut().as_object_mut() {
                p.remove("capabilities");
            }
        });
        for set in ["CapPrm", "CapEff", "CapInh", "CapAmb", "CapBnd"] {
            assert_eq!(status_field(&out, set), Some("0000000000000000"), "{set} in {out}");
        }
    }
}

scenario! {
    /// ioPriority sets the I/O scheduling class and level.
    fn io_priority(rt) {
        if lacks(rt, &[Kind::Runc, Kind::Crun], "runc 1.1.5 and crun 1.8.1 ignore process.ioPriority (runc 1.2 / crun 1.9 add it)") {
            return;
        }
        let out = run_script(rt, "ionice -p $$", |b| {
            b.process_mut()["ioPriority"] = serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
        });
        assert_eq!(out.trim(), "best-effort: prio 4");
    }
}

scenario! {
    /// scheduler sets the scheduling policy (here SCHED_BATCH = 3).
    fn scheduler(rt) {
        if lacks(rt, &[Kind::Runc, Kind::Crun], "runc 1.1.5 and crun 1.8.1 ignore process.scheduler") {
            return;
        }
        let out = run_script(rt, "grep ^policy /proc/self/sched", |b| {
            b.process_mut()["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH"});
        });
        assert!(out.split(':').nth(1).is_some_and(|v| v.trim() == "3"), "{out}");
    }
}

scenario! {
    /// personality LINUX32: uname -m reports i686.
    fn personality_linux32(rt) {
        if lacks(rt, &[Kind::Runc], "runc 1.1.5 ignores linux.personality") {
            return;
        }
        let out = run_script(rt, "uname -m", |b| {
            b.linux_mut()["personality"] = serde_json::json!({"domain": "LINUX32"});
        });
        assert_eq!(out, "i686\n");
        assert_eq!(run_script(rt, "uname -m", |_| {}), "x86_64\n");
    }
}

scenario! {
    /// A config declaring runtime-spec 1.2.0 is accepted.
    fn oci_version_1_2(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 rejects ociVersion 1.2.0: \"unknown version specified\"") {
            return;
        }
        let out = run_script(rt, "echo ok", |b| {
            b.spec["ociVersion"] = serde_json::json!("1.2.0");
        });
        assert_eq!(out, "ok\n");
    }
}

scenario! {
    /// linux.seccomp is loaded: Seccomp 2 in /proc/self/status, a denied
    /// syscall fails with the configured errno, others work.
    fn seccomp_filter(rt) {
        let out = run_script(
            rt,
            "grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/denied 2>&1 || true; touch /tmp/allowed && echo touch-ok",
            |b| {
                b.linux_mut()["seccomp"] = serde_json::json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
                });
                b.add_mount("/tmp", "tmpfs", "tmpfs", &["size=1m"]);
            },
        );
        let mut lines = out.lines();
        assert_eq!(lines.next().map(|l| l.split_whitespace().collect::<Vec<_>>()), Some(vec!["Seccomp:", "2"]), "{out}");
        let denied = lines.next().unwrap_or("");
        assert!(denied.contains("Operation not permitted"), "mkdir should fail with EPERM: {out}");
        assert_eq!(lines.next(), Some("touch-ok"), "{out}");
    }
}
