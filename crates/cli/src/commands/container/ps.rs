//! `berth ps`: the container list, with docker's table, `--format` fields
//! (`.ID .Image .Command .CreatedAt .RunningFor .Ports .State .Status .Size
//! .Names .Labels .Label "k" .Mounts .LocalVolumes .Networks`) and filters.

use berth_docker_types::container::{ContainerSummary, Port};

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::{FILTER, filters};
use crate::error::StatusError;
use crate::flags::{Args, Flag, Kind, Matches, Spec, b, bs, v};
use crate::format::json::Json;
use crate::format::template::Missing;
use crate::format::units::{ago, go_time_string, human_size_prec};
use crate::format::{ListFormat, ellipsis, go_quote, short_id};
use crate::reference::Reference;

static FLAGS: &[Flag] = &[
    bs(
        'a',
        "all",
        "Show all containers (default shows just running)",
    ),
    FILTER,
    v("format", "string", crate::commands::FORMAT_HELP),
    Flag::new(
        "last",
        Some('n'),
        Kind::Value,
        "int",
        "Show n last created containers (includes all states)",
    )
    .default_value("-1"),
    bs(
        'l',
        "latest",
        "Show the latest created container (includes all states)",
    ),
    b("no-trunc", "Don't truncate output"),
    bs('q', "quiet", "Only display container IDs"),
    bs('s', "size", "Display total file sizes"),
];

pub static SPEC: Spec = Spec::new("ps", "[OPTIONS]", "List containers", FLAGS, Args::None)
    .aliases("berth container ls, berth container list, berth container ps, berth ps");

const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// docker's `DisplayablePorts`: ranges folded, published ports last.
pub fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        a.private_port
            .cmp(&b.private_port)
            .then_with(|| ip_key(&a.ip).cmp(&ip_key(&b.ip)))
            .then(a.public_port.cmp(&b.public_port))
            .then(a.r#type.cmp(&b.r#type))
    });
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ports {
        let cur = p.private_port;
        let mut key = p.r#type.clone();
        if !p.ip.is_empty() {
            if p.public_port != cur {
                let host = if p.ip.contains(':') {
                    format!("[{}]:{}", p.ip, p.public_port)
                } else {
                    format!("{}:{}", p.ip, p.public_port)
                };
                mappings.push(format!("{host}->{}/{}", p.private_port, p.r#type));
                continue;
            }
            key = format!("{}/{}", p.ip, p.r#type);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, cur, cur)),
            Some(g) if cur == g.2.wrapping_add(1) => g.2 = cur,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                *g = (key, cur, cur);
            }
        }
    }
    for g in &groups {
        result.push(form_group(&g.0, g.1, g.2));
    }
    result.extend(mappings);
    result.join(", ")
}

fn ip_key(ip: &str) -> (u8, Vec<u8>) {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => (1, a.octets().to_vec()),
        Ok(std::net::IpAddr::V6(a)) => (2, a.octets().to_vec()),
        Err(_) => (0, Vec::new()),
    }
}

fn form_group(key: &str, start: u16, last: u16) -> String {
    let (ip, ty) = match key.rsplit_once('/') {
        Some((ip, ty)) => (ip, ty),
        None => ("", key),
    };
    let group = if start == last {
        start.to_string()
    } else {
        format!("{start}-{last}")
    };
    if ip.is_empty() {
        format!("{group}/{ty}")
    } else {
        let host = if ip.contains(':') {
            format!("[{ip}]:{group}")
        } else {
            format!("{ip}:{group}")
        };
        format!("{host}->{group}/{ty}")
    }
}

fn image_field(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return c.image.clone();
    }
    if short_id(&c.image_id) == short_id(&c.image) {
        return short_id(&c.image);
    }
    match Reference::parse(&c.image) {
        Ok(mut r) => {
            r.digest = None;
            r.familiar()
        }
        Err(_) => c.image.clone(),
    }
}

