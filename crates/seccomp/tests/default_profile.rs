//! Docker's default profile, compiled by us and enforced by the kernel, lets
//! ordinary programs run and keeps privileged syscalls behind the
//! capabilities that guard them; runc and crun accept the same generated
//! profile and enforce it the same way.

mod common;

use std::ffi::CString;

use berth_seccomp::{Filter, compile, default_profile};
use berth_test_support::{Bundle, Container, Kind, Runtime};
use common::{Child, cstring, errno_of, run_filtered, sys};

/// Docker's default capability set (moby's `caps.DefaultCapabilities`).
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn caps(extra: &[&str]) -> Vec<String> {
    DOCKER_CAPS.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn docker_default(extra: &[&str]) -> Filter {
    compile(&default_profile(&caps(extra))).expect("default profile compiles")
}

/// Callers run it in throw-away children.
fn unshare(flags: libc::c_int) -> i32 {
    sys(libc::SYS_unshare, &[flags as u64])
}

#[test]
fn busybox_shell_runs_under_the_default_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = CString::new(format!("ls / >/dev/null && mkdir {0}/x && echo -n ok > {0}/out", dir.path().display())).expect("script");
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), script.as_ptr(), std::ptr::null()];
    let envp = [c"PATH=/bin".as_ptr(), std::ptr::null()];
    let f = docker_default(&[]);
    let code = run_filtered(&f, || {
        // SAFETY: NULL-terminated arrays of valid strings prepared before fork.
        unsafe { libc::execve(c"/bin/busybox".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        127
    });
    assert_eq!(code, 0);
    assert!(dir.path().join("x").is_dir());
    assert_eq!(std::fs::read_to_string(dir.path().join("out")).expect("out"), "ok");
}

#[test]
fn namespaces_need_cap_sys_admin() {
    // control: without the filter this root child may unshare
    assert_eq!(Child::spawn(|| unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS)).exit_code(), 0);

    let f = docker_default(&[]);
    let code = run_filtered(&f, || {
        if unshare(libc::CLONE_NEWNS) != libc::EPERM {
            return 10;
        }
        if unshare(libc::CLONE_NEWUSER) != libc::EPERM {
            return 11;
        }
        // a bad fd: the filter answers before the kernel looks
        if sys(libc::SYS_setns, &[u64::MAX, 0]) != libc::EPERM {
            return 12;
        }
        // clone with a namespace flag is refused by the MASKED_EQ rule...
        // SAFETY: raw clone; if it were allowed the child would _exit at once.
        let ret = unsafe { libc::syscall(libc::SYS_clone, (libc::CLONE_NEWUTS | libc::SIGCHLD) as u64, 0u64, 0u64, 0u64, 0u64) };
        if ret == 0 {
            // SAFETY: we are the accidental child.
            unsafe { libc::_exit(0) };
        }
        if errno_of(ret) != libc::EPERM {
            return 13;
        }
        // ...while a plain fork-like clone works
        // SAFETY: as above.
        let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as u64, 0u64, 0u64, 0u64, 0u64) };
        if pid == 0 {
            // SAFETY: the grandchild leaves at once.
            unsafe { libc::_exit(7) };
        }
        if pid < 0 {
            return 14;
        }
        let mut status = 0;
        // SAFETY: waits for the grandchild we just made.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 7 {
            return 15;
        }
        // clone3 says ENOSYS so that libc falls back to clone
        // clone3 with a NULL args pointer: the filter answers first
        if sys(libc::SYS_clone3, &[0, 0]) != libc::ENOSYS {
            return 16;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn cap_sys_admin_opens_namespaces_and_mount() {
    let f = docker_default(&["CAP_SYS_ADMIN"]);
    let code = run_filtered(&f, || {
        if unshare(libc::CLONE_NEWNS) != 0 {
            return 10;
        }
        // SAFETY: mount in the child's private mount namespace.
        let ret = unsafe {
            libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null())
        };
        if ret != 0 {
            return 11;
        }
        // clone3 is allowed as well (no ENOSYS rule with CAP_SYS_ADMIN): with a
        // NULL args pointer the kernel itself answers EFAULT or EINVAL
        let e = sys(libc::SYS_clone3, &[0, 0]);
        if e == libc::ENOSYS || e == libc::EPERM {
            return 12;
        }
        0
    });
    assert_eq!(code, 0);
}

