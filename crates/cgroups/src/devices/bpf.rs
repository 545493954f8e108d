//! The cgroup v2 device filter: a `BPF_PROG_TYPE_CGROUP_DEVICE` program assembled by hand
//! from an [`Emulator`] state, loaded and attached with raw bpf(2) calls.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (access_type = access << 16 | type) and returns 1 (allow) or 0 (deny). Each exception is
//! one block of compares that jumps to the next block on mismatch; the last block returns
//! the default. Attaching follows runc: attach the new program with `BPF_F_ALLOW_MULTI`, then
//! detach the programs that were attached before, so the cgroup is never without a filter.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{Access, DeviceType, Emulator};
use crate::error::{Error, Result};

/// One eBPF instruction, as the kernel lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (linux/bpf.h, bpf_common.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const JMP32_JSET_K: u8 = 0x46; // BPF_JMP32 | BPF_JSET | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR

// Registers: r1 ctx, r2 access bits, r3 type, r4 major, r5 minor, r6 scratch, r0 result.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// Assembles the filter for a device cgroup state.
pub fn program(state: &Emulator) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_MOV_X, R3, R2, 0, 0),
        insn(ALU32_AND_K, R3, 0, 0, 0xffff),
        insn(ALU32_RSH_K, R2, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    // An exception allows when the default denies, and the other way round.
    let verdict = if state.default_allow { 0 } else { 1 };
    for e in &state.exceptions {
        // Compares that jump past the block when they fail; the offsets are patched below.
        let mut block: Vec<Insn> = Vec::new();
        match e.kind {
            DeviceType::Block => block.push(insn(JMP32_JNE_K, R3, 0, 0, DEV_BLOCK)),
            DeviceType::Char => block.push(insn(JMP32_JNE_K, R3, 0, 0, DEV_CHAR)),
            DeviceType::All => {}
        }
        if state.default_allow {
            // deny exception: matches when the request shares any bit with it
            block.push(insn(ALU32_MOV_X, R6, R2, 0, 0));
            block.push(insn(ALU32_AND_K, R6, 0, 0, i32::from(e.access.bits())));
            block.push(insn(JMP32_JEQ_K, R6, 0, 0, 0));
        } else {
            // allow exception: matches when it covers every bit requested
            let outside = Access::ALL.minus(e.access).bits();
            if outside != 0 {
                block.push(insn(JMP32_JSET_K, R2, 0, 0, i32::from(outside)));
            }
        }
        if let Some(m) = e.major {
            block.push(insn(JMP32_JNE_K, R4, 0, 0, m as i32));
        }
        if let Some(m) = e.minor {
            block.push(insn(JMP32_JNE_K, R5, 0, 0, m as i32));
        }
        block.push(insn(ALU64_MOV_K, R0, 0, 0, verdict));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JMP32_JNE_K | JMP32_JEQ_K | JMP32_JSET_K) {
                // jump to the first instruction after this block
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(state.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

// bpf(2) commands and constants.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Calls bpf(2) with a command-specific attribute struct.
///
/// # Safety
/// `attr` must be the attribute layout the kernel expects for `cmd`, and every pointer inside
/// it must be valid for the access the command makes for the duration of the call.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller guarantees `attr` matches `cmd`; the size passed is the size of the
    // struct, which the kernel accepts for any prefix of `union bpf_attr` (the rest is zero).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(raw: libc::c_long) -> OwnedFd {
    // SAFETY: `raw` is a new file descriptor just returned by the kernel and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw as i32) }
}

/// Loads the program; on a verifier failure, loads it again with a log for the error.
pub(crate) fn load(prog: &[Insn], cgroup: &Path) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"berth_dev");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: attr is a BPF_PROG_LOAD layout; insns and license point to live buffers of the
    // stated lengths until the call returns.
    match unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) } {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(first) => {
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            // SAFETY: as above; log_buf points to a writable buffer of log_size bytes.
            let second = unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) };
            let text = String::from_utf8_lossy(&log).trim_end_matches('\0').to_string();
            match second {
                Ok(fd) => Ok(owned_fd(fd)),
                Err(_) => Err(Error::Bpf {
                    operation: "prog load",
                    path: cgroup.to_owned(),
                    log: text,
                    source: first,
                }),
            }
        }
    }
}

fn query(cgroup_fd: &OwnedFd, cgroup: &Path) -> Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: cgroup_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        // SAFETY: attr is a BPF_PROG_QUERY layout; prog_ids points to prog_cnt writable u32s.
        match unsafe { sys_bpf(BPF_PROG_QUERY, &mut attr) } {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && ids.len() < 1 << 16 => {
                ids = vec![0; (attr.prog_cnt as usize).max(ids.len() * 2)];
            }
            Err(source) => {
                return Err(Error::Bpf {
                    operation: "prog query",
                    path: cgroup.to_owned(),
                    log: String::new(),
                    source,
                });
            }
        }
    }
}

fn detach(cgroup_fd: &OwnedFd, prog_id: u32, cgroup: &Path) -> Result<()> {
    let mut get = GetFdAttr {
        prog_id,
        ..Default::default()
    };
    // SAFETY: attr is a BPF_PROG_GET_FD_BY_ID layout without pointers.
    let prog = match unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut get) } {
        Ok(fd) => owned_fd(fd),
        // detached and freed in the meantime
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(source) => {
            return Err(Error::Bpf {
                operation: "prog get fd by id",
                path: cgroup.to_owned(),
                log: String::new(),
                source,
            });
        }
    };
    let mut attr = AttachAttr {
        target_fd: cgroup_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: attr is a BPF_PROG_DETACH layout without pointers; both fds are open.
    match unsafe { sys_bpf(BPF_PROG_DETACH, &mut attr) } {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(source) => Err(Error::Bpf {
            operation: "prog detach",
            path: cgroup.to_owned(),
            log: String::new(),
            source,
        }),
    }
}

