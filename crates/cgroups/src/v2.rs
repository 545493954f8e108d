//! cgroup v2: one directory in the cgroup2 hierarchy. Also the "unified" part of a hybrid
//! host, where it handles only the controllers the cgroup2 mount holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use crate::convert;
use crate::devices::{DeviceRules, bpf};
use crate::error::{Error, Result};
use crate::fs;
use crate::oom::OomWatcher;
use crate::resources::{self, Checks};
use crate::stats::{self, Stats};
use crate::{CgroupManager, CgroupMount, CgroupSpec, FreezerState, UNIFIED_KEY};

/// How long freeze/thaw and kill wait for the kernel.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// How long destroy retries a busy directory.
pub(crate) const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

/// A container's cgroup on cgroup v2.
#[derive(Debug)]
pub struct V2Manager {
    spec: CgroupSpec,
    mount: PathBuf,
    dir: PathBuf,
    /// Hybrid host: controllers of the cgroup2 mount. `None` on a pure v2 host (all).
    hybrid_controllers: Option<Vec<String>>,
}

impl V2Manager {
    pub(crate) fn new(spec: CgroupSpec, mount: PathBuf, dir: PathBuf, hybrid_controllers: Option<Vec<String>>) -> Self {
        V2Manager {
            spec,
            mount,
            dir,
            hybrid_controllers,
        }
    }

    /// The container's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the cgroup2 hierarchy is mounted.
    pub fn mount_point(&self) -> &Path {
        &self.mount
    }

    /// Whether this hierarchy holds `controller`.
    pub(crate) fn owns(&self, controller: &str) -> bool {
        self.hybrid_controllers
            .as_ref()
            .is_none_or(|v| v.iter().any(|c| c == controller))
    }

    pub(crate) fn create_dir(&self) -> Result<()> {
        fs::mkdir_below(&self.mount, &self.dir)?;
        fs::ensure_cgroupfs(&self.dir)?;
        if self.hybrid_controllers.is_none() {
            self.enable_controllers(None)?;
        }
        Ok(())
    }

