//! Docker Hub mirrors, image indexes with platform selection, and two
//! concurrent pulls of one image sharing one download per blob.

mod common;

use berth_image::{Auth, ErrorKind, Platform, Progress, RegistryConfig};
use berth_test_support::registry::{self, Registry};
use common::*;

#[test]
fn docker_hub_names_are_pulled_from_a_configured_mirror() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "library/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    // Docker Hub itself is never contacted: the mirror answers first.
    let cfg = RegistryConfig { mirrors: vec![format!("http://{}", reg.addr())], ..fast_config() };
    let store = open(root.path(), cfg);
    let img = rt().block_on(store.pull("busybox", None, &Auth::Anonymous, &Progress::none())).expect("pull via mirror");
    assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
    assert_eq!(img.repo_tags, vec!["docker.io/library/busybox:latest".to_string()]);
    assert!(store.get("busybox").is_ok());
    // an http mirror that is not loopback nor configured insecure is refused
    let cfg = RegistryConfig { mirrors: vec!["http://mirror.invalid:5000".into()], ..fast_config() };
    let store2 = open(berth_test_support::temp_dir("image-store-").path(), cfg);
    let e = rt().block_on(store2.pull("busybox", None, &Auth::Anonymous, &Progress::none())).unwrap_err();
    assert!(e.to_string().contains("mirror.invalid:5000") && e.to_string().contains("insecure"), "{e}");
}

fn put_index(reg: &Registry, repo: &str, manifests: serde_json::Value) -> String {
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let digest = berth_image::Digest::of(&body).to_string();
    // a plain HTTP/1.1 PUT over loopback
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(reg.addr()).unwrap();
    write!(
        c,
        "PUT /v2/{repo}/manifests/multi HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reg.addr(),
        body.len()
    )
    .unwrap();
    c.write_all(&body).unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "PUT index: {resp}");
    digest
}

#[test]
fn index_selects_the_platform() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "multi/busybox:amd64");
    let other = registry::build_layout(&[registry::busybox_rootfs().path()], &["echo", "arm"]);
    reg.push_layout(other.path(), "multi/busybox:arm64");
    let osize = std::fs::metadata(other.path().join("blobs/sha256").join(&other.manifest_digest[7..])).unwrap().len();
    let msize = std::fs::metadata(layout.path().join("blobs/sha256").join(&layout.manifest_digest[7..])).unwrap().len();
    let index_digest = put_index(
        &reg,
        "multi/busybox",
        serde_json::json!([
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": layout.manifest_digest, "size": msize,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other.manifest_digest, "size": osize,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]),
    );
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let r = format!("{}/multi/busybox:multi", reg.addr());
    let amd64 = Platform::parse("linux/amd64").unwrap();
    let img = rt.block_on(store.pull(&r, Some(&amd64), &Auth::Default, &Progress::none())).expect("pull amd64 from index");
    assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
    assert_eq!(img.record.index_digest.as_ref().map(|d| d.to_string()), Some(index_digest.clone()));
    assert_eq!(img.repo_digests, vec![format!("{}/multi/busybox@{index_digest}", reg.addr())]);
    let arm = Platform::parse("linux/arm64").unwrap();
    let img = rt.block_on(store.pull(&r, Some(&arm), &Auth::Default, &Progress::none())).expect("pull arm64 from index");
    assert_eq!(img.record.manifest_digest.to_string(), other.manifest_digest);
    let s390 = Platform::parse("linux/s390x").unwrap();
    let e = rt.block_on(store.pull(&r, Some(&s390), &Auth::Default, &Progress::none())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("linux/s390x") && e.to_string().contains("linux/arm64/v8"), "{e}");
}

#[test]
fn concurrent_pulls_of_one_image_both_succeed() {
    let reg = Registry::start();
    let dirs: Vec<_> = (0..2)
        .map(|i| {
            let d = berth_test_support::temp_dir("conc-layer-");
            let st = std::process::Command::new("dd").args(["if=/dev/urandom", "bs=1M", "count=8", "status=none"]).arg(format!("of={}", d.path().join(format!("f{i}")).display())).status().unwrap();
            assert!(st.success());
            d
        })
        .collect();
    let layout = registry::build_layout(&[dirs[0].path(), dirs[1].path()], &["true"]);
    reg.push_layout(layout.path(), "c/img:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let r = format!("{}/c/img:latest", reg.addr());
    let none = Progress::none();
    let (a, b) = rt().block_on(async { tokio::join!(store.pull(&r, None, &Auth::Default, &none), store.pull(&r, None, &Auth::Default, &none)) });
    let (a, b) = (a.expect("first pull"), b.expect("second pull"));
    assert_eq!(a.id, b.id);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.snapshots().list().unwrap().len(), 2);
    let ingest: Vec<_> = std::fs::read_dir(store.content().root().join("ingest")).unwrap().flatten().filter(|e| !e.file_name().to_string_lossy().ends_with(".lock")).collect();
    assert!(ingest.is_empty(), "{ingest:?}");
}
