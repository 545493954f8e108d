//! Published ports: docker's `-p` syntax, the host-port table that refuses a
//! port twice ("port is already allocated"), ephemeral ports for `-P` and
//! `-p <containerPort>`, and reservations that keep host processes off a
//! published port (a bound, non-listening socket per port, as docker's
//! proxy and podman's conmon hold one).

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Parses `tcp`/`udp` (case-insensitive); `sctp` is refused as not supported yet.
    pub fn parse(s: &str) -> Result<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Err(Error::NotSupported("sctp port mappings".into())),
            _ => Err(Error::InvalidValue { field: "protocol", value: s.to_string(), reason: "expected tcp or udp".into() }),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested port mapping (one container port).
///
/// `host_port == 0` asks for an ephemeral port; `host_port_end > host_port`
/// asks for any free port of that range (docker's `-p 8000-8010:80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// `None`: every address of the host (0.0.0.0)
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// last port of a host range; equal to `host_port` (or 0) for one port
    #[serde(default)]
    pub host_port_end: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// One port to one port.
    pub fn new(host_port: u16, container_port: u16, protocol: Protocol) -> PortMapping {
        PortMapping { host_ip: None, host_port, host_port_end: host_port, container_port, protocol }
    }

    /// `-P` for an exposed port: an ephemeral host port.
    pub fn ephemeral(container_port: u16, protocol: Protocol) -> PortMapping {
        PortMapping::new(0, container_port, protocol)
    }
}

/// A port as published: what `docker port` prints and `NetworkSettings.Ports` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublishedPort {
    /// `0.0.0.0` for every address
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for PublishedPort {
    /// docker port's line: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}:{}", self.container_port, self.protocol, self.host_ip, self.host_port)
    }
}

/// Parses one docker `-p`/`--publish` value:
/// `[ip:][hostPort[-end]:]containerPort[-end][/proto]`, with `ip::port` for an
/// ephemeral port on one address. Ranges expand to one mapping per container
/// port; a host range with one container port means "any free port of the range".
pub fn parse_port_spec(spec: &str) -> Result<Vec<PortMapping>> {
    let bad = |reason: &str| Error::InvalidPortSpec { spec: spec.to_string(), reason: reason.to_string() };
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, Protocol::parse(p).map_err(|e| match e {
            Error::NotSupported(_) => e,
            _ => bad(&format!("unknown protocol {p:?}")),
        })?),
        None => (spec, Protocol::Tcp),
    };
    if rest.starts_with('[') || rest.matches(':').count() > 2 {
        return Err(Error::NotSupported(format!("IPv6 host addresses in port spec {spec}")));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, "", *c),
        [h, c] => (None, *h, *c),
        [ip, h, c] => (Some(*ip), *h, *c),
        _ => return Err(bad("too many ':'")),
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(ip.parse::<Ipv4Addr>().map_err(|_| bad(&format!("invalid host address {ip:?}")))?),
    };
    let host_ip = host_ip.filter(|ip| !ip.is_unspecified());
    let (cstart, cend) = parse_range(container).ok_or_else(|| bad("invalid container port"))?;
    if cstart == 0 {
        return Err(bad("container port 0 is not allowed"));
    }
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host).ok_or_else(|| bad("invalid host port"))?
    };
    let ccount = cend - cstart;
    let mut out = Vec::new();
    if hstart == 0 {
        if hend != 0 {
            return Err(bad("invalid host port range"));
        }
        for p in cstart..=cend {
            out.push(PortMapping { host_ip, host_port: 0, host_port_end: 0, container_port: p, protocol: proto });
        }
    } else if ccount == 0 {
        out.push(PortMapping { host_ip, host_port: hstart, host_port_end: hend, container_port: cstart, protocol: proto });
    } else if hend - hstart == ccount {
        for i in 0..=ccount {
            let hp = hstart + i;
            out.push(PortMapping { host_ip, host_port: hp, host_port_end: hp, container_port: cstart + i, protocol: proto });
        }
    } else {
        return Err(bad("host and container port ranges differ in length"));
    }
    Ok(out)
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let num = |x: &str| -> Option<u16> {
        if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        x.parse().ok()
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, b))
        }
        None => num(s).map(|p| (p, p)),
    }
}

/// A host port held for a container: the socket (bound, never listening)
/// keeps host processes from taking it while the DNAT rule points elsewhere.
#[derive(Debug)]
pub(crate) struct Reservation {
    _sock: OwnedFd,
}

