//! The real `docker` CLI (28.x, API 1.50) against berthd: the scenarios of
//! issue #5's end-to-end suite, as a person would type them. Every test
//! runs in its own network namespace with its own berthd, registry and
//! roots (the fixture is the daemon crate's; see `common`), and cleans up
//! through the fixture's `Drop` even when it fails.

#[path = "../../daemon/tests/common/mod.rs"]
mod common;
mod pty;

use std::time::Duration;

use common::{Daemon, eventually, isolated};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A background docker CLI process, killed if the test ends early.
struct Bg(Option<std::process::Child>);

impl Bg {
    fn spawn(mut cmd: std::process::Command) -> Bg {
        Bg(Some(cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn docker")))
    }

    fn pid(&self) -> i32 {
        self.0.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    fn wait(mut self, what: &str) -> std::process::Output {
        common::wait_output(self.0.take().expect("running"), Duration::from_secs(20), what)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Pulls the registry's busybox and names it `busybox` (no Docker Hub).
fn busybox(d: &Daemon) {
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["tag", &d.image, "busybox"]);
}

#[test]
fn version_and_info() {
    if !isolated("version_and_info") {
        return;
    }
    let d = Daemon::new();
    let v = d.ok(&["version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}/{{.Server.Arch}}"]);
    assert_eq!(v.trim(), format!("1.50 1.24 linux/{}", if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" }));
    let info = d.ok(&["info", "--format", "{{json .}}"]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Driver"], "overlay2");
    assert_eq!(info["OSType"], "linux");
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(info["DockerRootDir"], d.root.path().join("data").display().to_string());
    assert!(info["NCPU"].as_i64().unwrap() >= 1);
    let text = d.ok(&["info"]);
    assert!(text.contains("Storage Driver: overlay2"), "{text}");
}

#[test]
fn run_rm_echo_and_exit_codes() {
    if !isolated("run_rm_echo_and_exit_codes") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    // stdout and stderr are kept apart on the multiplexed stream
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // stdin reaches the container
    let mut c = d.docker_cmd(&["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"]);
    c.stdin(std::process::Stdio::piped());
    let mut bg = Bg::spawn(c);
    {
        use std::io::Write;
        let mut stdin = bg.0.as_mut().and_then(|c| c.stdin.take()).unwrap();
        stdin.write_all(b"shout\n").unwrap();
    }
    let o = bg.wait("docker run -i");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "SHOUT\n", "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("executable file not found"), "{}", stderr(&o));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "--rm containers are gone, even the one that could not start");
}

#[test]
fn detached_logs_follow_and_stop() {
    if !isolated("detached_logs_follow_and_stop") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let id = d.ok(&["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    // logs -f follows until the container stops
    let follower = Bg::spawn(d.docker_cmd(&["logs", "-f", "ticker"]));
    assert!(eventually(Duration::from_secs(10), || d.ok(&["logs", "ticker"]).lines().count() >= 5));
    d.ok(&["stop", "ticker"]);
    let o = follower.wait("docker logs -f");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("tick 0\ntick 1\n"), "{out}");
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker"]).trim(), "exited 0", "the TERM trap ran");
    // --tail and --timestamps
    let tail = d.ok(&["logs", "--tail", "2", "-t", "ticker"]);
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 2, "{tail}");
    assert!(lines[0].len() > 31 && lines[0].as_bytes()[4] == b'-' && lines[0][29..].starts_with("Z tick"), "{tail}");
    // --since in the future: nothing
    assert_eq!(d.ok(&["logs", "--since", "2100-01-01T00:00:00Z", "ticker"]), "");
    d.ok(&["rm", "ticker"]);
}

#[test]
fn exec_it_in_a_pty() {
    if !isolated("exec_it_in_a_pty") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);
    let mut p = pty::Session::spawn(d.docker_cmd(&["exec", "-it", "box", "sh"]));
    p.write("echo $((6*7)); tty\n");
    assert!(p.read_until("42", Duration::from_secs(20)), "{}", p.seen());
    assert!(p.read_until("/dev/pts/", Duration::from_secs(10)), "the exec has a terminal: {}", p.seen());
    p.write("exit 3\n");
    assert_eq!(p.wait(Duration::from_secs(20)).code(), Some(3), "{}", p.seen());
    // non-tty exec keeps stdout and stderr apart and reports the exit code
    let o = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 5"]);
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), stderr(&o)), (Some(5), "out\n".into(), "err\n".into()));
    // -e, -u, -w
    assert_eq!(d.ok(&["exec", "-e", "X=1", "-u", "65534", "-w", "/tmp", "box", "sh", "-c", "echo $X $(id -u) $(pwd)"]).trim(), "1 65534 /tmp");
    // a command that cannot start: the error on the stream, docker's exit code
    let o = d.docker(&["exec", "box", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("executable file not found"), "{}", String::from_utf8_lossy(&o.stdout));
    // exec -d
    d.ok(&["exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg"]);
    assert!(eventually(Duration::from_secs(10), || d.docker(&["exec", "box", "cat", "/tmp/bg"]).stdout == b"bg\n"));
}

#[test]
fn run_it_with_detach_keys_and_attach() {
    if !isolated("run_it_with_detach_keys_and_attach") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let mut p = pty::Session::spawn(d.docker_cmd(&["run", "-it", "--name", "tty", "busybox", "sh"]));
    p.write("echo ready-$((1+1))\n");
    assert!(p.read_until("ready-2", Duration::from_secs(20)), "{}", p.seen());
    // ctrl-p ctrl-q: the client goes, the container stays
    p.write("\x10\x11");
    let st = p.wait(Duration::from_secs(20));
    assert!(st.success(), "detach exits 0: {st} {}", p.seen());
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "tty"]).trim(), "true");
    // attach to a detached -it container, type, exit
    d.ok(&["run", "-dit", "--name", "tty2", "busybox", "sh"]);
    let mut p = pty::Session::spawn(d.docker_cmd(&["attach", "tty2"]));
    // attaching resizes the terminal and the shell redraws its prompt: from
    // then on the attach is live (keys typed earlier went to the local tty)
    assert!(p.read_until("/ #", Duration::from_secs(20)), "{}", p.seen());
    p.write("echo again-$((2+2))\n");
    assert!(p.read_until("again-4", Duration::from_secs(20)), "{}", p.seen());
    p.write("exit 9\n");
    assert_eq!(p.wait(Duration::from_secs(20)).code(), Some(9), "{}", p.seen());
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "tty2"]).trim(), "exited 9");
}

