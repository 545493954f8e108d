//! Networks as docker shows them: the predefined `bridge`, `host` and
//! `none`, and user-defined bridge networks. A bridge network is stored as
//! a record (`<state>/networks/<name>.json`) and as the CNI configuration
//! list berth runs for it (`<name>.conflist`).

pub(crate) mod conflist;
pub mod inspect;
pub(crate) mod pool;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ipnet::Ipv4Net;

/// Name of the default network.
pub const BRIDGE: &str = "bridge";
/// Name of the network that shares the host's namespace.
pub const HOST: &str = "host";
/// Name of the loopback-only network.
pub const NONE: &str = "none";

/// docker's `com.docker.network.bridge.name`.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// docker's `com.docker.network.driver.mtu`.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// docker's `com.docker.network.bridge.enable_ip_masquerade`.
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// docker's `com.docker.network.bridge.enable_icc`.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// docker's `com.docker.network.bridge.host_binding_ipv4`.
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";

/// What `docker network create` sends (`POST /networks/create`). Addresses
/// are strings so that the error names the field that was wrong.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// `bridge` (or empty for bridge); other drivers are refused
    pub driver: String,
    /// `--subnet`; allocated from the pools when `None`
    pub subnet: Option<String>,
    /// `--gateway`; the first host address when `None`
    pub gateway: Option<String>,
    /// `--ip-range`: the part of the subnet handed out automatically
    pub ip_range: Option<String>,
    /// `--internal`: no route out, no masquerade, no published ports
    pub internal: bool,
    /// `--attachable` (kept and reported; local networks are always attachable)
    pub attachable: bool,
    /// `--ipv6`: refused for now
    pub enable_ipv6: bool,
    /// `--label`
    pub labels: BTreeMap<String, String>,
    /// `-o`: driver options (bridge.name, driver.mtu, enable_ip_masquerade,
    /// enable_icc, host_binding_ipv4); others are refused
    pub options: BTreeMap<String, String>,
}

/// The driver of a network, as docker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// a Linux bridge with NAT (CNI bridge + host-local + portmap)
    Bridge,
    /// the host's own network namespace
    Host,
    /// loopback only
    Null,
}

impl Driver {
    /// docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// The bridge-specific part of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BridgeSpec {
    pub device: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    /// whether the user chose the subnet (docker only allows `--ip` then)
    #[serde(default)]
    pub user_subnet: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default = "yes")]
    pub masquerade: bool,
    #[serde(default = "yes")]
    pub icc: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub host_binding: Option<Ipv4Addr>,
}

fn yes() -> bool {
    true
}

/// A network as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub created: String,
    pub driver: Driver,
    #[serde(default)]
    pub bridge: Option<BridgeSpec>,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl NetworkRecord {
    pub(crate) fn predefined(&self) -> bool {
        is_predefined(&self.name)
    }
}

/// Whether `name` is one of `bridge`, `host`, `none`.
pub fn is_predefined(name: &str) -> bool {
    matches!(name, BRIDGE | HOST | NONE)
}

/// docker's rule for network names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; also the
/// CNI spec's rule for network names. Length is capped so that it stays a
/// usable file name.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| Err(Error::InvalidNetworkName { name: name.to_string(), reason });
    let mut chars = name.chars();
    match chars.next() {
        None => return bad("name is empty"),
        Some(c) if !c.is_ascii_alphanumeric() => return bad("must start with a letter or digit"),
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    if name.len() > 128 {
        return bad("longer than 128 characters");
    }
    Ok(())
}

/// Linux interface names: 1 to 15 bytes, no '/', whitespace or ':'.
pub(crate) fn validate_ifname(field: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            field,
            value: name.to_string(),
            reason: "interface names are 1 to 15 printable characters without '/' or ':'".into(),
        })
    }
}

pub(crate) fn parse_net(field: &'static str, value: &str) -> Result<Ipv4Net> {
    Ipv4Net::parse(value).map_err(|source| Error::InvalidAddress { field, value: value.to_string(), source })
}

pub(crate) fn parse_ip(field: &'static str, value: &str) -> Result<Ipv4Addr> {
    if value.contains(':') {
        return Err(Error::NotSupported(format!("IPv6 {field} {value}")));
    }
    value.trim().parse().map_err(|_| Error::InvalidValue {
        field,
        value: value.to_string(),
        reason: "not an IPv4 address".into(),
    })
}

fn parse_bool(field: &'static str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" | "True" | "TRUE" | "t" => Ok(true),
        "false" | "0" | "False" | "FALSE" | "f" => Ok(false),
        _ => Err(Error::InvalidValue { field, value: value.to_string(), reason: "expected true or false".into() }),
    }
}

