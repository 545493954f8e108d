//! runtime.md's lifecycle: create, start, state, kill, delete, run.

use crate::support::*;
use berth_test_support::{Bundle, Container, Kind};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A bundle whose program writes /out/started, then sleeps.
fn sleeper() -> (Bundle, tempfile::TempDir) {
    let mut b = Bundle::busybox();
    let out = out_dir(&mut b);
    b.set_script("echo started > /out/started; exec sleep 100");
    (b, out)
}

scenario! {
    /// create leaves the process blocked before the user's program; start
    /// releases it; state follows; delete cleans up.
    fn create_blocks_until_start(rt) {
        let (b, out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        let st = c.state_json();
        assert_eq!(st["status"], "created");
        let pid = st["pid"].as_i64().expect("pid in state");
        assert!(pid > 0 && alive(pid), "created container's pid {pid} must be alive");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!out.path().join("started").exists(), "the user's program ran before start");
        c.start().assert_ok();
        assert!(wait_for_file(&out.path().join("started"), 5 * SECOND), "program did not run after start");
        assert_eq!(c.state_json()["status"], "running");
        assert_eq!(c.state_json()["pid"].as_i64(), Some(pid), "pid changed across start");
        c.kill("KILL").assert_ok();
        assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        assert!(!alive(pid));
        c.assert_no_leaks();
        assert!(!c.state().success(), "state of a deleted container must fail");
    }
}

