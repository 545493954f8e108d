//! Helpers for the shim's integration tests: spawn the real shim on a
//! busybox bundle with a real OCI runtime, talk to it, and make sure nothing
//! (shim, container, runtime state, mounts, cgroups) outlives a test, even
//! a failing one.
#![allow(dead_code)]

use berth_shim::client::{self, Client, SpawnError, Spawned};
use berth_test_support::{Bundle, Kind, Runtime, leaks};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn shim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-shim"))
}

/// berth-runtime: `$BERTH_RUNTIME`, else the binary cargo built next to
/// this test's target directory (`cargo test --workspace` builds it).
pub fn berth_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join("berth-runtime");
    assert!(
        p.is_file(),
        "{} not found: build it first (`cargo build -p berth-runtime` with the same target dir), or set BERTH_RUNTIME",
        p.display()
    );
    p
}

/// A runtime under test with a private root.
pub struct Rt {
    pub rt: Runtime,
    /// What the shim runs: the binary, or a wrapper script for crun on a
    /// hybrid-cgroup host.
    pub path: PathBuf,
    _wrapper_dir: Option<tempfile::TempDir>,
}

impl Rt {
    pub fn new(kind: Kind) -> Rt {
        let rt = Runtime::new(kind, &berth_runtime());
        let mut wrapper_dir = None;
        let path = if rt.hybrid_wrapper() {
            let dir = berth_test_support::temp_dir("crun-wrapper-");
            let script = dir.path().join("crun");
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\nexec unshare -m --propagation unchanged sh -c 'mount --make-rprivate /sys/fs/cgroup && umount /sys/fs/cgroup/unified; exec \"$0\" \"$@\"' {} \"$@\"\n",
                    rt.binary().display()
                ),
            )
            .expect("write wrapper");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            wrapper_dir = Some(dir);
            script
        } else {
            rt.binary().to_path_buf()
        };
        Rt { rt, path, _wrapper_dir: wrapper_dir }
    }

    pub fn berth() -> Rt {
        Rt::new(Kind::Berth)
    }
}

/// Options for one shim.
#[derive(Default, Clone)]
pub struct Opts {
    pub terminal: bool,
    pub stdin: bool,
    pub no_start: bool,
    pub log_driver: Option<&'static str>,
    pub log_path: Option<PathBuf>,
    pub max_size: Option<u64>,
    pub max_files: Option<u32>,
}

/// A shim under test; on drop, whatever it started is removed.
pub struct Shim<'r> {
    pub rt: &'r Rt,
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    _state_parent: tempfile::TempDir,
    pub spawned: Result<Spawned, String>,
}

