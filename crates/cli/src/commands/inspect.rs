//! `berth inspect` (any object, `--type` to choose) and the output all
//! inspect commands share: the daemon's JSON re-indented, `json`, or a
//! template per object (docker's `inspect.Inspect`).

use crate::app::Ctx;
use crate::client::ClientError;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs, v, vs};
use crate::format::json::{self, Json};
use crate::format::template::{ExecOptions, Missing, Template};

static FLAGS: &[Flag] = &[
    vs(
        'f',
        "format",
        "string",
        "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
    ),
    bs(
        's',
        "size",
        "Display total file sizes if the type is container",
    ),
    v("type", "string", "Only inspect objects of the given type"),
];

pub static SPEC: Spec = Spec::new(
    "inspect",
    "[OPTIONS] NAME|ID [NAME|ID...]",
    "Return low-level information on berth objects",
    FLAGS,
    Args::Min(1),
);

/// Fields a typed Go struct always has: filled with `null` when the daemon
/// left them out, so templates read them as docker's would.
const OPTIONAL: &[(&str, &[&str])] = &[("", &["SizeRw", "SizeRootFs"]), ("State", &["Health"])];

fn fill_optional(v: &mut Json) {
    for (parent, keys) in OPTIONAL {
        let target = if parent.is_empty() {
            Some(&mut *v)
        } else if let Json::Obj(m) = v {
            m.iter_mut().find(|(k, _)| k == parent).map(|(_, x)| x)
        } else {
            None
        };
        if let Some(Json::Obj(m)) = target {
            for k in *keys {
                if !m.iter().any(|(n, _)| n == k) {
                    m.push(((*k).to_owned(), Json::Null));
                }
            }
        }
    }
}

/// Prints the objects named by `refs` in `format`; `fetch` returns an
/// object's raw JSON. Errors are reported after the output (exit 1); a
/// template that does not parse exits 64, as docker's.
pub fn show(
    refs: &[String],
    format: &str,
    mut fetch: impl FnMut(&str) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<()> {
    let tmpl = match format {
        "" | "json" => None,
        f => Some(
            Template::parse(f)
                .map_err(|e| StatusError::new(64, format!("template parsing error: {}", e.0)))?,
        ),
    };
    let mut errs = Vec::new();
    let mut raws: Vec<Vec<u8>> = Vec::new();
    let mut out = String::new();
    for r in refs {
        let raw = match fetch(r) {
            Ok(raw) => raw,
            Err(e) => {
                errs.push(crate::error::render(&e).0);
                continue;
            }
        };
        match &tmpl {
            None => raws.push(raw),
            Some(t) => {
                let mut data = Json::parse(&raw)
                    .map_err(|e| anyhow::anyhow!("unable to read inspect data: {e}"))?;
                fill_optional(&mut data);
                match t.execute(
                    &data,
                    &ExecOptions {
                        missing: Missing::MapError,
                        ..Default::default()
                    },
                ) {
                    Ok(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    Err(e) => errs.push(format!("template parsing error: {}", e.0)),
                }
            }
        }
    }
    if tmpl.is_none() {
        if raws.is_empty() {
            out.push_str("[]\n");
        } else {
            let mut all = b"[".to_vec();
            for (i, r) in raws.iter().enumerate() {
                if i > 0 {
                    all.push(b',');
                }
                all.extend_from_slice(r);
            }
            all.push(b']');
            let text = if format == "json" {
                json::compact(&all)
            } else {
                json::indent(&all, "    ")
            };
            out.push_str(
                &text.map_err(|e| anyhow::anyhow!("cannot format the daemon's answer: {e}"))?,
            );
            out.push('\n');
        }
    } else if out.is_empty() {
        out.push('\n');
    }
    crate::commands::print(&out)?;
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}

/// GETs a path; a 404 becomes docker's `No such object` when `generic`.
fn get_raw(ctx: &Ctx, path: &str) -> Result<Vec<u8>, ClientError> {
    ctx.client()
        .map_err(|e| ClientError::StartDaemon(e.to_string()))?
        .call("GET", path, crate::client::Body::Empty)
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let kind = m.str("type");
    let size = m.bool("size");
    let kinds: &[&str] = match kind {
        "" => &["container", "image", "volume", "network"],
        "container" => &["container"],
        "image" => &["image"],
        "volume" => &["volume"],
        "network" => &["network"],
        "config" | "node" | "plugin" | "secret" | "service" | "task" => {
            return Err(StatusError::new(
                125,
                format!("berth: not supported yet: inspect --type {kind}"),
            ));
        }
        other => {
            return Err(StatusError::new(
                1,
                format!("\"{other}\" is not a valid value for --type"),
            ));
        }
    };
    show(&m.args, m.str("format"), |r| {
        let mut last = None;
        for k in kinds {
            let path = match *k {
                "container" => format!(
                    "/containers/{}/json{}",
                    seg(r),
                    if size { "?size=1" } else { "" }
                ),
                "image" => format!("/images/{}/json", seg(r)),
                "volume" => format!("/volumes/{}", seg(r)),
                _ => format!("/networks/{}", seg(r)),
            };
            match get_raw(ctx, &path) {
                Ok(raw) => return Ok(raw),
                Err(e)
                    if e.is_not_found()
                        || matches!(
                            &e,
                            ClientError::Api {
                                status: 400 | 501,
                                ..
                            }
                        ) =>
                {
                    last = Some(e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        match (kind, last) {
            ("", _) => Err(StatusError::new(1, format!("Error: No such object: {r}"))),
            (_, Some(e)) => Err(e.into()),
            (_, None) => Err(StatusError::new(1, format!("Error: No such object: {r}"))),
        }
    })
}
