//! OCI profile → validated libseccomp context → BPF program.
//!
//! Everything that can be wrong with a profile is found here, in the runtime
//! process before it forks, so that the container's init only has to make
//! one seccomp(2) call (see [`crate::Filter::install`]).

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator};

use crate::enosys;
use crate::error::Error;
use crate::filter::{Filter, kernel_flags_available};
use crate::names;
use crate::profile::native_arch;

/// Where the profile lives in config.json; every error names a field below it.
const ROOT: &str = "linux.seccomp";

/// Largest errno the kernel returns as is (it clamps larger SECCOMP_RET_ERRNO data).
const MAX_ERRNO: u32 = 4095;

/// Syscalls the container's init makes, under the new filter, to hand the
/// notify fd over (berth's init: sendmsg; runc's: write, which runc refuses
/// likewise). Notifying them would wait for an agent that has no fd yet.
const HANDOFF_SYSCALLS: &[&str] = &["write", "sendmsg"];

/// Linux system calls take at most six arguments.
const MAX_ARGS: usize = 6;

/// The kernel refuses longer classic BPF programs (BPF_MAXINSNS).
const BPF_MAXINSNS: usize = 4096;

/// libseccomp sorts rules into a binary tree above this many syscalls; below it
/// the linear list is as fast. (libseccomp ≤ 2.5.4 also misbehaves with the
/// tree and no rules at all.)
const BINARY_TREE_THRESHOLD: usize = 32;

