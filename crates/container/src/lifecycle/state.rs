//! `state`: the OCI state JSON of one container.

use super::{Runtime, state_json};
use crate::Result;

pub fn state(rt: &Runtime, id: &str) -> Result<serde_json::Value> {
    let dir = rt.root.open(id, false)?;
    let st = dir.load()?;
    let status = dir.status(st.as_ref());
    Ok(match st {
        Some(st) => state_json(&st, status),
        None => serde_json::json!({ "ociVersion": crate::OCI_VERSION, "id": id, "pid": 0, "status": "creating", "bundle": "" }),
    })
}
