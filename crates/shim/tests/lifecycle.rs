//! Start-up, exit records, kill, wait, delete, and surviving the spawner.

mod common;

use berth_test_support::{Bundle, Kind};
use common::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn exit_code_is_recorded_durably_and_reported() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo hi; exit 3");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    let started = s.started().clone();
    assert_eq!(started.status, "running");
    assert!(started.pid > 0 && started.shim_pid > 0 && started.shim_pid != started.pid);
    let w = s.wait();
    assert_eq!(w["exit_code"], 3, "{w}");
    assert!(w.get("signal").is_none(), "{w}");
    let rec = berth_shim::client::read_exit(&s.state_dir).expect("exit.json");
    assert_eq!(rec.exit_code, 3);
    assert_eq!(rec.signal, None);
    assert_eq!(w["exited_at"], rec.exited_at);
    assert!(rec.exited_at.ends_with('Z') && rec.exited_at.starts_with("20"), "{}", rec.exited_at);
    let st = s.state();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["exit_code"], 3);
    assert_eq!(st["pid"], started.pid);
    assert_eq!(st["id"], s.id.as_str());
    assert!(!alive(started.pid));
    s.delete_and_check();
}

#[test]
fn sigkill_is_recorded_as_137_with_the_signal() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    assert_eq!(s.state()["status"], "running");
    s.call(json!({"op": "kill", "signal": "SIGKILL"}));
    let w = s.wait();
    assert_eq!((w["exit_code"].as_i64(), w["signal"].as_i64()), (Some(137), Some(9)), "{w}");
    let rec = berth_shim::client::read_exit(&s.state_dir).expect("exit.json");
    assert_eq!((rec.exit_code, rec.signal), (137, Some(9)));
    // Killing a stopped container is an error, the shim stays.
    let v = s.request(json!({"op": "kill", "signal": 15}));
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("not running"), "{v}");
    s.delete_and_check();
}

#[test]
fn container_killed_from_outside_still_records_its_exit() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    let pid = s.started().pid;
    // SAFETY: kill(2) on the container's init, a live process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let w = s.wait();
    assert_eq!(w["exit_code"], 137);
    assert_eq!(berth_shim::client::read_exit(&s.state_dir).map(|r| r.signal), Some(Some(9)));
    s.delete_and_check();
}

#[test]
fn sigterm_through_kill_and_wait_from_several_clients() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("trap 'echo bye; exit 42' TERM; while :; do sleep 0.05; done");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    // Two waiters connected before the exit both get it.
    let c = s.client().with_timeout(Some(Duration::from_secs(30)));
    let w1 = std::thread::spawn({
        let c = c.clone();
        move || c.call(&json!({"op": "wait"}))
    });
    let w2 = std::thread::spawn(move || c.call(&json!({"op": "wait"})));
    std::thread::sleep(Duration::from_millis(200));
    s.call(json!({"op": "kill"}));
    for w in [w1, w2] {
        let v = w.join().expect("thread").expect("wait");
        assert_eq!(v["exit_code"], 42, "{v}");
    }
    s.delete_and_check();
}

#[test]
fn no_start_then_start() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo started; sleep 1000");
    let s = Shim::spawn(&rt, &b, &Opts { no_start: true, ..Opts::default() });
    let sp = s.started().clone();
    assert_eq!(sp.status, "created");
    let st = s.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], sp.pid);
    let v = s.call(json!({"op": "start"}));
    assert_eq!(v["pid"], sp.pid);
    assert_eq!(s.state()["status"], "running");
    let again = s.request(json!({"op": "start"}));
    assert_eq!(again["ok"], false, "{again}");
    // delete without force refuses a running container, with force works.
    let v = s.request(json!({"op": "delete"}));
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("running"), "{v}");
    s.delete_and_check();
}

#[test]
fn pause_and_resume_show_in_state() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    s.call(json!({"op": "pause"}));
    assert_eq!(s.state()["status"], "paused");
    s.call(json!({"op": "resume"}));
    assert_eq!(s.state()["status"], "running");
    s.delete_and_check();
}

#[test]
fn delete_of_a_stopped_container_removes_everything() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("exit 0");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    let pid = s.started().shim_pid;
    s.wait();
    let v = s.call(json!({"op": "delete"}));
    assert_eq!(v["exit_code"], 0, "delete answers with the exit status: {v}");
    assert!(wait_gone(pid, Duration::from_secs(10)), "the shim exits after delete");
    s.assert_clean();
    assert!(!rt.rt.state_dir(&s.id).exists(), "the runtime's state is gone");
}

#[test]
fn shutdown_keeps_the_exit_record_and_refuses_while_running() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("sleep 0.3; exit 7");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    let pid = s.started().shim_pid;
    let v = s.request(json!({"op": "shutdown"}));
    assert_eq!(v["ok"], false, "{v}");
    s.wait();
    s.call(json!({"op": "shutdown"}));
    assert!(wait_gone(pid, Duration::from_secs(10)));
    assert_eq!(berth_shim::client::read_exit(&s.state_dir).map(|r| r.exit_code), Some(7));
    assert!(!s.state_dir.join("shim.sock").exists());
    assert!(!berth_shim::state_dir::shim_is_alive(&s.state_dir));
    let _ = rt.rt.run(&["delete", "--force", &s.id]);
}

