//! `berth attach`: our stdin, stdout and stderr to a running container;
//! the exit code is the container's.

use berth_docker_types::container::ContainerInspect;

use crate::app::Ctx;
use crate::client::{Client, Query};
use crate::commands::container::inspect_container;
use crate::commands::container::run::{detach_keys, initial_resize, install_signals};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, v};
use crate::stream::{self, End, StreamOptions};
use crate::term;

static FLAGS: &[Flag] = &[
    v(
        "detach-keys",
        "string",
        "Override the key sequence for detaching a container",
    ),
    b("no-stdin", "Do not attach STDIN"),
    b("sig-proxy", "Proxy all received signals to the process").default_value("true"),
];

pub static SPEC: Spec = Spec::new(
    "attach",
    "[OPTIONS] CONTAINER",
    "Attach local standard input, output, and error streams to a running container",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth container attach, berth attach");

fn check_state(client: &Client, id: &str) -> anyhow::Result<ContainerInspect> {
    let c = inspect_container(client, id)?;
    let st = c.state.clone().unwrap_or_default();
    if !st.running {
        return Err(StatusError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if st.paused {
        return Err(StatusError::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if st.restarting {
        return Err(StatusError::new(
            1,
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    Ok(c)
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let name = &m.args[0];
    // the wait is registered first, as docker does
    let wait = client.begin("POST", &format!("/containers/{}/wait", seg(name)))?;
    let c = check_state(client, name)?;
    let cfg = c.config.clone().unwrap_or_default();
    if !m.bool("no-stdin") && cfg.tty && !term::is_tty(term::STDIN) {
        return Err(StatusError::new(1, "the input device is not a TTY"));
    }
    let stdin = !m.bool("no-stdin") && cfg.open_stdin;
    let (keys, keys_text) = detach_keys(ctx, m.value("detach-keys"));
    let proxy = (!m.changed("sig-proxy") || m.bool("sig-proxy")) && !cfg.tty;
    let resize_target =
        (cfg.tty && term::is_tty(term::STDOUT)).then(|| ("containers", c.id.clone()));
    install_signals(ctx, &c.id, proxy, resize_target.clone())?;
    let q = Query::new()
        .add_if(!keys_text.is_empty(), "detachKeys", &keys_text)
        .add("stream", "1")
        .add_if(stdin, "stdin", "1")
        .add("stdout", "1")
        .add("stderr", "1");
    let conn = client.hijack(
        &format!("/containers/{}/attach{}", seg(name), q.as_str()),
        None,
    )?;
    // the container may have stopped between the check and the attach
    check_state(client, name)?;
    if resize_target.is_some() {
        initial_resize(client, "containers", &c.id);
    }
    let opts = StreamOptions {
        tty: cfg.tty,
        stdin,
        stdout: true,
        stderr: true,
        detach_keys: keys,
    };
    match stream::run(conn, &opts) {
        Ok(End::Detached) => return Err(StatusError::new(1, "read escape sequence")),
        Ok(End::Done) => {}
        Err(e) => return Err(StatusError::new(1, e.to_string())),
    }
    let body = client.finish(wait)?;
    let r: berth_docker_types::container::ContainerWaitResponse =
        crate::client::decode("wait", &body)?;
    if let Some(e) = r.error.filter(|e| !e.message.is_empty()) {
        return Err(StatusError::new(1, e.message));
    }
    if r.status_code != 0 {
        return Err(StatusError::code(i32::try_from(r.status_code).unwrap_or(1)));
    }
    Ok(())
}
