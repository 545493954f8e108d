//! A container's network, through berth-network (CNI bridge networks, port
//! publishing, netns, hosts/resolv.conf/hostname files). Everything network
//! specific in the engine is in this module.
//!
//! Modes: the default `bridge` and user-defined networks (own namespace,
//! CNI ADD, published ports), `none` (own namespace, loopback only), `host`,
//! `container:<id>` (the other container's namespace and files).
//! berth-network's calls block; they run on tokio's blocking pool.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::{Inner, Record};
use crate::error::{Error, Result};
use crate::model::{EndpointInfo, NetworkSettings};
use crate::oci::Ns;
use crate::spec::PortBinding;

pub use berth_network::{NetworkInfo, NetworkOptions};


/// The network state of a running container (persisted: teardown works
/// after a daemon restart, berth-network also keeps its own records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    /// `bridge`, a network name, `none`, `host`, `container:<id>`.
    pub mode: String,
    /// A namespace berth-network made for us (removed at teardown).
    pub netns: Option<PathBuf>,
    /// The namespace joined (ours, or another container's).
    pub joined: Option<PathBuf>,
    /// Where the hosts/resolv.conf/hostname files are.
    #[serde(default)]
    pub files_dir: Option<PathBuf>,
    pub endpoints: BTreeMap<String, EndpointInfo>,
    /// Published ports in effect (`80/tcp` → bindings).
    pub ports: BTreeMap<String, Vec<PortBinding>>,
}

#[derive(Debug)]
pub(crate) struct Network {
    pub mgr: Arc<berth_network::NetworkManager>,
}

fn net_err(e: berth_network::Error) -> Error {
    use berth_network::ErrorKind as K;
    let msg = e.to_string();
    match e.kind() {
        K::NotFound => Error::NoSuchNetwork(msg),
        K::Conflict => Error::Conflict(msg),
        K::InvalidArgument => Error::InvalidArgument(msg),
        K::FailedPrecondition => Error::FailedPrecondition(msg),
        K::NotSupported => Error::NotSupported(msg),
        _ => Error::Internal(format!("network: {msg}")),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("network task: {e}")))?
}

impl Network {
    pub(crate) fn open(config: &crate::config::EngineConfig) -> Result<Network> {
        let mut cfg = berth_network::NetConfig::new(config.data_root.join("network"), config.exec_root.join("netns"));
        let n = &config.network;
        if !n.bridge_subnet.is_empty() {
            cfg.default_subnet = berth_network::Ipv4Net::parse(&n.bridge_subnet).map_err(|e| Error::invalid(format!("network.bridge_subnet {:?}: {e}", n.bridge_subnet)))?;
        }
        if !n.bridge_name.is_empty() {
            cfg.default_bridge = n.bridge_name.clone();
        }
        cfg.cni_bin_dirs.insert(0, n.cni_bin_dir.clone());
        let mgr = berth_network::NetworkManager::open(cfg).map_err(net_err)?;
        Ok(Network { mgr: Arc::new(mgr) })
    }
}

/// The network mode a spec asks for, normalised (`default` → the daemon's).
pub(crate) fn mode_of(inner: &Inner, spec: &crate::spec::ContainerSpec) -> String {
    if spec.network_disabled {
        return "none".into();
    }
    match spec.network_mode.as_deref() {
        None | Some("") | Some("default") => inner.config.network.default_network.clone(),
        Some(m) => m.to_owned(),
    }
}

