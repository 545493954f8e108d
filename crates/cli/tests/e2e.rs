//! The scenarios, each run through `berth` and through the real
//! `docker` CLI against the same berthd, comparing what a person (or a
//! script) sees: output, errors, exit codes.

mod common;

use std::time::{Duration, Instant};

use common::{Env, Out, as_berth, is_id};

/// Runs the same arguments through docker, then berth.
fn both(env: &Env, args: &[&str]) -> (Out, Out) {
    (env.docker(args), env.berth(args))
}

/// Same exit code, same stdout, same stderr (docker's names replaced).
#[track_caller]
fn assert_same(d: &Out, b: &Out) {
    assert_eq!(
        d.code,
        b.code,
        "exit codes differ\n{}\n{}",
        d.describe(),
        b.describe()
    );
    assert_eq!(
        d.stdout,
        b.stdout,
        "stdout differs\n{}\n{}",
        d.describe(),
        b.describe()
    );
    assert_eq!(
        as_berth(&d.stderr),
        b.stderr,
        "stderr differs\n{}\n{}",
        d.describe(),
        b.describe()
    );
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_rm_pulls_prints_and_exits_like_docker() {
    if !common::isolated("run_rm_pulls_prints_and_exits_like_docker") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    // the first run pulls: docker's message, then the progress, on stderr
    let b = env.berth(&["run", "--rm", &img, "echo", "hello"]);
    b.ok();
    assert_eq!(b.stdout, "hello\n");
    assert!(
        b.stderr
            .starts_with(&format!("Unable to find image '{img}' locally\n")),
        "{}",
        b.describe()
    );
    assert!(
        b.stderr
            .contains(&format!("Status: Downloaded newer image for {img}")),
        "{}",
        b.describe()
    );
    // docker sees the same pull after the image is gone again
    env.berth(&["rmi", &img]).ok();
    let d = env.docker(&["run", "--rm", &img, "echo", "hello"]);
    assert_eq!(d.stdout, "hello\n", "{}", d.describe());
    assert_eq!(
        as_berth(&d.stderr),
        b.stderr,
        "pull output differs\n{}\n{}",
        d.describe(),
        b.describe()
    );

    // output streams and the exit code are the container's
    let (d, b) = both(
        &env,
        &[
            "run",
            "--rm",
            &img,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_same(&d, &b);
    assert_eq!(
        (b.code, b.stdout.as_str(), b.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    // stdin reaches the container with -i
    let b = env.with_stdin(
        false,
        &["run", "--rm", "-i", &img, "sh", "-c", "tr a-z A-Z"],
        b"piped\n",
    );
    assert_eq!(
        (b.code, b.stdout.as_str()),
        (0, "PIPED\n"),
        "{}",
        b.describe()
    );
    let d = env.with_stdin(
        true,
        &["run", "--rm", "-i", &img, "sh", "-c", "tr a-z A-Z"],
        b"piped\n",
    );
    assert_same(&d, &b);
    // --rm leaves nothing behind
    wait_until("--rm containers to go", Duration::from_secs(10), || {
        env.all_containers().is_empty()
    });
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
}

#[test]
fn detached_logs_follow_and_stop() {
    if !common::isolated("detached_logs_follow_and_stop") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["pull", "-q", &img]).ok();
    let script = "echo one; sleep 0.3; echo two >&2; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done";
    for (docker, name) in [(false, "web-b"), (true, "web-d")] {
        let args = [
            "run",
            "-d",
            "--name",
            name,
            img.as_str(),
            "sh",
            "-c",
            script,
        ];
        let o = if docker {
            env.docker(&args)
        } else {
            env.berth(&args)
        };
        o.ok();
        assert!(is_id(&o.stdout), "run -d prints the ID: {}", o.describe());
        assert!(o.stderr.is_empty(), "{}", o.describe());
    }
    wait_until(
        "both containers to log 'two'",
        Duration::from_secs(10),
        || {
            ["web-b", "web-d"]
                .iter()
                .all(|n| env.berth(&["logs", n]).stderr.contains("two"))
        },
    );
    // logs -f of both containers, through both CLIs, end when the container stops
    let follows: Vec<_> = [
        (false, "web-b"),
        (true, "web-b"),
        (false, "web-d"),
        (true, "web-d"),
    ]
    .iter()
    .map(|(docker, n)| env.spawn(*docker, &["logs", "-f", n]))
    .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (d, b) = (
        env.docker(&["stop", "web-d"]),
        env.berth(&["stop", "web-b"]),
    );
    assert_eq!(
        (d.code, d.stdout.as_str()),
        (0, "web-d\n"),
        "{}",
        d.describe()
    );
    assert_eq!(
        (b.code, b.stdout.as_str()),
        (0, "web-b\n"),
        "{}",
        b.describe()
    );
    for f in follows {
        let o = f.wait(Duration::from_secs(15));
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.as_str()),
            (0, "one\nbye\n", "two\n"),
            "{}",
            o.describe()
        );
    }
    let (d, b) = both(
        &env,
        &[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}",
            "web-b",
            "web-d",
        ],
    );
    assert_same(&d, &b);
    assert_eq!(b.stdout, "exited 0 false\nexited 0 false\n");
    // --tail and --timestamps
    let (d, b) = both(&env, &["logs", "--tail", "1", "web-b"]);
    assert_same(&d, &b);
    let b = env.berth(&["logs", "-t", "web-b"]);
    assert!(
        b.stdout
            .lines()
            .all(|l| l.len() > 31 && l.as_bytes()[4] == b'-' && l.contains('T')),
        "{}",
        b.describe()
    );
}

/// Runs a shell line in a detached tmux session of its own (a real pty),
/// exposing the screen; killed on drop.
struct Tmux {
    name: String,
    /// a private server: never a tmux of the host's (outside our netns)
    socket: std::path::PathBuf,
}

impl Tmux {
    fn start(env: &Env, line: &str) -> Tmux {
        let name = format!("berth-e2e-{}-{}", std::process::id(), rand_suffix());
        let socket = env.dir.path().join(format!("tmux-{name}"));
        let mut cmd = std::process::Command::new("tmux");
        cmd.arg("-S").arg(&socket).args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "100",
            "-y",
            "30",
        ]);
        for (k, v) in env.vars() {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg(line);
        let st = cmd.status().expect("tmux (apt-get install tmux)");
        assert!(st.success(), "tmux new-session failed");
        Tmux { name, socket }
    }

    fn keys(&self, keys: &[&str]) {
        let st = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let o = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never appeared on the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 % 1_000_000_007)
        .unwrap_or(0)
}

