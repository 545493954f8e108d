//! `berth history`: the layers of an image.

use berth_docker_types::image::HistoryItem;

use crate::app::Ctx;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::{ago, human_size_prec, rfc3339_local};
use crate::format::{ListFormat, ellipsis, short_id};

static FLAGS: &[Flag] = &[
    v("format", "string", crate::commands::FORMAT_HELP),
    bs(
        'H',
        "human",
        "Print sizes and dates in human readable format",
    )
    .default_value("true"),
    b("no-trunc", "Don't truncate output"),
    v("platform", "string", "Show history for the given platform").unsupported(),
    bs('q', "quiet", "Only show image IDs"),
];

pub static SPEC: Spec = Spec::new(
    "history",
    "[OPTIONS] IMAGE",
    "Show the history of an image",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth image history, berth history");

const DEFAULT: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

fn row(h: &HistoryItem, human: bool, trunc: bool) -> Json {
    let id = if h.id == "<missing>" {
        h.id.clone()
    } else if trunc {
        short_id(&h.id)
    } else {
        h.id.clone()
    };
    let created_by = h.created_by.replace('\t', " ");
    let created_by = if trunc {
        ellipsis(&created_by, 45)
    } else {
        created_by
    };
    Json::obj([
        ("Comment", Json::str(h.comment.clone())),
        ("CreatedAt", Json::str(rfc3339_local(h.created))),
        ("CreatedBy", Json::str(created_by)),
        (
            "CreatedSince",
            Json::str(if human {
                ago(h.created)
            } else {
                rfc3339_local(h.created)
            }),
        ),
        ("ID", Json::str(id)),
        (
            "Size",
            Json::str(if human {
                human_size_prec(h.size as f64, 3)
            } else {
                h.size.to_string()
            }),
        ),
    ])
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let human = !m.changed("human") || m.bool("human");
    let lf = ListFormat::new(m.str("format"), DEFAULT, m.bool("quiet"))
        .map_err(|e| StatusError::new(1, e.0))?;
    let items: Vec<HistoryItem> = ctx
        .client()?
        .get(&format!("/images/{}/history", seg(&m.args[0])))?;
    let trunc = !m.bool("no-trunc");
    let rows: Vec<Json> = items.iter().map(|h| row(h, human, trunc)).collect();
    let header = Json::obj(
        [
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    );
    let out = lf
        .render(
            &rows,
            &header,
            Missing::FieldError("*formatter.historyContext"),
            None,
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    Ok(())
}
