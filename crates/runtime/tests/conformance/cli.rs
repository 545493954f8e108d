//! The command line around the lifecycle: list, ps, spec, features,
//! --version, --preserve-fds, --console-socket.

use crate::support::*;
use berth_test_support::{Bundle, ConsoleSocket, Container, Kind, Runtime};
use std::time::Duration;

fn sleeper() -> Bundle {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b
}

scenario! {
    /// list: runc's table (ID PID STATUS BUNDLE CREATED OWNER), json array,
    /// -q ids only.
    fn list(rt) {
        let b1 = sleeper();
        let b2 = sleeper();
        let mut c1 = Container::new(rt, &b1);
        let mut c2 = Container::new(rt, &b2);
        c1.create(&[]).assert_ok();
        c2.run(&["--detach"]).assert_ok();

        let q = rt.run(&["list", "-q"]);
        q.assert_ok();
        let mut ids: Vec<String> = q.stdout().lines().map(str::to_owned).collect();
        ids.sort();
        let mut want = vec![c1.id().to_string(), c2.id().to_string()];
        want.sort();
        assert_eq!(ids, want, "list -q");

        let j = rt.run(&["list", "--format", "json"]).assert_ok().json();
        let arr = j.as_array().expect("list --format json is an array");
        assert_eq!(arr.len(), 2);
        for (c, status) in [(&c1, "created"), (&c2, "running")] {
            let e = arr.iter().find(|e| e["id"] == c.id()).unwrap_or_else(|| panic!("{} missing: {j}", c.id()));
            assert_eq!(e["status"], status);
            assert_eq!(e["pid"], c.state_json()["pid"]);
            assert_eq!(e["bundle"], c.bundle().to_str().expect("utf-8"));
            assert!(e["created"].as_str().is_some_and(|s| s.contains('T')), "created is RFC 3339: {e}");
        }

        let table = rt.run(&["list"]).assert_ok().stdout();
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
        // crun names the first column NAME and splits BUNDLE PATH; runc's
        // header is the one tools parse, and berth follows runc.
        if rt.kind() != Kind::Crun {
            assert_eq!(header, ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
        }
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 2, "{table}");
        let row = rows.iter().find(|r| r[0] == c2.id()).expect("row for c2");
        assert_eq!(row[2], "running");
        assert_eq!(row[3], c2.bundle().to_str().expect("utf-8"));

        c1.delete_force().assert_ok();
        c2.delete_force().assert_ok();
        assert_eq!(rt.run(&["list", "-q"]).assert_ok().stdout().trim(), "");
        c1.assert_no_leaks();
        c2.assert_no_leaks();
    }
}

scenario! {
    /// list on an empty (even missing) root prints nothing and succeeds.
    fn list_empty(rt) {
        let out = rt.run(&["list", "--format", "json"]);
        let v = out.assert_ok().json();
        assert!(v.is_null() || v.as_array().is_some_and(|a| a.is_empty()), "{v}");
        assert_eq!(rt.run(&["list", "-q"]).assert_ok().stdout(), "");
    }
}