/// Checks at create that the mode can be set up.
pub(crate) fn validate(inner: &Inner, spec: &crate::spec::ContainerSpec) -> Result<()> {
    let mode = mode_of(inner, spec);
    match mode.as_str() {
        "none" | "host" => {
            if !spec.port_bindings.is_empty() && mode == "none" {
                return Err(Error::invalid("conflicting options: port publishing and the container type network mode"));
            }
        }
        m if m.starts_with("container:") => {
            let other = &m["container:".len()..];
            inner.lookup(other)?;
            if !spec.port_bindings.is_empty() || spec.publish_all_ports {
                return Err(Error::invalid("conflicting options: port publishing and the container type network mode"));
            }
            if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
                return Err(Error::invalid("conflicting options: hostname and the network mode"));
            }
        }
        name => {
            inner.network.mgr.inspect_network(name).map_err(net_err)?;
        }
    }
    if spec.endpoints.len() > 1 {
        return Err(Error::unsupported("connecting to several networks at create (connect the others with network connect)"));
    }
    for (net, e) in &spec.endpoints {
        if net != &mode && !(net == "bridge" && mode == inner.config.network.default_network) {
            return Err(Error::unsupported("endpoint settings for a network other than the --network one"));
        }
        if e.ipv6_address.is_some() || e.mac_address.is_some() {
            return Err(Error::unsupported("static IPv6 or MAC addresses"));
        }
        if let Some(ip) = &e.ipv4_address
            && ip.parse::<Ipv4Addr>().is_err()
        {
            return Err(Error::invalid(format!("invalid IPv4 address: {ip}")));
        }
    }
    for b in spec.port_bindings.values().flatten() {
        if !b.host_ip.is_empty() && b.host_ip.parse::<Ipv4Addr>().is_err() {
            return Err(Error::unsupported(format!("publishing on a non-IPv4 address ({})", b.host_ip)));
        }
    }
    Ok(())
}

/// The port mappings a spec asks for (`-p`, and `-P` for exposed ports).
fn port_mappings(spec: &crate::spec::ContainerSpec) -> Result<Vec<berth_network::PortMapping>> {
    use berth_network::{PortMapping, Protocol};
    let mut out = Vec::new();
    let parse_port = |p: &str| -> Result<(u16, u16, Protocol)> {
        let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let proto = Protocol::parse(proto).map_err(net_err)?;
        let (a, b) = port.split_once('-').unwrap_or((port, port));
        let a: u16 = a.parse().map_err(|_| Error::invalid(format!("invalid containerPort: {port}")))?;
        let b: u16 = b.parse().map_err(|_| Error::invalid(format!("invalid containerPort: {port}")))?;
        Ok((a, b, proto))
    };
    for (cport, bindings) in &spec.port_bindings {
        let (start, end, proto) = parse_port(cport)?;
        for b in bindings {
            let (hs, he) = if b.host_port.is_empty() {
                (0, 0)
            } else {
                let (x, y) = b.host_port.split_once('-').unwrap_or((&b.host_port, &b.host_port));
                (x.parse::<u16>().map_err(|_| Error::invalid(format!("invalid hostPort: {}", b.host_port)))?, y.parse::<u16>().map_err(|_| Error::invalid(format!("invalid hostPort: {}", b.host_port)))?)
            };
            let host_ip = if b.host_ip.is_empty() { None } else { Some(b.host_ip.parse::<Ipv4Addr>().map_err(|_| Error::invalid(format!("invalid IP address: {}", b.host_ip)))?) };
            for (i, cp) in (start..=end).enumerate() {
                let (h, he2) = if hs == 0 {
                    (0, 0)
                } else if end > start {
                    (hs + i as u16, hs + i as u16)
                } else {
                    (hs, he)
                };
                out.push(PortMapping { host_ip, host_port: h, host_port_end: he2, container_port: cp, protocol: proto });
            }
        }
    }
    if spec.publish_all_ports {
        for p in &spec.exposed_ports {
            if spec.port_bindings.contains_key(p) {
                continue;
            }
            let (start, end, proto) = parse_port(p)?;
            for cp in start..=end {
                out.push(PortMapping::ephemeral(cp, proto));
            }
        }
    }
    Ok(out)
}

