//! Real overlay mounts of snapshot chains: merged view, whiteouts, opaque
//! directories, changes/diff/export of a modified container, many layers.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use berth_snapshots::{Change, ChangeKind, Error, Kind, Snapshotter};
use common::*;
use tar::EntryType;

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Three layers exercising whiteouts and opaque directories.
fn three_layers(s: &Snapshotter) {
    layer(
        s,
        "sha256:l1",
        None,
        &tar_of(vec![
            E::dir("etc/"),
            E::file("etc/passwd", b"root"),
            E::file("etc/shadow", b"secret"),
            E::dir("var/"),
            E::dir("var/cache/"),
            E::file("var/cache/a", b"a"),
            E::file("var/cache/b", b"b"),
            E::dir("gone/"),
            E::file("gone/x", b"x"),
            E::file("keep", b"1"),
        ]),
    );
    layer(
        s,
        "sha256:l2",
        Some("sha256:l1"),
        &tar_of(vec![
            E::file("etc/.wh.shadow", b""),
            E::file("etc/hosts", b"localhost"),
            E::file(".wh.gone", b""),
            E::file("keep", b"2"),
        ]),
    );
    layer(
        s,
        "sha256:l3",
        Some("sha256:l2"),
        &tar_of(vec![
            E::dir("var/cache/"),
            E::file("var/cache/.wh..wh..opq", b""),
            E::file("var/cache/fresh", b"f"),
            E::file("gone", b"back as a file"),
        ]),
    );
}

fn check_three_layer_view(root: &Path) {
    assert_eq!(names(root), set(&["etc", "var", "gone", "keep"]));
    assert_eq!(names(&root.join("etc")), set(&["passwd", "hosts"]));
    assert_eq!(std::fs::read(root.join("keep")).unwrap(), b"2");
    assert_eq!(names(&root.join("var/cache")), set(&["fresh"]));
    assert_eq!(std::fs::read(root.join("gone")).unwrap(), b"back as a file");
}

#[test]
fn three_layer_overlay_shows_whiteouts_and_opaque_dirs() {
    let t = Tmpfs::new("three");
    let s = store(&t.join("store"));
    three_layers(&s);
    let target = t.join("rootfs");
    std::fs::create_dir(&target).unwrap();
    let mounts = s.prepare_active("ctr", Some("sha256:l3"), false).unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].typ, "overlay");
    let lower = mounts[0]
        .options
        .iter()
        .find(|o| o.starts_with("lowerdir="))
        .unwrap();
    assert_eq!(lower.matches(':').count(), 2, "{lower}");
    berth_snapshots::mount_all(&mounts, &target).unwrap();
    let _m = Mounted(target.clone());
    check_three_layer_view(&target);
    // the mount spec is valid JSON in the OCI shape
    let j = serde_json::to_value(&mounts[0]).unwrap();
    assert_eq!(j["type"], "overlay");
    assert!(j["options"].is_array() && j["source"].is_string());
}

