//! Hostile layer tars: nothing may be written outside the layer directory,
//! and the store stays consistent. Each test is named after what it guards.

mod common;

use std::os::unix::fs::MetadataExt;

use berth_snapshots::{Error, Snapshotter};
use common::*;

/// Applies `tar` to a fresh layer and returns the result (the writer is
/// dropped, i.e. removed, unless committed by the caller).
fn apply(s: &Snapshotter, tar: &[u8]) -> Result<berth_snapshots::LayerWriter, Error> {
    let w = s.prepare_layer(None)?;
    Snapshotter::apply_tar(&w, tar)?;
    Ok(w)
}

fn assert_invalid(r: Result<berth_snapshots::LayerWriter, Error>, entry: &str) {
    match r {
        Err(Error::InvalidEntry { entry: e, .. }) => assert_eq!(e, entry),
        Err(e) => panic!("expected an invalid-entry error for {entry}, got {e}"),
        Ok(_) => panic!("hostile entry {entry} was accepted"),
    }
}

fn ingest_is_empty(t: &Tmpfs) -> bool {
    std::fs::read_dir(t.join("store/ingest"))
        .unwrap()
        .next()
        .is_none()
}

#[test]
fn layer_with_dotdot_is_rejected() {
    let t = Tmpfs::new("dotdot");
    let s = store(&t.join("store"));
    let r = apply(&s, &tar_of(vec![E::file("../../evil", b"x")]));
    assert_invalid(r, "../../evil");
    let r = apply(
        &s,
        &tar_of(vec![E::dir("a/"), E::file("a/../../evil", b"x")]),
    );
    assert_invalid(r, "a/../../evil");
    assert!(!t.join("evil").exists() && !t.path.parent().unwrap().join("evil").exists());
    assert!(
        ingest_is_empty(&t),
        "a failed apply left its directory behind"
    );
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn dotdot_inside_the_layer_is_normalised() {
    let t = Tmpfs::new("dotdot-in");
    let s = store(&t.join("store"));
    let w = apply(
        &s,
        &tar_of(vec![
            E::dir("a/"),
            E::file("a/../b", b"x"),
            E::file("./c/./../d", b"y"),
        ]),
    )
    .unwrap();
    assert_eq!(std::fs::read(w.path().join("b")).unwrap(), b"x");
    assert_eq!(std::fs::read(w.path().join("d")).unwrap(), b"y");
}

#[test]
fn absolute_names_stay_in_the_layer() {
    let t = Tmpfs::new("abs");
    let s = store(&t.join("store"));
    let target = t.join("outside");
    std::fs::create_dir(&target).unwrap();
    let name = format!("{}/pwned", target.display());
    let w = apply(&s, &tar_of(vec![E::file(&name, b"x")])).unwrap();
    assert!(
        !target.join("pwned").exists(),
        "an absolute name was written on the host"
    );
    let inside = w.path().join(name.trim_start_matches('/'));
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
}

#[test]
fn symlink_escape_is_not_followed() {
    let t = Tmpfs::new("symlink");
    let s = store(&t.join("store"));
    let outside = t.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let abs = outside.display().to_string();
    // absolute and relative symlinks pointing out, then files "through" them
    // the parent of abs/pwned resolves inside the layer (as if the layer
    // were /), where that directory does not exist: a dangling symlink in
    // the way of a parent is refused
    let r = apply(
        &s,
        &tar_of(vec![E::symlink("abs", &abs), E::file("abs/pwned", b"1")]),
    );
    assert_invalid(r, "abs/pwned");
    assert!(
        !outside.join("pwned").exists(),
        "wrote through an absolute symlink"
    );
    // `..` in a symlink stops at the layer root; missing parents are made inside
    let w = apply(
        &s,
        &tar_of(vec![
            E::symlink("rel", "../../../../../../../../../.."),
            E::file(&format!("rel{abs}/pwned2"), b"2"),
        ]),
    )
    .unwrap();
    assert!(
        !outside.join("pwned2").exists(),
        "wrote through a relative symlink"
    );
    assert_eq!(
        std::fs::read(w.path().join(abs.trim_start_matches('/')).join("pwned2")).unwrap(),
        b"2"
    );
}

#[test]
fn symlink_escape_through_existing_dir_resolves_in_root() {
    let t = Tmpfs::new("symlink-in-root");
    let s = store(&t.join("store"));
    let outside = t.join("outside");
    std::fs::create_dir_all(outside.join("etc")).unwrap();
    let abs = format!("{}/etc", outside.display());
    // the symlink's target exists inside the layer too: the file lands there
    let w = apply(
        &s,
        &tar_of(vec![
            E::dir(&format!("{}/", abs.trim_start_matches('/'))),
            E::symlink("link", &abs),
            E::file("link/passwd", b"inside"),
        ]),
    )
    .unwrap();
    assert!(!outside.join("etc/passwd").exists());
    assert_eq!(
        std::fs::read(w.path().join(abs.trim_start_matches('/')).join("passwd")).unwrap(),
        b"inside"
    );
}

#[test]
fn directory_replaced_by_symlink_is_not_followed() {
    let t = Tmpfs::new("dir-then-symlink");
    let s = store(&t.join("store"));
    let outside = t.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let w = apply(
        &s,
        &tar_of(vec![
            E::dir("a/"),
            E::file("a/first", b"1"),
            E::symlink("a", "../../../../../../../../.."),
            E::file(&format!("a{}/pwned", outside.display()), b"2"),
        ]),
    )
    .unwrap();
    assert!(
        !outside.join("pwned").exists(),
        "a cached directory fd outlived its replacement"
    );
    let inside = w
        .path()
        .join(outside.display().to_string().trim_start_matches('/'))
        .join("pwned");
    assert_eq!(std::fs::read(inside).unwrap(), b"2");
    assert!(
        std::fs::symlink_metadata(w.path().join("a"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn file_over_symlink_replaces_the_link() {
    let t = Tmpfs::new("file-over-link");
    let s = store(&t.join("store"));
    let victim = t.join("victim");
    write_file(&victim, b"original");
    let w = apply(
        &s,
        &tar_of(vec![
            E::symlink("f", &victim.display().to_string()),
            E::file("f", b"overwritten"),
        ]),
    )
    .unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert_eq!(std::fs::read(w.path().join("f")).unwrap(), b"overwritten");
}

#[test]
fn hardlink_outside_is_rejected() {
    let t = Tmpfs::new("hardlink");
    let s = store(&t.join("store"));
    let r = apply(
        &s,
        &tar_of(vec![E::hardlink("h", "../../../../etc/passwd")]),
    );
    assert_invalid(r, "h");
    let r = apply(&s, &tar_of(vec![E::hardlink("h", "/etc/passwd")]));
    assert_invalid(r, "h");
    assert!(ingest_is_empty(&t));
}

#[test]
fn hardlink_through_symlink_does_not_reach_the_host() {
    let t = Tmpfs::new("hardlink-symlink");
    let s = store(&t.join("store"));
    let secret = t.join("secret");
    write_file(&secret, b"s");
    let links_before = std::fs::metadata(&secret).unwrap().nlink();
    let r = apply(
        &s,
        &tar_of(vec![
            E::symlink("s", &t.path.display().to_string()),
            E::hardlink("h", "s/secret"),
        ]),
    );
    assert_invalid(r, "h");
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), links_before);
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink_itself() {
    let t = Tmpfs::new("hardlink-to-link");
    let s = store(&t.join("store"));
    let w = apply(
        &s,
        &tar_of(vec![E::symlink("s", "/etc/passwd"), E::hardlink("h", "s")]),
    )
    .unwrap();
    let m = std::fs::symlink_metadata(w.path().join("h")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(m.nlink(), 2);
}

#[test]
fn overlay_private_xattr_is_rejected() {
    let t = Tmpfs::new("xattr");
    let s = store(&t.join("store"));
    let r = apply(
        &s,
        &tar_of(vec![
            E::dir("d/").xattr("trusted.overlay.redirect", b"/etc"),
        ]),
    );
    assert_invalid(r, "d/");
}

#[test]
fn empty_whiteout_is_rejected() {
    let t = Tmpfs::new("wh");
    let s = store(&t.join("store"));
    assert_invalid(apply(&s, &tar_of(vec![E::file("a/.wh.", b"")])), "a/.wh.");
    assert_invalid(apply(&s, &tar_of(vec![E::file(".wh..", b"")])), ".wh..");
}

#[test]
fn non_directory_root_is_rejected() {
    let t = Tmpfs::new("root");
    let s = store(&t.join("store"));
    assert_invalid(apply(&s, &tar_of(vec![E::file(".", b"")])), ".");
    assert_invalid(apply(&s, &tar_of(vec![E::symlink("/", "/etc")])), "/");
}

#[test]
fn parent_that_is_a_file_is_rejected() {
    let t = Tmpfs::new("parent-file");
    let s = store(&t.join("store"));
    let r = apply(&s, &tar_of(vec![E::file("f", b""), E::file("f/x", b"")]));
    assert_invalid(r, "f/x");
}

#[test]
fn truncated_tar_fails_and_leaves_nothing() {
    let t = Tmpfs::new("truncated");
    let s = store(&t.join("store"));
    let data = vec![7u8; 100_000];
    let tar = tar_of(vec![E::file("big", &data)]);
    let r = apply(&s, &tar[..50_000]);
    assert!(matches!(r, Err(Error::Tar { .. })), "got {:?}", r.err());
    assert!(ingest_is_empty(&t));
}

#[test]
fn garbage_is_not_a_layer() {
    let t = Tmpfs::new("garbage");
    let s = store(&t.join("store"));
    let r = apply(&s, &[0x42u8; 4096][..]);
    assert!(matches!(r, Err(Error::Tar { .. })), "got {:?}", r.err());
}

#[test]
fn failed_apply_keeps_committed_layers() {
    let t = Tmpfs::new("keep");
    let s = store(&t.join("store"));
    layer(
        &s,
        "sha256:base",
        None,
        &tar_of(vec![E::file("etc/passwd", b"root")]),
    );
    let w = s.prepare_layer(Some("sha256:base")).unwrap();
    assert!(Snapshotter::apply_tar(&w, &tar_of(vec![E::file("../x", b"")])[..]).is_err());
    drop(w);
    let info = s.stat("sha256:base").unwrap().unwrap();
    assert_eq!(
        std::fs::read(info.path.join("etc/passwd")).unwrap(),
        b"root"
    );
    assert_eq!(s.list().unwrap().len(), 1);
}

#[test]
fn pax_and_gnu_long_names_with_dotdot_are_rejected() {
    let t = Tmpfs::new("longdotdot");
    let s = store(&t.join("store"));
    // GNU long name: the tar crate writes it for names of 100 bytes or more
    let long = format!("{}/../../../../evil", "a".repeat(120));
    let mut b = TarBuilder::new();
    b.add(E::file(&long, b"x"));
    let r = apply(&s, &b.finish());
    assert!(
        matches!(r, Err(Error::InvalidEntry { .. })),
        "got {:?}",
        r.err()
    );

    // PAX path record overriding an innocent header name
    let mut raw = Vec::new();
    let rec = b"23 path=../../pax-evil\n".to_vec();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeader").unwrap();
    h.set_size(rec.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    raw.extend_from_slice(h.as_bytes());
    raw.extend_from_slice(&rec);
    raw.resize(raw.len().div_ceil(512) * 512, 0);
    raw.extend(tar_of(vec![E::file("innocent", b"x")]));
    let r = apply(&s, &raw);
    match r {
        Err(Error::InvalidEntry { entry, .. }) => assert_eq!(entry, "../../pax-evil"),
        other => panic!("PAX path escape accepted: {:?}", other.err()),
    }
    assert!(!t.join("pax-evil").exists() && !t.path.parent().unwrap().join("pax-evil").exists());
}

#[test]
fn file_through_a_lower_layer_symlink_lands_in_this_layer() {
    // lib -> usr/lib exists only in the parent: this layer's lib/foo.so
    // resolves inside this layer's own directory (as docker's overlay2 and
    // containerd do), creating a real lib/ that shadows the lower symlink
    let t = Tmpfs::new("lower-symlink");
    let s = store(&t.join("store"));
    layer(
        &s,
        "sha256:base",
        None,
        &tar_of(vec![
            E::dir("usr/"),
            E::dir("usr/lib/"),
            E::symlink("lib", "usr/lib"),
        ]),
    );
    let w = s.prepare_layer(Some("sha256:base")).unwrap();
    Snapshotter::apply_tar(&w, &tar_of(vec![E::file("lib/foo.so", b"elf")])[..]).unwrap();
    s.commit(w, "sha256:top").unwrap();
    let top = s.stat("sha256:top").unwrap().unwrap().path;
    assert!(std::fs::symlink_metadata(top.join("lib")).unwrap().is_dir());
    assert_eq!(std::fs::read(top.join("lib/foo.so")).unwrap(), b"elf");
    let base = s.stat("sha256:base").unwrap().unwrap().path;
    assert!(
        !base.join("usr/lib/foo.so").exists(),
        "a committed lower layer was written"
    );
}

/// Makes `depth` nested directories below `dir` without ever holding more
/// than two fds (as a container can, with `mkdir x; cd x` in a loop).
fn nest(dir: &std::path::Path, depth: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut cur = rustix::fs::open(dir, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&cur, "d", Mode::from_raw_mode(0o755)).unwrap();
        cur = rustix::fs::openat(&cur, "d", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
            .unwrap();
    }
    rustix::fs::openat(
        &cur,
        "leaf",
        OFlags::CREATE | OFlags::WRONLY,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

#[test]
fn deeply_nested_container_files_do_not_break_the_store() {
    let t = Tmpfs::new("deep");
    let s = store(&t.join("store"));
    layer(&s, "sha256:base", None, &tar_of(vec![E::file("f", b"1")]));
    s.prepare_active("ctr", Some("sha256:base"), false).unwrap();
    let upper = s.stat("ctr").unwrap().unwrap().path;
    nest(&upper, 5000);
    // walks refuse clearly instead of exhausting the stack or the fds
    let e = s.changes("ctr").unwrap_err();
    assert!(e.to_string().contains("deeper than"), "{e}");
    let mut sink = Vec::new();
    let r = std::io::Read::read_to_end(&mut s.diff("ctr").unwrap(), &mut sink);
    assert!(r.unwrap_err().to_string().contains("deeper than"));
    assert!(
        s.usage("ctr")
            .unwrap_err()
            .to_string()
            .contains("deeper than")
    );
    let r = std::io::Read::read_to_end(&mut s.export("ctr").unwrap(), &mut sink);
    assert!(r.unwrap_err().to_string().contains("deeper than"));
    // and the snapshot can still be removed, without recursion
    // (std::fs::remove_dir_all would hold an fd per level)
    s.remove("ctr").unwrap();
    s.remove("sha256:base").unwrap();
    assert!(
        std::fs::read_dir(t.join("store/snapshots"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn full_disk_fails_cleanly_and_keeps_the_store() {
    let t = Tmpfs::with_size("full", "2m");
    let s = store(&t.join("store"));
    layer(
        &s,
        "sha256:small",
        None,
        &tar_of(vec![E::file("f", b"kept")]),
    );
    let big = vec![0x5au8; 4 << 20];
    let w = s.prepare_layer(Some("sha256:small")).unwrap();
    let r = Snapshotter::apply_tar(
        &w,
        &tar_of(vec![E::file("a", b"x"), E::file("big", &big)])[..],
    );
    match r {
        Err(Error::Entry { entry, source, .. }) => {
            assert_eq!(entry, "big");
            assert_eq!(source.raw_os_error(), Some(28), "{source}");
        }
        other => panic!("expected ENOSPC on big, got {other:?}"),
    }
    drop(w);
    assert!(
        ingest_is_empty(&t),
        "the half-written layer was left behind"
    );
    assert_eq!(s.list().unwrap().len(), 1);
    let p = s.stat("sha256:small").unwrap().unwrap().path;
    assert_eq!(std::fs::read(p.join("f")).unwrap(), b"kept");
    // the space is back: the next unpack works
    layer(
        &s,
        "sha256:next",
        Some("sha256:small"),
        &tar_of(vec![E::file("g", b"ok")]),
    );
}
