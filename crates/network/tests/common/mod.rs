//! Shared fixtures of the berth-network integration tests.
//!
//! Every test runs inside a network namespace of its own ([`TestHost`]): the
//! test thread unshares one and plays "the host" in it, so bridges, veths,
//! iptables rules, sysctls and published ports never touch the machine's
//! real network, tests run in parallel with the same bridge names, and
//! whatever a failing test leaves behind dies with the namespace when the
//! guard drops. The explicit leak checks (links, rules, leases) are still
//! made inside that namespace, because berth must clean up after itself on
//! a real host too.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_network::{AttachRequest, Attachment, Endpoint, NetConfig, NetworkManager, PortMapping};

pub const BUSYBOX: &str = "/bin/busybox";

/// The test thread's private "host" network namespace; the thread goes back
/// to its original namespace on drop, which destroys this one.
pub struct TestHost {
    original: OwnedFd,
}

impl TestHost {
    pub fn new() -> TestHost {
        let original: OwnedFd = File::open("/proc/thread-self/ns/net").expect("open own netns").into();
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a test network namespace");
        let st = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip link set lo up");
        assert!(st.success());
        TestHost { original }
    }

    /// Interface names of the test host (from /proc/thread-self/net/dev:
    /// /sys/class/net would show the process's namespace, not the thread's).
    pub fn links(&self) -> Vec<String> {
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev").expect("net/dev");
        dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|s| s.trim().to_string()).collect()
    }

    pub fn iptables_save(&self) -> String {
        let out = Command::new("iptables-save").output().expect("iptables-save");
        assert!(out.status.success(), "iptables-save: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Err(e) = nix::sched::setns(&self.original, nix::sched::CloneFlags::CLONE_NEWNET) {
            // Never leave the harness thread in a dead namespace silently.
            panic!("cannot return to the original network namespace: {e}");
        }
    }
}

/// A state dir and run dir in a temp dir, a manager over them, and a
/// cleanup on drop that detaches every container, removes every namespace
/// and unmounts the run dir.
pub struct Fixture {
    pub cfg: NetConfig,
    net: Option<NetworkManager>,
    _root: tempfile::TempDir,
}

impl Fixture {
    /// Opens a manager with the test defaults.
    pub fn new() -> Fixture {
        let mut f = Fixture::unopened();
        f.open();
        f
    }

    /// The configuration without opening (to tweak it first).
    pub fn unopened() -> Fixture {
        let root = berth_test_support::temp_dir("net-");
        let mut cfg = NetConfig::new(root.path().join("state"), root.path().join("run"));
        cfg.cni_bin_dirs = vec![PathBuf::from("/usr/lib/cni")];
        cfg.ephemeral_ports = Some((41000, 41099));
        // the embedded DNS server answers berth's names only: never forward
        cfg.dns_forward = false;
        // a resolver file of our own: tests never read (or query) the host's
        let resolv = root.path().join("host-resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\n").expect("write");
        cfg.host_resolv_conf = resolv;
        cfg.systemd_resolv_conf = root.path().join("no-systemd-resolv.conf");
        Fixture { cfg, net: None, _root: root }
    }

    pub fn open(&mut self) {
        assert!(self.net.is_none(), "already open");
        self.net = Some(NetworkManager::open(self.cfg.clone()).expect("open network manager"));
    }

    /// Drops the manager (as a daemon exit would) without detaching anything.
    pub fn close(&mut self) {
        self.net = None;
    }

    pub fn net(&self) -> &NetworkManager {
        self.net.as_ref().expect("manager open")
    }

    pub fn root(&self) -> &Path {
        self._root.path()
    }

    /// Makes a namespace and attaches it.
    pub fn start(&self, id: &str, networks: &[Attachment], ports: &[PortMapping]) -> (PathBuf, Vec<Endpoint>) {
        let ns = self.net().create_netns(id).expect("create netns");
        let eps = self
            .net()
            .attach(&AttachRequest { container_id: id, container_name: id, netns: &ns, networks, ports })
            .unwrap_or_else(|e| panic!("attach {id}: {e}"));
        (ns, eps)
    }

    pub fn stop(&self, id: &str) {
        self.net().detach(id).unwrap_or_else(|e| panic!("detach {id}: {e}"));
        self.net().remove_netns(id).expect("remove netns");
    }

