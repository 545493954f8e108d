//! Published ports through the real portmap plugin: reachable on 127.0.0.1
//! and on the host's bridge address, ephemeral ports, conflicts with other
//! containers and with host processes, release on detach.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use berth_network::{AttachRequest, Attachment, Error, ErrorKind, PortMapping, Protocol, PublishedPort, parse_port_spec};
use common::{Fixture, TestHost, http_get, httpd, rules_mentioning};

#[test]
fn published_port_is_reachable_on_localhost_and_the_bridge_address() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let ports = parse_port_spec("18080:80").expect("spec");
    let (ns, eps) = fx.start("web", &[Attachment::new("bridge")], &ports);
    let ip = eps[0].ip;
    let _srv = httpd(&ns, ip, &fx.root().join("www"), "hello from berth\n");
    assert_eq!(
        fx.net().ports("web"),
        vec![PublishedPort { host_ip: Ipv4Addr::UNSPECIFIED, host_port: 18080, container_port: 80, protocol: Protocol::Tcp }]
    );
    assert_eq!(fx.net().ports("web")[0].to_string(), "80/tcp -> 0.0.0.0:18080");
    assert_eq!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, 18080))).as_deref(), Some("hello from berth\n"), "curl localhost:18080");
    assert_eq!(http_get(SocketAddr::from((Ipv4Addr::new(10, 87, 0, 1), 18080))).as_deref(), Some("hello from berth\n"), "curl <bridge ip>:18080");
    // a host process cannot take the published port
    let e = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 18080)).expect_err("port is reserved");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);

    fx.net().detach("web").expect("detach");
    assert!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, 18080))).is_none(), "unpublished after detach");
    assert_eq!(rules_mentioning(&host.iptables_save(), "web\""), Vec::<String>::new());
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, 18080)).expect("port released on detach");
    fx.net().remove_netns("web").expect("rm");
}

#[test]
fn port_bound_to_one_address_and_udp() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    let mut ports = parse_port_spec("127.0.0.1:18081:80").expect("spec");
    ports.extend(parse_port_spec("18081:53/udp").expect("spec"));
    let (ns, eps) = fx.start("lo-only", &[Attachment::new("bridge")], &ports);
    let _srv = httpd(&ns, eps[0].ip, &fx.root().join("www"), "lo\n");
    assert_eq!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, 18081))).as_deref(), Some("lo\n"));
    assert!(http_get(SocketAddr::from((Ipv4Addr::new(10, 87, 0, 1), 18081))).is_none(), "only 127.0.0.1 is published");
    let published = fx.net().ports("lo-only");
    assert_eq!(published.len(), 2);
    assert!(published.contains(&PublishedPort { host_ip: Ipv4Addr::LOCALHOST, host_port: 18081, container_port: 80, protocol: Protocol::Tcp }));
    assert!(published.contains(&PublishedPort { host_ip: Ipv4Addr::UNSPECIFIED, host_port: 18081, container_port: 53, protocol: Protocol::Udp }));
    fx.stop("lo-only");
}