    /// Enables controllers in the `cgroup.subtree_control` of every ancestor, so that the
    /// container's cgroup gets them (`only`: just these). A controller that cannot be enabled
    /// (e.g. cpu with realtime processes about) is left out here; a field that needs it then
    /// fails with [`Error::ControllerMissing`].
    pub(crate) fn enable_controllers(&self, only: Option<&[&str]>) -> Result<()> {
        let rel = self.dir.strip_prefix(&self.mount).map_err(|_| Error::InvalidPath {
            path: self.dir.display().to_string(),
            reason: format!("not below {}", self.mount.display()),
        })?;
        let mut cur = self.mount.clone();
        let comps: Vec<_> = rel.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            enable_in(&cur, only)?;
            if i + 1 < comps.len() {
                cur.push(comp);
            }
        }
        Ok(())
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<()> {
        fs::write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn validate(&self, r: &LinuxResources) -> Result<()> {
        let dirs = resources::hugepage_dirs(r);
        resources::validate_common(r, &Checks { hugepage_dirs: &dirs })?;
        validate_v2(r)
    }

    fn set_resources(&self, r: &LinuxResources) -> Result<()> {
        let d = &self.dir;
        if let Some(m) = r.memory() {
            memory(d, m)?;
        }
        if let Some(c) = r.cpu() {
            cpu(d, c)?;
            cpuset(d, c)?;
        }
        if let Some(p) = r.pids()
            && p.limit() != 0 {
                need(d, "pids.max", "pids", "pids.limit")?;
                fs::set(d, "pids.max", &convert::pids_max(p.limit()), "pids.limit")?;
            }
        if let Some(b) = r.block_io() {
            io(d, b)?;
        }
        if let Some(h) = r.hugepage_limits() {
            hugetlb(d, h)?;
        }
        if let Some(rd) = r.rdma() {
            rdma(d, rd)?;
        }
        if let Some(u) = r.unified() {
            unified(d, u)?;
        }
        Ok(())
    }

    pub(crate) fn set_hugetlb(&self, limits: &[LinuxHugepageLimit]) -> Result<()> {
        self.enable_controllers(Some(&["hugetlb"]))?;
        hugetlb(&self.dir, limits)
    }

    pub(crate) fn set_rdma(&self, rd: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>) -> Result<()> {
        self.enable_controllers(Some(&["rdma"]))?;
        rdma(&self.dir, rd)
    }

    pub(crate) fn set_unified(&self, u: &std::collections::HashMap<String, String>) -> Result<()> {
        let ctrls: Vec<&str> = u.keys().map(|k| convert::unified_controller(k)).collect();
        self.enable_controllers(Some(&ctrls))?;
        unified(&self.dir, u)
    }

    pub(crate) fn do_freeze(&self, frozen: bool) -> Result<()> {
        let want = if frozen { "1" } else { "0" };
        fs::write(&self.dir.join("cgroup.freeze"), want)?;
        let events = self.dir.join("cgroup.events");
        let start = Instant::now();
        let mut delay = Duration::from_micros(50);
        loop {
            let s = fs::read(&events)?;
            let now = fs::flat_keyed_get(&s, "frozen");
            if now == Some(u64::from(frozen)) {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                return Err(Error::FreezeTimeout {
                    path: self.dir.clone(),
                    wanted: if frozen { "frozen" } else { "thawed" },
                    last: s.trim().replace('\n', ", "),
                    timeout_ms: WAIT.as_millis() as u64,
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    pub(crate) fn state(&self) -> Result<FreezerState> {
        let want = fs::read(&self.dir.join("cgroup.freeze"))?;
        let events = fs::read(&self.dir.join("cgroup.events"))?;
        let frozen = fs::flat_keyed_get(&events, "frozen") == Some(1);
        Ok(match (want.trim() == "1", frozen) {
            (_, true) => FreezerState::Frozen,
            (true, false) => FreezerState::Freezing,
            (false, false) => FreezerState::Thawed,
        })
    }

    /// Writes `cgroup.kill` if the kernel has it (5.14+); false when it does not.
    pub(crate) fn cgroup_kill(&self) -> Result<bool> {
        let f = self.dir.join("cgroup.kill");
        if !f.exists() {
            return Ok(false);
        }
        fs::write(&f, "1")?;
        Ok(true)
    }

    pub(crate) fn procs(&self) -> Result<Vec<i32>> {
        let mut v = Vec::new();
        fs::procs_recursive(&self.dir, &mut v)?;
        Ok(v)
    }

    pub(crate) fn hugetlb_stats(&self, st: &mut Stats) -> Result<()> {
        for (name, _) in host_hugepage_sizes() {
            let Some(usage) = fs::read_u64_opt(&self.dir.join(format!("hugetlb.{name}.current")))? else {
                continue;
            };
            let failcnt = fs::read_opt(&self.dir.join(format!("hugetlb.{name}.events")))?
                .and_then(|s| fs::flat_keyed_get(&s, "max"))
                .unwrap_or(0);
            st.hugetlb.insert(
                name,
                stats::Hugetlb {
                    usage,
                    max: 0,
                    failcnt,
                },
            );
        }
        Ok(())
    }

    pub(crate) fn remove(&self) -> Result<()> {
        fs::remove_cgroup_tree(&self.dir, REMOVE_PATIENCE)?;
        if let Some(p) = crate::default_parent_of(&self.spec, &self.dir) {
            fs::remove_if_unused(&p);
        }
        Ok(())
    }

    pub(crate) fn mount_entry(&self, subdir: String) -> CgroupMount {
        CgroupMount {
            fstype: "cgroup2".into(),
            data: String::new(),
            subdir,
            host_dir: self.dir.clone(),
            aliases: Vec::new(),
        }
    }

    /// Sends `sig` to every process, freezing around it so none forks away.
    pub(crate) fn signal_all(&self, sig: i32) -> Result<()> {
        let frozen = self.do_freeze(true).is_ok();
        let r = signal_pids(&self.procs()?, sig);
        if frozen {
            self.do_freeze(false)?;
        }
        r
    }
}

fn enable_in(dir: &Path, only: Option<&[&str]>) -> Result<()> {
    let avail = fs::read(&dir.join("cgroup.controllers"))?;
    let sc_path = dir.join("cgroup.subtree_control");
    let enabled = fs::read(&sc_path)?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<&str> = avail
        .split_whitespace()
        .filter(|c| !enabled.contains(c) && only.is_none_or(|o| o.contains(c)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if fs::write_raw(&sc_path, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // One by one, so that one refusal does not keep the others out.
    for c in missing {
        let _ = fs::write_raw(&sc_path, &format!("+{c}"));
    }
    Ok(())
}

/// Errors for fields cgroup v2 cannot express.
fn validate_v2(r: &LinuxResources) -> Result<()> {
    if let Some(m) = r.memory() {
        if m.swappiness().is_some() {
            return Err(Error::unsupported(
                "linux.resources.memory.swappiness on cgroup v2 (there is no per-cgroup swappiness)",
            ));
        }
        #[allow(deprecated)]
        let kernel = m.kernel();
        if kernel.is_some() {
            return Err(Error::unsupported("linux.resources.memory.kernel on cgroup v2"));
        }
        if m.kernel_tcp().is_some() {
            return Err(Error::unsupported("linux.resources.memory.kernelTCP on cgroup v2"));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(Error::unsupported("linux.resources.memory.disableOOMKiller on cgroup v2"));
        }
        if m.use_hierarchy() == Some(false) {
            return Err(Error::unsupported(
                "linux.resources.memory.useHierarchy=false on cgroup v2 (always hierarchical)",
            ));
        }
        if let Some(s) = m.swap() {
            convert::swap_to_v2(s, m.limit().unwrap_or(0))?;
        }
    }
    if let Some(c) = r.cpu()
        && (c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0)) {
            return Err(Error::unsupported(
                "linux.resources.cpu.realtimeRuntime/realtimePeriod on cgroup v2",
            ));
        }
    if let Some(b) = r.block_io()
        && (b.leaf_weight().is_some()
            || b.weight_device().iter().flatten().any(|d| d.leaf_weight().is_some()))
        {
            return Err(Error::unsupported("linux.resources.blockIO leafWeight on cgroup v2"));
        }
    if let Some(n) = r.network()
        && (n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())) {
            return Err(Error::unsupported(
                "linux.resources.network (net_cls/net_prio) on cgroup v2; use eBPF or tc instead",
            ));
        }
    Ok(())
}

/// Fails unless `dir/file` exists: with [`Error::ControllerNotDelegated`] when the parent
/// has the controller but does not pass it down, else [`Error::ControllerMissing`].
fn need(dir: &Path, file: &str, controller: &str, field: &str) -> Result<()> {
    if dir.join(file).exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        let has = |f: &str| {
            fs::read_opt(&parent.join(f))
                .ok()
                .flatten()
                .is_some_and(|s| s.split_whitespace().any(|c| c == controller))
        };
        if has("cgroup.controllers") && !has("cgroup.subtree_control") {
            return Err(Error::ControllerNotDelegated {
                controller: controller.to_owned(),
                field: field.to_owned(),
                parent: parent.to_owned(),
            });
        }
    }
    Err(Error::missing(controller, field))
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    if !resources::memory_requested(m) {
        return Ok(());
    }
    need(d, "memory.max", "memory", "memory")?;
    let limit = m.limit().unwrap_or(0);
    if let Some(swap) = convert::swap_to_v2(m.swap().unwrap_or(0), limit)? {
        let f = d.join("memory.swap.max");
        if f.exists() {
            fs::set(d, "memory.swap.max", &swap, "memory.swap")?;
        } else if swap != "max" {
            // No swap accounting: "unlimited" is what we have anyway; anything else cannot
            // be enforced.
            return Err(Error::missing("memory (swap accounting, memory.swap.max)", "memory.swap"));
        }
    }
    if limit != 0 {
        let v = convert::memory_v2("memory.limit", limit)?;
        if m.check_before_update() == Some(true) && limit > 0 {
            let usage = fs::read_u64(&d.join("memory.current"))?;
            if usage > limit as u64 {
                return Err(Error::MemoryBelowUsage {
                    limit,
                    usage,
                    path: d.to_owned(),
                });
            }
        }
        fs::set(d, "memory.max", &v, "memory.limit")?;
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        fs::set(d, "memory.low", &convert::memory_v2("memory.reservation", r)?, "memory.reservation")?;
    }
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<()> {
    if !resources::cpu_requested(c) {
        return Ok(());
    }
    need(d, "cpu.max", "cpu", "cpu")?;
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fs::set(d, "cpu.weight", &convert::shares_to_weight(s).to_string(), "cpu.shares")?;
    }
    let max = convert::cpu_max(c.quota(), c.period());
    match (max, c.burst()) {
        (Some(max), Some(burst)) => {
            // The burst may not exceed the quota: write it first when lowering, last when
            // raising; try one order, then the other.
            let b = burst.to_string();
            if fs::write_raw(&d.join("cpu.max.burst"), &b).is_err() {
                fs::set(d, "cpu.max", &max, "cpu.quota")?;
                set_burst(d, &b)?;
            } else {
                fs::set(d, "cpu.max", &max, "cpu.quota")?;
            }
        }
        (Some(max), None) => fs::set(d, "cpu.max", &max, "cpu.quota")?,
        (None, Some(burst)) => set_burst(d, &burst.to_string())?,
        (None, None) => {}
    }
    if let Some(i) = c.idle() {
        if !d.join("cpu.idle").exists() {
            return Err(Error::unsupported("linux.resources.cpu.idle: this kernel has no cpu.idle (Linux 5.15+)"));
        }
        fs::set(d, "cpu.idle", &i.to_string(), "cpu.idle")?;
    }
    Ok(())
}

fn set_burst(d: &Path, b: &str) -> Result<()> {
    if !d.join("cpu.max.burst").exists() {
        return Err(Error::unsupported("linux.resources.cpu.burst: this kernel has no cpu.max.burst (Linux 5.14+)"));
    }
    fs::set(d, "cpu.max.burst", b, "cpu.burst")
}

fn cpuset(d: &Path, c: &LinuxCpu) -> Result<()> {
    if !resources::cpuset_requested(c) {
        return Ok(());
    }
    need(d, "cpuset.cpus", "cpuset", "cpu.cpus/mems")?;
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
        fs::set(d, "cpuset.cpus", s, "cpu.cpus")?;
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
        fs::set(d, "cpuset.mems", s, "cpu.mems")?;
    }
    Ok(())
}

fn io(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    if !resources::blkio_requested(b) {
        return Ok(());
    }
    need(d, "io.max", "io", "blockIO")?;
    let bfq = d.join("io.bfq.weight").exists();
    let iow = d.join("io.weight").exists();
    let weight_file = || {
        if bfq {
            Ok("io.bfq.weight")
        } else if iow {
            Ok("io.weight")
        } else {
            Err(Error::unsupported(
                "linux.resources.blockIO.weight: neither io.bfq.weight nor io.weight exists (needs the BFQ scheduler or io cost control)",
            ))
        }
    };
    if let Some(w) = b.weight() {
        let f = weight_file()?;
        let v = if bfq {
            w.to_string()
        } else {
            format!("default {}", convert::blkio_weight_to_io_weight(w))
        };
        fs::set(d, f, &v, "blockIO.weight")?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let f = weight_file()?;
            let w = if bfq { u64::from(w) } else { convert::blkio_weight_to_io_weight(w) };
            fs::set(d, f, &format!("{}:{} {w}", wd.major(), wd.minor()), "blockIO.weightDevice")?;
        }
    }
    for (key, field, list) in [
        ("rbps", "blockIO.throttleReadBpsDevice", b.throttle_read_bps_device()),
        ("wbps", "blockIO.throttleWriteBpsDevice", b.throttle_write_bps_device()),
        ("riops", "blockIO.throttleReadIOPSDevice", b.throttle_read_iops_device()),
        ("wiops", "blockIO.throttleWriteIOPSDevice", b.throttle_write_iops_device()),
    ] {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 { "max".to_owned() } else { t.rate().to_string() };
            fs::set(d, "io.max", &format!("{}:{} {key}={rate}", t.major(), t.minor()), field)?;
        }
    }
    Ok(())
}

fn hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        let file = format!("hugetlb.{size}.max");
        need(d, &file, "hugetlb", "hugepageLimits")?;
        let v = if l.limit() < 0 { "max".to_owned() } else { l.limit().to_string() };
        fs::set(d, &file, &v, "hugepageLimits")?;
        let rsvd = format!("hugetlb.{size}.rsvd.max");
        if d.join(&rsvd).exists() {
            fs::set(d, &rsvd, &v, "hugepageLimits")?;
        }
    }
    Ok(())
}

pub(crate) fn rdma_line(dev: &str, r: &oci_spec::runtime::LinuxRdma) -> String {
    let n = |v: Option<u32>| v.map_or_else(|| "max".to_owned(), |v| v.to_string());
    format!("{dev} hca_handle={} hca_object={}", n(r.hca_handles()), n(r.hca_objects()))
}

fn rdma(d: &Path, rd: &std::collections::HashMap<String, oci_spec::runtime::LinuxRdma>) -> Result<()> {
    if rd.is_empty() {
        return Ok(());
    }
    need(d, "rdma.max", "rdma", "rdma")?;
    let mut devs: Vec<_> = rd.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, r) in devs {
        fs::set(d, "rdma.max", &rdma_line(dev, r), "rdma")?;
    }
    Ok(())
}

