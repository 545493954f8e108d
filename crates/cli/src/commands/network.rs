//! `berth network ...`: user-defined networks.

use std::collections::BTreeMap;

use berth_docker_types::network::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
};

use crate::app::{Ctx, Entry};
use crate::client::{Body, Query};
use crate::commands::{FILTER, confirm, filters, seg};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, l, v, vs};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::{ListFormat, short_id};

pub static TREE: &[Entry] = &[
    Entry::Cmd("connect", &CONNECT, connect),
    Entry::Cmd("create", &CREATE, create),
    Entry::Cmd("disconnect", &DISCONNECT, disconnect),
    Entry::Cmd("inspect", &INSPECT, inspect),
    Entry::Cmd("ls", &LS, list),
    Entry::Cmd("prune", &PRUNE, prune),
    Entry::Cmd("rm", &RM, remove),
];

static LS_FLAGS: &[Flag] = &[
    FILTER,
    v("format", "string", crate::commands::FORMAT_HELP),
    b("no-trunc", "Do not truncate the output"),
    bs('q', "quiet", "Only display network IDs"),
];
static LS: Spec = Spec::new(
    "network ls",
    "[OPTIONS]",
    "List networks",
    LS_FLAGS,
    Args::None,
)
.aliases("berth network ls, berth network list");

static CREATE_FLAGS: &[Flag] = &[
    b("attachable", "Enable manual container attachment"),
    Flag::new(
        "aux-address",
        None,
        crate::flags::Kind::List,
        "map",
        "Auxiliary IPv4 or IPv6 addresses used by Network driver",
    ),
    v(
        "config-from",
        "string",
        "The network from which to copy the configuration",
    )
    .unsupported(),
    b("config-only", "Create a configuration only network").unsupported(),
    vs('d', "driver", "string", "Driver to manage the Network").default_value("\"bridge\""),
    l("gateway", "IPv4 or IPv6 Gateway for the master subnet"),
    b("ingress", "Create swarm routing-mesh network").unsupported(),
    b("internal", "Restrict external access to the network"),
    l("ip-range", "Allocate container ip from a sub-range"),
    v("ipam-driver", "string", "IP Address Management Driver").default_value("\"default\""),
    Flag::new(
        "ipam-opt",
        None,
        crate::flags::Kind::List,
        "map",
        "Set IPAM driver specific options",
    ),
    b("ipv4", "Enable or disable IPv4 address assignment").default_value("true"),
    b("ipv6", "Enable or disable IPv6 address assignment"),
    l("label", "Set metadata on a network"),
    Flag::new(
        "opt",
        Some('o'),
        crate::flags::Kind::List,
        "map",
        "Set driver specific options",
    ),
    v("scope", "string", "Control the network's scope").unsupported(),
    l(
        "subnet",
        "Subnet in CIDR format that represents a network segment",
    ),
];
static CREATE: Spec = Spec::new(
    "network create",
    "[OPTIONS] NETWORK",
    "Create a network",
    CREATE_FLAGS,
    Args::Exact(1),
);

static RM_FLAGS: &[Flag] = &[bs(
    'f',
    "force",
    "Do not error if the network does not exist",
)];
static RM: Spec = Spec::new(
    "network rm",
    "NETWORK [NETWORK...]",
    "Remove one or more networks",
    RM_FLAGS,
    Args::Min(1),
)
.aliases("berth network rm, berth network remove");

static INSPECT_FLAGS: &[Flag] = &[
    vs(
        'f',
        "format",
        "string",
        "Format output using a custom template:\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template",
    ),
    bs('v', "verbose", "Verbose output for diagnostics").unsupported(),
];
static INSPECT: Spec = Spec::new(
    "network inspect",
    "[OPTIONS] NETWORK [NETWORK...]",
    "Display detailed information on one or more networks",
    INSPECT_FLAGS,
    Args::Min(1),
);

