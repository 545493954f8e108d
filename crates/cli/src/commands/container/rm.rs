//! `berth rm`: remove containers (`-f` kills running ones, `-v` removes
//! their anonymous volumes).

use crate::app::Ctx;
use crate::client::{ClientError, Query};
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, bs};

static FLAGS: &[Flag] = &[
    bs(
        'f',
        "force",
        "Force the removal of a running container (uses SIGKILL)",
    ),
    bs('l', "link", "Remove the specified link").unsupported(),
    bs(
        'v',
        "volumes",
        "Remove anonymous volumes associated with the container",
    ),
];

pub static SPEC: Spec = Spec::new(
    "rm",
    "[OPTIONS] CONTAINER [CONTAINER...]",
    "Remove one or more containers",
    FLAGS,
    Args::Min(1),
)
.aliases("berth container rm, berth container remove, berth rm");

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let force = m.bool("force");
    let q = Query::new()
        .add_if(force, "force", "1")
        .add_if(m.bool("volumes"), "v", "1");
    let host = ctx.client()?.host().clone();
    let results: Vec<Result<(), ClientError>> = std::thread::scope(|s| {
        let hs: Vec<_> = m
            .args
            .iter()
            .map(|name| {
                let host = host.clone();
                let q = &q;
                s.spawn(move || -> Result<(), ClientError> {
                    let name = name.trim_matches('/');
                    if name.is_empty() {
                        return Err(ClientError::Api {
                            status: 400,
                            message: "Container name cannot be empty".into(),
                        });
                    }
                    let client =
                        crate::client::Client::new(host).map_err(|e| ClientError::Api {
                            status: 400,
                            message: e,
                        })?;
                    client
                        .delete(&format!("/containers/{}{}", seg(name), q.as_str()))
                        .map(|_| ())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ClientError::Api {
                        status: 500,
                        message: "internal error".into(),
                    })
                })
            })
            .collect()
    });
    let mut errs = Vec::new();
    for (name, r) in m.args.iter().zip(results) {
        match r {
            Ok(()) => crate::commands::println(name)?,
            // `rm -f` of a container that is not there: said, not failed
            Err(e) if force && e.is_not_found() => crate::commands::eprintln(&e.to_string()),
            Err(ClientError::Api {
                status: 400,
                message,
            }) if message == "Container name cannot be empty" => errs.push(message),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}
