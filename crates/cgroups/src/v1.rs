//! cgroup v1, and the hybrid layout: one directory per mounted v1 hierarchy, plus (hybrid)
//! one in the cgroup2 mount for the controllers that live there, for `cgroup.kill` and, when
//! the freezer is not mounted in v1, for `cgroup.freeze`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use crate::convert;
use crate::devices::DeviceRules;
use crate::error::{Error, Result};
use crate::fs;
use crate::mountinfo::{Hierarchies, Layout};
use crate::oom::OomWatcher;
use crate::resources::{self, Checks};
use crate::stats::{self, Stats};
use crate::v2::{self, V2Manager};
use crate::{CgroupManager, CgroupMount, CgroupSpec, FreezerState, UNIFIED_KEY};

#[derive(Debug)]
struct V1Dir {
    /// Mount data, e.g. `cpu,cpuacct`.
    key: String,
    controllers: Vec<String>,
    mount: PathBuf,
    dir: PathBuf,
}

/// A container's cgroups on a v1 or hybrid host.
#[derive(Debug)]
pub struct V1Manager {
    spec: CgroupSpec,
    dirs: Vec<V1Dir>,
    /// Hybrid: the container's cgroup in the cgroup2 mount.
    unified: Option<V2Manager>,
}

impl V1Manager {
    pub(crate) fn new(spec: CgroupSpec, h: &Hierarchies, paths: &BTreeMap<String, PathBuf>) -> Result<Self> {
        let get = |key: &str| {
            paths.get(key).cloned().ok_or_else(|| Error::InvalidPath {
                path: format!("{paths:?}"),
                reason: format!("no directory for hierarchy {key}"),
            })
        };
        let mut dirs = Vec::with_capacity(h.v1.len());
        for x in &h.v1 {
            let key = x.mount_data();
            dirs.push(V1Dir {
                dir: get(&key)?,
                key,
                controllers: x.controllers.clone(),
                mount: x.mount_point.clone(),
            });
        }
        let unified = match (&h.unified, h.layout) {
            (Some(u), Layout::Hybrid) => Some(V2Manager::new(
                spec.clone(),
                u.mount_point.clone(),
                get(UNIFIED_KEY)?,
                Some(u.controllers.clone()),
            )),
            _ => None,
        };
        Ok(V1Manager { spec, dirs, unified })
    }

