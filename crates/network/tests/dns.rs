//! The embedded DNS server (127.0.0.11) of user-defined networks, queried
//! with busybox nslookup from inside the containers. Forwarding is off: the
//! server answers berth's own names and refuses the rest, so no query ever
//! leaves the test's namespaces.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use berth_network::{Attachment, FileOptions, NetworkOptions};
use common::{Fixture, TestHost, run_in};

/// The addresses nslookup printed for `name` (none if resolution failed).
fn lookup(netns: &Path, name: &str) -> Vec<Ipv4Addr> {
    let out = run_in(netns, &["nslookup", "-type=a", "-retry=1", "-timeout=2", name, "127.0.0.11"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // skip the "Server:/Address: 127.0.0.11:53" header
    text.split("\n\n")
        .skip(1)
        .flat_map(|block| block.lines().filter_map(|l| l.strip_prefix("Address: ")).filter_map(|a| a.trim().parse().ok()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn containers_resolve_each_other_on_user_networks_only() {
    let _host = TestHost::new();
    let mut fx = Fixture::new();
    fx.net()
        .create_network("svc", &NetworkOptions { subnet: Some("10.213.0.0/24".into()), ..Default::default() })
        .expect("create");
    let long_id = "0123456789abcdef0123";
    let (ns_a, _) = fx.start("alpha", &[Attachment { network: "svc".into(), aliases: vec!["api".into()], ipv4: None }], &[]);
    let (ns_b, b) = fx.start(long_id, &[Attachment::new("svc")], &[]);
    let (ns_g, _) = fx.start("gamma", &[Attachment::new("bridge")], &[]);
    let a_ip = fx.net().endpoints("alpha")[0].ip;

    assert_eq!(lookup(&ns_a, long_id), vec![b[0].ip], "by container name");
    assert_eq!(lookup(&ns_a, &long_id[..12]), vec![b[0].ip], "by short id");
    assert_eq!(lookup(&ns_b, "api"), vec![a_ip], "by alias");
    assert_eq!(lookup(&ns_b, "ALPHA."), vec![a_ip], "case-insensitive, trailing dot");
    assert_eq!(lookup(&ns_a, "gamma"), Vec::<Ipv4Addr>::new(), "not on a shared network");
    assert_eq!(lookup(&ns_a, "elsewhere.example"), Vec::<Ipv4Addr>::new(), "unknown names are not forwarded here");
    assert_eq!(lookup(&ns_g, "alpha"), Vec::<Ipv4Addr>::new(), "the default bridge has no embedded DNS");

    let files = fx.net().write_files("alpha", &FileOptions { hostname: "alpha".into(), ..Default::default() }).expect("files");
    assert_eq!(
        std::fs::read_to_string(&files.resolv_conf).expect("resolv"),
        "nameserver 127.0.0.11\nsearch example.test\noptions ndots:0\n"
    );
    let files = fx
        .net()
        .write_files("alpha", &FileOptions { hostname: "alpha".into(), dns: vec!["192.0.2.1".into()], dns_search: vec!["svc.test".into()], ..Default::default() })
        .expect("files");
    assert_eq!(
        std::fs::read_to_string(&files.resolv_conf).expect("resolv"),
        "nameserver 127.0.0.11\nsearch svc.test\noptions ndots:0\n",
        "--dns becomes the server's upstream, not a line of the file"
    );
    let files = fx.net().write_files("gamma", &FileOptions { hostname: "gamma".into(), ..Default::default() }).expect("files");
    assert!(!std::fs::read_to_string(&files.resolv_conf).expect("resolv").contains("127.0.0.11"));

    // the server comes back after a daemon restart
    fx.close();
    assert_eq!(lookup(&ns_a, long_id), Vec::<Ipv4Addr>::new(), "daemon down: no answers");
    fx.open();
    assert_eq!(lookup(&ns_a, long_id), vec![b[0].ip], "daemon back: answers again");
    fx.net().check("alpha").expect("check includes the DNS server");

    fx.stop(long_id);
    assert_eq!(lookup(&ns_a, long_id), Vec::<Ipv4Addr>::new(), "gone after detach");
    fx.net().disconnect("alpha", "svc").expect("disconnect");
    assert_eq!(lookup(&ns_a, "alpha"), Vec::<Ipv4Addr>::new(), "server stopped with the last user network");
    fx.stop("alpha");
    fx.stop("gamma");
    fx.net().remove_files("alpha").expect("rm");
    fx.net().remove_files("gamma").expect("rm");
}

/// Forwarding, tested without any query leaving the test: the "upstream" is
/// a fake DNS server of this test on 127.0.0.1:53 of the test's own
/// namespace (where the forwarder runs, as in the daemon's).
#[test]
fn unknown_names_are_forwarded_to_the_containers_dns_servers() {
    use std::net::UdpSocket;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let _host = TestHost::new();
    let mut fx = Fixture::unopened();
    fx.cfg.dns_forward = true;
    std::fs::write(&fx.cfg.host_resolv_conf, "nameserver 127.0.0.1\n").expect("write");
    fx.open();
    let upstream = UdpSocket::bind((Ipv4Addr::LOCALHOST, 53)).expect("fake upstream on the test's loopback");
    let asked = Arc::new(AtomicUsize::new(0));
    let served = asked.clone();
    let server = upstream.try_clone().expect("clone");
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            if n < 12 {
                break; // the test's stop datagram
            }
            served.fetch_add(1, Ordering::SeqCst);
            let mut r = buf[..n].to_vec();
            r[2] |= 0x80; // response
            r[3] = 0x80;
            r[6] = 0;
            r[7] = if u16::from_be_bytes([buf[n - 4], buf[n - 3]]) == 1 { 1 } else { 0 };
            if r[7] == 1 {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]);
            }
            let _ = server.send_to(&r, from);
        }
    });
    fx.net()
        .create_network("fwd", &NetworkOptions { subnet: Some("10.214.0.0/24".into()), ..Default::default() })
        .expect("create");
    let (ns, _) = fx.start("asker", &[Attachment::new("fwd")], &[]);
    fx.net()
        .write_files("asker", &FileOptions { hostname: "asker".into(), dns: vec!["127.0.0.1".into()], ..Default::default() })
        .expect("files");
    assert_eq!(lookup(&ns, "external.test"), vec![Ipv4Addr::new(192, 0, 2, 99)], "answered by the upstream");
    assert!(asked.load(Ordering::SeqCst) >= 1);
    let before = asked.load(Ordering::SeqCst);
    assert_eq!(lookup(&ns, "asker"), vec![fx.net().endpoints("asker")[0].ip], "own names are not forwarded");
    assert_eq!(asked.load(Ordering::SeqCst), before);
    fx.stop("asker");
    let _ = upstream.send_to(&[0], (Ipv4Addr::LOCALHOST, 53));
    t.join().expect("fake upstream");
}
