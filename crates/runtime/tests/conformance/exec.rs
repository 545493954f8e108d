//! exec into a running container: args, --process, --env, --cwd, --user,
//! --cap, --no-new-privs, --detach, --pid-file, --tty.

use crate::support::*;
use berth_test_support::{Bundle, ConsoleSocket, Container, Kind, Runtime};
use std::time::Duration;

/// A running container whose init sleeps.
fn running<'r>(rt: &'r Runtime, b: &Bundle) -> Container<'r> {
    let mut c = Container::new(rt, b);
    c.run(&["--detach"]).assert_ok();
    assert_eq!(c.wait_status("running", Duration::from_secs(5)).as_deref(), Some("running"));
    c
}

fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b
}

fn finish(c: Container<'_>) {
    c.delete_force().assert_ok();
    c.assert_no_leaks();
}

scenario! {
    /// exec runs in the container's namespaces and returns the exit code.
    fn exec_args_and_exit_code(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let out = c.exec(&[], &["/bin/sh", "-c", "echo out; echo err >&2; exit 7"]);
        assert_eq!(out.code(), Some(7));
        assert_eq!(out.stdout(), "out\n");
        assert!(out.stderr().contains("err"));
        let same = c.exec(&[], &["/bin/sh", "-c", "for n in pid net mnt uts ipc; do [ $(readlink /proc/self/ns/$n) = $(readlink /proc/1/ns/$n) ] || echo $n differs; done; hostname"]);
        assert_eq!(same.assert_ok().stdout(), "berth-test\n");
        c.exec(&[], &["/no/such/program"]).assert_fails();
        finish(c);
    }
}

scenario! {
    /// exec --process reads a process object from a file.
    fn exec_process_file(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let p = b.path().join("process.json");
        std::fs::write(&p, serde_json::json!({
            "args": ["sh", "-c", "echo $A; pwd; id -u; id -g"],
            "env": ["PATH=/bin", "A=from-process-file"],
            "cwd": "/etc",
            "user": {"uid": 1000, "gid": 100}
        }).to_string()).expect("write process.json");
        let out = c.exec(&["--process", p.to_str().expect("utf-8")], &[]);
        assert_eq!(out.assert_ok().stdout(), "from-process-file\n/etc\n1000\n100\n");
        finish(c);
    }
}

scenario! {
    /// --env, --cwd and --user.
    fn exec_env_cwd_user(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let out = c.exec(&["--env", "FOO=bar baz", "--cwd", "/tmp", "--user", "1000:100"], &["/bin/sh", "-c", "echo \"$FOO\"; pwd; id -u; id -g"]);
        assert_eq!(out.assert_ok().stdout(), "bar baz\n/tmp\n1000\n100\n");
        finish(c);
    }
}

scenario! {
    /// exec's environment is the container's (process.env) plus --env.
    fn exec_env_adds_to_config_env(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 exec --env replaces process.env (default PATH, HOME only)") {
            return;
        }
        let mut b = sleeper();
        b.add_env("FROM_CONFIG=1");
        let c = running(rt, &b);
        let out = c.exec(&["--env", "FOO=bar"], &["/bin/sh", "-c", "echo $FROM_CONFIG $FOO $PATH"]);
        assert_eq!(out.assert_ok().stdout(), "1 bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
        finish(c);
    }
}

scenario! {
    /// --cap adds a capability to the exec'd process.
    fn exec_cap(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let out = c.exec(&["--cap", "CAP_SYS_ADMIN"], &["/bin/grep", "^Cap", "/proc/self/status"]).assert_ok().stdout();
        let admin = u64::from_str_radix(&cap_mask(&["CAP_SYS_ADMIN"]), 16).expect("hex");
        for set in ["CapBnd", "CapPrm", "CapEff"] {
            let v = u64::from_str_radix(status_field(&out, set).expect("field"), 16).expect("hex");
            assert!(v & admin != 0, "{set} lacks CAP_SYS_ADMIN: {out}");
        }
        let plain = c.exec(&[], &["/bin/grep", "^CapEff", "/proc/self/status"]).assert_ok().stdout();
        let v = u64::from_str_radix(status_field(&plain, "CapEff").expect("field"), 16).expect("hex");
        assert_eq!(v & admin, 0, "without --cap no CAP_SYS_ADMIN: {plain}");
        finish(c);
    }
}

