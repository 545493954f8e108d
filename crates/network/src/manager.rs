//! [`NetworkManager`]: opening the state, the networks (create, list,
//! inspect, remove, prune) and the per-container serialization every
//! container operation goes through. Container verbs live in their own files
//! (`attach.rs`, `detach.rs`, `check.rs`, `cleanup.rs`, `files.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::cni::Invoker;
use crate::config::NetConfig;
use crate::error::{Error, Result};
use crate::firewall;
use crate::network::inspect::{ConfigFrom, Ipam, IpamConfig, NetworkContainer, NetworkInfo};
use crate::network::{self, BridgeSpec, Driver, NetworkOptions, NetworkRecord, conflist, pool};
use crate::persist::{self, StateLock};
use crate::ports::PortTable;
use crate::store::{AttachState, ContainerRecord, Mode};

/// Container networking for one berthd: networks, namespaces, CNI
/// attachments, published ports, and the per-container files.
///
/// Methods block (they run plugins and iptables); call them from a blocking
/// thread in an async daemon. All of them take `&self` and may run
/// concurrently; operations on one container are serialized.
#[derive(Debug)]
pub struct NetworkManager {
    pub(crate) cfg: NetConfig,
    pub(crate) inv: Invoker,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) dns: crate::dns::Dns,
    busy: Mutex<HashSet<String>>,
    busy_cv: Condvar,
    _lock: StateLock,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    /// by name
    pub networks: BTreeMap<String, NetworkRecord>,
    /// by container id
    pub containers: HashMap<String, ContainerRecord>,
    pub ports: PortTable,
}

/// Held while one container is being changed.
pub(crate) struct Busy<'a> {
    m: &'a NetworkManager,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut b = self.m.busy.lock().unwrap_or_else(|e| e.into_inner());
        b.remove(&self.id);
        self.m.busy_cv.notify_all();
    }
}

impl NetworkManager {
    /// Opens (creating if needed) the state in `cfg.state_dir`, takes the
    /// state-dir lock (one manager per state dir), makes `cfg.run_dir` a
    /// shared mount point for namespace mounts, creates the predefined
    /// networks on first use, reloads attachments and published ports, and
    /// writes berth's iptables chains.
    pub fn open(cfg: NetConfig) -> Result<NetworkManager> {
        persist::ensure_dir(&cfg.state_dir)?;
        let lock = StateLock::acquire(&cfg.state_dir)?;
        for d in ["networks", "containers", "files", "ipam"] {
            persist::ensure_dir(&cfg.state_dir.join(d))?;
        }
        crate::netns::prepare_run_dir(&cfg.run_dir)?;
        network::validate_ifname("default bridge name", &cfg.default_bridge)?;
        let inv = Invoker::new(cfg.cni_bin_dirs.clone(), cfg.plugin_timeout);
        let dns = crate::dns::Dns::new(cfg.dns_forward, cfg.host_resolv_conf.clone());
        let m = NetworkManager {
            cfg,
            inv,
            dns,
            inner: Mutex::new(Inner::default()),
            busy: Mutex::new(HashSet::new()),
            busy_cv: Condvar::new(),
            _lock: lock,
        };
        m.load()?;
        m.sync_firewall()?;
        for id in m.attached_containers() {
            m.sync_dns(&id);
        }
        Ok(m)
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// How many CNI plugin processes this manager has started (for benchmarks).
    pub fn plugin_execs(&self) -> u64 {
        self.inv.exec_count()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serializes operations on one container.
    pub(crate) fn busy(&self, id: &str) -> Busy<'_> {
        let mut b = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while b.contains(id) {
            b = self.busy_cv.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        b.insert(id.to_string());
        Busy { m: self, id: id.to_string() }
    }

    pub(crate) fn networks_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("networks")
    }

    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("containers")
    }

