//! `kill`: sends a signal to the container's init process, or with `--all`
//! to every process in its cgroup.

use super::{Runtime, bad_status};
use crate::state::Status;
use crate::{Error, Result};

pub fn kill(rt: &Runtime, id: &str, sig: i32, all: bool) -> Result<()> {
    let (_dir, st, status) = rt.load(id, false)?;
    // with --all the processes left in the cgroup of a stopped container
    // (one that shared a pid namespace, say) are still signalled, as runc does
    if status == Status::Creating || (status == Status::Stopped && !all) {
        return Err(bad_status(id, status, "container not running"));
    }
    if all {
        let cg = berth_cgroups::manager(&st.cgroup)?;
        if cg.enabled() {
            cg.kill_all(sig)?;
            return Ok(());
        }
        if status == Status::Stopped {
            return Ok(());
        }
    }
    send(st.pid, sig)
}

/// kill(2) with any signal number, real-time ones included.
pub fn send(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: kill(2) with integer arguments.
    let r = unsafe { libc::kill(pid, sig) };
    nix::errno::Errno::result(r).map(drop).map_err(|e| Error::sys(format!("send signal {sig} to {pid}"), e))
}
