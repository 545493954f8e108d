//! exec: attached output and exit codes, stdin, terminals, state, kill,
//! errors.

mod common;

use berth_test_support::Bundle;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn process(args: &[&str]) -> Value {
    json!({"args": args, "cwd": "/", "env": ["PATH=/bin", "TERM=xterm"], "user": {"uid": 0, "gid": 0}})
}

fn sleeper(rt: &Rt, log: Option<std::path::PathBuf>) -> (Bundle, Shim<'_>) {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(rt, &b, &Opts { log_path: log, ..Opts::default() });
    s.started();
    (b, s)
}

#[test]
fn exec_with_attach_gets_all_output_and_the_exit_code_and_is_not_logged() {
    let rt = Rt::berth();
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let (_b, s) = sleeper(&rt, Some(log.clone()));
    // Output written immediately (before the runtime even returns) is kept.
    let (v, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "e1", "attach": true,
            "process": process(&["sh", "-c", "echo early; echo to-err >&2; seq 1 2000; exit 7"])}))
        .expect("exec");
    let pid = v["pid"].as_i64().expect("pid");
    assert!(pid > 0);
    let (out, err) = demux(&mut st);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("early\n1\n2\n"), "{out:.40}");
    assert!(out.ends_with("1999\n2000\n"));
    assert_eq!(err, b"to-err\n");
    let w = s.call(json!({"op": "wait", "exec_id": "e1"}));
    assert_eq!(w["exit_code"], 7);
    let es = s.call(json!({"op": "exec_state", "exec_id": "e1"}));
    assert_eq!((es["status"].as_str(), es["exit_code"].as_i64(), es["pid"].as_i64()), (Some("stopped"), Some(7), Some(pid)));
    assert_eq!(s.state()["execs"][0]["exec_id"], "e1");
    assert!(json_log(&log).is_empty(), "docker does not log exec output");
    s.delete_and_check();
}

#[test]
fn exec_stdin_and_eof() {
    let rt = Rt::berth();
    let (_b, s) = sleeper(&rt, None);
    let (_, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "cat", "attach": true, "stdin": true, "process": process(&["sh", "-c", "tr a-z A-Z; exit 4"])}))
        .expect("exec");
    send(&mut st, b"shout this\n");
    st.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let (out, _) = demux(&mut st);
    assert_eq!(out, b"SHOUT THIS\n");
    assert_eq!(s.call(json!({"op": "wait", "exec_id": "cat"}))["exit_code"], 4);
    s.delete_and_check();
}

#[test]
fn exec_with_a_terminal_and_resize() {
    let rt = Rt::berth();
    let (_b, s) = sleeper(&rt, None);
    let (v, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "tty", "attach": true, "stdin": true, "terminal": true, "process": process(&["sh"])}))
        .expect("exec");
    assert!(v["pid"].as_i64().is_some());
    st.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.call(json!({"op": "resize", "exec_id": "tty", "width": 99, "height": 33}));
    send(&mut st, b"stty size; tty; exit 8\n");
    let got = read_until(&mut st, b"/dev/pts/");
    assert!(String::from_utf8_lossy(&got).contains("33 99"), "{:?}", String::from_utf8_lossy(&got));
    assert_eq!(s.call(json!({"op": "wait", "exec_id": "tty"}))["exit_code"], 8);
    s.delete_and_check();
}

#[test]
fn detached_exec_kill_and_state() {
    let rt = Rt::berth();
    let (_b, s) = sleeper(&rt, None);
    let v = s.call(json!({"op": "exec", "exec_id": "bg", "process": process(&["sleep", "1000"])}));
    let pid = v["pid"].as_i64().expect("pid") as i32;
    assert!(alive(pid));
    assert_eq!(s.call(json!({"op": "exec_state", "exec_id": "bg"}))["status"], "running");
    // An attacher can join a running exec later.
    let _late = s.attach(json!({"op": "attach", "exec_id": "bg", "stdout": true}));
    s.call(json!({"op": "kill", "exec_id": "bg", "signal": "TERM"}));
    let w = s.call(json!({"op": "wait", "exec_id": "bg"}));
    assert_eq!((w["exit_code"].as_i64(), w["signal"].as_i64()), (Some(143), Some(15)));
    let v = s.request(json!({"op": "kill", "exec_id": "bg", "signal": "TERM"}));
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(s.state()["status"], "running", "the container is unaffected");
    s.delete_and_check();
}

#[test]
fn exec_errors_are_reported() {
    let rt = Rt::berth();
    let (_b, s) = sleeper(&rt, None);
    let v = s.request(json!({"op": "exec", "exec_id": "nope", "process": process(&["/no/such/thing"])}));
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("/no/such/thing"), "{v}");
    assert!(v["exit_code"].as_i64().is_some(), "{v}");
    let v = s.request(json!({"op": "exec_state", "exec_id": "nope"}));
    assert_eq!(v["ok"], false, "a failed exec leaves no record: {v}");
    for (req, needle) in [
        (json!({"op": "exec", "exec_id": "../x", "process": process(&["true"])}), "invalid exec id"),
        (json!({"op": "exec", "exec_id": "x", "process": "not an object"}), "JSON object"),
        (json!({"op": "exec_state", "exec_id": "missing"}), "no such exec"),
        (json!({"op": "wait", "exec_id": "missing"}), "no such exec"),
    ] {
        let v = s.request(req.clone());
        assert_eq!(v["ok"], false, "{req}");
        assert!(v["error"].as_str().unwrap_or("").contains(needle), "{req} -> {v}");
    }
    let ok = s.call(json!({"op": "exec", "exec_id": "dup", "process": process(&["true"])}));
    assert!(ok["pid"].is_number());
    let v = s.request(json!({"op": "exec", "exec_id": "dup", "process": process(&["true"])}));
    assert!(v["error"].as_str().unwrap_or("").contains("already exists"), "{v}");
    // Nothing of the exec is left in the state dir.
    let left: Vec<String> = ls(&s.state_dir).into_iter().filter(|n| n.starts_with("exec-") || n.starts_with("runtime-")).collect();
    assert!(left.is_empty(), "{left:?}");
    s.delete_and_check();
}

#[test]
fn exec_into_a_stopped_container_is_refused() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("exit 0");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    s.wait();
    let v = s.request(json!({"op": "exec", "exec_id": "late", "process": process(&["true"])}));
    assert!(v["error"].as_str().unwrap_or("").contains("not running"), "{v}");
    s.delete_and_check();
}
