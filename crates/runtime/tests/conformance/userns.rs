//! User namespaces and rootless containers (issue #3).
//!
//! As root: uid and gid mapped to different host ranges over a rootfs
//! chowned to them (a fresh copy per test); ownership seen inside and on
//! the host. Rootless: an unprivileged user created by the test
//! ([`TestUser`], removed afterwards) writes its config with the runtime's
//! own `spec --rootless`, creates and starts the container with its state
//! under its `$XDG_RUNTIME_DIR`, is root inside and still cannot write a
//! host file it does not own; with subordinate ids (newuidmap/newgidmap);
//! and a mapping of a uid it does not own is refused.

use crate::support::*;
use berth_test_support::process::{self, Output};
use berth_test_support::{Bundle, Runtime, TestUser};
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

scenario! {
    /// uids mapped to 200000.. and gids to 300000..: root inside, the
    /// chowned rootfs belongs to root inside, files made inside belong to
    /// the mapped ids on the host, unmapped host files show as nobody.
    fn uid_and_gid_ranges(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.map_user_namespace_ids(200000, 300000, 65536);
        b.remove_mount("/sys/fs/cgroup");
        for set in ["bounding", "effective", "permitted"] {
            b.set_caps(set, &["CAP_CHOWN", "CAP_KILL"]);
        }
        b.set_script(
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c %u:%g /bin/busybox /home/user /out; \
             touch /out/by-root /out/by-user && chown 1000:1000 /out/by-user && echo ok",
        );
        let text = run_ok(rt, &b);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines.len(), 8, "{text}");
        assert_eq!(lines[0], ["0", "200000", "65536"], "{text}");
        assert_eq!(lines[1], ["0", "300000", "65536"], "{text}");
        assert_eq!(lines[2..], [vec!["0"], vec!["0"], vec!["0:0"], vec!["1000:1000"], vec!["65534:65534"], vec!["ok"]], "{text}");
        let owner = |f: &str| {
            let m = std::fs::metadata(out.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            (m.uid(), m.gid())
        };
        assert_eq!(owner("by-root"), (200000, 300000));
        assert_eq!(owner("by-user"), (201000, 301000));
    }
}

/// A bundle for `user`: a busybox rootfs owned by the user (as one it
/// unpacked itself), with the config the runtime's `spec --rootless` writes
/// when run by that user in the bundle directory.
fn rootless_bundle(rt: &Runtime, user: &TestUser) -> Bundle {
    let mut b = Bundle::busybox();
    user.chown_tree(b.path());
    let mut cmd = user.command(rt.binary(), false);
    cmd.args(["spec", "--rootless"]).current_dir(b.path());
    let out = process::run(cmd, 10 * SECOND);
    assert!(out.success(), "{}: spec --rootless as {}: {}", rt.name(), user.name(), out.describe());
    let path = b.path().join("config.json");
    let text = std::fs::read_to_string(&path).expect("spec wrote config.json");
    b.spec = serde_json::from_str(&text).expect("config.json is JSON");
    b.set_terminal(false);
    b
}

/// `<runtime> [args...]` run by `user` (no `--root`: the runtime's default
/// under `$XDG_RUNTIME_DIR`).
fn as_user(rt: &Runtime, user: &TestUser, args: &[&str]) -> Output {
    let mut cmd = user.command(rt.binary(), rt.hybrid_wrapper());
    cmd.args(args);
    process::run(cmd, 30 * SECOND)
}

/// The state directory of `id` under the user's runtime dir
/// (`$XDG_RUNTIME_DIR/<runtime>/<id>`), if any.
fn user_state_dir(user: &TestUser, id: &str) -> Option<PathBuf> {
    let top = std::fs::read_dir(user.runtime_dir()).ok()?;
    top.flatten().map(|e| e.path().join(id)).find(|p| p.is_dir())
}

/// A rootless container's guard: `delete --force` as the user and a leak
/// check/scrub on drop.
struct RootlessContainer<'a> {
    rt: &'a Runtime,
    user: &'a TestUser,
    id: String,
    bundle: PathBuf,
}

impl<'a> RootlessContainer<'a> {
    fn new(rt: &'a Runtime, user: &'a TestUser, b: &Bundle) -> Self {
        b.save();
        let id = berth_test_support::container::unique_id();
        RootlessContainer { rt, user, id, bundle: b.path().to_path_buf() }
    }

