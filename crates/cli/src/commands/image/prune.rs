//! `berth image prune`: remove unused images.

use berth_docker_types::image::ImagePruneResponse;

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::{FILTER, confirm, filters};
use crate::flags::{Args, Flag, Matches, Spec, bs};
use crate::format::units::human_size;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Remove all unused images, not just dangling ones",
    ),
    FILTER,
    bs('f', "force", "Do not prompt for confirmation"),
];

pub static SPEC: Spec = Spec::new(
    "image prune",
    "[OPTIONS]",
    "Remove unused images",
    FLAGS,
    Args::None,
);

/// Prunes; returns the bytes reclaimed and the report.
pub fn prune(
    ctx: &Ctx,
    mut f: berth_docker_types::Filters,
    all: bool,
) -> anyhow::Result<(u64, String)> {
    if all {
        f.add("dangling", "false");
    }
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let body = ctx
        .client()?
        .call("POST", &format!("/images/prune{}", q.as_str()), Body::Empty)?;
    let r: ImagePruneResponse = crate::client::decode("image prune", &body)?;
    let mut out = String::new();
    let items = r.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for i in items {
            if !i.untagged.is_empty() {
                out.push_str(&format!("untagged: {}\n", i.untagged));
            }
            if !i.deleted.is_empty() {
                out.push_str(&format!("deleted: {}\n", i.deleted));
            }
        }
        out.push('\n');
    }
    Ok((r.space_reclaimed, out))
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let all = m.bool("all");
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !m.bool("force") && !confirm(warning)? {
        return Ok(());
    }
    let (space, out) = prune(ctx, f, all)?;
    crate::commands::print(&out)?;
    crate::commands::println(&format!(
        "Total reclaimed space: {}",
        human_size(space as i64)
    ))?;
    Ok(())
}
