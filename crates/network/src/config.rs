//! [`NetConfig`]: where state lives, where plugins are, and the address and
//! port ranges berth hands out.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use crate::ipnet::Ipv4Net;

/// A block of addresses carved into subnets of one size for user-defined
/// networks created without `--subnet` (docker's `default-address-pools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    /// the block, e.g. `10.200.0.0/13`
    pub base: Ipv4Net,
    /// the prefix length of each network carved from it, e.g. 20
    pub size: u8,
}

/// Configuration of a [`crate::NetworkManager`].
///
/// Defaults (see [`NetConfig::new`]) avoid docker's (172.17.0.0/16 and the
/// 172.18–31/16 and 192.168/20 pools) and podman's (10.88.0.0/16, 10.89.x/24)
/// so that berth can run beside either on one host:
/// the default `bridge` network is `10.87.0.0/16` on device `berth0`, and
/// user networks get a `/20` each from `10.200.0.0/13` (128 networks),
/// skipping any block that overlaps a route already on the host.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// network definitions, attachment records, IPAM leases, per-container
    /// files (`/var/lib/berth/network`)
    pub state_dir: PathBuf,
    /// bind mounts of network namespaces (`/run/berth/netns`): on tmpfs, so
    /// they vanish with a reboot like the namespaces themselves
    pub run_dir: PathBuf,
    /// where CNI plugin binaries are searched, in order
    pub cni_bin_dirs: Vec<PathBuf>,
    /// bridge device of the default `bridge` network
    pub default_bridge: String,
    /// subnet of the default `bridge` network
    pub default_subnet: Ipv4Net,
    /// its gateway (the bridge's address); default: first host address
    pub default_gateway: Option<Ipv4Addr>,
    /// pools for user-defined networks created without a subnet
    pub address_pools: Vec<AddressPool>,
    /// range for ephemeral host ports (`-P`, `-p 80`); `None` reads
    /// `net.ipv4.ip_local_port_range` as docker does
    pub ephemeral_ports: Option<(u16, u16)>,
    /// MTU of container interfaces; `None` leaves the plugin default (1500)
    pub mtu: Option<u32>,
    /// the host's resolver configuration, filtered into containers'
    pub host_resolv_conf: PathBuf,
    /// used instead when the host file only names systemd-resolved's
    /// 127.0.0.53 (docker's rule)
    pub systemd_resolv_conf: PathBuf,
    /// the host's /etc/hosts, copied for `--network host` containers
    pub host_hosts: PathBuf,
    /// how long one plugin may run before it is killed
    pub plugin_timeout: Duration,
    /// serve container names on user-defined networks at 127.0.0.11
    /// (docker's embedded DNS)
    pub embedded_dns: bool,
    /// let that server forward other names to the upstream nameservers
    /// (the container's `--dns`, else the host's); off in tests, which must
    /// not send DNS queries anywhere
    pub dns_forward: bool,
}

impl NetConfig {
    /// The defaults with the given state and run directories.
    pub fn new(state_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> NetConfig {
        let net = |s: &str| Ipv4Net::parse(s).unwrap_or_else(|_| Ipv4Net::new_truncating(Ipv4Addr::UNSPECIFIED, 0));
        NetConfig {
            state_dir: state_dir.into(),
            run_dir: run_dir.into(),
            cni_bin_dirs: vec![
                PathBuf::from("/usr/lib/cni"),
                PathBuf::from("/opt/cni/bin"),
                PathBuf::from("/usr/libexec/cni"),
            ],
            default_bridge: "berth0".into(),
            default_subnet: net("10.87.0.0/16"),
            default_gateway: None,
            address_pools: vec![AddressPool { base: net("10.200.0.0/13"), size: 20 }],
            ephemeral_ports: None,
            mtu: None,
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
            systemd_resolv_conf: PathBuf::from("/run/systemd/resolve/resolv.conf"),
            host_hosts: PathBuf::from("/etc/hosts"),
            plugin_timeout: Duration::from_secs(60),
            embedded_dns: true,
            dns_forward: true,
        }
    }
}

impl Default for NetConfig {
    /// `/var/lib/berth/network` and `/run/berth/netns`.
    fn default() -> Self {
        NetConfig::new("/var/lib/berth/network", "/run/berth/netns")
    }
}
