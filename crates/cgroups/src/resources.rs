//! Which controllers a `linux.resources` needs, and the checks done before anything is
//! written (so that bad input changes nothing).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::convert;
use crate::error::{Error, Result};

/// Whether any memory field that writes something is set (0 limit/swap/reservation = unset).
pub(crate) fn memory_requested(m: &LinuxMemory) -> bool {
    #[allow(deprecated)]
    let kernel = m.kernel();
    nonzero(m.limit())
        || nonzero(m.reservation())
        || nonzero(m.swap())
        || kernel.is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.use_hierarchy().is_some()
}

fn nonzero(v: Option<i64>) -> bool {
    v.is_some_and(|v| v != 0)
}

/// Whether a field of the cpu controller (not cpuset) is set.
pub(crate) fn cpu_requested(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|s| s != 0)
        || nonzero(c.quota())
        || c.period().is_some_and(|p| p != 0)
        || c.burst().is_some()
        || nonzero(c.realtime_runtime())
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.idle().is_some()
}

/// Whether cpus or mems is set.
pub(crate) fn cpuset_requested(c: &LinuxCpu) -> bool {
    c.cpus().as_deref().is_some_and(|s| !s.trim().is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Whether a blockIO field is set.
pub(crate) fn blkio_requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
}

/// Host facts the checks need.
pub(crate) struct Checks<'a> {
    /// Directory names under /sys/kernel/mm/hugepages.
    pub hugepage_dirs: &'a [String],
}

/// Checks values that do not depend on the cgroup version.
pub(crate) fn validate_common(r: &LinuxResources, c: &Checks<'_>) -> Result<()> {
    if let Some(m) = r.memory() {
        for (field, v) in [
            ("memory.limit", m.limit()),
            ("memory.reservation", m.reservation()),
            ("memory.swap", m.swap()),
            ("memory.kernelTCP", m.kernel_tcp()),
        ] {
            if let Some(v) = v
                && v < -1 {
                    return Err(Error::invalid(field, format!("{v} is negative (only -1, unlimited, is allowed)")));
                }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap())
            && l > 0 && s > 0 && s < l {
                return Err(Error::invalid(
                    "memory.swap",
                    format!("{s} is below memory.limit {l}: swap is memory + swap"),
                ));
            }
        if let Some(s) = m.swappiness()
            && s > 100 {
                return Err(Error::invalid("memory.swappiness", format!("{s} is not in 0..=100")));
            }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(s) = cpu.cpus() {
            convert::check_cpu_list("cpu.cpus", s)?;
        }
        if let Some(s) = cpu.mems() {
            convert::check_cpu_list("cpu.mems", s)?;
        }
        if let Some(i) = cpu.idle()
            && i != 0 && i != 1 {
                return Err(Error::invalid("cpu.idle", format!("{i} is not 0 or 1")));
            }
        if let Some(q) = cpu.quota()
            && q < -1 {
                return Err(Error::invalid("cpu.quota", format!("{q} is negative (only -1, unlimited, is allowed)")));
            }
    }
    if let Some(b) = r.block_io() {
        for (field, v) in [("blockIO.weight", b.weight()), ("blockIO.leafWeight", b.leaf_weight())] {
            if let Some(w) = v
                && !(1..=1000).contains(&w) {
                    return Err(Error::invalid(field, format!("{w} is not in 1..=1000")));
                }
        }
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            check_dev_numbers(&format!("blockIO.weightDevice[{i}]"), d.major(), d.minor())?;
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, d) in list.iter().flatten().enumerate() {
                check_dev_numbers(&format!("blockIO.{name}[{i}]"), d.major(), d.minor())?;
            }
        }
    }
    for l in r.hugepage_limits().iter().flatten() {
        convert::check_hugepage_size(l.page_size(), c.hugepage_dirs)?;
        if l.limit() < -1 {
            return Err(Error::invalid("hugepageLimits.limit", format!("{} is negative", l.limit())));
        }
    }
    if let Some(n) = r.network() {
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            if p.name().is_empty() || p.name().contains(char::is_whitespace) || p.name().len() > 15 {
                return Err(Error::invalid(
                    format!("network.priorities[{i}].name"),
                    format!("{:?} is not an interface name", p.name()),
                ));
            }
        }
    }
    for dev in r.rdma().iter().flat_map(|m| m.keys()) {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::invalid("rdma", format!("{dev:?} is not an RDMA device name")));
        }
    }
    for key in r.unified().iter().flat_map(|u| u.keys()) {
        convert::check_unified_key(key)?;
    }
    for (key, value) in r.unified().iter().flatten() {
        if value.contains('\0') {
            return Err(Error::invalid(format!("unified[{key:?}]"), "the value contains a NUL byte"));
        }
    }
    Ok(())
}

fn check_dev_numbers(field: &str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 || major > u32::MAX as i64 || minor > u32::MAX as i64 {
        return Err(Error::invalid(field, format!("{major}:{minor} is not a device")));
    }
    Ok(())
}

/// Names of /sys/kernel/mm/hugepages entries ("hugepages-2048kB"), read only when needed.
pub(crate) fn hugepage_dirs(r: &LinuxResources) -> Vec<String> {
    if r.hugepage_limits().as_ref().is_none_or(|v| v.is_empty()) {
        return Vec::new();
    }
    std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};
    use std::collections::HashMap;

    fn checks() -> Checks<'static> {
        Checks { hugepage_dirs: &[] }
    }

    #[test]
    fn unset_and_zero_fields_request_nothing() {
        let m = LinuxMemoryBuilder::default().limit(0).build().unwrap();
        assert!(!memory_requested(&m));
        let m = LinuxMemoryBuilder::default().limit(64 << 20).build().unwrap();
        assert!(memory_requested(&m));
        let c = LinuxCpuBuilder::default().cpus("").build().unwrap();
        assert!(!cpuset_requested(&c) && !cpu_requested(&c));
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: Vec<(LinuxResources, &str)> = vec![
            (
                LinuxResourcesBuilder::default()
                    .memory(LinuxMemoryBuilder::default().limit(-5).build().unwrap())
                    .build()
                    .unwrap(),
                "memory.limit",
            ),
            (
                LinuxResourcesBuilder::default()
                    .memory(LinuxMemoryBuilder::default().limit(100).swap(50).build().unwrap())
                    .build()
                    .unwrap(),
                "memory.swap",
            ),
            (
                LinuxResourcesBuilder::default()
                    .memory(LinuxMemoryBuilder::default().swappiness(101u64).build().unwrap())
                    .build()
                    .unwrap(),
                "memory.swappiness",
            ),
            (
                LinuxResourcesBuilder::default()
                    .cpu(LinuxCpuBuilder::default().cpus("0-x").build().unwrap())
                    .build()
                    .unwrap(),
                "cpu.cpus",
            ),
            (
                LinuxResourcesBuilder::default()
                    .cpu(LinuxCpuBuilder::default().idle(5).build().unwrap())
                    .build()
                    .unwrap(),
                "cpu.idle",
            ),
            (
                LinuxResourcesBuilder::default()
                    .unified(HashMap::from([("../memory.max".to_string(), "1".to_string())]))
                    .build()
                    .unwrap(),
                "unified",
            ),
        ];
        for (r, field) in cases {
            let e = validate_common(&r, &checks()).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