fn unified(d: &Path, u: &std::collections::HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<_> = u.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in keys {
        convert::check_unified_key(k)?;
        let field = format!("unified[{k:?}]");
        let path = d.join(k);
        if !path.exists() {
            let ctrl = convert::unified_controller(k);
            let enabled = fs::read_opt(&d.join("cgroup.controllers"))?.unwrap_or_default();
            if ctrl != "cgroup" && !enabled.split_whitespace().any(|c| c == ctrl) {
                return Err(Error::missing(ctrl, field));
            }
            return Err(Error::invalid(field, format!("{} does not exist", path.display())));
        }
        fs::set(d, k, v, &field)?;
    }
    Ok(())
}

/// Sends `sig` to each pid; processes already gone are fine.
pub(crate) fn signal_pids(pids: &[i32], sig: i32) -> Result<()> {
    for &pid in pids {
        // libc rather than nix: nix's Signal cannot name realtime signals, which `kill` takes.
        // SAFETY: kill(2) has no memory-safety preconditions.
        if unsafe { libc::kill(pid, sig) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::Signal {
                    pid,
                    signal: sig,
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// Page sizes the host has, as ("2MB", kB).
pub(crate) fn host_hugepage_sizes() -> Vec<(String, u64)> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let kb: u64 = n.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
            Some((convert::page_size_name(kb), kb))
        })
        .collect();
    v.sort_by_key(|x| x.1);
    v
}

/// Waits until `cgroup.events` says `populated 0`, woken by the kernel's notification on that
/// file (POLLPRI) rather than by sleeping; false when the file does not exist.
pub(crate) fn wait_unpopulated(dir: &Path, signal: i32) -> Result<bool> {
    use nix::poll::{PollFd, PollFlags};
    use std::io::{Read, Seek};
    let path = dir.join("cgroup.events");
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(Error::Read { path, source }),
    };
    let start = Instant::now();
    let mut delay = Duration::from_micros(50);
    let mut s = String::new();
    loop {
        s.clear();
        f.rewind()
            .and_then(|_| f.read_to_string(&mut s))
            .map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
        if fs::flat_keyed_get(&s, "populated") == Some(0) {
            return Ok(true);
        }
        let left = WAIT.saturating_sub(start.elapsed());
        if left.is_zero() {
            let mut pids = Vec::new();
            fs::procs_recursive(dir, &mut pids)?;
            return Err(Error::KillIncomplete {
                path: dir.to_owned(),
                signal,
                pids,
            });
        }
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
        // The kernel sends at most one notification per 10 ms per file, so a change right
        // after another one arrives late: wake up on our own too, soon at first.
        let t = nix::sys::time::TimeSpec::from_duration(left.min(delay));
        delay = (delay * 2).min(Duration::from_millis(10));
        match nix::poll::ppoll(&mut fds, Some(t), None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::Sys {
                    operation: "poll",
                    path,
                    source: e.into(),
                });
            }
        }
    }
}