#[test]
fn exec_it_in_a_terminal_resizes_and_returns_the_exit_code() {
    if !common::isolated("exec_it_in_a_terminal_resizes_and_returns_the_exit_code") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["run", "-d", "--name", "box", &img, "sleep", "1000"])
        .ok();
    for bin in [common::berth_bin(), common::docker_bin()] {
        let status = env.dir.path().join(format!(
            "status-{}",
            bin.file_name().unwrap().to_string_lossy()
        ));
        let t = Tmux::start(
            &env,
            &format!(
                "{} exec -it box sh; echo EXIT=$? > {}; sleep 100",
                bin.display(),
                status.display()
            ),
        );
        t.wait_for("/ #");
        t.keys(&["echo $((6*7))", "Enter"]);
        t.wait_for("42");
        // the pty has the window's size
        t.keys(&["stty size", "Enter"]);
        t.wait_for("30 100");
        t.keys(&["exit 3", "Enter"]);
        wait_until("the exit status", Duration::from_secs(15), || {
            std::fs::read_to_string(&status).is_ok_and(|s| s.contains("EXIT="))
        });
        assert_eq!(
            std::fs::read_to_string(&status).unwrap().trim(),
            "EXIT=3",
            "{}",
            bin.display()
        );
    }
    // run -it, then Ctrl-P Ctrl-Q: detached, the container keeps running
    let status = env.dir.path().join("status-detach");
    let t = Tmux::start(
        &env,
        &format!(
            "{} run -it --name tty {img} sh; echo EXIT=$? > {}; sleep 100",
            common::berth_bin().display(),
            status.display()
        ),
    );
    t.wait_for("/ #");
    t.keys(&["C-p", "C-q"]);
    wait_until("berth to detach", Duration::from_secs(15), || {
        std::fs::read_to_string(&status).is_ok()
    });
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "EXIT=0");
    let o = env.berth(&["inspect", "-f", "{{.State.Running}} {{.Config.Tty}}", "tty"]);
    assert_eq!(o.stdout, "true true\n", "{}", o.describe());
}

