//! CNI ADD: putting a container on its networks (`attach` at start,
//! `connect` for `docker network connect`), and making its namespace.
//!
//! Order of events for each attachment: the plan (interface name, exact
//! configuration list, ports) is recorded and fsynced, then the plugins
//! run, then the result is recorded. A crash anywhere leaves a record that
//! `detach`/`cleanup_stale` can DEL from.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cni::{self, Call, Verb};
use crate::error::{Error, Result};
use crate::manager::{Inner, NetworkManager};
use crate::network::{Driver, NetworkRecord, conflist};
use crate::persist;
use crate::ports::{PortMapping, PublishedPort};
use crate::store::{AttachState, AttachmentRecord, ContainerRecord, Mode, validate_container_id};

/// One network a container joins (`--network`, `--network-alias`, `--ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// network name, id or unique id prefix; `host` and `none` must stand alone
    pub network: String,
    /// extra names on this network (user-defined networks only, as in docker)
    pub aliases: Vec<String>,
    /// a fixed address (user-defined networks with a user-chosen subnet only)
    pub ipv4: Option<Ipv4Addr>,
}

impl Attachment {
    /// Joins `network` with no aliases and an automatic address.
    pub fn new(network: impl Into<String>) -> Attachment {
        Attachment { network: network.into(), ..Default::default() }
    }
}

/// Everything `attach` needs about a container.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    pub container_id: &'a str,
    /// docker's container name (shown in `network inspect`), without the `/`
    pub container_name: &'a str,
    /// the namespace from [`NetworkManager::create_netns`] (ignored for `host`)
    pub netns: &'a Path,
    /// in order of preference: the first non-internal network carries the
    /// default route and the published ports
    pub networks: &'a [Attachment],
    pub ports: &'a [PortMapping],
}

/// What a container got on one network (docker's `EndpointSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    pub endpoint_id: String,
    /// inside the container: `eth0`, `eth1`, ...
    pub interface: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: String,
    pub aliases: Vec<String>,
    /// whether the container's default route goes through this network
    pub default_route: bool,
    /// the ports published through this endpoint
    pub ports: Vec<PublishedPort>,
    /// the host end of the veth pair
    pub host_veth: Option<String>,
}

pub(crate) fn endpoint_of(a: &AttachmentRecord) -> Option<Endpoint> {
    let s = a.summary()?;
    Some(Endpoint {
        network: a.network.clone(),
        network_id: a.network_id.clone(),
        endpoint_id: a.endpoint_id.clone(),
        interface: a.ifname.clone(),
        ip: s.ip,
        prefix: s.prefix,
        gateway: s.gateway,
        mac: s.mac,
        aliases: a.aliases.clone(),
        default_route: a.default_route,
        ports: a.ports.clone(),
        host_veth: s.host_veth,
    })
}

impl NetworkManager {
    /// Creates the container's network namespace (loopback up) at
    /// `<run_dir>/<id>` without touching the caller's namespaces. Errors if
    /// it exists.
    pub fn create_netns(&self, id: &str) -> Result<PathBuf> {
        validate_container_id(id)?;
        let path = self.netns_path(id);
        if crate::netns::is_alive(&path) {
            return Err(Error::NetnsExists { container: id.to_string(), path });
        }
        // the empty mount point of a creation or removal a crash cut short
        crate::netns::remove(&path)?;
        crate::netns::create(&path)?;
        Ok(path)
    }

    /// Unmounts and removes the container's namespace. Idempotent. Call
    /// after [`detach`](Self::detach): DEL still works without the namespace,
    /// but the container side of the veth disappears with it.
    pub fn remove_netns(&self, id: &str) -> Result<()> {
        validate_container_id(id)?;
        crate::netns::remove(&self.netns_path(id))
    }

