//! Helpers shared by the integration tests of every berth crate.
//!
//! What it owns: building throw-away OCI bundles from Debian's busybox-static
//! ([`Bundle`]), naming the runtimes under test and running their command line
//! with a private state directory ([`Runtime`]), a guard that never lets a
//! container outlive its test ([`Container`]), a checker for anything a runtime
//! left behind ([`leaks`]), and a console-socket receiver for `--console-socket`
//! ([`ConsoleSocket`]), reading cgroups back from the kernel ([`cgroups`]) and
//! a throw-away unprivileged user for rootless containers ([`TestUser`]).
//!
//! What it must not do: mock anything. Every helper drives the real kernel and
//! the real runtime binaries.
//!
//! ```no_run
//! use berth_test_support::{Bundle, Container, Runtime};
//! for rt in Runtime::selected(std::path::Path::new("/path/to/berth-runtime")) {
//!     let mut bundle = Bundle::busybox();
//!     bundle.set_args(&["sh", "-c", "echo hello"]);
//!     let mut c = Container::new(&rt, &bundle);
//!     let out = c.run(&[]);
//!     assert_eq!(out.code(), Some(0));
//!     assert_eq!(out.stdout(), "hello\n");
//!     c.assert_no_leaks();
//! }
//! ```

pub mod bundle;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod leaks;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod user;

pub use bundle::Bundle;
pub use console::{ConsoleSocket, Pty};
pub use container::Container;
pub use process::Output;
pub use runtime::{Kind, Runtime};
pub use user::TestUser;

use std::path::PathBuf;

/// Directory under which every helper puts its temporary files: a tmpfs
/// (`/dev/shm/berth-tests`) when there is one, so that the many bundles a suite
/// makes cost no disk I/O; otherwise the system temp dir.
///
/// The directory is world-searchable (0755) so that a container whose root is
/// mapped to an unprivileged host uid can still reach a bundle below it.
pub fn temp_base() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let base = if leaks::filesystem_type(&shm).as_deref() == Some("tmpfs") {
        shm.join("berth-tests")
    } else {
        std::env::temp_dir().join("berth-tests")
    };
    if std::fs::create_dir_all(&base).is_ok() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755));
    }
    base
}

/// A fresh temporary directory under [`temp_base`], mode 0755, removed on
/// drop. Its name carries this process's pid (`<prefix><pid>-XXXXXX`) so that
/// the directories of a test process that was killed (no drop ran) are
/// swept by the next one (see [`sweep_stale`]).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let base = temp_base();
    SWEPT.call_once(|| sweep_stale(&base));
    let dir = tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("cannot create a temp dir under {}: {e}", base.display()));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
    dir
}

/// Removes the directories under `base` left by test processes that no
/// longer exist (named `<word>-<pid>-<random>` by [`temp_dir`]). Mounts under
/// them are detached first, and the removal never crosses into another
/// filesystem, so a mount a runtime leaked cannot make it delete anything
/// outside the directory.
pub fn sweep_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.rsplitn(3, '-');
        let (_random, pid) = (parts.next(), parts.next());
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = e.path();
        let mut mounts = leaks::mounts_mentioning(&path);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.mount_point.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.mount_point.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        remove_same_fs(&path);
    }
}

/// `rm -r --one-file-system`: removes `path` without descending into
/// directories on another device.
fn remove_same_fs(path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(path) else { return };
    fn walk(p: &std::path::Path, dev: u64) {
        let Ok(m) = std::fs::symlink_metadata(p) else { return };
        if m.is_dir() {
            if m.dev() != dev {
                return;
            }
            if let Ok(entries) = std::fs::read_dir(p) {
                for e in entries.flatten() {
                    walk(&e.path(), dev);
                }
            }
            let _ = std::fs::remove_dir(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
    walk(path, top.dev());
}

#[cfg(test)]
mod tests {
    #[test]
    fn sweep_removes_only_dead_processes_dirs() {
        let base = tempfile::tempdir().expect("base");
        let dead = (3_000_000..4_000_000u32)
            .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
            .expect("an unused pid");
        let stale = base.path().join(format!("bundle-{dead}-AbC123"));
        std::fs::create_dir_all(stale.join("rootfs/bin")).expect("mkdir");
        std::fs::write(stale.join("rootfs/bin/f"), "x").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", stale.join("rootfs/link")).expect("symlink");
        let live = base.path().join(format!("bundle-{}-XyZ789", std::process::id()));
        std::fs::create_dir(&live).expect("mkdir");
        let other = base.path().join("not-ours");
        std::fs::create_dir(&other).expect("mkdir");
        super::sweep_stale(base.path());
        assert!(!stale.exists(), "stale dir of a dead process must go");
        assert!(live.exists() && other.exists());
        assert!(std::path::Path::new("/etc/passwd").exists());
    }
}

/// The statically linked release build of the workspace binary `name`
/// (`berth-init`, `berth-runtime`, `berth-shim`), as `scripts/setup` makes
/// it: `<target>/x86_64-unknown-linux-gnu/release/<name>`, built here when
/// missing. Tests that put a binary inside a container (`--init`) need this
/// one: the dev build is linked against the host's glibc.
pub fn static_binary(name: &str) -> PathBuf {
    let target = profile_dir().parent().expect("<target>/<profile>").to_path_buf();
    // the host triple, as scripts/setup uses (`rustc -vV`)
    let triple = &format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let p = target.join(triple).join("release").join(name);
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args(["build", "--release", "--locked", "--target", triple, "-p", name])
            .env("CARGO_TARGET_DIR", &target)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env("LIBSECCOMP_LINK_TYPE", "static")
            .env("LIBSECCOMP_LIB_PATH", format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH))
            .status()
            .expect("cargo build");
        assert!(st.success(), "building a static {name}");
    }
    p
}

/// `<target>/<profile>` of the running test executable
/// (`<target>/<profile>/deps/<test>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.ancestors().nth(2).expect("test executable under <target>/<profile>/deps").to_path_buf()
}

/// The workspace binary `name` (`berthd`, `berth-runtime`, `berth-shim`,
/// ...) of the test's own target directory and profile, built on demand
/// (package and binary share the name).
pub fn workspace_binary(name: &str) -> PathBuf {
    let dir = profile_dir();
    let p = dir.join(name);
    if !p.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = std::process::Command::new(cargo);
        c.args(["build", "-p", name]);
        if dir.file_name().and_then(|s| s.to_str()) == Some("release") {
            c.arg("--release");
        }
        assert!(c.status().expect("cargo build").success(), "building {name}");
    }
    p
}

/// Set in the child that [`isolated_in_netns`] starts.
const NETNS_INNER: &str = "BERTH_TEST_NETNS_INNER";

/// Runs the test `name` again, alone, in a child process in a network
/// namespace of its own, where daemons, registries, bridges, veths and
/// iptables rules live and die; `true` in that child (run the body, with
/// `lo` up), `false` in the parent (which has asserted that the child
/// passed).
pub fn isolated_in_netns(name: &str) -> bool {
    use std::process::Command;
    if std::env::var_os(NETNS_INNER).is_some() {
        let st = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip (iproute2)");
        assert!(st.success(), "ip link set lo up");
        return true;
    }
    let exe = std::env::current_exe().expect("test executable");
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(NETNS_INNER, "1")
        .output()
        .expect("unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("1 passed"), "{name} failed in its network namespace:\n{stdout}\n{stderr}");
    false
}
