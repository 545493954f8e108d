//! A container's network: its namespace and the files that describe it
//! (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`).
//!
//! Modes: `none` (a namespace of our own with `lo` up, held by a bind mount
//! under `<exec_root>/netns/`), `host`, `container:<id>`. The bridge and
//! user-defined networks (CNI) come from berth-network, which is being
//! written now; until it is wired in they are refused with `not supported
//! yet` rather than silently replaced by another mode. Everything network
//! specific stays in this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::{Inner, Record};
use crate::error::{Error, Result};
use crate::model::{EndpointInfo, NetworkSettings};
use crate::oci::Ns;

/// The network state of a running container (persisted for teardown after
/// a daemon restart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    /// `none`, `host`, `container:<id>`.
    pub mode: String,
    /// A namespace we made and must remove.
    pub netns: Option<PathBuf>,
    /// The namespace joined (ours, or another container's).
    pub joined: Option<PathBuf>,
    pub endpoints: BTreeMap<String, EndpointInfo>,
    /// Published ports in effect.
    pub ports: BTreeMap<String, Vec<crate::spec::PortBinding>>,
}

#[derive(Debug)]
pub(crate) struct Network {
    netns_dir: PathBuf,
}

impl Network {
    pub(crate) fn new(exec_root: &Path) -> Result<Network> {
        let netns_dir = exec_root.join("netns");
        std::fs::create_dir_all(&netns_dir).map_err(Error::io(&netns_dir))?;
        make_shared(&netns_dir)?;
        Ok(Network { netns_dir })
    }

    pub(crate) fn netns_path(&self, id: &str) -> PathBuf {
        self.netns_dir.join(id)
    }

    /// Every namespace file we hold (for leftovers at restore).
    pub(crate) fn held(&self) -> Vec<String> {
        std::fs::read_dir(&self.netns_dir)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
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
        "none" | "host" => {}
        m if m.starts_with("container:") => {
            let other = &m["container:".len()..];
            inner.lookup(other)?;
        }
        other => return Err(Error::unsupported(format!("network {other:?}: only none, host and container:<id> work until berth-network (bridge, user networks, -p) is wired in"))),
    }
    if !spec.port_bindings.is_empty() || spec.publish_all_ports {
        if mode != "host" {
            return Err(Error::unsupported("publishing ports (-p/-P): needs the bridge network of berth-network"));
        }
    }
    if !spec.endpoints.is_empty() && spec.endpoints.keys().any(|k| k != &mode) {
        return Err(Error::unsupported("connecting to several networks at create"));
    }
    if spec.endpoints.values().any(|e| !e.aliases.is_empty() || e.ipv4_address.is_some() || e.ipv6_address.is_some() || e.mac_address.is_some()) {
        return Err(Error::unsupported("network aliases and static addresses"));
    }
    Ok(())
}

/// Sets up the namespace for a start; returns the attachment and the
/// namespace for the OCI spec.
pub(crate) fn setup(inner: &Inner, rec: &Record) -> Result<(Attachment, Ns)> {
    let mode = mode_of(inner, &rec.spec);
    match mode.as_str() {
        "host" => Ok((Attachment { mode, ..Default::default() }, Ns::Host)),
        "none" => {
            let path = inner.network.netns_path(&rec.id);
            if path.exists() {
                remove_netns(&path)?;
            }
            create_netns(&path)?;
            let mut endpoints = BTreeMap::new();
            endpoints.insert("none".to_string(), EndpointInfo::default());
            Ok((Attachment { mode, netns: Some(path.clone()), joined: Some(path.clone()), endpoints, ports: BTreeMap::new() }, Ns::Path(path)))
        }
        m if m.starts_with("container:") => {
            let other = inner.lookup(&m["container:".len()..])?;
            let (pid, running) = {
                let r = other.rec();
                (r.state.pid, r.state.running)
            };
            if !running || pid <= 0 {
                return Err(Error::FailedPrecondition(format!("cannot join network of a non running container: {}", other.id)));
            }
            let joined = other.rec().network.joined.clone().unwrap_or_else(|| PathBuf::from(format!("/proc/{pid}/ns/net")));
            Ok((Attachment { mode, joined: Some(joined.clone()), ..Default::default() }, Ns::Path(joined)))
        }
        other => Err(Error::unsupported(format!("network {other:?}"))),
    }
}

/// Undoes [`setup`] (idempotent; works from the persisted attachment after
/// a daemon restart).
pub(crate) fn teardown(_inner: &Inner, att: &Attachment) -> Result<()> {
    if let Some(p) = &att.netns {
        remove_netns(p)?;
    }
    Ok(())
}

/// docker inspect's network settings for a record.
pub(crate) fn settings(rec: &Record) -> NetworkSettings {
    let mut ports = BTreeMap::new();
    for p in &rec.spec.exposed_ports {
        ports.insert(p.clone(), Vec::new());
    }
    for (k, v) in &rec.network.ports {
        ports.insert(k.clone(), v.clone());
    }
    let mut networks = rec.network.endpoints.clone();
    if networks.is_empty() {
        let mode = rec.spec.network_mode.clone().filter(|m| !m.is_empty() && !m.starts_with("container:")).unwrap_or_else(|| "none".into());
        networks.insert(mode, EndpointInfo::default());
    }
    NetworkSettings {
        sandbox_key: if rec.state.running { rec.network.netns.as_ref().map(|p| p.display().to_string()).unwrap_or_default() } else { String::new() },
        ports,
        networks,
    }
}

