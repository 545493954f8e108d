//! Attach: live output in stdcopy frames, stdin, StdinOnce, terminals and
//! resize, attaching before start.

mod common;

use berth_test_support::Bundle;
use common::*;
use serde_json::json;
use std::io::Read;
use std::net::Shutdown;
use std::time::Duration;

#[test]
fn attach_gets_live_output_in_stdcopy_frames() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("while [ ! -e /tmp/go ]; do sleep 0.02; done; echo out1; echo err1 >&2; echo out2; sleep 0.2; exit 2");
    b.add_mount("/tmp", "tmpfs", "tmpfs", &["mode=1777"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    let mut a = s.attach(json!({"op": "attach", "stdout": true, "stderr": true}));
    let mut only_err = s.attach(json!({"op": "attach", "stderr": true}));
    let (_, mut e) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "go", "attach": true, "process": {"args": ["touch", "/tmp/go"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    let _ = demux(&mut e);
    let (out, err) = demux(&mut a);
    assert_eq!(String::from_utf8_lossy(&out), "out1\nout2\n");
    assert_eq!(String::from_utf8_lossy(&err), "err1\n");
    let (out, err) = demux(&mut only_err);
    assert!(out.is_empty());
    assert_eq!(err, b"err1\n");
    assert_eq!(s.wait()["exit_code"], 2);
    // Attaching to a stopped container is refused.
    let v = s.request(json!({"op": "attach", "stdout": true}));
    assert_eq!(v["ok"], false, "{v}");
    s.delete_and_check();
}

#[test]
fn attach_before_start_misses_nothing() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo first-line; echo second-line >&2");
    let s = Shim::spawn(&rt, &b, &Opts { no_start: true, ..Opts::default() });
    s.started();
    let mut a = s.attach(json!({"op": "attach", "stdout": true, "stderr": true}));
    s.call(json!({"op": "start"}));
    let (out, err) = demux(&mut a);
    assert_eq!(out, b"first-line\n");
    assert_eq!(err, b"second-line\n");
    s.delete_and_check();
}

#[test]
fn stdin_reaches_the_container_and_closing_it_ends_cat() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("cat; echo cat-ended >&2; exit 6");
    let s = Shim::spawn(&rt, &b, &Opts { stdin: true, ..Opts::default() });
    s.started();
    let mut a = s.attach(json!({"op": "attach", "stdin": true, "stdout": true, "stderr": true}));
    send(&mut a, b"hello over stdin\n");
    let (stream, data) = berth_shim::stdcopy::read_frame(&mut a).expect("frame").expect("echo");
    assert_eq!((stream, data.as_slice()), (berth_shim::Stream::Stdout, &b"hello over stdin\n"[..]));
    // A large write goes through whole (more than a pipe's buffer).
    let big = vec![b'z'; 300_000];
    let mut writer = a.try_clone().expect("clone");
    let t = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(&big).expect("big write");
        // StdinOnce: shutting down our sending side closes the container's stdin.
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let (out, err) = demux(&mut a);
    t.join().expect("writer");
    assert_eq!(out.len(), 300_000);
    assert!(out.iter().all(|&c| c == b'z'));
    assert_eq!(err, b"cat-ended\n");
    assert_eq!(s.wait()["exit_code"], 6);
    s.delete_and_check();
}

#[test]
fn close_stdin_false_keeps_stdin_open_for_the_next_attacher() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("read a; read b; echo got $a $b");
    let s = Shim::spawn(&rt, &b, &Opts { stdin: true, ..Opts::default() });
    s.started();
    let mut first = s.attach(json!({"op": "attach", "stdin": true, "close_stdin": false}));
    send(&mut first, b"one\n");
    first.shutdown(Shutdown::Write).expect("shutdown");
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.state()["status"], "running", "stdin stayed open");
    let mut second = s.attach(json!({"op": "attach", "stdin": true, "stdout": true}));
    send(&mut second, b"two\n");
    let (out, _) = demux(&mut second);
    assert_eq!(out, b"got one two\n");
    s.delete_and_check();
}

#[test]
fn terminal_attach_is_raw_and_resize_reaches_stty() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_args(&["sh"]);
    let s = Shim::spawn(&rt, &b, &Opts { terminal: true, stdin: true, ..Opts::default() });
    s.started();
    let (v, mut a) = s.client().stream(&json!({"op": "attach", "stdin": true, "stdout": true})).expect("attach");
    assert_eq!(v["terminal"], true);
    a.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.call(json!({"op": "resize", "width": 123, "height": 45}));
    send(&mut a, b"stty size; echo mark-$((40+2))\n");
    let got = read_until(&mut a, b"mark-42");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("45 123"), "{text:?}");
    assert!(!got.starts_with(&[1, 0, 0, 0]), "no stdcopy header with a terminal");
    s.call(json!({"op": "resize", "width": 80, "height": 24}));
    send(&mut a, b"stty size; exit 3\n");
    let mut rest = Vec::new();
    let _ = a.read_to_end(&mut rest);
    assert!(String::from_utf8_lossy(&rest).contains("24 80"), "{:?}", String::from_utf8_lossy(&rest));
    assert_eq!(s.wait()["exit_code"], 3);
    let v = s.request(json!({"op": "resize", "width": 1, "height": 1}));
    assert_eq!(v["ok"], false, "resizing a stopped container: {v}");
    s.delete_and_check();
}

#[test]
fn resize_without_a_terminal_is_an_error() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    let v = s.request(json!({"op": "resize", "width": 10, "height": 10}));
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap_or("").contains("no terminal"), "{v}");
    s.delete_and_check();
}

/// A client that disappears mid-stream does not disturb the container, the
/// log or other clients.
#[test]
fn attach_client_vanishing_mid_stream() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("i=0; while [ $i -lt 300 ]; do echo n$i; i=$((i+1)); sleep 0.005; done");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    for _ in 0..5 {
        let mut a = s.attach(json!({"op": "attach", "stdout": true}));
        let _ = berth_shim::stdcopy::read_frame(&mut a);
        drop(a); // gone without a word
    }
    // One that never reads at all.
    let lazy = s.attach(json!({"op": "attach", "stdout": true}));
    let w = s.wait();
    assert_eq!(w["exit_code"], 0);
    drop(lazy);
    let lines = json_log(&log);
    assert_eq!(lines.len(), 300, "every line logged");
    assert_eq!(lines[299]["log"], "n299\n");
    s.delete_and_check();
}
