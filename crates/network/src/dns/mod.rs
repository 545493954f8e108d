//! The embedded DNS server of user-defined networks (docker's 127.0.0.11):
//! containers resolve each other's names, network aliases and short ids on
//! the networks they share. Other names are forwarded to the upstream
//! nameservers (the container's `--dns`, else the host's resolv.conf) from
//! the daemon's namespace, as docker does, unless forwarding is off.
//!
//! One small thread per container (64 KiB stack) answers on a UDP socket
//! bound to 127.0.0.11:53 inside the container's namespace; the socket is
//! made there by a helper thread and then served from the daemon's side.
//! TCP is not served (answers are small and never truncated).

pub(crate) mod packet;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The address containers send queries to.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TTL: u32 = 600;

/// One name-bearing endpoint of a container on a user-defined network.
#[derive(Debug, Clone)]
pub(crate) struct NameEntry {
    pub network: String,
    pub names: Vec<String>,
    pub ip: Ipv4Addr,
}

/// Who is called what on which network.
#[derive(Debug, Default)]
pub(crate) struct NameTable {
    by_container: HashMap<String, Vec<NameEntry>>,
}

impl NameTable {
    /// Addresses for `name` as seen by `querier`: endpoints on the networks
    /// the querier is on. `None` if berth knows no such name there.
    pub(crate) fn lookup(&self, querier: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let nets: Vec<&str> = self.by_container.get(querier)?.iter().map(|e| e.network.as_str()).collect();
        let mut ips = Vec::new();
        for entries in self.by_container.values() {
            for e in entries {
                if nets.contains(&e.network.as_str()) && e.names.iter().any(|n| n.eq_ignore_ascii_case(&name)) && !ips.contains(&e.ip) {
                    ips.push(e.ip);
                }
            }
        }
        (!ips.is_empty()).then_some(ips)
    }
}

#[derive(Debug)]
struct Responder {
    stop: Arc<AtomicBool>,
    sock: UdpSocket,
}