/// One row as docker's `ContainerContext` (keys sorted, as its JSON).
pub fn row(c: &ContainerSummary, trunc: bool) -> Json {
    let names = {
        let stripped: Vec<&str> = c.names.iter().map(|n| n.trim_start_matches('/')).collect();
        if trunc {
            stripped
                .iter()
                .find(|n| !n.contains('/'))
                .map(|s| (*s).to_owned())
                .unwrap_or_default()
        } else {
            stripped.join(",")
        }
    };
    let labels = c.labels.clone().unwrap_or_default();
    let mut joined: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.sort();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                m.source.clone()
            } else {
                m.name.clone()
            };
            if trunc { ellipsis(&n, 15) } else { n }
        })
        .collect();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size = {
        let srw = human_size_prec(c.size_rw as f64, 3);
        if c.size_root_fs > 0 {
            format!(
                "{srw} (virtual {})",
                human_size_prec(c.size_root_fs as f64, 3)
            )
        } else {
            srw
        }
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    Json::obj([
        ("Command", Json::str(go_quote(&command))),
        ("CreatedAt", Json::str(go_time_string(c.created))),
        (
            "ID",
            Json::str(if trunc { short_id(&c.id) } else { c.id.clone() }),
        ),
        ("Image", Json::str(image_field(c, trunc))),
        ("Labels", Json::str(joined.join(","))),
        ("LocalVolumes", Json::str(local_volumes.to_string())),
        ("Mounts", Json::str(mounts.join(","))),
        ("Names", Json::str(names)),
        ("Networks", Json::str(networks.join(","))),
        (
            "Platform",
            c.image_manifest_descriptor
                .as_ref()
                .and_then(|d| d.platform.as_ref())
                .map_or(Json::Null, Json::from_serialize),
        ),
        ("Ports", Json::str(displayable_ports(&c.ports))),
        ("RunningFor", Json::str(ago(c.created))),
        ("Size", Json::str(size)),
        ("State", Json::str(c.state.clone())),
        ("Status", Json::str(c.status.clone())),
        (
            "\0labels",
            Json::obj(labels.into_iter().map(|(k, v)| (k, Json::Str(v)))),
        ),
    ])
}

