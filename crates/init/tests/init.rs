//! berth-init on the real kernel: as pid 1 of a new pid namespace
//! (`unshare --pid --fork --mount-proc`) and of a real container under
//! berth-runtime.

use berth_test_support::process::{self, Output};
use berth_test_support::{Bundle, Container, Kind, Runtime};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn init_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth-init")
}

/// `berth-init ARGS` as pid 1 of a fresh pid namespace with its own /proc.
fn as_pid1(args: &[&str]) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(init_bin()).args(args).stdin(Stdio::null());
    process::run(cmd, Duration::from_secs(30))
}

#[test]
fn exit_codes_propagate() {
    assert_eq!(as_pid1(&["--", "sh", "-c", "exit 7"]).code(), Some(7));
    assert_eq!(as_pid1(&["sh", "-c", "exit 0"]).code(), Some(0));
    // Killed by a signal: 128 + the signal, as docker reports it.
    assert_eq!(as_pid1(&["--", "sh", "-c", "kill -9 $$"]).code(), Some(137));
    assert_eq!(as_pid1(&["--", "sh", "-c", "kill -TERM $$"]).code(), Some(143));
    // -e remaps a code to 0.
    assert_eq!(as_pid1(&["-e", "3", "--", "sh", "-c", "exit 3"]).code(), Some(0));
    assert_eq!(as_pid1(&["-e", "3", "--", "sh", "-c", "exit 4"]).code(), Some(4));
}

#[test]
fn exec_failures_use_docker_codes() {
    let out = as_pid1(&["--", "/no/such/program"]);
    assert_eq!(out.code(), Some(127), "{}", out.describe());
    assert!(out.stderr().contains("/no/such/program"), "{}", out.describe());
    let dir = berth_test_support::temp_dir("init-noexec-");
    let f = dir.path().join("not-executable");
    std::fs::write(&f, "#!/bin/sh\n").expect("write");
    let out = as_pid1(&["--", f.to_str().expect("utf8")]);
    assert_eq!(out.code(), Some(126), "{}", out.describe());
}

#[test]
fn usage_errors() {
    let out = process::run(
        {
            let mut c = Command::new(init_bin());
            c.arg("-x").stdin(Stdio::null());
            c
        },
        Duration::from_secs(10),
    );
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr().contains("unknown option -x"), "{}", out.describe());
}

/// The orphan (`sleep 0.1` whose parent subshell exited) is re-parented to
/// pid 1 = berth-init; nobody else can reap it, so no zombie remains only if
/// berth-init reaps it.
#[test]
fn zombies_are_reaped() {
    let script = "(sleep 0.1 &); (sleep 0.1 &); sleep 0.6; \
                  z=0; for s in /proc/[0-9]*/stat; do read -r line < $s 2>/dev/null || continue; \
                  case \"${line##*) }\" in Z*) z=$((z+1));; esac; done; echo zombies=$z";
    let out = as_pid1(&["-w", "--", "sh", "-c", script]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert_eq!(out.stdout().trim(), "zombies=0", "{}", out.describe());
    assert!(out.stderr().contains("reaped zombie process"), "-w reports it: {}", out.describe());
}

/// Signals reach the child (and its process group); the exit code comes
/// from the child's handler.
#[test]
fn sigterm_reaches_the_child_and_its_group() {
    let dir = berth_test_support::temp_dir("init-sig-");
    let pidfile = dir.path().join("bg.pid");
    let ready = dir.path().join("ready");
    let script = format!(
        "sleep 1000 & echo $! > {p}; trap 'echo got-term; kill -0 $! 2>/dev/null || echo bg-gone; exit 3' TERM; \
         touch {r}; while :; do sleep 0.05; done",
        p = pidfile.display(),
        r = ready.display()
    );
    let child = Command::new(init_bin())
        .args(["-s", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth-init");
    /// On failure: TERM to berth-init (it forwards to the child's group),
    /// then KILL to it and to the background sleep.
    struct Kill(u32, PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: kill(2) on the test's own child and on the pid its
            // script recorded; no memory is involved.
            unsafe {
                libc::kill(self.0 as i32, libc::SIGTERM);
                std::thread::sleep(Duration::from_millis(100));
                libc::kill(self.0 as i32, libc::SIGKILL);
                if let Some(bg) = std::fs::read_to_string(&self.1).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
                    libc::kill(bg, libc::SIGKILL);
                }
            }
        }
    }
    let _guard = Kill(child.id(), pidfile.clone());
    wait_for(&ready, Duration::from_secs(10));
    let bg: i32 = std::fs::read_to_string(&pidfile).expect("pid").trim().parse().expect("pid");
    // SAFETY: kill(2) on our child, berth-init.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("got-term"));
    // The background sleep of the same process group got SIGTERM too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(bg) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!running(bg), "the child's process group was signalled");
}

fn wait_for(p: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

fn berth_runtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let p = exe.parent().and_then(Path::parent).expect("target dir").join("berth-runtime");
    assert!(p.is_file(), "{} not found: build it first (`cargo build -p berth-runtime`), or set BERTH_RUNTIME", p.display());
    p
}

/// Where the dynamic loader and C library of this (test) build live, to
/// bind into the container when the binary under test is not static.
fn library_dirs() -> Vec<&'static str> {
    ["/lib/x86_64-linux-gnu", "/lib64", "/usr/lib/x86_64-linux-gnu"].into_iter().filter(|d| Path::new(d).is_dir()).collect()
}

