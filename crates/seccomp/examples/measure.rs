//! Measures what the default profile costs a container start:
//! `cargo run --release -p berth-seccomp --example measure`
//!
//! - resolve: Docker's default profile for Docker's default capabilities
//! - compile: validation + libseccomp rule building + BPF export (parent)
//! - compile_cached: the same when the cache already holds the program
//! - install (raw): the one seccomp(2) call the child makes
//! - install (libseccomp): what the child would pay loading a libseccomp
//!   context instead (BPF generation happens inside seccomp_load)
//! - syscall overhead: getppid and a filtered-by-argument syscall, with and
//!   without the filter

use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use berth_seccomp::{compile, compile_cached, default_profile};

const CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Runs `f` in a forked child, which reports how long `f` took in ns.
fn in_child(f: impl FnOnce() -> u64) -> Duration {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    // SAFETY: the child runs f (raw syscalls and clock reads) and _exits.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            let ns = f().to_ne_bytes();
            // SAFETY: write on an inherited pipe, then _exit.
            unsafe {
                libc::write(w.as_raw_fd(), ns.as_ptr().cast(), 8);
                libc::_exit(0)
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut buf = [0u8; 8];
            std::fs::File::from(r).read_exact(&mut buf).expect("child reports");
            nix::sys::wait::waitpid(child, None).expect("wait");
            Duration::from_nanos(u64::from_ne_bytes(buf))
        }
    }
}

/// CPU time of the calling thread: on a shared, loaded machine wall-clock
/// time mostly measures the other tenants.
fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the struct.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time `f` takes in this thread.
fn cpu(f: impl FnOnce()) -> Duration {
    let t = now_ns();
    f();
    Duration::from_nanos(now_ns() - t)
}

fn syscall_loop(n: u64, nr: libc::c_long, arg: u64) -> u64 {
    let start = now_ns();
    for _ in 0..n {
        // SAFETY: getppid/getpgid-style integer syscalls.
        unsafe { libc::syscall(nr, arg) };
    }
    (now_ns() - start) / n
}

fn main() {
    let caps: Vec<String> = CAPS.iter().map(|s| s.to_string()).collect();
    const RUNS: usize = 200;

    let resolve = median((0..RUNS).map(|_| cpu(|| {
        std::hint::black_box(default_profile(&caps));
    })).collect());
    let profile = default_profile(&caps);
    let wall = Instant::now();
    let compile_t = median((0..RUNS).map(|_| cpu(|| {
        std::hint::black_box(compile(&profile).expect("compiles"));
    })).collect());
    let compile_wall = wall.elapsed() / RUNS as u32;
    let filter = compile(&profile).expect("compiles");
    let cache = tempfile::tempdir().expect("tempdir");
    let cached = median((0..RUNS).map(|_| cpu(|| {
        std::hint::black_box(compile_cached(&profile, cache.path()).expect("compiles"));
    })).collect());

    let install_raw = median((0..RUNS).map(|_| in_child(|| {
        let t = now_ns();
        let ok = filter.install().is_ok();
        let d = now_ns() - t;
        if ok { d } else { u64::MAX }
    })).collect());

    // libseccomp's own loading path, for comparison: same rules, loaded in the child
    let ctx = libseccomp_ctx(&profile);
    let install_lib = median((0..RUNS).map(|_| in_child(|| {
        let t = now_ns();
        let ok = ctx.load().is_ok();
        let d = now_ns() - t;
        if ok { d } else { u64::MAX }
    })).collect());

    let mut native_only = profile.clone();
    native_only.set_architectures(None);
    let native_filter = compile(&native_only).expect("compiles");
    let native_compile = median((0..RUNS / 4).map(|_| cpu(|| {
        std::hint::black_box(compile(&native_only).expect("compiles"));
    })).collect());
    let native_install = median((0..RUNS).map(|_| in_child(|| {
        let t = now_ns();
        let ok = native_filter.install().is_ok();
        let d = now_ns() - t;
        if ok { d } else { u64::MAX }
    })).collect());

    println!("default profile, x86_64 + x86 + x32, docker default capabilities (thread CPU time, median)");
    println!("  bpf instructions:            {}", filter.program().len());
    println!("  resolve default_profile():   {}", us(resolve));
    println!("  compile() in the parent:     {} (wall, mean: {})", us(compile_t), us(compile_wall));
    println!("  compile_cached(), cache hit: {}", us(cached));
    println!("  install() in the child:      {}", us(install_raw));
    println!("  libseccomp load() in child:  {}", us(install_lib));
    println!("same profile, x86_64 only (no x86/x32 ABIs):");
    println!("  bpf instructions:            {}", native_filter.program().len());
    println!("  compile():                   {}", us(native_compile));
    println!("  install():                   {}", us(native_install));

    const N: u64 = 1_000_000;
    let getppid = libc::SYS_getppid;
    let bare = in_child(|| syscall_loop(N, getppid, 0));
    let filtered = in_child(|| {
        if filter.install().is_err() {
            return u64::MAX;
        }
        syscall_loop(N, getppid, 0)
    });
    // personality has argument rules, so the kernel's allow-cache cannot skip the program
    let personality = libc::SYS_personality;
    let bare_arg = in_child(|| syscall_loop(N, personality, 0xffff_ffff));
    let filtered_arg = in_child(|| {
        if filter.install().is_err() {
            return u64::MAX;
        }
        syscall_loop(N, personality, 0xffff_ffff)
    });
    println!("per syscall (CPU time, mean of 1M calls):");
    println!("  getppid         no filter {} ns, default profile {} ns", bare.as_nanos(), filtered.as_nanos());
    println!("  personality(q)  no filter {} ns, default profile {} ns", bare_arg.as_nanos(), filtered_arg.as_nanos());
}

/// The same profile as a libseccomp context (what a libseccomp-only runtime
/// would load), built by hand: only for the comparison above.
fn libseccomp_ctx(profile: &oci_spec::runtime::LinuxSeccomp) -> libseccomp::ScmpFilterContext {
    use libseccomp::*;
    let mut ctx = ScmpFilterContext::new(ScmpAction::Errno(libc::EPERM)).expect("ctx");
    for a in profile.architectures().iter().flatten() {
        let token = match a {
            oci_spec::runtime::Arch::ScmpArchX86 => ScmpArch::X86,
            oci_spec::runtime::Arch::ScmpArchX32 => ScmpArch::X32,
            _ => continue,
        };
        ctx.add_arch(token).expect("arch");
    }
    ctx.set_ctl_nnp(false).expect("nnp");
    ctx.set_ctl_optimize(2).expect("optimize");
    for s in profile.syscalls().iter().flatten() {
        let action = match s.action() {
            oci_spec::runtime::LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
            _ => ScmpAction::Errno(s.errno_ret().unwrap_or(1) as i32),
        };
        let conds: Vec<ScmpArgCompare> = s
            .args()
            .iter()
            .flatten()
            .map(|a| match a.op() {
                oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq => {
                    ScmpArgCompare::new(a.index() as u32, ScmpCompareOp::MaskedEqual(a.value()), a.value_two().unwrap_or(0))
                }
                oci_spec::runtime::LinuxSeccompOperator::ScmpCmpNe => ScmpArgCompare::new(a.index() as u32, ScmpCompareOp::NotEqual, a.value()),
                _ => ScmpArgCompare::new(a.index() as u32, ScmpCompareOp::Equal, a.value()),
            })
            .collect();
        for n in s.names() {
            if let Ok(nr) = ScmpSyscall::from_name(n) {
                let _ = ctx.add_rule_conditional(action, nr, &conds);
            }
        }
    }
    ctx
}