    /// The container's directory in the hierarchy holding `controller`.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.dir.as_path())
    }

    fn need(&self, controller: &str, field: &str) -> Result<&Path> {
        self.dir(controller)
            .ok_or_else(|| Error::missing(controller, field))
    }

    /// The unified part, if it holds `controller` and v1 does not.
    fn unified_for(&self, controller: &str) -> Option<&V2Manager> {
        if self.dir(controller).is_some() {
            return None;
        }
        self.unified.as_ref().filter(|u| u.owns(controller))
    }

    fn validate(&self, r: &LinuxResources) -> Result<()> {
        let dirs = resources::hugepage_dirs(r);
        resources::validate_common(r, &Checks { hugepage_dirs: &dirs })?;
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            let Some(uni) = &self.unified else {
                return Err(Error::unsupported(
                    "linux.resources.unified on a cgroup v1 host (it holds cgroup v2 settings)",
                ));
            };
            for k in u.keys() {
                let ctrl = convert::unified_controller(k);
                if ctrl != "cgroup" && (self.dir(ctrl).is_some() || !uni.owns(ctrl)) {
                    return Err(Error::unsupported(format!(
                        "linux.resources.unified[{k:?}] on this hybrid host: the {ctrl} controller is not in the cgroup v2 hierarchy"
                    )));
                }
            }
        }
        if let Some(c) = r.cpu()
            && c.idle().is_some() && self.dir("cpu").is_some_and(|d| !d.join("cpu.idle").exists()) {
                return Err(Error::unsupported("linux.resources.cpu.idle: this kernel has no cpu.idle (Linux 5.15+)"));
            }
        Ok(())
    }

    fn set_resources(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory().as_ref().filter(|m| resources::memory_requested(m)) {
            memory(self.need("memory", "memory")?, m)?;
        }
        if let Some(c) = r.cpu() {
            if resources::cpu_requested(c) {
                cpu(self.need("cpu", "cpu")?, c)?;
            }
            if resources::cpuset_requested(c) {
                cpuset(self.need("cpuset", "cpu.cpus/mems")?, c)?;
            }
        }
        if let Some(p) = r.pids().filter(|p| p.limit() != 0) {
            let d = self.need("pids", "pids.limit")?;
            fs::set(d, "pids.max", &convert::pids_max(p.limit()), "pids.limit")?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| resources::blkio_requested(b)) {
            blkio(self.need("blkio", "blockIO")?, b)?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            match (self.dir("hugetlb"), self.unified_for("hugetlb")) {
                (Some(d), _) => hugetlb(d, h)?,
                (None, Some(u)) => u.set_hugetlb(h)?,
                (None, None) => return Err(Error::missing("hugetlb", "hugepageLimits")),
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let d = self.need("net_cls", "network.classID")?;
                fs::set(d, "net_cls.classid", &id.to_string(), "network.classID")?;
            }
            for p in n.priorities().iter().flatten() {
                let d = self.need("net_prio", "network.priorities")?;
                fs::set(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                    "network.priorities",
                )?;
            }
        }
        if let Some(rd) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            match (self.dir("rdma"), self.unified_for("rdma")) {
                (Some(d), _) => {
                    let mut devs: Vec<_> = rd.iter().collect();
                    devs.sort_by(|a, b| a.0.cmp(b.0));
                    for (dev, x) in devs {
                        fs::set(d, "rdma.max", &v2::rdma_line(dev, x), "rdma")?;
                    }
                }
                (None, Some(u)) => u.set_rdma(rd)?,
                (None, None) => return Err(Error::missing("rdma", "rdma")),
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            // validate() made sure we are hybrid and the controllers live there
            if let Some(uni) = &self.unified {
                uni.set_unified(u)?;
            }
        }
        Ok(())
    }

    fn freezer(&self) -> Option<&Path> {
        self.dir("freezer")
    }

    fn set_freezer(&self, dir: &Path, frozen: bool) -> Result<()> {
        let (want, other) = if frozen { ("FROZEN", "THAWED") } else { ("THAWED", "FROZEN") };
        let state = dir.join("freezer.state");
        let start = Instant::now();
        let mut delay = Duration::from_micros(50);
        loop {
            // Writing FROZEN again retries tasks that could not be frozen yet.
            fs::write(&state, want)?;
            let now = fs::read(&state)?;
            if now.trim() == want {
                return Ok(());
            }
            if start.elapsed() > v2::WAIT {
                if frozen {
                    let _ = fs::write_raw(&state, other);
                }
                return Err(Error::FreezeTimeout {
                    path: dir.to_owned(),
                    wanted: if frozen { "frozen" } else { "thawed" },
                    last: now.trim().to_owned(),
                    timeout_ms: v2::WAIT.as_millis() as u64,
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
        }
    }

    fn all_procs(&self) -> Result<Vec<i32>> {
        let mut v = Vec::new();
        for d in &self.dirs {
            fs::procs_recursive(&d.dir, &mut v)?;
        }
        if let Some(u) = &self.unified {
            v.extend(u.procs()?);
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }
}

/// Copies cpuset.cpus and cpuset.mems from the parent into every level below the mount that
/// has them empty: a v1 cpuset starts empty and refuses tasks until both are set.
fn init_cpuset(mount: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Ok(());
    };
    let mut parent = mount.to_path_buf();
    for comp in rel.components() {
        let cur = parent.join(comp);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = cur.join(f);
            if fs::read(&mine)?.trim().is_empty() {
                let theirs = fs::read(&parent.join(f))?;
                fs::write(&mine, theirs.trim())?;
            }
        }
        parent = cur;
    }
    Ok(())
}

fn memory(d: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().filter(|v| *v != 0);
    let mut swap = m.swap().filter(|v| *v != 0);
    // runc: unlimited memory without a swap setting means unlimited swap too.
    if limit == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    if let Some(s) = swap
        && !d.join("memory.memsw.limit_in_bytes").exists() {
            if s == -1 {
                swap = None; // no swap accounting: nothing to lift
            } else {
                return Err(Error::missing(
                    "memory (swap accounting, memory.memsw.limit_in_bytes)",
                    "memory.swap",
                ));
            }
        }
    if let Some(l) = limit
        && l > 0 && m.check_before_update() == Some(true) {
            let usage = fs::read_u64(&d.join("memory.usage_in_bytes"))?;
            if usage > l as u64 {
                return Err(Error::MemoryBelowUsage {
                    limit: l,
                    usage,
                    path: d.to_owned(),
                });
            }
        }
    let set_limit = |l: i64| -> Result<()> {
        let v = convert::memory_v1("memory.limit", l)?;
        match fs::set(d, "memory.limit_in_bytes", &v, "memory.limit") {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // The kernel could not reclaim down to the new limit.
                let usage = fs::read_u64(&d.join("memory.usage_in_bytes"))?;
                Err(Error::MemoryBelowUsage {
                    limit: l,
                    usage,
                    path: d.to_owned(),
                })
            }
            r => r,
        }
    };
    let set_swap = |s: i64| -> Result<()> {
        let v = convert::memory_v1("memory.swap", s)?;
        fs::set(d, "memory.memsw.limit_in_bytes", &v, "memory.swap")
    };
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // memsw must stay >= the limit at every step: raise it first, lower it last.
            let current = fs::read_u64(&d.join("memory.limit_in_bytes"))?;
            if s == -1 || l == -1 || (l as u64) > current {
                set_swap(s)?;
                set_limit(l)?;
            } else {
                set_limit(l)?;
                set_swap(s)?;
            }
        }
        (Some(l), None) => set_limit(l)?,
        (None, Some(s)) => set_swap(s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        fs::set(
            d,
            "memory.soft_limit_in_bytes",
            &convert::memory_v1("memory.reservation", r)?,
            "memory.reservation",
        )?;
    }
    #[allow(deprecated)]
    let kernel = m.kernel();
    for (file, field, v) in [
        ("memory.kmem.limit_in_bytes", "memory.kernel", kernel),
        ("memory.kmem.tcp.limit_in_bytes", "memory.kernelTCP", m.kernel_tcp()),
    ] {
        if let Some(v) = v {
            if !d.join(file).exists() {
                return Err(Error::unsupported(format!(
                    "linux.resources.{field}: this kernel has no {file}"
                )));
            }
            fs::set(d, file, &convert::memory_v1(field, v)?, field)?;
        }
    }
    if let Some(s) = m.swappiness() {
        fs::set(d, "memory.swappiness", &s.to_string(), "memory.swappiness")?;
    }
    if let Some(b) = m.disable_oom_killer() {
        fs::set(d, "memory.oom_control", if b { "1" } else { "0" }, "memory.disableOOMKiller")?;
    }
    if let Some(b) = m.use_hierarchy() {
        fs::set(d, "memory.use_hierarchy", if b { "1" } else { "0" }, "memory.useHierarchy")?;
    }
    Ok(())
}

