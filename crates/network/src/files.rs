//! The files a container's network identity lives in: `/etc/hosts`,
//! `/etc/resolv.conf`, `/etc/hostname`, generated (never by asking DNS)
//! under `<state>/containers/<id>/` for the engine to bind-mount.
//!
//! Rules follow docker's: hosts starts with the localhost and ip6 entries,
//! then `--add-host` entries, then the container's own addresses with its
//! hostname; resolv.conf is the host's with loopback nameservers removed
//! (they cannot be reached from another namespace), IPv6 nameservers removed
//! on IPv4-only networks, and docker's public fallback servers when nothing
//! is left; `--dns`, `--dns-search`, `--dns-option` replace their parts.

use std::net::{IpAddr, Ipv4Addr};

/// docker's fallback when the host has no usable nameserver.
pub const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// What the engine knows about the container for its files.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// `--hostname` (docker's default: the first 12 characters of the id)
    pub hostname: String,
    /// `--domainname`
    pub domainname: String,
    /// `--add-host name:ip`, in order; `ip` may be `host-gateway`
    pub extra_hosts: Vec<(String, String)>,
    /// `--dns`
    pub dns: Vec<String>,
    /// `--dns-search` (`.` alone clears the search list)
    pub dns_search: Vec<String>,
    /// `--dns-option`
    pub dns_options: Vec<String>,
}

/// Where the files of one container were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFiles {
    pub hosts: std::path::PathBuf,
    pub resolv_conf: std::path::PathBuf,
    pub hostname: std::path::PathBuf,
}

/// One address of the container with the names that go with it.
#[derive(Debug, Clone)]
pub(crate) struct OwnAddress {
    pub ip: Ipv4Addr,
    pub aliases: Vec<String>,
}

const HOSTS_HEADER: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// The hosts file of a container with its own namespace. `extra` must have
/// `host-gateway` already resolved.
pub(crate) fn render_hosts(opts: &FileOptions, extra: &[(String, String)], own: &[OwnAddress]) -> String {
    let mut s = String::from(HOSTS_HEADER);
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    let fqdn = if opts.domainname.is_empty() {
        None
    } else {
        Some(format!("{}.{}", opts.hostname, opts.domainname))
    };
    for a in own {
        let mut names: Vec<&str> = Vec::new();
        if let Some(f) = &fqdn {
            names.push(f);
        }
        if !opts.hostname.is_empty() {
            names.push(&opts.hostname);
        }
        for al in &a.aliases {
            if !names.contains(&al.as_str()) {
                names.push(al);
            }
        }
        if !names.is_empty() {
            s.push_str(&format!("{}\t{}\n", a.ip, names.join(" ")));
        }
    }
    s
}

