//! A throw-away unprivileged host user, for rootless containers.
//!
//! [`TestUser::create`] runs `useradd` (no home directory, no login shell;
//! Debian's useradd also gives it 65536 subordinate uids and gids in
//! /etc/subuid and /etc/subgid) and makes its `$XDG_RUNTIME_DIR`
//! (`/run/user/<uid>`, mode 0700, as logind would). On drop every process
//! running as that uid is killed, the runtime dir removed and the user
//! deleted with `userdel` (which also removes its subordinate ids).
//!
//! [`TestUser::command`] runs a program as that user with a clean
//! environment (`PATH`, `HOME`, `USER`, `XDG_RUNTIME_DIR`), through
//! `setpriv`; for crun on a hybrid host the mount namespace that hides
//! cgroup2 is set up as root first (see [`crate::runtime`]) and the
//! privileges are dropped inside it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// useradd and userdel lock /etc/passwd and fail at once when another one
/// holds it: one at a time in this process, retried against others.
static USERDB: Mutex<()> = Mutex::new(());
static NEXT: AtomicU32 = AtomicU32::new(0);

/// An unprivileged user that exists for one test.
#[derive(Debug)]
pub struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    runtime_dir: PathBuf,
}

/// A range of subordinate ids (`/etc/subuid` or `/etc/subgid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubIds {
    /// First host id of the range.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

impl TestUser {
    /// Creates the user `brl<pid>-<n>` and its runtime dir.
    #[track_caller]
    pub fn create() -> TestUser {
        let name = format!("brl{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        userdb(&["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", &name]);
        let pw = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("useradd {name} succeeded but the user is not found"));
        let (uid, gid) = (pw.uid.as_raw(), pw.gid.as_raw());
        let mut user = TestUser { name, uid, gid, runtime_dir: PathBuf::new() };
        let dir = PathBuf::from(format!("/run/user/{uid}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
        user.runtime_dir = dir;
        user
    }

    /// Login name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Host gid (its own group).
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// `$XDG_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// Its subordinate uids, if /etc/subuid gives it any.
    pub fn subuids(&self) -> Option<SubIds> {
        subids("/etc/subuid", &self.name)
    }

    /// Its subordinate gids, if /etc/subgid gives it any.
    pub fn subgids(&self) -> Option<SubIds> {
        subids("/etc/subgid", &self.name)
    }

    /// Recursively chowns `path` to this user (not following symlinks).
    #[track_caller]
    pub fn chown_tree(&self, path: &Path) {
        let out = Command::new("chown")
            .args(["-R", "-h", &format!("{}:{}", self.uid, self.gid)])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("chown -R: {e}"));
        assert!(out.status.success(), "chown -R {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    }

    /// `program args...` run as this user (uid, gid, no supplementary
    /// groups) with only `PATH`, `HOME`, `USER` and `XDG_RUNTIME_DIR` in the
    /// environment. With `hide_cgroup2` (crun on a hybrid host, see
    /// [`crate::Runtime::hybrid_wrapper`]) the privileges are dropped inside
    /// a mount namespace where /sys/fs/cgroup/unified is unmounted.
    pub fn command(&self, program: &Path, hide_cgroup2: bool) -> Command {
        let mut cmd = if hide_cgroup2 {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "unchanged",
                "sh",
                "-c",
                "mount --make-rprivate /sys/fs/cgroup && umount /sys/fs/cgroup/unified; exec \"$0\" \"$@\"",
            ]);
            c.arg("setpriv");
            c
        } else {
            Command::new("setpriv")
        };
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg("env")
            .arg("-i")
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("HOME=/nonexistent")
            .arg(format!("USER={}", self.name))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display()))
            .arg(program)
            .stdin(Stdio::null());
        cmd
    }

    /// Pids of the live processes (zombies excluded: a container's init is
    /// reaped by the host's pid 1 in its own time) running with this
    /// user's real or effective uid.
    pub fn processes(&self) -> Vec<i32> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return found };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(status) = std::fs::read_to_string(e.path().join("status")) else { continue };
            let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("").trim().to_string();
            if field("State:").starts_with('Z') {
                continue;
            }
            if field("Uid:").split_whitespace().take(2).any(|u| u == self.uid.to_string()) {
                found.push(pid);
            }
        }
        found
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // Everything running as this uid was started by the test that
        // created the user a moment ago.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.processes();
            if pids.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) on a pid read from /proc; no memory involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.runtime_dir.starts_with("/run/user") && self.runtime_dir != Path::new("/run/user") {
            let _ = std::fs::remove_dir_all(&self.runtime_dir);
        }
        // -f: a zombie of the user's (not yet reaped by pid 1) would make a
        // plain userdel refuse
        let _ = std::panic::catch_unwind(|| userdb(&["userdel", "-f", &self.name]));
    }
}

/// Runs useradd/userdel, retrying while another process holds the user
/// database lock.
#[track_caller]
fn userdb(args: &[&str]) {
    let _guard = USERDB.lock().unwrap_or_else(|p| p.into_inner());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} (install passwd): {e}", args[0]));
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // exit 10 (useradd) / 10 (userdel): cannot lock the database
        if (err.contains("lock") || out.status.code() == Some(10)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        panic!("{}: {:?} {err}", args.join(" "), out.status.code());
    }
}

fn subids(file: &str, name: &str) -> Option<SubIds> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        Some(SubIds { start: f.next()?.trim().parse().ok()?, count: f.next()?.trim().parse().ok()? })
    })
}
