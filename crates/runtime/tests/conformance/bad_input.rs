//! Bad input: each case must fail (berth: exit 1 with a one-line error
//! naming the field or path) and leave nothing behind — no state dir, mount,
//! cgroup or process.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind, Runtime};

/// Nothing in the runtime's state root.
#[track_caller]
fn assert_root_empty(rt: &Runtime) {
    let left: Vec<_> = std::fs::read_dir(rt.root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{}: state root not empty: {left:?}", rt.name());
}

/// `create` on `b` (config.json already written or deliberately not) must
/// fail cleanly.
#[track_caller]
fn create_must_fail(rt: &Runtime, c: &mut Container<'_>, extra: &[&str], words: &[&str]) {
    let out = c.create(extra);
    let (code, stderr) = (out.code(), out.stderr());
    assert_clean_error(rt, code, &stderr, words);
    c.assert_no_leaks();
    assert!(!c.state().success(), "state must fail for a container that was not created");
    assert_root_empty(rt);
}

/// Saves `b` and expects `create` to fail naming `words`.
#[track_caller]
fn config_must_fail(rt: &Runtime, b: &Bundle, words: &[&str]) {
    let mut c = Container::new(rt, b);
    create_must_fail(rt, &mut c, &[], words);
}

scenario! {
    fn missing_config_json(rt) {
        let b = Bundle::busybox(); // never saved
        let mut c = Container::on_path(rt, b.path(), &berth_test_support::container::unique_id());
        create_must_fail(rt, &mut c, &[], &["config.json"]);
    }
}

scenario! {
    fn malformed_config_json(rt) {
        let b = Bundle::busybox();
        let mut c = Container::on_path(rt, b.path(), &berth_test_support::container::unique_id());
        std::fs::write(b.path().join("config.json"), "{\"ociVersion\": \"1.1.0\", \"process\": ").expect("write");
        create_must_fail(rt, &mut c, &[], &["config.json"]);
        std::fs::write(b.path().join("config.json"), "[]").expect("write");
        create_must_fail(rt, &mut c, &[], &["config.json"]);
    }
}

scenario! {
    fn unknown_namespace_type(rt) {
        let mut b = Bundle::busybox();
        b.set_namespace("foo", None);
        config_must_fail(rt, &b, &["foo"]);
    }
}

scenario! {
    fn missing_rootfs(rt) {
        let b = Bundle::busybox();
        std::fs::remove_dir_all(b.rootfs()).expect("rm rootfs");
        config_must_fail(rt, &b, &["rootfs"]);
    }
}

scenario! {
    fn relative_cwd(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 accepts a relative process.cwd") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_cwd("relative/dir");
        config_must_fail(rt, &b, &["cwd"]);
    }
}

scenario! {
    fn empty_args(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&[]);
        config_must_fail(rt, &b, &["args"]);
    }
}

scenario! {
    /// A program that does not exist fails at create or at start, cleanly.
    fn program_not_found(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["/no/such/program"]);
        let mut c = Container::new(rt, &b);
        let out = c.run(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &["/no/such/program"]);
        c.assert_no_leaks();
        assert_root_empty(rt);
    }
}

scenario! {
    /// A second container with an existing id is refused; the first is
    /// untouched.
    fn duplicate_id(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let mut first = Container::new(rt, &b);
        first.create(&[]).assert_ok();
        let b2 = Bundle::busybox();
        let mut second = Container::with_id(rt, &b2, first.id());
        let out = second.create(&[]);
        let (code, stderr) = (out.code(), out.stderr());
        assert_clean_error(rt, code, &stderr, &[first.id()]);
        assert_eq!(first.status().as_deref(), Some("created"));
        assert_eq!(first.state_json()["bundle"], b.path().to_str().expect("utf-8"));
        std::mem::forget(second); // its Drop would delete the first container
        first.delete_force().assert_ok();
        first.assert_no_leaks();
        assert_root_empty(rt);
    }
}

scenario! {
    /// Ids that are empty or could name a path outside the state root.
    fn bad_ids(rt) {
        // state root inside a sandbox: a runtime that follows the id out of
        // its root damages only the sandbox
        let sandbox = berth_test_support::temp_dir("sandbox-");
        let rt = &Runtime::new_in(rt.kind(), berth_bin(), sandbox.path());
        let b = Bundle::busybox();
        let escape = format!("../escaped-{}-{}", std::process::id(), rt.name());
        for id in ["", "a/b", "..", ".", &escape, "/abs"] {
            if id == "/abs" && lacks(rt, &[Kind::Crun], "crun 1.8 accepts the id \"/abs\" (and stores it as \"abs\")") {
                continue;
            }
            let mut c = Container::with_id(rt, &b, id);
            let out = c.create(&[]);
            let (code, stderr) = (out.code(), out.stderr());
            assert!(code != Some(0), "{}: id {id:?} was accepted", rt.name());
            assert_clean_error(rt, code, &stderr, &[]);
            assert_root_empty(rt);
            assert!(!rt.root().join(&escape).exists(), "{}: state written outside the root", rt.name());
            assert!(berth_test_support::leaks::processes_using(b.path(), &b.rootfs()).is_empty());
        }
        // Positive control: the same bundle with a good id works, so the
        // refusals above were about the ids.
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        c.delete_force().assert_ok();
        c.assert_no_leaks();
        assert_root_empty(rt);
    }
}