/// Waits until `procs` reports no process, up to [`WAIT`].
pub(crate) fn wait_empty(what: &Path, signal: i32, procs: impl Fn() -> Result<Vec<i32>>) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    loop {
        let left = procs()?;
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > WAIT {
            return Err(Error::KillIncomplete {
                path: what.to_owned(),
                signal,
                pids: left,
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<()> {
        self.create_dir()
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        self.add_pid(pid)
    }

    fn apply(&self, r: &LinuxResources, devices: &DeviceRules) -> Result<()> {
        self.validate(r)?;
        // A rootless runtime cannot load BPF programs; its container reaches only the
        // devices its user may open anyway (runc skips the device cgroup too).
        if !self.spec.rootless {
            self.apply_devices(devices)?;
        }
        self.set_resources(r)
    }

    fn update(&self, r: &LinuxResources) -> Result<()> {
        self.validate(r)?;
        self.set_resources(r)
    }

    fn apply_devices(&self, devices: &DeviceRules) -> Result<()> {
        if self.spec.rootless {
            return Err(Error::unsupported(
                "device rules for a rootless container (loading the eBPF device filter needs CAP_BPF)",
            ));
        }
        bpf::apply(&self.dir, &devices.emulate())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut v = self.procs()?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn freeze(&self) -> Result<()> {
        self.do_freeze(true)
    }

    fn thaw(&self) -> Result<()> {
        self.do_freeze(false)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        self.state()
    }

    fn stats(&self) -> Result<Stats> {
        let d = &self.dir;
        let mut st = Stats::default();
        if let Some(s) = fs::read_opt(&d.join("cpu.stat"))? {
            let g = |k| fs::flat_keyed_get(&s, k).unwrap_or(0);
            st.cpu.usage.total = g("usage_usec") * 1000;
            st.cpu.usage.user = g("user_usec") * 1000;
            st.cpu.usage.kernel = g("system_usec") * 1000;
            st.cpu.throttling.periods = g("nr_periods");
            st.cpu.throttling.throttled_periods = g("nr_throttled");
            st.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
        }
        if let Some(s) = fs::read_opt(&d.join("cpuset.cpus.effective"))? {
            st.cpuset.cpus = convert::parse_cpu_list(&s);
        }
        if let Some(s) = fs::read_opt(&d.join("cpuset.mems.effective"))? {
            st.cpuset.mems = convert::parse_cpu_list(&s);
        }
        if let Some(usage) = fs::read_u64_opt(&d.join("memory.current"))? {
            let m = &mut st.memory;
            m.usage.usage = usage;
            m.usage.limit = fs::read_u64_opt(&d.join("memory.max"))?.unwrap_or(u64::MAX);
            m.usage.max = fs::read_u64_opt(&d.join("memory.peak"))?.unwrap_or(0);
            m.usage.failcnt = fs::read_opt(&d.join("memory.events"))?
                .and_then(|s| fs::flat_keyed_get(&s, "max"))
                .unwrap_or(0);
            // runc reports v2 swap as memory + swap, like v1's memsw.
            if let Some(swap) = fs::read_u64_opt(&d.join("memory.swap.current"))? {
                m.swap.usage = swap.saturating_add(usage);
                let swap_max = fs::read_u64_opt(&d.join("memory.swap.max"))?.unwrap_or(u64::MAX);
                m.swap.limit = swap_max.saturating_add(m.usage.limit);
                m.swap.failcnt = fs::read_opt(&d.join("memory.swap.events"))?
                    .and_then(|s| fs::flat_keyed_get(&s, "max"))
                    .unwrap_or(0);
            }
            if let Some(s) = fs::read_opt(&d.join("memory.stat"))? {
                m.raw = fs::parse_flat_keyed(&s)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<BTreeMap<_, _>>();
                m.cache = m.raw.get("file").copied().unwrap_or(0);
            }
        }
        if let Some(cur) = fs::read_u64_opt(&d.join("pids.current"))? {
            st.pids.current = cur;
            st.pids.limit = match fs::read_u64_opt(&d.join("pids.max"))? {
                Some(u64::MAX) | None => 0,
                Some(v) => v,
            };
        }
        if let Some(s) = fs::read_opt(&d.join("io.stat"))? {
            st.blkio = stats::parse_io_stat(&s);
        }
        self.hugetlb_stats(&mut st)?;
        Ok(st)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let f = self.dir.join("memory.events");
        match fs::read_opt(&f)? {
            Some(s) => Ok(fs::flat_keyed_get(&s, "oom_kill").unwrap_or(0)),
            None => Err(Error::missing("memory", "(oom events)")),
        }
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v2(&self.dir)
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        if !(sig == libc::SIGKILL && self.cgroup_kill()?) {
            self.signal_all(sig)?;
        }
        if sig == libc::SIGKILL && !wait_unpopulated(&self.dir, sig)? {
            wait_empty(&self.dir, sig, || self.procs())?;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        self.remove()
    }

    fn mounts(&self) -> Result<Vec<CgroupMount>> {
        Ok(vec![self.mount_entry(String::new())])
    }

    fn spec(&self) -> CgroupSpec {
        self.spec.clone()
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(UNIFIED_KEY.to_owned(), self.dir.clone())])
    }

    fn enabled(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

    #[test]
    fn v2_refuses_what_it_cannot_express() {
        let cases = [
            LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().swappiness(10u64).build().unwrap())
                .build()
                .unwrap(),
            LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().disable_oom_killer(true).build().unwrap())
                .build()
                .unwrap(),
            LinuxResourcesBuilder::default()
                .cpu(LinuxCpuBuilder::default().realtime_runtime(1000).build().unwrap())
                .build()
                .unwrap(),
            LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().swap(100).build().unwrap())
                .build()
                .unwrap(),
        ];
        for r in cases {
            assert!(validate_v2(&r).is_err(), "{r:?}");
        }
        let ok = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().disable_oom_killer(false).limit(1 << 20).build().unwrap())
            .build()
            .unwrap();
        validate_v2(&ok).unwrap();
    }

    #[test]
    fn rdma_lines() {
        let r = oci_spec::runtime::LinuxRdmaBuilder::default()
            .hca_handles(2u32)
            .build()
            .unwrap();
        assert_eq!(rdma_line("mlx4_0", &r), "mlx4_0 hca_handle=2 hca_object=max");
    }
}
