//! `berth exec`: a command in a running container; the exit code is the
//! command's.

use berth_docker_types::IdResponse;
use berth_docker_types::exec::{ExecCreateRequest, ExecInspect, ExecStartRequest};

use crate::app::Ctx;
use crate::commands::container::inspect_container;
use crate::commands::container::run::{detach_keys, initial_resize, install_signals};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, l, ls, v, vs};
use crate::opts::kv;
use crate::stream::{self, End, StreamOptions};
use crate::term;

static FLAGS: &[Flag] = &[
    bs(
        'd',
        "detach",
        "Detached mode: run command in the background",
    ),
    v(
        "detach-keys",
        "string",
        "Override the key sequence for detaching a container",
    ),
    ls('e', "env", "Set environment variables"),
    l("env-file", "Read in a file of environment variables"),
    bs('i', "interactive", "Keep STDIN open even if not attached"),
    b("privileged", "Give extended privileges to the command"),
    bs('t', "tty", "Allocate a pseudo-TTY"),
    vs(
        'u',
        "user",
        "string",
        "Username or UID (format: \"<name|uid>[:<group|gid>]\")",
    ),
    vs(
        'w',
        "workdir",
        "string",
        "Working directory inside the container",
    ),
];

pub static SPEC: Spec = Spec::new(
    "exec",
    "[OPTIONS] CONTAINER COMMAND [ARG...]",
    "Execute a command in a running container",
    FLAGS,
    Args::Min(2),
)
.aliases("berth container exec, berth exec")
.stop_at_first_arg();

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let env_flags = m.parse_list("env", kv::validate_env)?;
    let env =
        kv::merge(&m.list("env-file"), &env_flags, true).map_err(|e| StatusError::new(1, e))?;
    let client = ctx.client()?;
    let name = &m.args[0];
    let detach = m.bool("detach");
    let tty = m.bool("tty");
    let interactive = m.bool("interactive");
    let (keys, keys_text) = detach_keys(ctx, m.value("detach-keys"));
    // "no such container" comes first, before any exec exists
    let c = inspect_container(client, name)?;
    if !detach && interactive && tty && !term::is_tty(term::STDIN) {
        return Err(StatusError::new(1, "the input device is not a TTY"));
    }
    let console = if tty {
        crate::commands::tty_size().map(|(h, w)| [u64::from(h), u64::from(w)])
    } else {
        None
    };
    let req = ExecCreateRequest {
        user: m.str("user").to_owned(),
        privileged: m.bool("privileged"),
        tty,
        console_size: console,
        attach_stdin: !detach && interactive,
        attach_stdout: !detach,
        attach_stderr: !detach,
        detach: false,
        detach_keys: keys_text,
        env: if env.is_empty() { None } else { Some(env) },
        working_dir: m.str("workdir").to_owned(),
        cmd: Some(m.args[1..].to_vec()),
    };
    let created: IdResponse = client.post_json(&format!("/containers/{}/exec", seg(name)), &req)?;
    if created.id.is_empty() {
        return Err(StatusError::new(1, "exec ID empty"));
    }
    let start = ExecStartRequest {
        detach,
        tty,
        console_size: console,
    };
    let start_path = format!("/exec/{}/start", seg(&created.id));
    if detach {
        let body = serde_json::to_vec(&start)?;
        client.call(
            "POST",
            &start_path,
            crate::client::Body::Bytes(&body, "application/json"),
        )?;
        return Ok(());
    }
    let resize_target = (tty && term::is_tty(term::STDIN)).then(|| ("exec", created.id.clone()));
    install_signals(ctx, &c.id, false, resize_target.clone())?;
    let body = serde_json::to_vec(&start)?;
    let conn = client.hijack(&start_path, Some(&body))?;
    if resize_target.is_some() {
        initial_resize(client, "exec", &created.id);
    }
    let opts = StreamOptions {
        tty,
        stdin: interactive,
        stdout: true,
        stderr: true,
        detach_keys: keys,
    };
    match stream::run(conn, &opts) {
        Ok(End::Detached) => return Err(StatusError::new(1, "read escape sequence")),
        Ok(End::Done) => {}
        Err(e) => return Err(StatusError::new(1, e.to_string())),
    }
    // the stream can close a moment before the daemon records the exit
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let inspect: ExecInspect = client.get(&format!("/exec/{}/json", seg(&created.id)))?;
        match inspect.exit_code {
            Some(0) => return Ok(()),
            Some(code) => return Err(StatusError::code(i32::try_from(code).unwrap_or(1))),
            None if inspect.running && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            // docker reads a missing code as 0
            None => return Ok(()),
        }
    }
}
