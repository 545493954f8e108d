//! `start`: releases the init process blocked in `create`, which then runs
//! the startContainer hooks and executes the user's program.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use super::{Runtime, bad_status, state_json};
use crate::state::{ContainerDir, State, Status};
use crate::{Error, Result, hooks};

/// Starts a created container.
pub fn start(rt: &Runtime, id: &str) -> Result<()> {
    let (dir, st, status) = rt.load(id, true)?;
    match status {
        Status::Created => {}
        Status::Stopped => return Err(bad_status(id, status, "cannot start a container that has stopped")),
        Status::Running | Status::Paused => return Err(bad_status(id, status, "cannot start an already running container")),
        Status::Creating => return Err(bad_status(id, status, "cannot start a container that is still being created")),
    }
    release(&dir, &st)?;
    let cfg = dir.load_config()?;
    let json = state_json(&st, Status::Running).to_string();
    hooks::run_all_warn("poststart", hooks::of(&cfg.spec, "poststart"), json.as_bytes(), &mut |e| {
        eprintln!("berth-runtime: warning: {}", e.chain());
    });
    Ok(())
}

/// Connects to the start socket and waits until the init process has
/// executed the user's program (the connection closes on exec) or reports
/// why it could not.
pub fn release(dir: &ContainerDir, st: &State) -> Result<()> {
    let dfd = dir.as_fd().ok_or_else(|| Error::Msg("state directory is not locked".into()))?;
    let path = format!("/proc/self/fd/{}/{}", dfd.as_raw_fd(), crate::state::START_SOCKET);
    let mut conn = UnixStream::connect(&path).map_err(|e| Error::path("connect to start socket", dir.start_socket(), e))?;
    let _ = std::fs::remove_file(dir.start_socket());
    // connecting is the signal: init accepts, runs the startContainer hooks
    // and executes, which closes its end (close-on-exec); an error is written
    // to us instead
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    if !reply.is_empty() {
        return Err(Error::Child(reply));
    }
    if crate::sys::process_start_time(st.pid) != Some(st.init_start_time) {
        // it exited straight away: that is the program's business, not an error
        return Ok(());
    }
    Ok(())
}
