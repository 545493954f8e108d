//! Crash safety: a SIGKILL mid-unpack leaves no snapshot, and cleanup()
//! removes what interrupted operations left without touching live work.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_snapshots::Snapshotter;
use common::*;

/// An endless layer tar: files `d<n>/f<i>` of 600 bytes.
struct EndlessTar {
    i: u64,
    pending: Vec<u8>,
}

impl Read for EndlessTar {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            let mut h = tar::Header::new_gnu();
            h.set_path(format!("d{}/f{}", self.i / 500, self.i))
                .unwrap();
            h.set_size(600);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_600_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            self.pending.extend_from_slice(h.as_bytes());
            self.pending.extend_from_slice(&[b'x'; 1024]);
            self.i += 1;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

const CHILD_ENV: &str = "BERTH_SNAPSHOTS_CRASH_CHILD_ROOT";

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn killed_unpack_leaves_no_snapshot() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        // the child: unpack forever until killed
        let s = Snapshotter::open(root.as_ref()).unwrap();
        let w = s.prepare_layer(None).unwrap();
        let r = Snapshotter::apply_tar(
            &w,
            EndlessTar {
                i: 0,
                pending: Vec::new(),
            },
        );
        panic!("an endless tar ended: {r:?}");
    }
    let t = Tmpfs::new("sigkill");
    let root = t.join("store");
    let s = store(&root);
    layer(
        &s,
        "sha256:before",
        None,
        &tar_of(vec![E::file("a", b"kept")]),
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_unpack_leaves_no_snapshot",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = scopeguard(child.id());
    let start = Instant::now();
    while count_files(&root.join("ingest")) < 2000 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the child did not start unpacking"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(guard);

    // after the crash: the half-unpacked layer is invisible, the rest intact
    let s = store(&root);
    let list = s.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "sha256:before");
    assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 1);
    s.cleanup().unwrap();
    assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read(s.stat("sha256:before").unwrap().unwrap().path.join("a")).unwrap(),
        b"kept"
    );
}

/// Kills the child on drop if the test fails before it does.
struct KillOnDrop(u32);
fn scopeguard(pid: u32) -> KillOnDrop {
    KillOnDrop(pid)
}
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[test]
fn cleanup_removes_leftovers_of_interrupted_operations() {
    let t = Tmpfs::new("cleanup");
    let root = t.join("store");
    let s = store(&root);
    layer(&s, "sha256:ok", None, &tar_of(vec![E::file("a", b"1")]));
    s.prepare_active("ctr", Some("sha256:ok"), false).unwrap();

    // an unpack whose process died (no lock held any more)
    std::fs::create_dir_all(root.join("ingest/1234-5-6/fs/usr/bin")).unwrap();
    write_file(&root.join("ingest/1234-5-6/fs/usr/bin/half"), b"half");
    // a commit interrupted between the rename and the name
    std::fs::create_dir_all(root.join("snapshots/999/fs")).unwrap();
    write_file(
        &root.join("snapshots/999/meta.json"),
        br#"{"name":"sha256:orphan","parent":null,"kind":"committed","created":0,"lowers":[]}"#,
    );
    // a remove interrupted after the name went, with metadata already gone
    std::fs::create_dir_all(root.join("snapshots/998/fs/x")).unwrap();
    // a name pointing nowhere
    std::os::unix::fs::symlink("4242", root.join("names/sha256:dangling")).unwrap();
    // live work of this process must survive
    let live = s.prepare_layer(Some("sha256:ok")).unwrap();
    Snapshotter::apply_tar(&live, &tar_of(vec![E::file("b", b"2")])[..]).unwrap();

    s.cleanup().unwrap();

    assert!(!root.join("ingest/1234-5-6").exists());
    assert!(!root.join("snapshots/999").exists());
    assert!(!root.join("snapshots/998").exists());
    assert!(std::fs::symlink_metadata(root.join("names/sha256:dangling")).is_err());
    assert!(
        live.path().join("b").exists(),
        "cleanup removed a live unpack"
    );
    s.commit(live, "sha256:after").unwrap();
    let names: Vec<String> = s.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, vec!["ctr", "sha256:after", "sha256:ok"]);
    assert!(s.stat("sha256:orphan").unwrap().is_none());
}

#[test]
fn two_instances_share_one_store() {
    let t = Tmpfs::new("shared");
    let root = t.join("store");
    let a = store(&root);
    let b = store(&root);
    for i in 0..5 {
        let (s, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        layer(
            s,
            &format!("sha256:{i}"),
            None,
            &tar_of(vec![E::file("f", format!("{i}").as_bytes())]),
        );
        let info = other.stat(&format!("sha256:{i}")).unwrap().unwrap();
        assert_eq!(
            std::fs::read(info.path.join("f")).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    assert_eq!(a.list().unwrap().len(), 5);
    // each id is used once, even though both instances started from the same counter
    let ids: std::collections::BTreeSet<_> =
        a.list().unwrap().into_iter().map(|i| i.path).collect();
    assert_eq!(ids.len(), 5);
}