    fn verb(&self, verb: &str, extra: &[&str]) -> Output {
        let bundle = self.bundle.to_string_lossy().into_owned();
        let mut args = vec![verb];
        if verb == "create" || verb == "run" {
            args.extend(["--bundle", &bundle]);
        }
        args.extend_from_slice(extra);
        args.push(&self.id);
        as_user(self.rt, self.user, &args)
    }

    fn status(&self) -> Option<String> {
        let out = self.verb("state", &[]);
        out.success().then(|| out.json()["status"].as_str().unwrap_or("").to_string())
    }

    fn leaks(&self) -> Vec<String> {
        let state = user_state_dir(self.user, &self.id).unwrap_or_else(|| self.user.runtime_dir().join("none").join(&self.id));
        berth_test_support::leaks::leftovers(&self.id, &self.bundle, &state)
    }

    #[track_caller]
    fn assert_no_leaks(&self) {
        let left = wait_until(2 * SECOND, || {
            let l = self.leaks();
            l.is_empty().then_some(())
        });
        assert!(left.is_some(), "{} (rootless) left behind: {:#?}", self.rt.name(), self.leaks());
    }
}

impl Drop for RootlessContainer<'_> {
    fn drop(&mut self) {
        if user_state_dir(self.user, &self.id).is_some() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.verb("delete", &["--force"])));
        }
        let state = user_state_dir(self.user, &self.id).unwrap_or_else(|| self.user.runtime_dir().join("none").join(&self.id));
        berth_test_support::leaks::scrub(&self.id, &self.bundle, &state);
    }
}

/// A file on the host with `contents`, owned by `uid`, mode 0644, in a
/// fresh directory (world-searchable).
fn host_file(uid: u32, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = berth_test_support::temp_dir("hostfile-");
    let f = dir.path().join("file");
    std::fs::write(&f, contents).expect("write host file");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&f, Some(uid), Some(uid)).expect("chown");
    (dir, f)
}

/// Creates, checks the state location, starts and waits for a rootless
/// container; returns what it printed.
#[track_caller]
fn rootless_run(c: &RootlessContainer<'_>) -> String {
    let rt = c.rt;
    let created = c.verb("create", &[]);
    assert!(created.success(), "{}: rootless create: {}", rt.name(), created.describe());
    assert_eq!(c.status().as_deref(), Some("created"));
    let state = user_state_dir(c.user, &c.id);
    assert!(state.is_some(), "{}: no state dir for {} under $XDG_RUNTIME_DIR {}", rt.name(), c.id, c.user.runtime_dir().display());
    let started = c.verb("start", &[]);
    assert!(started.success(), "{}: rootless start: {}", rt.name(), started.describe());
    let stopped = wait_until(10 * SECOND, || (c.status().as_deref() == Some("stopped")).then_some(()));
    assert!(stopped.is_some(), "{}: container did not stop: {:?}", rt.name(), c.status());
    let out = created.stdout();
    let err = created.stderr();
    c.verb("delete", &[]).assert_ok();
    assert!(user_state_dir(c.user, &c.id).is_none(), "delete left the state dir");
    c.assert_no_leaks();
    format!("{out}{err}")
}

scenario! {
    /// An unprivileged user runs a container from `spec --rootless`: state
    /// under its $XDG_RUNTIME_DIR, uid 0 inside, a root-owned host file
    /// bind-mounted in stays read-only to it (Permission denied) while its
    /// own file is writable, and what it creates belongs to it on the host.
    fn rootless_container(rt) {
        let user = TestUser::create();
        let mut b = rootless_bundle(rt, &user);
        let (_rd, root_file) = host_file(0, "root-owned\n");
        let (_ud, user_file) = host_file(user.uid(), "user-owned\n");
        let out = berth_test_support::temp_dir("rootless-out-");
        std::os::unix::fs::chown(out.path(), Some(user.uid()), Some(user.gid())).expect("chown out");
        b.add_bind(&root_file, "/mnt/rootfile", &[]);
        b.add_bind(&user_file, "/mnt/userfile", &[]);
        b.add_bind(out.path(), "/out", &[]);
        b.set_script(
            "id -u; cat /mnt/rootfile; echo hacked >> /mnt/rootfile || echo rootfile-denied; \
             echo more >> /mnt/userfile && echo userfile-ok; touch /out/made && echo made",
        );
        let c = RootlessContainer::new(rt, &user, &b);
        let text = rootless_run(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"0"), "uid 0 inside: {text}");
        assert!(text.contains("root-owned"), "the root-owned file is readable: {text}");
        assert!(text.contains("Permission denied") && text.contains("rootfile-denied"), "{}: writing a root-owned host file must fail: {text}", rt.name());
        assert!(text.contains("userfile-ok") && text.contains("made"), "{text}");
        assert_eq!(std::fs::read_to_string(&root_file).expect("read"), "root-owned\n", "the host file was changed");
        assert_eq!(std::fs::read_to_string(&user_file).expect("read"), "user-owned\nmore\n");
        let made = std::fs::metadata(out.path().join("made")).expect("made");
        assert_eq!(made.uid(), user.uid(), "root inside is the user on the host");
    }
}