scenario! {
    /// ps --format json lists the host pids of the container's processes.
    fn ps_json(rt) {
        let mut b = Bundle::busybox();
        b.set_script("sleep 100 & exec sleep 101");
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        // wait for the background child to exist
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let pids = loop {
            let j = c.verb("ps", &["--format", "json"]).assert_ok().json();
            let pids: Vec<i64> = j.as_array().expect("array").iter().filter_map(|v| v.as_i64()).collect();
            if pids.len() >= 2 || std::time::Instant::now() > deadline {
                break pids;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(pids.contains(&pid), "{pids:?} lacks init {pid}");
        assert_eq!(pids.len(), 2, "{pids:?}");
        for p in &pids {
            assert!(alive(*p));
        }
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// ps passes its trailing arguments to ps(1): `ps <id> -o pid,comm`.
    fn ps_passthrough(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 `ps` takes no ps(1) arguments and prints only pids") {
            return;
        }
        let b = sleeper();
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        let out = rt.run(&["ps", c.id(), "-o", "pid,comm"]);
        let text = out.assert_ok().stdout();
        let mut lines = text.lines();
        assert_eq!(lines.next().map(|h| h.split_whitespace().collect::<Vec<_>>()), Some(vec!["PID", "COMMAND"]));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows, vec![vec![pid.to_string().as_str(), "sleep"]], "{text}");
        // default: ps -ef columns
        let text = c.verb("ps", &[]).assert_ok().stdout();
        assert!(text.lines().next().is_some_and(|h| h.contains("PID") && h.contains("CMD")), "{text}");
        assert!(text.contains("sleep 100"), "{text}");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// spec writes a valid default config.json; --rootless adds a user
    /// namespace with mappings; an existing config.json is not overwritten.
    fn spec(rt) {
        let dir = berth_test_support::temp_dir("spec-");
        let d = dir.path().to_str().expect("utf-8");
        rt.run(&["spec", "--bundle", d]).assert_ok();
        let text = std::fs::read_to_string(dir.path().join("config.json")).expect("config.json written");
        let v: serde_json::Value = serde_json::from_str(&text).expect("spec output is JSON");
        assert!(v["ociVersion"].as_str().is_some_and(|s| s.starts_with("1.")));
        assert!(v["process"]["args"].as_array().is_some_and(|a| !a.is_empty()));
        assert_eq!(v["root"]["path"], "rootfs");
        let mounts: Vec<&str> = v["mounts"].as_array().expect("mounts").iter()
            .filter_map(|m| m["destination"].as_str()).collect();
        for d in ["/proc", "/dev", "/dev/pts", "/sys"] {
            assert!(mounts.contains(&d), "default spec lacks a {d} mount: {mounts:?}");
        }
        let ns: Vec<&str> = v["linux"]["namespaces"].as_array().expect("namespaces").iter()
            .filter_map(|n| n["type"].as_str()).collect();
        for t in ["pid", "ipc", "uts", "mount"] {
            assert!(ns.contains(&t), "{ns:?}");
        }
        assert!(!ns.contains(&"user"));
        // does not overwrite
        std::fs::write(dir.path().join("config.json"), "{\"mine\":1}").expect("write");
        rt.run(&["spec", "--bundle", d]).assert_fails();
        assert_eq!(std::fs::read_to_string(dir.path().join("config.json")).expect("read"), "{\"mine\":1}");

        let dir = berth_test_support::temp_dir("spec-rootless-");
        let d = dir.path().to_str().expect("utf-8");
        rt.run(&["spec", "--rootless", "--bundle", d]).assert_ok();
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("config.json")).expect("config.json"),
        ).expect("JSON");
        let ns: Vec<&str> = v["linux"]["namespaces"].as_array().expect("namespaces").iter()
            .filter_map(|n| n["type"].as_str()).collect();
        assert!(ns.contains(&"user"), "--rootless adds a user namespace: {ns:?}");
        if lacks(rt, &[Kind::Crun], "crun 1.8 `spec --rootless` writes no uid/gid mappings") {
            return;
        }
        assert!(v["linux"]["uidMappings"].as_array().is_some_and(|m| !m.is_empty()));
        assert!(v["linux"]["gidMappings"].as_array().is_some_and(|m| !m.is_empty()));
    }
}

