//! `berth export`: a container's filesystem as a tar archive.

use crate::app::Ctx;
use crate::client::Body;
use crate::commands::seg;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, vs};

static FLAGS: &[Flag] = &[vs(
    'o',
    "output",
    "string",
    "Write to a file, instead of STDOUT",
)];

pub static SPEC: Spec = Spec::new(
    "export",
    "[OPTIONS] CONTAINER",
    "Export a container's filesystem as a tar archive",
    FLAGS,
    Args::Exact(1),
)
.aliases("berth container export, berth export");

/// Writes a download to `-o FILE` (atomically) or to stdout, refusing a
/// terminal as docker does.
pub fn save_to(output: &str, mut body: impl std::io::Read) -> anyhow::Result<()> {
    if output.is_empty() {
        if crate::term::is_tty(crate::term::STDOUT) {
            return Err(StatusError::new(
                1,
                "cowardly refusing to save to a terminal. Use the -o flag or redirect",
            ));
        }
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut body, &mut out)?;
        return Ok(());
    }
    let path = std::path::Path::new(output);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.berth-tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::copy(&mut body, &mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(StatusError::new(
            1,
            format!(
                "failed to save to {output}: {}",
                crate::opts::kv::io_text(&e)
            ),
        ));
    }
    Ok(())
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let output = m.str("output");
    if output.is_empty() && crate::term::is_tty(crate::term::STDOUT) {
        return Err(StatusError::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let client = ctx.client()?;
    let resp = client.stream(
        "GET",
        &format!("/containers/{}/export", seg(&m.args[0])),
        &[],
        Body::Empty,
    )?;
    save_to(output, resp)
}
