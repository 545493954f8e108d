//! Setting up the container process itself, shared by the init process and
//! by `exec`: resource limits, scheduling, identity, capabilities, the
//! program lookup. Every error names the config field it comes from.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::Resource;
use nix::unistd::{Gid, Uid};
use crate::oci::{IoPriorityClass, PersonalityDomain, Process, RlimitType, SchedFlag, SchedPolicy};

use crate::{Error, Result};

fn field(name: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::config("config.json", format!("process.{}", name.into()), msg)
}

fn resource(t: RlimitType) -> Resource {
    use RlimitType as R;
    match t {
        R::RlimitCpu => Resource::RLIMIT_CPU,
        R::RlimitFsize => Resource::RLIMIT_FSIZE,
        R::RlimitData => Resource::RLIMIT_DATA,
        R::RlimitStack => Resource::RLIMIT_STACK,
        R::RlimitCore => Resource::RLIMIT_CORE,
        R::RlimitRss => Resource::RLIMIT_RSS,
        R::RlimitNproc => Resource::RLIMIT_NPROC,
        R::RlimitNofile => Resource::RLIMIT_NOFILE,
        R::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        R::RlimitAs => Resource::RLIMIT_AS,
        R::RlimitLocks => Resource::RLIMIT_LOCKS,
        R::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        R::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        R::RlimitNice => Resource::RLIMIT_NICE,
        R::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        R::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// `process.rlimits`.
pub fn rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits.iter().enumerate() {
        nix::sys::resource::setrlimit(resource(r.typ), r.soft, r.hard).map_err(|e| {
            let hint = if e == nix::errno::Errno::EPERM { " (raising a hard limit needs CAP_SYS_RESOURCE)" } else { "" };
            field(format!("rlimits[{i}]"), format!("setrlimit {:?} soft {} hard {}: {e}{hint}", r.typ, r.soft, r.hard))
        })?;
    }
    Ok(())
}

/// `process.oomScoreAdj`, written for the calling process.
pub fn oom_score_adj(p: &Process) -> Result<()> {
    let Some(v) = p.oom_score_adj else { return Ok(()) };
    crate::sys::write_file(Path::new("/proc/self/oom_score_adj"), v.to_string().as_bytes()).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied { " (lowering it needs CAP_SYS_RESOURCE)" } else { "" };
        field("oomScoreAdj", format!("setting {v}: {e}{hint}"))
    })
}

/// `process.ioPriority`.
pub fn io_priority(p: &Process) -> Result<()> {
    let Some(io) = &p.io_priority else { return Ok(()) };
    let class = match io.class {
        IoPriorityClass::IoprioClassRt => 1,
        IoPriorityClass::IoprioClassBe => 2,
        IoPriorityClass::IoprioClassIdle => 3,
    };
    crate::sys::ioprio_set(class, io.priority as u32).map_err(|e| field("ioPriority", format!("ioprio_set: {e}")))
}

/// `process.scheduler`.
pub fn scheduler(p: &Process) -> Result<()> {
    let Some(s) = &p.scheduler else { return Ok(()) };
    let mut a = crate::sys::SchedAttr {
        sched_policy: match s.policy {
            SchedPolicy::SchedOther => 0,
            SchedPolicy::SchedFifo => 1,
            SchedPolicy::SchedRr => 2,
            SchedPolicy::SchedBatch => 3,
            SchedPolicy::SchedIso => 4,
            SchedPolicy::SchedIdle => 5,
            SchedPolicy::SchedDeadline => 6,
        },
        sched_nice: s.nice.unwrap_or(0),
        sched_priority: s.priority.unwrap_or(0) as u32,
        sched_runtime: s.runtime.unwrap_or(0),
        sched_deadline: s.deadline.unwrap_or(0),
        sched_period: s.period.unwrap_or(0),
        ..Default::default()
    };
    for f in &s.flags {
        a.sched_flags |= match f {
            SchedFlag::ResetOnFork => 0x01,
            SchedFlag::Reclaim => 0x02,
            SchedFlag::DlOverrun => 0x04,
            SchedFlag::KeepPolicy => 0x08,
            SchedFlag::KeepParams => 0x10,
            SchedFlag::UtilClampMin => 0x20,
            SchedFlag::UtilClampMax => 0x40,
        };
    }
    crate::sys::sched_setattr(&mut a).map_err(|e| field("scheduler", format!("sched_setattr: {e}")))
}

