//! Handing the seccomp notify fd to the agent at `linux.seccomp.listenerPath`,
//! as config-linux.md ("seccomp", "The Container Process State") says: one
//! AF_UNIX SOCK_STREAM connection per container process, the state as JSON
//! payload, the fd in SCM_RIGHTS on the first sendmsg, then close.

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
use oci_spec::runtime::{ContainerProcessState, SECCOMP_FD_NAME, State};

use crate::error::Error;

/// The container process state to send for a process whose notify fd is the
/// only fd passed: `fds` is `["seccompFd"]`, `ociVersion` is the state's.
///
/// `pid` is the container process as seen by the runtime; `metadata` is
/// `linux.seccomp.listenerMetadata`.
pub fn container_process_state(state: State, pid: i32, metadata: Option<String>) -> ContainerProcessState {
    let mut process_state = ContainerProcessState::default();
    process_state.set_version(state.version().clone());
    process_state.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    process_state.set_pid(pid);
    process_state.set_metadata(metadata);
    process_state.set_state(state);
    process_state
}

/// Connects to the agent listening on `listener_path` and sends it `state`
/// (JSON) with `notify_fd` attached (SCM_RIGHTS), then closes the connection.
///
/// `state.fds` must be exactly `["seccompFd"]` (see [`container_process_state`]):
/// the spec ties each name to the fd at the same index.
/// SIGPIPE is never raised: a listener that hangs up is reported as an error.
pub fn send_to_listener(listener_path: &Path, notify_fd: BorrowedFd<'_>, state: &ContainerProcessState) -> Result<(), Error> {
    if state.fds().as_slice() != [SECCOMP_FD_NAME] {
        return Err(Error::InvalidState { reason: format!("fds must be [{SECCOMP_FD_NAME:?}], not {:?}", state.fds()) });
    }
    if state.version().is_empty() {
        return Err(Error::InvalidState { reason: "ociVersion is empty".into() });
    }
    if *state.pid() <= 0 {
        return Err(Error::InvalidState { reason: format!("pid {} is not a process id", state.pid()) });
    }
    let payload = serde_json::to_vec(state).map_err(|e| Error::InvalidState { reason: format!("cannot serialise: {e}") })?;

    let send_err = |source: std::io::Error| Error::ListenerSend { path: listener_path.to_path_buf(), source };
    // UnixAddr validates the length (sun_path is 108 bytes) with a clear error.
    UnixAddr::new(listener_path).map_err(|e| Error::ListenerConnect { path: listener_path.to_path_buf(), source: e.into() })?;
    let mut stream = UnixStream::connect(listener_path)
        .map_err(|source| Error::ListenerConnect { path: listener_path.to_path_buf(), source })?;

    let fds = [notify_fd.as_raw_fd()];
    let sent = loop {
        match sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&payload)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| send_err(e.into()))?,
        }
    };
    // The rest, if the socket took only part of it, without the fd (the spec
    // allows several sendmsg calls; fds go with the first only).
    let mut rest = &payload[sent..];
    while !rest.is_empty() {
        match nix::sys::socket::send(stream.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(send_err(e.into())),
        }
    }
    stream.flush().map_err(send_err)?;
    // "The connection MUST NOT be reused and it MUST be closed": dropped here.
    Ok(())
}
