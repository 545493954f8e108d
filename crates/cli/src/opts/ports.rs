//! `-p`/`--publish` and `--expose`, as docker's `nat.ParsePortSpecs` reads
//! them: `[ip:][hostPort:]containerPort[/proto]`, ranges, the long form
//! `published=8080,target=80,protocol=udp`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_docker_types::container::{PortBinding, PortMap, PortSet};
use berth_docker_types::de::Empty;

/// `80` → (80, 80); `8000-8010` → (8000, 8010).
pub fn parse_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let num = |p: &str| p.parse::<u16>().map_err(|_| format!("invalid port: {p}"));
    match s.split_once('-') {
        None => {
            let p = num(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("invalid range specified for port: {s}"));
            }
            Ok((a, b))
        }
    }
}

/// `80/udp` → ("udp", "80"); no protocol is tcp.
pub fn split_proto_port(s: &str) -> (String, String) {
    match s.split_once('/') {
        None => ("tcp".into(), s.to_owned()),
        Some((p, "")) => ("tcp".into(), p.to_owned()),
        Some((p, proto)) => (proto.to_owned(), p.to_owned()),
    }
}

/// docker's long syntax to the short one.
fn standard_notation(spec: &str) -> Result<String, String> {
    if !spec.contains('=') {
        return Ok(spec.to_owned());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::new();
    params.insert("protocol", "tcp");
    for param in spec.split(',') {
        let Some((k, v)) = param.split_once('=') else {
            return Err(format!(
                "invalid publish opts format (should be name=value but got '{param}')"
            ));
        };
        params.insert(k, v);
    }
    Ok(format!(
        "{}:{}/{}",
        params.get("published").unwrap_or(&""),
        params.get("target").unwrap_or(&""),
        params["protocol"]
    ))
}

/// Parses every `-p` value into exposed ports and bindings.
pub fn parse_publish(specs: &[&str]) -> Result<(PortSet, PortMap), String> {
    let mut exposed = PortSet::new();
    let mut bindings = PortMap::new();
    for raw in specs {
        let spec = standard_notation(raw)?;
        let parts: Vec<&str> = spec.split(':').collect();
        let n = parts.len();
        let container = parts[n - 1];
        let (ip, host) = match n {
            1 => (String::new(), ""),
            2 => (String::new(), parts[0]),
            3 => (parts[0].to_owned(), parts[1]),
            _ => (parts[..n - 2].join(":"), parts[n - 2]),
        };
        let ip = ip.trim_start_matches('[').trim_end_matches(']').to_owned();
        if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
            return Err(format!("invalid IP address: {ip}"));
        }
        let (proto, container) = split_proto_port(container);
        if container.is_empty() {
            return Err(format!("no port specified: {spec}<empty>"));
        }
        let (start, end) =
            parse_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
        let (hstart, hend) = if host.is_empty() {
            (0, 0)
        } else {
            parse_range(host).map_err(|_| format!("invalid hostPort: {host}"))?
        };
        if !host.is_empty() && (end - start) != (hend - hstart) && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ));
        }
        let proto = proto.to_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        for i in 0..=(end - start) {
            let port = format!("{}/{proto}", start + i);
            let host_port = if host.is_empty() {
                String::new()
            } else if start == end && hstart != hend {
                format!("{hstart}-{hend}")
            } else {
                (hstart + i).to_string()
            };
            exposed.insert(port.clone(), Empty);
            bindings
                .entry(port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: ip.clone(),
                    host_port,
                });
        }
    }
    Ok((exposed, bindings))
}

/// Adds `--expose` values to the exposed ports.
pub fn add_expose(exposed: &mut PortSet, specs: &[&str]) -> Result<(), String> {
    for e in specs {
        if e.contains(':') {
            return Err(format!("invalid port format for --expose: {e}"));
        }
        let (proto, port) = split_proto_port(e);
        let (start, end) = parse_range(&port)
            .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
        for p in start..=end {
            exposed.entry(format!("{p}/{proto}")).or_insert(Empty);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn short_forms() {
        let (e, m) = parse_publish(&[
            "8080:80",
            "127.0.0.1:9000:90/udp",
            "53",
            "[::1]:5353:53/tcp",
        ])
        .unwrap();
        assert!(e.contains_key("80/tcp") && e.contains_key("90/udp") && e.contains_key("53/tcp"));
        assert_eq!(m["80/tcp"], Some(vec![b("", "8080")]));
        assert_eq!(m["90/udp"], Some(vec![b("127.0.0.1", "9000")]));
        assert_eq!(m["53/tcp"], Some(vec![b("", ""), b("::1", "5353")]));
    }

    #[test]
    fn ranges_and_long_form() {
        let (_, m) = parse_publish(&["8000-8001:80-81"]).unwrap();
        assert_eq!(m["80/tcp"], Some(vec![b("", "8000")]));
        assert_eq!(m["81/tcp"], Some(vec![b("", "8001")]));
        let (_, m) = parse_publish(&["8000-8010:80"]).unwrap();
        assert_eq!(m["80/tcp"], Some(vec![b("", "8000-8010")]));
        let (_, m) = parse_publish(&["published=8080,target=80,protocol=udp"]).unwrap();
        assert_eq!(m["80/udp"], Some(vec![b("", "8080")]));
    }

    #[test]
    fn errors_like_docker() {
        assert_eq!(parse_publish(&["x:80"]).unwrap_err(), "invalid hostPort: x");
        assert_eq!(
            parse_publish(&["80:abc"]).unwrap_err(),
            "invalid containerPort: abc"
        );
        assert_eq!(
            parse_publish(&["1.2.3:80:80"]).unwrap_err(),
            "invalid IP address: 1.2.3"
        );
        assert_eq!(
            parse_publish(&["80/icmp"]).unwrap_err(),
            "invalid proto: icmp"
        );
        assert_eq!(
            parse_publish(&["8000-8002:80-81"]).unwrap_err(),
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"
        );
        assert_eq!(
            parse_publish(&["80:"]).unwrap_err(),
            "no port specified: 80:<empty>"
        );
        assert!(
            parse_publish(&["published,target=80"])
                .unwrap_err()
                .starts_with("invalid publish opts format")
        );
    }

    #[test]
    fn expose() {
        let mut e = PortSet::new();
        add_expose(&mut e, &["80", "90-91/udp"]).unwrap();
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            vec!["80/tcp", "90/udp", "91/udp"]
        );
        assert_eq!(
            add_expose(&mut e, &["1:2"]).unwrap_err(),
            "invalid port format for --expose: 1:2"
        );
    }
}