impl Responder {
    fn shut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown(2) on a socket we own; it wakes the thread
        // blocked in recv_from on the same socket.
        unsafe {
            libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

/// The server: the name table and one responder per container.
#[derive(Debug)]
pub(crate) struct Dns {
    names: Arc<RwLock<NameTable>>,
    responders: Mutex<HashMap<String, Responder>>,
    upstreams: Arc<RwLock<HashMap<String, Vec<IpAddr>>>>,
    forward: bool,
    host_resolv: PathBuf,
}

impl Dns {
    pub(crate) fn new(forward: bool, host_resolv: PathBuf) -> Dns {
        Dns {
            names: Arc::default(),
            responders: Mutex::default(),
            upstreams: Arc::default(),
            forward,
            host_resolv,
        }
    }

    /// Sets a container's names; an empty list removes it and stops its
    /// responder. Starts the responder in `netns` when there is none.
    pub(crate) fn update(&self, id: &str, entries: Vec<NameEntry>, netns: Option<&Path>) -> std::io::Result<()> {
        if entries.is_empty() {
            self.remove(id);
            return Ok(());
        }
        self.names.write().unwrap_or_else(|e| e.into_inner()).by_container.insert(id.to_string(), entries);
        let mut rs = self.responders.lock().unwrap_or_else(|e| e.into_inner());
        if rs.contains_key(id) {
            return Ok(());
        }
        let Some(netns) = netns else { return Ok(()) };
        let sock = bind_in(netns)?;
        let stop = Arc::new(AtomicBool::new(false));
        let r = Responder { stop: stop.clone(), sock: sock.try_clone()? };
        let ctx = Serve {
            id: id.to_string(),
            names: self.names.clone(),
            upstreams: self.upstreams.clone(),
            forward: self.forward,
            host_resolv: self.host_resolv.clone(),
        };
        std::thread::Builder::new()
            .name("berth-dns".into())
            .stack_size(64 * 1024)
            .spawn(move || ctx.run(sock, stop))?;
        rs.insert(id.to_string(), r);
        Ok(())
    }

    pub(crate) fn remove(&self, id: &str) {
        self.names.write().unwrap_or_else(|e| e.into_inner()).by_container.remove(id);
        self.upstreams.write().unwrap_or_else(|e| e.into_inner()).remove(id);
        if let Some(r) = self.responders.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
            r.shut();
        }
    }

    /// Whether the container has a running responder.
    pub(crate) fn serving(&self, id: &str) -> bool {
        self.responders.lock().unwrap_or_else(|e| e.into_inner()).contains_key(id)
    }

    /// The container's `--dns` servers (forwarding targets instead of the host's).
    pub(crate) fn set_upstreams(&self, id: &str, servers: Vec<IpAddr>) {
        let mut u = self.upstreams.write().unwrap_or_else(|e| e.into_inner());
        if servers.is_empty() {
            u.remove(id);
        } else {
            u.insert(id.to_string(), servers);
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        for r in self.responders.lock().unwrap_or_else(|e| e.into_inner()).values() {
            r.shut();
        }
    }
}

/// Binds UDP 127.0.0.11:53 inside the namespace at `netns`, on a helper
/// thread so that no other thread changes namespace.
fn bind_in(netns: &Path) -> std::io::Result<UdpSocket> {
    let ns = std::fs::File::open(netns)?;
    std::thread::Builder::new()
        .name("berth-dns-bind".into())
        .spawn(move || -> std::io::Result<UdpSocket> {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            // a responder of the previous manager (restart in-process) may
            // still be closing its socket for a moment
            let mut tries = 0;
            loop {
                match UdpSocket::bind((DNS_ADDR, 53)) {
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    other => return other,
                }
            }
        })?
        .join()
        .map_err(|_| std::io::Error::other("dns bind thread panicked"))?
}

struct Serve {
    id: String,
    names: Arc<RwLock<NameTable>>,
    upstreams: Arc<RwLock<HashMap<String, Vec<IpAddr>>>>,
    forward: bool,
    host_resolv: PathBuf,
}

impl Serve {
    fn run(self, sock: UdpSocket, stop: Arc<AtomicBool>) {
        let mut buf = [0u8; 1500];
        while !stop.load(Ordering::SeqCst) {
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok((0, _)) if stop.load(Ordering::SeqCst) => break,
                Ok(v) => v,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Some(reply) = self.answer(&buf[..n]) {
                let _ = sock.send_to(&reply, from);
            }
        }
    }

    fn answer(&self, query: &[u8]) -> Option<Vec<u8>> {
        let q = match packet::parse_query(query) {
            Ok(q) => q,
            Err(Some((id, rcode))) => return Some(packet::error_reply(id, rcode)),
            Err(None) => return None,
        };
        let known = self.names.read().unwrap_or_else(|e| e.into_inner()).lookup(&self.id, &q.name);
        match known {
            Some(ips) if q.qtype == packet::TYPE_A && q.qclass == packet::CLASS_IN => {
                Some(packet::response(query, &q, packet::NOERROR, &ips, TTL))
            }
            // a berth name asked for another type (AAAA, ...): exists, no data
            Some(_) => Some(packet::response(query, &q, packet::NOERROR, &[], TTL)),
            None => Some(self.forward(query).unwrap_or_else(|| packet::response(query, &q, packet::SERVFAIL, &[], 0))),
        }
    }

    /// Relays the query to the first upstream that answers.
    fn forward(&self, query: &[u8]) -> Option<Vec<u8>> {
        if !self.forward {
            return None;
        }
        let servers = self
            .upstreams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.id)
            .cloned()
            .unwrap_or_else(|| host_nameservers(&self.host_resolv));
        for server in servers {
            let bind: SocketAddr = if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { "[::]:0".parse().ok()? };
            let Ok(s) = UdpSocket::bind(bind) else { continue };
            if s.set_read_timeout(Some(Duration::from_secs(2))).is_err() || s.connect((server, 53)).is_err() {
                continue;
            }
            if s.send(query).is_err() {
                continue;
            }
            let mut buf = [0u8; 4096];
            if let Ok(n) = s.recv(&mut buf)
                && n >= 12
                && buf[..2] == query[..2]
            {
                return Some(buf[..n].to_vec());
            }
        }
        None
    }
}

/// Nameservers of the host's resolv.conf (loopback ones too: forwarding
/// happens in the daemon's namespace, where they are reachable).
pub(crate) fn host_nameservers(path: &Path) -> Vec<IpAddr> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(net: &str, names: &[&str], ip: [u8; 4]) -> NameEntry {
        NameEntry { network: net.into(), names: names.iter().map(|s| s.to_string()).collect(), ip: ip.into() }
    }

    #[test]
    fn lookups_only_see_shared_networks() {
        let mut t = NameTable::default();
        t.by_container.insert("a".into(), vec![entry("front", &["web", "a"], [10, 0, 0, 2])]);
        t.by_container.insert("b".into(), vec![entry("front", &["api", "b"], [10, 0, 0, 3]), entry("back", &["api", "b"], [10, 1, 0, 3])]);
        t.by_container.insert("c".into(), vec![entry("back", &["db", "c"], [10, 1, 0, 4])]);
        assert_eq!(t.lookup("a", "API"), Some(vec![Ipv4Addr::new(10, 0, 0, 3)]));
        assert_eq!(t.lookup("a", "db"), None, "different network");
        assert_eq!(t.lookup("b", "db."), Some(vec![Ipv4Addr::new(10, 1, 0, 4)]));
        assert_eq!(t.lookup("a", "web"), Some(vec![Ipv4Addr::new(10, 0, 0, 2)]), "own name");
        assert_eq!(t.lookup("zzz", "web"), None, "unknown querier");
    }

    #[test]
    fn reads_nameservers() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("r");
        std::fs::write(&p, "nameserver 127.0.0.53\n# x\nnameserver 2001:db8::1\nsearch a\n").expect("write");
        assert_eq!(host_nameservers(&p), vec!["127.0.0.53".parse::<IpAddr>().expect("ip"), "2001:db8::1".parse().expect("ip")]);
    }
}