#[test]
fn ps_and_inspect_formats_match_docker() {
    if !common::isolated("ps_and_inspect_formats_match_docker") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["pull", "-q", &img]).ok();
    env.berth(&[
        "run", "-d", "--name", "alpha", "-l", "x=1", "-l", "team=db", &img, "sleep", "1000",
    ])
    .ok();
    env.docker(&["run", "--name", "beta", "-l", "x=2", &img, "true"])
        .ok();
    for args in [
        vec![
            "ps",
            "--format",
            "{{.Names}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Label \"x\"}}|{{.Labels}}|{{.Ports}}|{{.Mounts}}",
        ],
        vec!["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Size}}"],
        vec![
            "ps",
            "-a",
            "--format",
            "table {{.Names}}\t{{.Image}}\t{{.State}}",
        ],
        vec![
            "ps",
            "-a",
            "--filter",
            "label=x=2",
            "--format",
            "{{.Names}}",
        ],
        vec!["ps", "-a", "--filter", "name=alp", "-q"],
        vec!["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
        vec!["ps", "-n", "1", "--format", "{{.Names}}"],
        vec!["ps", "--format", "{{.Nope}}"],
        vec!["ps", "--format", "{{.Names"],
        vec!["ps", "--filter", "nope"],
    ] {
        let (d, b) = both(&env, &args);
        assert_same(&d, &b);
    }
    // the JSON lines carry the same keys and values (times aside)
    let (d, b) = both(&env, &["ps", "-a", "--format", "{{json .}}"]);
    let strip = |s: &str| -> Vec<serde_json::Value> {
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for k in ["RunningFor", "Status"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect()
    };
    assert_eq!(
        strip(&d.stdout),
        strip(&b.stdout),
        "{}\n{}",
        d.describe(),
        b.describe()
    );
    // the default table has docker's columns
    let b = env.berth(&["ps", "-a"]);
    assert!(
        b.stdout.starts_with("CONTAINER ID   IMAGE"),
        "{}",
        b.describe()
    );
    assert_eq!(
        b.stdout.lines().next(),
        env.docker(&["ps", "-a"]).stdout.lines().next()
    );

    // inspect: the same document, templates, errors
    for args in [
        vec!["inspect", "alpha"],
        vec![
            "inspect",
            "--format",
            "{{.State.Running}} {{index .Config.Labels \"team\"}} {{json .Config.Cmd}} {{.Name}}",
            "alpha",
            "beta",
        ],
        vec![
            "container",
            "inspect",
            "-f",
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
            "alpha",
        ],
        vec!["inspect", "--format", "json", "beta"],
        vec![
            "inspect",
            "--format",
            "{{.ID}} {{.HostConfig.DNS}} {{.HostConfig.NanoCPUs}}",
            "beta",
        ],
        vec!["container", "inspect", "--format", "{{.Id}}", "beta"],
        vec!["inspect", "nosuch"],
        vec!["inspect", "-f", "{{.Name}}", "alpha", "nosuch"],
        vec!["container", "inspect", "nosuch"],
        vec!["inspect", "--format", "{{.Nope}}", "alpha"],
        vec!["inspect", "--type", "image", "-f", "{{.Os}}", &img],
        vec![
            "image",
            "inspect",
            "-f",
            "{{.Architecture}} {{json .RepoTags}}",
            &img,
        ],
    ] {
        let (d, b) = both(&env, &args);
        assert_same(&d, &b);
    }
}

#[test]
fn cp_both_ways_like_docker() {
    if !common::isolated("cp_both_ways_like_docker") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["run", "-d", "--name", "files", &img, "sleep", "1000"])
        .ok();
    let local = env.dir.path().join("local");
    std::fs::create_dir_all(local.join("tree/sub")).unwrap();
    std::fs::write(local.join("file.txt"), "data\n").unwrap();
    std::fs::write(local.join("tree/sub/deep.txt"), "deep\n").unwrap();
    let l = |p: &str| local.join(p).display().to_string();
    // into the container
    for (tool, suffix) in [(false, "b"), (true, "d")] {
        let run = |args: &[&str]| {
            if tool {
                env.docker(args)
            } else {
                env.berth(args)
            }
        };
        run(&[
            "cp",
            "-q",
            &l("file.txt"),
            &format!("files:/tmp/file-{suffix}"),
        ])
        .ok();
        run(&["cp", "-q", &l("tree"), &format!("files:/tmp/tree-{suffix}")]).ok();
        let o = env.berth(&[
            "exec",
            "files",
            "cat",
            &format!("/tmp/file-{suffix}"),
            &format!("/tmp/tree-{suffix}/sub/deep.txt"),
        ]);
        assert_eq!(o.stdout, "data\ndeep\n", "{}", o.describe());
    }
    // out of it: the same files
    for (tool, suffix) in [(false, "b"), (true, "d")] {
        let run = |args: &[&str]| {
            if tool {
                env.docker(args)
            } else {
                env.berth(args)
            }
        };
        run(&[
            "cp",
            "-q",
            "files:/etc/passwd",
            &l(&format!("passwd-{suffix}")),
        ])
        .ok();
        run(&[
            "cp",
            "-q",
            "files:/tmp/tree-b",
            &l(&format!("out-{suffix}")),
        ])
        .ok();
    }
    assert_eq!(
        std::fs::read(local.join("passwd-b")).unwrap(),
        std::fs::read(local.join("passwd-d")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out-b/sub/deep.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out-d/sub/deep.txt")).unwrap(),
        "deep\n"
    );
    // into an existing directory, and a tar to stdout
    env.berth(&["cp", "-q", "files:/etc/passwd", &l("tree")])
        .ok();
    assert!(local.join("tree/passwd").is_file());
    let (d, b) = both(&env, &["cp", "files:/etc/passwd", "-"]);
    assert_eq!(d.code, 0);
    assert_eq!(d.stdout, b.stdout, "tar streams differ");
    // errors
    let x = l("x");
    for args in [
        vec!["cp".to_owned(), "files:/nonexistent".to_owned(), x.clone()],
        vec!["cp".into(), "nosuch:/etc".into(), x.clone()],
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (d, b) = both(&env, &a);
        assert_eq!(d.code, b.code, "{}\n{}", d.describe(), b.describe());
        assert_eq!(as_berth(&d.stderr), b.stderr);
    }
}

#[test]
fn pull_push_tag_rmi_against_a_registry() {
    if !common::isolated("pull_push_tag_rmi_against_a_registry") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    let reg = env.registry.addr().to_owned();
    // pull: same lines through both CLIs
    let b = env.berth(&["pull", &img]);
    b.ok();
    assert!(
        b.stdout.ends_with(&format!(
            "Status: Downloaded newer image for {img}\n{img}\n"
        )),
        "{}",
        b.describe()
    );
    env.berth(&["rmi", &img]).ok();
    let d = env.docker(&["pull", &img]);
    assert_same(&d, &b);
    let (d, b) = both(&env, &["pull", &img]);
    assert_same(&d, &b);
    assert!(b.stdout.contains("Image is up to date"), "{}", b.describe());
    // tag, push, remove, pull back
    let pushed_b = format!("{reg}/pushed-b:1");
    let pushed_d = format!("{reg}/pushed-d:1");
    env.berth(&["tag", &img, &pushed_b]).ok();
    env.docker(&["tag", &img, &pushed_d]).ok();
    let b = env.berth(&["push", &pushed_b]);
    b.ok();
    assert!(
        b.stdout
            .contains(&format!("The push refers to repository [{reg}/pushed-b]")),
        "{}",
        b.describe()
    );
    assert!(b.stdout.contains("1: digest: sha256:"), "{}", b.describe());
    let d = env.docker(&["push", &pushed_d]);
    d.ok();
    assert_eq!(d.stdout.replace("pushed-d", "pushed-b"), b.stdout);
    let (d, b) = (
        env.docker(&["rmi", &pushed_d]),
        env.berth(&["rmi", &pushed_b]),
    );
    // the repository's digest goes with its last tag: both lines name the repo
    assert_eq!(
        d.stdout.replace("pushed-d", "pushed-b"),
        b.stdout,
        "{}\n{}",
        d.describe(),
        b.describe()
    );
    assert!(
        b.stdout.starts_with(&format!("Untagged: {pushed_b}\n")),
        "{}",
        b.describe()
    );
    env.berth(&["pull", "-q", &pushed_b]).ok();
    let o = env.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(o.stdout.lines().any(|l| l == pushed_b), "{}", o.describe());
    // docker lists the tags of one image in Go's (random) map order: compare as sets
    let (d, b) = both(
        &env,
        &[
            "images",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}",
        ],
    );
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s.lines().collect();
        v.sort();
        v.join("\n")
    };
    assert_eq!(
        (d.code, sorted(&d.stdout)),
        (b.code, sorted(&b.stdout)),
        "{}\n{}",
        d.describe(),
        b.describe()
    );
    let (d, b) = both(
        &env,
        &["history", "--format", "{{.CreatedBy}}|{{.Size}}", &img],
    );
    assert_same(&d, &b);
    // errors
    for args in [
        vec!["pull", &format!("{reg}/nosuch:latest")],
        vec!["rmi", "nosuch"],
        vec!["tag", "nosuch", "x:1"],
        vec!["pull", "Bad"],
        vec!["push", &format!("{reg}/notlocal:1")],
    ] {
        let a: Vec<&str> = args.iter().map(|s| s.as_ref()).collect();
        let (d, b) = both(&env, &a);
        assert_same(&d, &b);
    }
}

