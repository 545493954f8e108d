//! `berth import`: an image from a root filesystem tarball.

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, ls, v, vs};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    ls(
        'c',
        "change",
        "Apply Dockerfile instruction to the created image",
    ),
    vs(
        'm',
        "message",
        "string",
        "Set commit message for imported image",
    ),
    v(
        "platform",
        "string",
        "Set platform if server is multi-platform capable",
    ),
];

pub static SPEC: Spec = Spec::new(
    "import",
    "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    "Import the contents from a tarball to create a filesystem image",
    FLAGS,
    Args::Range(1, 2),
)
.aliases("berth image import, berth import");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let src = &m.args[0];
    let is_url = src.starts_with("http://") || src.starts_with("https://");
    let mut q = Query::new();
    for c in m.list("change") {
        q = q.add("changes", c);
    }
    q = q
        .add("fromSrc", if is_url { src } else { "-" })
        .add_if(!m.str("message").is_empty(), "message", m.str("message"))
        .add_if(!m.str("platform").is_empty(), "platform", m.str("platform"));
    if let Some(r) = m.args.get(1) {
        // checked here, sent as typed (as docker's client does)
        Reference::parse(r).map_err(|e| StatusError::new(1, e.to_string()))?;
        q = q.add("repo", r);
    }
    let client = ctx.client()?;
    let path = format!("/images/create{}", q.as_str());
    let resp = if is_url {
        client.stream("POST", &path, &[], Body::Empty)?
    } else if src == "-" {
        let mut stdin = std::io::stdin().lock();
        client.stream(
            "POST",
            &path,
            &[],
            Body::Stream(&mut stdin, "application/x-tar"),
        )?
    } else {
        let mut f = std::fs::File::open(src).map_err(|e| {
            StatusError::new(1, format!("open {src}: {}", crate::opts::kv::io_text(&e)))
        })?;
        client.stream(
            "POST",
            &path,
            &[],
            Body::Stream(&mut f, "application/x-tar"),
        )?
    };
    crate::commands::image::show_progress(resp, false)?;
    Ok(())
}
