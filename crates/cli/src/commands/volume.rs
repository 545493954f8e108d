//! `berth volume ...`: named and anonymous volumes.

use berth_docker_types::volume::{
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};

use crate::app::{Ctx, Entry};
use crate::client::{Body, Query};
use crate::commands::{FILTER, confirm, filters, seg};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, l, v, vs};
use crate::format::ListFormat;
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::human_size;

pub static TREE: &[Entry] = &[
    Entry::Cmd("create", &CREATE, create),
    Entry::Cmd("inspect", &INSPECT, inspect),
    Entry::Cmd("ls", &LS, list),
    Entry::Cmd("prune", &PRUNE, prune_cmd),
    Entry::Cmd("rm", &RM, remove),
    Entry::Missing("update", "Update a volume (cluster volumes only)"),
];

static LS_FLAGS: &[Flag] = &[
    b(
        "cluster",
        "Display only cluster volumes, and use cluster volume list formatting",
    )
    .unsupported(),
    FILTER,
    v("format", "string", crate::commands::FORMAT_HELP),
    bs('q', "quiet", "Only display volume names"),
];
static LS: Spec = Spec::new(
    "volume ls",
    "[OPTIONS]",
    "List volumes",
    LS_FLAGS,
    Args::None,
)
.aliases("berth volume ls, berth volume list");

static CREATE_FLAGS: &[Flag] = &[
    vs('d', "driver", "string", "Specify volume driver name").default_value("\"local\""),
    l("label", "Set metadata for a volume"),
    v("name", "string", "Specify volume name").hidden(),
    Flag::new(
        "opt",
        Some('o'),
        crate::flags::Kind::List,
        "map",
        "Set driver specific options",
    ),
];
static CREATE: Spec = Spec::new(
    "volume create",
    "[OPTIONS] [VOLUME]",
    "Create a volume",
    CREATE_FLAGS,
    Args::Max(1),
);

static RM_FLAGS: &[Flag] = &[bs('f', "force", "Force the removal of one or more volumes")];
static RM: Spec = Spec::new(
    "volume rm",
    "[OPTIONS] VOLUME [VOLUME...]",
    "Remove one or more volumes",
    RM_FLAGS,
    Args::Min(1),
)
.aliases("berth volume rm, berth volume remove");

static INSPECT_FLAGS: &[Flag] = &[vs(
    'f',
    "format",
    "string",
    "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
)];
static INSPECT: Spec = Spec::new(
    "volume inspect",
    "[OPTIONS] VOLUME [VOLUME...]",
    "Display detailed information on one or more volumes",
    INSPECT_FLAGS,
    Args::Min(1),
);

static PRUNE_FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Remove all unused volumes, not just anonymous ones",
    ),
    FILTER,
    bs('f', "force", "Do not prompt for confirmation"),
];
static PRUNE: Spec = Spec::new(
    "volume prune",
    "[OPTIONS]",
    "Remove unused local volumes",
    PRUNE_FLAGS,
    Args::None,
);

fn kv(items: Vec<&str>) -> std::collections::BTreeMap<String, String> {
    items
        .into_iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn row(v: &Volume) -> Json {
    let mut labels: Vec<String> = v
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    Json::obj([
        ("Availability", Json::str("N/A")),
        ("Driver", Json::str(v.driver.clone())),
        ("Group", Json::str("N/A")),
        ("Labels", Json::str(labels.join(","))),
        (
            "Links",
            Json::str(
                v.usage_data
                    .as_ref()
                    .map_or("N/A".into(), |u| u.ref_count.to_string()),
            ),
        ),
        ("Mountpoint", Json::str(v.mountpoint.clone())),
        ("Name", Json::str(v.name.clone())),
        ("Scope", Json::str(v.scope.clone())),
        (
            "Size",
            Json::str(
                v.usage_data
                    .as_ref()
                    .filter(|u| u.size != -1)
                    .map_or("N/A".into(), |u| human_size(u.size)),
            ),
        ),
        ("Status", Json::str("N/A")),
    ])
}

fn list(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let quiet = m.bool("quiet");
    let format = m.str("format");
    let lf = ListFormat::new(
        if quiet && format.is_empty() {
            "{{.Name}}"
        } else {
            format
        },
        "table {{.Driver}}\t{{.Name}}",
        false,
    )
    .map_err(|e| StatusError::new(1, e.0))?;
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let r: VolumeListResponse = ctx.client()?.get(&format!("/volumes{}", q.as_str()))?;
    let mut vols = r.volumes.unwrap_or_default();
    vols.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Json> = vols.iter().map(row).collect();
    let header = Json::obj(
        [
            ("Name", "VOLUME NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("Mountpoint", "MOUNTPOINT"),
            ("Labels", "LABELS"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    );
    let out = lf
        .render(
            &rows,
            &header,
            Missing::FieldError("*formatter.volumeContext"),
            None,
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    for w in r.warnings.unwrap_or_default() {
        crate::commands::eprintln(&w);
    }
    Ok(())
}

fn create(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let name = match (m.args.first(), m.value("name")) {
        (Some(a), Some(n)) if a != n => {
            return Err(StatusError::new(
                1,
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ));
        }
        (Some(a), _) => a.clone(),
        (None, Some(n)) => n.to_owned(),
        (None, None) => String::new(),
    };
    let req = VolumeCreateRequest {
        name,
        driver: m.value("driver").unwrap_or("local").to_owned(),
        driver_opts: Some(kv(m.list("opt"))),
        labels: Some(kv(m.list("label"))),
        cluster_volume_spec: None,
    };
    let v: Volume = ctx.client()?.post_json("/volumes/create", &req)?;
    crate::commands::println(&v.name)?;
    Ok(())
}

fn remove(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let q = Query::new().add_if(m.bool("force"), "force", "1");
    let mut errs = Vec::new();
    for n in &m.args {
        match client.delete(&format!("/volumes/{}{}", seg(n), q.as_str())) {
            Ok(_) => crate::commands::println(n)?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}

fn inspect(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    crate::commands::inspect::show(&m.args, m.str("format"), |r| {
        Ok(client.call("GET", &format!("/volumes/{}", seg(r)), Body::Empty)?)
    })
}

/// Prunes volumes; returns the bytes reclaimed and the report.
pub fn prune(
    ctx: &Ctx,
    f: &berth_docker_types::Filters,
    all: bool,
) -> anyhow::Result<(u64, String)> {
    let mut f = f.clone();
    if all {
        f.add("all", "true");
    }
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let body = ctx.client()?.call(
        "POST",
        &format!("/volumes/prune{}", q.as_str()),
        Body::Empty,
    )?;
    let r: VolumePruneResponse = crate::client::decode("volume prune", &body)?;
    let mut out = String::new();
    let d = r.volumes_deleted.unwrap_or_default();
    if !d.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for n in d {
            out.push_str(&n);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok((r.space_reclaimed, out))
}

fn prune_cmd(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let all = m.bool("all");
    let warning = if all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !m.bool("force") && !confirm(warning)? {
        return Ok(());
    }
    let (space, out) = prune(ctx, &f, all)?;
    crate::commands::print(&out)?;
    crate::commands::println(&format!(
        "Total reclaimed space: {}",
        human_size(space as i64)
    ))?;
    Ok(())
}