#[test]
fn ps_format_filters_and_inspect() {
    if !isolated("ps_format_filters_and_inspect") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let a = d.ok(&["run", "-d", "--name", "alpha", "-l", "team=a", "-p", "18080:80", "busybox", "sleep", "300"]).trim().to_owned();
    let b = d.ok(&["create", "--name", "beta", "-l", "team=b", "busybox", "true"]).trim().to_owned();
    assert_eq!(d.ok(&["ps", "--format", "{{.ID}} {{.Names}}"]), format!("{} alpha\n", &a[..12]));
    let all = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(all.contains("alpha running") && all.contains("beta created"), "{all}");
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "label=team=b"]).trim(), &b[..12]);
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "name=alp"]).trim(), &a[..12]);
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "status=created"]).trim(), &b[..12]);
    assert_eq!(d.ok(&["ps", "-q", "--no-trunc"]).trim(), a);
    assert_eq!(d.ok(&["ps", "--format", "{{.Ports}}"]).trim(), "0.0.0.0:18080->80/tcp");
    let o = d.docker(&["ps", "--filter", "status=bogus"]);
    assert!(stderr(&o).contains("invalid filter 'status=bogus'"), "{}", stderr(&o));
    let o = d.docker(&["ps", "--filter", "nope=1"]);
    assert!(stderr(&o).contains("invalid filter 'nope'"), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(&d.ok(&["inspect", "alpha"])).unwrap();
    let c = &j[0];
    assert_eq!(c["Id"], a);
    assert_eq!(c["Name"], "/alpha");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["Config"]["Labels"]["team"], "a");
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sleep", "300"]));
    assert_eq!(c["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "18080");
    assert_eq!(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], "18080");
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert!(c["Created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(d.ok(&["port", "alpha"]).trim(), "80/tcp -> 0.0.0.0:18080");
    let o = d.docker(&["inspect", "--type", "container", "nope"]);
    assert!(stderr(&o).contains("No such container: nope"), "{}", stderr(&o));
}

#[test]
fn cp_both_ways_with_directories() {
    if !isolated("cp_both_ways_with_directories") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);
    let dir = d.root.path().join("tree");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.txt"), "a\n").unwrap();
    d.ok(&["cp", dir.to_str().unwrap(), "box:/tmp/"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/tmp/tree/sub/a.txt"]), "a\n");
    d.ok(&["exec", "box", "sh", "-c", "mkdir -p /out/x && echo b > /out/x/b.txt"]);
    let dst = d.root.path().join("back");
    d.ok(&["cp", "box:/out", dst.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dst.join("x/b.txt")).unwrap(), "b\n");
    // to stdout as a tar
    let o = d.docker(&["cp", "box:/out/x/b.txt", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(&o.stdout[..5], b"b.txt", "a tar whose first entry is the file");
    let o = d.docker(&["cp", "box:/nope", d.root.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/nope"), "{}", stderr(&o));
}

#[test]
fn pull_push_rmi_images() {
    if !isolated("pull_push_rmi_images") {
        return;
    }
    let d = Daemon::new();
    let out = d.ok(&["pull", &d.image]);
    assert!(out.contains("Pull complete") && out.contains("Digest: sha256:") && out.contains("Downloaded newer image"), "{out}");
    let out = d.ok(&["pull", &d.image]);
    assert!(out.contains("Image is up to date"), "{out}");
    let target = format!("{}/pushed/busybox:v1", d.registry.addr());
    d.ok(&["tag", &d.image, &target]);
    let out = d.ok(&["push", &target]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    assert!(!d.registry.raw_manifest("pushed/busybox:v1").is_empty());
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&target), "{images}");
    let rmi = d.ok(&["rmi", &target]);
    assert!(rmi.contains(&format!("Untagged: {target}")), "{rmi}");
    // pulled back from the registry it was pushed to
    d.ok(&["pull", "-q", &target]);
    let hist = d.ok(&["history", "--format", "{{.CreatedBy}}", &target]);
    assert!(hist.contains("build_layout"), "{hist}");
    let j: serde_json::Value = serde_json::from_str(&d.ok(&["image", "inspect", &target])).unwrap();
    assert_eq!(j[0]["Os"], "linux");
    assert_eq!(j[0]["RootFS"]["Type"], "layers");
    let o = d.docker(&["pull", &format!("{}/nope:latest", d.registry.addr())]);
    assert!(!o.status.success());
    let o = d.docker(&["rmi", "nope:nope"]);
    assert!(stderr(&o).contains("No such image: nope:nope"), "{}", stderr(&o));
    let o = d.docker(&["push", "127.0.0.1:1/missing:v1"]);
    assert!(stderr(&o).contains("An image does not exist locally"), "{}", stderr(&o));
}

#[test]
fn rm_force_and_rmi_in_use() {
    if !isolated("rm_force_and_rmi_in_use") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "300"]);
    let o = d.docker(&["rm", "busy"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("stop the container before removing or force remove"), "{}", stderr(&o));
    // one of two tags may go; the image itself stays while a container uses it
    let image_id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]).trim().to_owned();
    let o = d.docker(&["rmi", &image_id]);
    assert!(!o.status.success(), "an image a container uses is kept");
    assert!(stderr(&o).contains("conflict"), "{}", stderr(&o));
    d.ok(&["rm", "-f", "busy"]);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    d.ok(&["rmi", "busybox", &d.image]);
    assert_eq!(d.ok(&["images", "-q"]).trim(), "");
    assert!(d.leftovers().is_empty(), "{:#?}", d.leftovers());
}

#[test]
fn events_while_running() {
    if !isolated("events_while_running") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let watcher = Bg::spawn(d.docker_cmd(&["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", "--filter", "type=container"]));
    // the subscription is in place once /info counts it
    assert!(eventually(Duration::from_secs(10), || d.ok(&["info", "--format", "{{.NEventsListener}}"]).trim() == "1"));
    d.ok(&["run", "--rm", "--name", "evt", "busybox", "true"]);
    let since = d.ok(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(watcher.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = watcher.wait("docker events");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for action in ["create", "start", "die", "destroy"] {
        assert!(out.contains(&format!("container {action} evt")), "{action} missing: {out}");
    }
    // the server let go of the stream when the client went away
    assert!(eventually(Duration::from_secs(10), || d.ok(&["info", "--format", "{{.NEventsListener}}"]).trim() == "0"));
    // replay with --since, ending at --until (a second from now)
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let started = std::time::Instant::now();
    let past = d.ok(&["events", "--since", "1970-01-01T00:00:01Z", "--until", &until.to_string(), "--filter", "event=destroy", "--format", "{{.Actor.Attributes.name}}"]);
    assert_eq!(past.trim(), "evt");
    assert!(started.elapsed() < Duration::from_secs(10), "the stream ends at --until");
}

#[test]
fn errors_read_like_dockers() {
    if !isolated("errors_read_like_dockers") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let o = d.docker(&["start", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Error response from daemon: No such container: nope"), "{}", stderr(&o));
    d.ok(&["create", "--name", "taken", "busybox", "true"]);
    let o = d.docker(&["create", "--name", "taken", "busybox", "true"]);
    assert!(stderr(&o).contains("Conflict. The container name \"/taken\" is already in use"), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert!(!o.status.success());
    d.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "300"]);
    let o = d.docker(&["kill", "-s", "NOSIG", "up"]);
    assert!(!o.status.success());
    assert!(stderr(&o).to_lowercase().contains("signal"), "{}", stderr(&o));
    let o = d.docker(&["stop", "-t", "x", "up"]);
    assert!(!o.status.success(), "the CLI refuses a non-numeric timeout itself");
    let o = d.docker(&["build", "."]);
    assert!(!o.status.success());
    let o = d.docker(&["run", "--rm", "--link", "taken:t", "busybox", "true"]);
    assert!(stderr(&o).contains("not supported yet: --link"), "{}", stderr(&o));
}

#[test]
fn lifecycle_verbs() {
    if !isolated("lifecycle_verbs") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "life", "busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]);
    let top = d.ok(&["top", "life"]);
    assert!(top.contains("PID") && top.contains("sleep"), "{top}");
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "life"]);
    assert!(stats.starts_with("life "), "{stats}");
    d.ok(&["pause", "life"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}}", "life"]).trim(), "paused");
    d.ok(&["unpause", "life"]);
    d.ok(&["rename", "life", "renamed"]);
    d.ok(&["exec", "renamed", "sh", "-c", "echo new > /newfile"]);
    let diff = d.ok(&["diff", "renamed"]);
    assert!(diff.contains("A /newfile"), "{diff}");
    d.ok(&["restart", "-t", "5", "renamed"]);
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Running}}", "renamed"]).trim(), "true");
    d.ok(&["kill", "-s", "TERM", "renamed"]);
    assert_eq!(d.ok(&["wait", "renamed"]).trim(), "0");
    let img = d.ok(&["commit", "-c", "CMD [\"cat\", \"/newfile\"]", "renamed", "committed:1"]);
    assert!(img.trim().starts_with("sha256:"), "{img}");
    assert_eq!(d.ok(&["run", "--rm", "committed:1"]), "new\n");
    let export = d.root.path().join("export.tar");
    d.ok(&["export", "-o", export.to_str().unwrap(), "renamed"]);
    assert!(std::fs::metadata(&export).unwrap().len() > 10_000);
    // save, remove, load
    let saved = d.root.path().join("saved.tar");
    d.ok(&["save", "-o", saved.to_str().unwrap(), "committed:1"]);
    d.ok(&["rmi", "committed:1"]);
    let load = d.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(load.contains("Loaded image: committed:1"), "{load}");
    // import a rootfs tar
    let imported = d.ok(&["import", "-c", "CMD [\"echo\", \"imported\"]", export.to_str().unwrap(), "imported:1"]);
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    assert_eq!(d.ok(&["run", "--rm", "imported:1"]), "imported\n");
    let df = d.ok(&["system", "df"]);
    assert!(df.contains("Images") && df.contains("Containers") && df.contains("Local Volumes"), "{df}");
    // volumes
    d.ok(&["volume", "create", "v1"]);
    d.ok(&["run", "--rm", "-v", "v1:/data", "busybox", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(d.ok(&["run", "--rm", "-v", "v1:/data", "busybox", "cat", "/data/f"]), "kept\n");
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "v1");
    assert_eq!(d.ok(&["volume", "inspect", "-f", "{{.Driver}}", "v1"]).trim(), "local");
    d.ok(&["volume", "rm", "v1"]);
    // networks
    let net = d.ok(&["network", "create", "--subnet", "10.99.0.0/24", "--label", "k=v", "appnet"]).trim().to_owned();
    assert_eq!(net.len(), 64);
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for n in ["appnet bridge", "bridge bridge", "host host", "none null"] {
        assert!(ls.contains(n), "{n} missing: {ls}");
    }
    assert_eq!(d.ok(&["network", "ls", "-q", "--filter", "label=k=v"]).trim(), &net[..12]);
    assert_eq!(d.ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "appnet"]).trim(), "10.99.0.0/24");
    d.ok(&["run", "-d", "--name", "onnet", "--network", "appnet", "busybox", "sleep", "300"]);
    let ip = d.ok(&["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "onnet"]);
    assert!(ip.trim().starts_with("10.99.0."), "{ip}");
    let o = d.docker(&["network", "rm", "appnet"]);
    assert!(!o.status.success(), "a network in use stays");
    d.ok(&["rm", "-f", "onnet"]);
    d.ok(&["network", "rm", "appnet"]);
    let o = d.docker(&["network", "inspect", "appnet"]);
    assert!(!o.status.success());
    // prunes
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    d.ok(&["image", "prune", "-f"]);
}

#[test]
fn attach_after_detaching_from_run_it_reaches_the_container() {
    if !isolated("attach_after_detaching_from_run_it_reaches_the_container") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    let mut p = pty::Session::spawn(d.docker_cmd(&["run", "-it", "--name", "tty", "busybox", "sh"]));
    p.write("echo ready-$((1+1))\n");
    assert!(p.read_until("ready-2", Duration::from_secs(20)), "{}", p.seen());
    p.write("\x10\x11");
    assert!(p.wait(Duration::from_secs(20)).success(), "{}", p.seen());
    // the same container, attached again: what is typed reaches the shell
    let mut p = pty::Session::spawn(d.docker_cmd(&["attach", "tty"]));
    assert!(p.read_until("/ #", Duration::from_secs(20)), "{}", p.seen());
    p.write("echo again-$((2+2))\n");
    assert!(p.read_until("again-4", Duration::from_secs(20)), "typing after a detach reached nothing:\n{}", p.seen());
    // and once more after a second detach
    p.write("\x10\x11");
    // the docker CLI's attach (unlike its run) reports the detach as the
    // error "read escape sequence", exit 1: the client decides, not berthd
    let st = p.wait(Duration::from_secs(20));
    assert_eq!(st.code(), Some(1), "{}", p.seen());
    assert!(p.seen().contains("read escape sequence"), "{}", p.seen());
    let mut p = pty::Session::spawn(d.docker_cmd(&["attach", "tty"]));
    assert!(p.read_until("/ #", Duration::from_secs(20)), "{}", p.seen());
    p.write("exit 5\n");
    assert_eq!(p.wait(Duration::from_secs(20)).code(), Some(5), "{}", p.seen());
    assert_eq!(d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "tty"]).trim(), "exited 5");
}

#[test]
fn exec_errors_exit_like_docker() {
    if !isolated("exec_errors_exit_like_docker") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);
    let out = |o: &std::process::Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    // docker: `unable to find user nosuchuser: no matching entries in passwd file`, exit 126
    let o = d.docker(&["exec", "-u", "nosuchuser", "box", "true"]);
    assert_eq!(o.status.code(), Some(126), "{}", out(&o));
    assert!(out(&o).contains("unable to find user nosuchuser: no matching entries in passwd file"), "{}", out(&o));
    assert!(!out(&o).contains("invalid argument"), "docker's text has no prefix: {}", out(&o));
    let o = d.docker(&["exec", "-w", "/nowhere", "box", "true"]);
    assert_eq!(o.status.code(), Some(126), "{}", out(&o));
    let o = d.docker(&["exec", "box", "/bin/nosuch"]);
    assert_eq!(o.status.code(), Some(127), "{}", out(&o));
    // with a tty too
    let o = d.docker(&["exec", "-t", "-u", "nosuchuser", "box", "true"]);
    assert_eq!(o.status.code(), Some(126), "{}", out(&o));
}

