//! User-defined networks: own bridge and subnet, isolation, inspect/list/rm/
//! prune, automatic subnets, internal networks, static IPs and aliases,
//! connect/disconnect, and the errors for bad input.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_network::{AttachRequest, Attachment, Error, ErrorKind, NetworkOptions};
use common::{Fixture, TestHost, ping, rules_mentioning, run_in};

fn opts(subnet: &str) -> NetworkOptions {
    NetworkOptions { subnet: Some(subnet.into()), ..Default::default() }
}

#[test]
fn user_network_has_its_own_bridge_and_subnet_and_is_isolated_from_the_default() {
    let host = TestHost::new();
    let fx = Fixture::new();
    let mut o = opts("10.201.0.0/24");
    o.labels = BTreeMap::from([("com.example.team".to_string(), "web".to_string())]);
    let info = fx.net().create_network("front", &o).expect("create");
    assert_eq!(info.name, "front");
    assert_eq!(info.id.len(), 64);
    assert_eq!(info.driver, "bridge");
    assert_eq!(info.scope, "local");
    assert_eq!(info.ipam.config[0].subnet, "10.201.0.0/24");
    assert_eq!(info.ipam.config[0].gateway, "10.201.0.1");
    assert_eq!(info.labels["com.example.team"], "web");
    let bridge = format!("berth-{}", &info.id[..9]);

    let (ns_u1, u1) = fx.start("u1", &[Attachment::new("front")], &[]);
    let (_ns_u2, u2) = fx.start("u2", &[Attachment::new("front")], &[]);
    let (ns_d, d) = fx.start("d1", &[Attachment::new("bridge")], &[]);
    assert!(host.links().contains(&bridge), "bridge {bridge} created");
    assert_eq!(u1[0].gateway, Some(Ipv4Addr::new(10, 201, 0, 1)));
    assert!(ping(&ns_u1, u2[0].ip), "same network reaches");
    assert!(ping(&ns_u1, Ipv4Addr::new(10, 201, 0, 1)), "own gateway reaches");
    assert!(!ping(&ns_u1, d[0].ip), "user network must not reach the default bridge");
    assert!(!ping(&ns_d, u2[0].ip), "default bridge must not reach the user network");

    let info = fx.net().inspect_network(&info.id[..12]).expect("inspect by id prefix");
    assert_eq!(info.containers.len(), 2);
    let c = &info.containers["u1"];
    assert_eq!(c.ipv4_address, format!("{}/24", u1[0].ip));
    assert_eq!(c.endpoint_id, u1[0].endpoint_id);
    assert_eq!(c.mac_address, u1[0].mac);
    let names: Vec<String> = fx.net().list_networks().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "front", "host", "none"]);

    let e = fx.net().remove_network("front").expect_err("in use");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("has active endpoints"), "{e}");
    fx.stop("u1");
    fx.stop("u2");
    fx.stop("d1");
    assert!(fx.net().inspect_network("front").expect("inspect").containers.is_empty());
    fx.net().remove_network("front").expect("remove");
    assert!(!host.links().contains(&bridge), "bridge deleted with the network");
    let save = host.iptables_save();
    assert_eq!(rules_mentioning(&save, &bridge), Vec::<String>::new());
    assert_eq!(rules_mentioning(&save, "10.201.0.0"), Vec::<String>::new());
    assert!(!fx.cfg.state_dir.join("ipam/front").exists());
    assert!(!fx.cfg.state_dir.join("networks/front.json").exists());
    assert!(matches!(fx.net().inspect_network("front"), Err(Error::NetworkNotFound(_))));
}

#[test]
fn stored_conflist_is_a_plain_cni_list() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    fx.net().create_network("plain", &opts("10.202.0.0/24")).expect("create");
    let text = std::fs::read_to_string(fx.cfg.state_dir.join("networks/plain.conflist")).expect("conflist");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["cniVersion"], "1.0.0");
    assert_eq!(v["name"], "plain");
    assert_eq!(v["plugins"][0]["type"], "bridge");
    assert_eq!(v["plugins"][0]["ipam"]["type"], "host-local");
    assert_eq!(v["plugins"][1]["type"], "portmap");
    fx.net().remove_network("plain").expect("remove");
}

