//! `berth run`: create, attach, start and wait, as docker's `runContainer`
//! does it — the attach and the wait are registered before the start, so no
//! output and no exit is missed; the exit code is the container's.

use std::sync::mpsc;

use berth_docker_types::container::ContainerWaitResponse;
use nix::sys::signal::Signal;

use crate::app::Ctx;
use crate::client::{Client, ClientError, Pending};
use crate::commands::container::create::{create_container, parse_options};
use crate::commands::container::resize;
use crate::commands::seg;
use crate::error::{StatusError, report};
use crate::flags::{Args, Matches, Spec};
use crate::opts;
use crate::stream::{self, End, StreamOptions};
use crate::term;

pub static SPEC: Spec = Spec::new(
    "run",
    "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create and run a new container from an image",
    opts::RUN_FLAGS,
    Args::Min(1),
)
.aliases("berth container run, berth run")
.stop_at_first_arg()
.no_short_help();

/// docker's `runStartContainerErr`: 127 for a command that does not exist,
/// 126 for one that cannot be run, 125 otherwise.
pub fn start_error_code(message: &str) -> i32 {
    let m = message
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(message);
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

/// The detach keys: the flag, else `detachKeys` from config.json, else
/// Ctrl-P Ctrl-Q (an invalid sequence falls back to the default, with a
/// warning, as docker does).
pub fn detach_keys(ctx: &Ctx, flag: Option<&str>) -> (Vec<u8>, String) {
    let cfg = ctx.config();
    let chosen = flag
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| cfg.detach_keys().map(str::to_owned));
    match chosen {
        None => (term::DEFAULT_DETACH_KEYS.to_vec(), String::new()),
        Some(s) => match term::detach_keys(&s) {
            Ok(k) => (k, s),
            Err(_) => {
                crate::commands::eprintln(&format!(
                    "Invalid detach keys ({s}) provided, using default: ctrl-p,ctrl-q"
                ));
                (term::DEFAULT_DETACH_KEYS.to_vec(), String::new())
            }
        },
    }
}

/// Starts the wait for an exit (`next-exit`, or `removed` with `--rm`)
/// before the container starts, on a connection of its own.
pub fn begin_wait(client: &Client, id: &str, auto_remove: bool) -> Result<Pending, ClientError> {
    let cond = if auto_remove { "removed" } else { "next-exit" };
    client.begin(
        "POST",
        &format!("/containers/{}/wait?condition={cond}", seg(id)),
    )
}

/// The exit status a wait answered with (docker prints the error of a wait
/// that failed and returns 125).
pub fn wait_status(client: &Client, pending: Pending) -> i32 {
    match client
        .finish(pending)
        .and_then(|b| crate::client::decode::<ContainerWaitResponse>("wait", &b))
    {
        Ok(r) => {
            if let Some(e) = r.error.filter(|e| !e.message.is_empty()) {
                crate::commands::eprintln(&format!("error waiting for container: {}", e.message));
                return 125;
            }
            i32::try_from(r.status_code).unwrap_or(125)
        }
        Err(e) => {
            crate::commands::eprintln(&format!("error waiting for container: {e}"));
            125
        }
    }
}

/// Waits (10 s at most) for `--rm` to remove a container that failed to
/// start.
pub fn wait_removed(client: &Client, wait: Pending) {
    let (tx, rx) = mpsc::channel();
    let host = client.host().clone();
    std::thread::spawn(move || {
        if let Ok(c) = Client::new(host) {
            let _ = tx.send(c.finish(wait).is_ok());
        }
    });
    let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
}

