//! `berth image ...`: one file per verb.

pub mod history;
pub mod import;
pub mod inspect;
pub mod load;
pub mod ls;
pub mod prune;
pub mod pull;
pub mod push;
pub mod rm;
pub mod save;
pub mod tag;

use crate::app::Ctx;
use crate::reference::Reference;

/// The `X-Registry-Auth` value for a reference's registry, from
/// config.json (`e30=` when there are no credentials).
pub fn registry_auth(ctx: &Ctx, r: &Reference) -> anyhow::Result<String> {
    let cfg = ctx.config();
    let auth = cfg.get_auth(&r.auth_key())?;
    Ok(crate::auth::encode_header(auth.as_ref()))
}

/// Shows a progress stream on stdout or stderr; the daemon's error ends it.
pub fn show_progress(
    resp: impl std::io::Read,
    to_stderr: bool,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let (fd, width) = if to_stderr {
        (2, crate::term::width())
    } else {
        (1, crate::term::width())
    };
    let terminal = crate::term::is_tty(fd);
    let res = if to_stderr {
        let mut d = crate::progress::Display::new(std::io::stderr().lock(), terminal, width);
        d.run(resp).map(|()| d.aux)
    } else {
        let mut d = crate::progress::Display::new(std::io::stdout().lock(), terminal, width);
        d.run(resp).map(|()| d.aux)
    };
    res.map_err(|e| match e {
        crate::progress::ProgressError::Daemon(m) => crate::error::StatusError::new(1, m),
        other => other.into(),
    })
}
