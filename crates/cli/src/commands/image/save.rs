//! `berth save`: images as a tar archive.

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::container::export::save_to;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, v, vs};

static FLAGS: &[Flag] = &[
    vs(
        'o',
        "output",
        "string",
        "Write to a file, instead of STDOUT",
    ),
    v("platform", "string", "Save only the given platform variant").unsupported(),
];

pub static SPEC: Spec = Spec::new(
    "save",
    "[OPTIONS] IMAGE [IMAGE...]",
    "Save one or more images to a tar archive (streamed to STDOUT by default)",
    FLAGS,
    Args::Min(1),
)
.aliases("berth image save, berth save");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let output = m.str("output");
    if output.is_empty() && crate::term::is_tty(crate::term::STDOUT) {
        return Err(StatusError::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut q = Query::new();
    for n in &m.args {
        q = q.add("names", n);
    }
    let resp = ctx.client()?.stream(
        "GET",
        &format!("/images/get{}", q.as_str()),
        &[],
        Body::Empty,
    )?;
    save_to(output, resp)
}