scenario! {
    /// --cap adds to the container's capabilities rather than replacing them.
    fn exec_cap_adds_to_config_caps(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 exec --cap replaces the capability sets with the named ones") {
            return;
        }
        let b = sleeper();
        let c = running(rt, &b);
        let out = c.exec(&["--cap", "CAP_SYS_ADMIN"], &["/bin/grep", "^CapBnd", "/proc/self/status"]).assert_ok().stdout();
        let want = cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]);
        assert_eq!(status_field(&out, "CapBnd"), Some(want.as_str()));
        finish(c);
    }
}

scenario! {
    /// --no-new-privs sets NoNewPrivs for the exec'd process.
    fn exec_no_new_privs(rt) {
        let mut b = sleeper();
        b.process_mut()["noNewPrivileges"] = serde_json::json!(false);
        let c = running(rt, &b);
        let off = c.exec(&[], &["/bin/grep", "NoNewPrivs", "/proc/self/status"]).assert_ok().stdout();
        assert_eq!(status_field(&off, "NoNewPrivs"), Some("0"));
        let on = c.exec(&["--no-new-privs"], &["/bin/grep", "NoNewPrivs", "/proc/self/status"]).assert_ok().stdout();
        assert_eq!(status_field(&on, "NoNewPrivs"), Some("1"));
        finish(c);
    }
}

scenario! {
    /// Without --no-new-privs, exec follows process.noNewPrivileges.
    fn exec_inherits_no_new_privileges(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 exec ignores process.noNewPrivileges (NoNewPrivs 0)") {
            return;
        }
        let b = sleeper(); // noNewPrivileges: true
        let c = running(rt, &b);
        let out = c.exec(&[], &["/bin/grep", "NoNewPrivs", "/proc/self/status"]).assert_ok().stdout();
        assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"));
        finish(c);
    }
}

scenario! {
    /// exec --detach --pid-file returns at once; the pid is the exec'd
    /// process, inside the container.
    fn exec_detach_pid_file(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let pidfile = b.path().join("exec.pid");
        c.exec(&["--detach", "--pid-file", pidfile.to_str().expect("utf-8")], &["sleep", "99"]).assert_ok();
        let pid: i64 = std::fs::read_to_string(&pidfile).expect("pid file").trim().parse().expect("number");
        assert!(alive(pid));
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).expect("cmdline");
        assert_eq!(cmdline, "sleep\u{0}99\u{0}");
        let ps = c.verb("ps", &["--format", "json"]).assert_ok().json();
        assert!(ps.as_array().expect("array").iter().any(|p| p.as_i64() == Some(pid)), "{ps}");
        c.delete_force().assert_ok();
        assert!(!alive(pid), "the exec'd process must die with the container");
        c.assert_no_leaks();
    }
}

scenario! {
    /// exec --tty --detach --console-socket: the pty master comes over the
    /// socket and the process's stdio is the pty.
    fn exec_tty(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        let sock = ConsoleSocket::new();
        c.exec(
            &["--tty", "--detach", "--console-socket", sock.path().to_str().expect("utf-8")],
            &["/bin/sh", "-c", "tty; read l; echo \"got:$l\""],
        ).assert_ok();
        let mut pty = sock.accept_master(Duration::from_secs(5)).expect("pty master");
        let first = pty.read_until("\n", Duration::from_secs(5)).expect("tty output");
        assert!(first.starts_with("/dev/pts/"), "{first:?}");
        pty.write("ping\n").expect("write");
        pty.read_until("got:ping", Duration::from_secs(5)).expect("echo through pty");
        finish(c);
    }
}

scenario! {
    /// exec into a stopped container fails.
    fn exec_into_stopped_container_fails(rt) {
        let b = sleeper();
        let c = running(rt, &b);
        c.kill("KILL").assert_ok();
        assert_eq!(c.wait_status("stopped", Duration::from_secs(5)).as_deref(), Some("stopped"));
        c.exec(&[], &["/bin/true"]).assert_fails();
        finish(c);
    }
}
