//! ENOSYS for syscalls newer than the profile.
//!
//! A deny-by-default profile (Docker's: EPERM) written before a syscall
//! existed answers EPERM for it, and programs that probe for new syscalls
//! (glibc's fchmodat2, clone3, ...) treat EPERM as a real refusal instead of
//! falling back. runc therefore answers ENOSYS for any syscall numbered above
//! the largest one the profile names on that ABI; berth does the same so that
//! a container behaves identically under both.
//!
//! The stub runs before libseccomp's program: it dispatches on the
//! architecture, compares the syscall number with that ABI's largest known
//! one, returns ERRNO(ENOSYS) above it, and otherwise jumps to the program.
//! Classic BPF only jumps forward, so prepending does not disturb it.

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSyscall};

use crate::error::Error;
use crate::names;

const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

// classic BPF opcodes (linux/bpf_common.h)
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// offsets in struct seccomp_data
const NR: u32 = 0;
const ARCH: u32 = 4;

/// Whether the profile gets the stub: like runc, not when the default action
/// lets unknown syscalls through anyway (ALLOW, LOG, TRACE: a tracer handles
/// ENOSYS itself), nor when the default already is ENOSYS.
pub(crate) fn wanted(default_action: LinuxSeccompAction, default_errno: Option<u32>) -> bool {
    match default_action {
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog | LinuxSeccompAction::ScmpActTrace => false,
        LinuxSeccompAction::ScmpActErrno => default_errno != Some(libc::ENOSYS as u32),
        _ => true,
    }
}

/// Largest syscall numbers a profile names on one AUDIT_ARCH: x86_64 and x32
/// share AUDIT_ARCH_X86_64 and are told apart by X32_SYSCALL_BIT.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Limits {
    audit: u32,
    /// largest number for the ABI without X32_SYSCALL_BIT (the only one elsewhere)
    main: Option<u32>,
    /// largest x32 number (bit included), on AUDIT_ARCH_X86_64 only
    x32: Option<u32>,
    /// s390 and s390x multiplex large syscall numbers through setup(0)
    s390: bool,
}

fn audit_arch(arch: Arch) -> u32 {
    if arch == Arch::ScmpArchX32 { AUDIT_ARCH_X86_64 } else { arch as u32 }
}

/// The stub for `arches` (the filter's architectures, native first), or
/// nothing when no architecture has a syscall the profile names.
pub(crate) fn stub(arches: &[Arch], syscalls: &[LinuxSyscall]) -> Result<Vec<libc::sock_filter>, Error> {
    let mut limits: Vec<Limits> = Vec::new();
    for &arch in arches {
        let token: ScmpArch = names::scmp_arch(arch);
        let largest = syscalls
            .iter()
            .flat_map(|s| s.names())
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, token).ok())
            .map(i32::from)
            .filter(|nr| *nr >= 0) // negative: libseccomp's pseudo numbers for absent syscalls
            .max();
        let Some(largest) = largest else {
            tracing::debug!(arch = names::arch_name(arch), "no syscall of the profile exists on this architecture");
            continue;
        };
        let largest = largest as u32;
        let audit = audit_arch(arch);
        let entry = match limits.iter_mut().find(|l| l.audit == audit) {
            Some(entry) => entry,
            None => {
                limits.push(Limits { audit, ..Limits::default() });
                let last = limits.len() - 1;
                &mut limits[last]
            }
        };
        let slot = if arch == Arch::ScmpArchX32 { &mut entry.x32 } else { &mut entry.main };
        *slot = Some(slot.map_or(largest, |m| m.max(largest)));
        entry.s390 |= matches!(arch, Arch::ScmpArchS390 | Arch::ScmpArchS390x);
    }
    if limits.is_empty() {
        return Ok(Vec::new());
    }

    let mut asm = Asm::default();
    let filter = asm.label();
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    // dispatch on the architecture
    asm.push(Op::Ld(ARCH));
    let sections: Vec<Label> = limits.iter().map(|_| asm.label()).collect();
    for (l, section) in limits.iter().zip(&sections) {
        let other = asm.label();
        asm.push(Op::Jeq(l.audit, Target::Next, Target::To(other)));
        asm.push(Op::Ja(*section));
        asm.place(other);
    }
    asm.push(Op::Ja(filter)); // an architecture the stub does not know: the program decides

    for (l, section) in limits.iter().zip(&sections) {
        let ret = asm.label();
        asm.place(*section);
        asm.push(Op::Ld(NR));
        if l.s390 {
            asm.push(Op::Jeq(0, Target::To(ret), Target::Next));
        }
        if l.audit == AUDIT_ARCH_X86_64 {
            let x32 = asm.label();
            asm.push(Op::Jset(X32_SYSCALL_BIT, Target::To(x32), Target::Next));
            if let Some(max) = l.main {
                asm.push(Op::Jgt(max, Target::To(ret), Target::Next));
            }
            asm.push(Op::Ja(filter));
            asm.place(x32);
            if let Some(max) = l.x32 {
                asm.push(Op::Jgt(max, Target::To(ret), Target::Next));
            }
            asm.push(Op::Ja(filter));
        } else {
            if let Some(max) = l.main {
                asm.push(Op::Jgt(max, Target::To(ret), Target::Next));
            }
            asm.push(Op::Ja(filter));
        }
        asm.place(ret);
        asm.push(Op::Ret(enosys));
    }
    asm.place(filter);
    asm.assemble()
}