fn cpu(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        fs::set(d, "cpu.shares", &s.to_string(), "cpu.shares")?;
        let got = fs::read_u64(&d.join("cpu.shares"))?;
        if got != s {
            return Err(Error::invalid(
                "cpu.shares",
                format!("{s} is out of range: the kernel set {got} (allowed 2..=262144)"),
            ));
        }
    }
    let period = c.period().filter(|p| *p != 0);
    let quota = c.quota().filter(|q| *q != 0);
    let mut quota_done = false;
    if let Some(p) = period
        && let Err(e) = fs::set(d, "cpu.cfs_period_us", &p.to_string(), "cpu.period") {
            // The current quota may not fit the new period; set the quota first.
            match quota {
                Some(q) if e.raw_os_error() == Some(libc::EINVAL) => {
                    fs::set(d, "cpu.cfs_quota_us", &q.to_string(), "cpu.quota")?;
                    quota_done = true;
                    fs::set(d, "cpu.cfs_period_us", &p.to_string(), "cpu.period")?;
                }
                _ => return Err(e),
            }
        }
    if let (Some(q), false) = (quota, quota_done) {
        fs::set(d, "cpu.cfs_quota_us", &q.to_string(), "cpu.quota")?;
    }
    if let Some(b) = c.burst() {
        if !d.join("cpu.cfs_burst_us").exists() {
            return Err(Error::unsupported("linux.resources.cpu.burst: this kernel has no cpu.cfs_burst_us"));
        }
        fs::set(d, "cpu.cfs_burst_us", &b.to_string(), "cpu.burst")?;
    }
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fs::set(d, "cpu.rt_period_us", &p.to_string(), "cpu.realtimePeriod")?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fs::set(d, "cpu.rt_runtime_us", &r.to_string(), "cpu.realtimeRuntime")?;
    }
    if let Some(i) = c.idle() {
        fs::set(d, "cpu.idle", &i.to_string(), "cpu.idle")?;
    }
    Ok(())
}