#[test]
fn failed_create_reports_the_runtime_error_and_leaves_nothing() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["/no/such/binary"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    let err = s.spawned.clone().expect_err("the shim must fail");
    assert!(err.contains("/no/such/binary"), "{err}");
    assert!(err.starts_with("[create]") || err.starts_with("[start]"), "{err}");
    s.assert_clean();
    assert!(!rt.rt.state_dir(&s.id).exists());
}

#[test]
fn bad_command_line_and_terminal_mismatch_are_reported() {
    let out = std::process::Command::new(shim_bin()).arg("--bogus").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap_or("").contains("--bogus"), "{v}");

    let rt = Rt::berth();
    let b = Bundle::busybox();
    let s = Shim::spawn(&rt, &b, &Opts { terminal: true, ..Opts::default() });
    let err = s.spawned.clone().expect_err("mismatch");
    assert!(err.contains("process.terminal"), "{err}");
    s.assert_clean();
}

#[test]
fn a_second_shim_on_the_same_state_dir_is_refused() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    let mut cmd = Shim::command(&rt, &b, &Opts::default());
    cmd.arg("--id").arg(format!("{}-2", s.id)).arg("--state-dir").arg(&s.state_dir);
    let err = berth_shim::client::spawn(&mut cmd).expect_err("refused");
    assert!(err.to_string().contains("another shim"), "{err}");
    assert_eq!(s.state()["status"], "running", "the first shim is unharmed");
    s.delete_and_check();
}

/// berthd crashing: the process that spawned the shim (and its whole process
/// group) is SIGKILLed; the container keeps running and logging, and a new
/// client finds it through the state dir, attaches, and stops it.
#[test]
fn shim_survives_its_spawner_being_killed() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done");
    let logdir = berth_test_support::temp_dir("shim-log-");
    let log = logdir.path().join("c-json.log");
    let opts = Opts { log_path: Some(log.clone()), ..Opts::default() };
    let mut cmd = Shim::command(&rt, &b, &opts);
    let mut s = Shim::unspawned(&rt, &b, &mut cmd);
    // The stand-in for berthd: a shell that runs the shim and lingers.
    let mut line = format!("{:?}", cmd.get_program());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&format!("'{}'", a.to_string_lossy()));
    }
    let mut daemon = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{line}; echo spawned; sleep 1000"))
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn the stand-in daemon");
    /// The stand-in's process group dies with the test, even a failing one.
    struct KillGroup(i32);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            // SAFETY: kill(2) on the process group created for the stand-in.
            unsafe { libc::kill(-self.0, libc::SIGKILL) };
        }
    }
    let _group = KillGroup(daemon.id() as i32);
    let mut out = BufReader::new(daemon.stdout.take().expect("stdout"));
    let mut report = String::new();
    out.read_line(&mut report).expect("report");
    let v: serde_json::Value = serde_json::from_str(&report).expect("report JSON");
    assert_eq!(v["ok"], true, "{report}");
    s.spawned = Ok(berth_shim::client::Spawned {
        pid: v["pid"].as_i64().expect("pid") as i32,
        shim_pid: v["shim_pid"].as_i64().expect("shim_pid") as i32,
        status: "running".into(),
    });
    // SAFETY: kill(2) on the process group created for the stand-in daemon.
    unsafe { libc::kill(-(daemon.id() as i32), libc::SIGKILL) };
    let _ = daemon.wait();

    let st = s.state();
    assert_eq!(st["status"], "running");
    let before = json_log(&log).len();
    let mut a = s.attach(json!({"op": "attach", "stdout": true, "stderr": true}));
    let mut frame = Vec::new();
    // Live output arrives in stdcopy frames.
    let (stream, data) = berth_shim::stdcopy::read_frame(&mut a).expect("frame").expect("some output");
    frame.extend(data);
    assert_eq!(stream, berth_shim::Stream::Stdout);
    assert!(String::from_utf8_lossy(&frame).starts_with("tick "), "{frame:?}");
    eventually(Duration::from_secs(10), "the log to keep growing", || (json_log(&log).len() > before + 3).then_some(()));
    s.call(json!({"op": "kill", "signal": "KILL"}));
    assert_eq!(s.wait()["exit_code"], 137);
    s.delete_and_check();
}