fn endpoint_info(e: &berth_network::Endpoint) -> EndpointInfo {
    EndpointInfo {
        network_id: e.network_id.clone(),
        endpoint_id: e.endpoint_id.clone(),
        gateway: e.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: e.ip.to_string(),
        ip_prefix_len: e.prefix,
        ipv6_gateway: String::new(),
        global_ipv6_address: String::new(),
        global_ipv6_prefix_len: 0,
        mac_address: e.mac.clone(),
        aliases: e.aliases.clone(),
    }
}

fn file_options(rec: &Record) -> Result<berth_network::FileOptions> {
    let mut extra = Vec::new();
    for h in &rec.spec.extra_hosts {
        extra.push(crate::oci::parse_extra_host(h)?);
    }
    Ok(berth_network::FileOptions {
        hostname: rec.hostname.clone(),
        domainname: rec.spec.domainname.clone().unwrap_or_default(),
        extra_hosts: extra,
        dns: rec.spec.dns.clone(),
        dns_search: rec.spec.dns_search.clone(),
        dns_options: rec.spec.dns_options.clone(),
    })
}

/// Sets up the network for a start; returns the attachment and the
/// namespace for the OCI spec.
pub(crate) async fn setup(inner: &Arc<Inner>, rec: &Record) -> Result<(Attachment, Ns)> {
    let mode = mode_of(inner, &rec.spec);
    let mgr = inner.network.mgr.clone();
    let id = rec.id.clone();
    let opts = file_options(rec)?;
    if let Some(other) = mode.strip_prefix("container:") {
        let other = inner.lookup(other)?;
        let o = other.snapshot();
        if !o.state.running || o.state.pid <= 0 {
            return Err(Error::FailedPrecondition(format!("cannot join network of a non running container: {}", other.id)));
        }
        let joined = o.network.joined.clone().unwrap_or_else(|| PathBuf::from(format!("/proc/{}/ns/net", o.state.pid)));
        let ns = if o.network.mode == "host" { Ns::Host } else { Ns::Path(joined.clone()) };
        let att = Attachment { mode, joined: Some(joined), files_dir: o.network.files_dir.clone(), ..Default::default() };
        return Ok((att, ns));
    }
    let ports = port_mappings(&rec.spec)?;
    let name = rec.name.clone();
    let endpoint = rec.spec.endpoints.values().next().cloned().unwrap_or_default();
    let mode2 = mode.clone();
    blocking(move || {
        let host = mode2 == "host";
        let netns = if host { None } else { Some(mgr.create_netns(&id).map_err(net_err)?) };
        let attach = || -> Result<Vec<berth_network::Endpoint>> {
            let mut a = berth_network::Attachment::new(mode2.clone());
            a.aliases = endpoint.aliases.clone();
            a.ipv4 = endpoint.ipv4_address.as_deref().map(|s| s.parse::<Ipv4Addr>()).transpose().map_err(|_| Error::invalid("invalid IPv4 address"))?;
            let req = berth_network::AttachRequest {
                container_id: &id,
                container_name: &name,
                netns: netns.as_deref().unwrap_or(Path::new("/proc/self/ns/net")),
                networks: &[a],
                ports: &ports,
            };
            mgr.attach(&req).map_err(net_err)
        };
        let eps = match attach() {
            Ok(e) => e,
            Err(e) => {
                let _ = mgr.teardown(&id);
                return Err(e);
            }
        };
        let files = match mgr.write_files(&id, &opts) {
            Ok(f) => f,
            Err(e) => {
                let _ = mgr.teardown(&id);
                return Err(net_err(e));
            }
        };
        let mut endpoints = BTreeMap::new();
        let mut published: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
        for e in &eps {
            endpoints.insert(e.network.clone(), endpoint_info(e));
            for p in &e.ports {
                published.entry(format!("{}/{}", p.container_port, p.protocol)).or_default().push(PortBinding { host_ip: p.host_ip.to_string(), host_port: p.host_port.to_string() });
            }
        }
        if host {
            endpoints.entry("host".into()).or_default();
        }
        let files_dir = files.hosts.parent().map(Path::to_path_buf);
        let ns = match &netns {
            Some(p) => Ns::Path(p.clone()),
            None => Ns::Host,
        };
        Ok((Attachment { mode: mode2, netns: netns.clone(), joined: netns, files_dir, endpoints, ports: published }, ns))
    })
    .await
}