/// `linux.personality`.
pub fn personality(cfg: &crate::config::Config) -> Result<()> {
    let Some(p) = &cfg.linux().personality else { return Ok(()) };
    if !p.flags.is_empty() {
        return Err(Error::config("config.json", "linux.personality.flags", "no personality flags are defined by the spec"));
    }
    let persona = match p.domain {
        PersonalityDomain::Linux => 0x0000,
        PersonalityDomain::Linux32 => 0x0008,
    };
    // SAFETY: personality(2) takes an integer and changes only process state.
    let r = unsafe { libc::personality(persona) };
    if r < 0 {
        return Err(Error::config("config.json", "linux.personality", format!("personality: {}", nix::errno::Errno::last())));
    }
    Ok(())
}

/// The kernel's capability numbers for a set of names (checked by
/// `validate_process`), limited to what the running kernel knows.
fn cap_mask(set: Option<&Vec<String>>, last_cap: u32) -> u64 {
    let mut m = 0u64;
    for c in set.into_iter().flatten() {
        if let Some(n) = cap_number(c) {
            if n <= last_cap {
                m |= 1 << n;
            }
        }
    }
    m
}

/// The number of a capability by its name (`CAP_NET_RAW`; case-insensitive,
/// the `CAP_` prefix optional as docker allows).
pub fn cap_number(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    full.parse::<caps::Capability>().ok().map(|c| c.index() as u32)
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capset(e: u64, p: u64, i: u64) -> nix::Result<()> {
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = CapHeader { version: VERSION_3, pid: 0 };
    let data = [
        CapData { effective: e as u32, permitted: p as u32, inheritable: i as u32 },
        CapData { effective: (e >> 32) as u32, permitted: (p >> 32) as u32, inheritable: (i >> 32) as u32 },
    ];
    // SAFETY: header and a two-element data array of the v3 layout, both valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    nix::errno::Errno::result(r).map(drop)
}

/// Identity and privileges, in the order that keeps the needed capabilities
/// until the end: bounding set, keep-caps, groups, gid, uid, the three sets
/// at once, then the ambient set.
pub fn user_and_capabilities(p: &Process, userns: bool, setgroups_allowed: bool) -> Result<()> {
    let last = last_cap();
    let caps = p.capabilities.as_ref();
    let bounding = cap_mask(caps.map(|c| &c.bounding), last);
    for n in 0..=last {
        if bounding & (1 << n) == 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
            if r < 0 {
                let e = nix::errno::Errno::last();
                if e != nix::errno::Errno::EINVAL {
                    return Err(field("capabilities.bounding", format!("drop capability {n}: {e}")));
                }
            }
        }
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| Error::sys("keep capabilities across setuid", e))?;
    let u = &p.user;
    let gids: Vec<Gid> = u.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    if setgroups_allowed {
        nix::unistd::setgroups(&gids).map_err(|e| field("user.additionalGids", format!("setgroups: {e}")))?;
    } else if !gids.is_empty() {
        return Err(field("user.additionalGids", "setgroups is denied in this user namespace"));
    }
    let _ = userns;
    nix::unistd::setresgid(Gid::from_raw(u.gid), Gid::from_raw(u.gid), Gid::from_raw(u.gid))
        .map_err(|e| field("user.gid", format!("setresgid {}: {e}", u.gid)))?;
    nix::unistd::setresuid(Uid::from_raw(u.uid), Uid::from_raw(u.uid), Uid::from_raw(u.uid))
        .map_err(|e| field("user.uid", format!("setresuid {}: {e}", u.uid)))?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| Error::sys("clear keep-capabilities", e))?;
    let eff = cap_mask(caps.map(|c| &c.effective), last);
    let per = cap_mask(caps.map(|c| &c.permitted), last);
    let inh = cap_mask(caps.map(|c| &c.inheritable), last);
    capset(eff, per, inh).map_err(|e| field("capabilities", format!("capset (effective must be within permitted): {e}")))?;
    // The kernel only lets a capability be ambient when it is permitted and
    // inheritable; like runc and crun, the others in the list are skipped
    // (runc's own default spec lists ambient capabilities without inheritable).
    let amb = cap_mask(caps.map(|c| &c.ambient), last) & per & inh;
    for n in 0..=last {
        if amb & (1 << n) != 0 {
            crate::sys::ambient_raise(n).map_err(|e| field("capabilities.ambient", format!("raise capability {n}: {e}")))?;
        }
    }
    if let Some(m) = u.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m as libc::mode_t));
    } else {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    }
    Ok(())
}