/// Mounts a tmpfs on `target` from inside a private mount namespace set up
/// before the filter, so that nothing can reach the host's mount table.
fn mount_in_private_ns(filter: Option<&Filter>, target: &CString) -> i32 {
    Child::spawn(|| {
        if unshare(libc::CLONE_NEWNS) != 0 {
            return 90;
        }
        // SAFETY: mount/umount in the child's own mount namespace.
        let private = unsafe {
            libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null())
        };
        if private != 0 {
            return 91;
        }
        if let Some(f) = filter
            && f.install().is_err()
        {
            return 92;
        }
        // SAFETY: as above.
        let ret = unsafe { libc::mount(c"none".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
        errno_of(ret as libc::c_long)
    })
    .exit_code()
}

#[test]
fn mount_is_blocked_without_cap_sys_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = cstring(dir.path());
    assert_eq!(mount_in_private_ns(None, &target), 0, "control: root may mount in its own namespace");
    assert_eq!(mount_in_private_ns(Some(&docker_default(&[])), &target), libc::EPERM);
    assert_eq!(mount_in_private_ns(Some(&docker_default(&["CAP_SYS_ADMIN"])), &target), 0);
}

#[test]
fn vsock_and_odd_personalities_are_refused() {
    let vsock = || sys(libc::SYS_socket, &[libc::AF_VSOCK as u64, libc::SOCK_STREAM as u64]);
    let control = Child::spawn(vsock).exit_code();
    assert_ne!(control, libc::EPERM, "control: the kernel itself does not answer EPERM");
    let f = docker_default(&[]);
    let code = run_filtered(&f, || {
        if vsock() != libc::EPERM {
            return 10;
        }
        // (the socket fd leaks into a child that exits at once)
        if sys(libc::SYS_socket, &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64]) != 0 {
            return 11;
        }
        if sys(libc::SYS_personality, &[0x0006]) != libc::EPERM {
            return 12; // PER_BSD
        }
        if sys(libc::SYS_personality, &[0xffff_ffff]) != 0 {
            return 13;
        }
        0
    });
    assert_eq!(code, 0);
}

/// The container runs `script` with CAP_SYS_ADMIN in all its capability
/// sets, so anything refused is refused by the seccomp profile.
fn run_in(rt: &Runtime, profile: &oci_spec::runtime::LinuxSeccomp, script: &str) -> (Option<i32>, String) {
    let mut bundle = Bundle::busybox();
    bundle.set_script(script);
    bundle.add_mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "nodev"]);
    let caps: Vec<&str> = DOCKER_CAPS.iter().copied().chain(["CAP_SYS_ADMIN"]).collect();
    for set in ["bounding", "effective", "permitted"] {
        bundle.set_caps(set, &caps);
    }
    bundle.linux_mut()["seccomp"] = serde_json::to_value(profile).expect("profile as JSON");
    let mut c = Container::new(rt, &bundle);
    let out = c.run(&[]);
    let result = (out.code(), out.stdout());
    drop(c);
    result
}

#[test]
fn runc_and_crun_enforce_the_generated_profile_the_same_way() {
    let script = "ls / >/dev/null && mkdir /tmp/x && echo mkdir-ok; unshare -m true 2>/dev/null && echo unshare-ok; true";
    for kind in [Kind::Runc, Kind::Crun] {
        if !kind.selected() {
            continue;
        }
        let rt = Runtime::new(kind, std::path::Path::new("/nonexistent"));
        let (code, out) = run_in(&rt, &default_profile(&caps(&[])), script);
        assert_eq!((code, out.as_str()), (Some(0), "mkdir-ok\n"), "{}: without CAP_SYS_ADMIN in the profile", rt.name());
        let (code, out) = run_in(&rt, &default_profile(&caps(&["CAP_SYS_ADMIN"])), script);
        assert_eq!((code, out.as_str()), (Some(0), "mkdir-ok\nunshare-ok\n"), "{}: with CAP_SYS_ADMIN", rt.name());
    }
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys_not_eperm() {
    // the first syscall number past everything the profile names
    let next = default_profile(&caps(&[]))
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names())
        .filter_map(|n| libseccomp::ScmpSyscall::from_name(n).ok().map(i32::from))
        .max()
        .expect("syscalls") as libc::c_long
        + 1;
    // NULL/zero arguments: it fails without side effects
    let raw = move || sys(next, &[]);
    let control = Child::spawn(raw).exit_code();
    let f = docker_default(&[]);
    assert_eq!(run_filtered(&f, raw), libc::ENOSYS, "syscall {next} (control without filter: errno {control})");
    // a syscall the profile denies still gets the profile's EPERM
    assert_eq!(run_filtered(&f, || unshare(libc::CLONE_NEWNS)), libc::EPERM);
}