static CONNECT_FLAGS: &[Flag] = &[
    l("alias", "Add network-scoped alias for the container"),
    l("driver-opt", "driver options for the network"),
    Flag::new(
        "gw-priority",
        None,
        crate::flags::Kind::Value,
        "int",
        "Highest gw-priority provides the default gateway. Accepts positive and negative values.",
    ),
    v("ip", "string", "IPv4 address (e.g., \"172.30.100.104\")"),
    v("ip6", "string", "IPv6 address (e.g., \"2001:db8::33\")"),
    l("link", "Add link to another container").unsupported(),
    l(
        "link-local-ip",
        "Add a link-local address for the container",
    ),
];
static CONNECT: Spec = Spec::new(
    "network connect",
    "[OPTIONS] NETWORK CONTAINER",
    "Connect a container to a network",
    CONNECT_FLAGS,
    Args::Exact(2),
);

static DISCONNECT_FLAGS: &[Flag] = &[bs(
    'f',
    "force",
    "Force the container to disconnect from a network",
)];
static DISCONNECT: Spec = Spec::new(
    "network disconnect",
    "[OPTIONS] NETWORK CONTAINER",
    "Disconnect a container from a network",
    DISCONNECT_FLAGS,
    Args::Exact(2),
);

static PRUNE_FLAGS: &[Flag] = &[FILTER, bs('f', "force", "Do not prompt for confirmation")];
static PRUNE: Spec = Spec::new(
    "network prune",
    "[OPTIONS]",
    "Remove all unused networks",
    PRUNE_FLAGS,
    Args::None,
);

