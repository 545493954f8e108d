//! The real parts for the CLI's end-to-end tests: a berthd of its own per
//! test (private socket, data and exec roots), a real registry with a
//! busybox image, and the same command run through `berth` and through the
//! real `docker` CLI against that berthd.
//!
//! Nothing outlives a test, even a failing one: the [`Env`] guard removes
//! every container (through the API, then whatever a shim left), stops
//! berthd, unmounts what is left under its roots and deletes them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_test_support::registry::{Registry, busybox_layout};

/// What a command did.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub cmd: String,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{} failed:\n{}", self.cmd, self.describe());
        self
    }

    pub fn describe(&self) -> String {
        format!(
            "`{}` exit {}\n--- stdout\n{}--- stderr\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// berth's own binaries: the one under test, and the daemon's (berthd
/// with berth-runtime, berth-shim and berth-init beside it) from the same
/// target directory, built on demand (`BERTHD` overrides berthd).
pub fn berth_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

pub use berth_test_support::workspace_binary as workspace_bin;

pub fn berthd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTHD") {
        return PathBuf::from(p);
    }
    for b in ["berth-runtime", "berth-shim"] {
        workspace_bin(b);
    }
    workspace_bin("berthd")
}

pub fn docker_bin() -> PathBuf {
    for d in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(d).is_file() {
            return PathBuf::from(d);
        }
    }
    panic!(
        "the docker CLI (28.x) is needed as the reference client: it comes with this kind of machine"
    );
}

pub use berth_test_support::isolated_in_netns as isolated;

