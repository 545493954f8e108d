//! The default bridge network with the real CNI plugins: connectivity, NAT
//! rules, clean detach (also when the namespace is gone), CHECK, host/none.

mod common;

use std::net::Ipv4Addr;

use berth_network::{AttachRequest, Attachment, ErrorKind, PortMapping, Protocol};
use common::{Fixture, TestHost, ping, rules_mentioning, run_in};

#[test]
fn two_containers_on_the_default_bridge_reach_each_other_and_the_gateway() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let (ns_a, eps_a) = fx.start("ctr-a", &[Attachment::new("bridge")], &[]);
    let (ns_b, eps_b) = fx.start("ctr-b", &[Attachment::new("bridge")], &[]);
    let (a, b) = (&eps_a[0], &eps_b[0]);
    assert_eq!(a.interface, "eth0");
    assert_eq!(a.prefix, 16);
    assert_eq!(a.gateway, Some(Ipv4Addr::new(10, 87, 0, 1)));
    assert!(berth_network::Ipv4Net::parse("10.87.0.0/16").expect("net").contains(a.ip));
    assert_ne!(a.ip, b.ip);
    assert!(a.default_route);
    assert_eq!(a.mac.len(), 17, "mac {}", a.mac);
    assert!(host.links().contains(&"berth0".to_string()), "bridge berth0 exists on the host");
    assert!(ping(&ns_a, b.ip), "a -> b");
    assert!(ping(&ns_b, a.ip), "b -> a");
    assert!(ping(&ns_a, Ipv4Addr::new(10, 87, 0, 1)), "a -> gateway");
    // the container has a default route through the gateway and lo is up
    let routes = String::from_utf8_lossy(&run_in(&ns_a, &["ip", "route"]).stdout).into_owned();
    assert!(routes.contains("default via 10.87.0.1 dev eth0"), "{routes}");
    assert!(ping(&ns_a, Ipv4Addr::LOCALHOST), "loopback is up");
    fx.stop("ctr-a");
    fx.stop("ctr-b");
}

#[test]
fn detach_removes_veth_lease_and_nat_rules() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let links_before = host.links();
    let (_ns, eps) = fx.start("ctr-nat", &[Attachment::new("bridge")], &[PortMapping::new(18080, 80, Protocol::Tcp)]);
    let ep = &eps[0];
    let veth = ep.host_veth.clone().expect("host veth in the result");
    assert!(host.links().contains(&veth));
    assert_eq!(fx.leases("bridge"), vec![ep.ip.to_string()]);
    let save = host.iptables_save();
    // network-wide masquerade (berth's chain) and the container's DNAT (portmap's)
    assert!(save.contains("-A BERTH-POSTROUTING -s 10.87.0.0/16 ! -o berth0 -j MASQUERADE"), "{save}");
    assert!(save.contains("-A POSTROUTING -j BERTH-POSTROUTING"), "{save}");
    assert!(save.contains("-A FORWARD -j BERTH-FORWARD"), "{save}");
    assert!(save.contains(&format!("--to-destination {}:80", ep.ip)), "{save}");
    assert!(!rules_mentioning(&save, "ctr-nat").is_empty(), "portmap rules carry the container id");

    fx.net().detach("ctr-nat").expect("detach");
    let save = host.iptables_save();
    assert_eq!(rules_mentioning(&save, "ctr-nat"), Vec::<String>::new());
    assert_eq!(rules_mentioning(&save, &ep.ip.to_string()), Vec::<String>::new());
    assert!(save.contains("-A BERTH-POSTROUTING -s 10.87.0.0/16 ! -o berth0 -j MASQUERADE"), "network rules stay with the network");
    assert!(!host.links().contains(&veth), "veth gone");
    assert_eq!(fx.leases("bridge"), Vec::<String>::new());
    assert!(fx.net().ports("ctr-nat").is_empty());
    // detach is idempotent
    fx.net().detach("ctr-nat").expect("second detach");
    fx.net().remove_netns("ctr-nat").expect("remove netns");
    fx.net().remove_netns("ctr-nat").expect("remove netns twice");
    assert!(fx.netns_entries().is_empty());
    let mut after: Vec<String> = host.links().into_iter().filter(|l| l != "berth0").collect();
    after.sort();
    let mut before = links_before;
    before.sort();
    assert_eq!(after, before, "only the network's bridge remains");
}

#[test]
fn detach_succeeds_after_the_namespace_is_gone() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let (_ns, eps) = fx.start("ctr-gone", &[Attachment::new("bridge")], &[PortMapping::new(18081, 80, Protocol::Tcp)]);
    let veth = eps[0].host_veth.clone().expect("veth");
    fx.net().remove_netns("ctr-gone").expect("remove netns first");
    fx.net().detach("ctr-gone").expect("detach without the namespace");
    assert!(!host.links().contains(&veth));
    assert_eq!(fx.leases("bridge"), Vec::<String>::new());
    assert_eq!(rules_mentioning(&host.iptables_save(), "ctr-gone"), Vec::<String>::new());
    assert!(fx.net().attached_containers().is_empty());
}