/// The ids of the device programs attached directly to a cgroup.
pub fn attached_programs(cgroup: &Path) -> Result<Vec<u32>> {
    let fd = open_dir(cgroup)?;
    query(&fd, cgroup)
}

fn open_dir(cgroup: &Path) -> Result<OwnedFd> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        cgroup,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::Sys {
        operation: "open cgroup directory",
        path: cgroup.to_owned(),
        source: e.into(),
    })
}

/// Replaces the device filter of a cgroup v2 directory with one enforcing `state`.
pub fn apply(cgroup: &Path, state: &Emulator) -> Result<()> {
    let cg = open_dir(cgroup)?;
    let old = query(&cg, cgroup)?;
    let prog = load(&program(state), cgroup)?;
    let mut attr = AttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: attr is a BPF_PROG_ATTACH layout without pointers; both fds are open.
    if let Err(source) = unsafe { sys_bpf(BPF_PROG_ATTACH, &mut attr) } {
        return Err(Error::Bpf {
            operation: "prog attach",
            path: cgroup.to_owned(),
            log: String::new(),
            source,
        });
    }
    // The new filter is in place: now drop the old ones. The attachment keeps the program
    // alive after our fd closes.
    for id in old {
        detach(&cg, id, cgroup)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::devices::{DeviceRule, DeviceRules};

    /// Runs the subset of eBPF the assembler emits, as the kernel would on this context.
    pub(crate) fn run(prog: &[Insn], kind: DeviceType, access: Access, major: u32, minor: u32) -> u64 {
        let t: u32 = match kind {
            DeviceType::Block => 1,
            DeviceType::Char => 2,
            DeviceType::All => unreachable!(),
        };
        let ctx = [u32::from(access.bits()) << 16 | t, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let k32 = i.imm as u32;
            let jump = |cond: bool| if cond { i.off as isize } else { 0 };
            let mut off = 0isize;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                ALU32_MOV_X => r[dst] = r[src] & 0xffff_ffff,
                ALU32_AND_K => r[dst] = (r[dst] as u32 & k32) as u64,
                ALU32_RSH_K => r[dst] = ((r[dst] as u32) >> k32) as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP32_JNE_K => off = jump(r[dst] as u32 != k32),
                JMP32_JEQ_K => off = jump(r[dst] as u32 == k32),
                JMP32_JSET_K => off = jump(r[dst] as u32 & k32 != 0),
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = (pc as isize + 1 + off) as usize;
        }
    }

    fn check_against_emulator(rules: &DeviceRules) {
        let state = rules.emulate();
        let prog = program(&state);
        for kind in [DeviceType::Char, DeviceType::Block] {
            for bits in 1..=7u8 {
                let access = Access::parse(
                    &[(1, 'm'), (2, 'r'), (4, 'w')]
                        .iter()
                        .filter(|(b, _)| bits & b != 0)
                        .map(|(_, c)| *c)
                        .collect::<String>(),
                )
                .unwrap();
                for major in [0, 1, 5, 8, 10, 136, 4095] {
                    for minor in [0, 2, 3, 5, 9, 200, 229, 1_048_575] {
                        let want = state.allows(kind, major, minor, access);
                        let got = run(&prog, kind, access, major, minor) == 1;
                        assert_eq!(
                            got, want,
                            "{kind:?} {major}:{minor} {access} (state {state:?})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn default_container_program_matches_the_emulator() {
        let deny_all = oci_spec::runtime::LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        check_against_emulator(&DeviceRules::for_container(&[deny_all], &[]).unwrap());
    }

    #[test]
    fn deny_list_program_matches_the_emulator() {
        let mut rules = DeviceRules::allow_all();
        rules.rules.push(DeviceRule {
            allow: false,
            kind: DeviceType::Block,
            major: Some(8),
            minor: None,
            access: Access::WRITE,
        });
        rules.rules.push(DeviceRule {
            allow: false,
            kind: DeviceType::Char,
            major: Some(1),
            minor: Some(5),
            access: Access::ALL,
        });
        check_against_emulator(&rules);
    }

    #[test]
    fn partial_access_allow_rules_match_the_emulator() {
        let rules = DeviceRules::new(vec![
            DeviceRule {
                allow: true,
                kind: DeviceType::Char,
                major: Some(1),
                minor: None,
                access: Access::READ,
            },
            DeviceRule::char_dev(1, 3, Access::WRITE),
            DeviceRule {
                allow: true,
                kind: DeviceType::Block,
                major: None,
                minor: Some(0),
                access: Access::parse("rm").unwrap(),
            },
        ]);
        check_against_emulator(&rules);
    }

    #[test]
    fn empty_and_allow_all_programs_are_constant() {
        let deny = program(&DeviceRules::default().emulate());
        assert_eq!(run(&deny, DeviceType::Char, Access::READ, 1, 3), 0);
        let allow = program(&DeviceRules::allow_all().emulate());
        assert_eq!(run(&allow, DeviceType::Block, Access::ALL, 8, 0), 1);
        assert_eq!(allow.len(), 8);
    }
}