/// runc under the shim: the same lifecycle works unchanged.
#[test]
fn runc_lifecycle_with_logs_exec_and_kill() {
    if !Kind::Runc.selected() {
        return;
    }
    let rt = Rt::new(Kind::Runc);
    let mut b = Bundle::busybox();
    b.set_script("echo out; echo err >&2; sleep 1000");
    let logdir = berth_test_support::temp_dir("shim-log-");
    let log = logdir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    eventually(Duration::from_secs(10), "both lines logged", || (json_log(&log).len() >= 2).then_some(()));
    let mut entries = json_log(&log);
    entries.sort_by_key(|e| e["stream"].as_str().unwrap_or("").to_string());
    assert_eq!(entries[0]["log"], "err\n");
    assert_eq!(entries[0]["stream"], "stderr");
    assert_eq!(entries[1]["log"], "out\n");
    let (v, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "e1", "attach": true,
            "process": {"args": ["sh", "-c", "echo from-exec; exit 5"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    assert!(v["pid"].as_i64().is_some_and(|p| p > 0), "{v}");
    let (out, _) = demux(&mut st);
    assert_eq!(out, b"from-exec\n");
    let w = s.call(json!({"op": "wait", "exec_id": "e1"}));
    assert_eq!(w["exit_code"], 5);
    s.call(json!({"op": "kill", "signal": 9}));
    assert_eq!(s.wait()["exit_code"], 137);
    s.delete_and_check();
}

/// crun (through the hybrid-cgroup wrapper) under the shim.
#[test]
fn crun_runs_under_the_shim() {
    if !Kind::Crun.selected() {
        return;
    }
    let rt = Rt::new(Kind::Crun);
    let mut b = Bundle::busybox();
    b.set_script("echo crun-ok; exit 4");
    let logdir = berth_test_support::temp_dir("shim-log-");
    let log = logdir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    assert_eq!(s.wait()["exit_code"], 4);
    assert_eq!(json_log(&log)[0]["log"], "crun-ok\n");
    s.delete_and_check();
}

/// The static build `scripts/setup` makes (what berthd should run) works
/// like the test build. Skipped (with a message) when it has not been built.
#[test]
fn static_build_runs_a_container() {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe.ancestors().nth(3).expect("target dir");
    let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let bin = target.join(&host).join("release").join("berth-shim");
    if !bin.is_file() {
        eprintln!("skipping: {} not built (scripts/setup builds it)", bin.display());
        return;
    }
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo static; exit 12");
    let logdir = berth_test_support::temp_dir("shim-log-");
    let log = logdir.path().join("c-json.log");
    let mut cmd = Shim::command(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    let mut s = Shim::unspawned(&rt, &b, &mut cmd);
    let mut static_cmd = std::process::Command::new(&bin);
    static_cmd.args(cmd.get_args());
    s.spawned = berth_shim::client::spawn(&mut static_cmd).map_err(|e| e.to_string());
    s.started();
    assert_eq!(s.wait()["exit_code"], 12);
    assert_eq!(json_log(&log)[0]["log"], "static\n");
    s.delete_and_check();
}

/// runc sends the pty master over the console socket its own way (with the
/// slave's name as payload): terminal containers and execs work with it.
#[test]
fn runc_terminal_attach_resize_and_tty_exec() {
    if !Kind::Runc.selected() {
        return;
    }
    let rt = Rt::new(Kind::Runc);
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_args(&["sh"]);
    let s = Shim::spawn(&rt, &b, &Opts { terminal: true, stdin: true, ..Opts::default() });
    s.started();
    let mut a = s.attach(json!({"op": "attach", "stdin": true, "stdout": true}));
    s.call(json!({"op": "resize", "width": 101, "height": 31}));
    send(&mut a, b"stty size; echo end-$((1+1))\n");
    let got = read_until(&mut a, b"end-2");
    assert!(String::from_utf8_lossy(&got).contains("31 101"), "{:?}", String::from_utf8_lossy(&got));
    let (_, mut e) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "t", "attach": true, "terminal": true,
            "process": {"args": ["tty"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut e, &mut out);
    assert!(String::from_utf8_lossy(&out).contains("/dev/pts/"), "{:?}", String::from_utf8_lossy(&out));
    send(&mut a, b"exit 3\n");
    assert_eq!(s.wait()["exit_code"], 3);
    s.delete_and_check();
}

/// Without a pid namespace of its own the container's other processes do
/// not die with its init: the shim kills them (`kill --all`), as containerd
/// does, so nothing lingers and the output ends. On runc: berth-runtime
/// refuses `kill --all` on a stopped container ("container not running"),
/// unlike runc, so there the leftovers live until `delete --force`.
#[test]
fn without_a_pid_namespace_leftover_processes_are_killed_on_exit() {
    if !Kind::Runc.selected() {
        return;
    }
    let rt = Rt::new(Kind::Runc);
    let mut b = Bundle::busybox();
    b.remove_namespace("pid");
    b.set_script("sleep 1000 & echo $!; exit 0");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    let started = std::time::Instant::now();
    assert_eq!(s.wait()["exit_code"], 0);
    let bg: i32 = json_log(&log)[0]["log"].as_str().expect("pid").trim().parse().expect("pid");
    assert!(wait_gone(bg, Duration::from_secs(5)), "the background sleep {bg} was killed");
    assert!(started.elapsed() < Duration::from_secs(10));
    s.delete_and_check();
}
