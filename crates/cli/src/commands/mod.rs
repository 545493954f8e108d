//! One module per command group, one file per verb; this file holds the
//! tree of docker's command names and the helpers verbs share.

pub mod container;
pub mod image;
pub mod inspect;
pub mod network;
pub mod system;
pub mod volume;

use std::io::{self, BufRead, Write};

use berth_docker_types::Filters;

use crate::app::Entry;
use crate::error::StatusError;
use crate::flags::{Flag, Matches};

use container as c;
use image as i;
use system as s;

/// docker's command tree: management commands, then every top-level verb
/// (the shortcuts of `container ...` and `image ...` and the rest).
pub static TREE: &[Entry] = &[
    Entry::Group("container", "Manage containers", CONTAINER),
    Entry::Group("image", "Manage images", IMAGE),
    Entry::Group("network", "Manage networks", network::TREE),
    Entry::Group("system", "Manage berth", SYSTEM),
    Entry::Group("volume", "Manage volumes", volume::TREE),
    Entry::Missing("builder", "Manage builds"),
    Entry::Missing("buildx", "Docker Buildx"),
    Entry::Missing("checkpoint", "Manage checkpoints"),
    Entry::Missing("compose", "Docker Compose"),
    Entry::Missing("config", "Manage Swarm configs"),
    Entry::Missing("context", "Manage contexts"),
    Entry::Missing(
        "manifest",
        "Manage Docker image manifests and manifest lists",
    ),
    Entry::Missing("node", "Manage Swarm nodes"),
    Entry::Missing("plugin", "Manage plugins"),
    Entry::Missing("secret", "Manage Swarm secrets"),
    Entry::Missing("service", "Manage Swarm services"),
    Entry::Missing("stack", "Manage Swarm stacks"),
    Entry::Missing("swarm", "Manage Swarm"),
    Entry::Missing("trust", "Manage trust on Docker images"),
    Entry::Cmd("attach", &c::attach::SPEC, c::attach::run),
    Entry::Missing("build", "Build an image from a Dockerfile"),
    Entry::Cmd("commit", &c::commit::SPEC, c::commit::run),
    Entry::Cmd("cp", &c::cp::SPEC, c::cp::run),
    Entry::Cmd("create", &c::create::SPEC, c::create::run),
    Entry::Cmd("diff", &c::diff::SPEC, c::diff::run),
    Entry::Cmd("events", &s::events::SPEC, s::events::run),
    Entry::Cmd("exec", &c::exec::SPEC, c::exec::run),
    Entry::Cmd("export", &c::export::SPEC, c::export::run),
    Entry::Cmd("history", &i::history::SPEC, i::history::run),
    Entry::Cmd("images", &i::ls::SPEC, i::ls::run),
    Entry::Cmd("import", &i::import::SPEC, i::import::run),
    Entry::Cmd("info", &s::info::SPEC, s::info::run),
    Entry::Cmd("inspect", &inspect::SPEC, inspect::run),
    Entry::Cmd("kill", &c::kill::SPEC, c::kill::run),
    Entry::Cmd("load", &i::load::SPEC, i::load::run),
    Entry::Cmd("login", &s::login::SPEC, s::login::run),
    Entry::Cmd("logout", &s::login::LOGOUT_SPEC, s::login::logout),
    Entry::Cmd("logs", &c::logs::SPEC, c::logs::run),
    Entry::Cmd("pause", &c::pause::SPEC, c::pause::pause),
    Entry::Cmd("port", &c::port::SPEC, c::port::run),
    Entry::Cmd("ps", &c::ps::SPEC, c::ps::run),
    Entry::Cmd("pull", &i::pull::SPEC, i::pull::run),
    Entry::Cmd("push", &i::push::SPEC, i::push::run),
    Entry::Cmd("rename", &c::rename::SPEC, c::rename::run),
    Entry::Cmd("restart", &c::restart::SPEC, c::restart::run),
    Entry::Cmd("rm", &c::rm::SPEC, c::rm::run),
    Entry::Cmd("rmi", &i::rm::SPEC, i::rm::run),
    Entry::Cmd("run", &c::run::SPEC, c::run::run),
    Entry::Cmd("save", &i::save::SPEC, i::save::run),
    Entry::Missing("search", "Search Docker Hub for images"),
    Entry::Cmd("start", &c::start::SPEC, c::start::run),
    Entry::Cmd("stats", &c::stats::SPEC, c::stats::run),
    Entry::Cmd("stop", &c::stop::SPEC, c::stop::run),
    Entry::Cmd("tag", &i::tag::SPEC, i::tag::run),
    Entry::Cmd("top", &c::top::SPEC, c::top::run),
    Entry::Cmd("unpause", &c::pause::UNPAUSE_SPEC, c::pause::unpause),
    Entry::Missing("update", "Update configuration of one or more containers"),
    Entry::Cmd("version", &s::version::SPEC, s::version::run),
    Entry::Cmd("wait", &c::wait::SPEC, c::wait::run),
];

