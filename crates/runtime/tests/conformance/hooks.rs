//! The six hooks: order, the state on stdin, args, env, timeout, failure.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Appends `phase|args|env|state` to $HOOK_LOG: the phase is $1, args are
/// argv[0] and the rest, env is every variable but those the shell adds
/// (PWD; busybox's SHLVL and default PATH), state is stdin with newlines
/// removed.
const SCRIPT: &str = "state=$(cat | tr -d '\\n'); \
    envs=$(env | grep -v -e '^PWD=' -e '^SHLVL=' -e '^PATH=/sbin:/usr/sbin:/bin:/usr/bin$' | sort | tr '\\n' ','); \
    printf '%s|%s|%s|%s\\n' \"$1\" \"$0 $*\" \"$envs\" \"$state\" >> \"$HOOK_LOG\"";

fn hook(phase: &str, log: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", SCRIPT, "hook-argv0", phase, "second arg"],
        "env": [format!("HOOK_LOG={log}"), "HOOK_VAR=hook value"]
    })
}

#[derive(Debug)]
struct Entry {
    phase: String,
    args: String,
    env: String,
    state: Value,
}

fn read_log(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '|').collect();
            assert_eq!(f.len(), 4, "bad hook log line {l:?}");
            Entry {
                phase: f[0].to_string(),
                args: f[1].to_string(),
                env: f[2].to_string(),
                state: serde_json::from_str(f[3]).unwrap_or_else(|e| panic!("hook stdin is not the state JSON ({e}): {l}")),
            }
        })
        .collect()
}

fn wait_entries(path: &Path, n: usize) -> Vec<Entry> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let e = read_log(path);
        if e.len() >= n || Instant::now() > deadline {
            return e;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a container with all six hooks through create, start, kill,
/// delete; returns the log entries after create and after delete, and the
/// init pid.
fn run_with_all_hooks(rt: &berth_test_support::Runtime) -> (Vec<Entry>, Vec<Entry>, i64, String, String) {
    let mut b = Bundle::busybox();
    let out = out_dir(&mut b);
    let host_log = out.path().join("log");
    let host = host_log.to_str().expect("utf-8").to_string();
    b.set_args(&["sleep", "100"]);
    b.set_annotation("hooked", "yes");
    // Runtime-namespace hooks use host paths; createContainer runs in the
    // container's mount namespace before pivot_root (host paths still
    // resolve); startContainer runs inside the container: its /bin/sh is
    // busybox and the log is /out/log.
    for phase in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        b.add_hook(phase, hook(phase, &host));
    }
    b.add_hook("startContainer", hook("startContainer", "/out/log"));
    let mut c = Container::new(rt, &b);
    c.create(&[]).assert_ok();
    let pid = c.state_json()["pid"].as_i64().expect("pid");
    let after_create = read_log(&host_log);
    c.start().assert_ok();
    wait_entries(&host_log, 5);
    c.kill("KILL").assert_ok();
    c.wait_status("stopped", Duration::from_secs(5));
    c.delete().assert_ok();
    let all = wait_entries(&host_log, 6);
    c.assert_no_leaks();
    let summary = |v: &[Entry]| format!("{:?}", v.iter().map(|e| (&e.phase, &e.state["status"], &e.state["pid"])).collect::<Vec<_>>());
    eprintln!("{}: after create {}\nall {}", rt.name(), summary(&after_create), summary(&all));
    (after_create, all, pid, c.id().to_string(), b.path().to_str().expect("utf-8").to_string())
}

