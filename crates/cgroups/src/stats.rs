//! Resource usage of a container, shaped like the `data` of runc's `events --stats` JSON
//! (runc `types/events.go`), so that tools reading runc's output can read ours.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `{"type": "stats", "id": ..., "data": Stats}` is what `events --stats` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// cpuset configuration.
    pub cpuset: CpuSet,
    /// Memory and swap.
    pub memory: Memory,
    /// Process count.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Huge pages, by page size ("2MB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// CPU usage, nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU in kernel mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU in user mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel mode.
    #[serde(default)]
    pub kernel: u64,
    /// User mode.
    #[serde(default)]
    pub user: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(rename = "throttledPeriods", default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Time throttled, nanoseconds.
    #[serde(rename = "throttledTime", default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// CPU section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// Throttling.
    pub throttling: Throttling,
}

/// cpuset section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSet {
    /// Effective CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// Effective memory nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
}

/// One memory counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// Limit in bytes (`u64::MAX`-ish values mean unlimited, as the kernel reports them).
    pub limit: u64,
    /// Current usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Page cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory + swap (v1 memsw semantics; v2 is converted to match).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// pids section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pids {
    /// Processes and threads in the cgroup.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// pids.max (0 = unlimited).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard", "Total".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// Value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(rename = "ioServiceBytesRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(rename = "ioServicedRecursive", default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Huge pages of one size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Usage in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage in bytes (v1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocation failures at the limit.
    pub failcnt: u64,
}

/// Parses v1 `blkio.*_recursive` text ("8:0 Read 4096" lines, "Total N" skipped).
pub(crate) fn parse_blkio_v1(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let dev = it.next()?;
            let op = it.next()?;
            let v: u64 = it.next()?.parse().ok()?;
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_owned(),
                value: v,
            })
        })
        .collect()
}

/// Parses v2 `io.stat` ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0") into runc's
/// two lists.
pub(crate) fn parse_io_stat(s: &str) -> Blkio {
    let mut b = Blkio::default();
    for l in s.lines() {
        let mut it = l.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(v) = v.parse::<u64>() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut b.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                "dios" => (&mut b.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value: v,
            });
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.throttling.throttled_periods = 2;
        s.memory.usage.usage = 10;
        s.pids.current = 3;
        s.hugetlb.insert("2MB".into(), Hugetlb::default());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpu"]["usage"]["total"], 5);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(v["memory"]["usage"]["usage"], 10);
        assert_eq!(v["memory"]["usage"]["limit"], 0);
        assert!(v["memory"]["kernelTCP"].is_object());
        assert_eq!(v["pids"]["current"], 3);
        assert_eq!(v["hugetlb"]["2MB"]["failcnt"], 0);
        assert!(v["blkio"].as_object().unwrap().is_empty());
    }

    #[test]
    fn blkio_parsers() {
        let v1 = parse_blkio_v1("8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1].op, "Write");
        let v2 = parse_io_stat("254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
        assert_eq!(v2.io_service_bytes_recursive.len(), 3);
        assert_eq!(v2.io_serviced_recursive[1].value, 4);
        assert_eq!(v2.io_serviced_recursive[0].major, 254);
    }
}