scenario! {
    /// features prints JSON describing what the runtime supports.
    fn features(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 has no `features` command") {
            return;
        }
        let v = rt.run(&["features"]).assert_ok().json();
        assert!(v["ociVersionMin"].as_str().is_some_and(|s| s.starts_with("1.0")), "{v}");
        assert!(v["ociVersionMax"].as_str().is_some_and(|s| s.starts_with("1.")), "{v}");
        let hooks: Vec<&str> = v["hooks"].as_array().expect("hooks").iter().filter_map(|h| h.as_str()).collect();
        for h in ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
            assert!(hooks.contains(&h), "{hooks:?}");
        }
        let opts: Vec<&str> = v["mountOptions"].as_array().expect("mountOptions").iter().filter_map(|h| h.as_str()).collect();
        for o in ["ro", "rw", "nosuid", "nodev", "noexec", "rbind", "rprivate", "strictatime", "relatime", "noatime"] {
            assert!(opts.contains(&o), "{o} missing from {opts:?}");
        }
        let ns: Vec<&str> = v["linux"]["namespaces"].as_array().expect("linux.namespaces").iter()
            .filter_map(|h| h.as_str()).collect();
        for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
            assert!(ns.contains(&n), "{ns:?}");
        }
        assert!(v["linux"]["capabilities"].as_array().is_some_and(|c| c.len() >= 38), "{v}");
        if rt.kind() == Kind::Berth {
            assert_eq!(v["ociVersionMax"], "1.2.0", "berth implements runtime-spec 1.2");
            assert!(ns.contains(&"time"), "berth supports time namespaces");
        }
    }
}

scenario! {
    /// --version names the runtime-spec version.
    fn version(rt) {
        let out = rt.run(&["--version"]);
        let text = out.assert_ok().stdout();
        assert!(text.lines().any(|l| l.starts_with("spec: 1.")), "{text}");
        if rt.kind() == Kind::Berth {
            assert!(text.contains("spec: 1.2"), "{text}");
        }
    }
}

/// `runtime <args>` with host fds 3, 4 and 5 open (each a different file).
fn with_extra_fds(rt: &Runtime, args: &[&str], dir: &std::path::Path) -> berth_test_support::Output {
    for n in 3..=5 {
        std::fs::write(dir.join(format!("fd{n}")), format!("content of fd {n}\n")).expect("write");
    }
    let inner = rt.cmd();
    let mut cmd = std::process::Command::new("sh");
    let d = dir.to_str().expect("utf-8");
    cmd.arg("-c")
        .arg(format!("exec 3<{d}/fd3 4<{d}/fd4 5<{d}/fd5; exec \"$@\""))
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .args(args)
        .stdin(std::process::Stdio::null());
    rt.run_cmd(cmd)
}

/// The numeric lines of `ls /proc/1/fd` output, sorted. The listing is done
/// by a child of pid 1 (no pipeline, no redirection) so that the shell holds
/// no extra fd while it is listed.
pub fn fd_list(text: &str) -> Vec<u32> {
    let mut v: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    v.sort();
    v
}

scenario! {
    /// --preserve-fds N passes exactly fds 3..3+N to the container; no other
    /// host fd reaches it.
    fn preserve_fds(rt) {
        let mut b = Bundle::busybox();
        // pid 1 is the shell; list its fds from a child so the listing
        // itself adds no fd.
        b.set_script("ls /proc/1/fd; cat /proc/1/fd/3 /proc/1/fd/4; true");
        let c = Container::new(rt, &b);
        let bundle = b.path().to_str().expect("utf-8").to_string();
        let dir = berth_test_support::temp_dir("fds-");
        let out = with_extra_fds(rt, &["run", "--preserve-fds", "2", "--bundle", &bundle, c.id()], dir.path());
        out.assert_ok();
        let text = out.stdout();
        assert_eq!(fd_list(&text), [0, 1, 2, 3, 4], "{text}");
        assert!(text.ends_with("content of fd 3\ncontent of fd 4\n"), "{text}");
        c.assert_no_leaks();

        // Without --preserve-fds, none of the host's extra fds.
        let mut b = Bundle::busybox();
        b.set_script("ls /proc/1/fd; true");
        let c = Container::new(rt, &b);
        let bundle = b.path().to_str().expect("utf-8").to_string();
        let out = with_extra_fds(rt, &["run", "--bundle", &bundle, c.id()], dir.path());
        out.assert_ok();
        assert_eq!(fd_list(&out.stdout()), [0, 1, 2], "{}", out.stdout());
        c.assert_no_leaks();
    }
}

