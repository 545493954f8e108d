//! `berth pull`: an image from a registry, with docker's per-layer progress.

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::image::{registry_auth, show_progress};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all-tags",
        "Download all tagged images in the repository",
    ),
    b(
        "disable-content-trust",
        "Skip image verification (berth has no content trust: only true is accepted)",
    )
    .default_value("true"),
    v(
        "platform",
        "string",
        "Set platform if server is multi-platform capable",
    ),
    bs('q', "quiet", "Suppress verbose output"),
];

pub static SPEC: Spec = Spec::new(
    "pull",
    "[OPTIONS] NAME[:TAG|@DIGEST]",
    "Download an image from a registry",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth image pull, berth pull");

/// `POST /images/create?fromImage=...`; the progress goes to stderr (or
/// nowhere with `quiet`), as for `run`.
pub fn pull_for_create(
    ctx: &Ctx,
    r: &Reference,
    platform: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    let resp = request(ctx, r, false, platform)?;
    if quiet {
        let mut d = crate::progress::Display::new(std::io::sink(), false, 80);
        return d.run(resp).map_err(|e| StatusError::new(1, e.to_string()));
    }
    show_progress(resp, true).map(|_| ())
}

fn request(
    ctx: &Ctx,
    r: &Reference,
    all_tags: bool,
    platform: &str,
) -> anyhow::Result<crate::client::Response> {
    let auth = registry_auth(ctx, r)?;
    let tag = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_default();
    let q = Query::new()
        .add("fromImage", &r.name())
        .add_if(!platform.is_empty(), "platform", platform)
        .add_if(!all_tags && !tag.is_empty(), "tag", &tag);
    Ok(ctx.client()?.stream(
        "POST",
        &format!("/images/create{}", q.as_str()),
        &[("X-Registry-Auth", &auth)],
        Body::Empty,
    )?)
}

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
    if all && (r.tag.is_some() || r.digest.is_some()) {
        return Err(StatusError::new(1, "tag can't be used with --all-tags/-a"));
    }
    if !all && r.tag.is_none() && r.digest.is_none() {
        r = r.with_default_tag();
        if !quiet {
            crate::commands::println("Using default tag: latest")?;
        }
    }
    let resp = request(ctx, &r, all, m.str("platform"))?;
    if quiet {
        let mut d = crate::progress::Display::new(std::io::sink(), false, 80);
        d.run(resp)
            .map_err(|e| StatusError::new(1, e.to_string()))?;
    } else {
        show_progress(resp, false)?;
    }
    crate::commands::println(&r.full())?;
    Ok(())
}
