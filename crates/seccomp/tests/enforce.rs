//! The kernel enforces what the profile says: each test forks a child that
//! installs a filter compiled from an OCI profile and reports what its
//! syscalls returned.

mod common;

use common::{Child, cstring, errno_of, filter, no_core_dumps, run_filtered, sys, sys_mkdir};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde_json::json;

const MARK: i32 = 222; // an errno no syscall here returns by itself

fn getpgid(pid: u64) -> i32 {
    sys(libc::SYS_getpgid, &[pid])
}

#[test]
fn mkdir_denied_with_eperm_while_other_syscalls_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let denied = cstring(&dir.path().join("denied"));
    let file = cstring(&dir.path().join("file"));
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    }));
    let code = run_filtered(&f, || {
        if sys_mkdir(&denied) != libc::EPERM {
            return 10;
        }
        // SAFETY: file is a valid path; the fd is closed below.
        let fd = unsafe { libc::open(file.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644) };
        if fd < 0 {
            return 11;
        }
        // SAFETY: fd was just opened by us.
        if unsafe { libc::write(fd, b"ok".as_ptr().cast(), 2) } != 2 || unsafe { libc::close(fd) } != 0 {
            return 12;
        }
        // SAFETY: getpid has no arguments.
        if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
            return 13;
        }
        0
    });
    assert_eq!(code, 0);
    assert!(!dir.path().join("denied").exists());
    assert_eq!(std::fs::read(dir.path().join("file")).expect("file written"), b"ok");
    // and without the filter the same mkdir works: the filter is what denied it
    assert_eq!(Child::spawn(|| sys_mkdir(&denied)).exit_code(), 0);
}

#[test]
fn errno_ret_values_reach_the_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faked = cstring(&dir.path().join("faked"));
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": MARK,
        "syscalls": [
            {"names": ["exit", "exit_group", "getppid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
            {"names": ["getuid"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let code = run_filtered(&f, || {
        if sys(libc::SYS_getpid, &[]) != MARK {
            return 10; // defaultErrnoRet
        }
        if sys(libc::SYS_getppid, &[]) != 0 {
            return 11;
        }
        if getpgid(0) != libc::ENOSYS {
            return 12; // errnoRet 38
        }
        if sys(libc::SYS_getuid, &[]) != libc::EPERM {
            return 13; // errnoRet absent: EPERM
        }
        if sys_mkdir(&faked) != 0 {
            return 14; // errnoRet 0: "success" without running the syscall
        }
        0
    });
    assert_eq!(code, 0);
    assert!(!dir.path().join("faked").exists(), "errnoRet 0 must not run mkdir");
}

/// Bit i set when getpgid(values[i]) was answered by the rule.
fn matches(f: &berth_seccomp::Filter, values: [u64; 3]) -> i32 {
    run_filtered(f, || {
        let mut mask = 0;
        for (i, v) in values.iter().enumerate() {
            if getpgid(*v) == MARK {
                mask |= 1 << i;
            }
        }
        mask
    })
}

fn getpgid_rule(args: serde_json::Value) -> berth_seccomp::Filter {
    filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK, "args": args}]
    }))
}

#[test]
fn every_comparison_operator() {
    let values = [99_999, 100_000, 100_001];
    for (op, expected) in [
        ("SCMP_CMP_NE", 0b101),
        ("SCMP_CMP_LT", 0b001),
        ("SCMP_CMP_LE", 0b011),
        ("SCMP_CMP_EQ", 0b010),
        ("SCMP_CMP_GE", 0b110),
        ("SCMP_CMP_GT", 0b100),
    ] {
        let f = getpgid_rule(json!([{"index": 0, "value": 100_000, "op": op}]));
        assert_eq!(matches(&f, values), expected, "{op}");
    }
    // MASKED_EQ: (arg & value) == valueTwo; 0xb5 would match were mask and
    // value swapped
    let f = getpgid_rule(json!([{"index": 0, "value": 0xf0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}]));
    assert_eq!(matches(&f, [0x35, 0x45, 0xb5]), 0b001);
}

#[test]
fn same_argument_twice_means_either() {
    // runc's reading: a second comparison on the same argument is a second rule
    let f = getpgid_rule(json!([{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]));
    assert_eq!(matches(&f, [5, 6, 7]), 0b101);
}

#[test]
fn different_arguments_must_all_match() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK, "args": [
            {"index": 0, "value": libc::PRIO_PROCESS, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 123_456, "op": "SCMP_CMP_EQ"}]}]
    }));
    let code = run_filtered(&f, || {
        let prio = |which: u64, who: u64| sys(libc::SYS_getpriority, &[which, who]);
        let process = libc::PRIO_PROCESS as u64;
        let mut mask = 0;
        if prio(process, 123_456) == MARK {
            mask |= 1;
        }
        if prio(process, 0) == MARK {
            mask |= 2;
        }
        if prio(libc::PRIO_PGRP as u64, 123_456) == MARK {
            mask |= 4;
        }
        mask
    });
    assert_eq!(code, 0b001);
}

