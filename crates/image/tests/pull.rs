//! Pull from a real registry (Debian's docker-registry) into snapshots.

mod common;

use berth_image::{Auth, Error, ErrorKind, Event, Progress};
use berth_test_support::registry::{self, Options, Registry};
use common::*;

#[test]
fn pull_what_skopeo_pushed_with_identical_digests() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "library/busybox:1");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let (progress, mut rx) = Progress::channel();
    let reference = format!("{}/library/busybox:1", reg.addr());
    let img = rt.block_on(store.pull(&reference, None, &Auth::Default, &progress)).expect("pull");
    assert_eq!(img.id.to_string(), layout.config_digest);
    assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
    let layer_digests: Vec<String> = img.record.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(layer_digests, layout.layer_digests);
    let diff_ids: Vec<String> = img.record.diff_ids.iter().map(|d| d.to_string()).collect();
    assert_eq!(diff_ids, layout.diff_ids);
    assert_eq!(img.repo_tags, vec![reference.clone()]);
    assert_eq!(img.repo_digests, vec![format!("{}/library/busybox@{}", reg.addr(), layout.manifest_digest)]);

    // the layer is unpacked in a committed snapshot named by its chain id
    let top = img.record.top_chain().expect("one layer");
    let info = store.snapshots().stat(top).expect("stat").expect("snapshot exists");
    let busybox = info.path.join("bin/busybox");
    assert_eq!(std::fs::metadata(&busybox).expect("bin/busybox").len(), std::fs::metadata("/bin/busybox").unwrap().len());
    assert_eq!(std::fs::read_link(info.path.join("bin/sh")).expect("sh symlink").to_str(), Some("busybox"));

    // every blob is in the content store, verified
    for d in img.record.layers.iter().map(|l| &l.digest).chain([&img.id, &img.record.manifest_digest]) {
        assert!(store.content().exists(d).unwrap(), "{d} missing");
    }
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(events.iter().any(|e| matches!(e, Event::Downloading { .. })), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::Done { .. })), "{events:?}");
    assert!(matches!(events.last(), Some(Event::Complete { .. })), "{events:?}");

    // a second pull finds everything present
    let (progress, mut rx) = Progress::channel();
    let again = rt.block_on(store.pull(&reference, None, &Auth::Default, &progress)).expect("second pull");
    assert_eq!(again.id, img.id);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(events.iter().any(|e| matches!(e, Event::AlreadyExists { .. })), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Downloading { .. })), "{events:?}");

    // HEAD tells the current digest of a tag without pulling
    let head = rt.block_on(store.resolve(&reference, &Auth::Default)).unwrap();
    assert_eq!(head.map(|d| d.to_string()), Some(layout.manifest_digest.clone()));
    let missing = format!("{}/library/busybox:nope", reg.addr());
    assert_eq!(rt.block_on(store.resolve(&missing, &Auth::Default)).unwrap(), None);

    // pull by digest resolves to the same image
    let by_digest = format!("{}/library/busybox@{}", reg.addr(), layout.manifest_digest);
    let d = rt.block_on(store.pull(&by_digest, None, &Auth::Default, &Progress::none())).expect("pull by digest");
    assert_eq!(d.id, img.id);
    assert_eq!(store.get(&by_digest).unwrap().id, img.id);
    assert_eq!(store.get(&img.id.to_string()[7..19]).unwrap().id, img.id);
}

#[test]
fn pull_over_tls_with_a_configured_ca() {
    let reg = Registry::with(Options { tls: true, ..Default::default() });
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "tls/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let rt = rt();
    let reference = format!("{}/tls/busybox", reg.addr());
    // without the CA: 127.0.0.1 is an insecure registry (as in docker), so
    // its certificate is not verified
    {
        let store = open(root.path(), fast_config());
        let img = rt.block_on(store.pull(&reference, None, &Auth::Default, &Progress::none())).expect("insecure tls");
        assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
        rt.block_on(store.remove(&reference, false)).unwrap();
    }
    // a CA that did not sign the server's certificate is refused
    {
        let other = Registry::with(Options { tls: true, ..Default::default() });
        let mut cfg = fast_config();
        cfg.ca_files.insert(reg.addr().to_owned(), vec![other.ca_file().unwrap().to_owned()]);
        let store = open(root.path(), cfg);
        let e = rt.block_on(store.pull(&reference, None, &Auth::Default, &Progress::none())).unwrap_err();
        assert!(e.to_string().contains(reg.addr()), "{e}");
    }
    let mut cfg = fast_config();
    cfg.ca_files.insert(reg.addr().to_owned(), vec![reg.ca_file().unwrap().to_owned()]);
    let store = open(root.path(), cfg);
    let img = rt.block_on(store.pull(&reference, None, &Auth::Default, &Progress::none())).expect("pull over tls");
    assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
}

#[test]
fn basic_auth_401_without_credentials_then_config_json() {
    let reg = Registry::with(Options { basic_auth: Some(("berth".into(), "s3cret".into())), ..Default::default() });
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "private/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let rt = rt();
    let reference = format!("{}/private/busybox:latest", reg.addr());
    let store = open(root.path(), fast_config());
    let e = rt.block_on(store.pull(&reference, None, &Auth::Default, &Progress::none())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains(&reference), "{e}");
    let wrong = Auth::Basic { username: "berth".into(), password: "nope".into() };
    let e = rt.block_on(store.pull(&reference, None, &wrong, &Progress::none())).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    drop(store);

    // credentials from a docker config.json
    let cfgdir = berth_test_support::temp_dir("docker-config-");
    let cfg_path = cfgdir.path().join("config.json");
    std::fs::write(&cfg_path, format!(r#"{{"auths":{{"http://{}":{{"auth":"YmVydGg6czNjcmV0"}}}}}}"#, reg.addr())).unwrap();
    let mut cfg = fast_config();
    cfg.docker_config = Some(cfg_path);
    let store = open(root.path(), cfg);
    let img = rt.block_on(store.pull(&reference, None, &Auth::Default, &Progress::none())).expect("pull with config.json creds");
    assert_eq!(img.record.manifest_digest.to_string(), layout.manifest_digest);
}