/// Undoes [`setup`] (idempotent; works from the persisted attachment after
/// a daemon restart).
pub(crate) async fn teardown(inner: &Arc<Inner>, id: &str, att: &Attachment) -> Result<()> {
    if att.mode.starts_with("container:") || att.mode.is_empty() {
        return Ok(());
    }
    let mgr = inner.network.mgr.clone();
    let id = id.to_owned();
    blocking(move || mgr.teardown(&id).map_err(net_err)).await
}

/// Forgets a removed container's files.
pub(crate) async fn remove(inner: &Arc<Inner>, id: &str) {
    let mgr = inner.network.mgr.clone();
    let id2 = id.to_owned();
    if let Err(e) = blocking(move || mgr.remove_files(&id2).map_err(net_err)).await {
        tracing::warn!(container = %id, error = %e, "removing network files");
    }
}

/// The hosts/resolv.conf/hostname paths of a record (where they will be).
pub(crate) fn files(inner: &Inner, rec: &Record) -> (PathBuf, PathBuf, PathBuf) {
    // berth-network keeps them in <state_dir>/files/<id> (its state dir is
    // <data_root>/network)
    let dir = rec.network.files_dir.clone().unwrap_or_else(|| inner.config.data_root.join("network").join("files").join(&rec.id));
    (dir.join("hosts"), dir.join("resolv.conf"), dir.join("hostname"))
}

/// docker inspect's network settings for a record.
pub(crate) fn settings(rec: &Record) -> NetworkSettings {
    let mut ports = BTreeMap::new();
    for p in &rec.spec.exposed_ports {
        ports.insert(p.clone(), Vec::new());
    }
    if rec.state.running {
        for (k, v) in &rec.network.ports {
            ports.insert(k.clone(), v.clone());
        }
    }
    let mut networks = rec.network.endpoints.clone();
    if networks.is_empty() {
        let mode = rec.spec.network_mode.clone().filter(|m| !m.is_empty() && !m.starts_with("container:") && m != "default").unwrap_or_else(|| "bridge".into());
        networks.insert(mode, EndpointInfo::default());
    }
    if !rec.state.running {
        for e in networks.values_mut() {
            *e = EndpointInfo { network_id: e.network_id.clone(), aliases: e.aliases.clone(), ..Default::default() };
        }
    }
    NetworkSettings {
        sandbox_key: if rec.state.running { rec.network.netns.as_ref().map(|p| p.display().to_string()).unwrap_or_default() } else { String::new() },
        ports,
        networks,
    }
}

/// The ids of live containers, for berth-network's cleanup at start.
pub(crate) async fn cleanup_stale(inner: &Arc<Inner>, live: Vec<String>) {
    let mgr = inner.network.mgr.clone();
    let r = blocking(move || {
        let ids: Vec<&str> = live.iter().map(String::as_str).collect();
        mgr.cleanup_stale(&ids).map_err(net_err)
    })
    .await;
    match r {
        Ok(report) => tracing::debug!(?report, "network cleanup"),
        Err(e) => tracing::warn!(error = %e, "network cleanup"),
    }
}

// ---- network management (docker network ...) ----

fn network_event(inner: &Inner, action: &str, info: &NetworkInfo, container: Option<&str>) {
    let mut attrs: BTreeMap<String, String> = [("name".to_string(), info.name.clone()), ("type".to_string(), info.driver.clone())].into();
    if let Some(c) = container {
        attrs.insert("container".into(), c.to_owned());
    }
    inner.events.publish(crate::model::EventType::Network, action, info.id.clone(), attrs);
}