#[test]
fn personality_denied_only_for_the_query_value() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK,
            "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]}]
    }));
    let code = run_filtered(&f, || {
        let query = sys(libc::SYS_personality, &[0xffff_ffff]);
        let set = sys(libc::SYS_personality, &[0]); // PER_LINUX, the current one
        if query != MARK {
            return 10;
        }
        if set != 0 {
            return 11;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn masked_eq_on_namespace_flags() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK,
            "args": [{"index": 0, "value": libc::CLONE_NEWUTS, "valueTwo": libc::CLONE_NEWUTS, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    let code = run_filtered(&f, || {
        // in a throw-away child: the namespaces die with it
        let uts = sys(libc::SYS_unshare, &[libc::CLONE_NEWUTS as u64]);
        let both = sys(libc::SYS_unshare, &[(libc::CLONE_NEWUTS | libc::CLONE_NEWIPC) as u64]);
        let ipc = sys(libc::SYS_unshare, &[libc::CLONE_NEWIPC as u64]);
        match (uts, both, ipc) {
            (MARK, MARK, 0) => 0,
            (MARK, MARK, _) => 11,
            _ => 10,
        }
    });
    assert_eq!(code, 0);
}

fn status_of(f: &berth_seccomp::Filter, after: impl FnOnce() -> i32) -> WaitStatus {
    Child::spawn(|| {
        no_core_dumps();
        match f.install() {
            Ok(_) => after(),
            Err(_) => 99,
        }
    })
    .wait()
}

fn uname() -> i32 {
    let mut buf = std::mem::MaybeUninit::<libc::utsname>::uninit();
    // SAFETY: uname writes into the buffer, which is large enough.
    errno_of(unsafe { libc::syscall(libc::SYS_uname, buf.as_mut_ptr()) })
}

fn kill_on_uname(action: &str) -> berth_seccomp::Filter {
    filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["uname"], "action": action}]}))
}

#[test]
fn kill_actions_kill_with_sigsys() {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL"] {
        let f = kill_on_uname(action);
        match status_of(&f, || {
            catch_sigsys(); // a kill is not a signal the process can handle
            uname();
            0
        }) {
            WaitStatus::Signaled(_, Signal::SIGSYS, _) => {}
            other => panic!("{action}: expected death by SIGSYS, got {other:?}"),
        }
    }
}

extern "C" fn on_sigsys(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(42) }
}

fn catch_sigsys() {
    // SAFETY: installs a handler that only calls _exit; the struct is zeroed
    // then filled, as sigaction(2) expects.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsys as *const () as usize;
        libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut());
    }
}

#[test]
fn trap_sends_a_catchable_sigsys() {
    let f = kill_on_uname("SCMP_ACT_TRAP");
    let status = status_of(&f, || {
        catch_sigsys();
        uname();
        0
    });
    assert!(matches!(status, WaitStatus::Exited(_, 42)), "the SIGSYS handler must run: {status:?}");
}

#[test]
fn trace_without_a_tracer_fails_with_enosys() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]}));
    assert_eq!(run_filtered(&f, || sys(libc::SYS_getppid, &[])), libc::ENOSYS);
}

#[test]
fn log_action_lets_the_syscall_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logged = cstring(&dir.path().join("logged"));
    let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["exit", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]}));
    assert_eq!(run_filtered(&f, || sys_mkdir(&logged)), 0);
    assert!(dir.path().join("logged").is_dir());
}

#[test]
fn filter_flags_are_accepted_by_the_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let denied = cstring(&dir.path().join("denied"));
    for flags in [
        json!(["SECCOMP_FILTER_FLAG_LOG"]),
        json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
        json!(["SECCOMP_FILTER_FLAG_TSYNC"]),
        json!(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
    ] {
        let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK}]}));
        assert_eq!(run_filtered(&f, || sys_mkdir(&denied)), MARK, "{flags}");
    }
}

#[test]
fn filter_survives_execve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("x");
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}));
    let sh = c"/bin/busybox";
    let script = std::ffi::CString::new(format!("mkdir {} 2>/dev/null; echo -n $? > {}/rc", target.display(), dir.path().display()))
        .expect("no NUL");
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), script.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let code = run_filtered(&f, || {
        // SAFETY: argv and envp are NULL-terminated arrays of valid strings
        // prepared before fork.
        unsafe { libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        127
    });
    assert_eq!(code, 0);
    assert!(!target.exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("rc")).expect("rc"), "1", "busybox mkdir failed");
}

#[test]
fn loading_needs_no_new_privs_or_cap_sys_admin() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK}]}));
    let code = Child::spawn(|| {
        // SAFETY: setuid to nobody drops every capability in this throw-away child.
        if unsafe { libc::setuid(65534) } != 0 {
            return 10;
        }
        let first = matches!(f.install(), Err(berth_seccomp::Error::Load { errno: nix::errno::Errno::EACCES, .. }));
        if sys(libc::SYS_prctl, &[libc::PR_SET_NO_NEW_PRIVS as u64, 1]) != 0 {
            return 11;
        }
        if f.install().is_err() {
            return 12;
        }
        match (first, getpgid(0)) {
            (true, MARK) => 0,
            (false, _) => 13,
            _ => 14,
        }
    })
    .exit_code();
    assert_eq!(code, 0);
    let e = berth_seccomp::Error::Load { flags: 0, errno: nix::errno::Errno::EACCES };
    assert_eq!(
        e.to_string(),
        "loading the seccomp filter into the kernel (flags 0x0): no_new_privs is not set and the thread lacks CAP_SYS_ADMIN"
    );
}

#[test]
fn filters_stack() {
    // A second filter can only restrict more: the runtime's own profile and a
    // nested runtime's both apply.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = cstring(&dir.path().join("a"));
    let first = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK}]}));
    let second = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK}]}));
    let code = run_filtered(&first, || {
        if second.install().is_err() {
            return 10;
        }
        match (getpgid(0), sys_mkdir(&a)) {
            (MARK, MARK) => 0,
            _ => 11,
        }
    });
    assert_eq!(code, 0);
}