#[test]
fn changes_diff_and_export_of_a_modified_container() {
    let t = Tmpfs::new("changes");
    let s = store(&t.join("store"));
    three_layers(&s);
    let target = t.join("rootfs");
    std::fs::create_dir(&target).unwrap();
    s.prepare_active("ctr", Some("sha256:l3"), false).unwrap();
    s.mount("ctr", &target).unwrap();
    let m = Mounted(target.clone());
    // what a container does
    write_file(&target.join("etc/passwd"), b"root\nuser");
    std::fs::remove_file(target.join("etc/hosts")).unwrap();
    std::fs::create_dir_all(target.join("srv/www")).unwrap();
    write_file(&target.join("srv/www/index.html"), b"hi");
    std::fs::remove_dir_all(target.join("var/cache")).unwrap();
    std::fs::create_dir(target.join("var/cache")).unwrap();
    write_file(&target.join("var/cache/new"), b"n");
    std::os::unix::fs::symlink("/etc/passwd", target.join("pw")).unwrap();
    std::fs::hard_link(
        target.join("srv/www/index.html"),
        target.join("srv/www/alias.html"),
    )
    .unwrap();

    let changes = s.changes("ctr").unwrap();
    let c = |k: ChangeKind, p: &str| Change {
        kind: k,
        path: p.into(),
    };
    let want = vec![
        c(ChangeKind::Modified, "/etc"),
        c(ChangeKind::Deleted, "/etc/hosts"),
        c(ChangeKind::Modified, "/etc/passwd"),
        c(ChangeKind::Added, "/pw"),
        c(ChangeKind::Added, "/srv"),
        c(ChangeKind::Added, "/srv/www"),
        c(ChangeKind::Added, "/srv/www/alias.html"),
        c(ChangeKind::Added, "/srv/www/index.html"),
        c(ChangeKind::Modified, "/var"),
        c(ChangeKind::Modified, "/var/cache"),
        c(ChangeKind::Deleted, "/var/cache/fresh"),
        c(ChangeKind::Added, "/var/cache/new"),
    ];
    let mut got = changes.clone();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(got, want);

    // the diff as a layer tar, in OCI form
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut s.diff("ctr").unwrap(), &mut tar).unwrap();
    let entries = tar_entries(&tar);
    let find = |p: &str| {
        entries
            .iter()
            .find(|(n, _, _)| n.trim_end_matches('/') == p)
            .map(|(_, t, b)| (*t, b.clone()))
    };
    assert_eq!(find("etc/.wh.hosts").unwrap().0, EntryType::Regular);
    assert_eq!(
        find("etc/passwd").unwrap(),
        (EntryType::Regular, b"root\nuser".to_vec())
    );
    assert_eq!(
        find("var/cache/.wh..wh..opq").unwrap().0,
        EntryType::Regular
    );
    assert_eq!(
        find("pw").unwrap(),
        (EntryType::Symlink, b"/etc/passwd".to_vec())
    );
    let html: Vec<_> = entries
        .iter()
        .filter(|(n, _, _)| n.starts_with("srv/www/"))
        .collect();
    assert!(
        html.iter().any(|(_, t, _)| *t == EntryType::Link),
        "hardlinks are kept in the diff"
    );
    assert!(
        !entries.iter().any(|(n, _, _)| n.contains("work")),
        "no overlay internals in the diff"
    );

    // round trip: the diff applied as a layer gives the container's view
    layer(&s, "sha256:committed", Some("sha256:l3"), &tar);
    let view = t.join("view");
    std::fs::create_dir(&view).unwrap();
    s.prepare_active("view", Some("sha256:committed"), true)
        .unwrap();
    s.mount("view", &view).unwrap();
    let _v = Mounted(view.clone());
    for p in ["", "etc", "var/cache", "srv/www"] {
        assert_eq!(names(&view.join(p)), names(&target.join(p)), "{p}");
    }
    assert_eq!(
        std::fs::read(view.join("etc/passwd")).unwrap(),
        b"root\nuser"
    );
    assert!(
        std::fs::write(view.join("x"), b"").is_err(),
        "a view must be read-only"
    );

    // export: the flattened file system, no whiteouts
    let mut exp = Vec::new();
    std::io::Read::read_to_end(&mut s.export("ctr").unwrap(), &mut exp).unwrap();
    let paths: BTreeSet<String> = tar_entries(&exp)
        .into_iter()
        .map(|(n, _, _)| n.trim_end_matches('/').to_string())
        .collect();
    let mut want_paths = BTreeSet::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().display().to_string());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(&target, &target, &mut want_paths);
    assert_eq!(paths, want_paths);
    drop(m);
}

