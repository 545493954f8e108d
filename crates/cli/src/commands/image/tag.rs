//! `berth tag`: another name for an image.

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Matches, Spec};
use crate::reference::Reference;

pub static SPEC: Spec = Spec::new(
    "tag",
    "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    &[],
    Args::Exact(2),
)
.aliases("berth image tag, berth tag");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let (src, dst) = (&m.args[0], &m.args[1]);
    let r = Reference::parse(dst).map_err(|e| {
        StatusError::new(
            1,
            format!("Error parsing reference: {dst:?} is not a valid repository/tag: {e}"),
        )
    })?;
    if r.digest.is_some() {
        return Err(StatusError::new(
            1,
            "refusing to create a tag with a digest reference",
        ));
    }
    let r = r.with_default_tag();
    let q = Query::new()
        .add("repo", &r.name())
        .add("tag", r.tag.as_deref().unwrap_or("latest"));
    ctx.client()?.call(
        "POST",
        &format!("/images/{}/tag{}", seg(src), q.as_str()),
        crate::client::Body::Empty,
    )?;
    Ok(())
}
