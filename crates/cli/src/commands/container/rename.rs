//! `berth rename`.

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Matches, Spec};

pub static SPEC: Spec = Spec::new(
    "rename",
    "CONTAINER NEW_NAME",
    "Rename a container",
    &[],
    Args::Exact(2),
)
.aliases("berth container rename, berth rename");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let (old, new) = (m.args[0].trim(), m.args[1].trim());
    if old.is_empty() || new.is_empty() {
        return Err(StatusError::new(
            1,
            "Error: Neither old nor new names may be empty",
        ));
    }
    let client = ctx.client()?;
    if let Err(e) = client.post(&format!(
        "/containers/{}/rename{}",
        seg(old),
        Query::new().add("name", new).as_str()
    )) {
        crate::commands::eprintln(&e.to_string());
        return Err(StatusError::new(
            1,
            format!("Error: failed to rename container named {old}"),
        ));
    }
    Ok(())
}
