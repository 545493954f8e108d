//! SCMP_ACT_NOTIFY end to end: the child installs the filter, the "runtime"
//! (this test) takes the notify fd and sends it with the container process
//! state to a listener socket, and a tiny seccomp agent answers the child's
//! syscalls through it.

mod common;

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use berth_seccomp::{Error, container_process_state, send_to_listener};
use common::{Child, cstring, errno_of, filter, sys_mkdir};
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use oci_spec::runtime::{ContainerProcessState, ContainerState, State};
use serde_json::json;

const FAKE_PGID: i64 = 4242;

/// What the agent saw.
struct Received {
    state: ContainerProcessState,
    raw_state: serde_json::Value,
    fds_in_message: usize,
    answered: Vec<String>,
}

/// Accepts one connection, reads the state and the fd like a seccomp agent,
/// then answers notifications until the child is gone: mkdir of a path ending
/// in "deny" gets EXDEV, other mkdirs run (SECCOMP_USER_NOTIF_FLAG_CONTINUE),
/// getpgid returns a made-up value.
fn agent(listener: UnixListener) -> Received {
    let (conn, _) = listener.accept().expect("accept");
    let (raw_state, notify_fd, fds_in_message) = read_state_and_fd(conn);
    let state: ContainerProcessState = serde_json::from_value(raw_state.clone()).expect("container process state");
    let notify_fd = notify_fd.expect("an fd in SCM_RIGHTS");

    let mkdir = ScmpSyscall::from_name("mkdir").expect("mkdir");
    let getpgid = ScmpSyscall::from_name("getpgid").expect("getpgid");
    let mut answered = Vec::new();
    loop {
        let mut fds = [PollFd::new(notify_fd.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll notify fd");
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if n == 0 || !revents.contains(PollFlags::POLLIN) {
            break; // POLLHUP: every filtered task exited (or the test is stuck)
        }
        let req = ScmpNotifReq::receive(notify_fd.as_raw_fd()).expect("receive notification");
        let resp = if req.data.syscall == mkdir {
            // read the path from the child's memory, as real agents do
            let path = read_child_string(req.pid, req.data.args[0]);
            if path.ends_with("deny") {
                answered.push("mkdir:EXDEV".to_string());
                ScmpNotifResp::new_error(req.id, -libc::EXDEV, ScmpNotifRespFlags::empty())
            } else {
                answered.push("mkdir:continue".to_string());
                ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty())
            }
        } else if req.data.syscall == getpgid {
            answered.push("getpgid:value".to_string());
            ScmpNotifResp::new_val(req.id, FAKE_PGID, ScmpNotifRespFlags::empty())
        } else {
            answered.push(format!("unexpected:{:?}", req.data.syscall));
            ScmpNotifResp::new_error(req.id, -libc::ENOSYS, ScmpNotifRespFlags::empty())
        };
        resp.respond(notify_fd.as_raw_fd()).expect("respond");
    }
    Received { state, raw_state, fds_in_message, answered }
}

fn read_state_and_fd(mut conn: UnixStream) -> (serde_json::Value, Option<OwnedFd>, usize) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let (n, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC).expect("recvmsg");
        let mut fds = Vec::new();
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(r) = c {
                fds.extend(r);
            }
        }
        (msg.bytes, fds)
    };
    let mut payload = buf[..n].to_vec();
    conn.read_to_end(&mut payload).expect("rest of the state, then EOF (the runtime closes)");
    let count = fds.len();
    // SAFETY: the kernel just installed these fds for us; we own them.
    let mut owned: Vec<OwnedFd> = fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect();
    let first = if owned.is_empty() { None } else { Some(owned.remove(0)) };
    (serde_json::from_slice(&payload).expect("state is JSON"), first, count)
}

