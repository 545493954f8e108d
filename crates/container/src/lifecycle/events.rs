//! `events`: resource statistics and OOM notifications of a container as a
//! stream of JSON lines, in runc's format.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{Runtime, bad_status};
use crate::state::Status;
use crate::{Error, Result};

/// Writes one event line; `Ok(false)` when the reader has gone away.
fn line(out: &mut dyn Write, v: serde_json::Value) -> Result<bool> {
    match writeln!(out, "{v}").and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Msg(format!("write events: {e}"))),
    }
}

/// Prints statistics once (`--stats`) or streams them every `interval`
/// together with OOM events until the container stops.
pub fn events(rt: &Runtime, id: &str, interval: Duration, stats_once: bool, out: &mut dyn Write) -> Result<()> {
    let (dir, st, status) = rt.load(id, false)?;
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(bad_status(id, status, "container not running"));
    }
    let cg = berth_cgroups::manager(&st.cgroup)?;
    if !cg.enabled() {
        return Err(Error::Msg(format!("container {id} has no cgroup to report on")));
    }
    let stats = |cg: &dyn berth_cgroups::CgroupManager| -> Result<serde_json::Value> {
        Ok(serde_json::json!({ "type": "stats", "id": id, "data": cg.stats()? }))
    };
    if stats_once {
        return line(out, stats(&*cg)?).map(drop);
    }
    let mut watcher = cg.oom_watcher()?;
    let mut next = Instant::now() + interval;
    loop {
        let left = next.saturating_duration_since(Instant::now());
        match watcher.wait(Some(left))? {
            berth_cgroups::OomEvent::Oom(n) => {
                for _ in 0..n {
                    if !line(out, serde_json::json!({ "type": "oom", "id": id }))? {
                        return Ok(());
                    }
                }
            }
            berth_cgroups::OomEvent::Gone => return Ok(()),
            berth_cgroups::OomEvent::None => {}
        }
        if dir.status(Some(&st)) == Status::Stopped {
            return Ok(());
        }
        if Instant::now() >= next {
            if !line(out, stats(&*cg)?)? {
                return Ok(());
            }
            next += interval;
        }
    }
}
