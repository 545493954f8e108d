//! `update`'s resources: a JSON file (`-r FILE`, `-` for stdin) in the
//! shape of `linux.resources`, with the flags layered on top as runc does.

use std::io::Read;

use anyhow::{Context, Result, anyhow};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::UpdateArgs;

/// Parses `64m`, `1g`, `1024`, `-1` (docker's RAMInBytes, binary units).
pub fn parse_size(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size {s:?}"))?;
    if n < 0.0 {
        return Err(anyhow!("invalid size {s:?}"));
    }
    Ok((n * mult as f64) as i64)
}

pub fn resources(a: &UpdateArgs) -> Result<LinuxResources> {
    let mut r: LinuxResources = match &a.resources {
        Some(p) => {
            let mut buf = Vec::new();
            if p.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut buf)?;
            } else {
                buf = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
            }
            berth_container::config::parse_json(&p.display().to_string(), &buf)?
        }
        None => LinuxResources::default(),
    };
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        let mut m = r.memory().clone().unwrap_or_else(LinuxMemory::default);
        if let Some(v) = &a.memory {
            m.set_limit(Some(parse_size(v).context("--memory")?));
        }
        if let Some(v) = &a.memory_reservation {
            m.set_reservation(Some(parse_size(v).context("--memory-reservation")?));
        }
        if let Some(v) = &a.memory_swap {
            m.set_swap(Some(parse_size(v).context("--memory-swap")?));
        }
        r.set_memory(Some(m));
    }
    if a.cpu_period.is_some() || a.cpu_quota.is_some() || a.cpu_rt_period.is_some() || a.cpu_rt_runtime.is_some()
        || a.cpu_share.is_some() || a.cpuset_cpus.is_some() || a.cpuset_mems.is_some()
    {
        let mut c = r.cpu().clone().unwrap_or_else(LinuxCpu::default);
        if let Some(v) = a.cpu_period {
            c.set_period(Some(v));
        }
        if let Some(v) = a.cpu_quota {
            c.set_quota(Some(v));
        }
        if let Some(v) = a.cpu_rt_period {
            c.set_realtime_period(Some(v));
        }
        if let Some(v) = a.cpu_rt_runtime {
            c.set_realtime_runtime(Some(v));
        }
        if let Some(v) = a.cpu_share {
            c.set_shares(Some(v));
        }
        if let Some(v) = &a.cpuset_cpus {
            c.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &a.cpuset_mems {
            c.set_mems(Some(v.clone()));
        }
        r.set_cpu(Some(c));
    }
    if let Some(v) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(v);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_else(LinuxBlockIo::default);
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(super::parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(super::parse_size("1024").unwrap(), 1024);
        assert_eq!(super::parse_size("-1").unwrap(), -1);
        assert!(super::parse_size("abc").is_err());
    }
}
