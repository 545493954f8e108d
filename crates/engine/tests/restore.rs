//! Live restore: an engine closed (or a daemon killed) while containers run
//! finds them again; leftovers nothing refers to are removed at open.

mod common;

use std::time::Duration;

use berth_engine::model::{LogOptions, RemoveOptions, StopOptions};
use berth_engine::spec::{ContainerSpec, ExecSpec, WaitCondition};
use common::{Harness, eventually, isolated};

fn log_lines(h: &Harness, id: &str) -> usize {
    h.block(async {
        let mut rx = h.engine.logs(id, LogOptions { stdout: true, stderr: true, ..Default::default() }).await.unwrap();
        let mut n = 0;
        while let Some(l) = rx.recv().await {
            l.unwrap();
            n += 1;
        }
        n
    })
}

#[test]
fn running_containers_survive_an_engine_restart() {
    if !isolated("running_containers_survive_an_engine_restart") {
        return;
    }
    let mut h = Harness::new();
    let c = h.block(h.engine.create(h.sh("while true; do echo tick; sleep 0.1; done"))).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    let short = h.block(h.engine.create(ContainerSpec { network_mode: Some("none".into()), ..h.sh("sleep 0.5; exit 9") })).unwrap();
    h.block(h.engine.start(&short.id)).unwrap();
    let pid = h.block(h.engine.inspect(&c.id, false)).unwrap().state.pid;
    h.restart_engine_after(Duration::from_millis(1200));
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert!(d.state.running, "{:?}", d.state);
    assert_eq!(d.state.pid, pid, "the same process, re-attached");
    let n = log_lines(&h, &c.id);
    assert!(eventually(Duration::from_secs(5), || log_lines(&h, &c.id) > n + 3), "logs keep flowing");
    let d = h.block(h.engine.inspect(&short.id, false)).unwrap();
    assert_eq!((d.state.running, d.state.exit_code), (false, 9), "the exit recorded while the engine was away");
    // stop, exec and rm work on the re-attached container
    let x = h.block(h.engine.exec_create(&c.id, ExecSpec { cmd: vec!["true".into()], ..Default::default() })).unwrap();
    h.block(h.engine.exec_start(&x, berth_engine::model::ExecStartOptions { detach: true, ..Default::default() })).unwrap();
    assert!(eventually(Duration::from_secs(5), || h.block(h.engine.exec_inspect(&x)).unwrap().exit_code == Some(0)));
    let w = h.block(h.engine.wait(&c.id, WaitCondition::NotRunning)).unwrap();
    h.block(h.engine.stop(&c.id, StopOptions { timeout: Some(1), signal: None })).unwrap();
    assert_eq!(h.block(w).exit_code, 137, "sh as pid 1 ignores SIGTERM: killed after the timeout");
    h.block(h.engine.remove(&c.id, RemoveOptions::default())).unwrap();
    h.block(h.engine.remove(&short.id, RemoveOptions::default())).unwrap();
    h.assert_no_leaks();
}

#[test]
fn orphans_are_removed_at_open() {
    if !isolated("orphans_are_removed_at_open") {
        return;
    }
    let mut h = Harness::new();
    // what a daemon killed between snapshot and record would leave
    let orphan = "ab".repeat(32);
    let img = h.engine.images().get(&h.image).unwrap();
    h.engine.images().prepare_rootfs(&img, &orphan).unwrap();
    std::fs::create_dir_all(h.config.data_root.join("containers").join(&orphan).join("rootfs")).unwrap();
    let rootfs = h.config.data_root.join("containers").join(&orphan).join("rootfs");
    h.engine.images().snapshots().mount(&orphan, &rootfs).unwrap();
    std::fs::create_dir_all(h.config.exec_root.join("shims").join(&orphan)).unwrap();
    assert!(h.leftovers().len() >= 3, "{:?}", h.leftovers());
    h.restart_engine_after(Duration::ZERO);
    h.assert_no_leaks();
    // the image is free again: nothing holds it
    assert!(h.block(h.engine.image_remove(&h.image, false)).is_ok());
}

#[test]
fn a_killed_shim_means_an_exited_container_and_no_orphans() {
    if !isolated("a_killed_shim_means_an_exited_container_and_no_orphans") {
        return;
    }
    let h = Harness::new();
    let c = h.block(h.engine.create(h.sh("sleep 300"))).unwrap();
    h.block(h.engine.start(&c.id)).unwrap();
    let pid = h.block(h.engine.inspect(&c.id, false)).unwrap().state.pid;
    let shim_pid: i32 = std::fs::read_to_string(h.config.exec_root.join("shims").join(&c.id).join("shim.pid")).unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim_pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !h.block(h.engine.inspect(&c.id, false)).unwrap().state.running),
        "the engine notices the shim's death"
    );
    let d = h.block(h.engine.inspect(&c.id, false)).unwrap();
    assert_eq!(d.state.exit_code, 137);
    assert!(eventually(Duration::from_secs(5), || !std::path::Path::new(&format!("/proc/{pid}")).exists()), "the container went with its shim");
    // it can run again
    h.block(h.engine.start(&c.id)).unwrap();
    h.block(h.engine.remove(&c.id, RemoveOptions { force: true, ..Default::default() })).unwrap();
    h.assert_no_leaks();
}