/// The hosts file of a `--network host` container: the host's file plus the
/// extra entries (docker's behaviour).
pub(crate) fn render_host_mode_hosts(host_file: &str, extra: &[(String, String)]) -> String {
    let mut s = host_file.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

/// Filters the host's resolv.conf for a container and applies overrides.
/// `keep_loopback` is for `--network host`, where the host's resolver is
/// reachable.
pub(crate) fn render_resolv_conf(host: &str, opts: &FileOptions, keep_loopback: bool, ipv6: bool) -> String {
    let mut out = Vec::<String>::new();
    let mut nameservers = 0;
    // where nameserver lines go: where the host had its first one
    let mut ns_pos: Option<usize> = None;
    for line in host.lines() {
        let trimmed = line.trim();
        let mut words = trimmed.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                ns_pos.get_or_insert(out.len());
                if !opts.dns.is_empty() {
                    continue;
                }
                let Some(addr) = words.next() else { continue };
                // a zone-qualified IPv6 address (fe80::1%eth0) is kept as is
                let parsed = addr.split('%').next().and_then(|a| a.parse::<IpAddr>().ok());
                match parsed {
                    Some(ip) if ip.is_loopback() && !keep_loopback => continue,
                    Some(IpAddr::V6(_)) if !ipv6 && !keep_loopback => continue,
                    _ => {}
                }
                nameservers += 1;
                out.push(line.to_string());
            }
            Some("search") | Some("domain") if !opts.dns_search.is_empty() => {}
            Some("options") if !opts.dns_options.is_empty() => {}
            _ => out.push(line.to_string()),
        }
    }
    let pos = ns_pos.unwrap_or_else(|| out.iter().take_while(|l| l.trim_start().starts_with('#')).count());
    let added: Vec<String> = if !opts.dns.is_empty() {
        opts.dns.iter().map(|ns| format!("nameserver {ns}")).collect()
    } else if nameservers == 0 {
        FALLBACK_NAMESERVERS.iter().map(|ns| format!("nameserver {ns}")).collect()
    } else {
        Vec::new()
    };
    out.splice(pos..pos, added);
    if !opts.dns_search.is_empty() {
        let search: Vec<&str> = opts.dns_search.iter().map(String::as_str).filter(|s| *s != ".").collect();
        if !search.is_empty() {
            out.push(format!("search {}", search.join(" ")));
        }
    }
    if !opts.dns_options.is_empty() {
        out.push(format!("options {}", opts.dns_options.join(" ")));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// resolv.conf of a container on a user-defined network: the embedded
/// server only (it forwards to the `--dns` servers or the host's), the
/// search list and options kept or overridden, and `ndots:0` as docker adds
/// unless the user set ndots.
pub(crate) fn render_embedded_resolv(host: &str, opts: &FileOptions) -> String {
    let only_embedded = FileOptions { dns: vec![crate::dns::DNS_ADDR.to_string()], ..opts.clone() };
    let base = render_resolv_conf(host, &only_embedded, false, false);
    if base.contains("ndots:") {
        return base;
    }
    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
    match lines.iter_mut().find(|l| l.split_whitespace().next() == Some("options")) {
        Some(l) => l.push_str(" ndots:0"),
        None => lines.push("options ndots:0".into()),
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Whether the host file names only systemd-resolved's stub (127.0.0.53),
/// in which case docker reads systemd-resolved's upstream file instead.
pub(crate) fn only_systemd_stub(host: &str) -> bool {
    let ns: Vec<&str> = host
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .collect();
    !ns.is_empty() && ns.iter().all(|n| *n == "127.0.0.53")
}

/// Checks `--add-host` entries: a name and an IPv4/IPv6 address or `host-gateway`.
pub(crate) fn validate_extra_host(name: &str, ip: &str) -> crate::Result<()> {
    let bad = |reason: &str| crate::Error::InvalidValue {
        field: "extra host",
        value: format!("{name}:{ip}"),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '#') {
        return Err(bad("invalid host name"));
    }
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(bad("invalid IP address"));
    }
    Ok(())
}

/// Checks `--dns` entries (must be IP addresses, as docker requires).
pub(crate) fn validate_dns(opts: &FileOptions) -> crate::Result<()> {
    for d in &opts.dns {
        if d.parse::<IpAddr>().is_err() {
            return Err(crate::Error::InvalidValue {
                field: "dns server",
                value: d.clone(),
                reason: "not an IP address".into(),
            });
        }
    }
    for s in opts.dns_search.iter().chain(&opts.dns_options) {
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(crate::Error::InvalidValue {
                field: "dns search/option",
                value: s.clone(),
                reason: "empty or contains whitespace".into(),
            });
        }
    }
    Ok(())
}

impl crate::NetworkManager {
    fn files_dir(&self, id: &str) -> std::path::PathBuf {
        self.cfg.state_dir.join("files").join(id)
    }

    /// Writes `hosts`, `resolv.conf` and `hostname` for the container under
    /// `<state>/files/<id>/` from its current endpoints (call after
    /// [`attach`](crate::NetworkManager::attach); `connect` and `disconnect`
    /// rewrite `hosts` themselves). Files are rewritten in place, so bind
    /// mounts of them see the new content. A container berth has no record
    /// of is treated as one with its own namespace and no address yet.
    pub fn write_files(&self, id: &str, opts: &FileOptions) -> crate::Result<ContainerFiles> {
        crate::store::validate_container_id(id)?;
        for (name, ip) in &opts.extra_hosts {
            validate_extra_host(name, ip)?;
        }
        validate_dns(opts)?;
        let dir = self.files_dir(id);
        crate::persist::ensure_dir(&dir)?;
        let (mode, eps) = {
            let inner = self.lock();
            match inner.containers.get(id) {
                Some(r) => (r.mode, r.attachments.iter().filter_map(crate::attach::endpoint_of).collect()),
                None => (crate::store::Mode::Attached, Vec::new()),
            }
        };
        let host_mode = mode == crate::store::Mode::Host;
        let files = ContainerFiles {
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
            hostname: dir.join("hostname"),
        };
        let hosts = self.render_hosts_for(opts, host_mode, &eps);
        let host_resolv = read_or_empty(&self.cfg.host_resolv_conf)?;
        let host_resolv = if !host_mode && only_systemd_stub(&host_resolv) {
            read_or_empty(&self.cfg.systemd_resolv_conf)?
        } else {
            host_resolv
        };
        let resolv = if self.wants_dns(id) {
            let servers = opts.dns.iter().filter_map(|d| d.parse().ok()).collect();
            self.dns.set_upstreams(id, servers);
            render_embedded_resolv(&host_resolv, opts)
        } else {
            render_resolv_conf(&host_resolv, opts, host_mode, false)
        };
        write_in_place(&files.hosts, hosts.as_bytes())?;
        write_in_place(&files.resolv_conf, resolv.as_bytes())?;
        write_in_place(&files.hostname, format!("{}\n", opts.hostname).as_bytes())?;
        crate::persist::write_json_atomic(&dir.join(".options.json"), &StoredOptions::from(opts))?;
        Ok(files)
    }

    fn render_hosts_for(&self, opts: &FileOptions, host_mode: bool, eps: &[crate::Endpoint]) -> String {
        let gateway = eps
            .iter()
            .find(|e| e.default_route)
            .and_then(|e| e.gateway)
            .or_else(|| eps.iter().find_map(|e| e.gateway))
            .or_else(|| self.default_gateway());
        let extra: Vec<(String, String)> = opts
            .extra_hosts
            .iter()
            .map(|(n, ip)| {
                let ip = if ip == "host-gateway" {
                    gateway.map(|g| g.to_string()).unwrap_or_else(|| "127.0.0.1".into())
                } else {
                    ip.clone()
                };
                (n.clone(), ip)
            })
            .collect();
        if host_mode {
            let host = read_or_empty(&self.cfg.host_hosts).unwrap_or_default();
            return render_host_mode_hosts(&host, &extra);
        }
        let own: Vec<OwnAddress> = eps.iter().map(|e| OwnAddress { ip: e.ip, aliases: e.aliases.clone() }).collect();
        render_hosts(opts, &extra, &own)
    }

    /// Rewrites `hosts` after connect/disconnect if files were written.
    pub(crate) fn refresh_hosts(&self, id: &str) {
        let dir = self.files_dir(id);
        let Ok(Some(stored)) = crate::persist::read_json::<StoredOptions>(&dir.join(".options.json")) else { return };
        let opts = FileOptions::from(stored);
        let eps = self.endpoints(id);
        let hosts = self.render_hosts_for(&opts, false, &eps);
        if let Err(e) = write_in_place(&dir.join("hosts"), hosts.as_bytes()) {
            tracing::warn!(container = id, error = %e, "cannot rewrite hosts file");
        }
    }

    /// Removes the container's generated files. Idempotent.
    pub fn remove_files(&self, id: &str) -> crate::Result<()> {
        crate::store::validate_container_id(id)?;
        let dir = self.files_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(crate::Error::Io { op: "remove", path: dir, source: e }),
        }
    }
}