/// Binds `ip:port` without SO_REUSEADDR (so nobody else can bind it either).
pub(crate) fn reserve(ip: Ipv4Addr, port: u16, proto: Protocol) -> std::io::Result<Reservation> {
    use std::os::fd::FromRawFd;
    let ty = match proto {
        Protocol::Tcp => libc::SOCK_STREAM,
        Protocol::Udp => libc::SOCK_DGRAM,
    };
    // SAFETY: socket(2) has no memory-safety preconditions; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = SocketAddrV4::new(ip, port);
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr.ip().octets()) },
        sin_zero: [0; 8],
    };
    // SAFETY: sin is a valid sockaddr_in that outlives the call, and the
    // length passed is its size.
    let rc = unsafe {
        libc::bind(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Reservation { _sock: sock })
}

/// Which container holds which host port.
#[derive(Debug, Default)]
pub(crate) struct PortTable {
    held: HashMap<(Protocol, u16), Vec<Holder>>,
    /// next ephemeral candidate: docker hands ports out round-robin so a
    /// just-freed port is not reused at once
    cursor: u16,
}

#[derive(Debug)]
struct Holder {
    ip: Ipv4Addr,
    container: String,
    _reservation: Option<Reservation>,
}

impl PortTable {
    fn conflict(&self, ip: Ipv4Addr, port: u16, proto: Protocol) -> bool {
        self.held
            .get(&(proto, port))
            .is_some_and(|hs| hs.iter().any(|h| h.ip.is_unspecified() || ip.is_unspecified() || h.ip == ip))
    }

    /// Takes `ip:port/proto` for `container`; `reservation` false skips the
    /// socket (used when re-reading records after a restart, where a failure
    /// to bind again must not lose track of the port).
    pub(crate) fn take(&mut self, container: &str, ip: Ipv4Addr, port: u16, proto: Protocol, reservation: bool) -> Result<()> {
        if self.conflict(ip, port, proto) {
            return Err(Error::PortAllocated { host_ip: ip.to_string(), host_port: port, proto: proto.to_string() });
        }
        let r = if reservation {
            Some(reserve(ip, port, proto).map_err(|source| Error::PortReserve {
                host_ip: ip.to_string(),
                host_port: port,
                proto: proto.to_string(),
                source,
            })?)
        } else {
            None
        };
        self.held.entry((proto, port)).or_default().push(Holder { ip, container: container.to_string(), _reservation: r });
        Ok(())
    }

    /// Like [`take`](Self::take) but tries to bind the reservation and only
    /// logs when it cannot (after a restart the port is still ours: the DNAT
    /// rule exists).
    pub(crate) fn restore(&mut self, container: &str, p: &PublishedPort) {
        if self.take(container, p.host_ip, p.host_port, p.protocol, true).is_err() {
            tracing::warn!(container, port = %p, "cannot re-reserve published port after restart; keeping it allocated");
            let _ = self.take(container, p.host_ip, p.host_port, p.protocol, false);
        }
    }