/// Writes `hosts`, `resolv.conf` and `hostname` into the container dir.
pub(crate) fn write_files(inner: &Inner, rec: &Record, dir: &Path) -> Result<()> {
    let mode = mode_of(inner, &rec.spec);
    let host = mode == "host";
    let mut hosts = String::new();
    if host {
        hosts.push_str(&std::fs::read_to_string("/etc/hosts").unwrap_or_default());
        if !hosts.is_empty() && !hosts.ends_with('\n') {
            hosts.push('\n');
        }
    } else {
        hosts.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
    }
    for h in &rec.spec.extra_hosts {
        let (name, ip) = crate::oci::parse_extra_host(h)?;
        let ip = if ip == "host-gateway" {
            return Err(Error::unsupported("--add-host ...:host-gateway (needs the bridge network)"));
        } else {
            ip
        };
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    let hosts_path = dir.join("hosts");
    std::fs::write(&hosts_path, hosts).map_err(Error::io(&hosts_path))?;

    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = resolv_conf(&host_resolv, &rec.spec.dns, &rec.spec.dns_search, &rec.spec.dns_options, host, &inner.config.network.dns);
    let p = dir.join("resolv.conf");
    std::fs::write(&p, resolv).map_err(Error::io(&p))?;
    let p = dir.join("hostname");
    std::fs::write(&p, format!("{}\n", rec.hostname)).map_err(Error::io(&p))?;
    Ok(())
}

/// docker's resolv.conf for a container: the host's, minus loopback
/// nameservers (unreachable from another namespace), with `--dns`,
/// `--dns-search`, `--dns-option` replacing the host's lines; docker's
/// public fallback when nothing is left.
pub(crate) fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String], host_net: bool, fallback: &[String]) -> String {
    let mut out = String::new();
    let mut servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_opts = Vec::new();
    for line in host.lines() {
        let l = line.trim();
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(ip) = w.next() {
                    let loopback = ip.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
                    if host_net || !loopback {
                        servers.push(ip.to_owned());
                    }
                }
            }
            Some("search") | Some("domain") => host_search.extend(w.map(str::to_owned)),
            Some("options") => host_opts.extend(w.map(str::to_owned)),
            _ => {}
        }
    }
    if !dns.is_empty() {
        servers = dns.to_vec();
    }
    if servers.is_empty() {
        servers = if fallback.is_empty() { vec!["8.8.8.8".into(), "8.8.4.4".into()] } else { fallback.to_vec() };
    }
    let search = if search.is_empty() { host_search } else { search.iter().filter(|s| s.as_str() != ".").cloned().collect() };
    let opts = if options.is_empty() { host_opts } else { options.to_vec() };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

fn make_shared(dir: &Path) -> Result<()> {
    use nix::mount::{MsFlags, mount};
    let err = |what: &str, e: nix::Error| Error::Internal(format!("{what} {}: {e}", dir.display()));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let canon = std::fs::canonicalize(dir).map_err(Error::io(dir))?;
    let want = canon.to_string_lossy().into_owned();
    let is_mp = info.lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()));
    if !is_mp {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|e| err("bind-mounting", e))?;
    }
    mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>).map_err(|e| err("making shared", e))
}

/// A new network namespace with `lo` up, bind-mounted at `path`.
pub(crate) fn create_netns(path: &Path) -> Result<()> {
    std::fs::File::create(path).map_err(Error::io(path))?;
    let p = path.to_owned();
    let r = std::thread::spawn(move || -> std::result::Result<(), String> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        loopback_up().map_err(|e| format!("bringing lo up: {e}"))?;
        nix::mount::mount(Some("/proc/thread-self/ns/net"), &p, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| format!("bind-mounting the namespace: {e}"))
    })
    .join()
    .map_err(|_| Error::Internal("netns helper thread panicked".into()))?;
    if let Err(e) = r {
        let _ = std::fs::remove_file(path);
        return Err(Error::Internal(format!("network namespace {}: {e}", path.display())));
    }
    Ok(())
}

fn loopback_up() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own exclusively.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    use std::os::fd::AsRawFd;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags union member of `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the flags member was just filled in by the kernel.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, which stays valid for the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts and removes a namespace file (absent is fine).
pub(crate) fn remove_netns(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(Error::Internal(format!("unmounting network namespace {}: {e}", path.display()))),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_like_docker() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";
        assert_eq!(resolv_conf(host, &[], &[], &[], false, &[]), "search corp.example\nnameserver 10.0.0.2\noptions edns0\n");
        assert_eq!(resolv_conf("nameserver 127.0.0.1\n", &[], &[], &[], false, &[]), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert_eq!(resolv_conf("nameserver 127.0.0.1\n", &[], &[], &[], true, &[]), "nameserver 127.0.0.1\n");
        assert_eq!(
            resolv_conf(host, &["1.1.1.1".into()], &["a.b".into()], &["ndots:2".into()], false, &[]),
            "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
    }
}