/// FileOptions as kept on disk, to rewrite hosts on connect/disconnect.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredOptions {
    hostname: String,
    domainname: String,
    extra_hosts: Vec<(String, String)>,
    dns: Vec<String>,
    dns_search: Vec<String>,
    dns_options: Vec<String>,
}

impl From<&FileOptions> for StoredOptions {
    fn from(o: &FileOptions) -> Self {
        StoredOptions {
            hostname: o.hostname.clone(),
            domainname: o.domainname.clone(),
            extra_hosts: o.extra_hosts.clone(),
            dns: o.dns.clone(),
            dns_search: o.dns_search.clone(),
            dns_options: o.dns_options.clone(),
        }
    }
}

impl From<StoredOptions> for FileOptions {
    fn from(o: StoredOptions) -> Self {
        FileOptions {
            hostname: o.hostname,
            domainname: o.domainname,
            extra_hosts: o.extra_hosts,
            dns: o.dns,
            dns_search: o.dns_search,
            dns_options: o.dns_options,
        }
    }
}

fn read_or_empty(path: &std::path::Path) -> crate::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(crate::Error::Io { op: "read", path: path.to_path_buf(), source: e }),
    }
}

/// Truncates and rewrites a file, keeping its inode (a rename would leave
/// existing bind mounts on the old file).
fn write_in_place(path: &std::path::Path, data: &[u8]) -> crate::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(crate::Error::io("open", path))?;
    f.write_all(data).map_err(crate::Error::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_docker() {
        let opts = FileOptions {
            hostname: "abc123".into(),
            extra_hosts: vec![("db".into(), "192.0.2.9".into())],
            ..Default::default()
        };
        let own = [OwnAddress { ip: Ipv4Addr::new(10, 87, 0, 2), aliases: vec!["web".into(), "abc123".into()] }];
        let h = render_hosts(&opts, &opts.extra_hosts, &own);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("ff02::2\tip6-allrouters\n"));
        assert!(h.ends_with("192.0.2.9\tdb\n10.87.0.2\tabc123 web\n"), "{h}");
        let opts = FileOptions { hostname: "h".into(), domainname: "example.test".into(), ..Default::default() };
        let h = render_hosts(&opts, &[], &own[..]);
        assert!(h.ends_with("10.87.0.2\th.example.test h web abc123\n"), "{h}");
    }

    #[test]
    fn resolv_conf_drops_loopback_and_ipv6_and_keeps_the_rest() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\nnameserver 2001:db8::1\nsearch corp.example\noptions edns0\n";
        let r = render_resolv_conf(host, &FileOptions::default(), false, false);
        assert_eq!(r, "# comment\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0\n");
        let r = render_resolv_conf(host, &FileOptions::default(), false, true);
        assert!(r.contains("nameserver 2001:db8::1") && !r.contains("nameserver ::1\n"));
        let r = render_resolv_conf(host, &FileOptions::default(), true, false);
        assert_eq!(r, host);
    }

    #[test]
    fn resolv_conf_falls_back_and_overrides() {
        let r = render_resolv_conf("nameserver 127.0.0.1\n", &FileOptions::default(), false, false);
        assert_eq!(r, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let opts = FileOptions {
            dns: vec!["192.0.2.1".into()],
            dns_search: vec!["a.test".into(), "b.test".into()],
            dns_options: vec!["ndots:2".into()],
            ..Default::default()
        };
        let r = render_resolv_conf("nameserver 10.0.0.1\nsearch x\ndomain y\noptions rotate\n", &opts, false, false);
        assert_eq!(r, "nameserver 192.0.2.1\nsearch a.test b.test\noptions ndots:2\n");
        let opts = FileOptions { dns_search: vec![".".into()], ..Default::default() };
        let r = render_resolv_conf("nameserver 10.0.0.1\nsearch x\n", &opts, false, false);
        assert_eq!(r, "nameserver 10.0.0.1\n");
    }

    #[test]
    fn systemd_stub_detection_and_validation() {
        assert!(only_systemd_stub("nameserver 127.0.0.53\noptions edns0\n"));
        assert!(!only_systemd_stub("nameserver 127.0.0.53\nnameserver 10.0.0.1\n"));
        assert!(!only_systemd_stub(""));
        validate_extra_host("db", "192.0.2.1").expect("ok");
        validate_extra_host("gw", "host-gateway").expect("ok");
        assert!(validate_extra_host("db", "nope").is_err());
        assert!(validate_extra_host("", "192.0.2.1").is_err());
        assert!(validate_dns(&FileOptions { dns: vec!["x".into()], ..Default::default() }).is_err());
    }

    #[test]
    fn embedded_resolver_file() {
        let host = "nameserver 10.0.0.1\nsearch corp.example\noptions edns0\n";
        assert_eq!(
            render_embedded_resolv(host, &FileOptions::default()),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        let opts = FileOptions { dns: vec!["192.0.2.1".into()], dns_options: vec!["ndots:2".into()], ..Default::default() };
        assert_eq!(render_embedded_resolv(host, &opts), "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:2\n");
        assert_eq!(render_embedded_resolv("", &FileOptions::default()), "nameserver 127.0.0.11\noptions ndots:0\n");
    }

    #[test]
    fn host_mode_hosts_appends() {
        assert_eq!(render_host_mode_hosts("127.0.0.1 localhost", &[("a".into(), "192.0.2.1".into())]), "127.0.0.1 localhost\n192.0.2.1\ta\n");
    }
}