#[test]
fn diff_hides_mount_points_and_container_files() {
    if !isolated("diff_hides_mount_points_and_container_files") {
        return;
    }
    let d = Daemon::new();
    busybox(&d);
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "300"]);
    assert_eq!(d.ok(&["diff", "box"]), "", "a fresh container has no changes");
    d.ok(&["exec", "box", "sh", "-c", "touch /newfile && mkdir -p /tmp/d && echo x > /tmp/d/f"]);
    assert_eq!(d.ok(&["diff", "box"]), "A /newfile\nC /tmp\nA /tmp/d\nA /tmp/d/f\n");
    // a change in /etc shows /etc, but not the files berth put there
    d.ok(&["exec", "box", "sh", "-c", "echo x:x:5:5::/:/bin/sh >> /etc/passwd"]);
    let diff = d.ok(&["diff", "box"]);
    assert!(diff.contains("C /etc\nC /etc/passwd\n"), "{diff}");
    for hidden in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev", "/proc", "/sys"] {
        assert!(!diff.lines().any(|l| l[2..] == *hidden), "{hidden} listed: {diff}");
    }
    // the same with --init
    d.ok(&["run", "-d", "--init", "--name", "inited", "busybox", "sleep", "300"]);
    assert_eq!(d.ok(&["diff", "inited"]), "");
}

