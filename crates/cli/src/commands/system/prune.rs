//! `berth system prune`: stopped containers, unused networks, dangling (or
//! all unused) images and, with `--volumes`, anonymous volumes.

use crate::app::Ctx;
use crate::client::{Body, ClientError, Query};
use crate::commands::{FILTER, confirm, filters};
use crate::flags::{Args, Flag, Matches, Spec, b, bs};
use crate::format::units::human_size;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Remove all unused images not just dangling ones",
    ),
    FILTER,
    bs('f', "force", "Do not prompt for confirmation"),
    b("volumes", "Prune anonymous volumes"),
];

pub static SPEC: Spec = Spec::new(
    "system prune",
    "[OPTIONS]",
    "Remove unused data",
    FLAGS,
    Args::None,
);

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let all = m.bool("all");
    let volumes = m.bool("volumes");
    let mut warning = String::from(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    warning.push_str("  - unused build cache\n");
    if !m.bool("force") && !confirm(&warning)? {
        return Ok(());
    }
    let mut total = 0u64;
    let (space, out) = crate::commands::container::prune::prune(ctx, &f)?;
    total += space;
    crate::commands::print(&out)?;
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    match ctx.client()?.call(
        "POST",
        &format!("/networks/prune{}", q.as_str()),
        Body::Empty,
    ) {
        Ok(body) => crate::commands::print(&crate::commands::network::prune_report(&body)?)?,
        // berthd without networks yet: said, not hidden
        Err(ClientError::Api {
            status: 501,
            message,
        }) => crate::commands::eprintln(&format!("networks not pruned: {message}")),
        Err(e) => return Err(e.into()),
    }
    if volumes {
        let (space, out) = crate::commands::volume::prune(ctx, &f, false)?;
        total += space;
        crate::commands::print(&out)?;
    }
    let (space, out) = crate::commands::image::prune::prune(ctx, f, all)?;
    total += space;
    crate::commands::print(&out)?;
    // berth has no builder and so no build cache
    crate::commands::println(&format!(
        "Total reclaimed space: {}",
        human_size(total as i64)
    ))?;
    Ok(())
}
