//! The container's log: json-file and CRI formats, rotation, long lines,
//! full disks, reopening.

mod common;

use berth_test_support::Bundle;
use common::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn json_file_has_stream_and_time_of_each_line() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo one; echo two >&2; printf 'no newline'");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() as i64;
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    assert_eq!(s.wait()["exit_code"], 0);
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() as i64;
    let entries = json_log(&log);
    assert_eq!(entries.len(), 3, "{entries:?}");
    let find = |text: &str| entries.iter().find(|e| e["log"] == text).unwrap_or_else(|| panic!("{text:?} in {entries:?}"));
    assert_eq!(find("one\n")["stream"], "stdout");
    assert_eq!(find("two\n")["stream"], "stderr");
    // A last line without newline is written at the end, as docker does.
    assert_eq!(find("no newline")["stream"], "stdout");
    for e in &entries {
        let keys: Vec<&String> = e.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["log", "stream", "time"], "docker's keys, in docker's order");
        let t = e["time"].as_str().expect("time");
        assert!(t.ends_with('Z'), "{t}");
        let secs = berth_time::Timestamp::parse_rfc3339(t).expect("RFC 3339").secs;
        assert!(secs >= before - 1 && secs <= after + 1, "{t} not within [{before}, {after}]");
    }
    // The raw line is exactly docker's shape.
    let raw = std::fs::read_to_string(&log).expect("read");
    assert!(raw.lines().any(|l| l.starts_with("{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"")), "{raw}");
    s.delete_and_check();
    assert!(log.exists(), "delete keeps the log (the engine removes it with the container)");
}

#[test]
fn rotation_at_a_small_max_size_keeps_max_files() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let opts = Opts { log_path: Some(log.clone()), max_size: Some(1000), max_files: Some(3), ..Opts::default() };
    let s = Shim::spawn(&rt, &b, &opts);
    s.started();
    assert_eq!(s.wait()["exit_code"], 0);
    let mut names = ls(dir.path());
    names.sort();
    assert_eq!(names, ["c-json.log", "c-json.log.1", "c-json.log.2"]);
    for n in &names {
        let size = std::fs::metadata(dir.path().join(n)).expect("stat").len();
        // docker rotates before the entry that would start past max-size: a
        // file ends at most one entry (< 120 bytes here) over it.
        assert!(size < 1000 + 120, "{n} is {size} bytes");
    }
    // The newest lines are in the current file, older ones in .1, .2, in order.
    let mut all = Vec::new();
    for n in ["c-json.log.2", "c-json.log.1", "c-json.log"] {
        all.extend(json_log(&dir.path().join(n)));
    }
    let nums: Vec<u32> = all
        .iter()
        .map(|e| e["log"].as_str().expect("log").split('-').nth(1).expect("n").parse().expect("num"))
        .collect();
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "consecutive across files: {nums:?}");
    assert_eq!(*nums.last().expect("last"), 199);
    assert!(nums[0] > 0, "the oldest lines were rotated away");
    s.delete_and_check();
}

#[test]
fn cri_format_with_partial_lines() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    // a 20000-byte line: one P piece of 16384 bytes, then the F rest
    b.set_script("echo hello; echo oops >&2; head -c 20000 /dev/zero | tr '\\0' a; echo; printf tail");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), log_driver: Some("cri"), ..Opts::default() });
    s.started();
    s.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<(&str, &str, &str, &str)> = text
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ' ');
            (p.next().expect("ts"), p.next().expect("stream"), p.next().expect("tag"), p.next().unwrap_or(""))
        })
        .collect();
    for (ts, ..) in &lines {
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
    }
    let shape: Vec<(&str, &str, usize)> = lines.iter().map(|(_, s, t, c)| (*s, *t, c.len())).collect();
    assert!(shape.contains(&("stdout", "F", 5)), "{shape:?}");
    assert!(shape.contains(&("stderr", "F", 4)), "{shape:?}");
    let big: Vec<_> = shape.iter().filter(|(s, _, n)| *s == "stdout" && *n > 5).collect();
    assert_eq!(big, [&("stdout", "P", 16384), &("stdout", "F", 20000 - 16384)], "{shape:?}");
    assert_eq!(shape.last(), Some(&("stdout", "P", 4)), "an unterminated last line is partial");
    s.delete_and_check();
}