scenario! {
    /// A rootless user maps its subordinate ids too (through newuidmap and
    /// newgidmap): uid 1000 inside is subuid start + 999 on the host.
    fn rootless_subordinate_ids(rt) {
        let user = TestUser::create();
        let (Some(su), Some(sg)) = (user.subuids(), user.subgids()) else {
            panic!("useradd gave {} no subordinate ids (/etc/subuid, /etc/subgid)", user.name());
        };
        let mut b = rootless_bundle(rt, &user);
        let n = su.count.min(sg.count).min(65536);
        b.linux_mut()["uidMappings"] = json!([{"containerID": 0, "hostID": user.uid(), "size": 1}, {"containerID": 1, "hostID": su.start, "size": n}]);
        b.linux_mut()["gidMappings"] = json!([{"containerID": 0, "hostID": user.gid(), "size": 1}, {"containerID": 1, "hostID": sg.start, "size": n}]);
        // the config must name a user namespace (crun's spec does not map)
        b.set_namespace("user", None);
        for set in ["bounding", "effective", "permitted"] {
            b.set_caps(set, &["CAP_CHOWN", "CAP_KILL"]);
        }
        let out = berth_test_support::temp_dir("rootless-out-");
        std::os::unix::fs::chown(out.path(), Some(user.uid()), Some(user.gid())).expect("chown out");
        b.add_bind(out.path(), "/out", &[]);
        b.set_script("cat /proc/self/uid_map /proc/self/gid_map; touch /out/f && chown 1000:1000 /out/f && echo chowned");
        let c = RootlessContainer::new(rt, &user, &b);
        let text = rootless_run(&c);
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        let (u, g, sus, sgs, ns) = (user.uid().to_string(), user.gid().to_string(), su.start.to_string(), sg.start.to_string(), n.to_string());
        assert_eq!(rows.get(..4), Some(&[vec!["0", &u, "1"], vec!["1", &sus, &ns], vec!["0", &g, "1"], vec!["1", &sgs, &ns]][..]), "{text}");
        assert!(text.contains("chowned"), "{text}");
        let f = std::fs::metadata(out.path().join("f")).expect("f");
        assert_eq!((f.uid(), f.gid()), (su.start + 999, sg.start + 999));
    }
}

scenario! {
    /// A rootless user may not map a uid it does not own (here host root):
    /// a clear error naming the mapping, exit 1, nothing left; its own
    /// mapping works (positive control).
    fn rootless_foreign_mapping_is_refused(rt) {
        let user = TestUser::create();
        let mut b = rootless_bundle(rt, &user);
        b.set_namespace("user", None);
        b.linux_mut()["uidMappings"] = json!([{"containerID": 0, "hostID": user.uid(), "size": 1}]);
        b.linux_mut()["gidMappings"] = json!([{"containerID": 0, "hostID": user.gid(), "size": 1}]);
        b.set_script("id -u");
        let c = RootlessContainer::new(rt, &user, &b);
        let text = rootless_run(&c);
        assert_eq!(text.lines().next(), Some("0"), "positive control: {text}");

        b.linux_mut()["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
        let c = RootlessContainer::new(rt, &user, &b);
        let out = c.verb("run", &[]);
        assert_clean_error(rt, out.code(), &out.stderr(), &["uidMappings"]);
        assert!(user_state_dir(&user, &c.id).is_none(), "a refused container left its state dir");
        c.assert_no_leaks();
        let left: Vec<String> = user
            .processes()
            .iter()
            .map(|p| {
                let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
                let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ");
                format!("{p} {cmd} ({:?}, ppid {:?}, {:?})", status_field(&status, "State"), status_field(&status, "PPid"), status_field(&status, "Name"))
            })
            .collect();
        assert!(left.is_empty(), "processes of {} left: {left:?}", user.name());
    }
}