/// As docker does: the init bind-mounted into the container at
/// /sbin/docker-init and made the entrypoint.
#[test]
fn pid1_of_a_real_container() {
    let Some(rt) = Runtime::if_selected(Kind::Berth, &berth_runtime()) else { return };
    let mut b = Bundle::busybox();
    b.add_bind(Path::new(init_bin()), "/sbin/docker-init", &["ro"]);
    for d in library_dirs() {
        b.add_bind(Path::new(d), d, &["ro"]);
    }
    let script = "echo pid=$$ ppid=$PPID; (sleep 0.1 &); sleep 0.5; \
                  z=0; for s in /proc/[0-9]*/stat; do read -r line < $s 2>/dev/null || continue; \
                  case \"${line##*) }\" in Z*) z=$((z+1));; esac; done; echo zombies=$z; \
                  cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 5";
    b.set_args(&["/sbin/docker-init", "--", "sh", "-c", script]);
    let mut c = Container::new(&rt, &b);
    let out = c.run(&[]);
    assert_eq!(out.code(), Some(5), "{}", out.describe());
    let text = out.stdout();
    assert!(text.contains("pid=2 ppid=1"), "the command is pid 2 under the init: {text}");
    assert!(text.contains("zombies=0"), "{text}");
    assert!(text.contains("/sbin/docker-init -- sh -c"), "{text}");
    c.assert_no_leaks();
}

/// The static build `scripts/setup` makes (what the engine bind-mounts):
/// no program interpreter, and it runs in a container that has no C
/// library at all. Skipped (with a message) when it has not been built.
#[test]
fn static_build_runs_without_a_c_library() {
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe.ancestors().nth(3).expect("target dir");
    let host = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let bin = target.join(&host).join("release").join("berth-init");
    if !bin.is_file() {
        eprintln!("skipping: {} not built (scripts/setup builds it)", bin.display());
        return;
    }
    assert!(!has_interpreter(&bin), "{} must be statically linked", bin.display());
    let Some(rt) = Runtime::if_selected(Kind::Berth, &berth_runtime()) else { return };
    let mut b = Bundle::busybox();
    b.add_bind(&bin, "/sbin/docker-init", &["ro"]);
    b.set_args(&["/sbin/docker-init", "--", "sh", "-c", "test ! -e /lib64/ld-linux-x86-64.so.2 && exit 9"]);
    let mut c = Container::new(&rt, &b);
    let out = c.run(&[]);
    assert_eq!(out.code(), Some(9), "{}", out.describe());
    c.assert_no_leaks();
}

/// Whether an ELF file has a PT_INTERP program header (is dynamically linked).
fn has_interpreter(path: &Path) -> bool {
    let data = std::fs::read(path).expect("read ELF");
    assert_eq!(&data[..4], b"\x7fELF", "{} is not ELF", path.display());
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let (entsize, num) = (u16_at(0x36), u16_at(0x38));
    (0..num).any(|i| {
        let o = phoff + i * entsize;
        u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes")) == 3
    })
}