fn read_child_string(pid: u32, addr: u64) -> String {
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("child memory");
    let mut buf = [0u8; 4096];
    let n = std::os::unix::fs::FileExt::read_at(&mem, &mut buf, addr).expect("read path");
    let end = buf[..n].iter().position(|b| *b == 0).unwrap_or(n);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The runtime's side: duplicate the child's notify fd out of it (the child
/// only writes the number on a pipe), as berth-runtime's parent does.
fn take_fd(child: nix::unistd::Pid, fd: RawFd) -> OwnedFd {
    // SAFETY: pidfd_open and pidfd_getfd take integers and return new fds.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: pidfd is a new fd we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: as above.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    assert!(got >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
    // SAFETY: a new fd we own.
    unsafe { OwnedFd::from_raw_fd(got as RawFd) }
}

fn state_for(pid: i32, bundle: &Path) -> ContainerProcessState {
    let mut state = State::default();
    state.set_version("1.2.0".to_string());
    state.set_id("seccomp-notify-test".to_string());
    state.set_status(ContainerState::Creating);
    state.set_pid(Some(pid));
    state.set_bundle(bundle.to_path_buf());
    state.set_annotations(Some([("k".to_string(), "v".to_string())].into()));
    container_process_state(state, pid, Some("agent-metadata".to_string()))
}

#[test]
fn agent_receives_the_fd_and_state_and_answers_notifications() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind listener");
    let agent = std::thread::spawn(move || agent(listener));

    let deny = cstring(&dir.path().join("deny"));
    let allow = cstring(&dir.path().join("allowed"));
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "agent-metadata",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir", "getpgid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(f.needs_notify_fd());

    let (report_r, report_w) = nix::unistd::pipe().expect("pipe");
    let (ack_r, ack_w) = nix::unistd::pipe().expect("pipe");
    let child = Child::spawn(|| {
        let fd = match f.install() {
            Ok(Some(fd)) => fd,
            Ok(None) => return 90,
            Err(_) => return 91,
        };
        let num = fd.as_raw_fd().to_ne_bytes();
        // SAFETY: write on a pipe fd inherited from the parent, from a live buffer.
        if unsafe { libc::write(report_w.as_raw_fd(), num.as_ptr().cast(), num.len()) } != 4 {
            return 92;
        }
        let mut b = 0u8;
        // SAFETY: read of one byte into a live local.
        if unsafe { libc::read(ack_r.as_raw_fd(), (&mut b as *mut u8).cast(), 1) } != 1 {
            return 93;
        }
        drop(fd); // the agent's copy is the only one left
        let denied = sys_mkdir(&deny);
        let allowed = sys_mkdir(&allow);
        // SAFETY: getpgid takes an integer.
        let pgid = unsafe { libc::syscall(libc::SYS_getpgid, 0) };
        match (denied, allowed, pgid) {
            (libc::EXDEV, 0, FAKE_PGID) => 0,
            (libc::EXDEV, 0, _) => 12,
            (libc::EXDEV, _, _) => 11,
            _ => 10,
        }
    });
    drop(report_w);
    drop(ack_r);

    let mut num = [0u8; 4];
    std::fs::File::from(report_r).read_exact(&mut num).expect("child reports its notify fd");
    let notify_fd = take_fd(child.pid(), i32::from_ne_bytes(num));
    nix::unistd::write(&ack_w, b"k").expect("ack");

    let state = state_for(child.pid().as_raw(), dir.path());
    send_to_listener(&sock, notify_fd.as_fd(), &state).expect("send to listener");
    drop(notify_fd);

    assert_eq!(child.exit_code(), 0, "the child's syscalls got the agent's answers");
    let got = agent.join().expect("agent thread");
    assert_eq!(got.answered, ["mkdir:EXDEV", "mkdir:continue", "getpgid:value"]);
    assert!(!dir.path().join("deny").exists());
    assert!(dir.path().join("allowed").is_dir(), "CONTINUE runs the real mkdir");
    assert_eq!(got.fds_in_message, 1, "exactly the seccomp fd in SCM_RIGHTS");
    assert_eq!(got.state, state);
    // the wire format the spec shows
    let raw = &got.raw_state;
    assert_eq!(raw["ociVersion"], "1.2.0");
    assert_eq!(raw["fds"], json!(["seccompFd"]));
    assert_eq!(raw["pid"], json!(state.pid()));
    assert_eq!(raw["metadata"], "agent-metadata");
    assert_eq!(raw["state"]["id"], "seccomp-notify-test");
    assert_eq!(raw["state"]["status"], "creating");
    assert_eq!(raw["state"]["bundle"], json!(dir.path()));
    assert_eq!(raw["state"]["annotations"], json!({"k": "v"}));
}

#[test]
fn without_a_listener_the_send_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("gone.sock");
    drop(UnixListener::bind(&sock).expect("bind")); // the socket file stays, nobody listens
    let (r, _w) = nix::unistd::pipe().expect("pipe");
    let state = state_for(1, dir.path());
    let e = send_to_listener(&sock, r.as_fd(), &state).expect_err("nobody listens");
    assert!(matches!(e, Error::ListenerConnect { .. }), "{e:?}");
    assert_eq!(e.to_string(), format!("connecting to the seccomp listener {}", sock.display()));

    let e = send_to_listener(&dir.path().join("missing.sock"), r.as_fd(), &state).expect_err("no socket");
    assert!(matches!(e, Error::ListenerConnect { .. }), "{e:?}");

    let long = dir.path().join("x".repeat(120));
    let e = send_to_listener(&long, r.as_fd(), &state).expect_err("path longer than sun_path");
    assert!(matches!(e, Error::ListenerConnect { .. }), "{e:?}");
}

#[test]
fn state_must_name_exactly_the_seccomp_fd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let _listener = UnixListener::bind(&sock).expect("bind");
    let (r, _w) = nix::unistd::pipe().expect("pipe");
    let mut state = state_for(1, dir.path());
    state.set_fds(vec![]);
    let e = send_to_listener(&sock, r.as_fd(), &state).expect_err("fds empty");
    assert_eq!(e.to_string(), r#"container process state: fds must be ["seccompFd"], not []"#);
    let mut state = state_for(1, dir.path());
    state.set_pid(0);
    assert!(send_to_listener(&sock, r.as_fd(), &state).is_err());
}

#[test]
fn a_listener_that_hangs_up_is_an_error_not_a_sigpipe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("rude.sock");
    let listener = UnixListener::bind(&sock).expect("bind");
    let rude = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        drop(conn);
    });
    let (r, _w) = nix::unistd::pipe().expect("pipe");
    // a state big enough not to fit in one send once the peer is gone
    let mut state = state_for(1, dir.path());
    state.set_metadata(Some("m".repeat(4 << 20)));
    let result = send_to_listener(&sock, r.as_fd(), &state);
    rude.join().expect("listener thread");
    // Either the kernel buffered all of it before the hang-up, or we get
    // EPIPE/ECONNRESET as an error; the test process must still be alive.
    if let Err(e) = result {
        assert!(matches!(e, Error::ListenerSend { .. }), "{e:?}");
    }
}

#[test]
fn wait_killable_recv_without_notify_rules_still_installs() {
    // WAIT_KILLABLE_RECV is dropped without NOTIFY rules (the kernel would
    // refuse it), so such a profile still installs.
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 222}]}));
    assert!(!f.needs_notify_fd());
    let code = Child::spawn(|| match f.install() {
        // SAFETY: getpgid takes an integer.
        Ok(None) => errno_of(unsafe { libc::syscall(libc::SYS_getpgid, 0) }),
        Ok(Some(_)) => 1,
        Err(_) => 2,
    })
    .exit_code();
    assert_eq!(code, 222);
}
