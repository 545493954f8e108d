//! Conversions between OCI values (cgroup v1 units) and cgroup v2 files, and the input checks
//! shared by both versions. Pure functions.

use crate::error::{Error, Result};

/// cpu.shares → cpu.weight, crun's linear formula (crun.1.md, "CGROUP v2"):
/// `weight = 1 + ((shares - 2) * 9999) / 262142`, mapping [2, 262144] onto [1, 10000].
/// Shares outside that range are clamped first; 0 means "not set".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight → io.weight when io.bfq.weight is not there (crun, runc):
/// `1 + (weight - 10) * 9999 / 990`, mapping [10, 1000] onto [1, 10000].
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// The v1 swap value (memory + swap, or -1) → memory.swap.max (swap only), as runc and crun
/// do: `swap - limit`. Returns `None` when there is nothing to write.
///
/// * swap 0 (unset): nothing, except when the memory limit is -1, where swap goes unlimited
///   too ("set both to unlimited" in v1 terms).
/// * swap -1: "max".
/// * otherwise the memory limit must be set (> 0) and not above swap.
pub fn swap_to_v2(swap: i64, limit: i64) -> Result<Option<String>> {
    if swap == 0 {
        return Ok((limit == -1).then(|| "max".to_owned()));
    }
    if swap == -1 {
        return Ok(Some("max".to_owned()));
    }
    if swap < -1 {
        return Err(Error::invalid("memory.swap", format!("{swap} is negative (only -1, unlimited, is allowed)")));
    }
    if limit <= 0 {
        return Err(Error::invalid(
            "memory.swap",
            "a swap limit needs memory.limit to be set: in OCI (v1) terms swap is memory + swap",
        ));
    }
    if swap < limit {
        return Err(Error::invalid(
            "memory.swap",
            format!("{swap} is below memory.limit {limit}: in OCI (v1) terms swap is memory + swap"),
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

/// A memory limit (-1 = unlimited) as v2 writes it.
pub fn memory_v2(field: &str, v: i64) -> Result<String> {
    match v {
        -1 => Ok("max".into()),
        v if v < 0 => Err(Error::invalid(field, format!("{v} is negative (only -1, unlimited, is allowed)"))),
        v => Ok(v.to_string()),
    }
}

/// A memory limit (-1 = unlimited) as v1 writes it.
pub fn memory_v1(field: &str, v: i64) -> Result<String> {
    match v {
        -1 => Ok("-1".into()),
        v if v < 0 => Err(Error::invalid(field, format!("{v} is negative (only -1, unlimited, is allowed)"))),
        v => Ok(v.to_string()),
    }
}

/// pids.limit as pids.max: > 0 is the limit, < 0 unlimited. Callers skip 0, which (as in
/// runc) means "not set": a new cgroup starts unlimited and `update` leaves it alone.
pub fn pids_max(limit: i64) -> String {
    if limit > 0 { limit.to_string() } else { "max".into() }
}

/// cpu.max from quota and period (runc): quota > 0 is the quota, anything else "max"; the
/// period is appended when set. `None` when neither is set.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let q = quota.unwrap_or(0);
    let p = period.unwrap_or(0);
    if q == 0 && p == 0 {
        return None;
    }
    let mut s = if q > 0 { q.to_string() } else { "max".into() };
    if p != 0 {
        s.push(' ');
        s.push_str(&p.to_string());
    }
    Some(s)
}

/// Checks a cpuset list such as `0-3,8,10-11`. The kernel checks the CPUs exist.
pub fn check_cpu_list(field: &str, s: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid(field, format!("{s:?} {why}"));
    let t = s.trim();
    if t.is_empty() {
        return Ok(()); // empty = inherit/unset, as runc
    }
    for part in t.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (part, None),
        };
        let a: u32 = a.parse().map_err(|_| bad("is not a list like \"0-3,8\""))?;
        if let Some(b) = b {
            let b: u32 = b.parse().map_err(|_| bad("is not a list like \"0-3,8\""))?;
            if b < a {
                return Err(bad("has a range that ends before it starts"));
            }
        }
    }
    Ok(())
}

/// Parses a cpuset list into its members (for stats and checks).
pub fn parse_cpu_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// Checks a hugepage size string ("2MB", "1GB", "64KB") against the sizes the host has,
/// given as directory names of /sys/kernel/mm/hugepages ("hugepages-2048kB").
pub fn check_hugepage_size(page_size: &str, host_dirs: &[String]) -> Result<()> {
    let kb = parse_page_size(page_size).ok_or_else(|| {
        Error::invalid(
            "hugepageLimits.pageSize",
            format!("{page_size:?} is not a size like \"2MB\" or \"1GB\""),
        )
    })?;
    let want = format!("hugepages-{kb}kB");
    if host_dirs.iter().any(|d| d == &want) {
        Ok(())
    } else {
        Err(Error::invalid(
            "hugepageLimits.pageSize",
            format!(
                "{page_size:?} is not a huge page size of this host (it has {})",
                host_dirs
                    .iter()
                    .filter_map(|d| d.strip_prefix("hugepages-").and_then(|k| k.strip_suffix("kB")))
                    .filter_map(|k| k.parse::<u64>().ok())
                    .map(page_size_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

fn parse_page_size(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("KB") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix("MB") {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix("GB") {
        (n, 1024 * 1024)
    } else {
        return None;
    };
    let n: u64 = num.parse().ok()?;
    (n > 0).then(|| n * mult)
}

/// kB → the kernel's hugetlb file naming ("2MB", "1GB", "64KB").
pub fn page_size_name(kb: u64) -> String {
    if kb >= 1024 * 1024 && kb.is_multiple_of(1024 * 1024) {
        format!("{}GB", kb / (1024 * 1024))
    } else if kb >= 1024 && kb.is_multiple_of(1024) {
        format!("{}MB", kb / 1024)
    } else {
        format!("{kb}KB")
    }
}

/// A `unified` key must name a file directly in the container's cgroup, and not one that
/// moves or kills processes.
pub fn check_unified_key(key: &str) -> Result<()> {
    let field = format!("unified[{key:?}]");
    if key.is_empty() || key.contains('/') || key.contains('\0') || key == "." || key == ".." {
        return Err(Error::invalid(field, "must be a file name in the container's cgroup"));
    }
    if matches!(key, "cgroup.procs" | "cgroup.threads" | "cgroup.kill") {
        return Err(Error::invalid(
            field,
            "moves or kills processes; it is not a resource setting",
        ));
    }
    if !key.contains('.') {
        return Err(Error::invalid(field, "is not a cgroup v2 interface file (\"<controller>.<name>\")"));
    }
    Ok(())
}

/// The controller a v2 interface file belongs to ("memory.max" → "memory").
pub fn unified_controller(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_is_crun_linear() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 30), 10_000);
    }

    #[test]
    fn blkio_weight_maps_linearly() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion_follows_runc() {
        assert_eq!(swap_to_v2(0, 100).unwrap(), None);
        assert_eq!(swap_to_v2(0, -1).unwrap(), Some("max".into()));
        assert_eq!(swap_to_v2(-1, 100).unwrap(), Some("max".into()));
        assert_eq!(swap_to_v2(300, 100).unwrap(), Some("200".into()));
        assert_eq!(swap_to_v2(100, 100).unwrap(), Some("0".into()));
        let e = swap_to_v2(50, 100).unwrap_err().to_string();
        assert!(e.contains("memory.swap"), "{e}");
        assert!(swap_to_v2(300, 0).is_err());
        assert!(swap_to_v2(300, -1).is_err());
        assert!(swap_to_v2(-5, 100).is_err());
    }

    #[test]
    fn cpu_max_strings() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(cpu_max(Some(0), Some(0)), None);
        assert_eq!(cpu_max(Some(20_000), Some(100_000)).unwrap(), "20000 100000");
        assert_eq!(cpu_max(Some(-1), None).unwrap(), "max");
        assert_eq!(cpu_max(None, Some(50_000)).unwrap(), "max 50000");
        assert_eq!(cpu_max(Some(5000), None).unwrap(), "5000");
    }

    #[test]
    fn memory_values() {
        assert_eq!(memory_v2("memory.limit", -1).unwrap(), "max");
        assert_eq!(memory_v1("memory.limit", -1).unwrap(), "-1");
        assert!(memory_v2("memory.limit", -2).unwrap_err().to_string().contains("memory.limit"));
        assert_eq!(pids_max(32), "32");
        assert_eq!(pids_max(-1), "max");
    }

    #[test]
    fn cpu_lists() {
        check_cpu_list("cpu.cpus", "0-3,8").unwrap();
        check_cpu_list("cpu.cpus", "").unwrap();
        assert!(check_cpu_list("cpu.cpus", "3-1").is_err());
        assert!(check_cpu_list("cpu.cpus", "a").unwrap_err().to_string().contains("cpu.cpus"));
        assert!(check_cpu_list("cpu.cpus", "1,,2").is_err());
        assert_eq!(parse_cpu_list("0-2,5\n"), vec![0, 1, 2, 5]);
    }

    #[test]
    fn hugepage_sizes() {
        let host = vec!["hugepages-2048kB".to_owned(), "hugepages-1048576kB".to_owned()];
        check_hugepage_size("2MB", &host).unwrap();
        check_hugepage_size("1GB", &host).unwrap();
        let e = check_hugepage_size("64KB", &host).unwrap_err().to_string();
        assert!(e.contains("2MB") && e.contains("1GB"), "{e}");
        assert!(check_hugepage_size("2M", &host).is_err());
        assert_eq!(page_size_name(2048), "2MB");
        assert_eq!(page_size_name(64), "64KB");
    }

    #[test]
    fn unified_keys() {
        check_unified_key("memory.high").unwrap();
        for bad in ["", "../memory.max", "a/b", "cgroup.procs", "cgroup.kill", "..", "nodot"] {
            assert!(check_unified_key(bad).is_err(), "{bad}");
        }
        assert_eq!(unified_controller("memory.swap.max"), "memory");
    }
}
