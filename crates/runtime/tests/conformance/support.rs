//! Glue shared by the scenarios: one test per runtime, running a bundle in
//! the foreground, reading /proc/self/status fields, capability masks.

use berth_test_support::{Bundle, Container, Kind, Runtime};
use std::path::Path;
use std::time::{Duration, Instant};

/// Declares a scenario run on every runtime: a module `$name` with tests
/// `berth`, `runc` and `crun`.
macro_rules! scenario {
    ($(#[$meta:meta])* fn $name:ident($rt:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($rt: &berth_test_support::Runtime) $body
            #[test]
            fn berth() { $crate::support::on(berth_test_support::Kind::Berth, body) }
            #[test]
            fn runc() { $crate::support::on(berth_test_support::Kind::Runc, body) }
            #[test]
            fn crun() { $crate::support::on(berth_test_support::Kind::Crun, body) }
        }
    };
}

/// The berth-runtime binary under test: `$BERTH_RUNTIME_BIN` if set (e.g. a
/// release build), else the one cargo built for this test.
pub fn berth_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("BERTH_RUNTIME_BIN") {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime")),
    })
}

/// Runs `body` on `kind` if selected.
pub fn on(kind: Kind, body: fn(&Runtime)) {
    if !kind.selected() {
        eprintln!("SKIP {}: not in BERTH_TEST_RUNTIMES", kind.name());
        return;
    }
    let rt = Runtime::new(kind, berth_bin());
    body(&rt);
}

/// True (and prints why) when `rt` is one of the reference runtimes known
/// to lack the feature; the scenario then returns early. berth-runtime never
/// lacks anything.
pub fn lacks(rt: &Runtime, which: &[Kind], reason: &str) -> bool {
    if rt.kind() != Kind::Berth && which.contains(&rt.kind()) {
        eprintln!("SKIP {}: {reason}", rt.name());
        return true;
    }
    false
}

/// What a foreground `run` produced.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `run` in the foreground (stdin /dev/null), then asserts the runtime left
/// nothing behind.
#[track_caller]
pub fn run(rt: &Runtime, bundle: &Bundle) -> Ran {
    let mut c = Container::new(rt, bundle);
    let out = c.run(&[]);
    let ran = Ran { code: out.code(), stdout: out.stdout(), stderr: out.stderr() };
    c.assert_no_leaks();
    ran
}

/// [`run`] and assert exit 0; returns stdout.
#[track_caller]
pub fn run_ok(rt: &Runtime, bundle: &Bundle) -> String {
    let r = run(rt, bundle);
    assert_eq!(r.code, Some(0), "{}: run failed\nstdout: {}\nstderr: {}", rt.name(), r.stdout, r.stderr);
    r.stdout
}

/// Runs `script` with `sh -c` in a default busybox bundle changed by `edit`;
/// asserts exit 0 and returns stdout.
#[track_caller]
pub fn run_script(rt: &Runtime, script: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    let mut b = Bundle::busybox();
    b.set_script(script);
    edit(&mut b);
    run_ok(rt, &b)
}

/// The value of `Field:` in /proc/<pid>/status text.
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::trim))
}

/// Capability names in the order of their numbers (linux/capability.h).
pub const CAPS: [&str; 41] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// The /proc/<pid>/status hex mask of a set of capabilities.
pub fn cap_mask(names: &[&str]) -> String {
    let mut m = 0u64;
    for n in names {
        let i = CAPS.iter().position(|c| c == n).unwrap_or_else(|| panic!("unknown capability {n}"));
        m |= 1 << i;
    }
    format!("{m:016x}")
}

/// Waits until `path` exists.
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    path.exists()
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// A host directory bind-mounted read-write at `/out` in the container, for
/// files the container writes and the test reads.
pub fn out_dir(bundle: &mut Bundle) -> tempfile::TempDir {
    let dir = berth_test_support::temp_dir("out-");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod out");
    bundle.add_bind(dir.path(), "/out", &[]);
    dir
}

/// A one-line error for berth (`exit 1`, one line on stderr mentioning each
/// of `words`); for the references only a non-zero exit.
#[track_caller]
pub fn assert_clean_error(rt: &Runtime, code: Option<i32>, stderr: &str, words: &[&str]) {
    assert!(code != Some(0), "{}: expected a failure, got exit 0", rt.name());
    if rt.kind() == Kind::Berth {
        assert_eq!(code, Some(1), "berth must exit 1 on errors; stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "berth must print a one-line error, got: {stderr:?}");
        for w in words {
            assert!(lines[0].contains(w), "berth's error should name {w:?}: {stderr:?}");
        }
    }
}

/// `run --detach` of `bundle`; returns the guard and the host pid of the
/// container's init.
#[track_caller]
pub fn detached<'r>(rt: &'r Runtime, bundle: &Bundle) -> (Container<'r>, i64) {
    let mut c = Container::new(rt, bundle);
    let out = c.run(&["--detach"]);
    assert!(out.success(), "{}: run --detach failed: {}", rt.name(), out.describe());
    let pid = c.state_json()["pid"].as_i64().expect("state has a pid");
    (c, pid)
}

/// Polls `f` every 20 ms until it returns `Some`, or `None` after `timeout`.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A file the container wrote under an [`out_dir`], trimmed (empty if
/// missing).
pub fn out_file(out: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(out.path().join(name)).unwrap_or_default().trim().to_string()
}

/// Waits for `name` under an [`out_dir`] and returns it trimmed; panics
/// with `what` after `timeout`.
#[track_caller]
pub fn wait_out(out: &tempfile::TempDir, name: &str, timeout: Duration, what: &str) -> String {
    assert!(wait_for_file(&out.path().join(name), timeout), "{what}: /out/{name} never appeared");
    // the writer may not have finished the line yet
    std::thread::sleep(Duration::from_millis(50));
    out_file(out, name)
}

/// Removes cgroup directories a scenario made runtimes create but that no
/// runtime removes (parents of `linux.cgroupsPath`, systemd slices), in
/// every hierarchy, on drop, so that they go even when the test fails.
#[derive(Debug)]
pub struct CgroupParents(pub Vec<String>);

impl Drop for CgroupParents {
    fn drop(&mut self) {
        let rels: Vec<&str> = self.0.iter().map(String::as_str).collect();
        berth_test_support::cgroups::remove_everywhere(&rels);
    }
}

/// The hog: one 96 MiB buffer, filled once.
pub const HOG: &str = "dd if=/dev/zero of=/dev/null bs=96M count=1 2>/dev/null";

/// A container whose init runs [`HOG`] each time the test creates
/// `/out/go-N` and writes its exit status to `/out/rc-N`.
pub fn hog_on_demand(b: &mut Bundle) -> tempfile::TempDir {
    let out = out_dir(b);
    b.set_script(&format!(
        "n=1; while :; do if [ -e /out/go-$n ]; then {HOG}; echo $? > /out/rc-$n.tmp; mv /out/rc-$n.tmp /out/rc-$n; n=$((n+1)); fi; sleep 0.05; done"
    ));
    out
}

/// Asks a [`hog_on_demand`] container for run `n`; its exit status.
#[track_caller]
pub fn run_hog(out: &tempfile::TempDir, n: u32, timeout: Duration) -> String {
    std::fs::write(out.path().join(format!("go-{n}")), "").expect("write go");
    wait_out(out, &format!("rc-{n}"), timeout, "the hog did not finish")
}