    /// CNI ADD of every network in `req`, then the published ports on the
    /// first non-internal network. All or nothing: on any failure what was
    /// added is deleted again and the ports are released.
    ///
    /// `host` or `none` alone record the mode and return no endpoints.
    pub fn attach(&self, req: &AttachRequest<'_>) -> Result<Vec<Endpoint>> {
        validate_container_id(req.container_id)?;
        let id = req.container_id;
        let _busy = self.busy(id);
        let planned = {
            let mut inner = self.lock();
            if let Some(rec) = inner.containers.get(id) {
                let what = match rec.mode {
                    Mode::Host => "host".to_string(),
                    Mode::None => "none".to_string(),
                    Mode::Attached => rec.attachments.iter().map(|a| a.network.clone()).collect::<Vec<_>>().join(", "),
                };
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: format!("already attached ({what}): detach first"),
                });
            }
            let nets: Vec<NetworkRecord> = req
                .networks
                .iter()
                .map(|a| self.resolve(&inner, &a.network).cloned())
                .collect::<Result<_>>()?;
            if let Some(special) = nets.iter().find(|n| n.driver != Driver::Bridge) {
                if nets.len() > 1 {
                    return Err(Error::InvalidAttachment {
                        container: id.to_string(),
                        reason: format!("network {} cannot be combined with other networks", special.name),
                    });
                }
                if !req.ports.is_empty() {
                    return Err(Error::InvalidAttachment {
                        container: id.to_string(),
                        reason: format!("ports cannot be published on network {} (docker discards them)", special.name),
                    });
                }
                let a = &req.networks[0];
                if !a.aliases.is_empty() || a.ipv4.is_some() {
                    return Err(Error::InvalidAttachment {
                        container: id.to_string(),
                        reason: format!("aliases and addresses are not supported on network {}", special.name),
                    });
                }
                let mode = if special.driver == Driver::Host { Mode::Host } else { Mode::None };
                let rec = ContainerRecord {
                    id: id.to_string(),
                    name: req.container_name.to_string(),
                    mode,
                    netns: (mode == Mode::None).then(|| req.netns.to_path_buf()),
                    attachments: vec![],
                };
                persist::write_json_atomic(&self.record_path(id), &rec)?;
                inner.containers.insert(id.to_string(), rec);
                return Ok(vec![]);
            }
            let mut rec = ContainerRecord {
                id: id.to_string(),
                name: req.container_name.to_string(),
                mode: Mode::Attached,
                netns: Some(req.netns.to_path_buf()),
                attachments: vec![],
            };
            let gw_index = nets.iter().position(|n| n.bridge.as_ref().is_some_and(|b| !b.internal));
            if !req.ports.is_empty() && gw_index.is_none() {
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: "ports can only be published on a network that is not internal".into(),
                });
            }
            for (i, (net, a)) in nets.iter().zip(req.networks).enumerate() {
                if rec.attachments.iter().any(|x| x.network == net.name) {
                    return Err(Error::AlreadyAttached { container: id.to_string(), network: net.name.clone() });
                }
                let ports = if Some(i) == gw_index { req.ports } else { &[] };
                let planned = self.plan(&mut inner, &rec, net, a, Some(i) == gw_index, ports);
                match planned {
                    Ok(att) => rec.attachments.push(att),
                    Err(e) => {
                        inner.ports.release(id);
                        return Err(e);
                    }
                }
            }
            if let Err(e) = persist::write_json_atomic(&self.record_path(id), &rec) {
                inner.ports.release(id);
                return Err(e);
            }
            inner.containers.insert(id.to_string(), rec.clone());
            rec
        };
        // Plugins run without the global lock: other containers go on.
        let mut results = Vec::with_capacity(planned.attachments.len());
        for a in &planned.attachments {
            match self.add_one(&planned, a) {
                Ok(r) => results.push(r),
                Err(e) => {
                    self.roll_back(&planned, results.len());
                    return Err(e);
                }
            }
        }
        let mut inner = self.lock();
        let Some(rec) = inner.containers.get_mut(id) else {
            return Err(Error::NotAttached { container: id.to_string(), network: "(record vanished)".into() });
        };
        for (a, r) in rec.attachments.iter_mut().zip(results) {
            a.result = Some(r);
            a.state = AttachState::Added;
        }
        let rec = rec.clone();
        persist::write_json_atomic(&self.record_path(id), &rec)?;
        drop(inner);
        self.sync_dns(id);
        let eps: Vec<Endpoint> = rec.attachments.iter().filter_map(endpoint_of).collect();
        tracing::info!(container = id, networks = eps.len(), "attached");
        Ok(eps)
    }

    /// `docker network connect`: one more network for a container that was
    /// attached (and whose namespace exists). The endpoint gets the next free
    /// `ethN`; it carries the default route only if the container had none.
    pub fn connect(&self, id: &str, attachment: &Attachment) -> Result<Endpoint> {
        validate_container_id(id)?;
        let _busy = self.busy(id);
        let (rec, att) = {
            let mut inner = self.lock();
            let net = self.resolve(&inner, &attachment.network)?.clone();
            let Some(rec) = inner.containers.get(id).cloned() else {
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: "not running with a network namespace berth attached".into(),
                });
            };
            match (rec.mode, net.driver) {
                (Mode::Attached, Driver::Bridge) => {}
                (Mode::Host, _) | (_, Driver::Host) => {
                    return Err(Error::InvalidAttachment {
                        container: id.to_string(),
                        reason: "container cannot be disconnected from host network or connected to host network".into(),
                    });
                }
                _ => {
                    return Err(Error::InvalidAttachment {
                        container: id.to_string(),
                        reason: "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
                    });
                }
            }
            if rec.attachments.iter().any(|a| a.network == net.name) {
                return Err(Error::AlreadyAttached { container: id.to_string(), network: net.name.clone() });
            }
            let default_route =
                !rec.attachments.iter().any(|a| a.default_route) && net.bridge.as_ref().is_some_and(|b| !b.internal);
            let att = self.plan(&mut inner, &rec, &net, attachment, default_route, &[])?;
            let mut updated = rec.clone();
            updated.attachments.push(att.clone());
            persist::write_json_atomic(&self.record_path(id), &updated)?;
            inner.containers.insert(id.to_string(), updated.clone());
            (updated, att)
        };
        let result = match self.add_one(&rec, &att) {
            Ok(r) => r,
            Err(e) => {
                // DEL whatever half-happened, then forget the attachment
                if self.del_one(&rec, &att).is_ok() {
                    let mut inner = self.lock();
                    if let Some(r) = inner.containers.get_mut(id) {
                        r.attachments.retain(|a| a.endpoint_id != att.endpoint_id);
                        let snapshot = r.clone();
                        let _ = persist::write_json_atomic(&self.record_path(id), &snapshot);
                    }
                }
                return Err(e);
            }
        };
        let mut inner = self.lock();
        let Some(r) = inner.containers.get_mut(id) else {
            return Err(Error::NotAttached { container: id.to_string(), network: att.network.clone() });
        };
        let Some(a) = r.attachments.iter_mut().find(|a| a.endpoint_id == att.endpoint_id) else {
            return Err(Error::NotAttached { container: id.to_string(), network: att.network.clone() });
        };
        a.result = Some(result);
        a.state = AttachState::Added;
        let ep = endpoint_of(a);
        let snapshot = r.clone();
        persist::write_json_atomic(&self.record_path(id), &snapshot)?;
        drop(inner);
        self.sync_dns(id);
        self.refresh_hosts(id);
        ep.ok_or_else(|| Error::PluginResult {
            call: crate::error::PluginCall::boxed("bridge", "ADD", id.to_string(), att.network.clone()),
            reason: format!("result has no IPv4 address for {}", att.ifname),
        })
    }

    /// Validates one attachment and builds its record (state `adding`);
    /// takes its ports in the table.
    fn plan(
        &self,
        inner: &mut Inner,
        rec: &ContainerRecord,
        net: &NetworkRecord,
        a: &Attachment,
        default_route: bool,
        ports: &[PortMapping],
    ) -> Result<AttachmentRecord> {
        let id = rec.id.as_str();
        let Some(b) = net.bridge.as_ref() else {
            return Err(Error::InvalidAttachment {
                container: id.to_string(),
                reason: format!("network {} cannot be combined with other networks", net.name),
            });
        };
        let user_defined = !net.predefined();
        if !a.aliases.is_empty() && !user_defined {
            return Err(Error::InvalidAttachment {
                container: id.to_string(),
                reason: "network-scoped aliases are supported only for containers in user defined networks".into(),
            });
        }
        for al in &a.aliases {
            if al.is_empty() || al.len() > 253 || al.chars().any(|c| c.is_whitespace() || c == '#') {
                return Err(Error::InvalidValue { field: "network alias", value: al.clone(), reason: "not a host name".into() });
            }
        }
        if let Some(ip) = a.ipv4 {
            if !user_defined {
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: "user specified IP address is supported on user defined networks only".into(),
                });
            }
            if !b.user_subnet {
                return Err(Error::InvalidAttachment {
                    container: id.to_string(),
                    reason: "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
                });
            }
            if !b.subnet.contains(ip) || ip == b.gateway || ip == b.subnet.addr() || ip == b.subnet.last() {
                return Err(Error::InvalidValue {
                    field: "ip",
                    value: ip.to_string(),
                    reason: format!("not a free host address of network {} ({})", net.name, b.subnet),
                });
            }
            let taken = inner.containers.values().flat_map(|c| &c.attachments).any(|x| {
                x.network == net.name && (x.requested_ip == Some(ip) || x.summary().is_some_and(|s| s.ip == ip))
            });
            if taken {
                return Err(Error::InvalidValue {
                    field: "ip",
                    value: ip.to_string(),
                    reason: format!("address already in use on network {}", net.name),
                });
            }
        }
        let mut published = Vec::new();
        for p in ports {
            let ip = p.host_ip.or(b.host_binding).unwrap_or(Ipv4Addr::UNSPECIFIED);
            let port = if p.host_port == 0 {
                let (start, end) = self.cfg.ephemeral_ports.unwrap_or_else(crate::ports::local_port_range);
                inner.ports.take_any(id, ip, start, end, p.protocol, true)?
            } else if p.host_port_end > p.host_port {
                inner.ports.take_any(id, ip, p.host_port, p.host_port_end, p.protocol, false)?
            } else {
                inner.ports.take(id, ip, p.host_port, p.protocol, true)?;
                p.host_port
            };
            published.push(PublishedPort { host_ip: ip, host_port: port, container_port: p.container_port, protocol: p.protocol });
        }
        let mut runtime_config = Map::new();
        if !published.is_empty() {
            let maps: Vec<Value> = published
                .iter()
                .map(|p| {
                    let mut m = json!({
                        "hostPort": p.host_port,
                        "containerPort": p.container_port,
                        "protocol": p.protocol.as_str(),
                    });
                    if !p.host_ip.is_unspecified() {
                        m["hostIP"] = json!(p.host_ip.to_string());
                    }
                    m
                })
                .collect();
            runtime_config.insert("portMappings".into(), Value::Array(maps));
        }
        let flavor = conflist::Flavor { default_route, ports: !published.is_empty(), static_ip: a.ipv4 };
        Ok(AttachmentRecord {
            network: net.name.clone(),
            network_id: net.id.clone(),
            endpoint_id: persist::random_id(),
            ifname: rec.next_ifname(&[]),
            aliases: a.aliases.clone(),
            requested_ip: a.ipv4,
            default_route: default_route && !b.internal,
            state: AttachState::Adding,
            conflist: conflist::build(net, b, &self.ipam_dir(), flavor),
            runtime_config,
            result: None,
            ports: published,
        })
    }

    pub(crate) fn add_one(&self, rec: &ContainerRecord, a: &AttachmentRecord) -> Result<Value> {
        let netns = rec.netns.as_deref();
        let call = Call { verb: Verb::Add, container_id: &rec.id, netns, ifname: &a.ifname, network: &a.network };
        let result = cni::add(&self.inv, &a.conflist, &call, &a.runtime_config)?;
        if cni::summarize(&result, &a.ifname).is_none() {
            return Err(Error::PluginResult {
                call: crate::error::PluginCall::boxed("bridge", "ADD", rec.id.clone(), a.network.clone()),
                reason: format!("result has no IPv4 address for {}", a.ifname),
            });
        }
        Ok(result)
    }

    /// After a failed ADD: DEL the failed attachment and the `done` ones
    /// before it (reverse order), release the ports, drop the record — or
    /// keep it (for `detach`/`cleanup_stale` to retry) if a DEL fails.
    fn roll_back(&self, rec: &ContainerRecord, done: usize) {
        let mut left = Vec::new();
        for a in rec.attachments[..=done.min(rec.attachments.len() - 1)].iter().rev() {
            if let Err(e) = self.del_one(rec, a) {
                tracing::warn!(container = %rec.id, network = %a.network, error = %e, "rollback DEL failed; kept for cleanup");
                left.push(a.clone());
            }
        }
        let mut inner = self.lock();
        if left.is_empty() {
            inner.containers.remove(&rec.id);
            inner.ports.release(&rec.id);
            let _ = persist::remove_durable(&self.record_path(&rec.id));
        } else if let Some(r) = inner.containers.get_mut(&rec.id) {
            r.attachments = left;
            let snapshot = r.clone();
            let _ = persist::write_json_atomic(&self.record_path(&rec.id), &snapshot);
        }
    }
}
