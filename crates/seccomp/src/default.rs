//! Docker's default seccomp profile, the de-facto standard every container
//! engine ships: deny by default with EPERM, allow the ~370 syscalls ordinary
//! programs use, and open the privileged ones only to containers holding the
//! capability that guards them in the kernel.
//!
//! This table is the single source: `profiles/seccomp/default.json` is
//! generated from it (a unit test fails when the file is out of date; set
//! `BERTH_UPDATE_PROFILES=1` to rewrite it), so the file berthd loads with
//! `--security-opt seccomp=FILE` and [`crate::default_profile`] cannot drift.

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

use crate::names;

use crate::profile::{ArchMapEntry, Conditions, DockerProfile, DockerSyscall, KernelVersion};

/// Syscalls every container may make. Those a given architecture lacks are
/// skipped when the filter is compiled.
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
    "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat",
    "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
    "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
    "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget",
    "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
    "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
    "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
    "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
];

/// clone(2) flags that create namespaces: refused without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// personality(2) values a container may set: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query only).
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// AF_VSOCK would reach the host's hypervisor sockets.
const AF_VSOCK: u64 = libc::AF_VSOCK as u64;

/// One rule of the table: names, what to do, and when it applies.
struct Rule {
    names: &'static [&'static str],
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    /// (index, value, op); for MASKED_EQ `value` is the mask and the masked
    /// argument must be 0
    args: &'static [(usize, u64, LinuxSeccompOperator)],
    comment: Option<&'static str>,
    includes: When,
    excludes: When,
}

#[derive(Clone, Copy)]
struct When {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u32, u32)>,
}

const ALWAYS: When = When { caps: &[], arches: &[], min_kernel: None };

const fn allow(names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        action: LinuxSeccompAction::ScmpActAllow,
        errno_ret: None,
        args: &[],
        comment: None,
        includes: ALWAYS,
        excludes: ALWAYS,
    }
}

const fn allow_with_cap(names: &'static [&'static str], caps: &'static [&'static str]) -> Rule {
    Rule { includes: When { caps, arches: &[], min_kernel: None }, ..allow(names) }
}

const fn allow_on(names: &'static [&'static str], arches: &'static [&'static str]) -> Rule {
    Rule { includes: When { caps: &[], arches, min_kernel: None }, ..allow(names) }
}

use LinuxSeccompOperator::{ScmpCmpEq as EQ, ScmpCmpMaskedEq as MASKED_EQ, ScmpCmpNe as NE};

