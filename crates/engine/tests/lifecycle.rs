//! Containers from the registry's busybox image through the real shim and
//! runtimes: create, start, logs, stop, kill, wait, rm, exec, restart
//! policies, start failures, bad input, leftovers.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use berth_engine::model::{EventsOptions, ListOptions, LogOptions, RemoveOptions, StopOptions};
use berth_engine::spec::{ContainerSpec, ExecSpec, RestartPolicy, RestartPolicyName, WaitCondition};
use berth_engine::{ErrorKind, ExecStarted, StartFailure};
use common::{Harness, eventually, isolated};
use tokio::io::AsyncReadExt;

fn logs_text(h: &Harness, id: &str) -> String {
    h.block(async {
        let mut rx = h.engine.logs(id, LogOptions { stdout: true, stderr: true, ..Default::default() }).await.expect("logs");
        let mut s = String::new();
        while let Some(l) = rx.recv().await {
            s.push_str(&String::from_utf8_lossy(&l.expect("log line").bytes));
        }
        s
    })
}

/// Splits docker stdcopy frames into (stdout, stderr).
fn demux(mut b: &[u8]) -> (String, String) {
    let (mut o, mut e) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let payload = &b[8..8 + n];
        if b[0] == 2 { e.extend_from_slice(payload) } else { o.extend_from_slice(payload) }
        b = &b[8 + n..];
    }
    (String::from_utf8_lossy(&o).into_owned(), String::from_utf8_lossy(&e).into_owned())
}

#[test]
fn create_start_logs_stop_rm() {
    if !isolated("create_start_logs_stop_rm") {
        return;
    }
    let h = Harness::new();
    let mut events = h.block(async { h.engine.events(EventsOptions::default()) });
    let spec = ContainerSpec { name: Some("web".into()), ..h.sh("trap 'echo bye; exit 3' TERM; echo hello; echo oops >&2; while true; do sleep 0.1; done") };
    let c = h.block(h.engine.create(spec)).expect("create");
    assert!(c.warnings.is_empty());
    let d = h.block(h.engine.inspect("web", false)).expect("inspect by name");
    assert_eq!(d.state.status.as_str(), "created");
    assert_eq!(d.id, c.id);
    h.block(h.engine.start(&c.id)).expect("start");
    let e = h.block(h.engine.start(&c.id)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotModified);
    let d = h.block(h.engine.inspect(&c.id[..12], false)).expect("inspect by prefix");
    assert!(d.state.running && d.state.pid > 0, "{:?}", d.state);
    assert!(std::path::Path::new(&format!("/proc/{}", d.state.pid)).exists());
    assert!(!h.cgroups_of(&c.id).is_empty(), "the container has its cgroup");
    assert!(eventually(Duration::from_secs(10), || logs_text(&h, &c.id).contains("oops")), "logs: {:?}", logs_text(&h, &c.id));
    let text = logs_text(&h, &c.id);
    assert!(text.starts_with("hello\n") || text.starts_with("oops\n"), "{text:?}");
    // only stderr
    let only_err = h.block(async {
        let mut rx = h.engine.logs(&c.id, LogOptions { stderr: true, ..Default::default() }).await.unwrap();
        let mut v = Vec::new();
        while let Some(l) = rx.recv().await {
            v.push(l.unwrap());
        }
        v
    });
    assert_eq!(only_err.len(), 1);
    assert_eq!(only_err[0].bytes, b"oops\n");
    let list = h.block(h.engine.list(ListOptions::default())).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].status_text.starts_with("Up "), "{}", list[0].status_text);

    let waiter = h.block(h.engine.wait(&c.id, WaitCondition::NotRunning)).unwrap();
    h.block(h.engine.stop(&c.id, StopOptions { timeout: Some(10), signal: None })).expect("stop");
    let w = h.block(waiter);
    assert_eq!(w.exit_code, 3, "the trap ran: SIGTERM reached the container");
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert_eq!((d.state.status.as_str(), d.state.exit_code, d.state.running), ("exited", 3, false));
    assert!(logs_text(&h, &c.id).contains("bye"));
    let e = h.block(h.engine.stop(&c.id, StopOptions::default())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotModified);
    assert!(h.block(h.engine.list(ListOptions::default())).unwrap().is_empty(), "ps without -a hides exited");
    assert_eq!(h.block(h.engine.list(ListOptions { all: true, ..Default::default() })).unwrap().len(), 1);

    h.block(h.engine.remove(&c.id, RemoveOptions::default())).expect("rm");
    let e = h.block(h.engine.inspect(&c.id, false)).unwrap_err();
    assert_eq!(e.to_string(), format!("No such container: {}", c.id));
    assert!(eventually(Duration::from_secs(5), || h.cgroups_of(&c.id).is_empty()), "cgroup removed: {:?}", h.cgroups_of(&c.id));
    h.assert_no_leaks();

    let mut actions = Vec::new();
    h.block(async {
        while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            actions.push(e.action.clone());
        }
    });
    for want in ["create", "start", "kill", "die", "stop", "destroy"] {
        assert!(actions.iter().any(|a| a == want), "event {want} in {actions:?}");
    }
}

