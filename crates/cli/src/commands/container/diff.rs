//! `berth diff`: files changed in a container's filesystem.

use berth_docker_types::container::FilesystemChange;

use crate::app::Ctx;
use crate::commands::seg;
use crate::flags::{Args, Matches, Spec};

pub static SPEC: Spec = Spec::new(
    "diff",
    "CONTAINER",
    "Inspect changes to files or directories on a container's filesystem",
    &[],
    Args::Exact(1),
)
.aliases("berth container diff, berth diff");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let changes: Option<Vec<FilesystemChange>> =
        client.get(&format!("/containers/{}/changes", seg(&m.args[0])))?;
    let mut out = String::new();
    for c in changes.unwrap_or_default() {
        let k = match c.kind {
            0 => 'C',
            1 => 'A',
            2 => 'D',
            _ => '?',
        };
        out.push_str(&format!("{k} {}\n", c.path));
    }
    crate::commands::print(&out)?;
    Ok(())
}
