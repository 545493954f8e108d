//! `berth stop`: the stop signal, then SIGKILL after the timeout; many
//! containers are stopped at once, as docker does.

use crate::app::Ctx;
use crate::client::Query;
use crate::commands::seg;
use crate::flags::{Args, Flag, Kind, Matches, Spec, vs};

static FLAGS: &[Flag] = &[
    vs('s', "signal", "string", "Signal to send to the container"),
    Flag::new(
        "timeout",
        Some('t'),
        Kind::Value,
        "int",
        "Seconds to wait before killing the container",
    ),
    Flag::new(
        "time",
        None,
        Kind::Value,
        "int",
        "Seconds to wait before killing the container (deprecated: use --timeout)",
    )
    .hidden(),
];

pub static SPEC: Spec = Spec::new(
    "stop",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Stop one or more running containers",
    FLAGS,
    Args::Min(1),
)
.aliases("berth container stop, berth stop");

/// `?signal=..&t=..` for stop and restart.
pub fn stop_query(m: &Matches) -> anyhow::Result<String> {
    if m.changed("time") && m.changed("timeout") {
        return Err(crate::error::StatusError::new(
            125,
            "conflicting options: cannot specify both --timeout and --time",
        ));
    }
    let t = if m.changed("timeout") {
        m.value("timeout")
    } else {
        m.value("time")
    };
    let sig = m.str("signal");
    Ok(Query::new()
        .add_if(!sig.is_empty(), "signal", sig)
        .add_if(t.is_some(), "t", t.unwrap_or(""))
        .as_str()
        .to_owned())
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let q = stop_query(m)?;
    parallel(ctx, &m.args, |client, c| {
        client
            .post(&format!("/containers/{}/stop{q}", seg(c)))
            .map_err(Into::into)
    })
}

/// Runs `op` for every container concurrently (each thread with a
/// connection of its own), then prints each name that succeeded in
/// argument order and the errors together (exit 1).
pub fn parallel(
    ctx: &Ctx,
    names: &[String],
    op: impl Fn(&crate::client::Client, &str) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let host = ctx.client()?.host().clone();
    let results: Vec<anyhow::Result<()>> = if names.len() == 1 {
        vec![op(ctx.client()?, &names[0])]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = names
                .iter()
                .map(|n| {
                    let host = host.clone();
                    let op = &op;
                    s.spawn(move || {
                        let client =
                            crate::client::Client::new(host).map_err(anyhow::Error::msg)?;
                        op(&client, n)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("internal error: a worker thread panicked"))
                    })
                })
                .collect()
        })
    };
    let mut errs = Vec::new();
    for (n, r) in names.iter().zip(results) {
        match r {
            Ok(()) => crate::commands::println(n)?,
            Err(e) => errs.push(crate::error::render(&e).0),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(crate::error::StatusError::new(1, errs.join("\n")))
    }
}