#[test]
fn rm_f_and_errors_match_docker() {
    if !common::isolated("rm_f_and_errors_match_docker") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["pull", "-q", &img]).ok();
    env.berth(&["run", "-d", "--name", "gone-b", &img, "sleep", "1000"])
        .ok();
    env.berth(&["run", "-d", "--name", "gone-d", &img, "sleep", "1000"])
        .ok();
    let (d, b) = (
        env.docker(&["rm", "-f", "gone-d"]),
        env.berth(&["rm", "-f", "gone-b"]),
    );
    assert_eq!((d.code, d.stdout.as_str()), (0, "gone-d\n"));
    assert_eq!((b.code, b.stdout.as_str()), (0, "gone-b\n"));
    assert!(env.all_containers().is_empty());
    // errors, each through both CLIs
    env.berth(&["create", "--name", "taken", &img, "true"]).ok();
    let reg = env.registry.addr().to_owned();
    let cases: Vec<Vec<String>> = vec![
        vec!["rm".into(), "-f".into(), "nosuch".into()],
        vec!["rm".into(), "nosuch".into()],
        vec!["stop".into(), "nosuch".into()],
        vec!["start".into(), "nosuch".into()],
        vec!["kill".into(), "nosuch".into()],
        vec!["logs".into(), "nosuch".into()],
        vec!["exec".into(), "nosuch".into(), "true".into()],
        vec!["exec".into(), "taken".into(), "true".into()],
        vec![
            "run".into(),
            "--name".into(),
            "taken".into(),
            img.clone(),
            "true".into(),
        ],
        vec!["run".into(), format!("{reg}/nosuch:latest")],
        vec!["run".into(), "-m".into(), "abc".into(), img.clone()],
        vec!["run".into(), "--foo".into(), img.clone()],
        vec!["run".into()],
        vec![
            "run".into(),
            "--pull".into(),
            "sometimes".into(),
            img.clone(),
        ],
        vec![
            "run".into(),
            "--rm".into(),
            "--restart".into(),
            "always".into(),
            img.clone(),
        ],
        vec!["run".into(), "-p".into(), "80:x".into(), img.clone()],
        vec!["run".into(), img.clone(), "/nonexistent".into()],
        vec!["run".into(), img.clone(), "/etc".into()],
        vec!["ps".into(), "extra".into()],
        vec!["nosuchcommand".into()],
        vec!["rename".into(), "nosuch".into(), "x".into()],
        vec!["wait".into(), "nosuch".into()],
        vec!["port".into(), "taken".into(), "80".into()],
    ];
    for c in &cases {
        let a: Vec<&str> = c.iter().map(String::as_str).collect();
        let (d, b) = both(&env, &a);
        assert_same(&d, &b);
    }
    assert_eq!(env.berth(&["run", &img, "/nonexistent"]).code, 127);
    assert_eq!(env.berth(&["run", &img, "/etc"]).code, 126);
    assert_eq!(env.berth(&["run", "-m", "abc", &img]).code, 125);
}