#[test]
fn rmi_of_one_tag_leaves_no_none_row() {
    if !isolated("rmi_of_one_tag_leaves_no_none_row") {
        return;
    }
    let d = Daemon::new();
    d.ok(&["pull", "-q", &d.image]);
    d.ok(&["tag", &d.image, "busybox:copy"]);
    let repo = d.image.trim_end_matches(":latest").to_owned();
    let digest = d.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", "busybox:copy"]).trim().to_owned();
    assert!(digest.starts_with(&format!("{repo}@sha256:")), "{digest}");
    let rmi = d.ok(&["rmi", &d.image]);
    assert_eq!(rmi, format!("Untagged: {}\nUntagged: {digest}\n", d.image));
    // docker: the repository's digest went with its last tag
    assert_eq!(d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]), "busybox:copy\n");
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", "busybox:copy"]).trim(), "[]");
}

#[test]
fn login_checks_credentials_against_the_registry() {
    if !isolated("login_checks_credentials_against_the_registry") {
        return;
    }
    let d = Daemon::new();
    let secure = berth_test_support::registry::Registry::with(berth_test_support::registry::Options {
        basic_auth: Some(("tester".into(), "s3cret".into())),
        tls: false,
    });
    secure.push_layout(berth_test_support::registry::busybox_layout().path(), "busybox:latest");
    let reg = secure.addr().to_owned();
    let login = |password: &str| {
        let mut c = d.docker_cmd(&["login", "-u", "tester", "--password-stdin", &reg]);
        c.stdin(std::process::Stdio::piped());
        let mut bg = Bg::spawn(c);
        {
            use std::io::Write;
            let mut stdin = bg.0.as_mut().and_then(|c| c.stdin.take()).unwrap();
            stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
        }
        bg.wait("docker login")
    };
    let o = login("wrong");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        format!("Error response from daemon: login attempt to http://{reg}/v2/ failed with status: 401 Unauthorized"),
    );
    let o = login("s3cret");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Login Succeeded");
    // the CLI stored the credentials and sends them with the pull
    d.ok(&["pull", "-q", &format!("{reg}/busybox:latest")]);
    d.ok(&["logout", &reg]);
    // the API answer itself
    let body = r#"{"username":"tester","password":"s3cret","serveraddress":"REG"}"#.replace("REG", &reg);
    let out = std::process::Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&d.sock)
        .args(["-H", "Content-Type: application/json", "-d", &body, "http://docker/v1.50/auth"])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"Status":"Login Succeeded","IdentityToken":""}"#);
}
