//! `berth commit`: a new image from a container's changes.

use berth_docker_types::IdResponse;

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs, ls, vs};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    vs(
        'a',
        "author",
        "string",
        "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
    ),
    ls(
        'c',
        "change",
        "Apply Dockerfile instruction to the created image",
    ),
    vs('m', "message", "string", "Commit message"),
    bs('p', "pause", "Pause container during commit").default_value("true"),
];

pub static SPEC: Spec = Spec::new(
    "commit",
    "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    "Create a new image from a container's changes",
    FLAGS,
    Args::Range(1, 2),
)
.aliases("berth container commit, berth commit");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let mut q = Query::new().add_if(!m.str("author").is_empty(), "author", m.str("author"));
    for c in m.list("change") {
        q = q.add("changes", c);
    }
    q = q
        .add_if(!m.str("message").is_empty(), "comment", m.str("message"))
        .add("container", &m.args[0]);
    let pause = !m.changed("pause") || m.bool("pause");
    q = q.add_if(!pause, "pause", "0");
    if let Some(r) = m.args.get(1) {
        let r = Reference::parse(r).map_err(|e| StatusError::new(1, e.to_string()))?;
        if r.digest.is_some() {
            return Err(StatusError::new(
                1,
                "refusing to create a tag with a digest reference",
            ));
        }
        q = q
            .add("repo", &r.name())
            .add_if(r.tag.is_some(), "tag", r.tag.as_deref().unwrap_or(""));
    }
    let client = ctx.client()?;
    let body = client.call(
        "POST",
        &format!("/commit{}", q.as_str()),
        Body::Bytes(b"null", "application/json"),
    )?;
    let id: IdResponse = crate::client::decode("commit", &body)?;
    crate::commands::println(&id.id)?;
    Ok(())
}
