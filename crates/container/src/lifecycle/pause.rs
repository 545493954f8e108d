//! `pause` and `resume`: the cgroup freezer.

use super::{Runtime, bad_status};
use crate::state::Status;
use crate::{Error, Result};

pub fn pause(rt: &Runtime, id: &str) -> Result<()> {
    let (_dir, st, status) = rt.load(id, true)?;
    if !matches!(status, Status::Running | Status::Created) {
        return Err(bad_status(id, status, "container not running"));
    }
    let cg = berth_cgroups::manager(&st.cgroup)?;
    if !cg.enabled() {
        return Err(Error::Msg(format!("cannot pause {id}: it has no cgroup (rootless without delegation)")));
    }
    Ok(cg.freeze()?)
}

pub fn resume(rt: &Runtime, id: &str) -> Result<()> {
    let (_dir, st, status) = rt.load(id, true)?;
    if status != Status::Paused {
        return Err(bad_status(id, status, "container not paused"));
    }
    let cg = berth_cgroups::manager(&st.cgroup)?;
    Ok(cg.thaw()?)
}