scenario! {
    /// terminal: true with a console socket nobody listens on, or that is
    /// not a socket, or without one at all.
    fn console_socket_not_answering(rt) {
        let mut b = Bundle::busybox();
        b.set_terminal(true);
        b.set_args(&["true"]);
        let dir = berth_test_support::temp_dir("nosock-");
        let missing = dir.path().join("missing.sock");
        let regular = dir.path().join("regular-file");
        std::fs::write(&regular, "").expect("write");
        let unbound = dir.path().join("dgram.sock");
        let _dgram = std::os::unix::net::UnixDatagram::bind(&unbound).expect("bind dgram");
        for sock in [&missing, &regular, &unbound] {
            let mut c = Container::new(rt, &b);
            create_must_fail(rt, &mut c, &["--console-socket", sock.to_str().expect("utf-8")], &["console"]);
        }
        let mut c = Container::new(rt, &b);
        create_must_fail(rt, &mut c, &[], &["console"]);
    }
}

scenario! {
    /// A mount the kernel refuses (bad tmpfs option) fails create cleanly.
    fn bad_mount_option(rt) {
        let mut b = Bundle::busybox();
        b.add_mount("/bad", "tmpfs", "tmpfs", &["size=notanumber"]);
        config_must_fail(rt, &b, &["/bad"]);
    }
}

scenario! {
    /// start, kill, delete, state of a container that does not exist fail.
    fn verbs_on_missing_container(rt) {
        let id = berth_test_support::container::unique_id();
        for verb in [vec!["start", &id], vec!["state", &id], vec!["kill", &id, "KILL"], vec!["delete", &id], vec!["ps", &id]] {
            let out = rt.run(&verb);
            let (code, stderr) = (out.code(), out.stderr());
            assert_clean_error(rt, code, &stderr, &[&id]);
        }
        assert_root_empty(rt);
    }
}

scenario! {
    /// `delete --force` with an id that names a path outside the state root
    /// is refused and removes nothing.
    fn delete_with_path_id_removes_nothing(rt) {
        // Never run this on crun 1.8.1: it removes the parent of --root.
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 `delete --force ..` recursively removes the parent directory of its --root (exit 0)") {
            return;
        }
        // A runtime whose root sits in a sandbox dir, so that a runtime with
        // this bug destroys only the sandbox; a canary beside the root.
        let sandbox = berth_test_support::temp_dir("sandbox-");
        let rt = &Runtime::new_in(rt.kind(), berth_bin(), sandbox.path());
        let parent = sandbox.path();
        let canary = tempfile::Builder::new().prefix("canary-").tempdir_in(parent).expect("canary dir");
        std::fs::write(canary.path().join("keep"), "keep").expect("write");
        std::fs::write(rt.root().join("keep-in-root"), "keep").expect("write");
        let canary_name = canary.path().file_name().expect("name").to_str().expect("utf-8").to_string();
        let relative = format!("../{canary_name}");
        for id in ["..", ".", relative.as_str(), "/", ""] {
            let out = rt.run(&["delete", "--force", id]);
            assert!(!out.success(), "{}: delete --force {id:?} succeeded", rt.name());
            assert!(canary.path().join("keep").exists(), "{}: delete --force {id:?} removed a file outside the root", rt.name());
            assert!(rt.root().join("keep-in-root").exists(), "{}: delete --force {id:?} removed a file in the root", rt.name());
        }
        // Positive control: delete --force of a real container works here.
        let mut b = Bundle::busybox();
        b.set_args(&["sleep", "100"]);
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        c.delete_force().assert_ok();
        c.assert_no_leaks();
        assert!(canary.path().join("keep").exists());
        std::fs::remove_file(rt.root().join("keep-in-root")).expect("rm");
    }
}

// ---- issue #3: limits, seccomp, capabilities, cgroups paths ----

const MIB: u64 = 1024 * 1024;

scenario! {
    /// cpuset cpus this machine does not have: the kernel refuses them
    /// (ERANGE), create fails naming the field, the cgroups made so far are
    /// gone. An existing cpu works (positive control).
    fn cpuset_cpus_out_of_range(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 refuses it but leaves the container's cgroups behind in every hierarchy") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.linux_mut()["resources"]["cpu"] = serde_json::json!({"cpus": "0-1023"});
        config_must_fail(rt, &b, &["cpus"]);
        b.linux_mut()["resources"]["cpu"] = serde_json::json!({"cpus": "0"});
        run_ok(rt, &b);
    }
}