/// Checks a gateway/ip-range against the subnet and turns driver options
/// into a [`BridgeSpec`] (subnet already chosen).
pub(crate) fn bridge_spec(
    opts: &NetworkOptions,
    subnet: Ipv4Net,
    user_subnet: bool,
    default_device: impl FnOnce() -> String,
) -> Result<BridgeSpec> {
    if subnet.prefix() > 30 {
        return Err(Error::InvalidValue {
            field: "subnet",
            value: subnet.to_string(),
            reason: "a bridge network needs at least a /30".into(),
        });
    }
    let gateway = match &opts.gateway {
        Some(g) => {
            let g = parse_ip("gateway", g)?;
            if !subnet.contains(g) || g == subnet.addr() || g == subnet.last() {
                return Err(Error::InvalidValue {
                    field: "gateway",
                    value: g.to_string(),
                    reason: format!("not a host address of subnet {subnet}"),
                });
            }
            g
        }
        None => subnet.first_host(),
    };
    let ip_range = match &opts.ip_range {
        Some(r) => {
            let r = parse_net("ip-range", r)?;
            if !subnet.contains_net(&r) {
                return Err(Error::InvalidValue {
                    field: "ip-range",
                    value: r.to_string(),
                    reason: format!("not inside subnet {subnet}"),
                });
            }
            Some(r)
        }
        None => None,
    };
    let mut spec = BridgeSpec {
        device: String::new(),
        subnet,
        gateway,
        ip_range,
        user_subnet,
        internal: opts.internal,
        masquerade: true,
        icc: true,
        mtu: None,
        host_binding: None,
    };
    let mut device = None;
    for (k, v) in &opts.options {
        match k.as_str() {
            OPT_BRIDGE_NAME => {
                validate_ifname("bridge name", v)?;
                device = Some(v.clone());
            }
            OPT_MTU => {
                let mtu: u32 = v.parse().ok().filter(|m| (68..=65535).contains(m)).ok_or_else(|| {
                    Error::InvalidValue { field: "mtu", value: v.clone(), reason: "expected 68 to 65535".into() }
                })?;
                spec.mtu = Some(mtu);
            }
            OPT_MASQUERADE => spec.masquerade = parse_bool("enable_ip_masquerade", v)?,
            OPT_ICC => spec.icc = parse_bool("enable_icc", v)?,
            OPT_HOST_BINDING => spec.host_binding = Some(parse_ip("host_binding_ipv4", v)?),
            other => return Err(Error::NotSupported(format!("network driver option {other}"))),
        }
    }
    spec.device = device.unwrap_or_else(default_device);
    Ok(spec)
}

/// Refuses what berth cannot do (yet) before anything is stored.
pub(crate) fn check_supported(opts: &NetworkOptions) -> Result<()> {
    match opts.driver.as_str() {
        "" | "bridge" => {}
        other => return Err(Error::NotSupported(format!("network driver {other}"))),
    }
    if opts.enable_ipv6 {
        return Err(Error::NotSupported("IPv6 networks".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        validate_name("front-end_1.x").expect("valid");
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"a".repeat(129)).is_err());
    }

    #[test]
    fn bridge_options() {
        let subnet = Ipv4Net::parse("10.5.0.0/24").expect("net");
        let mut o = NetworkOptions::default();
        let s = bridge_spec(&o, subnet, true, || "br-x".into()).expect("spec");
        assert_eq!(s.gateway, Ipv4Addr::new(10, 5, 0, 1));
        assert_eq!(s.device, "br-x");
        assert!(s.masquerade && s.icc);
        o.gateway = Some("10.5.0.254".into());
        o.ip_range = Some("10.5.0.128/25".into());
        o.options.insert(OPT_BRIDGE_NAME.into(), "mybr".into());
        o.options.insert(OPT_MTU.into(), "1400".into());
        o.options.insert(OPT_ICC.into(), "false".into());
        let s = bridge_spec(&o, subnet, true, || "unused".into()).expect("spec");
        assert_eq!((s.device.as_str(), s.mtu, s.icc), ("mybr", Some(1400), false));
        o.gateway = Some("10.6.0.1".into());
        assert!(matches!(bridge_spec(&o, subnet, true, String::new), Err(Error::InvalidValue { field: "gateway", .. })));
        o.gateway = None;
        o.ip_range = Some("10.5.1.0/25".into());
        assert!(matches!(bridge_spec(&o, subnet, true, String::new), Err(Error::InvalidValue { field: "ip-range", .. })));
        o.ip_range = None;
        o.options.insert("com.docker.network.bridge.inhibit_ipv4".into(), "true".into());
        assert!(matches!(bridge_spec(&o, subnet, true, String::new), Err(Error::NotSupported(_))));
        o.options.clear();
        o.options.insert(OPT_BRIDGE_NAME.into(), "much-too-long-name".into());
        assert!(bridge_spec(&o, subnet, true, String::new).is_err());
    }

    #[test]
    fn unsupported_drivers() {
        let o = NetworkOptions { driver: "macvlan".into(), ..Default::default() };
        assert_eq!(check_supported(&o).expect_err("refused").to_string(), "not supported yet: network driver macvlan");
        let o = NetworkOptions { enable_ipv6: true, ..Default::default() };
        assert!(check_supported(&o).is_err());
    }
}