#[test]
fn exit_codes_and_start_failures() {
    if !isolated("exit_codes_and_start_failures") {
        return;
    }
    let h = Harness::new();
    let c = h.block(h.engine.create(h.sh("exit 7"))).unwrap();
    let w = h.block(h.engine.wait(&c.id, WaitCondition::NextExit)).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    assert_eq!(h.block(w).exit_code, 7);

    let spec = ContainerSpec { image: h.image.clone(), cmd: Some(vec!["nosuchcommand".into()]), ..Default::default() };
    let c = h.block(h.engine.create(spec)).unwrap();
    let e = h.block(h.engine.start(&c.id)).unwrap_err();
    assert_eq!(e.start_failure(), Some(StartFailure::NotFound), "{e}");
    assert!(e.to_string().contains("exec: \"nosuchcommand\": executable file not found in $PATH"), "{e}");
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert_eq!(d.state.exit_code, 127);
    assert!(d.state.error.contains("executable file not found"));
    assert!(!d.state.running);

    let spec = ContainerSpec { image: h.image.clone(), cmd: Some(vec!["/etc".into()]), ..Default::default() };
    let c = h.block(h.engine.create(spec)).unwrap();
    let e = h.block(h.engine.start(&c.id)).unwrap_err();
    assert_eq!(e.start_failure(), Some(StartFailure::CannotInvoke), "{e}");
    assert_eq!(h.block(h.engine.inspect(&c.id, false)).unwrap().state.exit_code, 126);
    for c in h.block(h.engine.list(ListOptions { all: true, ..Default::default() })).unwrap() {
        h.block(h.engine.remove(&c.id, RemoveOptions::default())).unwrap();
    }
    h.assert_no_leaks();
}

#[test]
fn bad_input_is_refused_with_docker_texts() {
    if !isolated("bad_input_is_refused_with_docker_texts") {
        return;
    }
    let h = Harness::new();
    let e = h.block(h.engine.create(ContainerSpec { image: "127.0.0.1:1/nope:latest".into(), ..Default::default() })).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().starts_with("No such image: "), "{e}");
    let e = h.block(h.engine.start("nosuch")).unwrap_err();
    assert_eq!(e.to_string(), "No such container: nosuch");
    let c = h.block(h.engine.create(ContainerSpec { name: Some("taken".into()), ..h.sh("true") })).unwrap();
    let e = h.block(h.engine.create(ContainerSpec { name: Some("/taken".into()), ..h.sh("true") })).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("Conflict. The container name \"/taken\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.", c.id)
    );
    let e = h.block(h.engine.create(ContainerSpec { name: Some("bad name".into()), ..h.sh("true") })).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let mut spec = h.sh("true");
    spec.resources.memory = 100;
    assert!(h.block(h.engine.create(spec)).unwrap_err().to_string().contains("Minimum memory limit allowed is 6MB"));
    let spec = ContainerSpec { runtime: Some("nosuch".into()), ..h.sh("true") };
    assert!(h.block(h.engine.create(spec)).unwrap_err().to_string().contains("unknown or invalid runtime name: nosuch"));
    let spec = ContainerSpec { security_opt: vec!["apparmor=unconfined".into()], ..h.sh("true") };
    assert!(h.block(h.engine.create(spec)).unwrap_err().to_string().starts_with("not supported yet"));
    // refused creates leave nothing (only the one good container exists)
    assert_eq!(h.block(h.engine.list(ListOptions { all: true, ..Default::default() })).unwrap().len(), 1);
    h.block(h.engine.rename("taken", "free")).unwrap();
    h.block(h.engine.create(ContainerSpec { name: Some("taken".into()), ..h.sh("true") })).expect("the old name is free after a rename");
    let e = h.block(h.engine.rename("taken", "free")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let e = h.block(h.engine.kill("free", None)).unwrap_err();
    assert_eq!(e.to_string(), format!("Container {} is not running", c.id));
}

