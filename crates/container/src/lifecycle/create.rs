//! `create`: everything up to the point where the container's init process
//! waits, blocked before the user's program, for `start`.
//!
//! The runtime (parent) and the init process (child) work in lockstep over a
//! socketpair (see [`crate::process::sync`]): the parent owns what must be
//! done from outside the container (cgroups, id maps, prestart and
//! createRuntime hooks, state), the child what must be done inside.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::{Runtime, state_json, write_pid_file};
use crate::config::Config;
use crate::namespaces::{self, Plan};
use crate::process::init::{self, InitArgs};
use crate::process::sync::{self, Msg};
use crate::state::{ContainerDir, State, Status};
use crate::{Error, Result, hooks};

/// Options of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// A container that `create` has finished.
#[derive(Debug)]
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    /// the pty master when the caller asked to hold the terminal itself (`run` in the foreground)
    pub console_master: Option<OwnedFd>,
}

/// Undoes a partial create unless disarmed: kills the init process, removes
/// the cgroups and the state directory.
struct Cleanup<'a> {
    dir: Option<&'a ContainerDir>,
    cgroup: Option<Box<dyn berth_cgroups::CgroupManager>>,
    pid: Option<Pid>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(&dir.path);
        }
    }
}

fn default_cgroup_spec(rt: &Runtime, id: &str, cfg: &Config) -> berth_cgroups::CgroupSpec {
    let mut spec = berth_cgroups::CgroupSpec::new(id);
    spec.cgroups_path = cfg.linux().cgroups_path.clone();
    spec.systemd = rt.systemd_cgroup;
    spec.rootless = rt.rootless;
    spec
}

/// Connects to the console socket named on the command line.
pub fn connect_console(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).map_err(|e| Error::path("connect to console socket", path, e))?;
    Ok(OwnedFd::from(s))
}

/// The listening socket `start` connects to. Bound through the directory fd
/// so that long state paths do not hit the 108-byte sun_path limit.
fn start_listener(dir: &ContainerDir) -> Result<OwnedFd> {
    let fd = socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("create start socket", e))?;
    let dfd = dir.as_fd().ok_or_else(|| Error::Msg("state directory is not locked".into()))?;
    let addr = UnixAddr::new(format!("/proc/self/fd/{}/{}", dfd.as_raw_fd(), crate::state::START_SOCKET).as_str())
        .map_err(|e| Error::sys("start socket address", e))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(|e| Error::sys(format!("bind {}", dir.start_socket().display()), e))?;
    socket::listen(&fd, socket::Backlog::new(1).unwrap_or(socket::Backlog::MAXCONN))
        .map_err(|e| Error::sys("listen on start socket", e))?;
    Ok(fd)
}

