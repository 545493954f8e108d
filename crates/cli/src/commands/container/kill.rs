//! `berth kill`: a signal (SIGKILL by default) to running containers.

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::container::stop::parallel;
use crate::commands::seg;
use crate::flags::{Args, Flag, Matches, Spec, vs};

static FLAGS: &[Flag] = &[vs(
    's',
    "signal",
    "string",
    "Signal to send to the container",
)];

pub static SPEC: Spec = Spec::new(
    "kill",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Kill one or more running containers",
    FLAGS,
    Args::Min(1),
)
.aliases("berth container kill, berth kill");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let sig = m.str("signal");
    let q = Query::new().add_if(!sig.is_empty(), "signal", sig);
    parallel(ctx, &m.args, |client, c| {
        client
            .post(&format!("/containers/{}/kill{}", seg(c), q.as_str()))
            .map_err(Into::into)
    })
}