#[test]
fn exec_attached_detached_and_failing() {
    if !isolated("exec_attached_detached_and_failing") {
        return;
    }
    let h = Harness::new();
    let c = h.block(h.engine.create(ContainerSpec { env: vec!["FOO=bar".into()], ..h.sh("sleep 100") })).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    let x = h
        .block(h.engine.exec_create(&c.id, ExecSpec { cmd: vec!["sh".into(), "-c".into(), "echo $FOO; echo e >&2; exit 4".into()], attach_stdout: true, attach_stderr: true, ..Default::default() }))
        .unwrap();
    let out = h.block(async {
        match h.engine.exec_start(&x, Default::default()).await.unwrap() {
            ExecStarted::Attached(mut a) => {
                let mut b = Vec::new();
                a.io.read_to_end(&mut b).await.unwrap();
                b
            }
            ExecStarted::Detached => panic!("attached expected"),
        }
    });
    assert_eq!(demux(&out), ("bar\n".to_string(), "e\n".to_string()));
    assert!(eventually(Duration::from_secs(5), || h.block(h.engine.exec_inspect(&x)).unwrap().exit_code == Some(4)));
    let d = h.block(h.engine.exec_inspect(&x)).unwrap();
    assert!(!d.running);
    // detached
    let x = h.block(h.engine.exec_create(&c.id, ExecSpec { cmd: vec!["touch".into(), "/tmp/made".into()], ..Default::default() })).unwrap();
    assert!(matches!(h.block(h.engine.exec_start(&x, berth_engine::model::ExecStartOptions { detach: true, ..Default::default() })).unwrap(), ExecStarted::Detached));
    assert!(eventually(Duration::from_secs(5), || h.block(h.engine.exec_inspect(&x)).unwrap().exit_code == Some(0)));
    let st = h.block(h.engine.archive_head(&c.id, "/tmp/made")).expect("the exec's file exists");
    assert_eq!(st.name, "made");
    // not found
    let x = h.block(h.engine.exec_create(&c.id, ExecSpec { cmd: vec!["nosuch".into()], ..Default::default() })).unwrap();
    let e = h.block(h.engine.exec_start(&x, Default::default())).unwrap_err();
    assert_eq!(e.start_failure(), Some(StartFailure::NotFound), "{e}");
    assert_eq!(h.block(h.engine.exec_inspect(&x)).unwrap().exit_code, Some(127));
    let e = h.block(h.engine.exec_inspect("nosuch")).unwrap_err();
    assert_eq!(e.to_string(), "No such exec instance: nosuch");
    h.block(h.engine.remove(&c.id, RemoveOptions { force: true, ..Default::default() })).unwrap();
    let e = h.block(h.engine.exec_create(&c.id, ExecSpec { cmd: vec!["true".into()], ..Default::default() })).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    h.assert_no_leaks();
}