pub(crate) async fn create_network(inner: &Arc<Inner>, name: &str, opts: NetworkOptions) -> Result<NetworkInfo> {
    let mgr = inner.network.mgr.clone();
    let n = name.to_owned();
    let info = blocking(move || mgr.create_network(&n, &opts).map_err(net_err)).await?;
    network_event(inner, "create", &info, None);
    Ok(info)
}

pub(crate) async fn inspect_network(inner: &Arc<Inner>, name: &str) -> Result<NetworkInfo> {
    let mgr = inner.network.mgr.clone();
    let n = name.to_owned();
    blocking(move || mgr.inspect_network(&n).map_err(net_err)).await
}

pub(crate) async fn list_networks(inner: &Arc<Inner>) -> Result<Vec<NetworkInfo>> {
    let mgr = inner.network.mgr.clone();
    blocking(move || Ok(mgr.list_networks())).await
}

pub(crate) async fn remove_network(inner: &Arc<Inner>, name: &str) -> Result<()> {
    let info = inspect_network(inner, name).await?;
    let mgr = inner.network.mgr.clone();
    let n = name.to_owned();
    blocking(move || mgr.remove_network(&n).map_err(net_err)).await?;
    network_event(inner, "destroy", &info, None);
    Ok(())
}

pub(crate) async fn prune_networks(inner: &Arc<Inner>) -> Result<Vec<String>> {
    let mgr = inner.network.mgr.clone();
    let removed = blocking(move || mgr.prune_networks().map_err(net_err)).await?;
    for n in &removed {
        inner.events.publish(crate::model::EventType::Network, "destroy", n.clone(), [("name".to_string(), n.clone())].into());
    }
    Ok(removed)
}

pub(crate) async fn connect(inner: &Arc<Inner>, container: &str, network: &str, ep: crate::spec::EndpointSpec) -> Result<()> {
    let c = inner.lookup(container)?;
    let _op = c.op.lock().await;
    if !c.rec().state.running {
        return Err(Error::unsupported("connecting a container that is not running (connect it once started)"));
    }
    if ep.ipv6_address.is_some() || ep.mac_address.is_some() {
        return Err(Error::unsupported("static IPv6 or MAC addresses"));
    }
    let info = inspect_network(inner, network).await?;
    let mut a = berth_network::Attachment::new(network.to_owned());
    a.aliases = ep.aliases.clone();
    a.ipv4 = ep.ipv4_address.as_deref().map(|s| s.parse::<Ipv4Addr>()).transpose().map_err(|_| Error::invalid("invalid IPv4 address"))?;
    let mgr = inner.network.mgr.clone();
    let id = c.id.clone();
    let e = blocking(move || mgr.connect(&id, &a).map_err(net_err)).await?;
    c.rec().network.endpoints.insert(e.network.clone(), endpoint_info(&e));
    let _ = inner.save(&c, crate::store::Sync::Lazy);
    network_event(inner, "connect", &info, Some(&c.id));
    Ok(())
}

pub(crate) async fn disconnect(inner: &Arc<Inner>, container: &str, network: &str, force: bool) -> Result<()> {
    let c = match inner.lookup(container) {
        Ok(c) => c,
        Err(e) if force => {
            tracing::debug!(error = %e, "disconnect --force of an unknown container");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let _op = c.op.lock().await;
    let info = inspect_network(inner, network).await?;
    if !c.rec().state.running {
        return Err(Error::unsupported("disconnecting a container that is not running"));
    }
    let mgr = inner.network.mgr.clone();
    let (id, n) = (c.id.clone(), info.name.clone());
    blocking(move || mgr.disconnect(&id, &n).map_err(net_err)).await?;
    c.rec().network.endpoints.remove(&info.name);
    let _ = inner.save(&c, crate::store::Sync::Lazy);
    network_event(inner, "disconnect", &info, Some(&c.id));
    Ok(())
}
