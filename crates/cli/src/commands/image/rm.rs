//! `berth rmi`: untag and delete images.

use berth_docker_types::image::ImageDeleteResponseItem;

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};

static FLAGS: &[Flag] = &[
    bs('f', "force", "Force removal of the image"),
    b("no-prune", "Do not delete untagged parents"),
    v(
        "platform",
        "string",
        "Remove only the given platform variant",
    )
    .unsupported(),
];

pub static SPEC: Spec = Spec::new(
    "rmi",
    "[OPTIONS] IMAGE [IMAGE...]",
    "Remove one or more images",
    FLAGS,
    Args::Min(1),
)
.aliases("berth image rm, berth image remove, berth rmi");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let q = Query::new().add_if(m.bool("force"), "force", "1").add_if(
        m.bool("no-prune"),
        "noprune",
        "1",
    );
    let mut errs = Vec::new();
    let mut out = String::new();
    for img in &m.args {
        match client.delete(&format!("/images/{}{}", seg(img), q.as_str())) {
            Ok(body) => {
                let items: Vec<ImageDeleteResponseItem> =
                    crate::client::decode("image delete", &body)?;
                for i in items {
                    if !i.untagged.is_empty() {
                        out.push_str(&format!("Untagged: {}\n", i.untagged));
                    }
                    if !i.deleted.is_empty() {
                        out.push_str(&format!("Deleted: {}\n", i.deleted));
                    }
                }
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::commands::print(&out)?;
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}