static CONTAINER: &[Entry] = &[
    Entry::Cmd("attach", &c::attach::SPEC, c::attach::run),
    Entry::Cmd("commit", &c::commit::SPEC, c::commit::run),
    Entry::Cmd("cp", &c::cp::SPEC, c::cp::run),
    Entry::Cmd("create", &c::create::SPEC, c::create::run),
    Entry::Cmd("diff", &c::diff::SPEC, c::diff::run),
    Entry::Cmd("exec", &c::exec::SPEC, c::exec::run),
    Entry::Cmd("export", &c::export::SPEC, c::export::run),
    Entry::Cmd("inspect", &c::inspect::SPEC, c::inspect::run),
    Entry::Cmd("kill", &c::kill::SPEC, c::kill::run),
    Entry::Cmd("logs", &c::logs::SPEC, c::logs::run),
    Entry::Cmd("ls", &c::ps::SPEC, c::ps::run),
    Entry::Cmd("pause", &c::pause::SPEC, c::pause::pause),
    Entry::Cmd("port", &c::port::SPEC, c::port::run),
    Entry::Cmd("prune", &c::prune::SPEC, c::prune::run),
    Entry::Cmd("rename", &c::rename::SPEC, c::rename::run),
    Entry::Cmd("restart", &c::restart::SPEC, c::restart::run),
    Entry::Cmd("rm", &c::rm::SPEC, c::rm::run),
    Entry::Cmd("run", &c::run::SPEC, c::run::run),
    Entry::Cmd("start", &c::start::SPEC, c::start::run),
    Entry::Cmd("stats", &c::stats::SPEC, c::stats::run),
    Entry::Cmd("stop", &c::stop::SPEC, c::stop::run),
    Entry::Cmd("top", &c::top::SPEC, c::top::run),
    Entry::Cmd("unpause", &c::pause::UNPAUSE_SPEC, c::pause::unpause),
    Entry::Missing("update", "Update configuration of one or more containers"),
    Entry::Cmd("wait", &c::wait::SPEC, c::wait::run),
];

static IMAGE: &[Entry] = &[
    Entry::Missing("build", "Build an image from a Dockerfile"),
    Entry::Cmd("history", &i::history::SPEC, i::history::run),
    Entry::Cmd("import", &i::import::SPEC, i::import::run),
    Entry::Cmd("inspect", &i::inspect::SPEC, i::inspect::run),
    Entry::Cmd("load", &i::load::SPEC, i::load::run),
    Entry::Cmd("ls", &i::ls::SPEC, i::ls::run),
    Entry::Cmd("prune", &i::prune::SPEC, i::prune::run),
    Entry::Cmd("pull", &i::pull::SPEC, i::pull::run),
    Entry::Cmd("push", &i::push::SPEC, i::push::run),
    Entry::Cmd("rm", &i::rm::SPEC, i::rm::run),
    Entry::Cmd("save", &i::save::SPEC, i::save::run),
    Entry::Cmd("tag", &i::tag::SPEC, i::tag::run),
];

static SYSTEM: &[Entry] = &[
    Entry::Cmd("df", &s::df::SPEC, s::df::run),
    Entry::Cmd("events", &s::events::SPEC, s::events::run),
    Entry::Cmd("info", &s::info::SPEC, s::info::run),
    Entry::Cmd("prune", &s::prune::SPEC, s::prune::run),
];

/// The `--format` help docker shows for list commands.
pub const FORMAT_HELP: &str = "Format output using a custom template:\n'table': Print output in table format with column headers (default)\n'table TEMPLATE': Print output in table format using the given Go template\n'json': Print in JSON format\n'TEMPLATE': Print output using the given Go template";

/// `-f, --filter`.
pub const FILTER: Flag = Flag::new(
    "filter",
    Some('f'),
    crate::flags::Kind::List,
    "filter",
    "Filter output based on conditions provided",
);

/// Parses `--filter key=value` values, with docker's errors.
pub fn filters(m: &Matches) -> anyhow::Result<Filters> {
    let mut f = Filters::new();
    for v in m.list("filter") {
        match v.split_once('=') {
            Some((k, val)) => f.add(&k.trim().to_lowercase(), val.trim()),
            None => {
                return Err(m
                    .invalid("filter", v, "bad format of filter (expected name=value)")
                    .into());
            }
        }
    }
    Ok(f)
}

/// Writes `s` to stdout.
pub fn print(s: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()
}

pub fn println(s: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

pub fn eprintln(s: &str) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "{s}");
}

/// Runs `f` for each argument as docker's multi-object verbs do: the
/// argument is printed on success, errors are collected and reported
/// together (exit 1).
pub fn each(args: &[String], mut f: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut errs = Vec::new();
    for a in args {
        match f(a) {
            Ok(()) => println(a)?,
            Err(e) => errs.push(crate::error::render(&e).0),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errs.join("\n")))
    }
}

/// docker's confirmation prompt (`[y/N]`); anything but y/yes is no.
pub fn confirm(message: &str) -> io::Result<bool> {
    {
        let mut out = io::stdout().lock();
        write!(out, "{message}\nAre you sure you want to continue? [y/N] ")?;
        out.flush()?;
    }
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    let a = line.trim().to_lowercase();
    Ok(a == "y" || a == "yes")
}

/// The terminal size when stdout is one.
pub fn tty_size() -> Option<(u16, u16)> {
    crate::term::size(crate::term::STDOUT)
}

/// URL-encodes a path segment for API paths.
pub fn seg(s: &str) -> String {
    crate::client::http::encode_path(s)
}

/// `1` / `0` for query flags.
pub fn flag01(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}