#[test]
fn export_of_a_committed_chain_is_the_merged_view() {
    let t = Tmpfs::new("export");
    let s = store(&t.join("store"));
    three_layers(&s);
    let mut exp = Vec::new();
    std::io::Read::read_to_end(&mut s.export("sha256:l3").unwrap(), &mut exp).unwrap();
    let e = tar_entries(&exp);
    let paths: BTreeSet<String> = e
        .iter()
        .map(|(n, _, _)| n.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(
        paths,
        set(&[
            "etc",
            "etc/hosts",
            "etc/passwd",
            "gone",
            "keep",
            "var",
            "var/cache",
            "var/cache/fresh"
        ])
    );
    let keep = e.iter().find(|(n, _, _)| n == "keep").unwrap();
    assert_eq!(keep.2, b"2");
}

#[test]
fn empty_and_single_layer_snapshots_mount() {
    let t = Tmpfs::new("small");
    let s = store(&t.join("store"));
    // no parent: a writable bind mount of an empty directory
    let a = t.join("a");
    std::fs::create_dir(&a).unwrap();
    let m = s.prepare_active("empty", None, false).unwrap();
    assert_eq!(m[0].typ, "bind");
    s.mount("empty", &a).unwrap();
    let ma = Mounted(a.clone());
    assert!(names(&a).is_empty());
    write_file(&a.join("new"), b"n");
    assert_eq!(
        s.changes("empty").unwrap(),
        vec![Change {
            kind: ChangeKind::Added,
            path: "/new".into()
        }]
    );
    drop(ma);

    layer(&s, "sha256:only", None, &tar_of(vec![E::file("f", b"one")]));
    // one layer, writable: overlay with a single lowerdir
    let b = t.join("b");
    std::fs::create_dir(&b).unwrap();
    let m = s.prepare_active("one", Some("sha256:only"), false).unwrap();
    assert_eq!(m[0].typ, "overlay");
    s.mount("one", &b).unwrap();
    let mb = Mounted(b.clone());
    assert_eq!(std::fs::read(b.join("f")).unwrap(), b"one");
    write_file(&b.join("f"), b"changed");
    assert_eq!(
        std::fs::read(s.stat("sha256:only").unwrap().unwrap().path.join("f")).unwrap(),
        b"one"
    );
    drop(mb);
    // one layer, read-only: a read-only bind mount
    let c = t.join("c");
    std::fs::create_dir(&c).unwrap();
    let m = s
        .prepare_active("one-ro", Some("sha256:only"), true)
        .unwrap();
    assert_eq!(m[0].typ, "bind");
    assert!(m[0].options.contains(&"ro".to_string()));
    s.mount("one-ro", &c).unwrap();
    let _mc = Mounted(c.clone());
    assert_eq!(std::fs::read(c.join("f")).unwrap(), b"one");
    assert!(std::fs::write(c.join("g"), b"").is_err());
    assert!(matches!(s.diff("one-ro"), Err(Error::WrongKind { .. })));
}

#[test]
fn more_than_sixty_four_layers_mount_past_the_page_limit() {
    let t = Tmpfs::new("many");
    // a long root so that the classic lowerdir option would exceed a page
    let root = t.join(&format!("store-{}", "x".repeat(100)));
    let s = store(&root);
    let n = 80;
    let mut parent: Option<String> = None;
    for i in 0..n {
        let name = format!("sha256:layer{i}");
        let f = format!("f{i}");
        let data = format!("{i}");
        let mut entries = vec![
            E::file(&f, data.as_bytes()),
            E::file("top", data.as_bytes()),
        ];
        let wh = format!(".wh.f{}", i.max(1) - 1);
        if i % 10 == 5 {
            entries.push(E::file(&wh, b""));
        }
        layer(&s, &name, parent.as_deref(), &tar_of(entries));
        parent = Some(name);
    }
    let m = s.prepare_active("ctr", parent.as_deref(), false).unwrap();
    let opt_len: usize = m[0].options.iter().map(|o| o.len() + 1).sum();
    assert!(
        opt_len > 4096,
        "the test must exceed a page ({opt_len} bytes)"
    );
    let target = t.join("rootfs");
    std::fs::create_dir(&target).unwrap();
    s.mount("ctr", &target).unwrap();
    let _m = Mounted(target.clone());
    let seen = names(&target);
    for i in 0..n {
        let hidden = i % 10 == 4;
        assert_eq!(seen.contains(&format!("f{i}")), !hidden, "f{i}");
    }
    assert_eq!(
        std::fs::read(target.join("top")).unwrap(),
        format!("{}", n - 1).as_bytes()
    );
    assert_eq!(s.stat("ctr").unwrap().unwrap().depth, n);
}

#[test]
fn remove_refuses_parents_and_mounted_snapshots() {
    let t = Tmpfs::new("remove");
    let s = store(&t.join("store"));
    layer(&s, "sha256:base", None, &tar_of(vec![E::file("a", b"1")]));
    layer(
        &s,
        "sha256:top",
        Some("sha256:base"),
        &tar_of(vec![E::file("b", b"2")]),
    );
    s.prepare_active("ctr", Some("sha256:top"), false).unwrap();
    assert!(matches!(s.remove("sha256:base"), Err(Error::InUse { .. })));
    assert!(matches!(s.remove("sha256:top"), Err(Error::InUse { .. })));
    let target = t.join("rootfs");
    std::fs::create_dir(&target).unwrap();
    s.mount("ctr", &target).unwrap();
    {
        let _m = Mounted(target.clone());
        assert!(matches!(s.remove("ctr"), Err(Error::InUse { .. })));
        let u = s.usage("sha256:base").unwrap();
        assert!(u.inodes >= 2 && u.size > 0, "{u:?}");
    }
    assert_eq!(
        s.list()
            .unwrap()
            .iter()
            .map(|i| (i.name.as_str(), i.kind))
            .collect::<Vec<_>>(),
        vec![
            ("ctr", Kind::Active),
            ("sha256:base", Kind::Committed),
            ("sha256:top", Kind::Committed),
        ]
    );
    s.remove("ctr").unwrap();
    s.remove("sha256:top").unwrap();
    s.remove("sha256:base").unwrap();
    assert!(s.list().unwrap().is_empty());
    assert!(
        std::fs::read_dir(t.join("store/snapshots"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(matches!(
        s.remove("sha256:base"),
        Err(Error::NotFound { .. })
    ));
    assert!(
        s.prepare_active("ctr2", Some("sha256:base"), false)
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn keys_with_slashes_are_names_not_paths() {
    let t = Tmpfs::new("keys");
    let s = store(&t.join("store"));
    s.prepare_active("default/1/../../../escape", None, false)
        .unwrap();
    assert!(s.stat("default/1/../../../escape").unwrap().is_some());
    assert!(!t.join("escape").exists());
    assert!(
        s.prepare_active("default/1/../../../escape", None, false)
            .unwrap_err()
            .is_already_exists()
    );
    let active_on_active = s.prepare_active("x", Some("default/1/../../../escape"), false);
    assert!(matches!(active_on_active, Err(Error::WrongKind { .. })));
}