#[test]
fn everyday_commands_match_docker() {
    if !common::isolated("everyday_commands_match_docker") {
        return;
    }
    let env = Env::new();
    let img = env.busybox.clone();
    env.berth(&["pull", "-q", &img]).ok();
    env.berth(&[
        "run",
        "-d",
        "--name",
        "svc",
        "-p",
        "18080:80",
        "-e",
        "A=1",
        &img,
        "sh",
        "-c",
        "echo hi > /tmp/made; sleep 1000",
    ])
    .ok();
    wait_until("the file", Duration::from_secs(10), || {
        env.berth(&["exec", "svc", "cat", "/tmp/made"]).stdout == "hi\n"
    });
    for args in [
        vec!["port", "svc"],
        vec!["port", "svc", "80"],
        vec!["port", "svc", "81"],
        vec!["diff", "svc"],
        vec!["top", "svc"],
        vec![
            "exec",
            "-e",
            "B=2",
            "-w",
            "/tmp",
            "svc",
            "sh",
            "-c",
            "echo $A $B $(pwd)",
        ],
        vec!["exec", "svc", "sh", "-c", "exit 7"],
        vec!["exec", "-u", "nobody", "svc", "id", "-u"],
        vec!["volume", "ls"],
        vec![
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}}",
        ],
        vec![
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.Images}} {{.OSType}}",
        ],
        vec![
            "version",
            "--format",
            "{{.Server.Version}} {{.Server.Os}} {{.Server.APIVersion}}",
        ],
    ] {
        let (d, b) = both(&env, &args);
        assert_same(&d, &b);
    }
    // stats: one sample with the pids of the container
    let b = env.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "svc",
    ]);
    b.ok();
    assert!(b.stdout.starts_with("svc "), "{}", b.describe());
    let (d, b) = both(
        &env,
        &["stats", "--no-stream", "--format", "{{.Name}}", "svc"],
    );
    assert_same(&d, &b);
    // pause, unpause, restart, kill, wait, rename
    for (args, out) in [
        (vec!["pause", "svc"], "svc\n"),
        (vec!["unpause", "svc"], "svc\n"),
        (vec!["restart", "-t", "1", "svc"], "svc\n"),
        (vec!["kill", "svc"], "svc\n"),
    ] {
        let b = env.berth(&args);
        assert_eq!((b.code, b.stdout.as_str()), (0, out), "{}", b.describe());
    }
    let b = env.berth(&["wait", "svc"]);
    assert_eq!(
        (b.code, b.stdout.as_str()),
        (0, "137\n"),
        "{}",
        b.describe()
    );
    env.berth(&["rename", "svc", "svc2"]).ok();
    assert_eq!(
        env.berth(&["inspect", "-f", "{{.Name}}", "svc2"]).stdout,
        "/svc2\n"
    );
    // commit, export, save, load, import
    let b = env.berth(&[
        "commit",
        "-m",
        "msg",
        "-c",
        "ENV X=1",
        "svc2",
        "committed:1",
    ]);
    b.ok();
    assert!(b.stdout.starts_with("sha256:"), "{}", b.describe());
    let (d, b) = both(
        &env,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Comment}} {{.Config.Env}}",
            "committed:1",
        ],
    );
    assert_same(&d, &b);
    let tar = env.dir.path().join("export.tar");
    env.berth(&["export", "-o", tar.to_str().unwrap(), "svc2"])
        .ok();
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .any(|l| l.trim_start_matches("./") == "tmp/made")
    );
    let saved = env.dir.path().join("saved.tar");
    env.berth(&["save", "-o", saved.to_str().unwrap(), "committed:1"])
        .ok();
    env.berth(&["rmi", "committed:1"]).ok();
    let b = env.berth(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(
        (b.code, b.stdout.as_str()),
        (0, "Loaded image: committed:1\n"),
        "{}",
        b.describe()
    );
    // berthd refuses what it does not do, and berth shows it (docker, still
    // writing the upload, only reports a broken pipe)
    let b = env.berth(&[
        "import",
        "-m",
        "imported",
        tar.to_str().unwrap(),
        "imported:0",
    ]);
    assert_eq!(
        (b.code, b.stderr.as_str()),
        (
            1,
            "Error response from daemon: not supported yet: import --message\n"
        ),
        "{}",
        b.describe()
    );
    let b = env.berth(&["import", tar.to_str().unwrap(), "imported:1"]);
    assert!(
        b.code == 0 && b.stdout.starts_with("sha256:"),
        "{}",
        b.describe()
    );
    let (d, b) = both(
        &env,
        &[
            "history",
            "--format",
            "{{.CreatedBy}} {{.Size}}",
            "imported:1",
        ],
    );
    assert_same(&d, &b);
    // volumes
    let (d, b) = (
        env.docker(&["volume", "create", "vd"]),
        env.berth(&["volume", "create", "vb"]),
    );
    assert_eq!((d.stdout.as_str(), b.stdout.as_str()), ("vd\n", "vb\n"));
    let (d, b) = both(&env, &["volume", "ls"]);
    assert_same(&d, &b);
    let (d, b) = both(
        &env,
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}}",
            "vb",
            "vd",
        ],
    );
    assert_same(&d, &b);
    let b = env.berth(&[
        "run",
        "--rm",
        "-v",
        "vb:/data",
        &img,
        "sh",
        "-c",
        "echo v > /data/f && cat /data/f",
    ]);
    assert_eq!(b.stdout, "v\n", "{}", b.describe());
    let (d, b) = (
        env.docker(&["volume", "rm", "vd"]),
        env.berth(&["volume", "rm", "vb"]),
    );
    assert_eq!((d.stdout.as_str(), b.stdout.as_str()), ("vd\n", "vb\n"));
    // events between two instants
    let since = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1
    );
    env.berth(&["run", "--rm", "--name", "evt", &img, "true"])
        .ok();
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let args = [
        "events",
        "--since",
        since.as_str(),
        "--until",
        until.as_str(),
        "--filter",
        "container=evt",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ];
    let (d, b) = both(&env, &args);
    assert_same(&d, &b);
    assert!(b.stdout.contains("container start evt"), "{}", b.describe());
    // everything removed, nothing left under berthd's roots
    let ids = env.all_containers();
    let mut rm = vec!["rm", "-f", "-v"];
    rm.extend(ids.iter().map(String::as_str));
    env.berth(&rm).ok();
    wait_until("no leftovers", Duration::from_secs(15), || {
        env.leftovers().is_empty()
    });
}

