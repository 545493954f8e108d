//! A real berthd (with berth-runtime, berth-shim, berth-init next to it)
//! on throw-away roots, a real registry with the busybox test image, and
//! the real `docker` CLI pointed at berthd's socket.
//!
//! Each test runs in a child process inside its own network namespace
//! ([`isolated`]), where berthd, the registry and the containers' bridge,
//! veths and iptables rules live and die.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_test_support::registry::{Registry, busybox_layout};

pub use berth_test_support::isolated_in_netns as isolated;
pub use berth_test_support::workspace_binary as binary;

pub struct Daemon {
    pub root: tempfile::TempDir,
    pub sock: PathBuf,
    pub child: Option<Child>,
    pub registry: Registry,
    /// `127.0.0.1:PORT/busybox:latest`
    pub image: String,
    docker_config: PathBuf,
}

impl Daemon {
    pub fn new() -> Daemon {
        let st = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip");
        assert!(st.success());
        for b in ["berth-runtime", "berth-shim"] {
            binary(b);
        }
        let registry = Registry::start();
        registry.push_layout(busybox_layout().path(), "busybox:latest");
        let root = berth_test_support::temp_dir("berthd-");
        let sock = root.path().join("berth.sock");
        let docker_config = root.path().join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        let cfg = format!(
            "data_root = \"{0}/data\"\nexec_root = \"{0}/run\"\ninit_path = \"{1}\"\ncgroup_parent = \"{2}\"\nlog_level = \"info\"\n[runtimes.runc]\npath = \"/usr/sbin/runc\"\n[log.options]\nmax-size = \"1m\"\nmax-file = \"2\"\n",
            root.path().display(),
            berth_test_support::static_binary("berth-init").display(),
            berth_test_support::cgroups::parent_for(root.path())
        );
        std::fs::write(root.path().join("config.toml"), cfg).unwrap();
        let image = format!("{}/busybox:latest", registry.addr());
        let mut d = Daemon { root, sock, child: None, registry, image, docker_config };
        d.start();
        d
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.path().join("berthd.log")).unwrap();
        let child = Command::new(binary("berthd"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--config")
            .arg(self.root.path().join("config.toml"))
            .arg("--pidfile")
            .arg(self.root.path().join("berthd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() && self.docker(&["version"]).status.success() {
                break;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("berthd exited with {st}: {}", self.log());
            }
            assert!(Instant::now() < end, "berthd did not come up: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILL: what a crash looks like.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            if Instant::now() > end {
                let _ = c.kill();
                panic!("berthd did not stop on SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.sock.display())).env("DOCKER_CONFIG", &self.docker_config).env_remove("DOCKER_CONTEXT").args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        let mut c = self.docker_cmd(args);
        let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("docker CLI");
        wait_output(child, Duration::from_secs(60), &format!("docker {}", args.join(" ")))
    }

    /// Runs docker and asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {} failed ({}):\n{}\n{}\nberthd log:\n{}", args.join(" "), o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr), self.log());
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Mounts, shim processes, netns files, container dirs under our roots.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let root = self.root.path().display().to_string();
        for m in berth_test_support::leaks::mountinfo() {
            if m.mount_point.starts_with(&root) && !m.mount_point.ends_with("/run/netns") {
                out.push(format!("mount {}", m.mount_point));
            }
        }
        for sub in ["run/shims", "data/containers", "run/netns"] {
            for e in std::fs::read_dir(self.root.path().join(sub)).into_iter().flatten().flatten() {
                out.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
        for e in std::fs::read_dir(self.root.path().join("data/snapshots/names")).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if !n.starts_with("sha256") {
                out.push(format!("snapshot {n}"));
            }
        }
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = p.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmd = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ");
            if cmd.contains(&root) && cmd.contains("berth-shim") {
                out.push(format!("shim process {pid}"));
            }
        }
        out
    }

    /// cgroup directories named after any of our containers' ids.
    pub fn cgroups(&self, ids: &[String]) -> Vec<PathBuf> {
        ids.iter().flat_map(|id| berth_test_support::leaks::cgroups_named(id)).collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            self.start();
        }
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        if self.child.is_some() {
            let _ = self.stop();
        }
        let root = self.root.path().display().to_string();
        let mut ms: Vec<_> = berth_test_support::leaks::mountinfo().into_iter().filter(|m| m.mount_point.starts_with(&root)).collect();
        ms.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
        for m in ms {
            let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        berth_test_support::cgroups::remove_everywhere(&[&berth_test_support::cgroups::parent_for(self.root.path())]);
    }
}

pub fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    use std::io::Read;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let end = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} timed out");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: t1.join().unwrap_or_default(), stderr: t2.join().unwrap_or_default() }
}

pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}
