//! The spelling of actions, operators, architectures and flags in profiles,
//! and their translation to libseccomp and kernel values.
//!
//! One table per kind, so that parsing, printing, `features` and compiling all
//! agree on the same strings.

use libseccomp::{ScmpAction, ScmpArch};
use oci_spec::runtime::{
    Arch, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

/// An argument comparison as oci-spec represents it. Its type has no setters;
/// its builder gives every field a default, so `build` cannot fail.
pub(crate) fn seccomp_arg(index: usize, value: u64, value_two: Option<u64>, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default().index(index).value(value).op(op);
    let builder = match value_two {
        Some(v) => builder.value_two(v),
        None => builder,
    };
    match builder.build() {
        Ok(arg) => arg,
        Err(e) => unreachable!("LinuxSeccompArgBuilder defaults every field: {e}"),
    }
}

pub(crate) const ACTIONS: &[(&str, LinuxSeccompAction)] = &[
    ("SCMP_ACT_KILL", LinuxSeccompAction::ScmpActKill),
    ("SCMP_ACT_KILL_PROCESS", LinuxSeccompAction::ScmpActKillProcess),
    ("SCMP_ACT_KILL_THREAD", LinuxSeccompAction::ScmpActKillThread),
    ("SCMP_ACT_TRAP", LinuxSeccompAction::ScmpActTrap),
    ("SCMP_ACT_ERRNO", LinuxSeccompAction::ScmpActErrno),
    ("SCMP_ACT_TRACE", LinuxSeccompAction::ScmpActTrace),
    ("SCMP_ACT_ALLOW", LinuxSeccompAction::ScmpActAllow),
    ("SCMP_ACT_LOG", LinuxSeccompAction::ScmpActLog),
    ("SCMP_ACT_NOTIFY", LinuxSeccompAction::ScmpActNotify),
];

pub(crate) const OPERATORS: &[(&str, LinuxSeccompOperator)] = &[
    ("SCMP_CMP_NE", LinuxSeccompOperator::ScmpCmpNe),
    ("SCMP_CMP_LT", LinuxSeccompOperator::ScmpCmpLt),
    ("SCMP_CMP_LE", LinuxSeccompOperator::ScmpCmpLe),
    ("SCMP_CMP_EQ", LinuxSeccompOperator::ScmpCmpEq),
    ("SCMP_CMP_GE", LinuxSeccompOperator::ScmpCmpGe),
    ("SCMP_CMP_GT", LinuxSeccompOperator::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", LinuxSeccompOperator::ScmpCmpMaskedEq),
];

/// Architecture names, their oci-spec value and their libseccomp token.
pub(crate) const ARCHES: &[(&str, Arch, ScmpArch)] = &[
    ("SCMP_ARCH_NATIVE", Arch::ScmpArchNative, ScmpArch::Native),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86, ScmpArch::X86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64, ScmpArch::X8664),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32, ScmpArch::X32),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm, ScmpArch::Arm),
    ("SCMP_ARCH_AARCH64", Arch::ScmpArchAarch64, ScmpArch::Aarch64),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips, ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64, ScmpArch::Mips64),
    ("SCMP_ARCH_MIPS64N32", Arch::ScmpArchMips64n32, ScmpArch::Mips64N32),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    ("SCMP_ARCH_MIPSEL64", Arch::ScmpArchMipsel64, ScmpArch::Mipsel64),
    ("SCMP_ARCH_MIPSEL64N32", Arch::ScmpArchMipsel64n32, ScmpArch::Mipsel64N32),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc, ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    ("SCMP_ARCH_PPC64LE", Arch::ScmpArchPpc64le, ScmpArch::Ppc64Le),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390, ScmpArch::S390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x, ScmpArch::S390X),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc, ScmpArch::Parisc),
    ("SCMP_ARCH_PARISC64", Arch::ScmpArchParisc64, ScmpArch::Parisc64),
    ("SCMP_ARCH_RISCV64", Arch::ScmpArchRiscv64, ScmpArch::Riscv64),
    ("SCMP_ARCH_LOONGARCH64", Arch::ScmpArchLoongarch64, ScmpArch::Loongarch64),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k, ScmpArch::M68k),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh, ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb, ScmpArch::Sheb),
];

/// Flag names, their oci-spec value and their seccomp(2) bit.
pub(crate) const FLAGS: &[(&str, LinuxSeccompFilterFlag, libc::c_ulong)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", LinuxSeccompFilterFlag::SeccompFilterFlagTsync, libc::SECCOMP_FILTER_FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", LinuxSeccompFilterFlag::SeccompFilterFlagLog, libc::SECCOMP_FILTER_FLAG_LOG),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    ),
];

pub(crate) fn parse_action(name: &str) -> Option<LinuxSeccompAction> {
    ACTIONS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

pub(crate) fn action_name(action: LinuxSeccompAction) -> &'static str {
    ACTIONS.iter().find(|(_, a)| *a == action).map_or("SCMP_ACT_?", |(n, _)| n)
}

