//! `berth container prune`: remove all stopped containers.

use berth_docker_types::container::ContainerPruneResponse;

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::{FILTER, confirm, filters};
use crate::flags::{Args, Flag, Matches, Spec, bs};
use crate::format::units::human_size;

static FLAGS: &[Flag] = &[FILTER, bs('f', "force", "Do not prompt for confirmation")];

pub static SPEC: Spec = Spec::new(
    "container prune",
    "[OPTIONS]",
    "Remove all stopped containers",
    FLAGS,
    Args::None,
);

/// Prunes and returns the reclaimed bytes and the lines to print.
pub fn prune(ctx: &Ctx, f: &berth_docker_types::Filters) -> anyhow::Result<(u64, String)> {
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let body = ctx.client()?.call(
        "POST",
        &format!("/containers/prune{}", q.as_str()),
        Body::Empty,
    )?;
    let r: ContainerPruneResponse = crate::client::decode("container prune", &body)?;
    let mut out = String::new();
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for d in deleted {
            out.push_str(&d);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok((r.space_reclaimed, out))
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    if !m.bool("force") && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let (space, out) = prune(ctx, &f)?;
    crate::commands::print(&out)?;
    crate::commands::println(&format!(
        "Total reclaimed space: {}",
        human_size(space as i64)
    ))?;
    Ok(())
}
