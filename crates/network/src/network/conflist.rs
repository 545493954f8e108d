//! The CNI configuration list of a bridge network: `bridge` (with
//! `host-local` IPAM) and, when the container publishes ports, `portmap`.
//!
//! Masquerade, forwarding and isolation are network-wide rules berth keeps in
//! its own chains (see `firewall.rs`) rather than per-container rules from
//! the bridge plugin's `ipMasq` and the `firewall` plugin: the same effect
//! for the container, with one plugin exec per attach instead of three and no
//! per-container iptables churn (measured in crates/network/README.md).

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::{Value, json};

use super::{BridgeSpec, NetworkRecord};
use crate::cni::CNI_VERSION;

/// What varies per attachment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flavor {
    /// this network carries the container's default route
    pub default_route: bool,
    /// the portmap plugin is in the list (the container publishes ports here)
    pub ports: bool,
    /// `--ip`
    pub static_ip: Option<Ipv4Addr>,
}

pub(crate) fn build(net: &NetworkRecord, b: &BridgeSpec, ipam_dir: &Path, flavor: Flavor) -> Value {
    let mut range = json!({
        "subnet": b.subnet.to_string(),
        "gateway": b.gateway.to_string(),
    });
    if let Some(r) = b.ip_range {
        range["rangeStart"] = json!(r.first_host().max(b.subnet.first_host()).to_string());
        range["rangeEnd"] = json!(r.last_host().min(b.subnet.last_host()).to_string());
    }
    let mut bridge = json!({
        "type": "bridge",
        "bridge": b.device,
        "isGateway": true,
        "isDefaultGateway": flavor.default_route && !b.internal,
        "ipMasq": false,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[range]],
            "dataDir": ipam_dir.to_string_lossy(),
        },
    });
    if let Some(mtu) = b.mtu {
        bridge["mtu"] = json!(mtu);
    }
    if let Some(ip) = flavor.static_ip {
        // CNI CONVENTIONS.md "args": host-local reads args.cni.ips.
        bridge["args"] = json!({ "cni": { "ips": [ip.to_string()] } });
    }
    let mut plugins = vec![bridge];
    if flavor.ports {
        plugins.push(json!({
            "type": "portmap",
            "capabilities": { "portMappings": true },
            // masquerade hairpin and localhost traffic (and set route_localnet
            // on the bridge) so that `curl 127.0.0.1:<port>` works from the host
            "snat": true,
        }));
    }
    json!({
        "cniVersion": CNI_VERSION,
        "name": net.name,
        "plugins": plugins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipnet::Ipv4Net;
    use crate::network::Driver;

    fn record() -> (NetworkRecord, BridgeSpec) {
        let b = BridgeSpec {
            device: "berth0".into(),
            subnet: Ipv4Net::parse("10.87.0.0/16").expect("net"),
            gateway: Ipv4Addr::new(10, 87, 0, 1),
            ip_range: Some(Ipv4Net::parse("10.87.5.0/24").expect("net")),
            user_subnet: false,
            internal: false,
            masquerade: true,
            icc: true,
            mtu: Some(1400),
            host_binding: None,
        };
        let n = NetworkRecord {
            name: "bridge".into(),
            id: "x".into(),
            created: String::new(),
            driver: Driver::Bridge,
            bridge: Some(b.clone()),
            attachable: false,
            labels: Default::default(),
            options: Default::default(),
        };
        (n, b)
    }

    #[test]
    fn bridge_and_portmap() {
        let (n, b) = record();
        let flavor = Flavor { default_route: true, ports: true, static_ip: Some(Ipv4Addr::new(10, 87, 5, 9)) };
        let l = build(&n, &b, Path::new("/state/ipam"), flavor);
        assert_eq!(l["name"], "bridge");
        assert_eq!(l["cniVersion"], "1.0.0");
        let br = &l["plugins"][0];
        assert_eq!(br["bridge"], "berth0");
        assert_eq!(br["isDefaultGateway"], true);
        assert_eq!(br["ipMasq"], false);
        assert_eq!(br["mtu"], 1400);
        assert_eq!(br["ipam"]["dataDir"], "/state/ipam");
        assert_eq!(br["ipam"]["ranges"][0][0]["rangeStart"], "10.87.5.1");
        assert_eq!(br["ipam"]["ranges"][0][0]["rangeEnd"], "10.87.5.254");
        assert_eq!(br["args"]["cni"]["ips"][0], "10.87.5.9");
        assert_eq!(l["plugins"][1]["type"], "portmap");
        assert_eq!(l["plugins"][1]["capabilities"]["portMappings"], true);
    }

    #[test]
    fn internal_networks_get_no_default_route_and_no_ports_means_no_portmap() {
        let (n, mut b) = record();
        b.internal = true;
        let l = build(&n, &b, Path::new("/s"), Flavor { default_route: true, ..Default::default() });
        assert_eq!(l["plugins"][0]["isDefaultGateway"], false);
        assert_eq!(l["plugins"].as_array().map(Vec::len), Some(1));
    }
}
