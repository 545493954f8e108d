//! `berth images` / `berth image ls`: docker's classic image table
//! (`.Repository .Tag .Digest .ID .CreatedSince .CreatedAt .Size
//! .SharedSize .UniqueSize .VirtualSize .Containers`).

use std::collections::BTreeMap;

use berth_docker_types::image::ImageSummary;

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::{FILTER, filters};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::{ago, go_time_string, human_size_prec};
use crate::format::{ListFormat, short_id};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Show all images (default hides intermediate images)",
    ),
    b("digests", "Show digests"),
    FILTER,
    v("format", "string", crate::commands::FORMAT_HELP),
    b("no-trunc", "Don't truncate output"),
    bs('q', "quiet", "Only show image IDs"),
    b(
        "tree",
        "List multi-platform images as a tree (EXPERIMENTAL)",
    )
    .unsupported(),
];

pub static SPEC: Spec = Spec::new(
    "images",
    "[OPTIONS] [REPOSITORY[:TAG]]",
    "List images",
    FLAGS,
    Args::Max(1),
)
.aliases("berth image ls, berth image list, berth images");

const DEFAULT: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DEFAULT_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn na_or_size(n: i64) -> String {
    if n == -1 {
        "N/A".into()
    } else {
        human_size_prec(n as f64, 3)
    }
}

fn row(img: &ImageSummary, repo: &str, tag: &str, digest: &str, trunc: bool) -> Json {
    let id = if trunc {
        short_id(&img.id)
    } else {
        img.id.clone()
    };
    let unique = if img.size == -1 || img.shared_size == -1 {
        "N/A".to_owned()
    } else {
        human_size_prec((img.size - img.shared_size) as f64, 3)
    };
    Json::obj([
        (
            "Containers",
            Json::str(if img.containers == -1 {
                "N/A".into()
            } else {
                img.containers.to_string()
            }),
        ),
        ("CreatedAt", Json::str(go_time_string(img.created))),
        ("CreatedSince", Json::str(ago(img.created))),
        ("Digest", Json::str(digest)),
        ("ID", Json::str(id)),
        ("Repository", Json::str(repo)),
        ("SharedSize", Json::str(na_or_size(img.shared_size))),
        ("Size", Json::str(human_size_prec(img.size as f64, 3))),
        ("Tag", Json::str(tag)),
        ("UniqueSize", Json::str(unique)),
        (
            "VirtualSize",
            Json::str(human_size_prec(img.size as f64, 3)),
        ),
    ])
}

/// docker's rows: one per repository:tag (and per digest with
/// `--digests`), `<none>` where there is neither.
pub fn rows(images: &[ImageSummary], digests: bool, trunc: bool) -> Vec<Json> {
    let mut out = Vec::new();
    for img in images {
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut dgsts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &img.repo_tags {
            if let Ok(r) = Reference::parse(t)
                && let Some(tag) = r.tag.clone()
            {
                tags.entry(r.familiar_name()).or_default().push(tag);
            }
        }
        for d in &img.repo_digests {
            if let Ok(r) = Reference::parse(d)
                && let Some(dg) = r.digest.clone()
            {
                dgsts.entry(r.familiar_name()).or_default().push(dg);
            }
        }
        let had_any = !tags.is_empty() || !dgsts.is_empty();
        for (repo, ts) in &tags {
            let ds = dgsts.remove(repo).filter(|_| digests).unwrap_or_default();
            for t in ts {
                if ds.is_empty() {
                    out.push(row(img, repo, t, "<none>", trunc));
                } else {
                    for d in &ds {
                        out.push(row(img, repo, t, d, trunc));
                    }
                }
            }
        }
        for (repo, ds) in &dgsts {
            if digests {
                for d in ds {
                    out.push(row(img, repo, "<none>", d, trunc));
                }
            } else {
                out.push(row(img, repo, "<none>", "", trunc));
            }
        }
        if !had_any {
            out.push(row(img, "<none>", "<none>", "<none>", trunc));
        }
    }
    out
}

fn header() -> Json {
    Json::obj(
        [
            ("ID", "IMAGE ID"),
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("Digest", "DIGEST"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("Size", "SIZE"),
            ("Containers", "CONTAINERS"),
            ("VirtualSize", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    )
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let mut f = filters(m)?;
    if let Some(r) = m.args.first() {
        f.add("reference", r);
    }
    let quiet = m.bool("quiet");
    let cfg = ctx.config();
    let format = match m.value("format") {
        Some(v) => v.to_owned(),
        None if quiet => String::new(),
        None => cfg.images_format().unwrap_or("").to_owned(),
    };
    let digests = m.bool("digests");
    let lf = ListFormat::new(
        &format,
        if digests { DEFAULT_DIGESTS } else { DEFAULT },
        quiet,
    )
    .map_err(|e| StatusError::new(1, e.0))?;
    let q = Query::new().add_if(m.bool("all"), "all", "1").add_if(
        !f.is_empty(),
        "filters",
        &f.to_json(),
    );
    let list: Vec<ImageSummary> = ctx.client()?.get(&format!("/images/json{}", q.as_str()))?;
    let rows = rows(
        &list,
        digests || format.contains(".Digest"),
        !m.bool("no-trunc"),
    );
    let out = lf
        .render(
            &rows,
            &header(),
            Missing::FieldError("*formatter.imageContext"),
            None,
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_docker() {
        let d = format!("sha256:{}", "b".repeat(64));
        let img = ImageSummary {
            id: format!("sha256:{}", "a".repeat(64)),
            repo_tags: vec!["busybox:latest".into(), "127.0.0.1:5000/busybox:1".into()],
            repo_digests: vec![format!("busybox@{d}")],
            size: 4_261_000,
            shared_size: -1,
            containers: -1,
            created: crate::format::units::now_unix() - 120,
            ..Default::default()
        };
        let r = rows(std::slice::from_ref(&img), false, true);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].get("Repository").and_then(Json::as_str),
            Some("127.0.0.1:5000/busybox")
        );
        assert_eq!(
            r[1].get("Repository").and_then(Json::as_str),
            Some("busybox")
        );
        assert_eq!(r[1].get("ID").and_then(Json::as_str), Some("aaaaaaaaaaaa"));
        assert_eq!(r[1].get("Size").and_then(Json::as_str), Some("4.26MB"));
        assert_eq!(
            r[1].get("CreatedSince").and_then(Json::as_str),
            Some("2 minutes ago")
        );
        assert_eq!(r[1].get("SharedSize").and_then(Json::as_str), Some("N/A"));
        let r = rows(&[img], true, true);
        assert_eq!(r[1].get("Digest").and_then(Json::as_str), Some(d.as_str()));
        let dangling = ImageSummary {
            id: "sha256:cc".into(),
            ..Default::default()
        };
        let r = rows(&[dangling], false, true);
        assert_eq!(r[0].get("Tag").and_then(Json::as_str), Some("<none>"));
    }
}