#[test]
fn subnets_are_allocated_from_the_pool_skipping_taken_and_routed_blocks() {
    let host = TestHost::new();
    let mut fx = Fixture::unopened();
    fx.cfg.address_pools = vec![berth_network::AddressPool {
        base: berth_network::Ipv4Net::parse("10.210.0.0/22").expect("pool"),
        size: 24,
    }];
    fx.open();
    // a route of the host on the second block: allocation must skip it
    let _dummy = Dummy::new(&host, "rt-test", "10.210.1.1/24");
    let a = fx.net().create_network("a", &NetworkOptions::default()).expect("a");
    let b = fx.net().create_network("b", &NetworkOptions::default()).expect("b");
    assert_eq!(a.ipam.config[0].subnet, "10.210.0.0/24");
    assert_eq!(b.ipam.config[0].subnet, "10.210.2.0/24", "10.210.1.0/24 is routed on the host");
    fx.net().create_network("c", &NetworkOptions::default()).expect("c");
    let e = fx.net().create_network("d", &NetworkOptions::default()).expect_err("pool exhausted");
    assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
    assert!(e.to_string().contains("no free subnet"), "{e}");
    assert_eq!(fx.net().prune_networks().expect("prune"), ["a", "b", "c"]);
    assert_eq!(fx.net().list_networks().len(), 3);
}

struct Dummy(String);

impl Dummy {
    fn new(_host: &TestHost, name: &str, addr: &str) -> Dummy {
        let ok = std::process::Command::new("ip").args(["link", "add", name, "type", "veth", "peer", "name", &format!("{name}-p")]).status().expect("ip").success()
            && std::process::Command::new("ip").args(["addr", "add", addr, "dev", name]).status().expect("ip").success()
            && std::process::Command::new("ip").args(["link", "set", name, "up"]).status().expect("ip").success();
        assert!(ok, "veth with an address");
        Dummy(name.to_string())
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let _host = TestHost::new();
    let fx = Fixture::new();
    let net = fx.net();
    let e = net.create_network("x", &opts("10.203.0.0/33")).expect_err("cidr");
    assert_eq!(e.to_string(), "invalid subnet \"10.203.0.0/33\"");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let chain = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
    assert!(chain.contains("prefix length"), "{chain}");
    let e = net.create_network("x", &opts("10.203.0.7/24")).expect_err("host bits");
    assert!(std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default().contains("10.203.0.0/24"));
    let e = net.create_network("x", &opts("not-a-cidr")).expect_err("cidr");
    assert!(e.to_string().starts_with("invalid subnet"), "{e}");
    let e = net.create_network("x", &opts("10.87.128.0/24")).expect_err("overlap with default");
    assert_eq!(
        e.to_string(),
        "invalid pool request: subnet 10.87.128.0/24 overlaps with network bridge (10.87.0.0/16)"
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    net.create_network("taken", &opts("10.203.0.0/24")).expect("create");
    let e = net.create_network("taken", &opts("10.204.0.0/24")).expect_err("dup");
    assert_eq!(e.to_string(), "network with name taken already exists");
    let e = net.create_network("bridge", &NetworkOptions::default()).expect_err("predefined");
    assert_eq!(e.to_string(), "bridge is a pre-defined network and cannot be created");
    let e = net.remove_network("host").expect_err("predefined");
    assert_eq!(e.to_string(), "host is a pre-defined network and cannot be removed");
    let e = net.create_network("bad name", &NetworkOptions::default()).expect_err("name");
    assert!(e.to_string().starts_with("invalid network name"), "{e}");
    let e = net.create_network("x", &NetworkOptions { driver: "overlay".into(), ..Default::default() }).expect_err("driver");
    assert_eq!(e.to_string(), "not supported yet: network driver overlay");
    let mut o = opts("10.205.0.0/24");
    o.gateway = Some("10.206.0.1".into());
    let e = net.create_network("x", &o).expect_err("gateway");
    assert!(e.to_string().contains("invalid gateway"), "{e}");
    let e = net.inspect_network("nope").expect_err("unknown");
    assert_eq!(e.to_string(), "network nope not found");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let ns = net.create_netns("ctr-bad").expect("netns");
    let e = net
        .attach(&AttachRequest { container_id: "ctr-bad", container_name: "b", netns: &ns, networks: &[Attachment::new("nope")], ports: &[] })
        .expect_err("unknown network");
    assert_eq!(e.to_string(), "network nope not found");
    assert!(net.attached_containers().is_empty(), "nothing recorded for a refused attach");
    let e = net.create_netns("../escape").expect_err("id");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    net.remove_netns("ctr-bad").expect("remove");
    net.remove_network("taken").expect("remove");
}

#[test]
fn internal_network_has_no_way_out() {
    let host = TestHost::new();
    let fx = Fixture::new();
    fx.net().create_network("back", &NetworkOptions { internal: true, ..opts("10.207.0.0/24") }).expect("create");
    let (ns1, e1) = fx.start("i1", &[Attachment::new("back")], &[]);
    let (_ns2, e2) = fx.start("i2", &[Attachment::new("back")], &[]);
    let (_ns3, d) = fx.start("i3", &[Attachment::new("bridge")], &[]);
    assert!(!e1[0].default_route);
    let routes = String::from_utf8_lossy(&run_in(&ns1, &["ip", "route"]).stdout).into_owned();
    assert!(!routes.contains("default"), "{routes}");
    assert!(ping(&ns1, e2[0].ip), "inside the internal network");
    assert!(!ping(&ns1, d[0].ip), "not out of it");
    let save = host.iptables_save();
    assert!(!save.contains("-s 10.207.0.0/24"), "no masquerade for an internal network: {save}");
    assert!(fx.net().inspect_network("back").expect("inspect").internal);
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "i4",
            container_name: "i4",
            netns: &fx.net().create_netns("i4").expect("netns"),
            networks: &[Attachment::new("back")],
            ports: &[berth_network::PortMapping::new(18090, 80, berth_network::Protocol::Tcp)],
        })
        .expect_err("no ports on internal");
    assert!(e.to_string().contains("not internal"), "{e}");
    fx.net().remove_netns("i4").expect("rm");
    for id in ["i1", "i2", "i3"] {
        fx.stop(id);
    }
}

