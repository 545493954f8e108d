//! `berth pause` / `berth unpause`: freeze and thaw every process of
//! containers.

use crate::app::Ctx;
use crate::commands::container::stop::parallel;
use crate::commands::seg;
use crate::flags::{Args, Matches, Spec};

pub static SPEC: Spec = Spec::new(
    "pause",
    "CONTAINER [CONTAINER...]",
    "Pause all processes within one or more containers",
    &[],
    Args::Min(1),
)
.aliases("berth container pause, berth pause");
pub static UNPAUSE_SPEC: Spec = Spec::new(
    "unpause",
    "CONTAINER [CONTAINER...]",
    "Unpause all processes within one or more containers",
    &[],
    Args::Min(1),
)
.aliases("berth container unpause, berth unpause");

pub fn pause(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    parallel(ctx, &m.args, |client, c| {
        client
            .post(&format!("/containers/{}/pause", seg(c)))
            .map_err(Into::into)
    })
}

pub fn unpause(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    parallel(ctx, &m.args, |client, c| {
        client
            .post(&format!("/containers/{}/unpause", seg(c)))
            .map_err(Into::into)
    })
}
