//! `berth restart`: stop (signal, then SIGKILL after the timeout) and start.

use crate::app::Ctx;
use crate::commands::container::stop::stop_query;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Kind, Matches, Spec, vs};

static FLAGS: &[Flag] = &[
    vs('s', "signal", "string", "Signal to send to the container"),
    Flag::new(
        "timeout",
        Some('t'),
        Kind::Value,
        "int",
        "Seconds to wait before killing the container",
    ),
    Flag::new(
        "time",
        None,
        Kind::Value,
        "int",
        "Seconds to wait before killing the container (deprecated: use --timeout)",
    )
    .hidden(),
];

pub static SPEC: Spec = Spec::new(
    "restart",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Restart one or more containers",
    FLAGS,
    Args::Min(1),
)
.aliases("berth container restart, berth restart");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let q = stop_query(m)?;
    let client = ctx.client()?;
    let mut errs = Vec::new();
    for c in &m.args {
        match client.post(&format!("/containers/{}/restart{q}", seg(c))) {
            Ok(()) => crate::commands::println(c)?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}
