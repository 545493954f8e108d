//! `berth image inspect`.

use crate::app::Ctx;
use crate::commands::inspect::show;
use crate::commands::seg;
use crate::flags::{Args, Flag, Matches, Spec, v, vs};

static FLAGS: &[Flag] = &[
    vs(
        'f',
        "format",
        "string",
        "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
    ),
    v(
        "platform",
        "string",
        "Inspect a specific platform of the multi-platform image",
    )
    .unsupported(),
];

pub static SPEC: Spec = Spec::new(
    "image inspect",
    "[OPTIONS] IMAGE [IMAGE...]",
    "Display detailed information on one or more images",
    FLAGS,
    Args::Min(1),
);

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    show(&m.args, m.str("format"), |r| {
        Ok(client.call(
            "GET",
            &format!("/images/{}/json", seg(r)),
            crate::client::Body::Empty,
        )?)
    })
}
