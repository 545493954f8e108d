//! The manager of a rootless container without a delegated cgroup: it has no cgroup.
//!
//! Creating, joining and removing are no-ops (there is nothing to create), and applying
//! resources succeeds only when no resource is asked for; everything that needs a cgroup
//! (limits, freeze, stats, process listing, kill) fails with [`Error::NoCgroup`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use crate::devices::DeviceRules;
use crate::error::{Error, Result};
use crate::oom::OomWatcher;
use crate::resources;
use crate::stats::Stats;
use crate::{CgroupManager, CgroupMount, CgroupSpec, FreezerState};

#[derive(Debug)]
pub(crate) struct NoCgroupManager {
    spec: CgroupSpec,
    reason: String,
}

impl NoCgroupManager {
    pub(crate) fn new(spec: CgroupSpec, reason: String) -> Self {
        NoCgroupManager { spec, reason }
    }

    fn no(&self, operation: &'static str) -> Error {
        Error::NoCgroup {
            id: self.spec.container_id.clone(),
            operation,
            reason: self.reason.clone(),
        }
    }
}

/// Whether `r` asks for anything that would need a cgroup.
fn asks_anything(r: &LinuxResources) -> bool {
    r.memory().as_ref().is_some_and(resources::memory_requested)
        || r.cpu()
            .as_ref()
            .is_some_and(|c| resources::cpu_requested(c) || resources::cpuset_requested(c))
        || r.pids().is_some_and(|p| p.limit() != 0)
        || r.block_io().as_ref().is_some_and(resources::blkio_requested)
        || r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty())
        || r.network()
            .as_ref()
            .is_some_and(|n| n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
        || r.rdma().as_ref().is_some_and(|m| !m.is_empty())
        || r.unified().as_ref().is_some_and(|m| !m.is_empty())
}

impl CgroupManager for NoCgroupManager {
    fn create(&self) -> Result<()> {
        Ok(())
    }

    fn add_process(&self, _pid: i32) -> Result<()> {
        Ok(())
    }

    fn apply(&self, r: &LinuxResources, _devices: &DeviceRules) -> Result<()> {
        // Device rules cannot be enforced without a cgroup either; a rootless container
        // can only reach devices its user may open anyway.
        if asks_anything(r) {
            return Err(self.no("apply linux.resources"));
        }
        Ok(())
    }

    fn update(&self, r: &LinuxResources) -> Result<()> {
        if asks_anything(r) {
            return Err(self.no("update linux.resources"));
        }
        Ok(())
    }

    fn apply_devices(&self, _devices: &DeviceRules) -> Result<()> {
        Err(self.no("apply device rules"))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        Err(self.no("list processes"))
    }

    fn freeze(&self) -> Result<()> {
        Err(self.no("freeze"))
    }

    fn thaw(&self) -> Result<()> {
        Err(self.no("thaw"))
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        Err(self.no("read the freezer state"))
    }

    fn stats(&self) -> Result<Stats> {
        Err(self.no("read stats"))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        Err(self.no("count oom kills"))
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        Err(self.no("watch for oom"))
    }

    fn kill_all(&self, _sig: i32) -> Result<()> {
        Err(self.no("kill every process"))
    }

    fn destroy(&self) -> Result<()> {
        Ok(())
    }

    fn mounts(&self) -> Result<Vec<CgroupMount>> {
        Err(self.no("mount its cgroup"))
    }

    fn spec(&self) -> CgroupSpec {
        self.spec.clone()
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::new()
    }

    fn enabled(&self) -> bool {
        false
    }
}