/// Creates the container. With `hold_console` the pty master of a terminal
/// container is returned instead of being sent to a console socket.
pub fn create(rt: &Runtime, opts: &CreateOpts, hold_console: bool) -> Result<Created> {
    let bundle = std::path::absolute(&opts.bundle).map_err(|e| Error::path("resolve bundle", &opts.bundle, e))?;
    let cfg_path = bundle.join("config.json");
    let bytes = std::fs::read(&cfg_path).map_err(|e| Error::path("read", &cfg_path, e))?;
    let cfg = Config::from_bytes(&bundle, &bytes)?;
    crate::id::validate(&opts.id)?;
    let process = cfg.process();
    let terminal = process.terminal;
    if terminal && opts.console_socket.is_none() && !hold_console {
        return Err(Error::config("config.json", "process.terminal", "a terminal needs --console-socket when the runtime does not stay attached"));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::config("config.json", "process.terminal", "--console-socket was given but process.terminal is false"));
    }
    check_unsupported(&cfg)?;
    let linux = cfg.linux();
    let seccomp = linux.seccomp()?.map(|s| berth_seccomp::compile_cached(&s, &rt.seccomp_cache())).transpose()?;
    let resources = linux.resources()?;
    let devices = linux.devices_oci()?;
    let plan = Plan::from_config(&cfg)?;
    let console = match &opts.console_socket {
        Some(p) => Some(connect_console(p)?),
        None => None,
    };
    let (console, console_keep) = if terminal && hold_console {
        let (a, b) = socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| Error::sys("console socketpair", e))?;
        (Some(a), Some(b))
    } else {
        (console, None)
    };

    let dir = rt.root.create(&opts.id)?;
    let mut cleanup = Cleanup { dir: Some(&dir), cgroup: None, pid: None };

    let cg_spec = default_cgroup_spec(rt, &opts.id, &cfg);
    let cg = berth_cgroups::manager(&cg_spec)?;
    let mut state = State {
        oci_version: crate::OCI_VERSION.to_string(),
        id: opts.id.clone(),
        pid: 0,
        init_start_time: 0,
        bundle: bundle.clone(),
        rootfs: cfg.rootfs.clone(),
        created: berth_time::Timestamp::now().rfc3339_nano_fixed().into(),
        owner: String::new(),
        annotations: cfg.spec.annotations.clone(),
        cgroup: cg.spec(),
        userns: plan.has_user(),
    };
    // written before the cgroup exists, so `delete` can clean up after a
    // create that was killed half-way
    dir.save(&state)?;
    dir.save_config(&bytes)?;
    cg.create()?;
    let rules = berth_cgroups::devices::DeviceRules::for_container(resources.devices().as_deref().unwrap_or(&[]), &devices)?;
    cleanup.cgroup = Some(cg);
    let cg = cleanup.cgroup.as_ref().expect("just set");
    cg.apply(&resources, &rules)?;
    let wants_cgroup_mount = cfg.spec.mounts.iter().any(|m| m.typ.as_deref() == Some("cgroup"));
    // without a cgroup (rootless, nothing delegated) a `cgroup` mount is an
    // empty read-only tmpfs, as runc gives rootless containers
    let cgroup_mounts = if wants_cgroup_mount && cg.enabled() { cg.mounts()? } else { Vec::new() };

    let listener = start_listener(&dir)?;
    let (parent, child) = sync::pair()?;
    let min_fd = 3 + opts.preserve_fds as i32;
    let child = sync::Channel { fd: crate::sys::dup_above(child.fd, min_fd).map_err(|e| Error::sys("move sync socket", e))? };
    let listener = crate::sys::dup_above(listener, min_fd).map_err(|e| Error::sys("move start socket", e))?;
    let console = console.map(|c| crate::sys::dup_above(c, min_fd)).transpose().map_err(|e| Error::sys("move console socket", e))?;

    // pid and time namespaces apply to the children of whoever makes them
    let restore = PreFork::enter(&plan, &cfg)?;
    // SAFETY: the runtime is single-threaded, so the child may do anything
    // the parent could; it never returns into the caller's code.
    let fork = unsafe { nix::unistd::fork() };
    let fork = match fork {
        Ok(ForkResult::Child) => {
            drop(parent);
            init::run(InitArgs {
                cfg: &cfg,
                plan: &plan,
                chan: child,
                console,
                start_listener: listener,
                preserve_fds: opts.preserve_fds,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                cgroup_mounts: &cgroup_mounts,
                seccomp: seccomp.as_ref(),
            })
        }
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(e) => Err(Error::sys("fork container init", e)),
    };
    restore.leave()?;
    let child_pid = fork?;
    cleanup.pid = Some(child_pid);
    drop(child);
    drop(listener);
    drop(console);

    let mut init_pid = if plan.new_user && plan.new_pid { None } else { Some(child_pid) };
    if let Some(p) = init_pid {
        cg.add_process(p.as_raw())?;
        parent.send(&Msg::Go)?;
    }
    loop {
        let Some((msg, fd)) = parent.recv()? else {
            return Err(Error::Msg("the container's init process exited during set-up".into()));
        };
        match msg {
            Msg::UserNs => {
                namespaces::write_id_maps(&cfg, child_pid.as_raw())?;
                parent.send(&Msg::MapsDone)?;
            }
            Msg::Pid(p) => {
                let _ = waitpid(child_pid, None);
                let p = Pid::from_raw(p);
                init_pid = Some(p);
                cleanup.pid = Some(p);
                cg.add_process(p.as_raw())?;
                parent.send(&Msg::Go)?;
            }
            Msg::Hooks => {
                state.pid = init_pid.map(|p| p.as_raw()).unwrap_or(0);
                let json = state_json(&state, Status::Creating).to_string();
                hooks::run_all("prestart", hooks::of(&cfg.spec, "prestart"), json.as_bytes())?;
                hooks::run_all("createRuntime", hooks::of(&cfg.spec, "createRuntime"), json.as_bytes())?;
                parent.send(&Msg::HooksDone(json))?;
            }
            Msg::SeccompFd => {
                let fd = fd.ok_or_else(|| Error::Msg("seccomp notify fd missing".into()))?;
                send_seccomp_fd(&cfg, &state, init_pid, fd)?;
                parent.send(&Msg::SeccompDone)?;
            }
            Msg::Ready => break,
            Msg::Error(e) => return Err(Error::Child(e)),
            other => return Err(Error::Msg(format!("container set-up: unexpected {other:?}"))),
        }
    }
    let pid = init_pid.ok_or_else(|| Error::Msg("container set-up finished without an init pid".into()))?;
    state.pid = pid.as_raw();
    state.init_start_time = crate::sys::process_start_time(state.pid)
        .ok_or_else(|| Error::Msg("the container's init process exited during set-up".into()))?;
    dir.save(&state)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, state.pid)?;
    }
    let console_master = match console_keep {
        Some(s) => Some(crate::process::console::recv_fd(s.as_fd()).map_err(|e| Error::sys("receive the pty master", e))?),
        None => None,
    };
    cleanup.dir = None;
    cleanup.cgroup = None;
    cleanup.pid = None;
    drop(cleanup);
    Ok(Created { dir, state, console_master })
}

