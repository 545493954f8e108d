//! `berth container inspect`.

use crate::app::Ctx;
use crate::commands::inspect::show;
use crate::commands::seg;
use crate::flags::{Args, Flag, Matches, Spec, bs, vs};

static FLAGS: &[Flag] = &[
    vs(
        'f',
        "format",
        "string",
        "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
    ),
    bs('s', "size", "Display total file sizes"),
];

pub static SPEC: Spec = Spec::new(
    "container inspect",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Display detailed information on one or more containers",
    FLAGS,
    Args::Min(1),
);

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let q = if m.bool("size") { "?size=1" } else { "" };
    show(&m.args, m.str("format"), |r| {
        Ok(client.call(
            "GET",
            &format!("/containers/{}/json{q}", seg(r)),
            crate::client::Body::Empty,
        )?)
    })
}