pub(crate) fn parse_operator(name: &str) -> Option<LinuxSeccompOperator> {
    OPERATORS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

pub(crate) fn operator_name(op: LinuxSeccompOperator) -> &'static str {
    OPERATORS.iter().find(|(_, o)| *o == op).map_or("SCMP_CMP_?", |(n, _)| n)
}

pub(crate) fn parse_arch(name: &str) -> Option<Arch> {
    ARCHES.iter().find(|(n, _, _)| *n == name).map(|(_, a, _)| *a)
}

pub(crate) fn arch_name(arch: Arch) -> &'static str {
    ARCHES.iter().find(|(_, a, _)| *a == arch).map_or("SCMP_ARCH_?", |(n, _, _)| n)
}

pub(crate) fn scmp_arch(arch: Arch) -> ScmpArch {
    ARCHES.iter().find(|(_, a, _)| *a == arch).map_or(ScmpArch::Native, |(_, _, s)| *s)
}

pub(crate) fn parse_flag(name: &str) -> Option<LinuxSeccompFilterFlag> {
    FLAGS.iter().find(|(n, _, _)| *n == name).map(|(_, f, _)| *f)
}

pub(crate) fn flag_name(flag: LinuxSeccompFilterFlag) -> &'static str {
    FLAGS.iter().find(|(_, f, _)| *f == flag).map_or("SECCOMP_FILTER_FLAG_?", |(n, _, _)| n)
}

pub(crate) fn flag_bit(flag: LinuxSeccompFilterFlag) -> libc::c_ulong {
    FLAGS.iter().find(|(_, f, _)| *f == flag).map_or(0, |(_, _, b)| *b)
}

/// The kernel's SECCOMP_RET_* value of an action, for SECCOMP_GET_ACTION_AVAIL.
pub(crate) fn kernel_action(action: LinuxSeccompAction) -> u32 {
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => libc::SECCOMP_RET_ERRNO,
        LinuxSeccompAction::ScmpActTrace => libc::SECCOMP_RET_TRACE,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
    }
}

/// The libseccomp action for `action`, with `errno_ret` where the action takes one.
pub(crate) fn scmp_action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> ScmpAction {
    // Callers validate the range first (see compile::action); the defaults are
    // the runtime spec's: EPERM when errnoRet is absent.
    let eperm = libc::EPERM as u32;
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::try_from(errno_ret.unwrap_or(eperm)).unwrap_or(libc::EPERM)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno_ret.unwrap_or(eperm)).unwrap_or(u16::MAX)),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Our spellings must be exactly what oci-spec reads from config.json, or a
    // profile we print would not parse back.
    #[test]
    fn names_match_oci_spec_serde() {
        for (name, action) in ACTIONS {
            let parsed: LinuxSeccompAction = serde_json::from_value(serde_json::json!(name)).expect(name);
            assert_eq!(parsed, *action, "{name}");
        }
        for (name, op) in OPERATORS {
            let parsed: LinuxSeccompOperator = serde_json::from_value(serde_json::json!(name)).expect(name);
            assert_eq!(parsed, *op, "{name}");
        }
        for (name, arch, _) in ARCHES {
            let parsed: Arch = serde_json::from_value(serde_json::json!(name)).expect(name);
            assert_eq!(parsed, *arch, "{name}");
        }
        for (name, flag, _) in FLAGS {
            let parsed: LinuxSeccompFilterFlag = serde_json::from_value(serde_json::json!(name)).expect(name);
            assert_eq!(parsed, *flag, "{name}");
        }
    }

    #[test]
    fn round_trips() {
        for (name, action) in ACTIONS {
            assert_eq!(parse_action(name), Some(*action));
        }
        // SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD are distinct oci-spec values.
        assert_eq!(action_name(LinuxSeccompAction::ScmpActKill), "SCMP_ACT_KILL");
        assert_eq!(action_name(LinuxSeccompAction::ScmpActKillThread), "SCMP_ACT_KILL_THREAD");
        for (name, op) in OPERATORS {
            assert_eq!(operator_name(parse_operator(name).expect(name)), *name);
            assert_eq!(parse_operator(name), Some(*op));
        }
        for (name, _, _) in ARCHES {
            assert_eq!(arch_name(parse_arch(name).expect(name)), *name);
        }
        for (name, _, _) in FLAGS {
            assert_eq!(flag_name(parse_flag(name).expect(name)), *name);
        }
        assert_eq!(parse_action("SCMP_ACT_FOO"), None);
        assert_eq!(parse_operator("scmp_cmp_eq"), None, "names are case-sensitive, as in libseccomp");
    }

    #[test]
    fn errno_defaults_to_eperm() {
        assert_eq!(scmp_action(LinuxSeccompAction::ScmpActErrno, None), ScmpAction::Errno(libc::EPERM));
        assert_eq!(scmp_action(LinuxSeccompAction::ScmpActErrno, Some(38)), ScmpAction::Errno(38));
        assert_eq!(scmp_action(LinuxSeccompAction::ScmpActTrace, None), ScmpAction::Trace(1));
        assert_eq!(scmp_action(LinuxSeccompAction::ScmpActKill, None), ScmpAction::KillThread);
    }
}