/// Passes a seccomp notify fd to `linux.seccomp.listenerPath` with the
/// container process state (config-linux.md, seccomp).
pub fn send_seccomp_fd(cfg: &Config, st: &State, pid: Option<Pid>, fd: OwnedFd) -> Result<()> {
    let (path, metadata) = cfg.linux().seccomp_listener();
    let Some(path) = path else {
        return Err(Error::config("config.json", "linux.seccomp.listenerPath", "an SCMP_ACT_NOTIFY rule needs a listenerPath"));
    };
    let pid = pid.map(|p| p.as_raw()).unwrap_or(st.pid);
    let mut oci = oci_spec::runtime::State::default();
    oci.set_version(crate::OCI_VERSION.to_string());
    oci.set_id(st.id.clone());
    oci.set_status(oci_spec::runtime::ContainerState::Creating);
    oci.set_pid(Some(pid));
    oci.set_bundle(st.bundle.clone());
    if !st.annotations.is_empty() {
        oci.set_annotations(Some(st.annotations.clone().into_iter().collect()));
    }
    let cps = berth_seccomp::container_process_state(oci, pid, metadata);
    berth_seccomp::send_to_listener(&path, fd.as_fd(), &cps)?;
    Ok(())
}

/// Refuses config sections this runtime does not implement, rather than
/// ignoring them.
fn check_unsupported(cfg: &Config) -> Result<()> {
    let p = cfg.process();
    if let Some(a) = p.apparmor_profile.as_deref().filter(|a| !a.is_empty()) {
        let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() == "Y").unwrap_or(false);
        return Err(if enabled {
            Error::Unsupported(format!("process.apparmorProfile {a:?}"))
        } else {
            Error::config("config.json", "process.apparmorProfile", format!("{a:?} was asked for but AppArmor is not enabled on this host"))
        });
    }
    if p.selinux_label.as_deref().is_some_and(|l| !l.is_empty()) {
        return Err(Error::Unsupported("process.selinuxLabel (SELinux)".into()));
    }
    if p.exec_cpu_affinity.is_some() {
        return Err(Error::Unsupported("process.execCPUAffinity".into()));
    }
    let l = cfg.linux();
    if l.intel_rdt.is_some() {
        return Err(Error::Unsupported("linux.intelRdt".into()));
    }
    if l.memory_policy.is_some() {
        return Err(Error::Unsupported("linux.memoryPolicy".into()));
    }
    if l.net_devices.as_ref().is_some_and(|d| d.as_object().is_some_and(|o| !o.is_empty())) {
        return Err(Error::Unsupported("linux.netDevices".into()));
    }
    if l.mount_label.as_deref().is_some_and(|m| !m.is_empty()) {
        return Err(Error::Unsupported("linux.mountLabel (SELinux)".into()));
    }
    Ok(())
}

/// The parent's temporary namespace changes around the fork: a new time
/// namespace (with offsets) or a joined/new pid namespace for the child.
pub struct PreFork {
    own_pid: Option<OwnedFd>,
    own_time: Option<OwnedFd>,
}

impl PreFork {
    pub fn enter(plan: &Plan, cfg: &Config) -> Result<PreFork> {
        let mut pf = PreFork { own_pid: None, own_time: None };
        let open_own = |name: &str| {
            nix::fcntl::open(format!("/proc/self/ns/{name}").as_str(), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                .map_err(|e| Error::sys(format!("open own {name} namespace"), e))
        };
        if plan.new_time {
            pf.own_time = Some(open_own("time")?);
            nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).map_err(|e| Error::sys("unshare time namespace", e))?;
            namespaces::write_time_offsets(cfg)?;
        }
        if let Some(j) = &plan.join_pid {
            pf.own_pid = Some(open_own("pid")?);
            namespaces::enter(j)?;
        } else if plan.new_pid && !plan.new_user {
            pf.own_pid = Some(open_own("pid")?);
            nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| Error::sys("unshare pid namespace", e))?;
        }
        Ok(pf)
    }

    /// Puts the parent's children back into its own namespaces (hooks must
    /// run in the runtime's namespaces).
    pub fn leave(self) -> Result<()> {
        if let Some(fd) = &self.own_pid {
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID).map_err(|e| Error::sys("return to own pid namespace", e))?;
        }
        if let Some(fd) = &self.own_time {
            nix::sched::setns(fd.as_fd(), CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
                .map_err(|e| Error::sys("return to own time namespace", e))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for PreFork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreFork").finish_non_exhaustive()
    }
}