fn cpuset(d: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
        fs::set(d, "cpuset.cpus", s, "cpu.cpus")?;
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
        fs::set(d, "cpuset.mems", s, "cpu.mems")?;
    }
    Ok(())
}

fn blkio(d: &Path, b: &LinuxBlockIo) -> Result<()> {
    // CFQ (gone since Linux 5.0) had blkio.weight; BFQ has blkio.bfq.weight.
    let weight_files = || -> Result<(&'static str, &'static str)> {
        if d.join("blkio.weight").exists() {
            Ok(("blkio.weight", "blkio.weight_device"))
        } else if d.join("blkio.bfq.weight").exists() {
            Ok(("blkio.bfq.weight", "blkio.bfq.weight_device"))
        } else {
            Err(Error::unsupported(
                "linux.resources.blockIO weights: neither blkio.weight nor blkio.bfq.weight exists (needs the CFQ or BFQ I/O scheduler)",
            ))
        }
    };
    let leaf = |file: &str| -> Result<()> {
        if d.join(file).exists() {
            Ok(())
        } else {
            Err(Error::unsupported(format!(
                "linux.resources.blockIO leafWeight: this kernel has no {file} (CFQ only)"
            )))
        }
    };
    if let Some(w) = b.weight() {
        let (f, _) = weight_files()?;
        fs::set(d, f, &w.to_string(), "blockIO.weight")?;
    }
    if let Some(w) = b.leaf_weight() {
        leaf("blkio.leaf_weight")?;
        fs::set(d, "blkio.leaf_weight", &w.to_string(), "blockIO.leafWeight")?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let (_, f) = weight_files()?;
            fs::set(d, f, &format!("{}:{} {w}", wd.major(), wd.minor()), "blockIO.weightDevice")?;
        }
        if let Some(w) = wd.leaf_weight() {
            leaf("blkio.leaf_weight_device")?;
            fs::set(
                d,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
                "blockIO.weightDevice",
            )?;
        }
    }
    for (file, field, list) in [
        ("blkio.throttle.read_bps_device", "blockIO.throttleReadBpsDevice", b.throttle_read_bps_device()),
        ("blkio.throttle.write_bps_device", "blockIO.throttleWriteBpsDevice", b.throttle_write_bps_device()),
        ("blkio.throttle.read_iops_device", "blockIO.throttleReadIOPSDevice", b.throttle_read_iops_device()),
        ("blkio.throttle.write_iops_device", "blockIO.throttleWriteIOPSDevice", b.throttle_write_iops_device()),
    ] {
        for t in list.iter().flatten() {
            fs::set(d, file, &format!("{}:{} {}", t.major(), t.minor(), t.rate()), field)?;
        }
    }
    Ok(())
}

