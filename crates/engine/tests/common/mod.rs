//! Fixtures of the engine's integration tests: a real registry with the
//! busybox test image, an engine on throw-away roots driving the real
//! berth-runtime and berth-shim, and leak checks.
//!
//! Every test body runs in a child process inside its own network namespace
//! ([`isolated`]): berth-network writes iptables chains and bridges when it
//! opens, and those must never reach the host's; they die with the
//! namespace. Mounts, cgroups and processes are on the host and are checked
//! for leaks explicitly.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_engine::{Engine, EngineConfig, RuntimeHandler};
use berth_test_support::registry::{Registry, busybox_layout};

pub use berth_test_support::isolated_in_netns as isolated;
pub use berth_test_support::workspace_binary as binary;

/// Brings up `lo` in the test's namespace (the registry listens on 127.0.0.1).
pub fn loopback_up() {
    let st = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip");
    assert!(st.success());
}

pub struct Harness {
    pub engine: Engine,
    pub registry: Registry,
    pub image: String,
    pub root: tempfile::TempDir,
    pub config: EngineConfig,
    pub rt: tokio::runtime::Runtime,
}

pub fn config_in(root: &Path) -> EngineConfig {
    let mut c = EngineConfig {
        data_root: root.join("data"),
        exec_root: root.join("run"),
        shim_path: Some(binary("berth-shim")),
        init_path: Some(berth_test_support::static_binary("berth-init")),
        cgroup_parent: berth_test_support::cgroups::parent_for(root),
        ..Default::default()
    };
    c.runtimes.insert("berth".into(), RuntimeHandler { path: binary("berth-runtime"), args: vec![] });
    if Path::new("/usr/sbin/runc").exists() {
        c.runtimes.insert("runc".into(), RuntimeHandler { path: "/usr/sbin/runc".into(), args: vec![] });
    }
    if Path::new("/usr/bin/crun").exists() {
        // crun 1.8 refuses hybrid cgroups: on such a host it runs in a mount
        // namespace without the cgroup2 mount (as test-support's runtimes do)
        let path = if berth_test_support::runtime::unified_is_cgroup2() {
            let w = root.join("crun-hybrid");
            std::fs::write(
                &w,
                "#!/bin/sh\nexec unshare -m --propagation unchanged sh -c 'mount --make-rprivate /sys/fs/cgroup && umount /sys/fs/cgroup/unified && exec /usr/bin/crun \"$@\"' crun \"$@\"\n",
            )
            .expect("write crun wrapper");
            std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
            w
        } else {
            "/usr/bin/crun".into()
        };
        c.runtimes.insert("crun".into(), RuntimeHandler { path, args: vec![] });
    }
    c.network.default_network = "bridge".into();
    c.log.options.insert("max-size".into(), "1m".into());
    c
}

impl Harness {
    pub fn new() -> Harness {
        loopback_up();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
        let registry = Registry::start();
        let layout = busybox_layout();
        registry.push_layout(layout.path(), "busybox:latest");
        let root = berth_test_support::temp_dir("engine-");
        let config = config_in(root.path());
        let engine = rt.block_on(Engine::open(config.clone())).expect("open engine");
        let image = format!("{}/busybox:latest", registry.addr());
        rt.block_on(engine.image_pull(&image, None, &Default::default(), &Default::default())).expect("pull busybox");
        Harness { engine, registry, image, root, config, rt }
    }

    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A spec for busybox running `sh -c script`.
    pub fn sh(&self, script: &str) -> berth_engine::spec::ContainerSpec {
        berth_engine::spec::ContainerSpec {
            image: self.image.clone(),
            cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..Default::default()
        }
    }

    /// Closes the engine (containers keep running), waits `delay`, and opens
    /// a new one on the same roots: a daemon restart.
    pub fn restart_engine_after(&mut self, delay: Duration) {
        self.rt.block_on(self.engine.shutdown());
        // the old engine's tasks end on shutdown and release the data root
        let placeholder_root = self.root.path().join("placeholder");
        let mut cfg = self.config.clone();
        cfg.data_root = placeholder_root.join("data");
        cfg.exec_root = placeholder_root.join("run");
        let placeholder = self.rt.block_on(Engine::open(cfg)).expect("placeholder engine");
        let old = std::mem::replace(&mut self.engine, placeholder);
        drop(old);
        std::thread::sleep(delay);
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let engine = loop {
            match self.rt.block_on(Engine::open(self.config.clone())) {
                Ok(e) => break e,
                Err(e) if e.kind() == berth_engine::ErrorKind::Unavailable && std::time::Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("reopen: {e}"),
            }
        };
        let placeholder = std::mem::replace(&mut self.engine, engine);
        self.rt.block_on(placeholder.shutdown());
    }

    /// Everything of the engine that may leak onto the host.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root.path().display().to_string();
        for m in berth_test_support::leaks::mountinfo() {
            if m.mount_point.starts_with(&root) && !m.mount_point.ends_with("/run/netns") {
                out.push(format!("mount {}", m.mount_point));
            }
        }
        let shims = self.config.exec_root.join("shims");
        for e in std::fs::read_dir(&shims).into_iter().flatten().flatten() {
            out.push(format!("shim dir {}", e.path().display()));
        }
        let containers = self.config.data_root.join("containers");
        for e in std::fs::read_dir(&containers).into_iter().flatten().flatten() {
            out.push(format!("container dir {}", e.path().display()));
        }
        for e in std::fs::read_dir(self.config.exec_root.join("netns")).into_iter().flatten().flatten() {
            out.push(format!("netns {}", e.path().display()));
        }
        for e in std::fs::read_dir(self.config.data_root.join("snapshots/names")).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with("sha256") {
                out.push(format!("snapshot {n}"));
            }
        }
        // processes whose executable or cwd lives under our roots (shims, containers)
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = p.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmd.contains(&root) && cmd.contains("berth-shim") {
                out.push(format!("shim process {pid}: {cmd}"));
            }
        }
        out
    }

    pub fn cgroups_of(&self, id: &str) -> Vec<PathBuf> {
        berth_test_support::leaks::cgroups_named(id)
    }

    pub fn assert_no_leaks(&self) {
        let l = self.leftovers();
        assert!(l.is_empty(), "leftovers: {l:#?}");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // remove every container (kills them), then close the engine
        let engine = self.engine.clone();
        self.rt.block_on(async {
            if let Ok(list) = engine.list(berth_engine::model::ListOptions { all: true, ..Default::default() }).await {
                for c in list {
                    let _ = engine.remove(&c.id, berth_engine::model::RemoveOptions { force: true, volumes: true, link: false }).await;
                }
            }
            engine.shutdown().await;
        });
        // anything still mounted under the roots goes (a failed test)
        let root = self.root.path().display().to_string();
        let mut ms: Vec<_> = berth_test_support::leaks::mountinfo().into_iter().filter(|m| m.mount_point.starts_with(&root)).collect();
        ms.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
        for m in ms {
            let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        berth_test_support::cgroups::remove_everywhere(&[&self.config.cgroup_parent]);
    }
}

/// Polls `f` until it is true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
