//! Helpers shared by the host (v1/hybrid) and the pure v2 suites: a cgroup guard that always
//! cleans up, a gated child process, and the scenarios both suites run against the kernel.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::{CgroupManager, CgroupSpec, DeviceRules, Hierarchies, Layout};
use oci_spec::runtime::LinuxResources;

const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests create cgroups and must run as root"
    );
}

/// statfs magic of a path.
pub fn fs_magic(p: &Path) -> i64 {
    nix::sys::statfs::statfs(p)
        .unwrap_or_else(|e| panic!("statfs {}: {e}", p.display()))
        .filesystem_type()
        .0 as i64
}

/// Panics unless `p` is on a cgroup filesystem: a limit file on a tmpfs limits nothing.
pub fn assert_cgroupfs(p: &Path) {
    let m = fs_magic(p);
    assert!(
        m == CGROUP_SUPER_MAGIC || m == CGROUP2_SUPER_MAGIC,
        "{} is not on a cgroup filesystem (magic {m:#x}): refusing to run a test that relies on its limits",
        p.display()
    );
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A test cgroup named `berth-test-<tag>-<pid>-<n>`, below the test's own cgroup (a relative
/// cgroupsPath, so the test processes stay inside whatever cgroup runs the tests). Dropping it
/// kills what is left inside and removes it, even when the test failed.
pub struct Cg {
    pub mgr: Box<dyn CgroupManager>,
    pub paths: BTreeMap<String, PathBuf>,
    pub layout: Layout,
}

impl Cg {
    pub fn new(tag: &str) -> Cg {
        Self::with_spec(tag, |_| {})
    }

    pub fn with_spec(tag: &str, f: impl FnOnce(&mut CgroupSpec)) -> Cg {
        require_root();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("berth-test-{tag}-{}-{n}", std::process::id());
        let mut spec = CgroupSpec::new(name.clone());
        spec.cgroups_path = Some(PathBuf::from(&name));
        f(&mut spec);
        let h = Hierarchies::detect().expect("detect cgroup hierarchies");
        let mgr = berth_cgroups::manager_with(&h, &spec).expect("cgroup manager");
        let paths = mgr.paths();
        let cg = Cg {
            mgr,
            paths,
            layout: h.layout,
        };
        cg.mgr.create().expect("create cgroup");
        for p in cg.paths.values() {
            assert!(p.is_dir(), "{} was not created", p.display());
            assert_cgroupfs(p);
        }
        cg
    }

    /// The directory holding a control file (by its controller prefix).
    pub fn dir_of(&self, file: &str) -> PathBuf {
        if self.layout == Layout::V2 {
            return self.paths["unified"].clone();
        }
        let ctrl = file.split('.').next().unwrap_or(file);
        self.paths
            .iter()
            .find(|(k, _)| k.split(',').any(|c| c == ctrl))
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no hierarchy holds {file}"))
    }

    pub fn file(&self, file: &str) -> PathBuf {
        self.dir_of(file).join(file)
    }

    pub fn read(&self, file: &str) -> String {
        let p = self.file(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_owned()
    }

    pub fn apply(&self, r: &LinuxResources) -> berth_cgroups::Result<()> {
        self.mgr.apply(r, &DeviceRules::allow_all())
    }

    pub fn all_gone(&self) -> bool {
        self.paths.values().all(|p| !p.exists())
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = self.mgr.thaw();
        let _ = self.mgr.kill_all(libc::SIGKILL);
        if let Err(e) = self.mgr.destroy() {
            eprintln!("cleanup: destroy failed: {e}");
        }
        for p in self.paths.values() {
            if p.exists() {
                eprintln!("cleanup: {} still exists", p.display());
                let _ = std::fs::remove_dir(p);
            }
        }
    }
}

/// A `sh -c` child that waits on stdin before running its script, so it can be put into a
/// cgroup first. Output goes to files (background processes may keep pipes open).
pub struct Child {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    dir: tempfile::TempDir,
    done: Option<ExitStatus>,
}

impl Child {
    /// `script` runs after the first line on stdin.
    pub fn spawn(script: &str) -> Child {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::fs::File::create(dir.path().join("out")).expect("out file");
        let err = std::fs::File::create(dir.path().join("err")).expect("err file");
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn sh");
        let stdin = child.stdin.take();
        Child {
            child,
            stdin,
            dir,
            done: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Lets the script run.
    pub fn go(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            s.write_all(b"go\n").expect("write to child stdin");
        }
    }

    /// Waits for the shell to exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.done {
            return s;
        }
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.done = Some(s);
                return s;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("child did not exit within {timeout:?}; stderr: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("out")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("err")).unwrap_or_default()
    }

    /// The signal that ended it, if any.
    pub fn signal(&mut self, timeout: Duration) -> Option<i32> {
        self.wait(timeout).signal()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.done.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `Cpus_allowed_list` of a process.
pub fn cpus_allowed(pid: i32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    s.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_owned()
}

/// Polls `f` until it returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub const MIB: i64 = 1 << 20;

pub fn res(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).expect("LinuxResources JSON")
}
pub mod scenarios;

/// Prints a skip reason where it is seen: libtest captures `eprintln!` of passing tests, but
/// not writes to the stderr handle itself.
pub fn skip(why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {why}");
}
