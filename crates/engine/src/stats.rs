//! `docker stats` (from the container's cgroup via berth-cgroups, network
//! counters from its namespace's `/proc/<pid>/net/dev`) and `docker top`
//! (host `ps`, filtered to the container's pids as docker does).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::engine::{Container, Inner};
use crate::error::{Error, Result};
use crate::model::{CpuSample, NetSample, StatsSample, Top};

/// The cgroup the container's spec put it in (`--cgroup-parent` included).
/// `default_parent` is the daemon's (`EngineConfig::cgroup_parent`).
pub(crate) fn cgroup(default_parent: &str, id: &str, cgroup_parent: Option<&str>) -> Result<Box<dyn berth_cgroups::CgroupManager>> {
    let path = crate::oci::cgroups_path(cgroup_parent, default_parent, id);
    let spec = berth_cgroups::CgroupSpec { cgroups_path: Some(PathBuf::from(path)), ..berth_cgroups::CgroupSpec::new(id) };
    berth_cgroups::manager(&spec).map_err(|e| Error::Cgroups { id: id.to_owned(), source: Box::new(e) })
}

/// Host CPU time in nanoseconds (sum of /proc/stat's first line, in ticks).
fn system_cpu_usage() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text.lines().next().map(|l| l.split_whitespace().skip(1).take(7).filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

/// Parses `/proc/<pid>/net/dev`.
pub(crate) fn parse_net_dev(text: &str) -> BTreeMap<String, NetSample> {
    let mut out = BTreeMap::new();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else { continue };
        let v: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if v.len() < 16 {
            continue;
        }
        let name = name.trim().to_owned();
        if name == "lo" {
            continue;
        }
        out.insert(
            name,
            NetSample { rx_bytes: v[0], rx_packets: v[1], rx_errors: v[2], rx_dropped: v[3], tx_bytes: v[8], tx_packets: v[9], tx_errors: v[10], tx_dropped: v[11] },
        );
    }
    out
}

fn sample(default_parent: &str, c: &Container) -> Result<StatsSample> {
    let rec = c.snapshot();
    let mut s = StatsSample { id: rec.id.clone(), name: format!("/{}", rec.name), read: crate::time::now_nanos(), ..Default::default() };
    if !rec.state.running {
        return Ok(s);
    }
    let st = cgroup(default_parent, &rec.id, rec.spec.cgroup_parent.as_deref())?.stats().map_err(|e| Error::Cgroups { id: rec.id.clone(), source: Box::new(e) })?;
    s.cpu = CpuSample {
        total_usage: st.cpu.usage.total,
        percpu_usage: st.cpu.usage.percpu.clone(),
        usage_in_kernelmode: st.cpu.usage.kernel,
        usage_in_usermode: st.cpu.usage.user,
        system_cpu_usage: system_cpu_usage(),
        online_cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        throttling_periods: st.cpu.throttling.periods,
        throttled_periods: st.cpu.throttling.throttled_periods,
        throttled_time: st.cpu.throttling.throttled_time,
    };
    s.memory_usage = st.memory.usage.usage;
    s.memory_max_usage = st.memory.usage.max;
    let host_mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .unwrap_or(0)
        * 1024;
    s.memory_limit = if st.memory.usage.limit == 0 || st.memory.usage.limit > host_mem { host_mem } else { st.memory.usage.limit };
    s.memory_stats = st.memory.raw.clone();
    s.pids_current = st.pids.current;
    s.pids_limit = st.pids.limit;
    s.blkio_io_service_bytes = st.blkio.io_service_bytes_recursive.iter().map(|e| (e.major, e.minor, e.op.clone(), e.value)).collect();
    s.blkio_io_serviced = st.blkio.io_serviced_recursive.iter().map(|e| (e.major, e.minor, e.op.clone(), e.value)).collect();
    if rec.state.pid > 0 && rec.network.mode != "host" {
        s.networks = parse_net_dev(&std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid)).unwrap_or_default());
    }
    Ok(s)
}

pub(crate) async fn stats(inner: &Arc<Inner>, id: &str, stream: bool, one_shot: bool) -> Result<mpsc::Receiver<Result<StatsSample>>> {
    let c = inner.lookup(id)?;
    let (tx, rx) = mpsc::channel(4);
    let mut shutdown = inner.shutdown.subscribe();
    let default_parent = inner.config.cgroup_parent.clone();
    let first = sample(&default_parent, &c)?;
    tokio::spawn(async move {
        let mut prev = first;
        if !stream && one_shot {
            let _ = tx.send(Ok(prev)).await;
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
                _ = shutdown.wait_for(|v| *v) => return,
            }
            let mut s = match sample(&default_parent, &c) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            s.preread = prev.read;
            s.precpu = prev.cpu.clone();
            if tx.send(Ok(s.clone())).await.is_err() || !stream {
                return;
            }
            prev = s;
            if !c.rec().state.running {
                return;
            }
        }
    });
    Ok(rx)
}

/// docker's `top`: runs `ps <args>` on the host and keeps the rows whose
/// PID column is one of the container's processes.
pub(crate) async fn top(inner: &Arc<Inner>, id: &str, ps_args: Option<&str>) -> Result<Top> {
    let c = inner.lookup(id)?;
    if !c.rec().state.running {
        return Err(Error::Conflict(format!("container {} is not running", c.id)));
    }
    let parent = c.rec().spec.cgroup_parent.clone();
    let pids: Vec<i32> = cgroup(&inner.config.cgroup_parent, &c.id, parent.as_deref())?.pids().map_err(|e| Error::Cgroups { id: c.id.clone(), source: Box::new(e) })?;
    let args: Vec<String> = ps_args.filter(|a| !a.is_empty()).unwrap_or("-ef").split_whitespace().map(str::to_owned).collect();
    let out = tokio::process::Command::new("ps").args(&args).output().await.map_err(|e| Error::Internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::invalid(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

pub(crate) fn parse_ps(text: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for l in lines {
        if l.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        // the last column takes the rest of the line (the command)
        let mut row: Vec<String> = fields.iter().take(titles.len() - 1).map(|s| s.to_string()).collect();
        row.push(fields[titles.len().saturating_sub(1).min(fields.len())..].join(" "));
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container_only() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 4242 4200 0 10:01 ? 00:00:00 sleep 60 now\n";
        let t = parse_ps(text, &[4242]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes, vec![vec!["root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 60 now"]]);
        assert!(parse_ps("A B\n1 2\n", &[]).is_err());
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 100 2 0 0 0 0 0 0 200 3 0 1 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 1);
        assert_eq!(n["eth0"], NetSample { rx_bytes: 100, rx_packets: 2, tx_bytes: 200, tx_packets: 3, tx_dropped: 1, ..Default::default() });
    }
}
