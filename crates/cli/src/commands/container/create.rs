//! `berth create`: a container from an image, pulling it when missing
//! (docker's `Unable to find image 'x:latest' locally`).

use std::io::Write;

use berth_docker_types::container::ContainerCreateResponse;

use crate::app::Ctx;
use crate::client::{ClientError, Query};
use crate::commands::image::pull;
use crate::error::{StatusError, report};
use crate::flags::{Args, Matches, Spec};
use crate::opts::{self, CreateOptions, OptsError};
use crate::reference::Reference;

pub static SPEC: Spec = Spec::new(
    "create",
    "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create a new container",
    opts::CREATE_FLAGS,
    Args::Min(1),
)
.aliases("berth container create, berth create")
.stop_at_first_arg()
.no_short_help();

/// Parses run/create options, reporting errors as docker does.
pub fn parse_options(m: &Matches, command: &str) -> anyhow::Result<CreateOptions> {
    match opts::parse(m, crate::commands::tty_size()) {
        Ok(o) => Ok(o),
        Err(OptsError::Flag(u)) => Err(u.into()),
        Err(OptsError::Invalid(msg)) => Err(report(command, &msg, true, 125)),
    }
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let o = parse_options(m, "create")?;
    let id = create_container(ctx, &o, "create")?;
    crate::commands::println(&id)?;
    Ok(())
}

/// Writes `--cidfile` (refusing an existing file, as docker does).
struct CidFile {
    path: String,
    file: Option<std::fs::File>,
    written: bool,
}

impl CidFile {
    fn open(path: &str) -> anyhow::Result<CidFile> {
        if path.is_empty() {
            return Ok(CidFile {
                path: String::new(),
                file: None,
                written: false,
            });
        }
        if std::path::Path::new(path).exists() {
            return Err(anyhow::anyhow!(
                "container ID file found, make sure the other container isn't running or delete {path}"
            ));
        }
        let f = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("failed to create the container ID file: {e}"))?;
        Ok(CidFile {
            path: path.to_owned(),
            file: Some(f),
            written: false,
        })
    }

    fn write(&mut self, id: &str) -> anyhow::Result<()> {
        if let Some(f) = &mut self.file {
            f.write_all(id.as_bytes()).map_err(|e| {
                anyhow::anyhow!("failed to write the container ID to the file: {e}")
            })?;
            self.written = true;
        }
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if self.file.is_some() && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates the container (pulling the image if it is missing and `--pull`
/// allows); returns its ID. Errors come back as docker prints them for
/// `command` (`run` or `create`): `berth: <error>`, exit 125 (126/127 for
/// a process that cannot be started).
pub fn create_container(ctx: &Ctx, o: &CreateOptions, command: &str) -> anyhow::Result<String> {
    let fail = |e: &dyn std::fmt::Display| report(command, &e.to_string(), true, 125);
    let mut cid = CidFile::open(&o.cidfile).map_err(|e| fail(&e))?;
    let image = &o.body.config.image;
    // a name (not an ID) can be pulled
    let named = if crate::reference::is_full_id(image) {
        None
    } else {
        Some(
            Reference::parse(image)
                .map_err(|e| fail(&e))?
                .with_default_tag(),
        )
    };
    let client = ctx.client().map_err(|e| fail(&e))?;
    if o.pull == "always"
        && let Some(r) = &named
    {
        pull::pull_for_create(ctx, r, &o.platform, o.quiet).map_err(|e| fail(&e))?;
    }
    let q = Query::new()
        .add_if(!o.name.is_empty(), "name", &o.name)
        .add_if(!o.platform.is_empty(), "platform", &o.platform);
    let path = format!("/containers/create{}", q.as_str());
    let created: Result<ContainerCreateResponse, ClientError> = client.post_json(&path, &o.body);
    let resp = match created {
        Ok(r) => r,
        Err(e) if e.is_not_found() && o.pull == "missing" && named.is_some() => {
            let r = named.as_ref().map(Reference::familiar).unwrap_or_default();
            if !o.quiet {
                crate::commands::eprintln(&format!("Unable to find image '{r}' locally"));
            }
            if let Some(r) = &named {
                pull::pull_for_create(ctx, r, &o.platform, o.quiet).map_err(|e| fail(&e))?;
            }
            client.post_json(&path, &o.body).map_err(|e| fail(&e))?
        }
        Err(e) => return Err(fail(&e)),
    };
    for w in &resp.warnings {
        crate::commands::eprintln(&format!("WARNING: {w}"));
    }
    cid.write(&resp.id)
        .map_err(|e| StatusError::new(125, e.to_string()))?;
    Ok(resp.id)
}