    /// Picks and takes a free port in `start..=end` (round-robin from the
    /// cursor for the ephemeral range).
    pub(crate) fn take_any(
        &mut self,
        container: &str,
        ip: Ipv4Addr,
        start: u16,
        end: u16,
        proto: Protocol,
        round_robin: bool,
    ) -> Result<u16> {
        let len = u32::from(end - start) + 1;
        let offset = if round_robin && (start..=end).contains(&self.cursor) { u32::from(self.cursor - start) } else { 0 };
        for i in 0..len {
            let port = start + ((offset + i) % len) as u16;
            if self.conflict(ip, port, proto) {
                continue;
            }
            match self.take(container, ip, port, proto, true) {
                Ok(()) => {
                    if round_robin {
                        self.cursor = if port == end { start } else { port + 1 };
                    }
                    return Ok(port);
                }
                // in use by a host process: try the next one
                Err(Error::PortReserve { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoFreePort { start, end, proto: proto.to_string() })
    }

    /// Releases one published port of `container`.
    pub(crate) fn release_one(&mut self, container: &str, p: &PublishedPort) {
        if let Some(hs) = self.held.get_mut(&(p.protocol, p.host_port)) {
            hs.retain(|h| !(h.container == container && h.ip == p.host_ip));
            if hs.is_empty() {
                self.held.remove(&(p.protocol, p.host_port));
            }
        }
    }

    /// Releases everything `container` holds.
    pub(crate) fn release(&mut self, container: &str) {
        self.held.retain(|_, hs| {
            hs.retain(|h| h.container != container);
            !hs.is_empty()
        });
    }
}

/// The kernel's ephemeral port range of the calling thread's network
/// namespace (`net.ipv4.ip_local_port_range`), docker's default for `-P`.
pub(crate) fn local_port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
            Some((it.next()?, it.next()?))
        })
        .filter(|(a, b)| a <= b && *a > 0)
        .unwrap_or((32768, 60999))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let v = parse_port_spec(spec).expect(spec);
        assert_eq!(v.len(), 1, "{spec}");
        v[0]
    }

    #[test]
    fn docker_publish_forms() {
        assert_eq!(one("8080:80"), PortMapping::new(8080, 80, Protocol::Tcp));
        assert_eq!(one("8080:80/udp"), PortMapping::new(8080, 80, Protocol::Udp));
        assert_eq!(one("80"), PortMapping { host_port: 0, host_port_end: 0, ..PortMapping::new(0, 80, Protocol::Tcp) });
        let m = one("127.0.0.1:8080:80");
        assert_eq!((m.host_ip, m.host_port), (Some(Ipv4Addr::LOCALHOST), 8080));
        let m = one("127.0.0.1::80");
        assert_eq!((m.host_ip, m.host_port, m.container_port), (Some(Ipv4Addr::LOCALHOST), 0, 80));
        assert_eq!(one("0.0.0.0:8080:80").host_ip, None);
        let m = one("8000-8010:80");
        assert_eq!((m.host_port, m.host_port_end, m.container_port), (8000, 8010, 80));
        let v = parse_port_spec("8000-8001:80-81/tcp").expect("range");
        assert_eq!(v, vec![PortMapping::new(8000, 80, Protocol::Tcp), PortMapping::new(8001, 81, Protocol::Tcp)]);
        assert_eq!(parse_port_spec("80-82").expect("range").len(), 3);
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("", "invalid container port"),
            ("abc", "invalid container port"),
            ("8080:", "invalid container port"),
            ("70000:80", "invalid host port"),
            ("8080:0", "container port 0"),
            ("8080:80/xyz", "unknown protocol"),
            ("1.2.3:8080:80", "invalid host address"),
            ("8000-8002:80-81", "differ in length"),
            ("90-80:80", "invalid host port"),
            ("1:2:3:4", "IPv6"),
        ] {
            let e = parse_port_spec(spec).expect_err(spec);
            assert!(e.to_string().contains(why), "{spec}: {e}");
            assert!(matches!(e, Error::InvalidPortSpec { .. } | Error::NotSupported(_)), "{spec}: {e}");
        }
        assert!(matches!(parse_port_spec("80/sctp"), Err(Error::NotSupported(_))));
        assert!(matches!(parse_port_spec("[::1]:80:80"), Err(Error::NotSupported(_))));
    }

    #[test]
    fn table_refuses_overlaps_by_address() {
        let mut t = PortTable::default();
        let any = Ipv4Addr::UNSPECIFIED;
        let lo = Ipv4Addr::LOCALHOST;
        t.take("a", lo, 18080, Protocol::Tcp, false).expect("take");
        t.take("b", Ipv4Addr::new(127, 0, 0, 2), 18080, Protocol::Tcp, false).expect("other address is fine");
        t.take("b", lo, 18080, Protocol::Udp, false).expect("other protocol is fine");
        let e = t.take("c", any, 18080, Protocol::Tcp, false).expect_err("0.0.0.0 overlaps everything");
        assert_eq!(e.to_string(), "bind for 0.0.0.0:18080/tcp failed: port is already allocated");
        t.release("a");
        t.release("b");
        t.take("c", any, 18080, Protocol::Tcp, false).expect("free again");
    }

    #[test]
    fn ephemeral_ports_round_robin_and_run_out() {
        let mut t = PortTable::default();
        let lo = Ipv4Addr::LOCALHOST;
        let a = t.take_any("a", lo, 40000, 40001, Protocol::Udp, true).expect("first");
        let b = t.take_any("b", lo, 40000, 40001, Protocol::Udp, true).expect("second");
        assert_ne!(a, b);
        assert!(matches!(t.take_any("c", lo, 40000, 40001, Protocol::Udp, true), Err(Error::NoFreePort { .. })));
        t.release("a");
        assert_eq!(t.take_any("c", lo, 40000, 40001, Protocol::Udp, true).expect("freed"), a);
    }
}
