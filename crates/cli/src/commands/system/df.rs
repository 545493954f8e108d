//! `berth system df`: disk usage of images, containers, volumes.

use berth_docker_types::system::DiskUsage;

use crate::app::Ctx;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs, v};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::{human_size, human_size_prec};
use crate::format::{ListFormat, table};

static FLAGS: &[Flag] = &[
    v("format", "string", crate::commands::FORMAT_HELP),
    bs('v', "verbose", "Show detailed information on space usage"),
];

pub static SPEC: Spec = Spec::new(
    "system df",
    "[OPTIONS]",
    "Show berth disk usage",
    FLAGS,
    Args::None,
);

const DEFAULT: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn with_percent(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size(reclaimable),
            reclaimable * 100 / total
        )
    } else {
        human_size(reclaimable)
    }
}

fn summary(du: &DiskUsage) -> Vec<Json> {
    let images = du.images.clone().unwrap_or_default();
    let used: i64 = images
        .iter()
        .filter(|i| i.containers > 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let img_active = images.iter().filter(|i| i.containers > 0).count();
    let containers = du.containers.clone().unwrap_or_default();
    let c_active = containers
        .iter()
        .filter(|c| c.state == "running" || c.state == "paused")
        .count();
    let c_size: i64 = containers.iter().map(|c| c.size_rw).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| c.state != "running" && c.state != "paused")
        .map(|c| c.size_rw)
        .sum();
    let volumes = du.volumes.clone().unwrap_or_default();
    let v_active = volumes
        .iter()
        .filter(|v| v.usage_data.as_ref().is_some_and(|u| u.ref_count > 0))
        .count();
    let v_size: i64 = volumes
        .iter()
        .filter_map(|v| v.usage_data.as_ref())
        .filter(|u| u.size != -1)
        .map(|u| u.size)
        .sum();
    let v_reclaim: i64 = volumes
        .iter()
        .filter_map(|v| v.usage_data.as_ref())
        .filter(|u| u.size != -1 && u.ref_count == 0)
        .map(|u| u.size)
        .sum();
    let r = |ty: &str, total: usize, active: usize, size: String, reclaim: String| {
        Json::obj([
            ("Active", Json::str(active.to_string())),
            ("Reclaimable", Json::str(reclaim)),
            ("Size", Json::str(size)),
            ("TotalCount", Json::str(total.to_string())),
            ("Type", Json::str(ty)),
        ])
    };
    vec![
        r(
            "Images",
            images.len(),
            img_active,
            human_size(du.layers_size),
            with_percent(du.layers_size - used, du.layers_size),
        ),
        r(
            "Containers",
            containers.len(),
            c_active,
            human_size(c_size),
            with_percent(c_reclaim, c_size),
        ),
        r(
            "Local Volumes",
            volumes.len(),
            v_active,
            human_size(v_size),
            with_percent(v_reclaim, v_size),
        ),
        r("Build Cache", 0, 0, human_size(0), human_size(0)),
    ]
}

fn verbose(du: &DiskUsage) -> String {
    let mut o = String::from("Images space usage:\n\n");
    let mut t = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    let images = du.images.clone().unwrap_or_default();
    for row in crate::commands::image::ls::rows(&images, false, true) {
        let g = |k: &str| row.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            g("Repository"),
            g("Tag"),
            g("ID"),
            g("CreatedSince"),
            g("Size"),
            g("SharedSize"),
            g("UniqueSize"),
            g("Containers")
        ));
    }
    o.push_str(&table::align(&t));
    o.push_str("\nContainers space usage:\n\n");
    let mut t =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for c in du.containers.clone().unwrap_or_default() {
        let row = crate::commands::container::ps::row(&c, true);
        let g = |k: &str| row.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            g("ID"),
            g("Image"),
            g("Command"),
            g("LocalVolumes"),
            human_size_prec(c.size_rw as f64, 3),
            g("RunningFor"),
            g("Status"),
            g("Names")
        ));
    }
    o.push_str(&table::align(&t));
    o.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for v in du.volumes.clone().unwrap_or_default() {
        let (links, size) = match &v.usage_data {
            Some(u) => (
                u.ref_count.to_string(),
                if u.size == -1 {
                    "N/A".into()
                } else {
                    human_size_prec(u.size as f64, 3)
                },
            ),
            None => ("N/A".into(), "N/A".into()),
        };
        t.push_str(&format!("{}\t{links}\t{size}\n", v.name));
    }
    o.push_str(&table::align(&t));
    o.push_str("\nBuild cache usage: 0B\n\n");
    o.push_str(&table::align(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    o
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let du: DiskUsage = ctx.client()?.get("/system/df")?;
    if m.bool("verbose") && m.str("format").is_empty() {
        crate::commands::print(&verbose(&du))?;
        return Ok(());
    }
    let lf =
        ListFormat::new(m.str("format"), DEFAULT, false).map_err(|e| StatusError::new(1, e.0))?;
    let header = Json::obj(
        [
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    );
    let out = lf
        .render(
            &summary(&du),
            &header,
            Missing::FieldError("*formatter.diskUsageContext"),
            None,
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    Ok(())
}