pub fn header() -> Json {
    Json::obj(
        [
            ("ID", "CONTAINER ID"),
            ("Names", "NAMES"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Ports", "PORTS"),
            ("State", "STATE"),
            ("Status", "STATUS"),
            ("Size", "SIZE"),
            ("Labels", "LABELS"),
            ("Mounts", "MOUNTS"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Networks", "NETWORKS"),
            ("Platform", "PLATFORM"),
        ]
        .map(|(k, v)| (k, Json::str(v))),
    )
}

/// `.Label "name"` on a row.
pub fn label_method(recv: &Json, name: &str, args: &[Json]) -> Option<Result<Json, String>> {
    if name != "Label" {
        return None;
    }
    let [Json::Str(key)] = args else {
        return Some(Err("wrong number of args for Label: want 1".into()));
    };
    Some(Ok(recv
        .get("\0labels")
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_else(|| Json::str(""))))
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let f = filters(m)?;
    let quiet = m.bool("quiet");
    let cfg = ctx.config();
    let format = match m.value("format") {
        Some(f) => f.to_owned(),
        None if quiet => String::new(),
        None => cfg.ps_format().unwrap_or("").to_owned(),
    };
    if let Some(f) = m.value("format").filter(|f| !f.is_empty()) {
        // docker checks the template on an empty row before listing
        let body = f
            .strip_prefix("table")
            .unwrap_or(f)
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let body = if f == "json" {
            "{{json .}}".to_owned()
        } else {
            body
        };
        let t = crate::format::template::Template::parse(&body)
            .map_err(|e| StatusError::new(1, format!("failed to parse template: {}", e.0)))?;
        let opts = crate::format::template::ExecOptions {
            header: false,
            missing: Missing::FieldError("*formatter.ContainerContext"),
            methods: Some(&label_method),
        };
        t.execute(&row(&ContainerSummary::default(), true), &opts)
            .map_err(|e| StatusError::new(1, format!("failed to execute template: {}", e.0)))?;
        if quiet {
            crate::commands::eprintln(
                "WARNING: Ignoring custom format, because both --format and --quiet are set.",
            );
        }
    }
    let mut default = DEFAULT.to_owned();
    if m.bool("size") {
        default.push_str("\t{{.Size}}");
    }
    let lf = ListFormat::new(&format, &default, quiet).map_err(|e| StatusError::new(1, e.0))?;
    let mut size = m.bool("size");
    if !quiet
        && !size
        && !m.changed("size")
        && (format.contains(".Size") || format == "json" || format.contains("json ."))
    {
        size = true;
    }
    let last = m.int("last", -1);
    let limit = if m.bool("latest") && last == -1 {
        1
    } else {
        last
    };
    let q = Query::new()
        .add_if(m.bool("all"), "all", "1")
        .add_if(limit > 0, "limit", &limit.to_string())
        .add_if(size, "size", "1")
        .add_if(!f.is_empty(), "filters", &f.to_json());
    let list: Vec<ContainerSummary> = ctx
        .client()?
        .get(&format!("/containers/json{}", q.as_str()))?;
    let trunc = !m.bool("no-trunc");
    let rows: Vec<Json> = list.iter().map(|c| row(c, trunc)).collect();
    let out = lf
        .render(
            &rows,
            &header(),
            Missing::FieldError("*formatter.ContainerContext"),
            Some(&label_method),
        )
        .map_err(|e| StatusError::new(1, e.0))?;
    crate::commands::print(&out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ip: &str, private: u16, public: u16, ty: &str) -> Port {
        Port {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            r#type: ty.into(),
        }
    }

    #[test]
    fn ports_like_docker() {
        assert_eq!(
            displayable_ports(&[p("0.0.0.0", 80, 8080, "tcp"), p("::", 80, 8080, "tcp")]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                p("", 80, 0, "tcp"),
                p("", 81, 0, "tcp"),
                p("", 82, 0, "tcp"),
                p("", 53, 0, "udp")
            ]),
            "53/udp, 80-82/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                p("0.0.0.0", 9090, 9090, "tcp"),
                p("0.0.0.0", 9091, 9091, "tcp")
            ]),
            "0.0.0.0:9090-9091->9090-9091/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn rows_like_docker() {
        let c = ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            image_id: "sha256:aaaa".into(),
            command: "sleep 1000000000000000000".into(),
            created: crate::format::units::now_unix() - 3,
            state: "running".into(),
            status: "Up 2 seconds".into(),
            labels: Some(
                [
                    ("b".to_owned(), "2".to_owned()),
                    ("a".to_owned(), "1".to_owned()),
                ]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        };
        let r = row(&c, true);
        assert_eq!(r.get("ID").and_then(Json::as_str), Some("0123456789ab"));
        assert_eq!(
            r.get("Command").and_then(Json::as_str),
            Some("\"sleep 1000000000000…\"")
        );
        assert_eq!(r.get("Names").and_then(Json::as_str), Some("web"));
        assert_eq!(r.get("Labels").and_then(Json::as_str), Some("a=1,b=2"));
        assert_eq!(
            r.get("RunningFor").and_then(Json::as_str),
            Some("3 seconds ago")
        );
        assert_eq!(r.get("Size").and_then(Json::as_str), Some("0B"));
        let lf = ListFormat::new(r#"{{.Names}} {{.Label "b"}}"#, DEFAULT, false).unwrap();
        assert_eq!(
            lf.render(
                std::slice::from_ref(&r),
                &header(),
                Missing::Zero,
                Some(&label_method)
            )
            .unwrap(),
            "web 2\n"
        );
        let lf = ListFormat::new("json", DEFAULT, false).unwrap();
        let json = lf.render(&[r], &header(), Missing::Zero, None).unwrap();
        assert!(
            json.starts_with(r#"{"Command":"\"sleep 1000000000000…\"","CreatedAt":"#),
            "{json}"
        );
        assert!(!json.contains("\\u0000"), "{json}");
    }
}
