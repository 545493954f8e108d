//! The real `docker` CLI (28.x) against berthd: run, logs, ps, inspect,
//! exec, stop, rm, cp, pull/tag/push, exit codes, and live restore across a
//! SIGKILLed daemon.

mod common;

use std::time::Duration;

use common::{Daemon, eventually, isolated};

#[test]
fn run_rm_exit_codes_and_errors() {
    if !isolated("run_rm_exit_codes_and_errors") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", &d.image]);
    let out = d.ok(&["run", "--rm", "--network", "none", &d.image, "echo", "hello"]);
    assert_eq!(out, "hello\n");
    let o = d.docker(&["run", "--rm", "--network", "none", &d.image, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    let o = d.docker(&["run", "--rm", "--network", "none", &d.image, "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("executable file not found in $PATH"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = d.docker(&["run", "--rm", "--network", "none", &d.image, "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", String::from_utf8_lossy(&o.stderr));
    let o = d.docker(&["run", "--rm", "127.0.0.1:1/nope:latest"]);
    assert_eq!(o.status.code(), Some(125));
    let o = d.docker(&["inspect", "nosuch"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such object: nosuch") || String::from_utf8_lossy(&o.stderr).contains("No such container"), "{}", String::from_utf8_lossy(&o.stderr));
    // the --rm containers are gone
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "only the failed-start containers without --rm would stay");
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
}

#[test]
fn detached_logs_exec_stop_rm() {
    if !isolated("detached_logs_exec_stop_rm") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let id = d.ok(&["run", "-d", "--name", "web", "-e", "GREETING=hi", &d.image, "sh", "-c", "while true; do echo tick; sleep 0.2; done"]).trim().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(d.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]).split_whitespace().next(), Some("web"));
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "web"]).trim(), "true /web");
    assert!(eventually(Duration::from_secs(10), || d.ok(&["logs", "web"]).contains("tick")));
    assert_eq!(d.ok(&["exec", "web", "sh", "-c", "echo $GREETING from $(hostname)"]).trim(), format!("hi from {}", &id[..12]));
    let o = d.docker(&["exec", "web", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    // the container has an address on the default bridge
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "web"]);
    assert!(ip.trim().starts_with("10.87."), "{ip:?}");
    // logs -f and wait end when the container stops; events saw it all
    let follow = d.docker_cmd(&["logs", "-f", "--tail", "1", "web"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let waiter = d.docker_cmd(&["wait", "web"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.ok(&["stop", "-t", "1", "web"]);
    let followed = common::wait_output(follow, Duration::from_secs(10), "docker logs -f");
    assert!(followed.status.success());
    assert!(String::from_utf8_lossy(&followed.stdout).lines().filter(|l| *l == "tick").count() >= 2, "followed new lines");
    let waited = common::wait_output(waiter, Duration::from_secs(10), "docker wait");
    assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "137");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]).trim(), "exited 137");
    // (the CLI turns a duration like "0s" into whole seconds: an absolute
    // time a moment ahead includes everything so far)
    let until = berth_engine::time::rfc3339_nano(berth_engine::time::now_nanos() + 1_000_000_000);
    let events = d.ok(&["events", "--since", "1970-01-01T00:00:01Z", "--until", &until, "--filter", "container=web", "--format", "{{.Action}}"]);
    for want in ["create", "start", "exec_create", "exec_start", "exec_die", "kill", "die", "stop"] {
        assert!(events.lines().any(|l| l.starts_with(want)), "event {want} in {events}");
    }
    let o = d.docker(&["rm", "nosuch"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("No such container: nosuch"), "{}", String::from_utf8_lossy(&o.stderr));
    d.ok(&["rm", "web"]);
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
    assert!(eventually(Duration::from_secs(5), || d.cgroups(std::slice::from_ref(&id)).is_empty()));
}

#[test]
fn cp_both_ways() {
    if !isolated("cp_both_ways") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["run", "-d", "--name", "box", "--network", "none", &d.image, "sleep", "300"]);
    let src = d.root.path().join("in.txt");
    std::fs::write(&src, "copied in\n").unwrap();
    d.ok(&["cp", src.to_str().unwrap(), "box:/tmp/in.txt"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/tmp/in.txt"]), "copied in\n");
    d.ok(&["exec", "box", "sh", "-c", "echo out > /tmp/out.txt; ln -s /etc/passwd /tmp/link"]);
    let dst = d.root.path().join("out.txt");
    d.ok(&["cp", "box:/tmp/out.txt", dst.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "out\n");
    // a symlink pointing at /etc/passwd resolves inside the container
    let dst = d.root.path().join("passwd");
    d.ok(&["cp", "-L", "box:/tmp/link", dst.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "root:x:0:0:root:/root:/bin/sh\n", "the container's passwd, not the host's");
    let o = d.docker(&["cp", "box:/nope", d.root.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Could not find the file /nope in container box"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn pull_tag_push_rmi() {
    if !isolated("pull_tag_push_rmi") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", &d.image]);
    let target = format!("{}/copy/busybox:v1", d.registry.addr());
    d.ok(&["tag", &d.image, &target]);
    d.ok(&["push", &target]);
    assert!(!d.registry.raw_manifest("copy/busybox:v1").is_empty());
    d.ok(&["rmi", &target]);
    d.ok(&["create", "--name", "user", &d.image, "true"]);
    let o = d.docker(&["rmi", &d.image]);
    assert!(!o.status.success(), "an image a container uses is kept");
    assert!(String::from_utf8_lossy(&o.stderr).contains("conflict"), "{}", String::from_utf8_lossy(&o.stderr));
    d.ok(&["rm", "user"]);
    d.ok(&["rmi", &d.image]);
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn live_restore_after_sigkill() {
    if !isolated("live_restore_after_sigkill") {
        return;
    }
    let mut d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let id = d.ok(&["run", "-d", "--name", "keep", &d.image, "sh", "-c", "i=0; while true; do i=$((i+1)); echo line$i; sleep 0.1; done"]).trim().to_owned();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "keep"]).trim().to_owned();
    d.kill9();
    std::thread::sleep(Duration::from_millis(500));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the container outlives berthd");
    d.start();
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "keep"]).trim(), format!("true {pid}"));
    let before = d.ok(&["logs", "keep"]).lines().count();
    assert!(eventually(Duration::from_secs(5), || d.ok(&["logs", "keep"]).lines().count() > before + 3), "logs keep flowing");
    assert_eq!(d.ok(&["exec", "keep", "echo", "still here"]), "still here\n");
    d.ok(&["stop", "-t", "1", "keep"]);
    // a graceful stop of berthd leaves containers running too
    d.ok(&["start", "keep"]);
    let pid2 = d.ok(&["inspect", "-f", "{{.State.Pid}}", "keep"]).trim().to_owned();
    assert!(d.stop().success());
    assert!(std::path::Path::new(&format!("/proc/{pid2}")).exists());
    d.start();
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "keep"]).trim(), "true");
    d.ok(&["rm", "-f", "keep"]);
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
    assert!(eventually(Duration::from_secs(5), || d.cgroups(std::slice::from_ref(&id)).is_empty()));
}

