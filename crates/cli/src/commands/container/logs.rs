//! `berth logs`: a container's output, demultiplexed to stdout and stderr
//! (as written, for a tty container).

use std::io::{self, Read, Write};

use berth_docker_types::stdcopy::{Decoder, StreamType};

use crate::app::Ctx;
use crate::client::{Body, Query};
use crate::commands::container::inspect_container;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, bs, v, vs};
use crate::format::units::api_timestamp;

static FLAGS: &[Flag] = &[
    b("details", "Show extra details provided to logs"),
    bs('f', "follow", "Follow log output"),
    v(
        "since",
        "string",
        "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
    ),
    vs(
        'n',
        "tail",
        "string",
        "Number of lines to show from the end of the logs",
    )
    .default_value("\"all\""),
    bs('t', "timestamps", "Show timestamps"),
    v(
        "until",
        "string",
        "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
    ),
];

pub static SPEC: Spec = Spec::new(
    "logs",
    "[OPTIONS] CONTAINER",
    "Fetch the logs of a container",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth container logs, berth logs");

/// Copies a log or attach stream: raw for a tty, demultiplexed otherwise.
pub fn copy_stream(mut body: impl Read, tty: bool) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut dec = Decoder::new();
    let stdout = io::stdout();
    let stderr = io::stderr();
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if tty {
            let mut o = stdout.lock();
            o.write_all(&buf[..n])?;
            o.flush()?;
            continue;
        }
        dec.push(&buf[..n]);
        while let Some((s, chunk)) = dec.next_chunk()? {
            match s {
                StreamType::Stdout | StreamType::Stdin => {
                    let mut o = stdout.lock();
                    o.write_all(&chunk)?;
                    o.flush()?;
                }
                StreamType::Stderr => {
                    let mut e = stderr.lock();
                    e.write_all(&chunk)?;
                    e.flush()?;
                }
                StreamType::Systemerr => {
                    return Err(StatusError::new(
                        1,
                        format!(
                            "error from daemon in stream: {}",
                            String::from_utf8_lossy(&chunk)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let since = m
        .value("since")
        .filter(|s| !s.is_empty())
        .map(|s| {
            api_timestamp(s)
                .map_err(|e| StatusError::new(1, format!("invalid value for \"since\": {e}")))
        })
        .transpose()?;
    let until = m
        .value("until")
        .filter(|s| !s.is_empty())
        .map(|s| {
            api_timestamp(s)
                .map_err(|e| StatusError::new(1, format!("invalid value for \"until\": {e}")))
        })
        .transpose()?;
    let client = ctx.client()?;
    let c = inspect_container(client, &m.args[0])?;
    let tty = c.config.as_ref().is_some_and(|c| c.tty);
    let q = Query::new()
        .add_if(m.bool("details"), "details", "1")
        .add_if(m.bool("follow"), "follow", "1")
        .add_if(since.is_some(), "since", since.as_deref().unwrap_or(""))
        .add("stderr", "1")
        .add("stdout", "1")
        .add("tail", m.value("tail").unwrap_or("all"))
        .add_if(m.bool("timestamps"), "timestamps", "1")
        .add_if(until.is_some(), "until", until.as_deref().unwrap_or(""));
    let resp = client.stream(
        "GET",
        &format!("/containers/{}/logs{}", seg(&c.id), q.as_str()),
        &[],
        Body::Empty,
    )?;
    copy_stream(resp, tty)
}
