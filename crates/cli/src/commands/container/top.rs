//! `berth top`: the processes of a container (`ps` options after the name).

use berth_docker_types::container::ContainerTopResponse;

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::seg;
use crate::flags::{Args, Matches, Spec};
use crate::format::table::TabWriter;

pub static SPEC: Spec = Spec::new(
    "top",
    "CONTAINER [ps OPTIONS]",
    "Display the running processes of a container",
    &[],
    Args::Min(1),
)
.aliases("berth container top, berth top")
.stop_at_first_arg();

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let args = m.args[1..].join(" ");
    let q = Query::new().add_if(!args.is_empty(), "ps_args", &args);
    let top: ContainerTopResponse = client.get(&format!(
        "/containers/{}/top{}",
        seg(&m.args[0]),
        q.as_str()
    ))?;
    let mut text = top.titles.join("\t");
    text.push('\n');
    for p in &top.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    crate::commands::print(
        &TabWriter {
            minwidth: 20,
            padding: 3,
        }
        .format(&text),
    )?;
    Ok(())
}
