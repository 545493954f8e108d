//! `berth push`: an image to a registry, with per-layer progress.

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::image::{registry_auth, show_progress};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all-tags",
        "Push all tags of an image to the repository",
    ),
    b(
        "disable-content-trust",
        "Skip image signing (berth has no content trust: only true is accepted)",
    )
    .default_value("true"),
    v(
        "platform",
        "string",
        "Push a platform-specific manifest as a single-platform image to the registry",
    ),
    bs('q', "quiet", "Suppress verbose output"),
];

pub static SPEC: Spec = Spec::new(
    "push",
    "[OPTIONS] NAME[:TAG]",
    "Upload an image to a registry",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth image push, berth push");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    if m.changed("disable-content-trust") && !m.bool("disable-content-trust") {
        return Err(crate::flags::UsageError::Unsupported(
            "--disable-content-trust=false (content trust)".into(),
        )
        .into());
    }
    let all = m.bool("all-tags");
    let quiet = m.bool("quiet");
    let mut r = Reference::parse(&m.args[0]).map_err(|e| StatusError::new(1, e.to_string()))?;
    if all && r.tag.is_some() {
        return Err(StatusError::new(1, "tag can't be used with --all-tags/-a"));
    }
    if r.digest.is_some() {
        return Err(StatusError::new(1, "cannot push a digest reference"));
    }
    if !all && r.tag.is_none() {
        r = r.with_default_tag();
        if !quiet {
            crate::commands::println("Using default tag: latest")?;
        }
    }
    let auth = registry_auth(ctx, &r)?;
    let q = Query::new()
        .add_if(!m.str("platform").is_empty(), "platform", m.str("platform"))
        .add_if(
            r.tag.is_some() && !all,
            "tag",
            r.tag.as_deref().unwrap_or(""),
        );
    let path = format!("/images/{}/push{}", seg(&r.familiar_name()), q.as_str());
    let resp = ctx
        .client()?
        .stream("POST", &path, &[("X-Registry-Auth", &auth)], Body::Empty)?;
    if quiet {
        let mut d = crate::progress::Display::new(std::io::sink(), false, 80);
        d.run(resp)
            .map_err(|e| StatusError::new(1, e.to_string()))?;
        crate::commands::println(&r.familiar())?;
    } else {
        show_progress(resp, false)?;
    }
    Ok(())
}
