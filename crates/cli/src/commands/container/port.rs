//! `berth port`: a container's published ports.

use crate::app::Ctx;
use crate::commands::container::inspect_container;
use crate::error::StatusError;
use crate::flags::{Args, Matches, Spec};

pub static SPEC: Spec = Spec::new(
    "port",
    "CONTAINER [PRIVATE_PORT[/PROTO]]",
    "List port mappings or a specific mapping for the container",
    &[],
    Args::Range(1, 2),
)
.aliases("berth container port, berth port");

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Go's `sortorder.NaturalLess`: digit runs compare as numbers.
pub fn natural_less(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let tx: &[u8] = {
                    let z = dx.iter().take_while(|c| **c == b'0').count();
                    &dx[z..]
                };
                let ty: &[u8] = {
                    let z = dy.iter().take_while(|c| **c == b'0').count();
                    &dy[z..]
                };
                let o = tx.len().cmp(&ty.len()).then(tx.cmp(ty)).then(nx.cmp(&ny));
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let c = inspect_container(client, &m.args[0])?;
    let ports = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(spec) = m.args.get(1) {
        let (port, proto) = spec.split_once('/').unwrap_or((spec, ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port.parse::<u16>().is_err() {
            return Err(StatusError::new(
                1,
                format!(
                    "Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": invalid syntax"
                ),
            ));
        }
        let frontends = ports
            .get(&format!("{port}/{proto}"))
            .cloned()
            .flatten()
            .unwrap_or_default();
        if frontends.is_empty() {
            return Err(StatusError::new(
                1,
                format!("Error: No public port '{spec}' published for {}", m.args[0]),
            ));
        }
        out.extend(
            frontends
                .iter()
                .map(|f| join_host_port(&f.host_ip, &f.host_port)),
        );
    } else {
        for (from, frontends) in &ports {
            for f in frontends.iter().flatten() {
                out.push(format!(
                    "{from} -> {}",
                    join_host_port(&f.host_ip, &f.host_port)
                ));
            }
        }
    }
    if !out.is_empty() {
        out.sort_by(|a, b| natural_less(a, b));
        crate::commands::println(&out.join("\n"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec![
            "80/tcp -> 0.0.0.0:8080",
            "8080/tcp -> 0.0.0.0:1",
            "9/tcp -> :::9",
        ];
        v.sort_by(|a, b| natural_less(a, b));
        assert_eq!(
            v,
            vec![
                "9/tcp -> :::9",
                "80/tcp -> 0.0.0.0:8080",
                "8080/tcp -> 0.0.0.0:1"
            ]
        );
        assert_eq!(join_host_port("::", "80"), "[::]:80");
    }
}
