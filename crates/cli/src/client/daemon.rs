//! Starting berthd on demand: when the default socket has no daemon behind
//! it and the user is root, `berth` starts `berthd` (next to the `berth`
//! binary, else from `PATH`) detached in its own session, logging to
//! `/var/log/berth/berthd.log`, says so once on stderr, and waits for
//! `/_ping`. A lock file keeps two CLIs started at once from racing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{ClientError, Host};

pub const LOG_FILE: &str = "/var/log/berth/berthd.log";
const LOCK_FILE: &str = "/run/berth/.berthd-start.lock";
const WAIT: Duration = Duration::from_secs(20);

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// True when a failed connect means "no daemon yet" and we may start one.
pub fn may_start(host: &Host, e: &io::Error) -> bool {
    host.is_default()
        && matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        )
        && is_root()
        && std::env::var_os("BERTH_NO_AUTOSTART").is_none()
}

/// The berthd binary: beside our own executable, else the first in PATH.
pub fn find_berthd() -> Option<PathBuf> {
    if let Ok(me) = std::env::current_exe()
        && let Some(dir) = me.parent()
    {
        let p = dir.join("berthd");
        if is_executable(&p) {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("berthd"))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Holds an exclusive `flock` until dropped.
struct Lock(File);

impl Lock {
    fn take(path: &str) -> io::Result<Lock> {
        if let Some(dir) = Path::new(path).parent() {
            fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)?;
        // SAFETY: flock on a descriptor we own; blocking until the other starter is done.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor we own.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Starts berthd and waits until the socket answers.
pub fn start(host: &Host) -> Result<(), ClientError> {
    let fail = |m: String| ClientError::StartDaemon(m);
    let _lock = Lock::take(LOCK_FILE).map_err(|e| fail(format!("lock {LOCK_FILE}: {e}")))?;
    // another CLI may have started it while we waited for the lock
    if ping(host) {
        return Ok(());
    }
    let bin =
        find_berthd().ok_or_else(|| fail("berthd not found next to berth or in PATH".into()))?;
    if let Some(dir) = Path::new(LOG_FILE).parent() {
        fs::create_dir_all(dir).map_err(|e| fail(format!("create {}: {e}", dir.display())))?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG_FILE)
        .map_err(|e| fail(format!("open {LOG_FILE}: {e}")))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let err_log = log.try_clone().map_err(|e| fail(format!("dup log: {e}")))?;
    let mut cmd = Command::new(&bin);
    cmd.stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .current_dir("/");
    // SAFETY: setsid is async-signal-safe; the child leaves our session so
    // that the terminal's signals (Ctrl-C on this CLI) never reach the daemon.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("run {}: {e}", bin.display())))?;
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "berth: started berthd (pid {}, log {LOG_FILE})",
        child.id()
    );
    let deadline = Instant::now() + WAIT;
    let mut pause = Duration::from_millis(2);
    loop {
        if ping(host) {
            // the daemon lives on without us: never waited for (init reaps it)
            drop(child);
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(fail(format!(
                "berthd exited ({status}) before answering; its log says:\n{}",
                log_tail(log_start)
            )));
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "berthd did not answer on {host} within {}s; see {LOG_FILE}",
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// One `/_ping` that answers 200.
fn ping(host: &Host) -> bool {
    let Ok(conn) = host.dial() else { return false };
    match conn.request("GET", "/_ping", &[], super::Body::Empty) {
        Ok(mut r) => {
            let _ = r.read_body();
            r.status == 200
        }
        Err(_) => false,
    }
}

fn log_tail(from: u64) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(LOG_FILE) {
        use std::io::Seek;
        let _ = f.seek(io::SeekFrom::Start(from));
        let _ = f.take(8192).read_to_string(&mut s);
    }
    let s = s.trim();
    if s.is_empty() {
        "(nothing)".to_owned()
    } else {
        s.to_owned()
    }
}