scenario! {
    /// Each of the six hooks runs once with its args, exactly its env, and
    /// the container's state (id, bundle, annotations) on stdin.
    fn hooks_args_env_and_state(rt) {
        let (_, all, _, id, bundle) = run_with_all_hooks(rt);
        let mut phases: Vec<&str> = all.iter().map(|e| e.phase.as_str()).collect();
        phases.sort();
        assert_eq!(phases, ["createContainer", "createRuntime", "poststart", "poststop", "prestart", "startContainer"]);
        for e in &all {
            assert_eq!(e.args, format!("hook-argv0 {} second arg", e.phase), "args of {}", e.phase);
            assert!(e.env.ends_with(",HOOK_VAR=hook value,") && e.env.starts_with("HOOK_LOG="), "env of {}: {}", e.phase, e.env);
            assert_eq!(e.env.matches(',').count(), 2, "env of {} must be exactly the hook's: {}", e.phase, e.env);
            assert_eq!(e.state["id"], id.as_str(), "state of {}", e.phase);
            if e.phase == "startContainer" && lacks(rt, &[Kind::Crun], "crun 1.8 passes bundle \"/\" to startContainer hooks") {
                // checked for the other phases
            } else {
                assert_eq!(e.state["bundle"], bundle.as_str(), "state of {}", e.phase);
            }
            assert!(e.state["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "state of {}", e.phase);
            assert_eq!(e.state["annotations"]["hooked"], "yes", "state of {}", e.phase);
        }
    }
}

scenario! {
    /// prestart, createRuntime, createContainer run during create (in that
    /// order, prestart and createRuntime in either order); startContainer
    /// and poststart during start; poststop during delete.
    fn hooks_run_at_the_right_step(rt) {
        if lacks(rt, &[Kind::Runc], "runc 1.1.5 runs poststart hooks during create, before start")
            || lacks(rt, &[Kind::Crun], "crun 1.8 may run poststart before the startContainer hook has run")
        {
            return;
        }
        let (after_create, all, _, _, _) = run_with_all_hooks(rt);
        let created: Vec<&str> = after_create.iter().map(|e| e.phase.as_str()).collect();
        assert_eq!(created.len(), 3, "{created:?}");
        let mut first_two = created[..2].to_vec();
        first_two.sort();
        assert_eq!(first_two, ["createRuntime", "prestart"]);
        assert_eq!(created[2], "createContainer");
        let rest: Vec<&str> = all[3..].iter().map(|e| e.phase.as_str()).collect();
        assert_eq!(rest, ["startContainer", "poststart", "poststop"]);
    }
}

scenario! {
    /// The state each hook gets has runtime.md's status for that moment and
    /// the host pid of the container's init.
    fn hooks_see_the_right_status_and_pid(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 passes status \"created\" while creating, \"starting\" to startContainer, pid 0 to createContainer, startContainer and poststop")
            || lacks(rt, &[Kind::Runc], "runc 1.1.5 passes the container-namespace pid (1) to createContainer and runs poststart during create")
        {
            return;
        }
        let (_, all, pid, _, _) = run_with_all_hooks(rt);
        let entry = |phase: &str| all.iter().find(|e| e.phase == phase).unwrap_or_else(|| panic!("{phase} did not run"));
        for (phase, status) in [
            ("prestart", "creating"),
            ("createRuntime", "creating"),
            ("createContainer", "creating"),
            ("startContainer", "created"),
            ("poststart", "running"),
            ("poststop", "stopped"),
        ] {
            let e = entry(phase);
            assert_eq!(e.state["status"], status, "status seen by {phase}");
            if phase != "poststop" {
                assert_eq!(e.state["pid"].as_i64(), Some(pid), "pid seen by {phase}");
            }
        }
    }
}

/// Runs `create` with one extra hook and asserts a clean failure.
fn create_fails_with_hook(rt: &berth_test_support::Runtime, phase: &str, hook: Value, words: &[&str]) -> Duration {
    let mut b = Bundle::busybox();
    let out = out_dir(&mut b);
    b.set_script("echo ran > /out/ran");
    b.add_hook(phase, hook);
    let mut c = Container::new(rt, &b);
    let t = Instant::now();
    let res = c.create(&[]);
    let took = t.elapsed();
    let (code, stderr) = (res.code(), res.stderr());
    assert_clean_error(rt, code, &stderr, words);
    c.assert_no_leaks();
    assert!(!c.state().success(), "a container whose hook failed must not exist");
    assert!(!out.path().join("ran").exists(), "the program must not run");
    took
}

scenario! {
    /// A createRuntime hook that fails makes create fail, leaving nothing.
    fn failing_hook_fails_create(rt) {
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", "echo hook-broke >&2; exit 3"]});
        create_fails_with_hook(rt, "createRuntime", hook, &["createRuntime"]);
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]});
        create_fails_with_hook(rt, "prestart", hook, &["prestart"]);
    }
}

scenario! {
    /// A hook that outlives its timeout is killed and create fails within
    /// about the timeout, leaving nothing (not even the hook's process).
    fn hook_timeout_fails_create(rt) {
        // a duration unique to this test, to find the hook's process
        let secs = format!("30.{}{}", std::process::id(), rt.kind() as u8);
        let hook = json!({"path": "/bin/sleep", "args": ["sleep", secs], "timeout": 1});
        let took = create_fails_with_hook(rt, "createRuntime", hook, &["createRuntime", "time"]);
        assert!(took < Duration::from_secs(10), "create took {took:?} with a 1 s hook timeout");
        let out = std::process::Command::new("pgrep").args(["-x", "-f", &format!("sleep {secs}")]).output().expect("pgrep");
        let pids = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(pids.trim(), "", "the timed-out hook's process is still running");
    }
}

/// create, start, wait until stopped, delete; asserts each step and no
/// leftovers.
fn lifecycle_with_hook(rt: &berth_test_support::Runtime, phase: &str, hook: Value) {
    let mut b = Bundle::busybox();
    b.set_args(&["true"]);
    b.add_hook(phase, hook);
    let mut c = Container::new(rt, &b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    assert_eq!(c.wait_status("stopped", Duration::from_secs(5)).as_deref(), Some("stopped"));
    c.delete().assert_ok();
    assert!(!c.state().success());
    c.assert_no_leaks();
}

scenario! {
    /// A failing poststop hook does not stop delete (runtime.md: warn and
    /// continue).
    fn failing_poststop_hook_does_not_block_delete(rt) {
        lifecycle_with_hook(rt, "poststop", json!({"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null; exit 1"]}));
    }
}

scenario! {
    /// A hook that exits without reading the state on its stdin is not an
    /// error for the runtime (no SIGPIPE).
    fn hook_not_reading_stdin_is_harmless(rt) {
        if lacks(rt, &[berth_test_support::Kind::Crun], "crun 1.8 dies of SIGPIPE when a hook exits without reading its stdin") {
            return;
        }
        lifecycle_with_hook(rt, "poststart", json!({"path": "/bin/true", "args": ["true"]}));
        lifecycle_with_hook(rt, "poststop", json!({"path": "/bin/true", "args": ["true"]}));
    }
}