// ---------------------------------------------------------------------------
// A forward-only classic BPF assembler with labels, just enough for the stub.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Target {
    Next,
    To(Label),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Ld(u32),
    Jeq(u32, Target, Target),
    Jgt(u32, Target, Target),
    Jset(u32, Target, Target),
    Ja(Label),
    Ret(u32),
}

#[derive(Debug, Default)]
struct Asm {
    ops: Vec<Op>,
    /// instruction index each label stands before
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn place(&mut self, label: Label) {
        self.labels[label.0] = Some(self.ops.len());
    }

    fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    fn offset(&self, at: usize, label: Label) -> Result<u32, Error> {
        let bad = |what: &str| Error::Export(std::io::Error::other(format!("enosys stub: {what}")));
        let target = self.labels[label.0].ok_or_else(|| bad("label never placed"))?;
        target.checked_sub(at + 1).map(|d| d as u32).ok_or_else(|| bad("backward jump"))
    }

    fn short(&self, at: usize, t: Target) -> Result<u8, Error> {
        match t {
            Target::Next => Ok(0),
            Target::To(label) => u8::try_from(self.offset(at, label)?)
                .map_err(|_| Error::Export(std::io::Error::other("enosys stub: conditional jump too far"))),
        }
    }

    fn assemble(&self) -> Result<Vec<libc::sock_filter>, Error> {
        let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        self.ops
            .iter()
            .enumerate()
            .map(|(at, op)| {
                Ok(match *op {
                    Op::Ld(off) => insn(LD_W_ABS, 0, 0, off),
                    Op::Jeq(k, t, f) => insn(JEQ_K, self.short(at, t)?, self.short(at, f)?, k),
                    Op::Jgt(k, t, f) => insn(JGT_K, self.short(at, t)?, self.short(at, f)?, k),
                    Op::Jset(k, t, f) => insn(JSET_K, self.short(at, t)?, self.short(at, f)?, k),
                    Op::Ja(label) => insn(JA, 0, 0, self.offset(at, label)?),
                    Op::Ret(k) => insn(RET_K, 0, 0, k),
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs a classic BPF seccomp program on (arch, nr, args), as the kernel
    /// would: enough of the instruction set for libseccomp's output.
    pub(crate) fn run(program: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u32; 16];
        data[0] = nr;
        data[1] = arch;
        // instruction pointer (words 2 and 3) stays 0
        for (i, a) in args.iter().enumerate() {
            data[4 + 2 * i] = *a as u32;
            data[5 + 2 * i] = (*a >> 32) as u32;
        }
        let (mut acc, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
        let mut pc = 0usize;
        loop {
            let i = program[pc];
            pc += 1;
            let src = if i.code & 0x08 != 0 { x } else { i.k };
            match i.code & 0x07 {
                0x00 => match i.code {
                    0x20 => acc = data[(i.k / 4) as usize], // ld [k]
                    0x00 => acc = i.k,                      // ld #k
                    0x60 => acc = mem[i.k as usize],        // ld M[k]
                    c => panic!("ld {c:#x}"),
                },
                0x01 => match i.code {
                    0x01 => x = i.k,
                    0x61 => x = mem[i.k as usize],
                    c => panic!("ldx {c:#x}"),
                },
                0x02 => mem[i.k as usize] = acc,
                0x03 => mem[i.k as usize] = x,
                0x04 => match i.code & 0xf0 {
                    0x50 => acc &= src,
                    0x40 => acc |= src,
                    0x00 => acc = acc.wrapping_add(src),
                    0x10 => acc = acc.wrapping_sub(src),
                    c => panic!("alu {c:#x}"),
                },
                0x05 => {
                    let taken = match i.code & 0xf0 {
                        0x00 => {
                            pc += i.k as usize;
                            continue;
                        }
                        0x10 => acc == src,
                        0x20 => acc > src,
                        0x30 => acc >= src,
                        0x40 => acc & src != 0,
                        c => panic!("jmp {c:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return if i.code & 0x18 == 0x10 { acc } else { i.k },
                0x07 => {
                    if i.code == 0x07 {
                        x = acc
                    } else {
                        acc = x
                    }
                }
                _ => unreachable!(),
            }
        }
    }

    fn syscall(names: &[&str]) -> LinuxSyscall {
        let mut s = LinuxSyscall::default();
        s.set_names(names.iter().map(|n| n.to_string()).collect());
        s.set_action(LinuxSeccompAction::ScmpActAllow);
        s
    }

    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const PASS: u32 = 0xdead_beef; // what the "program" after the stub returns

    fn with_tail(stub: Vec<libc::sock_filter>) -> Vec<libc::sock_filter> {
        let mut p = stub;
        p.push(libc::sock_filter { code: RET_K, jt: 0, jf: 0, k: PASS });
        p
    }

    #[test]
    fn only_deny_by_default_profiles_get_it() {
        assert!(wanted(LinuxSeccompAction::ScmpActErrno, None));
        assert!(wanted(LinuxSeccompAction::ScmpActErrno, Some(1)));
        assert!(!wanted(LinuxSeccompAction::ScmpActErrno, Some(38)));
        assert!(wanted(LinuxSeccompAction::ScmpActKillProcess, None));
        for a in [LinuxSeccompAction::ScmpActAllow, LinuxSeccompAction::ScmpActLog, LinuxSeccompAction::ScmpActTrace] {
            assert!(!wanted(a, None));
        }
    }

    #[test]
    fn x86_64_x86_and_x32_each_get_their_limit() {
        // read: x86_64 0, i386 3, x32 0x40000000; mkdir: x86_64 83, i386 39;
        // rt_sigaction: x86_64 13, i386 174, x32 512
        let p = with_tail(
            stub(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32], &[syscall(&["read", "mkdir", "rt_sigaction"])])
                .expect("stub"),
        );
        let i386 = Arch::ScmpArchX86 as u32;
        let x32 = |nr| X32_SYSCALL_BIT | nr;
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0, [0; 6]), PASS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 83, [0; 6]), PASS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 84, [0; 6]), ENOSYS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS);
        assert_eq!(run(&p, i386, 174, [0; 6]), PASS);
        assert_eq!(run(&p, i386, 175, [0; 6]), ENOSYS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, x32(512), [0; 6]), PASS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, x32(513), [0; 6]), ENOSYS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, x32(100), [0; 6]), PASS, "below the x32 limit");
        // an architecture not in the filter is left to the program (bad arch action)
        assert_eq!(run(&p, Arch::ScmpArchAarch64 as u32, 5000, [0; 6]), PASS);
    }

