//! SIGKILL the pull example at random points, then check the store: no
//! partial blob or snapshot is visible, earlier images are untouched, and the
//! next pull completes.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_image::Digest;
use berth_test_support::registry::{self, Registry};
use common::*;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(p.is_file(), "{} not built (cargo test builds examples)", p.display());
    p
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_mid_pull_leaves_the_store_consistent() {
    let reg = Registry::start();
    let small = registry::busybox_layout();
    reg.push_layout(small.path(), "a/busybox:latest");
    // three layers of 12 MiB incompressible data each
    let srcs: Vec<_> = (0..3)
        .map(|i| {
            let d = berth_test_support::temp_dir("kill-layer-");
            let st = Command::new("dd").args(["if=/dev/urandom", "bs=1M", "count=12", "status=none"]).arg(format!("of={}", d.path().join(format!("data{i}")).display())).status().unwrap();
            assert!(st.success());
            d
        })
        .collect();
    let paths: Vec<&std::path::Path> = srcs.iter().map(|d| d.path()).collect();
    let big = registry::build_layout(&paths, &["true"]);
    reg.push_layout(big.path(), "b/big:latest");

    let root = berth_test_support::temp_dir("image-kill-");
    let pull = example("pull");
    let a = format!("{}/a/busybox:latest", reg.addr());
    let b = format!("{}/b/big:latest", reg.addr());
    let st = Command::new(&pull).arg("--root").arg(root.path()).arg("-q").arg(&a).stdout(Stdio::null()).status().unwrap();
    assert!(st.success());
    let (a_id, a_top) = {
        let store = open(root.path(), fast_config());
        let img = store.get(&a).unwrap();
        (img.id.clone(), img.record.top_chain().unwrap().to_owned())
    };

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = Rng(seed);
    for round in 0..6 {
        let mut child = Command::new(&pull).arg("--root").arg(root.path()).arg("-q").arg(&b).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let delay = 20 + rng.next(400);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let store = open(root.path(), fast_config());
        let ctx = format!("round {round}, killed after {delay} ms (seed {seed})");
        // every visible blob is complete and verified
        for (d, _) in store.content().list().unwrap() {
            let bytes = std::fs::read(store.content().blob_path(&d)).unwrap();
            assert_eq!(Digest::of(&bytes), d, "{ctx}: corrupt blob visible");
        }
        // every committed snapshot of the big image is complete
        let chains = berth_image::chain_ids(&big.diff_ids.iter().map(|d| Digest::parse(d).unwrap()).collect::<Vec<_>>());
        for info in store.snapshots().list().unwrap() {
            if let Some(i) = chains.iter().position(|c| *c == info.name) {
                let f = info.path.join(format!("data{i}"));
                assert_eq!(std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0), 12 << 20, "{ctx}: partial snapshot {}", info.name);
            }
        }
        // the image record appears only when complete
        if let Ok(img) = store.get(&b) {
            for c in &img.record.chain_ids {
                assert!(store.snapshots().stat(c).unwrap().is_some(), "{ctx}: image recorded without snapshot {c}");
            }
        }
        // the earlier image is untouched
        let img = store.get(&a).unwrap();
        assert_eq!(img.id, a_id);
        let snap = store.snapshots().stat(&a_top).unwrap().expect("busybox snapshot kept");
        assert!(snap.path.join("bin/busybox").is_file());
    }

    let out = Command::new(&pull).arg("--root").arg(root.path()).arg("-q").arg(&b).output().unwrap();
    assert!(out.status.success(), "final pull: {}", String::from_utf8_lossy(&out.stderr));
    let store = open(root.path(), fast_config());
    let img = store.get(&b).unwrap();
    assert_eq!(img.record.manifest_digest.to_string(), big.manifest_digest);
    for (i, c) in img.record.chain_ids.iter().enumerate() {
        let info = store.snapshots().stat(c).unwrap().unwrap();
        let got = std::fs::read(info.path.join(format!("data{i}"))).unwrap();
        let want = std::fs::read(srcs[i].path().join(format!("data{i}"))).unwrap();
        assert!(got == want, "layer {i} content differs");
    }
    // gc removes the leftovers of the killed pulls (partial ingests)
    let rt = rt();
    rt.block_on(store.gc()).unwrap();
    let ingest: Vec<_> = std::fs::read_dir(store.content().root().join("ingest")).unwrap().flatten().collect();
    assert!(ingest.is_empty(), "{ingest:?}");
}