#[test]
fn long_json_file_lines_are_split_like_docker() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("head -c 40000 /dev/zero | tr '\\0' b; echo");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    s.wait();
    let e = json_log(&log);
    let lens: Vec<(usize, bool)> = e
        .iter()
        .map(|v| {
            let l = v["log"].as_str().expect("log");
            (l.len(), l.ends_with('\n'))
        })
        .collect();
    assert_eq!(lens, [(16384, false), (16384, false), (40000 - 32768 + 1, true)]);
    assert!(e.iter().all(|v| v["time"] == e[0]["time"]), "pieces of one line share its time, as in docker");
    s.delete_and_check();
}

#[test]
fn logging_goes_on_without_attachers_and_with_a_terminal() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_script("echo in-a-tty; echo err-in-tty >&2");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { terminal: true, log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    assert_eq!(s.wait()["exit_code"], 0);
    let e = json_log(&log);
    assert!(e.iter().all(|v| v["stream"] == "stdout"), "a terminal has one stream: {e:?}");
    let text: String = e.iter().map(|v| v["log"].as_str().unwrap_or("").to_string()).collect();
    assert!(text.contains("in-a-tty\r\n") && text.contains("err-in-tty\r\n"), "{text:?}");
    s.delete_and_check();
}

/// A full disk: entries are dropped and counted, the container is neither
/// blocked nor killed, the shim keeps serving and records the exit.
#[test]
fn full_disk_drops_log_entries_and_keeps_going() {
    let rt = Rt::berth();
    let dir = berth_test_support::temp_dir("shim-fulldisk-");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("mount");
    assert!(mounted.success());
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _umount = Umount(mnt.clone());
    let log = mnt.join("c-json.log");
    let mut b = Bundle::busybox();
    b.set_script("i=0; while [ $i -lt 2000 ]; do echo line-$i-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy; i=$((i+1)); done; echo done; exit 9");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    let w = s.wait();
    assert_eq!(w["exit_code"], 9, "the container ran to its end: {w}");
    let st = s.state();
    let dropped = st["log_dropped"].as_u64().expect("log_dropped");
    assert!(dropped > 0, "{st}");
    assert!(st["log_error"].as_str().is_some_and(|e| e.contains("No space left")), "{st}");
    // Whatever was written is whole entries (torn ones are cut off).
    for l in std::fs::read_to_string(&log).expect("read").lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("torn entry {l:?}: {e}"));
    }
    s.delete_and_check();
}

#[test]
fn reopen_log_after_external_rotation() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second; sleep 1000");
    b.add_mount("/tmp", "tmpfs", "tmpfs", &["mode=1777"]);
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c.log");
    let s = Shim::spawn(&rt, &b, &Opts { log_path: Some(log.clone()), log_driver: Some("cri"), ..Opts::default() });
    s.started();
    eventually(Duration::from_secs(10), "first line", || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains(" F first")).map(drop)
    });
    // The kubelet renames the file away and asks for a reopen.
    let rotated = dir.path().join("c.log.20240101");
    std::fs::rename(&log, &rotated).expect("rename");
    s.call(json!({"op": "reopen_log"}));
    let (_, mut e) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "go", "attach": true, "process": {"args": ["touch", "/tmp/go"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    let _ = demux(&mut e);
    eventually(Duration::from_secs(10), "second line in the new file", || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains(" F second")).map(drop)
    });
    assert!(!std::fs::read_to_string(&rotated).expect("old").contains("second"));
    s.delete_and_check();
}