    #[test]
    fn without_x32_its_syscalls_go_to_the_program() {
        let p = with_tail(stub(&[Arch::ScmpArchX86_64], &[syscall(&["read", "mkdir"])]).expect("stub"));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 5000, [0; 6]), PASS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 84, [0; 6]), ENOSYS);
    }

    #[test]
    fn s390_setup_is_enosys() {
        let p = with_tail(stub(&[Arch::ScmpArchS390x], &[syscall(&["read", "mkdir"])]).expect("stub"));
        let s390x = Arch::ScmpArchS390x as u32;
        assert_eq!(run(&p, s390x, 0, [0; 6]), ENOSYS);
        assert_eq!(run(&p, s390x, 3, [0; 6]), PASS);
        assert_eq!(run(&p, s390x, 400, [0; 6]), ENOSYS);
    }

    #[test]
    fn no_known_syscall_no_stub() {
        assert!(stub(&[Arch::ScmpArchX86_64], &[syscall(&["no_such_syscall"])]).expect("stub").is_empty());
        // arch_prctl does not exist on aarch64: only x86_64 gets a section
        let p = with_tail(stub(&[Arch::ScmpArchX86_64, Arch::ScmpArchAarch64], &[syscall(&["arch_prctl"])]).expect("stub"));
        assert_eq!(run(&p, Arch::ScmpArchAarch64 as u32, 5000, [0; 6]), PASS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 159, [0; 6]), ENOSYS);
    }
}
