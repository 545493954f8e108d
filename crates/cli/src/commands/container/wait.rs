//! `berth wait`: block until containers stop, print their exit codes.

use berth_docker_types::container::ContainerWaitResponse;

use crate::app::Ctx;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Matches, Spec};

pub static SPEC: Spec = Spec::new(
    "wait",
    "CONTAINER [CONTAINER...]",
    "Block until one or more containers stop, then print their exit codes",
    &[],
    Args::Min(1),
)
.aliases("berth container wait, berth wait");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mut errs = Vec::new();
    for c in &m.args {
        // a connection of its own: the answer comes when the container stops
        let pending = client.begin("POST", &format!("/containers/{}/wait", seg(c)))?;
        match client
            .finish(pending)
            .and_then(|b| crate::client::decode::<ContainerWaitResponse>("wait", &b))
        {
            Ok(r) => crate::commands::println(&r.status_code.to_string())?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}
