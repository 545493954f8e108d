//! Which namespaces a container creates and which it joins, and the system
//! calls that do it.
//!
//! Order matters. Joined namespaces are entered before a new user namespace is
//! created (entering a host-owned namespace needs host privileges), the user
//! namespace is entered before any other joined one (so that the others are
//! entered with the capabilities it grants), and the mount namespace last.
//! A new pid or time namespace only applies to the children of the process
//! that creates it, so those are set up by the parent before it forks.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use crate::config::Config;
use crate::oci::NsType as T;
use crate::{Error, Result};

/// The clone(2) flag of a namespace type.
pub fn clone_flag(t: T) -> CloneFlags {
    match t {
        T::Mount => CloneFlags::CLONE_NEWNS,
        T::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        T::Uts => CloneFlags::CLONE_NEWUTS,
        T::Ipc => CloneFlags::CLONE_NEWIPC,
        T::User => CloneFlags::CLONE_NEWUSER,
        T::Pid => CloneFlags::CLONE_NEWPID,
        T::Network => CloneFlags::CLONE_NEWNET,
        T::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of a namespace's file under /proc/PID/ns.
pub fn proc_name(t: T) -> &'static str {
    match t {
        T::Mount => "mnt",
        T::Network => "net",
        T::Pid => "pid_for_children",
        T::Time => "time_for_children",
        other => other.name(),
    }
}

/// An opened namespace to join.
#[derive(Debug)]
pub struct Join {
    pub typ: T,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// The namespace plan of a container.
#[derive(Debug)]
pub struct Plan {
    /// new namespaces other than user, pid, time and cgroup: unshared by the child
    pub unshare: CloneFlags,
    pub new_user: bool,
    pub new_pid: bool,
    pub new_time: bool,
    pub new_cgroup: bool,
    /// joined namespaces, user first and mount last (pid and time excluded)
    pub joins: Vec<Join>,
    /// a pid namespace to join: entered by the parent for its children
    pub join_pid: Option<Join>,
    /// a time namespace to join: entered by the child (setns moves the caller)
    pub join_time: Option<Join>,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            unshare: CloneFlags::empty(),
            new_user: false,
            new_pid: false,
            new_time: false,
            new_cgroup: false,
            joins: Vec::new(),
            join_pid: None,
            join_time: None,
        }
    }
}

/// Opens a namespace file and checks it is a namespace of type `t`.
pub fn open_ns(t: T, path: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::path("open namespace", path, e.into()))?;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the CLONE_NEW* type of an nsfs file.
    let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), NS_GET_NSTYPE as _) };
    if r < 0 {
        return Err(Error::config("config.json", format!("linux.namespaces[{}].path", t.name()), format!("{} is not a namespace file", path.display())));
    }
    if r != clone_flag(t).bits() {
        return Err(Error::config("config.json", format!("linux.namespaces[{}].path", t.name()), format!("{} is not a {} namespace", path.display(), t.name())));
    }
    Ok(fd)
}

impl Plan {
    /// Builds the plan from config.json; joined namespace files are opened now
    /// so a bad path fails before anything is created.
    pub fn from_config(cfg: &Config) -> Result<Plan> {
        let mut plan = Plan::default();
        for ns in &cfg.linux().namespaces {
            let t = ns.typ;
            match &ns.path {
                None => match t {
                    T::User => plan.new_user = true,
                    T::Pid => plan.new_pid = true,
                    T::Time => plan.new_time = true,
                    T::Cgroup => plan.new_cgroup = true,
                    other => plan.unshare |= clone_flag(other),
                },
                Some(p) => plan.add_join(Join { typ: t, fd: open_ns(t, p)?, path: p.clone() }),
            }
        }
        Ok(plan)
    }

    /// Records a namespace to join: pid and time are entered around the
    /// fork, the others by the child, the user namespace first and the mount
    /// namespace last.
    fn add_join(&mut self, join: Join) {
        match join.typ {
            T::Pid => self.join_pid = Some(join),
            T::Time => self.join_time = Some(join),
            _ => {
                self.joins.push(join);
                self.joins.sort_by_key(|j| match j.typ {
                    T::User => 0,
                    T::Mount => 2,
                    _ => 1,
                });
            }
        }
    }