/// Validates `profile` and compiles it to a BPF program for the native
/// architecture plus `profile.architectures`.
///
/// Syscall names unknown to libseccomp for this architecture are skipped with a
/// debug log, as runc does; everything else that is wrong is an error naming
/// the field. Nothing is installed: see [`Filter::install`].
///
/// As in runc, a deny-by-default profile answers ENOSYS (not its default
/// errno) for syscalls numbered above the largest one it names on each ABI,
/// so that programs probing for syscalls newer than the profile fall back.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, Error> {
    let default_action = profile.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::invalid(
            format!("{ROOT}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action: the runtime's own syscalls before execve would wait for the agent",
        ));
    }
    let default = action(default_action, profile.default_errno_ret(), &format!("{ROOT}.defaultErrnoRet"))?;

    let syscalls = profile.syscalls().as_deref().unwrap_or_default();
    let notify = syscalls.iter().any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    check_listener(profile, notify)?;
    let flags = kernel_flags(profile.flags().as_deref().unwrap_or_default(), notify)?;

    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|source| Error::Libseccomp { field: format!("{ROOT}.defaultAction"), what: "the default action".into(), source })?;
    add_architectures(&mut ctx, profile)?;
    let names: usize = syscalls.iter().map(|s| s.names().len()).sum();
    if names > BINARY_TREE_THRESHOLD {
        // Optimisation only: a failure here means an old libseccomp, and the
        // linear filter it then builds is still correct.
        if let Err(e) = ctx.set_ctl_optimize(2) {
            tracing::debug!(error = %e, "seccomp binary tree optimisation not available");
        }
    }

    // unconditional rules so far: syscall number -> (action, field)
    let mut unconditional: HashMap<i32, (ScmpAction, String)> = HashMap::new();
    for (i, syscall) in syscalls.iter().enumerate() {
        let field = format!("{ROOT}.syscalls[{i}]");
        if syscall.names().is_empty() {
            return Err(Error::invalid(format!("{field}.names"), "must contain at least one entry"));
        }
        let act = action(syscall.action(), syscall.errno_ret(), &format!("{field}.errnoRet"))?;
        let args = syscall.args().as_deref().unwrap_or_default();
        let conditions = args
            .iter()
            .enumerate()
            .map(|(j, arg)| condition(arg, &format!("{field}.args[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        // libseccomp ANDs the conditions of one rule and allows each argument
        // once per rule. When a profile compares the same argument twice, runc
        // adds one rule per condition (OR); we keep that meaning so that a
        // profile behaves the same under runc, crun and berth.
        let mut seen = HashSet::new();
        let or_semantics = !args.iter().all(|a| seen.insert(a.index()));

        for (k, name) in syscall.names().iter().enumerate() {
            let name_field = format!("{field}.names[{k}]");
            if name.is_empty() {
                return Err(Error::invalid(name_field, "empty syscall name"));
            }
            if act == ScmpAction::Notify && HANDOFF_SYSCALLS.contains(&name.as_str()) {
                return Err(Error::invalid(
                    name_field,
                    format!("SCMP_ACT_NOTIFY cannot be used for the {name} syscall: the runtime hands the notify fd to the agent with it"),
                ));
            }
            let nr = match ScmpSyscall::from_name(name) {
                Ok(nr) => nr,
                Err(_) => {
                    tracing::debug!(syscall = %name, field = %name_field, "unknown seccomp syscall ignored");
                    continue;
                }
            };
            if conditions.is_empty() {
                // libseccomp keeps the first of two unconditional rules with
                // different actions and drops the second without a word (and a
                // rule equal to the default action is dropped below): a deny
                // appended to an allow-list would silently not apply.
                match unconditional.get(&i32::from(nr)) {
                    Some((earlier, at)) if *earlier != act => {
                        return Err(Error::invalid(
                            name_field,
                            format!("{name:?} already has a different unconditional action at {at}; one of the two would be ignored"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        unconditional.insert(i32::from(nr), (act, name_field.clone()));
                    }
                }
            }
            if act == default {
                // Same as the default action: libseccomp refuses such rules, and
                // they change nothing.
                tracing::trace!(syscall = %name, "seccomp rule equal to the default action skipped");
                continue;
            }
            let added = if conditions.is_empty() {
                ctx.add_rule(act, nr).map(|_| ())
            } else if or_semantics {
                conditions.iter().try_for_each(|c| ctx.add_rule_conditional(act, nr, std::slice::from_ref(c)).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, nr, &conditions).map(|_| ())
            };
            added.map_err(|source| Error::Libseccomp { field: name_field, what: format!("the rule for {name:?}"), source })?;
        }
    }

    let mut program = export(&ctx)?;
    if enosys::wanted(default_action, profile.default_errno_ret()) {
        let mut arches = vec![native_arch()];
        for arch in profile.architectures().as_deref().unwrap_or_default() {
            if *arch != Arch::ScmpArchNative && !arches.contains(arch) {
                arches.push(*arch);
            }
        }
        let mut stubbed = enosys::stub(&arches, syscalls)?;
        stubbed.append(&mut program);
        program = stubbed;
    }
    if program.len() > BPF_MAXINSNS {
        return Err(Error::TooLong { len: program.len(), max: BPF_MAXINSNS });
    }
    Ok(Filter::new(program, flags, notify))
}

/// The libseccomp action, after checking `errnoRet` is allowed and in range.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>, errno_field: &str) -> Result<ScmpAction, Error> {
    if let Some(errno) = errno_ret {
        match action {
            LinuxSeccompAction::ScmpActErrno if errno > MAX_ERRNO => {
                return Err(Error::invalid(errno_field, format!("{errno} is out of range 0..={MAX_ERRNO}")));
            }
            LinuxSeccompAction::ScmpActTrace if errno > u32::from(u16::MAX) => {
                return Err(Error::invalid(errno_field, format!("{errno} is out of range 0..={}", u16::MAX)));
            }
            LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace => {}
            other => {
                return Err(Error::invalid(
                    errno_field,
                    format!("only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {}", names::action_name(other)),
                ));
            }
        }
    }
    Ok(names::scmp_action(action, errno_ret))
}

/// One argument comparison. For SCMP_CMP_MASKED_EQ, `value` is the mask and
/// `valueTwo` the value the masked argument must equal (runc's and libseccomp's
/// reading of the spec).
fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, Error> {
    let index = arg.index();
    if index >= MAX_ARGS {
        return Err(Error::invalid(format!("{field}.index"), format!("{index} is out of range 0..={}", MAX_ARGS - 1)));
    }
    let value_two = arg.value_two().unwrap_or(0);
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(arg.value()), value_two),
        other => {
            // Go tools write `"valueTwo": 0` everywhere; any other value would be
            // silently meaningless, so it is refused.
            if value_two != 0 {
                return Err(Error::invalid(
                    format!("{field}.valueTwo"),
                    format!("only SCMP_CMP_MASKED_EQ uses valueTwo, not {}", names::operator_name(other)),
                ));
            }
            let op = match other {
                LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
            };
            (op, arg.value())
        }
    };
    // index < 6 was checked above
    Ok(ScmpArgCompare::new(index as u32, op, datum))
}

fn check_listener(profile: &LinuxSeccomp, notify: bool) -> Result<(), Error> {
    match profile.listener_path() {
        Some(path) if path.as_os_str().is_empty() => {
            return Err(Error::invalid(format!("{ROOT}.listenerPath"), "empty path"));
        }
        None if profile.listener_metadata().is_some() => {
            return Err(Error::invalid(format!("{ROOT}.listenerMetadata"), "must not be set without listenerPath"));
        }
        None if notify => {
            return Err(Error::invalid(
                format!("{ROOT}.listenerPath"),
                "required when a rule uses SCMP_ACT_NOTIFY: nothing else could answer the notifications",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The seccomp(2) flags for the profile's `flags`, plus the listener flag when a
/// rule notifies. A flag the running kernel does not know is refused here,
/// before the runtime forks, rather than by seccomp(2) in the container.
fn kernel_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> Result<libc::c_ulong, Error> {
    let mut bits: libc::c_ulong = 0;
    for (i, flag) in flags.iter().enumerate() {
        let mut bit = names::flag_bit(*flag);
        if *flag == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv {
            if !notify {
                // The flag only changes how a notifying syscall waits; without a
                // NOTIFY rule there is no such wait, and the kernel refuses the
                // flag without SECCOMP_FILTER_FLAG_NEW_LISTENER.
                tracing::debug!("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV has no effect without SCMP_ACT_NOTIFY rules");
                continue;
            }
            bit |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        }
        if !kernel_flags_available(bit) {
            return Err(Error::unsupported(
                format!("{ROOT}.flags[{i}]"),
                format!("{} (the running kernel does not know it)", names::flag_name(*flag)),
            ));
        }
        bits |= names::flag_bit(*flag);
    }
    if notify {
        bits |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if bits & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER both want the return value; the kernel
            // accepts them together only with TSYNC_ESRCH (Linux 5.7).
            bits |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
        if !kernel_flags_available(bits) {
            return Err(Error::unsupported(
                format!("{ROOT}.flags"),
                format!("seccomp(2) flags {bits:#x} for SCMP_ACT_NOTIFY (the running kernel refuses them)"),
            ));
        }
    }
    Ok(bits)
}

fn add_architectures(ctx: &mut ScmpFilterContext, profile: &LinuxSeccomp) -> Result<(), Error> {
    for (i, arch) in profile.architectures().as_deref().unwrap_or_default().iter().enumerate() {
        let field = format!("{ROOT}.architectures[{i}]");
        let token = names::scmp_arch(*arch);
        let added = match ctx.is_arch_present(token) {
            Ok(true) => continue,
            Ok(false) => ctx.add_arch(token).map(|_| ()),
            Err(e) => Err(e),
        };
        added.map_err(|source| {
            // libseccomp answers EINVAL for an architecture token it does not know
            if source.errno() == Some(libseccomp::error::SeccompErrno::EINVAL) {
                let version = libseccomp::ScmpVersion::current()
                    .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
                    .unwrap_or_else(|_| "?".into());
                Error::unsupported(field, format!("architecture {} (unknown to libseccomp {version})", names::arch_name(*arch)))
            } else {
                Error::Libseccomp { field, what: format!("architecture {}", names::arch_name(*arch)), source }
            }
        })?;
    }
    Ok(())
}

/// libseccomp 2.5 exports BPF only to a file descriptor: an anonymous memory
/// file keeps it off disk and works for programs larger than a pipe buffer.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, Error> {
    let fd = nix::sys::memfd::memfd_create(c"berth-seccomp-bpf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| Error::Export(e.into()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file).map_err(|e| Error::Export(std::io::Error::other(e)))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes)).map_err(Error::Export)?;

    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % INSN != 0 || bytes.is_empty() {
        return Err(Error::Export(std::io::Error::other(format!(
            "libseccomp wrote {} bytes, not a whole number of {INSN}-byte instructions",
            bytes.len()
        ))));
    }
    let program: Vec<libc::sock_filter> = bytes
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        crate::parse_oci_profile(&v).expect("well-formed profile")
    }

    fn err(v: serde_json::Value) -> String {
        compile(&profile(v)).expect_err("must be rejected").to_string()
    }

    /// The RET instructions of the program: the actions it can return.
    fn returns(f: &Filter) -> Vec<u32> {
        const BPF_RET_K: u16 = 0x06;
        f.program().iter().filter(|i| i.code == BPF_RET_K).map(|i| i.k).collect()
    }

    #[test]
    fn errno_ret_only_on_errno_and_trace() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 1}]})),
            "linux.seccomp.syscalls[1].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_KILL_PROCESS"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1})),
            "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not SCMP_ACT_ALLOW"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4096}]})),
            "linux.seccomp.syscalls[0].errnoRet: 4096 is out of range 0..=4095"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}]})),
            "linux.seccomp.syscalls[0].errnoRet: 65536 is out of range 0..=65535"
        );
        compile(&profile(json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7}))).expect("trace takes a value");
    }

    #[test]
    fn argument_checks() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
            "linux.seccomp.syscalls[0].args[1].index: 6 is out of range 0..=5"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "valueTwo": 3, "op": "SCMP_CMP_GT"}]}]})),
            "linux.seccomp.syscalls[0].args[0].valueTwo: only SCMP_CMP_MASKED_EQ uses valueTwo, not SCMP_CMP_GT"
        );
        // valueTwo 0 is what Go tools write for every operator
        compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_GT"}]}]})))
        .expect("valueTwo 0 is accepted");
    }

    #[test]
    fn names_and_notify_checks() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})),
            "linux.seccomp.syscalls[0].names: must contain at least one entry"
        );
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", ""], "action": "SCMP_ACT_ERRNO"}]})),
            "linux.seccomp.syscalls[0].names[1]: empty syscall name"
        );
        assert!(err(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})).starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"));
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]})),
            "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for the write syscall: the runtime hands the notify fd to the agent with it"
        );
        assert!(err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}))
            .starts_with("linux.seccomp.syscalls[0].names[0]: SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall"));
        assert!(err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}))
            .starts_with("linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY"));
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"})),
            "linux.seccomp.listenerMetadata: must not be set without listenerPath"
        );
        assert_eq!(err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": ""})), "linux.seccomp.listenerPath: empty path");
    }

    #[test]
    fn conflicting_unconditional_actions_are_refused() {
        assert_eq!(
            err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read", "mkdir"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})),
            r#"linux.seccomp.syscalls[1].names[0]: "mkdir" already has a different unconditional action at linux.seccomp.syscalls[0].names[1]; one of the two would be ignored"#
        );
        // also when the deny equals the default action (Docker's default + a deny)
        assert!(err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
            .starts_with(r#"linux.seccomp.syscalls[1].names[0]: "mkdir" already has a different unconditional action"#));
        // the same action twice is harmless (Docker's default allows ptrace twice with CAP_SYS_PTRACE)
        compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}, {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]})))
        .expect("duplicates with one action");
        // an unconditional rule beats conditional ones for the same syscall,
        // whatever the order: a deny appended to Docker's personality rules applies
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})))
        .expect("compiles");
        let nr = i32::from(ScmpSyscall::from_name("personality").expect("personality")) as u32;
        let native = native_arch() as u32;
        assert_eq!(crate::enosys::tests::run(f.program(), native, nr, [0; 6]), libc::SECCOMP_RET_ERRNO | 13);
    }

    #[test]
    fn unknown_syscalls_are_skipped() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["no_such_syscall_at_all", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]})))
        .expect("unknown names are skipped, not errors");
        assert!(returns(&f).contains(&(libc::SECCOMP_RET_ERRNO | 77)), "mkdir rule still present");
    }

    #[test]
    fn program_returns_the_profile_actions() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
            {"names": ["getppid"], "action": "SCMP_ACT_TRACE", "errnoRet": 9},
            {"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getuid"], "action": "SCMP_ACT_KILL"},
            {"names": ["getgid"], "action": "SCMP_ACT_TRAP"}]})))
        .expect("compiles");
        let r = returns(&f);
        for expected in [
            libc::SECCOMP_RET_ERRNO | 38,
            libc::SECCOMP_RET_ALLOW,
            libc::SECCOMP_RET_LOG,
            libc::SECCOMP_RET_TRACE | 9,
            libc::SECCOMP_RET_KILL_PROCESS,
            libc::SECCOMP_RET_KILL_THREAD,
            libc::SECCOMP_RET_TRAP,
        ] {
            assert!(r.contains(&expected), "{expected:#x} missing from {r:x?}");
        }
        assert!(!f.needs_notify_fd());
        assert_eq!(f.flags(), 0);
    }

    #[test]
    fn architectures_are_checked_in_the_program() {
        // AUDIT_ARCH_I386 and AUDIT_ARCH_AARCH64 as the program compares them
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
        let has_k = |f: &Filter, k: u32| f.program().iter().any(|i| i.k == k);
        let native = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})))
            .expect("compiles");
        assert!(!has_k(&native, AUDIT_ARCH_I386));
        let multi = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_NATIVE", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["mkdir", "socketcall"], "action": "SCMP_ACT_ERRNO"}]})))
        .expect("native listed twice and duplicates are fine");
        assert!(has_k(&multi, AUDIT_ARCH_I386) && has_k(&multi, AUDIT_ARCH_AARCH64));
    }

    #[test]
    fn architectures_newer_than_libseccomp_are_not_supported_yet() {
        let supported = crate::supported_archs();
        if supported.iter().any(|a| a == "SCMP_ARCH_LOONGARCH64") {
            return; // built against libseccomp 2.6
        }
        let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_LOONGARCH64"]}));
        assert!(e.starts_with("linux.seccomp.architectures[1]: not supported yet: architecture SCMP_ARCH_LOONGARCH64 (unknown to libseccomp 2."), "{e}");
    }

    #[test]
    fn flags_map_to_seccomp_bits() {
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})))
        .expect("compiles");
        // WAIT_KILLABLE_RECV only matters (and is only accepted) with a listener
        assert_eq!(f.flags(), libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW | libc::SECCOMP_FILTER_FLAG_TSYNC);
        let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})))
        .expect("compiles");
        assert!(f.needs_notify_fd());
        assert_eq!(
            f.flags(),
            libc::SECCOMP_FILTER_FLAG_TSYNC
                | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        );
        assert!(returns(&f).contains(&libc::SECCOMP_RET_USER_NOTIF));
    }

    #[test]
    fn default_profile_compiles_for_every_capability_set() {
        let all: Vec<String> = ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_NICE",
            "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_TIME", "CAP_SYS_RAWIO", "CAP_DAC_READ_SEARCH",
            "CAP_SYS_CHROOT", "CAP_SYS_PACCT", "CAP_SYS_TTY_CONFIG"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for caps in [&[][..], &all[..1], &all[..]] {
            let f = compile(&crate::default_profile(caps)).expect("default profile compiles");
            assert!(f.program().len() > 100 && f.program().len() <= BPF_MAXINSNS, "{}", f.program().len());
        }
    }
}