/// The value of `name` in an environment list.
pub fn env_get<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Finds the program to execute like execvp would, with the container's PATH;
/// the error text is the one runc (and so docker's exit-code mapping) uses.
pub fn lookup(prog: &str, env: &[String]) -> Result<PathBuf> {
    let exe_ok = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => Err(Error::Child(format!("exec: {prog:?}: is a directory"))),
            Ok(_) if exe_ok(&p) => Ok(p),
            Ok(_) => Err(Error::Child(format!("exec: {prog:?}: permission denied"))),
            Err(_) => Err(Error::Child(format!("exec: {prog:?}: stat {prog}: no such file or directory"))),
        };
    }
    let path = env_get(env, "PATH").unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(prog);
        if exe_ok(&p) {
            return Ok(p);
        }
    }
    Err(Error::Child(format!("exec: {prog:?}: executable file not found in $PATH")))
}

/// argv and envp as C strings.
pub fn c_args(p: &Process, env: &[String]) -> Result<(Vec<CString>, Vec<CString>)> {
    let argv = p.args.iter().map(|a| crate::sys::cstring(a).map_err(|m| field("args", m))).collect::<Result<Vec<_>>>()?;
    let envp = env.iter().map(|a| crate::sys::cstring(a).map_err(|m| field("env", m))).collect::<Result<Vec<_>>>()?;
    Ok((argv, envp))
}

/// The program's environment: the configured one, plus HOME from the
/// container's /etc/passwd (or `/`) when it is not set, as runc does.
pub fn environment(p: &Process) -> Vec<String> {
    let mut env = p.env.clone();
    if env_get(&env, "HOME").is_none() {
        let uid = p.user.uid.to_string();
        let home = std::fs::read_to_string("/etc/passwd").ok().and_then(|pw| {
            pw.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 6 && f[2] == uid).map(|f| f[5].to_string())
        });
        env.push(format!("HOME={}", home.filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into())));
    }
    env
}

/// Changes to the process's cwd and makes sure it lies inside the
/// container's root (CVE-2024-21626: a cwd like /proc/self/fd/N could
/// otherwise land on a host directory the runtime still has open).
pub fn chdir_inside(cwd: &Path, file: &str) -> Result<()> {
    let bad = |msg: String| Error::config(file, "process.cwd", msg);
    nix::unistd::chdir(cwd).map_err(|e| bad(format!("chdir {}: {e}", cwd.display())))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(bad(format!("{} is outside the container's root", cwd.display()))),
    }
}

/// Restores default dispositions and an empty mask for every signal, so the
/// container program starts the way a freshly exec'd process should (the
/// runtime ignores SIGPIPE, and `run` blocks signals it forwards).
pub fn reset_signals() {
    for s in 1..=64 {
        if s == libc::SIGKILL || s == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound; invalid numbers just fail.
        unsafe {
            libc::signal(s, libc::SIG_DFL);
        }
    }
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&nix::sys::signal::SigSet::empty()), None);
}