/// A berthd of its own, with a registry holding busybox.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    daemon: Option<Child>,
    pub registry: Registry,
    /// `127.0.0.1:PORT/busybox:latest`
    pub busybox: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = berth_test_support::temp_dir("cli-e2e-");
        let d = dir.path();
        for sub in ["config", "home"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let sock = d.join("berth.sock");
        let registry = Registry::start();
        let layout = busybox_layout();
        registry.push_layout(layout.path(), "busybox:latest");
        let busybox = format!("{}/busybox:latest", registry.addr());
        let cfg = format!(
            "data_root = \"{0}/lib\"\nexec_root = \"{0}/run\"\ninit_path = \"{1}\"\ncgroup_parent = \"{2}\"\nlog_level = \"info\"\n[runtimes.runc]\npath = \"/usr/sbin/runc\"\n",
            d.display(),
            berth_test_support::static_binary("berth-init").display(),
            berth_test_support::cgroups::parent_for(d)
        );
        std::fs::write(d.join("config.toml"), cfg).expect("config");
        let log = std::fs::File::create(d.join("berthd.log")).expect("log");
        let daemon = Command::new(berthd_bin())
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--config")
            .arg(d.join("config.toml"))
            .arg("--pidfile")
            .arg(d.join("berthd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("start berthd");
        let mut env = Env {
            dir,
            sock,
            daemon: Some(daemon),
            registry,
            busybox,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&env.sock).is_err() {
            if let Some(Ok(Some(st))) = env.daemon.as_mut().map(Child::try_wait) {
                panic!("berthd exited ({st}):\n{}", env.daemon_log());
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not listen on {}:\n{}",
                env.sock.display(),
                env.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        env
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .env("BERTH_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env("HOME", self.dir.path().join("home"))
            .env("BERTH_NO_AUTOSTART", "1")
            .env_remove("BERTH_API_VERSION")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null());
        c
    }

    fn exec(mut cmd: Command, shown: String, timeout: Duration) -> Out {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("run {shown}: {e}"));
        let out = wait_timeout(child, timeout, &shown);
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            cmd: shown,
        }
    }

    /// `berth ARGS`.
    pub fn berth(&self, args: &[&str]) -> Out {
        Self::exec(
            self.command(&berth_bin(), args),
            format!("berth {}", args.join(" ")),
            Duration::from_secs(60),
        )
    }

    /// `docker ARGS` against the same berthd.
    pub fn docker(&self, args: &[&str]) -> Out {
        Self::exec(
            self.command(&docker_bin(), args),
            format!("docker {}", args.join(" ")),
            Duration::from_secs(60),
        )
    }

    /// A command with stdin from `input`.
    pub fn with_stdin(&self, docker: bool, args: &[&str], input: &[u8]) -> Out {
        let bin = if docker { docker_bin() } else { berth_bin() };
        let mut cmd = self.command(&bin, args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(input).expect("write stdin");
        }
        let shown = format!(
            "{} {}",
            if docker { "docker" } else { "berth" },
            args.join(" ")
        );
        let out = wait_timeout(child, Duration::from_secs(60), &shown);
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            cmd: shown,
        }
    }

    /// A command left running (`logs -f`, `events`); killed by the guard.
    pub fn spawn(&self, docker: bool, args: &[&str]) -> Background {
        let bin = if docker { docker_bin() } else { berth_bin() };
        let mut cmd = self.command(&bin, args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        Background {
            child: Some(cmd.spawn().expect("spawn")),
            shown: format!(
                "{} {}",
                if docker { "docker" } else { "berth" },
                args.join(" ")
            ),
        }
    }

    /// The environment (for commands a test composes itself, like tmux).
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            (
                "BERTH_HOST".into(),
                format!("unix://{}", self.sock.display()),
            ),
            (
                "DOCKER_HOST".into(),
                format!("unix://{}", self.sock.display()),
            ),
            (
                "DOCKER_CONFIG".into(),
                self.dir.path().join("config").display().to_string(),
            ),
            ("BERTH_NO_AUTOSTART".into(), "1".into()),
        ]
    }

    /// Every container ID, through the API.
    pub fn all_containers(&self) -> Vec<String> {
        let o = self.berth(&["ps", "-aq", "--no-trunc"]);
        o.stdout
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn teardown(&mut self) {
        // containers outlive berthd (live restore): remove them first
        let ids = self.all_containers();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&args);
        }
        if let Some(mut d) = self.daemon.take() {
            // SAFETY: kill(2) on the pid of our own child.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match d.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = d.kill();
                        let _ = d.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        // whatever a crashed run left: shims by their root, then mounts
        kill_processes_mentioning(self.dir.path());
        let root = self.dir.path().display().to_string();
        let mut mounts: Vec<_> = berth_test_support::leaks::mountinfo()
            .into_iter()
            .filter(|m| m.mount_point.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        berth_test_support::cgroups::remove_everywhere(&[&berth_test_support::cgroups::parent_for(self.dir.path())]);
    }

    /// Containers, mounts, shim processes, netns files, container
    /// directories and snapshots left under our roots.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .all_containers()
            .into_iter()
            .map(|c| format!("container {c}"))
            .collect();
        let root = self.dir.path().display().to_string();
        for m in berth_test_support::leaks::mountinfo() {
            if m.mount_point.starts_with(&root) && !m.mount_point.ends_with("/run/netns") {
                out.push(format!("mount {}", m.mount_point));
            }
        }
        for sub in ["run/shims", "lib/containers", "run/netns"] {
            for e in std::fs::read_dir(self.dir.path().join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
        for e in std::fs::read_dir(self.dir.path().join("lib/snapshots/names"))
            .into_iter()
            .flatten()
            .flatten()
        {
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
            let cmd = String::from_utf8_lossy(
                &std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default(),
            )
            .replace('\0', " ");
            if cmd.contains(&root) && cmd.contains("berth-shim") {
                out.push(format!("shim process {pid}"));
            }
        }
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Kills processes whose command line names `dir` (shims of this test).
fn kill_processes_mentioning(dir: &Path) {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            // SAFETY: kill(2) on a pid we found; a race with its exit is harmless.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A command running in the background; killed on drop.
pub struct Background {
    child: Option<Child>,
    pub shown: String,
}

impl Background {
    /// Waits for it to end by itself.
    pub fn wait(mut self, timeout: Duration) -> Out {
        let child = self.child.take().expect("child");
        let out = wait_timeout(child, timeout, &self.shown);
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            cmd: self.shown.clone(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for a child, killing it after `timeout` (the test then fails);
/// its pipes are drained meanwhile so a large output cannot block it.
fn wait_timeout(mut child: Child, timeout: Duration, shown: &str) -> std::process::Output {
    use std::io::Read;
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(mut r) = p {
                let _ = r.read_to_end(&mut b);
            }
            b
        })
    };
    let t1 = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let t2 = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let (o, e) = (t1.join().unwrap_or_default(), t2.join().unwrap_or_default());
                panic!(
                    "`{shown}` did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&o),
                    String::from_utf8_lossy(&e)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait {shown}: {e}"),
        }
    };
    std::process::Output {
        status,
        stdout: t1.join().unwrap_or_default(),
        stderr: t2.join().unwrap_or_default(),
    }
}

/// docker's text with berth's names, for comparing messages.
pub fn as_berth(s: &str) -> String {
    s.replace("docker ", "berth ")
        .replace("'docker", "'berth")
        .replace("docker:", "berth:")
        .replace("Docker daemon", "berth daemon")
}

/// A 64-hex-digit ID on a line of its own.
pub fn is_id(s: &str) -> bool {
    let s = s.trim();
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())
}