    /// Lease files host-local holds for `network` (its lock and cursor files excluded).
    pub fn leases(&self, network: &str) -> Vec<String> {
        let dir = self.cfg.state_dir.join("ipam").join(network);
        let Ok(rd) = std::fs::read_dir(dir) else { return vec![] };
        rd.flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lock" && !n.starts_with("last_reserved_ip"))
            .collect()
    }

    pub fn netns_entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.cfg.run_dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.net.is_none() && self.cfg.state_dir.join("lock").exists() {
            // reopen to clean up what a test left attached
            self.net = NetworkManager::open(self.cfg.clone()).ok();
        }
        if let Some(net) = &self.net {
            for id in net.attached_containers() {
                if let Err(e) = net.detach(&id) {
                    eprintln!("fixture cleanup: detach {id}: {e}");
                }
            }
        }
        self.net = None;
        for name in self.netns_entries() {
            let p = self.cfg.run_dir.join(&name);
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&p);
        }
        // the run dir was bound onto itself (maybe more than once by
        // several managers): unmount until it is a plain directory again
        for _ in 0..8 {
            if nix::mount::umount2(&self.cfg.run_dir, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
        if std::thread::panicking() {
            return;
        }
        // what detach could not remove is a leak: no lease, record or veth may remain
        let ipam = self.cfg.state_dir.join("ipam");
        let mut leases = Vec::new();
        for net in std::fs::read_dir(&ipam).into_iter().flatten().flatten() {
            let n = net.file_name().to_string_lossy().into_owned();
            leases.extend(self.leases(&n).into_iter().map(|l| format!("{n}/{l}")));
        }
        assert_eq!(leases, Vec::<String>::new(), "leases left behind");
        let records: Vec<_> = std::fs::read_dir(self.cfg.state_dir.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(records, Vec::<String>::new(), "records left behind");
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
        let veths: Vec<&str> = dev.lines().filter_map(|l| l.split(':').next()).map(str::trim).filter(|l| l.starts_with("veth")).collect();
        assert_eq!(veths, Vec::<&str>::new(), "veths left behind");
    }
}

/// A process in a container namespace, killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn in_netns(netns: &Path, args: &[&str]) -> (Command, File) {
    let f = File::open(netns).unwrap_or_else(|e| panic!("open {}: {e}", netns.display()));
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(BUSYBOX);
    cmd.args(args);
    // SAFETY: setns is async-signal-safe; fd stays open (held by the
    // returned File) until the child has exec'd.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    (cmd, f)
}

/// Runs a busybox applet inside a container namespace.
pub fn run_in(netns: &Path, args: &[&str]) -> Output {
    let (mut cmd, _f) = in_netns(netns, args);
    cmd.stdin(Stdio::null()).output().expect("run busybox in netns")
}

/// Starts a busybox applet inside a container namespace.
pub fn spawn_in(netns: &Path, args: &[&str]) -> Proc {
    let (mut cmd, _f) = in_netns(netns, args);
    Proc(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn busybox in netns"))
}

/// `ping -c 1` from a namespace; true if answered.
pub fn ping(netns: &Path, ip: Ipv4Addr) -> bool {
    run_in(netns, &["ping", "-c", "1", "-W", "2", &ip.to_string()]).status.success()
}

/// Serves `body` at /index.html with busybox httpd on port 80 of `netns`,
/// and waits until `ip:80` answers.
pub fn httpd(netns: &Path, ip: Ipv4Addr, docroot: &Path, body: &str) -> Proc {
    std::fs::create_dir_all(docroot).expect("docroot");
    std::fs::write(docroot.join("index.html"), body).expect("index");
    let p = spawn_in(netns, &["httpd", "-f", "-p", "80", "-h", &docroot.to_string_lossy()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if http_get(SocketAddr::from((ip, 80))).is_some() {
            return p;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("httpd in {} never answered on {ip}:80", netns.display());
}

/// GET /index.html over plain TCP from the test host; the body, or None.
pub fn http_get(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// The lines of `iptables-save` mentioning `needle`.
pub fn rules_mentioning(save: &str, needle: &str) -> Vec<String> {
    save.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}