scenario! {
    /// memory.swap (memory+swap) below memory.limit is refused.
    fn swap_below_memory_limit(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8.1 refuses it but leaves the container's cgroups behind in every hierarchy") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.linux_mut()["resources"]["memory"] = serde_json::json!({"limit": 128 * MIB, "swap": 64 * MIB});
        config_must_fail(rt, &b, &["swap"]);
        b.linux_mut()["resources"]["memory"] = serde_json::json!({"limit": 128 * MIB, "swap": 256 * MIB});
        run_ok(rt, &b);
    }
}

scenario! {
    /// update to a memory limit below what the container uses (30 MiB of
    /// tmpfs, which cannot be reclaimed without swap): the kernel refuses
    /// (EBUSY), update fails naming the field, the old limit stays and the
    /// container keeps running. A limit above the usage works.
    fn update_memory_below_usage(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script("head -c 30m /dev/zero > /dev/shm/fill && echo filled > /out/filled; exec sleep 100");
        b.linux_mut()["resources"]["memory"] = serde_json::json!({"limit": 64 * MIB});
        let (c, pid) = detached(rt, &b);
        wait_out(&out, "filled", std::time::Duration::from_secs(10), "filling /dev/shm");
        let mem = berth_test_support::cgroups::dir_of(pid, "memory");
        berth_test_support::cgroups::assert_real(&mem, "memory");
        let usage: u64 = berth_test_support::cgroups::read(&mem, "memory.usage_in_bytes").parse().expect("usage");
        assert!(usage >= 30 * MIB, "usage {usage}");
        let o = c.verb("update", &["--memory", &(10 * MIB).to_string()]);
        assert_clean_error(rt, o.code(), &o.stderr(), &["memory"]);
        assert_eq!(berth_test_support::cgroups::read(&mem, "memory.limit_in_bytes"), (64 * MIB).to_string(), "the old limit stays");
        assert_eq!(c.status().as_deref(), Some("running"));
        c.verb("update", &["--memory", &(128 * MIB).to_string()]).assert_ok();
        assert_eq!(berth_test_support::cgroups::read(&mem, "memory.limit_in_bytes"), (128 * MIB).to_string());
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// An unknown capability name is refused, naming it.
    fn unknown_capability(rt) {
        if lacks(rt, &[Kind::Runc, Kind::Crun], "runc 1.1.5 (\"ignoring unknown or unavailable capabilities\") and crun 1.8.1 run the container without it") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.set_caps("bounding", &["CAP_KILL", "CAP_FOO"]);
        config_must_fail(rt, &b, &["CAP_FOO"]);
        b.set_caps("bounding", &["CAP_KILL"]);
        run_ok(rt, &b);
    }
}

fn seccomp_with(rule: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [rule]})
}

scenario! {
    /// Malformed seccomp profiles are refused naming what is wrong: an
    /// unknown action (in a rule and as defaultAction), an unknown argument
    /// operator, an unknown architecture.
    fn malformed_seccomp_profile(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.linux_mut()["seccomp"] = seccomp_with(serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_FOO"}));
        config_must_fail(rt, &b, &["action", "SCMP_ACT_FOO"]);
        b.linux_mut()["seccomp"]["syscalls"] = serde_json::json!([]);
        b.linux_mut()["seccomp"]["defaultAction"] = serde_json::json!("SCMP_ACT_BAR");
        config_must_fail(rt, &b, &["defaultAction", "SCMP_ACT_BAR"]);
        b.linux_mut()["seccomp"] = seccomp_with(serde_json::json!({
            "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_FOO"}]
        }));
        config_must_fail(rt, &b, &["op", "SCMP_CMP_FOO"]);
        b.linux_mut()["seccomp"] = seccomp_with(serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}));
        b.linux_mut()["seccomp"]["architectures"] = serde_json::json!(["SCMP_ARCH_FOO"]);
        config_must_fail(rt, &b, &["architectures", "SCMP_ARCH_FOO"]);
        // positive control: the same profile with a known architecture
        b.linux_mut()["seccomp"]["architectures"] = serde_json::json!(["SCMP_ARCH_X86_64"]);
        run_ok(rt, &b);
    }
}

scenario! {
    /// With --systemd-cgroup a cgroupsPath not of the form
    /// `slice:prefix:name` is refused.
    fn systemd_cgroups_path_malformed(rt) {
        // a runtime that ignored the bad path would use system.slice
        let had_system_slice = berth_test_support::cgroups::hierarchy_mount("memory")
            .is_some_and(|m| std::path::Path::new(&m.mount_point).join("system.slice").exists());
        let _cleanup = CgroupParents(if had_system_slice { vec![] } else { vec!["system.slice".into()] });
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        b.linux_mut()["cgroupsPath"] = serde_json::json!("not-a-triple");
        let c = Container::new(rt, &b);
        let bundle = b.path().to_string_lossy().into_owned();
        let out = rt.run(&["--systemd-cgroup", "create", "--bundle", &bundle, c.id()]);
        assert_clean_error(rt, out.code(), &out.stderr(), &["not-a-triple", "slice:prefix:name"]);
        c.assert_no_leaks();
        assert_root_empty(rt);
    }
}