    pub(crate) fn ipam_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("ipam")
    }

    pub(crate) fn record_path(&self, id: &str) -> PathBuf {
        self.containers_dir().join(format!("{id}.json"))
    }

    /// Path of a container's namespace mount: `<run_dir>/<id>`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.cfg.run_dir.join(id)
    }

    fn load(&self) -> Result<()> {
        let mut inner = self.lock();
        for entry in read_dir(&self.networks_dir())? {
            if entry.extension().is_some_and(|e| e == "json")
                && let Some(rec) = persist::read_json::<NetworkRecord>(&entry)?
            {
                inner.networks.insert(rec.name.clone(), rec);
            }
        }
        self.ensure_predefined(&mut inner)?;
        for entry in read_dir(&self.containers_dir())? {
            if entry.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(rec) = persist::read_json::<ContainerRecord>(&entry)? else { continue };
            for a in &rec.attachments {
                for p in &a.ports {
                    inner.ports.restore(&rec.id, p);
                }
            }
            inner.containers.insert(rec.id.clone(), rec);
        }
        Ok(())
    }

    /// bridge, host and none exist from the first start on, with stable ids;
    /// the default bridge follows the configuration.
    fn ensure_predefined(&self, inner: &mut Inner) -> Result<()> {
        let gateway = self.cfg.default_gateway.unwrap_or_else(|| self.cfg.default_subnet.first_host());
        if !self.cfg.default_subnet.contains(gateway) {
            return Err(Error::InvalidValue {
                field: "default gateway",
                value: gateway.to_string(),
                reason: format!("not in default subnet {}", self.cfg.default_subnet),
            });
        }
        let spec = BridgeSpec {
            device: self.cfg.default_bridge.clone(),
            subnet: self.cfg.default_subnet,
            gateway,
            ip_range: None,
            user_subnet: false,
            internal: false,
            masquerade: true,
            icc: true,
            mtu: self.cfg.mtu,
            host_binding: None,
        };
        let mut bridge_opts = BTreeMap::new();
        for (k, v) in [
            ("com.docker.network.bridge.default_bridge", "true".to_string()),
            (network::OPT_ICC, "true".into()),
            (network::OPT_MASQUERADE, "true".into()),
            (network::OPT_HOST_BINDING, "0.0.0.0".into()),
            (network::OPT_BRIDGE_NAME, self.cfg.default_bridge.clone()),
            (network::OPT_MTU, self.cfg.mtu.unwrap_or(1500).to_string()),
        ] {
            bridge_opts.insert(k.to_string(), v);
        }
        for (name, driver) in [(network::BRIDGE, Driver::Bridge), (network::HOST, Driver::Host), (network::NONE, Driver::Null)] {
            let existing = inner.networks.get(name).cloned();
            let mut rec = existing.clone().unwrap_or_else(|| NetworkRecord {
                name: name.to_string(),
                id: persist::random_id(),
                created: berth_time::Timestamp::now().rfc3339_nano_fixed().into(),
                driver,
                bridge: None,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
            });
            if driver == Driver::Bridge {
                rec.bridge = Some(spec.clone());
                rec.options = bridge_opts.clone();
            }
            if existing.as_ref() != Some(&rec) {
                self.store_network(&rec)?;
                inner.networks.insert(name.to_string(), rec);
            }
        }
        Ok(())
    }

    fn store_network(&self, rec: &NetworkRecord) -> Result<()> {
        let dir = self.networks_dir();
        persist::write_json_atomic(&dir.join(format!("{}.json", rec.name)), &rec)?;
        if let Some(b) = &rec.bridge {
            // The list as a plain CNI tool would run it (default route, ports).
            let flavor = conflist::Flavor { default_route: true, ports: true, static_ip: None };
            let list = conflist::build(rec, b, &self.ipam_dir(), flavor);
            persist::write_json_atomic(&dir.join(format!("{}.conflist", rec.name)), &list)?;
        }
        Ok(())
    }

    pub(crate) fn sync_firewall(&self) -> Result<()> {
        let rules: Vec<firewall::NetRules> = {
            let inner = self.lock();
            inner
                .networks
                .values()
                .filter_map(|n| n.bridge.as_ref())
                .map(|b| firewall::NetRules {
                    bridge: b.device.clone(),
                    subnet: b.subnet,
                    internal: b.internal,
                    masquerade: b.masquerade,
                    icc: b.icc,
                })
                .collect()
        };
        firewall::sync(&rules)
    }

    /// Finds a network by exact id, exact name, or unique id prefix (docker's order).
    pub(crate) fn resolve<'a>(&self, inner: &'a Inner, name_or_id: &str) -> Result<&'a NetworkRecord> {
        if let Some(n) = inner.networks.values().find(|n| n.id == name_or_id) {
            return Ok(n);
        }
        if let Some(n) = inner.networks.get(name_or_id) {
            return Ok(n);
        }
        if !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut it = inner.networks.values().filter(|n| n.id.starts_with(name_or_id));
            if let Some(first) = it.next() {
                if it.next().is_some() {
                    return Err(Error::NetworkAmbiguous(name_or_id.to_string()));
                }
                return Ok(first);
            }
        }
        Err(Error::NetworkNotFound(name_or_id.to_string()))
    }

    /// `docker network create`: a user-defined bridge network. Without a
    /// subnet, the first free block of the address pools that overlaps no
    /// network and no host route is used.
    pub fn create_network(&self, name: &str, opts: &NetworkOptions) -> Result<NetworkInfo> {
        network::validate_name(name)?;
        if network::is_predefined(name) {
            return Err(Error::Predefined { name: name.to_string(), action: "created" });
        }
        network::check_supported(opts)?;
        let user_subnet = match &opts.subnet {
            Some(s) => Some(network::parse_net("subnet", s)?),
            None => None,
        };
        if opts.subnet.is_none() && (opts.gateway.is_some() || opts.ip_range.is_some()) {
            return Err(Error::InvalidValue {
                field: "gateway/ip-range",
                value: opts.gateway.clone().or_else(|| opts.ip_range.clone()).unwrap_or_default(),
                reason: "requires --subnet".into(),
            });
        }
        let mut inner = self.lock();
        if inner.networks.contains_key(name) {
            return Err(Error::NetworkExists(name.to_string()));
        }
        let existing: Vec<(String, BridgeSpec)> = inner
            .networks
            .values()
            .filter_map(|n| n.bridge.clone().map(|b| (n.name.clone(), b)))
            .collect();
        let subnet = match user_subnet {
            Some(s) => {
                if let Some((other, b)) = existing.iter().find(|(_, b)| b.subnet.overlaps(&s)) {
                    return Err(Error::SubnetOverlap {
                        subnet: s.to_string(),
                        other: other.clone(),
                        other_subnet: b.subnet.to_string(),
                    });
                }
                s
            }
            None => {
                let taken: Vec<_> = existing.iter().map(|(_, b)| b.subnet).collect();
                // routes of our own bridges are covered by `taken`
                pool::allocate(&self.cfg.address_pools, &taken, &pool::host_routes())
                    .ok_or_else(|| Error::PoolExhausted(name.to_string()))?
            }
        };
        let id = loop {
            let id = persist::random_id();
            // bridge names carry 9 hex digits of the id: make them unique too
            if !inner.networks.values().any(|n| n.id[..12] == id[..12]) {
                break id;
            }
        };
        let spec = network::bridge_spec(opts, subnet, user_subnet.is_some(), || format!("berth-{}", &id[..9]))?;
        if let Some((other, _)) = existing.iter().find(|(_, b)| b.device == spec.device) {
            return Err(Error::InvalidValue {
                field: "bridge name",
                value: spec.device.clone(),
                reason: format!("already used by network {other}"),
            });
        }
        let rec = NetworkRecord {
            name: name.to_string(),
            id,
            created: berth_time::Timestamp::now().rfc3339_nano_fixed().into(),
            driver: Driver::Bridge,
            bridge: Some(spec),
            attachable: opts.attachable,
            labels: opts.labels.clone(),
            options: opts.options.clone(),
        };
        self.store_network(&rec)?;
        inner.networks.insert(name.to_string(), rec.clone());
        drop(inner);
        if let Err(e) = self.sync_firewall() {
            // keep state and rules in step: undo the network
            self.lock().networks.remove(name);
            let _ = self.forget_network_files(name);
            let _ = self.sync_firewall();
            return Err(e);
        }
        tracing::info!(network = name, id = %rec.id, "network created");
        Ok(self.info(&self.lock(), &rec))
    }

    fn forget_network_files(&self, name: &str) -> Result<()> {
        let dir = self.networks_dir();
        persist::remove_durable(&dir.join(format!("{name}.json")))?;
        persist::remove_durable(&dir.join(format!("{name}.conflist")))?;
        let ipam = self.ipam_dir().join(name);
        match std::fs::remove_dir_all(&ipam) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { op: "remove", path: ipam, source: e }),
        }
    }

    /// `docker network rm`: refuses predefined networks and networks with
    /// attached containers; deletes the bridge device, leases and rules.
    pub fn remove_network(&self, name_or_id: &str) -> Result<()> {
        let mut inner = self.lock();
        let rec = self.resolve(&inner, name_or_id)?.clone();
        if rec.predefined() {
            return Err(Error::Predefined { name: rec.name.clone(), action: "removed" });
        }
        let users: Vec<String> = inner
            .containers
            .values()
            .filter(|c| c.attachments.iter().any(|a| a.network == rec.name))
            .map(|c| if c.name.is_empty() { c.id.clone() } else { c.name.clone() })
            .collect();
        if !users.is_empty() {
            return Err(Error::NetworkInUse { name: rec.name.clone(), id: rec.id.clone(), containers: users.join(", ") });
        }
        self.forget_network_files(&rec.name)?;
        inner.networks.remove(&rec.name);
        drop(inner);
        if let Some(b) = &rec.bridge {
            crate::netns::delete_bridge(&b.device).map_err(|source| Error::Io {
                op: "delete bridge",
                path: PathBuf::from("/sys/class/net").join(&b.device),
                source,
            })?;
        }
        self.sync_firewall()?;
        tracing::info!(network = %rec.name, "network removed");
        Ok(())
    }

    /// `docker network prune`: removes user-defined networks without
    /// containers; returns their names.
    pub fn prune_networks(&self) -> Result<Vec<String>> {
        let unused: Vec<String> = {
            let inner = self.lock();
            inner
                .networks
                .values()
                .filter(|n| !n.predefined())
                .filter(|n| !inner.containers.values().any(|c| c.attachments.iter().any(|a| a.network == n.name)))
                .map(|n| n.name.clone())
                .collect()
        };
        let mut removed = Vec::new();
        for n in unused {
            match self.remove_network(&n) {
                Ok(()) => removed.push(n),
                // attached or removed meanwhile: not unused any more
                Err(Error::NetworkInUse { .. }) | Err(Error::NetworkNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// `docker network ls`: every network, sorted by name.
    pub fn list_networks(&self) -> Vec<NetworkInfo> {
        let inner = self.lock();
        inner.networks.values().map(|n| self.info(&inner, n)).collect()
    }

    /// `docker network inspect`.
    pub fn inspect_network(&self, name_or_id: &str) -> Result<NetworkInfo> {
        let inner = self.lock();
        let rec = self.resolve(&inner, name_or_id)?;
        Ok(self.info(&inner, rec))
    }

    pub(crate) fn info(&self, inner: &Inner, n: &NetworkRecord) -> NetworkInfo {
        let mut containers = BTreeMap::new();
        for c in inner.containers.values() {
            let special = matches!((c.mode, n.driver), (Mode::Host, Driver::Host) | (Mode::None, Driver::Null));
            if special {
                containers.insert(
                    c.id.clone(),
                    NetworkContainer {
                        name: c.name.clone(),
                        endpoint_id: String::new(),
                        mac_address: String::new(),
                        ipv4_address: String::new(),
                        ipv6_address: String::new(),
                    },
                );
                continue;
            }
            for a in c.attachments.iter().filter(|a| a.network == n.name && a.state == AttachState::Added) {
                let s = a.summary();
                containers.insert(
                    c.id.clone(),
                    NetworkContainer {
                        name: c.name.clone(),
                        endpoint_id: a.endpoint_id.clone(),
                        mac_address: s.as_ref().map(|s| s.mac.clone()).unwrap_or_default(),
                        ipv4_address: s.as_ref().map(|s| format!("{}/{}", s.ip, s.prefix)).unwrap_or_default(),
                        ipv6_address: String::new(),
                    },
                );
            }
        }
        let config = n
            .bridge
            .as_ref()
            .map(|b| {
                vec![IpamConfig {
                    subnet: b.subnet.to_string(),
                    ip_range: b.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                    gateway: b.gateway.to_string(),
                }]
            })
            .unwrap_or_default();
        NetworkInfo {
            name: n.name.clone(),
            id: n.id.clone(),
            created: n.created.clone(),
            scope: "local".into(),
            driver: n.driver.as_str().into(),
            enable_ipv6: false,
            ipam: Ipam { driver: "default".into(), options: BTreeMap::new(), config },
            internal: n.bridge.as_ref().is_some_and(|b| b.internal),
            attachable: n.attachable,
            ingress: false,
            config_from: ConfigFrom::default(),
            config_only: false,
            containers,
            options: n.options.clone(),
            labels: n.labels.clone(),
        }
    }

    /// The names a container answers to on user-defined networks, for the
    /// embedded DNS server: its name, its aliases there, its short id.
    pub(crate) fn sync_dns(&self, id: &str) {
        if !self.cfg.embedded_dns {
            return;
        }
        let (entries, netns) = {
            let inner = self.lock();
            let Some(rec) = inner.containers.get(id) else {
                drop(inner);
                self.dns.remove(id);
                return;
            };
            let entries: Vec<crate::dns::NameEntry> = rec
                .attachments
                .iter()
                .filter(|a| !network::is_predefined(&a.network))
                .filter_map(|a| {
                    let s = a.summary()?;
                    let mut names: Vec<String> = Vec::new();
                    if !rec.name.is_empty() {
                        names.push(rec.name.clone());
                    }
                    names.extend(a.aliases.iter().cloned());
                    if rec.id.len() >= 12 {
                        names.push(rec.id[..12].to_string());
                    }
                    Some(crate::dns::NameEntry { network: a.network.clone(), names, ip: s.ip })
                })
                .collect();
            (entries, rec.netns.clone().filter(|p| crate::netns::is_alive(p)))
        };
        if let Err(e) = self.dns.update(id, entries, netns.as_deref()) {
            tracing::error!(container = id, error = %e, "cannot start the embedded DNS server for the container");
        }
    }

    /// Whether the container is on a user-defined network (and so gets the
    /// embedded DNS server).
    pub(crate) fn wants_dns(&self, id: &str) -> bool {
        self.cfg.embedded_dns
            && self.lock().containers.get(id).is_some_and(|r| r.attachments.iter().any(|a| !network::is_predefined(&a.network)))
    }

    /// The gateway of the default bridge network (docker's `host-gateway`
    /// when a container has no gateway of its own).
    pub(crate) fn default_gateway(&self) -> Option<Ipv4Addr> {
        self.lock().networks.get(network::BRIDGE).and_then(|n| n.bridge.as_ref()).map(|b| b.gateway)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(Error::io("read dir", dir))? {
        let e = e.map_err(Error::io("read dir", dir))?;
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(e.path());
    }
    out.sort();
    Ok(out)
}