    /// The plan for `exec`: join every namespace of the running container's
    /// init process that the config lists.
    pub fn for_exec(cfg: &Config, init_pid: i32) -> Result<Plan> {
        let mut plan = Plan::default();
        for ns in &cfg.linux().namespaces {
            let t = ns.typ;
            let name = match t {
                T::Pid => "pid",
                T::Time => "time",
                other => proc_name(other),
            };
            let path = PathBuf::from(format!("/proc/{init_pid}/ns/{name}"));
            let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| Error::path("open namespace of the container", &path, e.into()))?;
            plan.add_join(Join { typ: t, fd, path });
        }
        Ok(plan)
    }

    /// Whether the container process has a user namespace of its own.
    pub fn has_user(&self) -> bool {
        self.new_user || self.joins.iter().any(|j| j.typ == T::User)
    }
}

/// Enters one namespace.
pub fn enter(j: &Join) -> Result<()> {
    nix::sched::setns(j.fd.as_fd(), clone_flag(j.typ))
        .map_err(|e| Error::sys(format!("join {} namespace {}", j.typ.name(), j.path.display()), e))
}

/// Writes the uid and gid maps of `pid` (the runtime is root here; rootless
/// callers go through newuidmap/newgidmap).
pub fn write_id_maps(cfg: &Config, pid: i32) -> Result<()> {
    let linux = cfg.linux();
    let fmt = |maps: &[crate::oci::IdMapping]| {
        maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect::<String>()
    };
    let uid = fmt(&linux.uid_mappings);
    let gid = fmt(&linux.gid_mappings);
    if nix::unistd::geteuid().is_root() {
        let w = |file: &str, data: &str, field: &str| {
            let p = PathBuf::from(format!("/proc/{pid}/{file}"));
            crate::sys::write_file(&p, data.as_bytes())
                .map_err(|e| Error::config("config.json", field, format!("writing {}: {e}", p.display())))
        };
        w("uid_map", &uid, "linux.uidMappings")?;
        w("gid_map", &gid, "linux.gidMappings")?;
        return Ok(());
    }
    // unprivileged: a single mapping of our own ids can be written directly
    // (after denying setgroups); anything else needs the setuid helpers
    let me_u = nix::unistd::geteuid().as_raw();
    let me_g = nix::unistd::getegid().as_raw();
    let own = |maps: &[crate::oci::IdMapping], id: u32| maps.len() == 1 && maps[0].host_id == id && maps[0].size == 1;
    if own(&linux.uid_mappings, me_u) && own(&linux.gid_mappings, me_g) {
        let p = |f: &str| PathBuf::from(format!("/proc/{pid}/{f}"));
        crate::sys::write_file(&p("setgroups"), b"deny").map_err(|e| Error::path("write", p("setgroups"), e))?;
        crate::sys::write_file(&p("uid_map"), uid.as_bytes())
            .map_err(|e| Error::config("config.json", "linux.uidMappings", format!("writing uid_map: {e}")))?;
        crate::sys::write_file(&p("gid_map"), gid.as_bytes())
            .map_err(|e| Error::config("config.json", "linux.gidMappings", format!("writing gid_map: {e}")))?;
        return Ok(());
    }
    run_map_helper("newuidmap", pid, &linux.uid_mappings, "linux.uidMappings")?;
    run_map_helper("newgidmap", pid, &linux.gid_mappings, "linux.gidMappings")
}

fn run_map_helper(helper: &str, pid: i32, maps: &[crate::oci::IdMapping], field: &str) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id.to_string(), m.host_id.to_string(), m.size.to_string()]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::config("config.json", field, format!("running {helper}: {e} (install the uidmap package)")))?;
    if !out.status.success() {
        return Err(Error::config(
            "config.json",
            field,
            format!("{helper} refused the mapping: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    Ok(())
}

/// Writes `linux.timeOffsets` for the time namespace the caller just
/// unshared (it applies to the caller's future children).
pub fn write_time_offsets(cfg: &Config) -> Result<()> {
    let offs = &cfg.linux().time_offsets;
    let mut data = String::new();
    for (clock, o) in offs {
        data.push_str(&format!("{clock} {} {}\n", o.secs, o.nanosecs));
    }
    if data.is_empty() {
        return Ok(());
    }
    crate::sys::write_file(Path::new("/proc/self/timens_offsets"), data.as_bytes())
        .map_err(|e| Error::config("config.json", "linux.timeOffsets", format!("writing timens_offsets: {e}")))
}