/// Forwards our signals to the container (`--sig-proxy`), and turns window
/// changes into resizes when `resize_tty` names a tty to follow.
pub fn install_signals(
    ctx: &Ctx,
    id: &str,
    proxy: bool,
    resize_tty: Option<(&'static str, String)>,
) -> anyhow::Result<()> {
    if !proxy && resize_tty.is_none() {
        return Ok(());
    }
    let mut sigs: Vec<Signal> = Vec::new();
    if proxy {
        sigs.extend_from_slice(crate::signals::PROXIED);
    }
    if resize_tty.is_some() {
        sigs.push(Signal::SIGWINCH);
    }
    let host = ctx.client()?.host().clone();
    let debug = ctx.debug;
    let id = id.to_owned();
    crate::signals::handle(&sigs, move |sig| {
        // a client of its own: the main thread's connection is busy
        let Ok(client) = Client::new(host.clone()) else {
            return;
        };
        if sig == Signal::SIGWINCH {
            if let (Some((what, rid)), Some(size)) = (&resize_tty, term::size(term::STDOUT)) {
                let _ = resize(&client, what, rid, size);
            }
            return;
        }
        if proxy {
            let path = format!(
                "/containers/{}/kill?signal={}",
                seg(&id),
                crate::signals::number(sig)
            );
            // docker logs this at debug level only (the container may be gone)
            if let Err(e) = client.post(&path)
                && debug
            {
                crate::commands::eprintln(&format!("DEBU[berth] Error sending signal: {e}"));
            }
        }
    })?;
    Ok(())
}

/// docker's first resize after start, retried briefly while the process
/// comes up.
pub fn initial_resize(client: &Client, what: &str, id: &str) {
    let Some(size) = term::size(term::STDOUT) else {
        return;
    };
    for i in 0..10 {
        if resize(client, what, id, size).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10 * (i + 1)));
    }
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let mut o = parse_options(m, "run")?;
    let detach = m.bool("detach");
    let sig_proxy = !m.changed("sig-proxy") || m.bool("sig-proxy");
    let cfg = &mut o.body.config;
    if detach {
        if m.changed("attach") {
            return Err(StatusError::new(
                1,
                "conflicting options: cannot specify both --attach and --detach",
            ));
        }
        cfg.attach_stdin = false;
        cfg.attach_stdout = false;
        cfg.attach_stderr = false;
        cfg.stdin_once = false;
    } else if cfg.attach_stdin && cfg.tty && !term::is_tty(term::STDIN) {
        return Err(StatusError::new(1, "the input device is not a TTY"));
    }
    let (attach_in, attach_out, attach_err, tty) = (
        cfg.attach_stdin,
        cfg.attach_stdout,
        cfg.attach_stderr,
        cfg.tty,
    );
    let auto_remove = o.auto_remove;

    let id = create_container(ctx, &o, "run")?;
    let client = ctx.client()?;

    // the attach and the wait exist before the process does
    let mut attach_conn = None;
    let (keys, keys_text) = detach_keys(ctx, m.value("detach-keys"));
    if attach_in || attach_out || attach_err {
        let q = crate::client::Query::new()
            .add_if(!keys_text.is_empty(), "detachKeys", &keys_text)
            .add("stream", "1")
            .add_if(attach_in, "stdin", "1")
            .add_if(attach_out, "stdout", "1")
            .add_if(attach_err, "stderr", "1");
        let conn = client
            .hijack(
                &format!("/containers/{}/attach{}", seg(&id), q.as_str()),
                None,
            )
            .map_err(|e| StatusError::new(125, e.to_string()))?;
        attach_conn = Some(conn);
    }
    let wait =
        begin_wait(client, &id, auto_remove).map_err(|e| StatusError::new(125, e.to_string()))?;

    let resize_target =
        (tty && (attach_in || attach_out || attach_err) && term::is_tty(term::STDOUT))
            .then(|| ("containers", id.clone()));
    install_signals(ctx, &id, sig_proxy, resize_target.clone())?;

    // run the stream in its own thread so that start can follow
    let (tx, rx) = mpsc::channel();
    if let Some(conn) = attach_conn {
        let opts = StreamOptions {
            tty,
            stdin: attach_in,
            stdout: attach_out,
            stderr: attach_err,
            detach_keys: keys,
        };
        std::thread::Builder::new()
            .name("attach".into())
            .spawn(move || {
                let _ = tx.send(stream::run(conn, &opts));
            })?;
    } else {
        drop(tx);
        // detached: the ID first, as docker prints it before start
        crate::commands::println(&id)?;
    }

    if let Err(e) = client.post(&format!("/containers/{}/start", seg(&id))) {
        let msg = e.to_string();
        let code = start_error_code(&msg);
        if auto_remove {
            // docker waits for the removal; a daemon that never removes must not hang us
            wait_removed(client, wait);
        }
        return Err(report("run", &msg, true, code));
    }
    if resize_target.is_some() {
        initial_resize(client, "containers", &id);
    }
    if !(attach_out || attach_err) {
        // nothing to show: -d, or only stdin attached
        if let Ok(r) = rx.recv() {
            match r {
                Ok(End::Detached) => return Ok(()),
                Ok(End::Done) => {}
                Err(e) => return Err(StatusError::new(1, e.to_string())),
            }
        }
        if detach {
            return Ok(());
        }
    } else {
        match rx.recv() {
            Ok(Ok(End::Detached)) => return Ok(()),
            Ok(Ok(End::Done)) | Err(_) => {}
            Ok(Err(e)) => return Err(StatusError::new(1, e.to_string())),
        }
    }
    let status = wait_status(client, wait);
    if status != 0 {
        return Err(StatusError::code(status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_codes() {
        assert_eq!(
            start_error_code(
                "Error response from daemon: exec: \"nope\": executable file not found in $PATH"
            ),
            127
        );
        assert_eq!(
            start_error_code("failed to create task: open /x: no such file or directory"),
            127
        );
        assert_eq!(start_error_code("exec /etc: permission denied"), 126);
        assert_eq!(
            start_error_code("Error response from daemon: something else"),
            125
        );
    }
}