const RULES: &[Rule] = &[
    allow(ALLOWED),
    // ptrace could bypass seccomp before Linux 4.8.
    Rule {
        includes: When { caps: &[], arches: &[], min_kernel: Some((4, 8)) },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    },
    Rule { args: &[(0, AF_VSOCK, NE)], ..allow(&["socket"]) },
    Rule { args: &[(0, PERSONALITIES[0], EQ)], ..allow(&["personality"]) },
    Rule { args: &[(0, PERSONALITIES[1], EQ)], ..allow(&["personality"]) },
    Rule { args: &[(0, PERSONALITIES[2], EQ)], ..allow(&["personality"]) },
    Rule { args: &[(0, PERSONALITIES[3], EQ)], ..allow(&["personality"]) },
    Rule { args: &[(0, PERSONALITIES[4], EQ)], ..allow(&["personality"]) },
    allow_on(&["sync_file_range2", "swapcontext"], &["ppc64le"]),
    allow_on(
        &["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
        &["arm", "arm64"],
    ),
    allow_on(&["arch_prctl"], &["amd64", "x32"]),
    allow_on(&["modify_ldt"], &["amd64", "x32", "x86"]),
    allow_on(&["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], &["s390", "s390x"]),
    allow_on(&["riscv_flush_icache"], &["riscv64"]),
    allow_with_cap(&["open_by_handle_at"], &["CAP_DAC_READ_SEARCH"]),
    allow_with_cap(
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
            "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
            "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
        ],
        &["CAP_SYS_ADMIN"],
    ),
    // Without CAP_SYS_ADMIN, clone may not create namespaces.
    Rule {
        args: &[(0, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        excludes: When { caps: &["CAP_SYS_ADMIN"], arches: &["s390", "s390x"], min_kernel: None },
        ..allow(&["clone"])
    },
    Rule {
        args: &[(1, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        comment: Some("s390 parameter ordering for clone is different"),
        includes: When { caps: &[], arches: &["s390", "s390x"], min_kernel: None },
        excludes: When { caps: &["CAP_SYS_ADMIN"], arches: &[], min_kernel: None },
        ..allow(&["clone"])
    },
    // clone3 passes its flags in memory, where seccomp cannot look: answer
    // ENOSYS so that libc falls back to clone, whose flags are checked above.
    Rule {
        action: LinuxSeccompAction::ScmpActErrno,
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: When { caps: &["CAP_SYS_ADMIN"], arches: &[], min_kernel: None },
        ..allow(&["clone3"])
    },
    allow_with_cap(&["reboot"], &["CAP_SYS_BOOT"]),
    allow_with_cap(&["chroot"], &["CAP_SYS_CHROOT"]),
    allow_with_cap(&["delete_module", "init_module", "finit_module"], &["CAP_SYS_MODULE"]),
    allow_with_cap(&["acct"], &["CAP_SYS_PACCT"]),
    allow_with_cap(
        &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
        &["CAP_SYS_PTRACE"],
    ),
    allow_with_cap(&["iopl", "ioperm"], &["CAP_SYS_RAWIO"]),
    allow_with_cap(&["settimeofday", "stime", "clock_settime", "clock_settime64"], &["CAP_SYS_TIME"]),
    allow_with_cap(&["vhangup"], &["CAP_SYS_TTY_CONFIG"]),
    allow_with_cap(&["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], &["CAP_SYS_NICE"]),
    allow_with_cap(&["syslog"], &["CAP_SYSLOG"]),
    allow_with_cap(&["bpf"], &["CAP_BPF"]),
    allow_with_cap(&["perf_event_open"], &["CAP_PERFMON"]),
];

/// Which extra ABIs a process may use on each native architecture.
const ARCH_MAP: &[(Arch, &[Arch])] = &[
    (Arch::ScmpArchX86_64, &[Arch::ScmpArchX86, Arch::ScmpArchX32]),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (Arch::ScmpArchMips64, &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32]),
    (Arch::ScmpArchMips64n32, &[Arch::ScmpArchMips, Arch::ScmpArchMips64]),
    (Arch::ScmpArchMipsel64, &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32]),
    (Arch::ScmpArchMipsel64n32, &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64]),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
    (Arch::ScmpArchRiscv64, &[]),
];

fn conditions(when: &When) -> Conditions {
    Conditions {
        caps: when.caps.iter().map(|s| s.to_string()).collect(),
        arches: when.arches.iter().map(|s| s.to_string()).collect(),
        min_kernel: when.min_kernel.map(|(major, minor)| KernelVersion { major, minor, patch: 0 }),
    }
}

/// Docker's default profile in Docker's format, with its conditions unresolved:
/// what `profiles/seccomp/default.json` holds.
pub fn default_docker_profile() -> DockerProfile {
    DockerProfile {
        default_action: LinuxSeccompAction::ScmpActErrno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        arch_map: ARCH_MAP
            .iter()
            .map(|(arch, subs)| ArchMapEntry { architecture: *arch, sub_architectures: subs.to_vec() })
            .collect(),
        syscalls: RULES
            .iter()
            .map(|r| DockerSyscall {
                names: r.names.iter().map(|s| s.to_string()).collect(),
                action: r.action,
                errno_ret: r.errno_ret,
                args: r
                    .args
                    .iter()
                    .map(|&(index, value, op)| {
                        // MASKED_EQ: the masked argument must be 0
                        let value_two = if op == MASKED_EQ { Some(0) } else { None };
                        names::seccomp_arg(index, value, value_two, op)
                    })
                    .collect(),
                comment: r.comment.map(str::to_string),
                includes: conditions(&r.includes),
                excludes: conditions(&r.excludes),
            })
            .collect(),
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    }
}

/// Docker's default profile resolved for a container whose bounding set is
/// `capabilities` (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case), on this
/// machine's architecture and kernel: what berthd puts in `linux.seccomp`
/// when no `--security-opt seccomp=` is given.
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    default_docker_profile().resolve(capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn json_file() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../profiles/seccomp/default.json")
    }

    #[test]
    fn default_json_file_is_generated_from_the_table() {
        let generated = default_docker_profile().to_json();
        if std::env::var_os("BERTH_UPDATE_PROFILES").is_some() {
            std::fs::write(json_file(), &generated).expect("write default.json");
        }
        let on_disk = std::fs::read_to_string(json_file()).expect("profiles/seccomp/default.json exists");
        assert!(
            on_disk == generated,
            "profiles/seccomp/default.json is out of date: run `BERTH_UPDATE_PROFILES=1 cargo test -p berth-seccomp default_json`"
        );
        // and it reads back to the same profile
        assert_eq!(DockerProfile::from_json(on_disk.as_bytes()).expect("parses"), default_docker_profile());
    }

    #[test]
    fn allowed_list_has_no_duplicates() {
        let mut unique = ALLOWED.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ALLOWED.len());
        assert!(ALLOWED.len() > 350);
    }

    fn has(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().iter().flatten().any(|s| s.names().iter().any(|n| n == name))
    }

    #[test]
    fn capabilities_open_the_syscalls_they_guard() {
        let none = default_profile(&[]);
        assert_eq!(none.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(none.default_errno_ret(), Some(1));
        for name in ["mount", "unshare", "setns", "bpf", "reboot", "chroot", "init_module", "kcmp"] {
            assert!(!has(&none, name), "{name} must need a capability");
        }
        assert!(has(&none, "clone"), "clone without namespace flags");
        assert!(has(&none, "clone3"), "clone3 answered with ENOSYS");
        assert!(has(&none, "ptrace"), "ptrace is allowed on kernels >= 4.8");

        let admin = default_profile(&["CAP_SYS_ADMIN".into()]);
        for name in ["mount", "unshare", "setns", "bpf", "clone3"] {
            assert!(has(&admin, name), "{name} with CAP_SYS_ADMIN");
        }
        let clone3 = admin.syscalls().iter().flatten().find(|s| s.names().iter().any(|n| n == "clone3")).expect("clone3");
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActAllow, "no ENOSYS rule with CAP_SYS_ADMIN");
        assert!(has(&default_profile(&["SYS_CHROOT".into()]), "chroot"));
        assert!(has(&default_profile(&["cap_sys_ptrace".into()]), "kcmp"));
    }

    #[test]
    fn native_architecture_and_its_sub_abis() {
        let p = default_profile(&[]);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                p.architectures().as_deref(),
                Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
            );
            assert!(has(&p, "arch_prctl") && has(&p, "modify_ldt"));
            assert!(!has(&p, "cacheflush") && !has(&p, "s390_runtime_instr"));
        }
    }
}
