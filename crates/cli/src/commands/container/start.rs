//! `berth start`: start containers; with `-a`/`-i`, attach first and
//! return the container's exit code, as `run` does.

use std::sync::mpsc;

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::container::inspect_container;
use crate::commands::container::run::{
    begin_wait, detach_keys, initial_resize, install_signals, wait_status,
};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs, v};
use crate::stream::{self, End, StreamOptions};
use crate::term;

static FLAGS: &[Flag] = &[
    bs('a', "attach", "Attach STDOUT/STDERR and forward signals"),
    v("checkpoint", "string", "Restore from this checkpoint").unsupported(),
    v(
        "checkpoint-dir",
        "string",
        "Use a custom checkpoint storage directory",
    )
    .unsupported(),
    v(
        "detach-keys",
        "string",
        "Override the key sequence for detaching a container",
    ),
    bs('i', "interactive", "Attach container's STDIN"),
];

pub static SPEC: Spec = Spec::new(
    "start",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Start one or more stopped containers",
    FLAGS,
    Args::Min(1),
)
.aliases("berth container start, berth start");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    if !(m.bool("attach") || m.bool("interactive")) {
        let mut failed = Vec::new();
        let mut errs = Vec::new();
        for c in &m.args {
            match client.post(&format!("/containers/{}/start", seg(c))) {
                Ok(()) => crate::commands::println(c)?,
                Err(e) => {
                    errs.push(e.to_string());
                    failed.push(c.clone());
                }
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        return Err(StatusError::new(
            1,
            format!(
                "{}\nError: failed to start containers: {}",
                errs.join("\n"),
                failed.join(", ")
            ),
        ));
    }
    if m.args.len() > 1 {
        return Err(StatusError::new(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    }
    let c = inspect_container(client, &m.args[0])?;
    let id = c.id.clone();
    let cfg = c.config.unwrap_or_default();
    let auto_remove = c.host_config.as_ref().is_some_and(|h| h.auto_remove);
    let stdin = m.bool("interactive") && cfg.open_stdin;
    let (keys, keys_text) = detach_keys(ctx, m.value("detach-keys"));
    let resize_target = (cfg.tty && term::is_tty(term::STDOUT)).then(|| ("containers", id.clone()));
    install_signals(ctx, &id, !cfg.tty, resize_target.clone())?;
    let q = Query::new()
        .add_if(!keys_text.is_empty(), "detachKeys", &keys_text)
        .add("stream", "1")
        .add_if(stdin, "stdin", "1")
        .add("stdout", "1")
        .add("stderr", "1");
    let conn = client.hijack(
        &format!("/containers/{}/attach{}", seg(&id), q.as_str()),
        None,
    )?;
    let (tx, rx) = mpsc::channel();
    let opts = StreamOptions {
        tty: cfg.tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys: keys,
    };
    std::thread::Builder::new()
        .name("attach".into())
        .spawn(move || {
            let _ = tx.send(stream::run(conn, &opts));
        })?;
    let wait = begin_wait(client, &id, auto_remove)?;
    if let Err(e) = client.post(&format!("/containers/{}/start", seg(&id))) {
        if auto_remove {
            crate::commands::container::run::wait_removed(client, wait);
        }
        return Err(e.into());
    }
    if resize_target.is_some() {
        initial_resize(client, "containers", &id);
    }
    match rx.recv() {
        Ok(Ok(End::Detached)) => return Ok(()),
        Ok(Ok(End::Done)) | Err(_) => {}
        Ok(Err(e)) => return Err(StatusError::new(1, e.to_string())),
    }
    let status = wait_status(client, wait);
    if status != 0 {
        return Err(StatusError::code(status));
    }
    Ok(())
}