fn hugetlb(d: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        let file = format!("hugetlb.{size}.limit_in_bytes");
        if !d.join(&file).exists() {
            return Err(Error::missing("hugetlb", format!("hugepageLimits ({file})")));
        }
        let v = convert::memory_v1("hugepageLimits.limit", l.limit())?;
        fs::set(d, &file, &v, "hugepageLimits")?;
        let rsvd = format!("hugetlb.{size}.rsvd.limit_in_bytes");
        if d.join(&rsvd).exists() {
            fs::set(d, &rsvd, &v, "hugepageLimits")?;
        }
    }
    Ok(())
}

/// USER_HZ, for cpuacct.stat.
fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

fn list_u64(s: &str) -> Vec<u64> {
    s.split_whitespace().filter_map(|x| x.parse().ok()).collect()
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<()> {
        for d in &self.dirs {
            fs::mkdir_below(&d.mount, &d.dir)?;
            fs::ensure_cgroupfs(&d.dir)?;
            if d.controllers.iter().any(|c| c == "cpuset") {
                init_cpuset(&d.mount, &d.dir)?;
            }
        }
        if let Some(u) = &self.unified {
            u.create_dir()?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        let pid_s = pid.to_string();
        for d in &self.dirs {
            fs::write(&d.dir.join("cgroup.procs"), &pid_s)?;
        }
        if let Some(u) = &self.unified {
            u.add_pid(pid)?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources, devices: &DeviceRules) -> Result<()> {
        self.validate(r)?;
        // The v1 devices controller needs CAP_SYS_ADMIN; a rootless container reaches only
        // the devices its user may open anyway (as in runc).
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
                "device rules for a rootless container (the devices controller needs CAP_SYS_ADMIN)",
            ));
        }
        let d = self.need("devices", "devices")?;
        let state = devices.emulate();
        // Reset to the default first (this clears every exception), then the exceptions.
        let (reset, add) = if state.default_allow {
            ("devices.allow", "devices.deny")
        } else {
            ("devices.deny", "devices.allow")
        };
        fs::set(d, reset, "a", "devices")?;
        for e in &state.exceptions {
            fs::set(d, add, &e.to_v1_string(), "devices")?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.all_procs()
    }

    fn freeze(&self) -> Result<()> {
        match (self.freezer(), &self.unified) {
            (Some(d), _) => self.set_freezer(d, true),
            (None, Some(u)) => u.do_freeze(true),
            (None, None) => Err(Error::missing("freezer", "(pause)")),
        }
    }

    fn thaw(&self) -> Result<()> {
        match (self.freezer(), &self.unified) {
            (Some(d), _) => self.set_freezer(d, false),
            (None, Some(u)) => u.do_freeze(false),
            (None, None) => Err(Error::missing("freezer", "(resume)")),
        }
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        match (self.freezer(), &self.unified) {
            (Some(d), _) => {
                let s = fs::read(&d.join("freezer.state"))?;
                match s.trim() {
                    "THAWED" => Ok(FreezerState::Thawed),
                    "FREEZING" => Ok(FreezerState::Freezing),
                    "FROZEN" => Ok(FreezerState::Frozen),
                    other => Err(Error::Parse {
                        file: d.join("freezer.state").display().to_string(),
                        line: other.to_owned(),
                        reason: "unknown freezer state".into(),
                    }),
                }
            }
            (None, Some(u)) => u.state(),
            (None, None) => Err(Error::missing("freezer", "(state)")),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut st = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            let u = &mut st.cpu.usage;
            u.total = fs::read_u64(&d.join("cpuacct.usage"))?;
            if let Some(s) = fs::read_opt(&d.join("cpuacct.usage_percpu"))? {
                u.percpu = list_u64(&s);
            }
            if let Some(s) = fs::read_opt(&d.join("cpuacct.usage_percpu_sys"))? {
                u.percpu_kernel = list_u64(&s);
            }
            if let Some(s) = fs::read_opt(&d.join("cpuacct.usage_percpu_user"))? {
                u.percpu_user = list_u64(&s);
            }
            match (
                fs::read_u64_opt(&d.join("cpuacct.usage_sys"))?,
                fs::read_u64_opt(&d.join("cpuacct.usage_user"))?,
            ) {
                (Some(k), Some(us)) => {
                    u.kernel = k;
                    u.user = us;
                }
                _ => {
                    if let Some(s) = fs::read_opt(&d.join("cpuacct.stat"))? {
                        let ns = 1_000_000_000 / clock_ticks();
                        u.user = fs::flat_keyed_get(&s, "user").unwrap_or(0) * ns;
                        u.kernel = fs::flat_keyed_get(&s, "system").unwrap_or(0) * ns;
                    }
                }
            }
        }
        if let Some(d) = self.dir("cpu")
            && let Some(s) = fs::read_opt(&d.join("cpu.stat"))? {
                let t = &mut st.cpu.throttling;
                t.periods = fs::flat_keyed_get(&s, "nr_periods").unwrap_or(0);
                t.throttled_periods = fs::flat_keyed_get(&s, "nr_throttled").unwrap_or(0);
                t.throttled_time = fs::flat_keyed_get(&s, "throttled_time").unwrap_or(0);
            }
        if let Some(d) = self.dir("cpuset") {
            if let Some(s) = fs::read_opt(&d.join("cpuset.effective_cpus"))? {
                st.cpuset.cpus = convert::parse_cpu_list(&s);
            }
            if let Some(s) = fs::read_opt(&d.join("cpuset.effective_mems"))? {
                st.cpuset.mems = convert::parse_cpu_list(&s);
            }
        }
        if let Some(d) = self.dir("memory") {
            let entry = |prefix: &str| -> Result<stats::MemoryEntry> {
                let f = |name: &str| fs::read_u64_opt(&d.join(format!("{prefix}.{name}")));
                Ok(stats::MemoryEntry {
                    limit: f("limit_in_bytes")?.unwrap_or(0),
                    usage: f("usage_in_bytes")?.unwrap_or(0),
                    max: f("max_usage_in_bytes")?.unwrap_or(0),
                    failcnt: f("failcnt")?.unwrap_or(0),
                })
            };
            let m = &mut st.memory;
            m.usage = entry("memory")?;
            m.swap = entry("memory.memsw")?;
            m.kernel = entry("memory.kmem")?;
            m.kernel_tcp = entry("memory.kmem.tcp")?;
            if let Some(s) = fs::read_opt(&d.join("memory.stat"))? {
                m.raw = fs::parse_flat_keyed(&s)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                m.cache = m
                    .raw
                    .get("total_cache")
                    .or_else(|| m.raw.get("cache"))
                    .copied()
                    .unwrap_or(0);
            }
        }
        if let Some(d) = self.dir("pids") {
            st.pids.current = fs::read_u64_opt(&d.join("pids.current"))?.unwrap_or(0);
            st.pids.limit = match fs::read_u64_opt(&d.join("pids.max"))? {
                Some(u64::MAX) | None => 0,
                Some(v) => v,
            };
        }
        if let Some(d) = self.dir("blkio") {
            // CFQ's counters, else BFQ's, else the throttling layer's (which sees all I/O).
            for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
                let bytes = fs::read_opt(&d.join(format!("{prefix}io_service_bytes_recursive")))?
                    .map(|s| stats::parse_blkio_v1(&s))
                    .unwrap_or_default();
                let ops = fs::read_opt(&d.join(format!("{prefix}io_serviced_recursive")))?
                    .map(|s| stats::parse_blkio_v1(&s))
                    .unwrap_or_default();
                if !bytes.is_empty() || !ops.is_empty() || prefix == "blkio.throttle." {
                    st.blkio.io_service_bytes_recursive = bytes;
                    st.blkio.io_serviced_recursive = ops;
                    break;
                }
            }
        }
        if let Some(d) = self.dir("hugetlb") {
            for (name, _) in v2::host_hugepage_sizes() {
                let f = |x: &str| fs::read_u64_opt(&d.join(format!("hugetlb.{name}.{x}")));
                if let Some(usage) = f("usage_in_bytes")? {
                    st.hugetlb.insert(
                        name.clone(),
                        stats::Hugetlb {
                            usage,
                            max: f("max_usage_in_bytes")?.unwrap_or(0),
                            failcnt: f("failcnt")?.unwrap_or(0),
                        },
                    );
                }
            }
        } else if let Some(u) = self.unified_for("hugetlb") {
            u.hugetlb_stats(&mut st)?;
        }
        Ok(st)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let d = self.need("memory", "(oom events)")?;
        let s = fs::read(&d.join("memory.oom_control"))?;
        Ok(fs::flat_keyed_get(&s, "oom_kill").unwrap_or(0))
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        OomWatcher::v1(self.need("memory", "(oom events)")?)
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        let what = self
            .dirs
            .first()
            .map(|d| d.dir.clone())
            .unwrap_or_default();
        if sig == libc::SIGKILL
            && let Some(u) = &self.unified
            && u.cgroup_kill()?
        {
            // Every process was put in the unified cgroup too; once that is empty, one look
            // at the v1 hierarchies (a process may have moved itself) is enough.
            v2::wait_unpopulated(u.dir(), sig)?;
            return v2::wait_empty(&what, sig, || self.all_procs());
        }
        let frozen = self.freeze().is_ok();
        let sent = self.all_procs().and_then(|p| v2::signal_pids(&p, sig));
        if frozen {
            self.thaw()?;
        }
        sent?;
        if sig == libc::SIGKILL {
            v2::wait_empty(&what, sig, || self.all_procs())?;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for d in &self.dirs {
            match fs::remove_cgroup_tree(&d.dir, v2::REMOVE_PATIENCE) {
                Ok(()) => {
                    if let Some(p) = crate::default_parent_of(&self.spec, &d.dir) {
                        fs::remove_if_unused(&p);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(u) = &self.unified
            && let Err(e) = u.remove() {
                first_err.get_or_insert(e);
            }
        first_err.map_or(Ok(()), Err)
    }

    fn mounts(&self) -> Result<Vec<CgroupMount>> {
        let name = |p: &Path| {
            p.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let mut v: Vec<CgroupMount> = self
            .dirs
            .iter()
            .map(|d| {
                let subdir = name(&d.mount);
                let aliases = if d.controllers.len() > 1 {
                    d.controllers.iter().filter(|c| **c != subdir).cloned().collect()
                } else {
                    Vec::new()
                };
                CgroupMount {
                    fstype: "cgroup".into(),
                    data: d.key.clone(),
                    subdir,
                    host_dir: d.dir.clone(),
                    aliases,
                }
            })
            .collect();
        if let Some(u) = &self.unified {
            v.push(u.mount_entry(name(u.mount_point())));
        }
        Ok(v)
    }

    fn spec(&self) -> CgroupSpec {
        self.spec.clone()
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut m: BTreeMap<String, PathBuf> = self.dirs.iter().map(|d| (d.key.clone(), d.dir.clone())).collect();
        if let Some(u) = &self.unified {
            m.insert(UNIFIED_KEY.to_owned(), u.dir().to_owned());
        }
        m
    }

    fn enabled(&self) -> bool {
        true
    }
}
