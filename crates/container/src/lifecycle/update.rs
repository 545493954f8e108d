//! `update`: changes the resource limits of a running container.

use oci_spec::runtime::LinuxResources;

use super::{Runtime, bad_status};
use crate::state::Status;
use crate::{Error, Result};

pub fn update(rt: &Runtime, id: &str, r: &LinuxResources) -> Result<()> {
    let (_dir, st, status) = rt.load(id, true)?;
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(bad_status(id, status, "container not running"));
    }
    let cg = berth_cgroups::manager(&st.cgroup)?;
    if !cg.enabled() {
        return Err(Error::Msg(format!("cannot update {id}: it has no cgroup (rootless without delegation)")));
    }
    Ok(cg.update(r)?)
}
