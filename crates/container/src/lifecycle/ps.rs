//! `ps`: the processes of a container, from its cgroup.

use std::process::Command;

use super::Runtime;
use crate::{Error, Result};

/// Pids of every process in the container's cgroup.
pub fn pids(rt: &Runtime, id: &str) -> Result<Vec<i32>> {
    let (_dir, st, _status) = rt.load(id, false)?;
    let cg = berth_cgroups::manager(&st.cgroup)?;
    if !cg.enabled() {
        return Err(Error::Msg(format!("container {id} has no cgroup to list processes from")));
    }
    Ok(cg.pids()?)
}

/// Runs ps(1) with `args` (default `-ef`) and keeps the header and the lines
/// of the container's processes, as runc does.
pub fn table(rt: &Runtime, id: &str, args: &[String]) -> Result<String> {
    let pids = pids(rt, id)?;
    let args: Vec<String> = if args.is_empty() { vec!["-ef".into()] } else { args.to_vec() };
    let out = Command::new("ps").args(&args).output().map_err(|e| Error::Msg(format!("run ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::Msg(format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Msg("ps output has no PID column".into()))?;
    let mut s = String::from(header);
    s.push('\n');
    for l in lines {
        let Some(p) = l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if pids.contains(&p) {
            s.push_str(l);
            s.push('\n');
        }
    }
    Ok(s)
}
