//! Hostile and careless clients, and descriptor hygiene: the container sees
//! only its stdio, the shim keeps nothing its spawner leaked.

mod common;

use berth_test_support::Bundle;
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn raw(s: &Shim<'_>, bytes: &[u8]) -> String {
    raw_then(s, bytes, false)
}

fn raw_then(s: &Shim<'_>, bytes: &[u8], shut_write: bool) -> String {
    let mut c = s.client().connect().expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    c.write_all(bytes).expect("write");
    if shut_write {
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

#[test]
fn malformed_requests_get_errors_and_the_shim_keeps_working() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    for bad in [
        &b"not json\n"[..],
        b"{\"op\":\"frobnicate\"}\n",
        b"{\"op\":\"state\",\"unexpected\":true}\n",
        b"{\"op\":\"kill\",\"signal\":\"SIGNOPE\"}\n",
        b"{\"op\":\"kill\",\"signal\":99}\n",
        b"[1,2,3]\n",
        b"\xff\xfe\n",
        b"{\"op\":\"resize\",\"width\":\"wide\",\"height\":1}\n",
    ] {
        let out = raw(&s, bad);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out:?}: {e}"));
        assert_eq!(v["ok"], false, "{:?} -> {v}", String::from_utf8_lossy(bad));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    // A request without a newline, closed by the client, is still answered.
    let out = raw_then(&s, b"{\"op\":\"state\"}", true);
    assert!(out.contains("\"running\""), "{out}");
    // A huge line is refused without the shim buffering it forever.
    let mut c = s.client().connect().expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let junk = vec![b'x'; 1 << 20];
    let mut answer = String::new();
    let t = std::thread::spawn({
        let mut c = c.try_clone().expect("clone");
        move || {
            for _ in 0..3 {
                if c.write_all(&junk).is_err() {
                    break;
                }
            }
        }
    });
    let _ = c.read_to_string(&mut answer);
    let _ = t.join();
    assert!(answer.contains("request longer than"), "{answer:?}");
    // Clients that connect and vanish, or send half a request and vanish.
    for _ in 0..20 {
        drop(s.client().connect().expect("connect"));
        let mut c = s.client().connect().expect("connect");
        let _ = c.write_all(b"{\"op\":\"sta");
    }
    // Waiters that give up: more than the shim's connection limit, so the
    // shim must really let go of each.
    for _ in 0..150 {
        let mut c = s.client().connect().expect("connect");
        c.write_all(b"{\"op\":\"wait\"}\n").expect("write");
        drop(c);
    }
    let st = eventually(Duration::from_secs(10), "the shim to serve again", || {
        s.client().request(&json!({"op": "state"})).ok().filter(|v| v["ok"] == true)
    });
    assert_eq!(st["status"], "running");
    s.call(json!({"op": "kill", "signal": 9}));
    assert_eq!(s.wait()["exit_code"], 137, "the exit status survived all of it");
    s.delete_and_check();
}

#[test]
fn too_many_connections_are_refused_not_fatal() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    let idle: Vec<UnixStream> = (0..140).map(|_| s.client().connect().expect("connect")).collect();
    // Give the shim a moment to accept them all.
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    for mut c in idle.iter().skip(120).map(|c| c.try_clone().expect("clone")) {
        c.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        let mut buf = String::new();
        if c.read_to_string(&mut buf).is_ok() && buf.contains("too many connections") {
            refused += 1;
        }
    }
    assert!(refused > 0, "some of 140 idle connections are turned away");
    drop(idle);
    eventually(Duration::from_secs(5), "the shim to serve again", || {
        s.client().request(&json!({"op": "state"})).ok().filter(|v| v["ok"] == true)
    });
    s.delete_and_check();
}

/// Security: a descriptor leaked by the spawner must not reach the container
/// (nor stay open in the shim); the container sees exactly its stdio.
#[test]
fn container_and_exec_see_only_their_stdio() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("ls /proc/self/fd; sleep 1000");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let opts = Opts { log_path: Some(log.clone()), ..Opts::default() };
    let mut cmd = Shim::command(&rt, &b, &opts);
    let mut s = Shim::unspawned(&rt, &b, &mut cmd);
    // A descriptor without close-on-exec, as a careless spawner leaks it.
    let leaked = std::fs::File::open("/etc/hostname").expect("open");
    let fd = leaked.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // fcntl(2) to clear close-on-exec and dup2(2) onto fd 42.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 42) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    s.spawned = berth_shim::client::spawn(&mut cmd).map_err(|e| e.to_string());
    let shim_pid = s.started().shim_pid;
    drop(leaked);
    eventually(Duration::from_secs(10), "the fd listing", || (!json_log(&log).is_empty()).then_some(()));
    let fds: Vec<String> = json_log(&log).iter().map(|e| e["log"].as_str().unwrap_or("").trim().to_string()).collect();
    // ls itself opens the directory it lists (fd 3).
    assert_eq!(fds, ["0", "1", "2", "3"], "the container sees only its stdio");
    let shim_fds: Vec<String> = ls(std::path::Path::new(&format!("/proc/{shim_pid}/fd")));
    assert!(!shim_fds.contains(&"42".to_string()), "the shim closed the leaked descriptor: {shim_fds:?}");
    // Every descriptor of the shim is close-on-exec.
    for fd in &shim_fds {
        let info = std::fs::read_to_string(format!("/proc/{shim_pid}/fdinfo/{fd}")).unwrap_or_default();
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).map(|f| u32::from_str_radix(f.trim(), 8).expect("octal"));
        if let Some(flags) = flags
            && fd.parse::<i32>().expect("fd") > 2
        {
            assert!(flags & libc::O_CLOEXEC as u32 != 0, "fd {fd} of the shim is not close-on-exec: {info}");
        }
    }
    let (_, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "fds", "attach": true, "process": {"args": ["ls", "/proc/self/fd"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    let (out, _) = demux(&mut st);
    assert_eq!(String::from_utf8_lossy(&out).split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    let (_, mut st) = s
        .client()
        .stream(&json!({"op": "exec", "exec_id": "fds-tty", "attach": true, "terminal": true, "process": {"args": ["ls", "/proc/self/fd"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}))
        .expect("exec");
    let mut out = Vec::new();
    let _ = st.read_to_end(&mut out);
    assert_eq!(String::from_utf8_lossy(&out).split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
    s.delete_and_check();
}

/// A client that shuts down its sending side after the request (as
/// `socat`/`nc -N` do) still gets its answer, also for `wait`.
#[test]
fn half_closed_clients_still_get_answers() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_script("sleep 0.5; exit 4");
    let s = Shim::spawn(&rt, &b, &Opts::default());
    s.started();
    let out = raw_then(&s, b"{\"op\":\"wait\"}\n", true);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out:?}: {e}"));
    assert_eq!(v["exit_code"], 4, "{v}");
    s.delete_and_check();
}

#[test]
fn terminal_container_sees_only_its_stdio() {
    let rt = Rt::berth();
    let mut b = Bundle::busybox();
    b.set_terminal(true);
    b.set_script("ls /proc/self/fd; exit 0");
    let dir = berth_test_support::temp_dir("shim-log-");
    let log = dir.path().join("c-json.log");
    let s = Shim::spawn(&rt, &b, &Opts { terminal: true, log_path: Some(log.clone()), ..Opts::default() });
    s.started();
    assert_eq!(s.wait()["exit_code"], 0);
    let text: String = json_log(&log).iter().map(|e| e["log"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(text.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"], "{text:?}");
    s.delete_and_check();
}