#[test]
fn static_ip_aliases_and_connect_disconnect() {
    let host = TestHost::new();
    let fx = Fixture::new();
    fx.net().create_network("app", &opts("10.208.0.0/24")).expect("create");
    fx.net().create_network("db", &opts("10.209.0.0/24")).expect("create");
    let fixed = Attachment { network: "app".into(), aliases: vec!["web".into()], ipv4: Some(Ipv4Addr::new(10, 208, 0, 50)) };
    let (ns, eps) = fx.start("s1", std::slice::from_ref(&fixed), &[]);
    assert_eq!(eps[0].ip, Ipv4Addr::new(10, 208, 0, 50));
    assert_eq!(eps[0].aliases, ["web"]);
    // the address is taken now
    let ns2 = fx.net().create_netns("s2").expect("netns");
    let e = fx
        .net()
        .attach(&AttachRequest { container_id: "s2", container_name: "s2", netns: &ns2, networks: &[fixed], ports: &[] })
        .expect_err("address in use");
    assert!(e.to_string().contains("already in use"), "{e}");
    // docker's rules for --ip and --network-alias on the default bridge
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "s2",
            container_name: "s2",
            netns: &ns2,
            networks: &[Attachment { network: "bridge".into(), aliases: vec![], ipv4: Some(Ipv4Addr::new(10, 87, 9, 9)) }],
            ports: &[],
        })
        .expect_err("ip on default bridge");
    assert!(e.to_string().contains("user defined networks only"), "{e}");
    let e = fx
        .net()
        .attach(&AttachRequest {
            container_id: "s2",
            container_name: "s2",
            netns: &ns2,
            networks: &[Attachment { network: "bridge".into(), aliases: vec!["x".into()], ipv4: None }],
            ports: &[],
        })
        .expect_err("alias on default bridge");
    assert!(e.to_string().contains("aliases"), "{e}");
    fx.net().remove_netns("s2").expect("rm");

    // connect a second network: eth1, no second default route
    let files = fx
        .net()
        .write_files("s1", &berth_network::FileOptions { hostname: "s1host".into(), ..Default::default() })
        .expect("files");
    let ep = fx.net().connect("s1", &Attachment::new("db")).expect("connect");
    assert_eq!(ep.interface, "eth1");
    assert!(!ep.default_route);
    let routes = String::from_utf8_lossy(&run_in(&ns, &["ip", "route"]).stdout).into_owned();
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    assert!(routes.contains("10.209.0.0/24 dev eth1"), "{routes}");
    let hosts = std::fs::read_to_string(&files.hosts).expect("hosts");
    assert!(hosts.contains(&format!("{}\ts1host", ep.ip)), "hosts rewritten on connect: {hosts}");
    assert!(matches!(fx.net().connect("s1", &Attachment::new("db")), Err(Error::AlreadyAttached { .. })));
    assert_eq!(fx.net().inspect_network("db").expect("inspect").containers.len(), 1);

    let veth = ep.host_veth.clone().expect("veth");
    fx.net().disconnect("s1", "db").expect("disconnect");
    assert!(!host.links().contains(&veth));
    assert_eq!(fx.leases("db"), Vec::<String>::new());
    let hosts = std::fs::read_to_string(&files.hosts).expect("hosts");
    assert!(!hosts.contains(&ep.ip.to_string()), "hosts rewritten on disconnect: {hosts}");
    assert!(matches!(fx.net().disconnect("s1", "db"), Err(Error::NotAttached { .. })));
    assert_eq!(fx.net().endpoints("s1").len(), 1);
    fx.stop("s1");
    fx.net().remove_files("s1").expect("rm files");
    assert_eq!(fx.leases("app"), Vec::<String>::new());
}
