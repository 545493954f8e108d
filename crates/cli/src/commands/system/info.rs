//! `berth info`: what the daemon reports about itself.

use berth_docker_types::system::Info;

use crate::app::Ctx;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, vs};
use crate::format::json::Json;
use crate::format::template::{ExecOptions, Template};
use crate::format::units::bytes_size;

static FLAGS: &[Flag] = &[vs(
    'f',
    "format",
    "string",
    "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
)];

pub static SPEC: Spec = Spec::new(
    "info",
    "[OPTIONS]",
    "Display system-wide information",
    FLAGS,
    Args::None,
)
.aliases("berth system info, berth info");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let format = m.str("format");
    let client = ctx.client()?;
    let raw = client.call("GET", "/info", crate::client::Body::Empty)?;
    if !format.is_empty() {
        let t = Template::parse(if format == "json" {
            "{{json .}}"
        } else {
            format
        })
        .map_err(|e| StatusError::new(64, format!("template parsing error: {}", e.0)))?;
        let mut data = Json::parse(&raw).map_err(|e| anyhow::anyhow!("cannot read /info: {e}"))?;
        if let Json::Obj(o) = &mut data {
            o.push((
                "ClientInfo".into(),
                Json::obj([
                    ("Debug", Json::Bool(ctx.debug)),
                    ("Version", Json::str(super::version::VERSION)),
                    ("Context", Json::str("default")),
                ]),
            ));
        }
        let out = t
            .execute(&data, &ExecOptions::default())
            .map_err(|e| StatusError::new(1, format!("template parsing error: {}", e.0)))?;
        crate::commands::println(&out)?;
        return Ok(());
    }
    let i: Info = crate::client::decode("info", &raw)?;
    let mut o = String::new();
    o.push_str(&format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: {}\n\n",
        super::version::VERSION,
        ctx.debug
    ));
    o.push_str("Server:\n");
    o.push_str(&format!(
        " Containers: {}\n  Running: {}\n  Paused: {}\n  Stopped: {}\n",
        i.containers, i.containers_running, i.containers_paused, i.containers_stopped
    ));
    o.push_str(&format!(
        " Images: {}\n Server Version: {}\n Storage Driver: {}\n",
        i.images, i.server_version, i.driver
    ));
    for [k, v] in &i.driver_status {
        o.push_str(&format!("  {k}: {v}\n"));
    }
    o.push_str(&format!(
        " Logging Driver: {}\n Cgroup Driver: {}\n",
        i.logging_driver, i.cgroup_driver
    ));
    if !i.cgroup_version.is_empty() {
        o.push_str(&format!(" Cgroup Version: {}\n", i.cgroup_version));
    }
    o.push_str(" Plugins:\n");
    let p = &i.plugins;
    o.push_str(&format!(
        "  Volume: {}\n",
        p.volume.clone().unwrap_or_default().join(" ")
    ));
    o.push_str(&format!(
        "  Network: {}\n",
        p.network.clone().unwrap_or_default().join(" ")
    ));
    o.push_str(&format!(
        "  Log: {}\n",
        p.log.clone().unwrap_or_default().join(" ")
    ));
    o.push_str(&format!(
        " Swarm: {}\n",
        if i.swarm.local_node_state.is_empty() {
            "inactive"
        } else {
            &i.swarm.local_node_state
        }
    ));
    let mut runtimes: Vec<&String> = i.runtimes.keys().collect();
    runtimes.sort();
    o.push_str(&format!(
        " Runtimes: {}\n Default Runtime: {}\n",
        runtimes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        i.default_runtime
    ));
    o.push_str(&format!(" Init Binary: {}\n", i.init_binary));
    if !i.security_options.is_empty() {
        o.push_str(" Security Options:\n");
        for s in &i.security_options {
            for (n, part) in s.split(',').enumerate() {
                let (k, v) = part.split_once('=').unwrap_or(("", part));
                if n == 0 {
                    o.push_str(&format!("  {v}\n"));
                } else {
                    let mut key = k.to_owned();
                    if let Some(f) = key.get_mut(0..1) {
                        f.make_ascii_uppercase();
                    }
                    o.push_str(&format!("   {key}: {v}\n"));
                }
            }
        }
    }
    o.push_str(&format!(
        " Kernel Version: {}\n Operating System: {}\n OSType: {}\n Architecture: {}\n CPUs: {}\n Total Memory: {}\n Name: {}\n ID: {}\n Docker Root Dir: {}\n Debug Mode: {}\n",
        i.kernel_version,
        i.operating_system,
        i.os_type,
        i.architecture,
        i.ncpu,
        bytes_size(i.mem_total as f64),
        i.name,
        i.id,
        i.docker_root_dir,
        i.debug
    ));
    if !i.labels.is_empty() {
        o.push_str(" Labels:\n");
        for l in &i.labels {
            o.push_str(&format!("  {l}\n"));
        }
    }
    o.push_str(&format!(" Experimental: {}\n", i.experimental_build));
    if let Some(rc) = &i.registry_config {
        let cidrs = rc.insecure_registry_cidrs.clone().unwrap_or_default();
        let mut names: Vec<String> = rc
            .index_configs
            .clone()
            .unwrap_or_default()
            .values()
            .filter(|c| !c.secure)
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        if !cidrs.is_empty() || !names.is_empty() {
            o.push_str(" Insecure Registries:\n");
            for n in names.iter().chain(cidrs.iter()) {
                o.push_str(&format!("  {n}\n"));
            }
        }
        let mirrors = rc.mirrors.clone().unwrap_or_default();
        if !mirrors.is_empty() {
            o.push_str(" Registry Mirrors:\n");
            for mi in mirrors {
                o.push_str(&format!("  {mi}\n"));
            }
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        i.live_restore_enabled
    ));
    crate::commands::print(&o)?;
    if let Some(w) = i.warnings.filter(|w| !w.is_empty()) {
        crate::commands::println("")?;
        for x in w {
            crate::commands::eprintln(&x);
        }
    }
    Ok(())
}