#[test]
fn ephemeral_ports_come_from_the_range_and_are_distinct() {
    let _host = TestHost::new();
    let fx = Fixture::new(); // ephemeral range 41000-41099
    let ports = [PortMapping::ephemeral(80, Protocol::Tcp), PortMapping::ephemeral(443, Protocol::Tcp)];
    let (ns, eps) = fx.start("pub-all", &[Attachment::new("bridge")], &ports);
    let got = fx.net().ports("pub-all");
    assert_eq!(got.len(), 2);
    for p in &got {
        assert!((41000..=41099).contains(&p.host_port), "{p}");
    }
    assert_ne!(got[0].host_port, got[1].host_port);
    let web = got.iter().find(|p| p.container_port == 80).expect("80");
    let _srv = httpd(&ns, eps[0].ip, &fx.root().join("www"), "ephemeral\n");
    assert_eq!(http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, web.host_port))).as_deref(), Some("ephemeral\n"));
    // a second container gets other ports; a host range picks a free one in it
    let ranged = parse_port_spec("18100-18101:80").expect("spec");
    let (_ns2, _) = fx.start("pub-2", &[Attachment::new("bridge")], &[PortMapping::ephemeral(80, Protocol::Tcp), ranged[0]]);
    let got2 = fx.net().ports("pub-2");
    assert!(got2.iter().all(|p| !got.iter().any(|q| q.host_port == p.host_port)));
    assert!(got2.iter().any(|p| p.host_port == 18100));
    let (_ns3, _) = fx.start("pub-3", &[Attachment::new("bridge")], &ranged);
    assert_eq!(fx.net().ports("pub-3")[0].host_port, 18101, "next free port of the range");
    let ns4 = fx.net().create_netns("pub-4").expect("netns");
    let e = fx
        .net()
        .attach(&AttachRequest { container_id: "pub-4", container_name: "p4", netns: &ns4, networks: &[Attachment::new("bridge")], ports: &ranged })
        .expect_err("range exhausted");
    assert!(matches!(e, Error::NoFreePort { start: 18100, end: 18101, .. }), "{e}");
    fx.net().remove_netns("pub-4").expect("rm");
    for id in ["pub-all", "pub-2", "pub-3"] {
        fx.stop(id);
    }
}

#[test]
fn port_conflicts_are_refused_and_leave_nothing_behind() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let p = parse_port_spec("18082:80").expect("spec");
    let (_ns, _) = fx.start("first", &[Attachment::new("bridge")], &p);
    let ns2 = fx.net().create_netns("second").expect("netns");
    let links = host.links();
    let e = fx
        .net()
        .attach(&AttachRequest { container_id: "second", container_name: "s", netns: &ns2, networks: &[Attachment::new("bridge")], ports: &p })
        .expect_err("conflict");
    assert_eq!(e.to_string(), "bind for 0.0.0.0:18082/tcp failed: port is already allocated");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // the refused container got nothing: no record, no veth, no lease
    assert!(!fx.net().attached_containers().contains(&"second".to_string()));
    assert_eq!(host.links(), links);
    assert_eq!(fx.leases("bridge").len(), 1);
    // also refused when only one address overlaps
    let lo = parse_port_spec("127.0.0.1:18082:80").expect("spec");
    let e = fx
        .net()
        .attach(&AttachRequest { container_id: "second", container_name: "s", netns: &ns2, networks: &[Attachment::new("bridge")], ports: &lo })
        .expect_err("conflict on 127.0.0.1");
    assert!(matches!(e, Error::PortAllocated { .. }), "{e}");
    // a port a host process listens on
    let _busy = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 18083)).expect("bind");
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "second",
            container_name: "s",
            netns: &ns2,
            networks: &[Attachment::new("bridge")],
            ports: &parse_port_spec("18083:80").expect("spec"),
        })
        .expect_err("host process holds the port");
    assert!(e.to_string().starts_with("cannot reserve host port 0.0.0.0:18083/tcp"), "{e}");
    // the same port for another protocol is fine
    fx.net()
        .attach(&AttachRequest {
            container_id: "second",
            container_name: "s",
            netns: &ns2,
            networks: &[Attachment::new("bridge")],
            ports: &parse_port_spec("18082:80/udp").expect("spec"),
        })
        .expect("udp on the same number");
    fx.stop("first");
    fx.stop("second");
}

#[test]
fn parallel_attaches_with_ports_all_succeed() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let fx = &fx;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                s.spawn(move || {
                    let id = format!("par{i}");
                    let ports = [PortMapping::new(18200 + i, 80, Protocol::Tcp), PortMapping::ephemeral(81, Protocol::Udp)];
                    fx.start(&id, &[Attachment::new("bridge")], &ports);
                    fx.net().check(&id).expect("check");
                    fx.stop(&id);
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    });
    assert!(fx.net().attached_containers().is_empty());
    assert_eq!(fx.leases("bridge"), Vec::<String>::new());
    assert_eq!(rules_mentioning(&host.iptables_save(), "par"), Vec::<String>::new());
}