scenario! {
    /// terminal: true with --console-socket: the pty master arrives over the
    /// socket, the container's stdio is the pty, consoleSize is applied.
    fn console_socket_and_console_size(rt) {
        let mut b = Bundle::busybox();
        b.set_terminal(true);
        b.process_mut()["consoleSize"] = serde_json::json!({"height": 33, "width": 101});
        b.set_script("tty; stty size; read line; echo \"got:$line\"");
        let sock = ConsoleSocket::new();
        let mut c = Container::new(rt, &b);
        c.create(&["--console-socket", sock.path().to_str().expect("utf-8")]).assert_ok();
        let mut pty = sock.accept_master(Duration::from_secs(5)).expect("pty master over the console socket");
        c.start().assert_ok();
        pty.read_until("\n33 101", Duration::from_secs(5)).expect("stty size shows consoleSize");
        pty.write("hello\n").expect("write to pty");
        let text = pty.read_until("got:hello", Duration::from_secs(5)).expect("echo through the pty");
        assert!(text.starts_with("/dev/pts/"), "stdin is a pty slave: {text:?}");
        assert_eq!(c.wait_status("stopped", Duration::from_secs(5)).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// Output to a closed pipe (`state <id> | grep -q`) is not a crash: the
    /// runtime may die of SIGPIPE or exit non-zero, but must not abort with a
    /// panic.
    fn closed_stdout_is_not_a_panic(rt) {
        let b = sleeper();
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        for args in [vec!["state", c.id()], vec!["list", "--format", "json"], vec!["list"]] {
            let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
            drop(read_end);
            let mut cmd = rt.cmd();
            cmd.args(&args).stdout(std::process::Stdio::from(write_end)).stderr(std::process::Stdio::piped());
            let out = cmd.output().expect("spawn");
            use std::os::unix::process::ExitStatusExt;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{} {args:?} panicked on a closed stdout: {stderr}", rt.name());
            assert_ne!(out.status.signal(), Some(libc::SIGABRT), "{} {args:?} aborted: {stderr}", rt.name());
        }
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// --log with --log-format json writes runc's JSON lines (level, msg,
    /// time) that containerd parses; the default text format has logfmt's
    /// `level=error msg=...`.
    fn log_file_formats(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 writes nothing to --log for an error before the container exists") {
            return;
        }
        let dir = berth_test_support::temp_dir("log-");
        let missing = dir.path().join("no-such-bundle");
        let missing = missing.to_str().expect("utf-8");
        let json_log = dir.path().join("log.json");
        let out = rt.run(&["--log", json_log.to_str().expect("utf-8"), "--log-format", "json", "create", "--bundle", missing, "x"]);
        out.assert_fails();
        let text = std::fs::read_to_string(&json_log).expect("--log file written");
        let entries: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l:?}")))
            .collect();
        let err = entries.iter().find(|e| e["level"] == "error").unwrap_or_else(|| panic!("no error entry: {text}"));
        assert!(err["msg"].as_str().is_some_and(|m| m.contains(missing)), "{err}");
        assert!(err["time"].as_str().is_some_and(|t| t.contains('T')), "{err}");

        let text_log = dir.path().join("log.txt");
        rt.run(&["--log", text_log.to_str().expect("utf-8"), "create", "--bundle", missing, "x"]).assert_fails();
        let text = std::fs::read_to_string(&text_log).expect("--log file written");
        let line = text.lines().find(|l| l.contains("level=error")).unwrap_or_else(|| panic!("no level=error line: {text}"));
        assert!(line.contains("msg=") && line.contains(missing), "{line}");
        assert!(line.contains("time="), "{line}");
    }
}