impl<'r> Shim<'r> {
    /// Saves the bundle's config and spawns a shim on it.
    pub fn spawn(rt: &'r Rt, bundle: &Bundle, opts: &Opts) -> Shim<'r> {
        let mut cmd = Shim::command(rt, bundle, opts);
        let mut s = Shim::unspawned(rt, bundle, &mut cmd);
        s.spawned = client::spawn(&mut cmd).map_err(|e| match e {
            SpawnError::Failed { message, stage, exit_code } => format!("[{stage}] {message} (exit {exit_code:?})"),
            other => other.to_string(),
        });
        s
    }

    /// The command line `spawn` runs (with `--state-dir` and `--id` filled in
    /// by [`Shim::unspawned`]).
    pub fn command(rt: &Rt, bundle: &Bundle, opts: &Opts) -> Command {
        bundle.save();
        let mut cmd = Command::new(shim_bin());
        cmd.arg("--bundle").arg(bundle.path()).arg("--runtime").arg(&rt.path).arg("--runtime-root").arg(rt.rt.root());
        if opts.terminal {
            cmd.arg("--terminal");
        }
        if opts.stdin {
            cmd.arg("--stdin");
        }
        if opts.no_start {
            cmd.arg("--no-start");
        }
        if let Some(d) = opts.log_driver {
            cmd.arg("--log-driver").arg(d);
        }
        if let Some(p) = &opts.log_path {
            cmd.arg("--log-path").arg(p);
        }
        if let Some(n) = opts.max_size {
            cmd.arg("--log-max-size").arg(n.to_string());
        }
        if let Some(n) = opts.max_files {
            cmd.arg("--log-max-files").arg(n.to_string());
        }
        cmd
    }

    /// A guard for a shim that `cmd` (from [`Shim::command`]) will start;
    /// adds `--id` and `--state-dir` to it.
    pub fn unspawned(rt: &'r Rt, bundle: &Bundle, cmd: &mut Command) -> Shim<'r> {
        let id = berth_test_support::container::unique_id();
        let parent = berth_test_support::temp_dir("shim-state-");
        let state_dir = parent.path().join("state");
        cmd.arg("--id").arg(&id).arg("--state-dir").arg(&state_dir);
        Shim {
            rt,
            id,
            bundle: bundle.path().to_path_buf(),
            state_dir,
            _state_parent: parent,
            spawned: Err("not spawned".into()),
        }
    }

    #[track_caller]
    pub fn started(&self) -> &Spawned {
        match &self.spawned {
            Ok(s) => s,
            Err(e) => panic!("the shim did not start: {e}"),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.state_dir)
    }

    #[track_caller]
    pub fn call(&self, req: Value) -> Value {
        self.client().call(&req).unwrap_or_else(|e| panic!("{req}: {e}"))
    }

    pub fn request(&self, req: Value) -> Value {
        self.client().request(&req).unwrap_or_else(|e| panic!("{req}: {e}"))
    }

    #[track_caller]
    pub fn state(&self) -> Value {
        self.call(json!({"op": "state"}))
    }

    /// `wait`, bounded.
    #[track_caller]
    pub fn wait(&self) -> Value {
        self.client().with_timeout(Some(Duration::from_secs(30))).call(&json!({"op": "wait"})).expect("wait")
    }

    #[track_caller]
    pub fn attach(&self, req: Value) -> UnixStream {
        let (_, s) = self.client().stream(&req).unwrap_or_else(|e| panic!("{req}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        s
    }

    pub fn shim_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state_dir.join("shim.pid")).ok()?.trim().parse().ok()
    }

    /// `delete --force`, then asserts the shim is gone and left nothing.
    #[track_caller]
    pub fn delete_and_check(&self) {
        let pid = self.started().shim_pid;
        let v = self.client().call(&json!({"op": "delete", "force": true})).expect("delete");
        assert_eq!(v["ok"], true);
        wait_gone(pid, Duration::from_secs(10));
        self.assert_clean();
    }

    /// Nothing is left: no state dir, no runtime container, no process,
    /// mount or cgroup of the container.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert!(!self.state_dir.exists(), "state dir {} left behind: {:?}", self.state_dir.display(), ls(&self.state_dir));
        let left = leaks::leftovers(&self.id, &self.bundle, &self.rt.rt.state_dir(&self.id));
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

impl Drop for Shim<'_> {
    fn drop(&mut self) {
        // Politely first, then by force.
        let alive = berth_shim::state_dir::shim_is_alive(&self.state_dir);
        if alive {
            let c = self.client().with_timeout(Some(Duration::from_secs(5)));
            let _ = c.request(&json!({"op": "delete", "force": true}));
        }
        if let Some(pid) = self.shim_pid() {
            if berth_shim::state_dir::shim_is_alive(&self.state_dir) {
                // SAFETY: kill(2) on the shim's pid, read from its locked pid file.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            wait_gone(pid, Duration::from_secs(5));
        }
        let _ = self.rt.rt.run(&["delete", "--force", &self.id]);
        leaks::scrub(&self.id, &self.bundle, &self.rt.rt.state_dir(&self.id));
    }
}

pub fn ls(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit_once(") ").is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
#[track_caller]
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads stdcopy frames until the stream ends; (stdout, stderr).
pub fn demux(s: &mut impl Read) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((stream, data)) = berth_shim::stdcopy::read_frame(s).expect("stdcopy frame") {
        match stream {
            berth_shim::Stream::Stdout => out.extend(data),
            berth_shim::Stream::Stderr => err.extend(data),
        }
    }
    (out, err)
}

/// Reads until `needle` has been seen (raw stream), returning all read.
#[track_caller]
pub fn read_until(s: &mut impl Read, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        match s.read(&mut buf) {
            Ok(0) => panic!("stream ended before {:?}; got {:?}", String::from_utf8_lossy(needle), String::from_utf8_lossy(&got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading until {:?}: {e}; got {:?}", String::from_utf8_lossy(needle), String::from_utf8_lossy(&got)),
        }
    }
    got
}

pub fn send(s: &mut UnixStream, data: &[u8]) {
    s.write_all(data).expect("write to the attach stream");
}

/// The json-file log's entries.
pub fn json_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?} is not JSON: {e}")))
        .collect()
}