scenario! {
    /// state reports ociVersion, id, status, pid (= --pid-file), bundle and
    /// annotations.
    fn state_fields(rt) {
        let (mut b, _out) = sleeper();
        b.set_annotation("org.berth.test", "value-1");
        b.set_annotation("second", "2");
        let mut c = Container::new(rt, &b);
        let pidfile = b.path().join("pidfile");
        c.create(&["--pid-file", pidfile.to_str().expect("utf-8")]).assert_ok();
        let st = c.state_json();
        assert!(st["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "ociVersion: {st}");
        assert_eq!(st["id"], c.id());
        assert_eq!(st["status"], "created");
        let pid = st["pid"].as_i64().expect("pid");
        let from_file: i64 = std::fs::read_to_string(&pidfile).expect("pid file").trim().parse().expect("pid number");
        assert_eq!(pid, from_file, "--pid-file and state disagree");
        assert_eq!(st["bundle"], b.path().to_str().expect("utf-8"), "bundle must be the absolute path");
        assert_eq!(st["annotations"]["org.berth.test"], "value-1", "annotations: {st}");
        assert_eq!(st["annotations"]["second"], "2");
        // The pid is the container's init: its root is the rootfs.
        use std::os::unix::fs::MetadataExt;
        let root = std::fs::metadata(format!("/proc/{pid}/root/")).expect("stat root");
        let rootfs = std::fs::metadata(b.rootfs()).expect("stat rootfs");
        assert_eq!((root.dev(), root.ino()), (rootfs.dev(), rootfs.ino()), "pid's root is not the rootfs");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// status follows the real process, not a cached value.
    fn status_follows_the_process(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script("while [ ! -e /out/go ]; do sleep 0.05; done; exit 0");
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        c.start().assert_ok();
        assert_eq!(c.state_json()["status"], "running");
        std::fs::write(out.path().join("go"), "").expect("write go");
        assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// start twice fails, start of a stopped container fails, kill of a
    /// stopped container fails.
    fn start_twice_and_kill_stopped_are_errors(rt) {
        let (b, _out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        c.start().assert_ok();
        c.start().assert_fails();
        assert_eq!(c.status().as_deref(), Some("running"), "a failed start must not change the container");
        c.kill("KILL").assert_ok();
        assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"));
        c.start().assert_fails();
        c.kill("KILL").assert_fails();
        c.kill("TERM").assert_fails();
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// delete of a running container is refused and has no effect; --force
    /// kills and deletes it.
    fn delete_running_needs_force(rt) {
        let (b, out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        assert!(wait_for_file(&out.path().join("started"), 5 * SECOND));
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        c.delete().assert_fails();
        assert_eq!(c.status().as_deref(), Some("running"));
        assert!(alive(pid));
        c.delete_force().assert_ok();
        assert!(!c.state().success());
        c.assert_no_leaks();
        assert!(!alive(pid));
    }
}

scenario! {
    /// delete of a created (never started) container removes it. Not
    /// spelled out by runtime.md (which says delete of a non-stopped
    /// container is an error); runc and crun both allow it and containerd
    /// relies on it, so berth does too.
    fn delete_created_container(rt) {
        let (b, out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.create(&[]).assert_ok();
        let pid = c.state_json()["pid"].as_i64().expect("pid");
        c.delete().assert_ok();
        c.assert_no_leaks();
        assert!(!alive(pid));
        assert!(!out.path().join("started").exists(), "the program must never have run");
    }
}

scenario! {
    /// run without --detach exits with the container's exit code.
    fn run_exit_code(rt) {
        for code in [0, 3, 42] {
            let mut b = Bundle::busybox();
            b.set_script(&format!("echo out; echo err >&2; exit {code}"));
            let r = run(rt, &b);
            assert_eq!(r.code, Some(code), "{}: {r:?}", rt.name());
            assert_eq!(r.stdout, "out\n");
            assert!(r.stderr.contains("err"), "stderr: {:?}", r.stderr);
        }
    }
}

scenario! {
    /// run without --detach exits with 128+signal when the container is
    /// killed by a signal.
    fn run_exit_code_of_a_killed_container(rt) {
        let (b, out) = sleeper();
        let c = Container::new(rt, &b);
        let bundle = b.path().to_str().expect("utf-8").to_string();
        let code = std::thread::scope(|s| {
            let runner = s.spawn(|| rt.run(&["run", "--bundle", &bundle, c.id()]));
            if !wait_for_file(&out.path().join("started"), 10 * SECOND) {
                // stop the runner before failing, or the scope waits for it
                c.delete_force();
                panic!("container did not start");
            }
            c.kill("KILL").assert_ok();
            runner.join().expect("runner thread").code()
        });
        assert_eq!(code, Some(137), "128 + SIGKILL");
        c.assert_no_leaks();
    }
}

scenario! {
    /// kill with a signal that does not exist is an error and has no effect.
    fn kill_unknown_signal_is_an_error(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 exits 0 on `kill <id> NOSUCHSIGNAL`") {
            return;
        }
        let (b, out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        assert!(wait_for_file(&out.path().join("started"), 5 * SECOND));
        c.kill("NOSUCHSIGNAL").assert_fails();
        c.kill("SIGNOSUCH").assert_fails();
        c.kill("99999").assert_fails();
        assert_eq!(c.status().as_deref(), Some("running"));
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// run --detach returns while the container runs.
    fn run_detach(rt) {
        let (b, out) = sleeper();
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        assert!(wait_for_file(&out.path().join("started"), 5 * SECOND));
        assert_eq!(c.status().as_deref(), Some("running"));
        c.kill("KILL").assert_ok();
        c.wait_status("stopped", 5 * SECOND);
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// run --keep keeps the stopped container until delete.
    fn run_keep(rt) {
        if lacks(rt, &[Kind::Crun], "crun 1.8 has no `run --keep`") {
            return;
        }
        let mut b = Bundle::busybox();
        b.set_script("exit 5");
        let mut c = Container::new(rt, &b);
        assert_eq!(c.run(&["--keep"]).code(), Some(5));
        assert_eq!(c.status().as_deref(), Some("stopped"), "--keep must keep the container");
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// run without --keep deletes the container once it exits.
    fn run_deletes_when_done(rt) {
        let mut b = Bundle::busybox();
        b.set_args(&["true"]);
        let mut c = Container::new(rt, &b);
        c.run(&[]).assert_ok();
        assert!(!c.state().success(), "container must be gone after run");
        c.assert_no_leaks();
    }
}

scenario! {
    /// kill by name, SIG-name and number; --all reaches every process.
    fn kill_signals(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        b.set_script(
            "trap 'echo usr1 >> /out/log' USR1; trap 'echo usr2 >> /out/log' USR2; trap 'echo hup >> /out/log' HUP; \
             echo ready > /out/ready; while true; do sleep 0.05; done",
        );
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        assert!(wait_for_file(&out.path().join("ready"), 5 * SECOND));
        let log = out.path().join("log");
        let expect = |n: usize| {
            let deadline = std::time::Instant::now() + 5 * SECOND;
            loop {
                let lines = std::fs::read_to_string(&log).unwrap_or_default().lines().count();
                if lines >= n || std::time::Instant::now() > deadline {
                    return lines;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        c.kill("USR1").assert_ok();
        assert_eq!(expect(1), 1);
        c.kill("SIGUSR2").assert_ok();
        assert_eq!(expect(2), 2);
        c.kill("1").assert_ok();
        assert_eq!(expect(3), 3);
        assert_eq!(std::fs::read_to_string(&log).expect("log"), "usr1\nusr2\nhup\n");
        c.kill("KILL").assert_ok();
        assert_eq!(c.wait_status("stopped", 5 * SECOND).as_deref(), Some("stopped"));
        c.delete().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// kill --all signals every process in the container, not only init.
    fn kill_all(rt) {
        let mut b = Bundle::busybox();
        let out = out_dir(&mut b);
        // init ignores TERM (pid 1 without a handler); its children do not.
        b.set_script("sleep 100 & sleep 100 & echo ready > /out/ready; wait; echo children-gone > /out/done; exec sleep 100");
        let mut c = Container::new(rt, &b);
        c.run(&["--detach"]).assert_ok();
        assert!(wait_for_file(&out.path().join("ready"), 5 * SECOND));
        c.rt_kill_all("TERM");
        assert!(wait_for_file(&out.path().join("done"), 5 * SECOND), "--all did not reach the children");
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

/// `kill --all <id> <sig>` as an extension of the guard.
trait KillAll {
    fn rt_kill_all(&self, sig: &str);
}

impl KillAll for Container<'_> {
    fn rt_kill_all(&self, sig: &str) {
        self.runtime().run(&["kill", "--all", self.id(), sig]).assert_ok();
    }
}

scenario! {
    /// --pid-file on create and run --detach holds the host pid of init.
    fn pid_file(rt) {
        let (b, _out) = sleeper();
        let pidfile = b.path().join("run.pid");
        let mut c = Container::new(rt, &b);
        c.run(&["--detach", "--pid-file", pidfile.to_str().expect("utf-8")]).assert_ok();
        let pid: i64 = std::fs::read_to_string(&pidfile).expect("pid file").trim().parse().expect("number");
        assert_eq!(c.state_json()["pid"].as_i64(), Some(pid));
        assert!(alive(pid));
        c.delete_force().assert_ok();
        c.assert_no_leaks();
    }
}

scenario! {
    /// Two containers of one runtime do not see each other's state, and ids
    /// are per root.
    fn independent_containers(rt) {
        let (b1, _o1) = sleeper();
        let (b2, _o2) = sleeper();
        let mut c1 = Container::new(rt, &b1);
        let mut c2 = Container::new(rt, &b2);
        c1.create(&[]).assert_ok();
        c2.run(&["--detach"]).assert_ok();
        assert_eq!(c1.status().as_deref(), Some("created"));
        assert_eq!(c2.status().as_deref(), Some("running"));
        c2.delete_force().assert_ok();
        assert_eq!(c1.status().as_deref(), Some("created"));
        c1.delete_force().assert_ok();
        c1.assert_no_leaks();
        c2.assert_no_leaks();
    }
}

