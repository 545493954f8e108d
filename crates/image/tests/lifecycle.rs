//! push, tag, remove, gc, save/load, import against the real registry, with
//! skopeo as the independent client that checks what we push.

mod common;

use std::process::Command;

use berth_image::{ArchiveFormat, Auth, Change, Error, ErrorKind, Event, Progress, Removed};
use berth_test_support::registry::{self, Registry};
use common::*;

fn oci_index_manifest_digest(layout: &std::path::Path) -> String {
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    idx["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

fn rootfs_tar(dir: &std::path::Path, out: &std::path::Path) {
    let st = Command::new("tar").args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C"]).arg(dir).arg("-cf").arg(out).arg(".").status().unwrap();
    assert!(st.success());
}

#[test]
fn push_mounts_across_repositories_and_skopeo_reads_it_back() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "src/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let src = format!("{}/src/busybox:latest", reg.addr());
    rt.block_on(store.pull(&src, None, &Auth::Default, &Progress::none())).unwrap();
    let dst = format!("{}/dst/busybox:v1", reg.addr());
    store.tag(&src, &dst).unwrap();
    let (progress, mut rx) = Progress::channel();
    let digest = rt.block_on(store.push(&dst, &Auth::Default, &progress)).expect("push");
    assert_eq!(digest.to_string(), layout.manifest_digest, "pushed manifest bytes must be the stored ones");
    let mut mounted = 0;
    while let Ok(e) = rx.try_recv() {
        if matches!(e, Event::Mounted { .. }) {
            mounted += 1;
        }
    }
    assert!(mounted >= 1, "expected a cross-repository mount");
    let back = berth_test_support::temp_dir("skopeo-back-");
    reg.pull_with_skopeo("dst/busybox:v1", back.path());
    assert_eq!(oci_index_manifest_digest(back.path()), layout.manifest_digest);

    // pushing again: everything already there
    let (progress, mut rx) = Progress::channel();
    rt.block_on(store.push(&dst, &Auth::Default, &progress)).unwrap();
    let mut exists = 0;
    while let Ok(e) = rx.try_recv() {
        exists += matches!(e, Event::AlreadyExists { .. }) as usize;
    }
    assert_eq!(exists, 2, "layer and config already present");
}

#[test]
fn import_with_changes_then_chunked_push_and_skopeo_verifies() {
    let reg = Registry::start();
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let rootfs = registry::busybox_rootfs();
    // a 20 MiB incompressible file forces a chunked upload
    let st = Command::new("dd").args(["if=/dev/urandom", "bs=1M", "count=20", "status=none"]).arg(format!("of={}", rootfs.path().join("big").display())).status().unwrap();
    assert!(st.success());
    let work = berth_test_support::temp_dir("import-");
    let tarball = work.path().join("rootfs.tar");
    rootfs_tar(rootfs.path(), &tarball);
    let st = Command::new("gzip").args(["-1", "-k"]).arg(&tarball).status().unwrap();
    assert!(st.success());
    let mut changes = Change::parse(r#"CMD ["/bin/sh","-c","echo hi"]"#).unwrap();
    changes.extend(Change::parse("ENV A=1").unwrap());
    let name = format!("{}/imported/rootfs:1", reg.addr());
    let file = std::fs::File::open(work.path().join("rootfs.tar.gz")).unwrap();
    let img = rt.block_on(store.import(Box::new(file), Some(&name), &changes)).expect("import");
    let cfg = store.config(&img).unwrap();
    let c = cfg.config.unwrap();
    assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
    assert_eq!(c.env.unwrap(), vec!["A=1"]);
    // the layer is the uncompressed tar: its digest is the diff id and the tar's sha256
    let want = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let want = String::from_utf8_lossy(&want.stdout).split_whitespace().next().unwrap().to_owned();
    assert_eq!(img.record.diff_ids[0].hex(), want);
    let snap = store.snapshots().stat(img.record.top_chain().unwrap()).unwrap().unwrap();
    assert!(snap.path.join("bin/busybox").is_file() && snap.path.join("big").is_file());

    let digest = rt.block_on(store.push(&name, &Auth::Default, &Progress::none())).expect("chunked push");
    let back = berth_test_support::temp_dir("skopeo-back-");
    // skopeo copies it (verifying every blob) and the registry serves our bytes
    reg.pull_with_skopeo("imported/rootfs:1", back.path());
    let raw = reg.raw_manifest("imported/rootfs:1");
    assert_eq!(berth_image::Digest::of(&raw), digest);
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["layers"][0]["digest"].as_str().unwrap(), format!("sha256:{want}"));

    // and a fresh store pulls it back to the same image id
    let root2 = berth_test_support::temp_dir("image-store-");
    let store2 = open(root2.path(), fast_config());
    let again = rt.block_on(store2.pull(&name, None, &Auth::Default, &Progress::none())).unwrap();
    assert_eq!(again.id, img.id);
}

#[test]
fn tag_remove_and_gc() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "x/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let a = format!("{}/x/busybox:latest", reg.addr());
    let img = rt.block_on(store.pull(&a, None, &Auth::Default, &Progress::none())).unwrap();
    store.tag(&a, "local/copy:1").unwrap();
    assert_eq!(store.get("local/copy:1").unwrap().id, img.id);
    assert!(store.tag(&a, "bad tag").is_err());
    assert_eq!(store.get("nope:1").unwrap_err().kind(), ErrorKind::NotFound);

    // an image in use by a container rootfs is not deleted
    store.prepare_rootfs(&img, "ctr-1").unwrap();
    let removed = rt.block_on(store.remove("local/copy:1", false)).unwrap();
    assert_eq!(removed, vec![Removed::Untagged("docker.io/local/copy:1".into())]);
    let e = rt.block_on(store.remove(&a, false)).unwrap_err();
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    let e = rt.block_on(store.remove(&img.id.to_string(), true)).unwrap_err();
    assert!(matches!(e, Error::InUse { .. }), "{e}");
    store.remove_rootfs("ctr-1").unwrap();

    // last tag removed: the image, its blobs and snapshots go
    let removed = rt.block_on(store.remove(&a, false)).unwrap();
    assert!(removed.contains(&Removed::Deleted(img.id.clone())), "{removed:?}");
    assert!(store.list().unwrap().is_empty());
    assert!(store.content().list().unwrap().is_empty(), "{:?}", store.content().list());
    assert!(store.snapshots().list().unwrap().is_empty());

    // gc of unreferenced leftovers while a pull runs: gc waits for it
    store.content().write_blob("junk", b"unreferenced", None).unwrap();
    let none = Progress::none();
    let (img2, stats) = rt.block_on(async {
        let p = store.pull(&a, None, &Auth::Default, &none);
        let g = async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            store.gc().await
        };
        tokio::join!(p, g)
    });
    let img2 = img2.unwrap();
    let stats = stats.unwrap();
    assert_eq!(stats.blobs_removed, 1, "{stats:?}");
    for d in img2.record.layers.iter().map(|l| &l.digest).chain([&img2.id, &img2.record.manifest_digest]) {
        assert!(store.content().exists(d).unwrap());
    }
    assert!(store.snapshots().stat(img2.record.top_chain().unwrap()).unwrap().is_some());
}

