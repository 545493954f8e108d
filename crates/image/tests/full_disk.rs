//! A pull onto a full file system fails with an error naming what could not
//! be written, and leaves nothing half-written visible.

mod common;

use std::process::Command;

use berth_image::{Auth, Digest, Progress};
use berth_test_support::registry::{self, Registry};
use common::*;

/// A small tmpfs mounted for the test, unmounted on drop (even on panic).
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn new(size: &str) -> Self {
        let dir = berth_test_support::temp_dir("full-disk-");
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir.path()).status().unwrap();
        assert!(st.success(), "mount tmpfs (needs root)");
        SmallFs { dir }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn full_disk_mid_pull_is_a_clear_error_and_leaves_the_store_consistent() {
    let reg = Registry::start();
    let srcs: Vec<_> = (0..2)
        .map(|i| {
            let d = berth_test_support::temp_dir("disk-layer-");
            let st = Command::new("dd").args(["if=/dev/urandom", "bs=1M", "count=6", "status=none"]).arg(format!("of={}", d.path().join(format!("f{i}")).display())).status().unwrap();
            assert!(st.success());
            d
        })
        .collect();
    let big = registry::build_layout(&[srcs[0].path(), srcs[1].path()], &["true"]);
    reg.push_layout(big.path(), "disk/big:latest");
    let fs = SmallFs::new("10m");
    let root = fs.dir.path().join("store");
    let rt = rt();
    let r = format!("{}/disk/big:latest", reg.addr());
    {
        let store = open(&root, fast_config());
        let e = rt.block_on(store.pull(&r, None, &Auth::Default, &Progress::none())).unwrap_err();
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        eprintln!("full disk error: {chain}");
        assert!(chain.to_lowercase().contains("no space left"), "{chain}");
        assert!(chain.contains(&r) || chain.contains(&root.display().to_string()), "error names what failed: {chain}");
        assert!(store.list().unwrap().is_empty());
        for (d, _) in store.content().list().unwrap() {
            let bytes = std::fs::read(store.content().blob_path(&d)).unwrap();
            assert_eq!(Digest::of(&bytes), d, "corrupt blob visible");
        }
        for info in store.snapshots().list().unwrap() {
            let i: usize = if info.name == big.diff_ids[0] { 0 } else { 1 };
            assert_eq!(std::fs::metadata(info.path.join(format!("f{i}"))).map(|m| m.len()).unwrap_or(0), 6 << 20, "partial snapshot {}", info.name);
        }
    }
    drop(fs);
}
