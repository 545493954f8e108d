//! `berth load`: images from a tar archive (file or stdin).

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs, v, vs};

static FLAGS: &[Flag] = &[
    vs(
        'i',
        "input",
        "string",
        "Read from tar archive file, instead of STDIN",
    ),
    v("platform", "string", "Load only the given platform variant").unsupported(),
    bs('q', "quiet", "Suppress the load output"),
];

pub static SPEC: Spec = Spec::new(
    "load",
    "[OPTIONS]",
    "Load an image from a tar archive or STDIN",
    FLAGS,
    Args::None,
)
.aliases("berth image load, berth load");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let input = m.str("input");
    if input.is_empty() && crate::term::is_tty(crate::term::STDIN) {
        return Err(StatusError::new(
            1,
            "requested load from stdin, but stdin is empty",
        ));
    }
    let quiet = m.bool("quiet") || !crate::term::is_tty(crate::term::STDOUT);
    let q = Query::new().add_if(quiet, "quiet", "1");
    let client = ctx.client()?;
    let path = format!("/images/load{}", q.as_str());
    let resp = if input.is_empty() {
        let mut stdin = std::io::stdin().lock();
        client.stream(
            "POST",
            &path,
            &[],
            Body::Stream(&mut stdin, "application/x-tar"),
        )?
    } else {
        let mut f = std::fs::File::open(input).map_err(|e| {
            StatusError::new(1, format!("open {input}: {}", crate::opts::kv::io_text(&e)))
        })?;
        client.stream(
            "POST",
            &path,
            &[],
            Body::Stream(&mut f, "application/x-tar"),
        )?
    };
    if resp
        .header("Content-Type")
        .is_some_and(|t| t.contains("json"))
    {
        crate::commands::image::show_progress(resp, false)?;
    } else {
        let mut r = resp;
        std::io::copy(&mut r, &mut std::io::stdout().lock())?;
    }
    Ok(())
}