#[test]
fn login_and_registry_auth_errors_match_docker() {
    if !common::isolated("login_and_registry_auth_errors_match_docker") {
        return;
    }
    let env = Env::new();
    let secure =
        berth_test_support::registry::Registry::with(berth_test_support::registry::Options {
            basic_auth: Some(("tester".into(), "s3cret".into())),
            tls: false,
        });
    secure.push_layout(
        berth_test_support::registry::busybox_layout().path(),
        "busybox:latest",
    );
    let reg = secure.addr().to_owned();
    let img = format!("{reg}/busybox:latest");
    // no credentials: the registry refuses, through both CLIs alike
    let (d, b) = both(&env, &["pull", &img]);
    assert_eq!(
        (d.code, as_berth(&d.stderr)),
        (b.code, b.stderr.clone()),
        "{}\n{}",
        d.describe(),
        b.describe()
    );
    assert_ne!(b.code, 0);
    // a wrong password: berthd asks the registry (POST /auth) and both
    // CLIs show its refusal in docker's words, storing nothing
    let login = |docker: bool, password: &str| {
        env.with_stdin(
            docker,
            &["login", "-u", "tester", "--password-stdin", &reg],
            format!("{password}\n").as_bytes(),
        )
    };
    let (d, b) = (login(true, "wrong"), login(false, "wrong"));
    assert_eq!(
        (d.code, &d.stderr),
        (b.code, &b.stderr),
        "{}\n{}",
        d.describe(),
        b.describe()
    );
    assert_eq!(
        (b.code, b.stderr.as_str()),
        (
            1,
            format!(
                "Error response from daemon: login attempt to http://{reg}/v2/ failed with status: 401 Unauthorized\n"
            )
            .as_str()
        ),
        "{}",
        b.describe()
    );
    assert!(
        !env.dir.path().join("config/config.json").exists(),
        "nothing stored"
    );
    // the right one: both log in, and pulls use what was stored
    for docker in [true, false] {
        let o = login(docker, "s3cret");
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, "Login Succeeded\n"),
            "{}",
            o.describe()
        );
        let config =
            std::fs::read_to_string(env.dir.path().join("config/config.json")).unwrap();
        assert!(config.contains(&reg), "{config}");
        env.berth(&["pull", "-q", &img]).ok();
        env.berth(&["rmi", &img]).ok();
        let o = env.berth(&["logout", &reg]);
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, format!("Removing login credentials for {reg}\n").as_str()),
            "{}",
            o.describe()
        );
    }
    let o = env.berth(&["logout", &reg]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, format!("Not logged in to {reg}\n").as_str()),
        "{}",
        o.describe()
    );
}