#[test]
fn restart_policies_and_auto_remove() {
    if !isolated("restart_policies_and_auto_remove") {
        return;
    }
    let h = Harness::new();
    let spec = ContainerSpec { restart_policy: RestartPolicy { name: RestartPolicyName::OnFailure, maximum_retry_count: 2 }, ..h.sh("echo run; exit 1") };
    let c = h.block(h.engine.create(spec)).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || {
            let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
            d.restart_count == 2 && !d.state.running && !d.state.restarting
        }),
        "{:?}",
        h.block(h.engine.inspect(&c.id, false)).unwrap().state
    );
    std::thread::sleep(Duration::from_millis(500));
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert_eq!((d.restart_count, d.state.exit_code), (2, 1), "no third restart");
    assert_eq!(logs_text(&h, &c.id).matches("run").count(), 3);

    // always: restarts after an exit, not after a stop
    let spec = ContainerSpec { restart_policy: RestartPolicy { name: RestartPolicyName::Always, maximum_retry_count: 0 }, ..h.sh("sleep 0.2") };
    let a = h.block(h.engine.create(spec)).unwrap();
    h.block(h.engine.start(&a.id)).unwrap();
    assert!(eventually(Duration::from_secs(10), || h.block(h.engine.inspect(&a.id, false)).unwrap().restart_count >= 1));
    h.block(h.engine.stop(&a.id, StopOptions { timeout: Some(1), signal: None })).ok();
    std::thread::sleep(Duration::from_millis(800));
    let d = h.block(h.engine.inspect(&a.id, false)).unwrap();
    assert!(!d.state.running && !d.state.restarting, "a stopped always-container stays stopped: {:?}", d.state);

    // --rm
    let spec = ContainerSpec { auto_remove: true, ..h.sh("exit 0") };
    let r = h.block(h.engine.create(spec)).unwrap();
    let gone = h.block(h.engine.wait(&r.id, WaitCondition::Removed)).unwrap();
    h.block(h.engine.start(&r.id)).unwrap();
    h.block(async { tokio::time::timeout(Duration::from_secs(10), gone).await }).expect("removed");
    assert_eq!(h.block(h.engine.inspect(&r.id, false)).unwrap_err().kind(), ErrorKind::NotFound);
    for c in h.block(h.engine.list(ListOptions { all: true, ..Default::default() })).unwrap() {
        h.block(h.engine.remove(&c.id, RemoveOptions { force: true, ..Default::default() })).unwrap();
    }
    h.assert_no_leaks();
}

#[test]
fn runc_and_crun_per_container() {
    if !isolated("runc_and_crun_per_container") {
        return;
    }
    let h = Harness::new();
    for rt in ["runc", "crun"] {
        if !h.config.runtimes.contains_key(rt) {
            continue;
        }
        let spec = ContainerSpec { runtime: Some(rt.into()), ..h.sh("echo from-$0; cat /proc/self/status | grep -c CapEff") };
        let c = h.block(h.engine.create(spec)).unwrap();
        let w = h.block(h.engine.wait(&c.id, WaitCondition::NextExit)).unwrap();
        h.block(h.engine.start(&c.id)).unwrap_or_else(|e| panic!("{rt}: {e}"));
        assert_eq!(h.block(w).exit_code, 0, "{rt}");
        assert!(logs_text(&h, &c.id).contains("from-sh"), "{rt}");
        assert_eq!(h.block(h.engine.inspect(&c.id, false)).unwrap().runtime, rt);
        h.block(h.engine.remove(&c.id, RemoveOptions::default())).unwrap();
    }
    h.assert_no_leaks();
}

