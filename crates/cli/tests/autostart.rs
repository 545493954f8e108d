//! berthd on demand: with nothing on the default socket, root's `berth`
//! starts berthd once (saying so on stderr) and later commands use it; a
//! user who is not root gets docker's "Cannot connect" error instead.
//!
//! The test runs in a mount and network namespace of its own, with tmpfs
//! over /run, /var/lib and /var/log, so the default paths it uses
//! (/run/berth/berth.sock, /var/lib/berth, /var/log/berth) are private.

use std::process::Command;
use std::time::{Duration, Instant};

const INNER: &str = "BERTH_CLI_AUTOSTART_INNER";

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env_remove("BERTH_HOST")
        .env_remove("BERTH_NO_AUTOSTART")
        .env("HOME", "/tmp");
    c
}

/// Kills the berthd this test started (its pid file), even on failure.
struct StopDaemon;

impl Drop for StopDaemon {
    fn drop(&mut self) {
        let Ok(pid) = std::fs::read_to_string("/run/berth/berthd.pid") else {
            return;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            return;
        };
        // SAFETY: kill(2) on the berthd this test started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; it did not stop in time.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[test]
fn root_starts_berthd_on_demand_and_others_get_a_clear_error() {
    if std::env::var_os(INNER).is_none() {
        // berthd must exist next to berth for it to be found
        let berth = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth"));
        let dir = berth.parent().expect("target dir");
        for b in ["berthd", "berth-runtime", "berth-shim", "berth-init"] {
            if !dir.join(b).is_file() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut c = Command::new(cargo);
                c.args(["build", "-p", b]);
                if dir.file_name().and_then(|s| s.to_str()) == Some("release") {
                    c.arg("--release");
                }
                assert!(c.status().expect("cargo").success(), "build {b}");
            }
        }
        let exe = std::env::current_exe().expect("test exe");
        let out = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .arg(exe)
            .args([
                "--exact",
                "root_starts_berthd_on_demand_and_others_get_a_clear_error",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INNER, "1")
            .output()
            .expect("unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "inner run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert!(
        Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip")
            .success()
    );
    for dir in ["/run", "/var/lib", "/var/log"] {
        nix::mount::mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("mode=0755"),
        )
        .unwrap_or_else(|e| panic!("tmpfs on {dir}: {e}"));
    }
    let _stop = StopDaemon;

    // not root: no daemon is started, the error says where it looked
    let o = berth()
        .args(["ps"])
        .env("BERTH_NO_AUTOSTART", "1")
        .output()
        .expect("berth");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Cannot connect to the berth daemon at unix:///run/berth/berth.sock. Is berthd running?\n"
    );
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_berth"))
        .arg("ps")
        .env("HOME", "/tmp")
        .env_remove("BERTH_HOST")
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("Cannot connect to the berth daemon at unix:///run/berth/berth.sock. Is berthd running? (berth starts it on demand only for root)"), "{err}");
    assert!(
        !std::path::Path::new("/run/berth/berth.sock").exists(),
        "nobody must not start a daemon"
    );

    // root: started once, said once
    let t = Instant::now();
    let o = berth()
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .expect("berth");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.starts_with("berth: started berthd (pid ")
            && err.ends_with(", log /var/log/berth/berthd.log)\n"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("berthd started on demand and answered in {:?}", t.elapsed());
    assert!(std::path::Path::new("/var/log/berth/berthd.log").exists());
    let o = berth().args(["ps", "-a"]).output().expect("berth");
    assert_eq!(o.status.code(), Some(0));
    assert!(
        o.stderr.is_empty(),
        "started once only: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("CONTAINER ID"));

    // two CLIs at once after the daemon is gone: one daemon, both answered
    drop(_stop);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect("/run/berth/berth.sock").is_ok()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _stop = StopDaemon;
    let a = berth()
        .args(["info", "--format", "{{.ServerVersion}}"])
        .spawn()
        .expect("berth");
    let b = berth()
        .args(["info", "--format", "{{.ServerVersion}}"])
        .spawn()
        .expect("berth");
    for c in [a, b] {
        let o = c.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(0));
    }
    // berthds in our mount namespace (others' daemons on the host do not count)
    let ours = std::fs::read_link("/proc/self/ns/mnt").expect("mnt ns");
    let daemons = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("ns/mnt")).is_ok_and(|n| n == ours))
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0)
                    .next()
                    .is_some_and(|a| a.ends_with(b"/berthd"))
            })
        })
        .count();
    assert_eq!(daemons, 1, "exactly one berthd");
}