/// The compiled default profile, run through a BPF interpreter: what the
/// kernel will answer for each (ABI, syscall) without forking anything.
#[cfg(test)]
mod program_tests {
    use super::*;
    use crate::enosys::tests::run;

    const AUDIT_X86_64: u32 = 0xc000_003e;
    const AUDIT_I386: u32 = 0x4000_0003;
    const X32: u32 = 0x4000_0000;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    fn default_program(caps: &[&str]) -> Vec<libc::sock_filter> {
        let caps: Vec<String> = caps.iter().map(|s| s.to_string()).collect();
        let p = crate::default_profile(&caps);
        compile(&p).expect("compiles").program().to_vec()
    }

    #[test]
    fn default_profile_answers() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let p = default_program(&[]);
        let nr = |name: &str| i32::from(ScmpSyscall::from_name(name).expect(name)) as u32;
        let x86_64 = |n: u32, args: [u64; 6]| run(&p, AUDIT_X86_64, n, args);
        assert_eq!(x86_64(nr("read"), [0; 6]), ALLOW);
        assert_eq!(x86_64(nr("mkdir"), [0; 6]), ALLOW);
        assert_eq!(x86_64(nr("mount"), [0; 6]), EPERM);
        assert_eq!(x86_64(nr("unshare"), [0; 6]), EPERM);
        assert_eq!(x86_64(nr("clone3"), [0; 6]), ENOSYS, "clone3 rule");
        assert_eq!(x86_64(nr("clone"), [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x86_64(nr("clone"), [(libc::CLONE_NEWUSER | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(x86_64(nr("socket"), [libc::AF_INET as u64, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x86_64(nr("socket"), [libc::AF_VSOCK as u64, 0, 0, 0, 0, 0]), EPERM);
        // the upper half of a 64-bit argument counts too
        assert_eq!(x86_64(nr("personality"), [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x86_64(nr("personality"), [0x1_ffff_ffff, 0, 0, 0, 0, 0]), EPERM);
        // syscalls newer than the profile: ENOSYS, so that libc falls back
        let largest = crate::default_profile(&[])
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|s| s.names())
            .filter_map(|n| ScmpSyscall::from_name(n).ok().map(i32::from))
            .max()
            .expect("some syscall") as u32;
        assert_eq!(x86_64(largest + 1, [0; 6]), ENOSYS);
        assert_eq!(x86_64(5000, [0; 6]), ENOSYS);
        // 32-bit x86 and x32 processes are filtered too
        assert_eq!(run(&p, AUDIT_I386, 39, [0; 6]), ALLOW, "mkdir on i386");
        assert_eq!(run(&p, AUDIT_I386, 21, [0; 6]), EPERM, "mount on i386");
        assert_eq!(run(&p, AUDIT_I386, 5000, [0; 6]), ENOSYS);
        assert_eq!(run(&p, AUDIT_X86_64, X32 | 83, [0; 6]), ALLOW, "mkdir on x32");
        assert_eq!(run(&p, AUDIT_X86_64, X32 | 165, [0; 6]), EPERM, "mount on x32");
        assert_eq!(run(&p, AUDIT_X86_64, X32 | 5000, [0; 6]), ENOSYS);
        // any other ABI is killed
        assert_eq!(run(&p, 0xc000_00b7, 63, [0; 6]), libc::SECCOMP_RET_KILL_THREAD, "aarch64 is not in the filter");
    }

    #[test]
    fn cap_sys_admin_opens_mount() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let p = default_program(&["CAP_SYS_ADMIN"]);
        assert_eq!(run(&p, AUDIT_X86_64, 165, [0; 6]), ALLOW, "mount");
        assert_eq!(run(&p, AUDIT_X86_64, 435, [0; 6]), ALLOW, "clone3");
        assert_eq!(run(&p, AUDIT_X86_64, 56, [(libc::CLONE_NEWUSER | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn allow_by_default_profiles_have_no_stub() {
        let f = compile(&crate::parse_oci_profile(&serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        })).expect("profile"))
        .expect("compiles");
        assert_eq!(run(f.program(), AUDIT_X86_64, 5000, [0; 6]), ALLOW);
    }
}