#[test]
fn rmi_of_the_last_tag_of_a_repository_drops_its_digests() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "x/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let a = format!("{}/x/busybox:latest", reg.addr());
    let img = rt.block_on(store.pull(&a, None, &Auth::Default, &Progress::none())).unwrap();
    let digest_ref = img.repo_digests.first().cloned().expect("a pull records the repo digest");
    assert!(digest_ref.starts_with(&format!("{}/x/busybox@sha256:", reg.addr())), "{digest_ref}");
    store.tag(&a, "local/copy:1").unwrap();
    store.tag(&a, &format!("{}/x/busybox:other", reg.addr())).unwrap();

    // another tag of the same repository remains: the digest stays
    let removed = rt.block_on(store.remove(&format!("{}/x/busybox:other", reg.addr()), false)).unwrap();
    assert_eq!(removed, vec![Removed::Untagged(format!("{}/x/busybox:other", reg.addr()))]);
    assert_eq!(store.get("local/copy:1").unwrap().repo_digests, vec![digest_ref.clone()]);

    // the repository's last tag: its digest goes with it, the image stays
    let removed = rt.block_on(store.remove(&a, false)).unwrap();
    assert_eq!(removed, vec![Removed::Untagged(a.clone()), Removed::Untagged(digest_ref.clone())]);
    let left = store.get("local/copy:1").unwrap();
    assert_eq!((left.repo_tags, left.repo_digests), (vec!["docker.io/local/copy:1".to_string()], vec![]));
    assert_eq!(store.get(&digest_ref).unwrap_err().kind(), ErrorKind::NotFound);

    // a digest kept by another tag of its repository can be removed alone
    let img = rt.block_on(store.pull(&a, None, &Auth::Default, &Progress::none())).unwrap();
    let removed = rt.block_on(store.remove(&digest_ref, false)).unwrap();
    assert_eq!(removed, vec![Removed::Untagged(digest_ref.clone())]);
    assert!(store.get(&a).unwrap().repo_digests.is_empty());

    // the last name of all: untagged and deleted
    rt.block_on(store.remove("local/copy:1", false)).unwrap();
    let removed = rt.block_on(store.remove(&a, false)).unwrap();
    assert_eq!(removed, vec![Removed::Untagged(a.clone()), Removed::Deleted(img.id.clone())]);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn save_and_load_docker_and_oci_archives() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "s/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let a = format!("{}/s/busybox:latest", reg.addr());
    let img = rt.block_on(store.pull(&a, None, &Auth::Default, &Progress::none())).unwrap();
    let work = berth_test_support::temp_dir("save-");
    for (format, file) in [(ArchiveFormat::Docker, "docker.tar"), (ArchiveFormat::Oci, "oci.tar")] {
        let path = work.path().join(file);
        let mut f = std::fs::File::create(&path).unwrap();
        store.save(std::slice::from_ref(&a), &mut f, format).unwrap();
        drop(f);
        let list = Command::new("tar").arg("-tf").arg(&path).output().unwrap();
        let list = String::from_utf8_lossy(&list.stdout).into_owned();
        assert!(list.contains("index.json") && list.contains("oci-layout"), "{list}");
        assert_eq!(list.contains("manifest.json"), format == ArchiveFormat::Docker, "{list}");
        // skopeo reads what we wrote
        if format == ArchiveFormat::Docker {
            let out = Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("docker-archive:{}", path.display())).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        } else {
            let dir = work.path().join("oci-dir");
            std::fs::create_dir_all(&dir).unwrap();
            assert!(Command::new("tar").arg("-xf").arg(&path).arg("-C").arg(&dir).status().unwrap().success());
            let out = Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}", dir.display())).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let root2 = berth_test_support::temp_dir("image-store-");
        let store2 = open(root2.path(), fast_config());
        let loaded = rt.block_on(store2.load(Box::new(std::fs::File::open(&path).unwrap()), &Progress::none())).expect("load");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, img.id);
        assert_eq!(loaded[0].repo_tags, vec![a.clone()]);
        if format == ArchiveFormat::Oci {
            assert_eq!(loaded[0].record.manifest_digest, img.record.manifest_digest);
        }
        let snap = store2.snapshots().stat(loaded[0].record.top_chain().unwrap()).unwrap().unwrap();
        assert!(snap.path.join("bin/busybox").is_file());
    }
}