#[test]
fn check_passes_while_intact_and_fails_when_the_interface_is_removed() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    let (ns, _) = fx.start("ctr-check", &[Attachment::new("bridge")], &[]);
    fx.net().check("ctr-check").expect("check intact");
    assert!(run_in(&ns, &["ip", "link", "del", "eth0"]).status.success());
    let e = fx.net().check("ctr-check").expect_err("check must notice");
    let msg = e.to_string();
    assert!(msg.contains("CHECK") && msg.contains("ctr-check") && msg.contains("bridge"), "{msg}");
    fx.stop("ctr-check");
    assert_eq!(fx.leases("bridge"), Vec::<String>::new());
}

#[test]
fn none_and_host_modes() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let links = host.links();
    let ns = fx.net().create_netns("ctr-none").expect("netns");
    let eps = fx
        .net()
        .attach(&AttachRequest { container_id: "ctr-none", container_name: "quiet", netns: &ns, networks: &[Attachment::new("none")], ports: &[] })
        .expect("attach none");
    assert!(eps.is_empty());
    let out = String::from_utf8_lossy(&run_in(&ns, &["ip", "-o", "link"]).stdout).into_owned();
    assert_eq!(out.lines().count(), 1, "only lo: {out}");
    assert!(ping(&ns, Ipv4Addr::LOCALHOST));
    let info = fx.net().inspect_network("none").expect("inspect");
    assert_eq!(info.driver, "null");
    assert_eq!(info.containers["ctr-none"].name, "quiet");
    fx.net().check("ctr-none").expect("check none");

    let eps = fx
        .net()
        .attach(&AttachRequest { container_id: "ctr-host", container_name: "h", netns: &ns, networks: &[Attachment::new("host")], ports: &[] })
        .expect("attach host");
    assert!(eps.is_empty());
    assert_eq!(fx.net().inspect_network("host").expect("inspect").containers.len(), 1);
    let e = fx.net().connect("ctr-host", &Attachment::new("bridge")).expect_err("host cannot connect");
    assert!(e.to_string().contains("host network"), "{e}");
    let e = fx.net().connect("ctr-none", &Attachment::new("bridge")).expect_err("none cannot connect");
    assert!(e.to_string().contains("private (none) mode"), "{e}");
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "ctr-host2",
            container_name: "h2",
            netns: &ns,
            networks: &[Attachment::new("host")],
            ports: &[PortMapping::new(18082, 80, Protocol::Tcp)],
        })
        .expect_err("ports with host");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "ctr-mixed",
            container_name: "m",
            netns: &ns,
            networks: &[Attachment::new("bridge"), Attachment::new("none")],
            ports: &[],
        })
        .expect_err("none with others");
    assert!(e.to_string().contains("cannot be combined"), "{e}");
    fx.net().detach("ctr-host").expect("detach host");
    fx.stop("ctr-none");
    assert_eq!(host.links(), links, "host and none create no links");
}

#[test]
fn attach_twice_is_refused_and_the_first_stays_intact() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    let (ns, eps) = fx.start("ctr-twice", &[Attachment::new("bridge")], &[]);
    let e = fx
        .net()
        .attach(&AttachRequest { container_id: "ctr-twice", container_name: "x", netns: &ns, networks: &[Attachment::new("bridge")], ports: &[] })
        .expect_err("second attach");
    assert!(e.to_string().contains("already attached"), "{e}");
    assert_eq!(fx.net().endpoints("ctr-twice"), eps);
    assert!(fx.net().create_netns("ctr-twice").is_err(), "netns exists");
    fx.stop("ctr-twice");
}

#[test]
fn a_half_made_namespace_file_does_not_block_create() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    // what a crash between creating the mount point and mounting leaves
    std::fs::write(fx.cfg.run_dir.join("ctr-half"), b"").expect("write");
    let ns = fx.net().create_netns("ctr-half").expect("create over the empty file");
    assert!(ping(&ns, Ipv4Addr::LOCALHOST));
    fx.net().remove_netns("ctr-half").expect("remove");
}

#[test]
fn teardown_removes_the_namespace_then_deletes() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let (_ns, eps) = fx.start("ctr-fast", &[Attachment::new("bridge")], &[PortMapping::new(18083, 80, Protocol::Tcp)]);
    let veth = eps[0].host_veth.clone().expect("veth");
    fx.net().teardown("ctr-fast").expect("teardown");
    assert!(fx.netns_entries().is_empty());
    assert_eq!(fx.leases("bridge"), Vec::<String>::new());
    assert_eq!(rules_mentioning(&host.iptables_save(), "ctr-fast"), Vec::<String>::new());
    assert!(fx.net().attached_containers().is_empty());
    // the kernel removes the veth with the namespace, asynchronously
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while host.links().contains(&veth) {
        assert!(std::time::Instant::now() < deadline, "veth {veth} outlived its namespace");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    fx.net().teardown("ctr-fast").expect("idempotent");
}
