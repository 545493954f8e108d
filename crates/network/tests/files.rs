//! Generated /etc/hosts, /etc/resolv.conf and /etc/hostname of attached
//! containers (the host's resolver file is a fixture: no test reads the
//! machine's or sends a DNS query).

mod common;

use std::os::unix::fs::MetadataExt;

use berth_network::{AttachRequest, Attachment, FileOptions, NetworkOptions};
use common::{Fixture, TestHost};

#[test]
fn files_of_a_container_on_a_user_network() {
    let _host = TestHost::new();
    // without the embedded DNS server, resolv.conf is the filtered host file
    // (tests/dns.rs covers the file that points at 127.0.0.11)
    let mut fx = Fixture::unopened();
    fx.cfg.embedded_dns = false;
    fx.open();
    fx.net()
        .create_network("appnet", &NetworkOptions { subnet: Some("10.212.0.0/24".into()), ..Default::default() })
        .expect("create");
    let (_ns, eps) = fx.start("filer", &[Attachment { network: "appnet".into(), aliases: vec!["api".into()], ipv4: None }], &[]);
    let opts = FileOptions {
        hostname: "filer01".into(),
        domainname: String::new(),
        extra_hosts: vec![("db.local".into(), "192.0.2.10".into()), ("host.docker.internal".into(), "host-gateway".into())],
        ..Default::default()
    };
    let files = fx.net().write_files("filer", &opts).expect("write files");
    let hosts = std::fs::read_to_string(&files.hosts).expect("hosts");
    let expected = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n\
         192.0.2.10\tdb.local\n10.212.0.1\thost.docker.internal\n{}\tfiler01 api\n",
        eps[0].ip
    );
    assert_eq!(hosts, expected);
    // the fixture's host file: loopback resolver dropped, the rest kept
    assert_eq!(std::fs::read_to_string(&files.resolv_conf).expect("resolv"), "nameserver 192.0.2.53\nsearch example.test\n");
    assert_eq!(std::fs::read_to_string(&files.hostname).expect("hostname"), "filer01\n");
    assert!(files.hosts.starts_with(&fx.cfg.state_dir), "{}", files.hosts.display());

    // overrides, and the rewrite keeps the inode (bind mounts follow it)
    let inode = std::fs::metadata(&files.hosts).expect("meta").ino();
    let opts = FileOptions {
        hostname: "filer01".into(),
        domainname: "corp.test".into(),
        dns: vec!["192.0.2.1".into(), "192.0.2.2".into()],
        dns_search: vec!["svc.test".into()],
        dns_options: vec!["ndots:3".into(), "timeout:1".into()],
        ..Default::default()
    };
    let again = fx.net().write_files("filer", &opts).expect("rewrite");
    assert_eq!(again, files);
    assert_eq!(std::fs::metadata(&files.hosts).expect("meta").ino(), inode);
    assert_eq!(
        std::fs::read_to_string(&files.resolv_conf).expect("resolv"),
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch svc.test\noptions ndots:3 timeout:1\n"
    );
    assert!(std::fs::read_to_string(&files.hosts).expect("hosts").ends_with(&format!("{}\tfiler01.corp.test filer01 api\n", eps[0].ip)));

    let e = fx
        .net()
        .write_files("filer", &FileOptions { dns: vec!["not-an-ip".into()], ..Default::default() })
        .expect_err("bad dns");
    assert!(e.to_string().contains("invalid dns server"), "{e}");
    let e = fx
        .net()
        .write_files("filer", &FileOptions { extra_hosts: vec![("x".into(), "999.1.1.1".into())], ..Default::default() })
        .expect_err("bad host");
    assert!(e.to_string().contains("invalid extra host"), "{e}");
    fx.stop("filer");
    fx.net().remove_files("filer").expect("remove");
    assert!(!files.hosts.exists());
    fx.net().remove_files("filer").expect("remove twice");
}

#[test]
fn systemd_stub_and_fallback_and_host_mode() {
    let _host = TestHost::new();
    let mut fx = Fixture::unopened();
    let stub = fx.root().join("stub-resolv.conf");
    std::fs::write(&stub, "nameserver 127.0.0.53\noptions edns0 trust-ad\n").expect("write");
    let upstream = fx.root().join("upstream-resolv.conf");
    std::fs::write(&upstream, "nameserver 192.0.2.77\n").expect("write");
    let hosts = fx.root().join("host-hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n192.0.2.5 buildhost\n").expect("write");
    fx.cfg.host_resolv_conf = stub.clone();
    fx.cfg.systemd_resolv_conf = upstream;
    fx.cfg.host_hosts = hosts;
    fx.open();

    // only systemd-resolved's stub on the host: its upstream file is used
    let f = fx.net().write_files("nobody", &FileOptions { hostname: "n".into(), ..Default::default() }).expect("files");
    assert_eq!(std::fs::read_to_string(&f.resolv_conf).expect("resolv"), "nameserver 192.0.2.77\n");
    // nothing usable: docker's public fallback
    std::fs::write(&fx.cfg.systemd_resolv_conf, "nameserver ::1\n").expect("write");
    let f = fx.net().write_files("nobody", &FileOptions { hostname: "n".into(), ..Default::default() }).expect("files");
    assert_eq!(std::fs::read_to_string(&f.resolv_conf).expect("resolv"), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    // not attached yet: hosts has the header and no address
    assert!(!std::fs::read_to_string(&f.hosts).expect("hosts").contains("\tn\n"));
    fx.net().remove_files("nobody").expect("rm");

    // --network host: the host's files, unfiltered
    let ns = fx.root().join("unused");
    fx.net()
        .attach(&AttachRequest { container_id: "hostmode", container_name: "hm", netns: &ns, networks: &[Attachment::new("host")], ports: &[] })
        .expect("attach host");
    let f = fx
        .net()
        .write_files("hostmode", &FileOptions { hostname: "buildhost".into(), extra_hosts: vec![("x".into(), "192.0.2.9".into())], ..Default::default() })
        .expect("files");
    assert_eq!(std::fs::read_to_string(&f.hosts).expect("hosts"), "127.0.0.1 localhost\n192.0.2.5 buildhost\n192.0.2.9\tx\n");
    assert_eq!(std::fs::read_to_string(&f.resolv_conf).expect("resolv"), "nameserver 127.0.0.53\noptions edns0 trust-ad\n");
    fx.net().detach("hostmode").expect("detach");
    fx.net().remove_files("hostmode").expect("rm");
}