#[test]
fn restart_policy_honoured_after_daemon_restart() {
    if !isolated("restart_policy_honoured_after_daemon_restart") {
        return;
    }
    let mut d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["run", "-d", "--name", "always", "--network", "none", "--restart", "always", &d.image, "sleep", "1"]);
    d.ok(&["run", "-d", "--name", "never", "--network", "none", &d.image, "sleep", "1"]);
    d.kill9();
    // both exit while the daemon is away
    std::thread::sleep(Duration::from_millis(1500));
    d.start();
    assert!(eventually(Duration::from_secs(10), || d.ok(&["inspect", "-f", "{{.State.Running}}", "always"]).trim() == "true"), "always restarts");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "never"]).trim(), "exited 0", "the exit recorded by the shim is used");
    assert!(d.ok(&["inspect", "-f", "{{.RestartCount}}", "always"]).trim().parse::<i64>().unwrap() >= 1);
}

#[test]
fn second_daemon_on_the_same_root_is_refused() {
    if !isolated("second_daemon_on_the_same_root_is_refused") {
        return;
    }
    let d = Daemon::new();
    let out = std::process::Command::new(common::binary("berthd"))
        .arg("-H")
        .arg(format!("unix://{}/other.sock", d.root.path().display()))
        .arg("--config")
        .arg(d.root.path().join("config.toml"))
        .arg("--pidfile")
        .arg(d.root.path().join("other.pid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another berthd"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn killed_mid_create_or_start_leaves_nothing_behind() {
    if !isolated("killed_mid_create_or_start_leaves_nothing_behind") {
        return;
    }
    let mut d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    for (i, delay_ms) in [0u64, 5, 15, 30, 60, 120].into_iter().enumerate() {
        let name = format!("c{i}");
        let child = d
            .docker_cmd(&["run", "-d", "--name", &name, &d.image, "sleep", "300"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        d.kill9();
        let _ = common::wait_output(child, Duration::from_secs(30), "docker run");
        d.start();
        // whatever berthd knows is consistent: every leftover belongs to a listed container
        let ids: Vec<String> = d.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace().map(str::to_owned).collect();
        for l in d.leftovers() {
            assert!(ids.iter().any(|id| l.contains(id.as_str())) || l.starts_with("shim process"), "orphan after a kill at {delay_ms} ms: {l}\nknown: {ids:?}");
        }
    }
    let ids: Vec<String> = d.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace().map(str::to_owned).collect();
    for id in &ids {
        d.ok(&["rm", "-f", id]);
    }
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
    assert!(eventually(Duration::from_secs(5), || d.cgroups(&ids).is_empty()), "{:?}", d.cgroups(&ids));
}

#[test]
fn everyday_run_options() {
    if !isolated("everyday_run_options") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    let img = d.image.as_str();
    // user, workdir, env, hostname, labels, read-only rootfs with a tmpfs, caps
    let out = d.ok(&[
        "run", "--rm", "--network", "none", "-u", "1000:1000", "-w", "/work", "-e", "A=1", "--hostname", "box", "-l", "k=v", "--read-only", "--tmpfs", "/scratch",
        img, "sh", "-c", "id -u; id -g; pwd; echo $A; hostname; touch /scratch/x && echo tmpfs-ok; touch /nope 2>/dev/null || echo ro-ok",
    ]);
    assert_eq!(out, "1000\n1000\n/work\n1\nbox\ntmpfs-ok\nro-ok\n");
    let caps = d.ok(&["run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "CHOWN", img, "sh", "-c", "grep CapEff /proc/self/status"]);
    assert!(caps.contains("0000000000000001"), "{caps}");
    // --init is pid 1, the command its child (a static berth-init: busybox
    // has no loader)
    let out = d.ok(&["run", "--rm", "--network", "none", "--init", img, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
    assert!(out.starts_with("/sbin/docker-init -- sh"), "{out}");
    // volumes: named (kept, content copied up), bind, anonymous
    let host_dir = d.root.path().join("bind");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("f"), "from host").unwrap();
    let bind = format!("{}:/bind:ro", host_dir.display());
    d.ok(&["run", "--rm", "--network", "none", "-v", "data:/etc/datavol", "-v", &bind, img, "sh", "-c", "echo saved > /etc/datavol/x; cat /bind/f; touch /bind/g 2>/dev/null && echo rw || echo ro"]);
    let out = d.ok(&["run", "--rm", "--network", "none", "-v", "data:/v", img, "cat", "/v/x"]);
    assert_eq!(out, "saved\n");
    assert!(d.ok(&["volume", "ls", "-q"]).contains("data"));
    d.ok(&["volume", "rm", "data"]);
    // limits land in the cgroup
    let id = d.ok(&["run", "-d", "--network", "none", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", img, "sleep", "300"]).trim().to_owned();
    let mem = d.ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", &id]);
    assert_eq!(mem.trim(), "67108864 500000000 50");
    // (the test's berthd puts containers below a cgroup parent of its own)
    let parent = berth_test_support::cgroups::parent_for(d.root.path());
    let lim = std::fs::read_to_string(format!("/sys/fs/cgroup/memory{parent}/{id}/memory.limit_in_bytes")).unwrap_or_default();
    assert_eq!(lim.trim(), "67108864");
    // pause, top, stats, rename, diff, commit, export
    d.ok(&["pause", &id]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim(), "paused");
    d.ok(&["unpause", &id]);
    assert!(d.ok(&["top", &id]).contains("sleep 300"));
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &id]);
    assert!(stats.contains("64MiB"), "{stats}");
    d.ok(&["rename", &id, "renamed"]);
    d.ok(&["exec", "renamed", "sh", "-c", "echo new > /etc/added"]);
    assert!(d.ok(&["diff", "renamed"]).contains("A /etc/added"));
    d.ok(&["commit", "renamed", "committed:v1"]);
    assert_eq!(d.ok(&["run", "--rm", "--network", "none", "committed:v1", "cat", "/etc/added"]), "new\n");
    let tar = d.docker(&["export", "renamed"]);
    assert!(tar.status.success() && tar.stdout.len() > 100_000, "export is a tar of the rootfs");
    d.ok(&["rm", "-f", "renamed"]);
    // published port on the bridge
    let id = d.ok(&["run", "-d", "-p", "127.0.0.1::8080", img, "sh", "-c", "echo hello-port | nc -l -p 8080"]).trim().to_owned();
    let port = d.ok(&["port", &id, "8080"]);
    let addr = port.trim().lines().next().unwrap_or_default().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{port}");
    assert!(eventually(Duration::from_secs(5), || {
        use std::io::Read;
        let mut s = String::new();
        std::net::TcpStream::connect(&addr).and_then(|mut c| c.read_to_string(&mut s)).is_ok() && s == "hello-port\n"
    }));
    d.ok(&["rm", "-f", &id]);
    d.ok(&["rmi", "committed:v1"]);
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
}