#[test]
fn labels_filters_and_names() {
    if !isolated("labels_filters_and_names") {
        return;
    }
    let h = Harness::new();
    let mut labels = BTreeMap::new();
    labels.insert("tier".to_string(), "web".to_string());
    let a = h.block(h.engine.create(ContainerSpec { labels, ..h.sh("true") })).unwrap();
    let b = h.block(h.engine.create(h.sh("true"))).unwrap();
    let name_b = h.block(h.engine.inspect(&b.id, false)).unwrap().name;
    assert!(name_b.contains('_'), "generated docker-like name: {name_b}");
    let f = |k: &str, v: &str| ListOptions { all: true, filters: [(k.to_string(), vec![v.to_string()])].into(), ..Default::default() };
    let ids = |o: ListOptions| h.block(h.engine.list(o)).unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(f("label", "tier=web")), vec![a.id.clone()]);
    assert_eq!(ids(f("name", &name_b)), vec![b.id.clone()]);
    assert_eq!(ids(f("status", "created")).len(), 2);
    assert_eq!(ids(f("since", &a.id)), vec![b.id.clone()]);
    assert_eq!(ids(ListOptions { all: true, limit: 1, ..Default::default() }), vec![b.id.clone()], "newest first");
    assert!(h.block(h.engine.list(f("bogus", "x"))).is_err());
}

#[test]
fn rm_after_failed_start_with_rm_flag() {
    if !isolated("rm_after_failed_start_with_rm_flag") {
        return;
    }
    let h = Harness::new();
    let mut events = h.block(async { h.engine.events(EventsOptions::default()) });
    let spec = ContainerSpec { auto_remove: true, image: h.image.clone(), cmd: Some(vec!["nosuchcommand".into()]), ..Default::default() };
    let c = h.block(h.engine.create(spec)).unwrap();
    let e = h.block(h.engine.start(&c.id)).unwrap_err();
    assert_eq!(e.start_failure(), Some(StartFailure::NotFound), "{e}");
    // gone when start returns: no waiting, no help from the API
    let e = h.block(h.engine.inspect(&c.id, false)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(h.block(h.engine.list(ListOptions { all: true, ..Default::default() })).unwrap().is_empty());
    let mut actions = Vec::new();
    h.block(async {
        while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            actions.push(e.action.clone());
        }
    });
    assert!(actions.iter().any(|a| a == "destroy"), "{actions:?}");
    h.assert_no_leaks();
}

#[test]
fn exec_errors_before_the_process_runs_have_docker_exit_codes() {
    if !isolated("exec_errors_before_the_process_runs_have_docker_exit_codes") {
        return;
    }
    let h = Harness::new();
    let c = h.block(h.engine.create(h.sh("sleep 100"))).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    let run = |spec: ExecSpec| {
        let x = h.block(h.engine.exec_create(&c.id, spec)).expect("exec create");
        let e = h.block(h.engine.exec_start(&x, Default::default())).expect_err("the exec cannot start");
        let d = h.block(h.engine.exec_inspect(&x)).unwrap();
        assert!(!d.running);
        (e.to_string(), d.exit_code)
    };
    // an unknown user: docker's text, 126 (docker exec exits with it)
    let (msg, code) = run(ExecSpec { cmd: vec!["true".into()], user: Some("nosuchuser".into()), ..Default::default() });
    assert!(msg.contains("unable to find user nosuchuser: no matching entries in passwd file"), "{msg}");
    assert_eq!(code, Some(126));
    // a working directory that does not exist: 126, not a missing command
    let (msg, code) = run(ExecSpec { cmd: vec!["true".into()], working_dir: Some("/nowhere".into()), ..Default::default() });
    assert_eq!(code, Some(126), "{msg}");
    // a relative working directory is refused before the runtime: 126
    let (msg, code) = run(ExecSpec { cmd: vec!["true".into()], working_dir: Some("tmp".into()), ..Default::default() });
    assert_eq!(code, Some(126), "{msg}");
    // a missing binary: 127
    let (msg, code) = run(ExecSpec { cmd: vec!["/bin/nosuch".into()], ..Default::default() });
    assert_eq!(code, Some(127), "{msg}");
    h.block(h.engine.remove(&c.id, RemoveOptions { force: true, ..Default::default() })).unwrap();
    h.assert_no_leaks();
}