fn kv_map(items: Vec<&str>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn list(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let lf = ListFormat::new(
        m.str("format"),
        "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        m.bool("quiet"),
    )
    .map_err(|e| StatusError::new(1, e.0))?;
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let body = ctx
        .client()?
        .call("GET", &format!("/networks{}", q.as_str()), Body::Empty)?;
    let nets = Json::parse(&body)?;
    let trunc = !m.bool("no-trunc");
    let mut rows = Vec::new();
    if let Json::Arr(items) = nets {
        for n in items {
            let g = |k: &str| n.get(k).cloned().unwrap_or(Json::Null);
            let s = |k: &str| n.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
            let id = s("Id");
            let labels = match n.get("Labels") {
                Some(Json::Obj(m)) => {
                    let mut v: Vec<String> = m
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect();
                    v.sort();
                    v.join(",")
                }
                _ => String::new(),
            };
            rows.push(Json::obj([
                ("CreatedAt", Json::str(s("Created"))),
                ("Driver", Json::str(s("Driver"))),
                ("ID", Json::str(if trunc { short_id(&id) } else { id })),
                (
                    "IPv4",
                    Json::str(if matches!(g("EnableIPv4"), Json::Bool(false)) {
                        "false"
                    } else {
                        "true"
                    }),
                ),
                (
                    "IPv6",
                    Json::str(if matches!(g("EnableIPv6"), Json::Bool(true)) {
                        "true"
                    } else {
                        "false"
                    }),
                ),
                (
                    "Internal",
                    Json::str(if matches!(g("Internal"), Json::Bool(true)) {
                        "true"
                    } else {
                        "false"
                    }),
                ),
                ("Labels", Json::str(labels)),
                ("Name", Json::str(s("Name"))),
                ("Scope", Json::str(s("Scope"))),
            ]));
        }
    }
    let header = Json::obj(
        [
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv4", "IPV4"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED AT"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    );
    let out = lf
        .render(
            &rows,
            &header,
            Missing::FieldError("*formatter.networkContext"),
            None,
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    Ok(())
}

fn create(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let subnets = m.list("subnet");
    let ranges = m.list("ip-range");
    let gateways = m.list("gateway");
    if ranges.len() > subnets.len() || gateways.len() > subnets.len() {
        return Err(StatusError::new(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let aux = kv_map(m.list("aux-address"));
    let mut config = Vec::new();
    for (i, s) in subnets.iter().enumerate() {
        config.push(IpamConfig {
            subnet: (*s).to_owned(),
            ip_range: ranges.get(i).map(|x| (*x).to_owned()).unwrap_or_default(),
            gateway: gateways.get(i).map(|x| (*x).to_owned()).unwrap_or_default(),
            auxiliary_addresses: if i == 0 && !aux.is_empty() {
                Some(aux.clone())
            } else {
                None
            },
        });
    }
    let ipam_opts = kv_map(m.list("ipam-opt"));
    let req = NetworkCreateRequest {
        name: m.args[0].clone(),
        driver: m.value("driver").unwrap_or("bridge").to_owned(),
        internal: m.bool("internal"),
        attachable: m.bool("attachable"),
        enable_ipv6: m.changed("ipv6").then(|| m.bool("ipv6")),
        enable_ipv4: m.changed("ipv4").then(|| m.bool("ipv4")),
        ipam: Some(Ipam {
            driver: m.value("ipam-driver").unwrap_or("default").to_owned(),
            options: Some(ipam_opts),
            config: Some(config),
        }),
        options: Some(kv_map(m.list("opt"))),
        labels: Some(kv_map(m.list("label"))),
        ..Default::default()
    };
    let r: NetworkCreateResponse = ctx.client()?.post_json("/networks/create", &req)?;
    if !r.warning.is_empty() {
        crate::commands::eprintln(&format!("WARNING: {}", r.warning));
    }
    crate::commands::println(&r.id)?;
    Ok(())
}

fn remove(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let mut errs = Vec::new();
    for n in &m.args {
        match client.delete(&format!("/networks/{}", seg(n))) {
            Ok(_) => crate::commands::println(n)?,
            Err(e) if m.bool("force") && e.is_not_found() => {}
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
        Ok(client.call("GET", &format!("/networks/{}", seg(r)), Body::Empty)?)
    })
}

fn connect(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let (ip, ip6) = (m.str("ip"), m.str("ip6"));
    let lli: Vec<String> = m
        .list("link-local-ip")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let ep = EndpointSettings {
        aliases: Some(m.list("alias").into_iter().map(str::to_owned).collect()),
        driver_opts: Some(kv_map(m.list("driver-opt"))),
        gw_priority: m.int("gw-priority", 0),
        ipam_config: (!ip.is_empty() || !ip6.is_empty() || !lli.is_empty()).then(|| {
            EndpointIpamConfig {
                ipv4_address: ip.to_owned(),
                ipv6_address: ip6.to_owned(),
                link_local_ips: if lli.is_empty() {
                    None
                } else {
                    Some(lli.clone())
                },
            }
        }),
        ..Default::default()
    };
    let req = NetworkConnectRequest {
        container: m.args[1].clone(),
        endpoint_config: Some(ep),
    };
    let body = serde_json::to_vec(&req)?;
    ctx.client()?.call(
        "POST",
        &format!("/networks/{}/connect", seg(&m.args[0])),
        Body::Bytes(&body, "application/json"),
    )?;
    Ok(())
}

fn disconnect(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let req = NetworkDisconnectRequest {
        container: m.args[1].clone(),
        force: m.bool("force"),
    };
    let body = serde_json::to_vec(&req)?;
    ctx.client()?.call(
        "POST",
        &format!("/networks/{}/disconnect", seg(&m.args[0])),
        Body::Bytes(&body, "application/json"),
    )?;
    Ok(())
}

/// The report of a network prune answer.
pub fn prune_report(body: &[u8]) -> anyhow::Result<String> {
    let r: NetworkPruneResponse = crate::client::decode("network prune", body)?;
    let mut out = String::new();
    let d = r.networks_deleted.unwrap_or_default();
    if !d.is_empty() {
        out.push_str("Deleted Networks:\n");
        for n in d {
            out.push_str(&n);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

fn prune(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    if !m.bool("force")
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(());
    }
    let q = Query::new().add_if(!f.is_empty(), "filters", &f.to_json());
    let body = ctx.client()?.call(
        "POST",
        &format!("/networks/prune{}", q.as_str()),
        Body::Empty,
    )?;
    crate::commands::print(&prune_report(&body)?)?;
    Ok(())
}