fn raw_tar_entry(out: &mut Vec<u8>, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    if !link.is_empty() {
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link);
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

#[test]
fn load_refuses_dotdot_paths_and_symlinks_out() {
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"../evil", tar::EntryType::Regular, b"", b"x");
            t
        }),
        ("absolute", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"/etc/evil", tar::EntryType::Regular, b"", b"x");
            t
        }),
        ("symlink out", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"manifest.json", tar::EntryType::Symlink, b"../../../etc/passwd", b"");
            t
        }),
        ("absolute symlink", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"index.json", tar::EntryType::Symlink, b"/etc/passwd", b"");
            t
        }),
        ("device", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"dev", tar::EntryType::Char, b"", b"");
            t
        }),
        ("missing layer", {
            let mut t = Vec::new();
            raw_tar_entry(&mut t, b"manifest.json", tar::EntryType::Regular, b"", br#"[{"Config":"c.json","RepoTags":[],"Layers":["../l.tar"]}]"#);
            raw_tar_entry(&mut t, b"c.json", tar::EntryType::Regular, b"", br#"{"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#);
            t
        }),
    ];
    for (what, mut t) in cases {
        t.extend_from_slice(&[0u8; 1024]);
        let e = rt.block_on(store.load(Box::new(std::io::Cursor::new(t)), &Progress::none())).unwrap_err();
        assert!(matches!(e, Error::InvalidArchive { .. }), "{what}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
    }
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn commit_container_adds_a_layer() {
    let reg = Registry::start();
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "c/busybox:latest");
    let root = berth_test_support::temp_dir("image-store-");
    let store = open(root.path(), fast_config());
    let rt = rt();
    let a = format!("{}/c/busybox:latest", reg.addr());
    let img = rt.block_on(store.pull(&a, None, &Auth::Default, &Progress::none())).unwrap();
    store.prepare_rootfs(&img, "ctr-commit").unwrap();
    let upper = store.snapshots().stat("ctr-commit").unwrap().unwrap().path;
    std::fs::write(upper.join("hello.txt"), "hi\n").unwrap();
    let changes = Change::parse("CMD cat /hello.txt").unwrap();
    let e = rt.block_on(store.commit_container("not-a-rootfs", None, &changes, None)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let new = rt.block_on(store.commit_container("ctr-commit", Some("local/committed:1"), &changes, Some("test"))).expect("commit");
    assert_eq!(new.record.layers.len(), 2);
    assert_eq!(new.record.chain_ids[0], img.record.chain_ids[0]);
    let cfg = store.config(&new).unwrap();
    assert_eq!(cfg.config.unwrap().cmd.unwrap(), vec!["/bin/sh", "-c", "cat /hello.txt"]);
    assert_eq!(cfg.rootfs.diff_ids.len(), 2);
    let top = store.snapshots().stat(new.record.top_chain().unwrap()).unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(top.path.join("hello.txt")).unwrap(), "hi\n");
    assert_eq!(store.get("local/committed:1").unwrap().id, new.id);
    store.remove_rootfs("ctr-commit").unwrap();
}