#[test]
fn console_size_reaches_the_runtime() {
    if !isolated("console_size_reaches_the_runtime") {
        return;
    }
    let h = Harness::new();
    let spec = ContainerSpec { tty: true, console_size: Some((33, 101)), ..h.sh("stty size") };
    let c = h.block(h.engine.create(spec)).unwrap();
    assert_eq!(h.block(h.engine.inspect(&c.id, false)).unwrap().spec.console_size, Some((33, 101)));
    let w = h.block(h.engine.wait(&c.id, WaitCondition::NextExit)).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    assert_eq!(h.block(w).exit_code, 0);
    // the size is the terminal's from the first instruction on
    assert_eq!(logs_text(&h, &c.id).trim(), "33 101");
    h.block(h.engine.remove(&c.id, RemoveOptions::default())).unwrap();
    h.assert_no_leaks();
}

#[test]
fn inspect_shows_the_hostname_in_use() {
    if !isolated("inspect_shows_the_hostname_in_use") {
        return;
    }
    let h = Harness::new();
    let c = h.block(h.engine.create(h.sh("hostname"))).unwrap();
    assert_eq!(h.block(h.engine.inspect(&c.id, false)).unwrap().hostname, c.id[..12]);
    let w = h.block(h.engine.wait(&c.id, WaitCondition::NextExit)).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    h.block(w);
    assert_eq!(logs_text(&h, &c.id).trim(), &c.id[..12]);
    let named = h.block(h.engine.create(ContainerSpec { hostname: Some("box.local".into()), ..h.sh("true") })).unwrap();
    assert_eq!(h.block(h.engine.inspect(&named.id, false)).unwrap().hostname, "box.local");
    let host = h.block(h.engine.create(ContainerSpec { network_mode: Some("host".into()), ..h.sh("true") })).unwrap();
    let want = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(h.block(h.engine.inspect(&host.id, false)).unwrap().hostname, want);
    for id in [&c.id, &named.id, &host.id] {
        h.block(h.engine.remove(id, RemoveOptions::default())).unwrap();
    }
    h.assert_no_leaks();
}

/// Removes the `--cgroup-parent` directories the runtime made, in every
/// hierarchy, even when the test fails.
struct ParentCgroup(String);

impl Drop for ParentCgroup {
    fn drop(&mut self) {
        berth_test_support::cgroups::remove_everywhere(&[&self.0]);
    }
}

#[test]
fn cgroup_parent_is_where_stats_top_and_oom_look() {
    if !isolated("cgroup_parent_is_where_stats_top_and_oom_look") {
        return;
    }
    let h = Harness::new();
    let parent = ParentCgroup(format!("/berth-test-parent-{}", std::process::id()));
    let limited = |script: &str, memory: i64| {
        let mut s = h.sh(script);
        s.cgroup_parent = Some(parent.0.clone());
        s.resources.memory = memory;
        s
    };
    let c = h.block(h.engine.create(limited("sleep 100", 64 << 20))).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    // stats read the container's cgroup below the parent: its limit
    let s = h.block(async {
        let mut rx = h.engine.stats(&c.id, false, true).await.expect("stats");
        rx.recv().await.expect("one sample").expect("a sample, not an error")
    });
    assert_eq!(s.memory_limit, 64 << 20, "{s:?}");
    assert!(s.pids_current >= 1, "{s:?}");
    let top = h.block(h.engine.top(&c.id, None)).unwrap();
    assert!(top.processes.iter().any(|p| p.join(" ").contains("sleep 100")), "{top:?}");
    h.block(h.engine.remove(&c.id, RemoveOptions { force: true, ..Default::default() })).unwrap();
    // an OOM kill in that cgroup shows in the state
    let c = h.block(h.engine.create(limited("tail /dev/zero", 32 << 20))).unwrap();
    let w = h.block(h.engine.wait(&c.id, WaitCondition::NextExit)).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    assert_eq!(h.block(w).exit_code, 137);
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert!(d.state.oom_killed, "{:?}", d.state);
    h.block(h.engine.remove(&c.id, RemoveOptions::default())).unwrap();
    h.assert_no_leaks();
}
