//! The command tree (docker's names, management commands and their
//! top-level shortcuts), global options and dispatch.

use std::cell::OnceCell;
use std::io::Write;
use std::path::PathBuf;

use crate::client::{Client, Host};
use crate::commands;
use crate::error::{StatusError, is_broken_pipe, render};
use crate::flags::{Args, Flag, Matches, Spec, bs, ls, v, vs};

/// A command's implementation.
pub type Handler = fn(&Ctx, &Matches) -> anyhow::Result<()>;

/// One entry of the command tree.
#[derive(Debug)]
pub enum Entry {
    Cmd(&'static str, &'static Spec, Handler),
    Group(&'static str, &'static str, &'static [Entry]),
    /// A docker command berth does not have yet.
    Missing(&'static str, &'static str),
}

impl Entry {
    fn name(&self) -> &'static str {
        match self {
            Entry::Cmd(n, ..) | Entry::Group(n, ..) | Entry::Missing(n, _) => n,
        }
    }
    fn about(&self) -> &'static str {
        match self {
            Entry::Cmd(_, s, _) => s.about,
            Entry::Group(_, a, _) | Entry::Missing(_, a) => a,
        }
    }
}

/// What every command gets: global options and a lazily made client.
#[derive(Debug)]
pub struct Ctx {
    pub hosts: Vec<String>,
    /// `--config`, else `DOCKER_CONFIG`, else `~/.docker` (berth shares
    /// docker's `config.json`: credentials, `detachKeys`).
    pub config_dir: PathBuf,
    pub debug: bool,
    client: OnceCell<Client>,
}

impl Ctx {
    pub fn new(hosts: Vec<String>, config_dir: Option<PathBuf>, debug: bool) -> Self {
        let config_dir = config_dir.unwrap_or_else(default_config_dir);
        Ctx {
            hosts,
            config_dir,
            debug,
            client: OnceCell::new(),
        }
    }

    pub fn client(&self) -> anyhow::Result<&Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let host = Host::from_flags(&self.hosts).map_err(|e| StatusError::new(125, e))?;
        let c = Client::new(host).map_err(|e| StatusError::new(125, e))?;
        c.set_debug(self.debug);
        Ok(self.client.get_or_init(|| c))
    }

    /// docker's `config.json` (missing file: empty).
    pub fn config(&self) -> crate::auth::ConfigFile {
        crate::auth::ConfigFile::load(&self.config_dir)
    }
}

fn default_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker")
}

static GLOBAL_FLAGS: &[Flag] = &[
    v("config", "string", "Location of client config files").default_value("\"~/.docker\""),
    vs(
        'c',
        "context",
        "string",
        "Name of the context to use to connect to the daemon",
    )
    .unsupported(),
    bs('D', "debug", "Enable debug mode"),
    ls(
        'H',
        "host",
        "Daemon socket to connect to (default unix:///run/berth/berth.sock, or BERTH_HOST)",
    ),
    vs(
        'l',
        "log-level",
        "string",
        "Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\")",
    )
    .default_value("\"info\""),
    crate::flags::b("tls", "Use TLS; implied by --tlsverify").unsupported(),
    v("tlscacert", "string", "Trust certs signed only by this CA").unsupported(),
    v("tlscert", "string", "Path to TLS certificate file").unsupported(),
    v("tlskey", "string", "Path to TLS key file").unsupported(),
    crate::flags::b("tlsverify", "Use TLS and verify the remote").unsupported(),
    bs('v', "version", "Print version information and quit"),
];

static ROOT: Spec = Spec::new(
    "",
    "[OPTIONS] COMMAND [ARG...]",
    "A fast, docker-compatible container engine",
    GLOBAL_FLAGS,
    Args::Any,
)
.stop_at_first_arg();

/// The tree.
pub fn tree() -> &'static [Entry] {
    commands::TREE
}

/// Runs a whole command line (without the program name); returns the exit
/// code.
pub fn run(argv: Vec<String>) -> i32 {
    let result = dispatch(argv);
    match result {
        Ok(()) => 0,
        Err(e) => {
            let (text, code) = render(&e);
            if is_broken_pipe(&e) && e.downcast_ref::<crate::client::ClientError>().is_none() {
                return 0;
            }
            let _ = std::io::stdout().flush();
            if !text.is_empty() {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
            code
        }
    }
}

fn dispatch(argv: Vec<String>) -> anyhow::Result<()> {
    let g = Matches::new(&ROOT, "", &argv)?;
    if g.bool("version") {
        return commands::system::version::print_short();
    }
    if g.args.is_empty() {
        print_group_help("", "A fast, docker-compatible container engine", tree());
        return Ok(());
    }
    if g.help && g.args.is_empty() {
        print_group_help("", ROOT.about, tree());
        return Ok(());
    }
    let hosts: Vec<String> = g.list("host").into_iter().map(str::to_owned).collect();
    let config = g.value("config").map(PathBuf::from);
    let level = g.value("log-level").unwrap_or("info");
    if !matches!(
        level,
        "debug" | "info" | "warn" | "error" | "fatal" | "panic" | "trace" | "warning"
    ) {
        return Err(StatusError::new(
            1,
            format!("Unable to parse logging level: {level}"),
        ));
    }
    let ctx = Ctx::new(
        hosts,
        config,
        g.bool("debug") || level == "debug" || level == "trace",
    );
    let mut args = g.args.clone();
    if args.first().is_some_and(|a| a == "help") {
        args.remove(0);
        args.push("--help".into());
        if args.len() == 1 {
            print_group_help("", ROOT.about, tree());
            return Ok(());
        }
    }
    run_in(&ctx, tree(), "", &args)
}

fn run_in(
    ctx: &Ctx,
    entries: &'static [Entry],
    prefix: &str,
    args: &[String],
) -> anyhow::Result<()> {
    let name = &args[0];
    let path = if prefix.is_empty() {
        name.clone()
    } else {
        format!("{prefix} {name}")
    };
    let Some(entry) = entries
        .iter()
        .find(|e| e.name() == name.as_str() || aliases(e.name()).contains(&name.as_str()))
    else {
        let usage = if prefix.is_empty() {
            String::new()
        } else {
            format!("\n\nUsage:  berth {prefix} COMMAND")
        };
        let help_path = if prefix.is_empty() {
            "berth".to_owned()
        } else {
            format!("berth {prefix}")
        };
        let shown = if prefix.is_empty() {
            format!("berth {name}")
        } else {
            format!("berth {prefix} {name}")
        };
        if name.starts_with('-') && prefix.is_empty() {
            return Err(StatusError::new(
                125,
                format!("unknown flag: {name}\nSee 'berth --help'."),
            ));
        }
        return Err(StatusError::new(
            1,
            format!(
                "berth: unknown command: {shown}{usage}\n\nRun '{help_path} --help' for more information"
            ),
        ));
    };
    match entry {
        Entry::Missing(n, _) => {
            let full = if prefix.is_empty() {
                n.to_string()
            } else {
                format!("{prefix} {n}")
            };
            Err(StatusError::new(
                125,
                format!("berth: not supported yet: berth {full}"),
            ))
        }
        Entry::Group(n, about, subs) => {
            let rest = &args[1..];
            let group_path = if prefix.is_empty() {
                n.to_string()
            } else {
                format!("{prefix} {n}")
            };
            match rest.first() {
                None => {
                    print_group_help(&group_path, about, subs);
                    Ok(())
                }
                Some(a) if a == "--help" || a == "-h" => {
                    print_group_help(&group_path, about, subs);
                    Ok(())
                }
                Some(_) => run_in(ctx, subs, &group_path, rest),
            }
        }
        Entry::Cmd(_, spec, handler) => {
            let m = Matches::new(spec, &path, &args[1..])?;
            if m.help {
                let mut out = std::io::stdout().lock();
                let help = spec.help(&path);
                let _ = write!(out, "{}", help.trim_start_matches('\n'));
                return Ok(());
            }
            handler(ctx, &m)
        }
    }
}

/// Other names of a sub-command (`container ls` is also `list` and `ps`).
fn aliases(name: &str) -> &'static [&'static str] {
    match name {
        "ls" => &["list", "ps"],
        "rm" => &["remove"],
        _ => &[],
    }
}

fn print_group_help(path: &str, about: &str, entries: &[Entry]) {
    let mut out = String::new();
    let shown = if path.is_empty() {
        "berth [OPTIONS] COMMAND".to_owned()
    } else {
        format!("berth {path} COMMAND")
    };
    out.push_str(&format!("Usage:  {shown}\n\n{about}\n\n"));
    let groups: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e, Entry::Group(..)))
        .collect();
    let cmds: Vec<&Entry> = entries
        .iter()
        .filter(|e| !matches!(e, Entry::Group(..)))
        .collect();
    let width = entries
        .iter()
        .map(|e| e.name().len())
        .max()
        .unwrap_or(0)
        .max(10);
    if !groups.is_empty() {
        out.push_str("Management Commands:\n");
        for e in groups {
            out.push_str(&format!("  {:width$}  {}\n", e.name(), e.about()));
        }
        out.push('\n');
    }
    out.push_str("Commands:\n");
    for e in cmds {
        let note = if matches!(e, Entry::Missing(..)) {
            " (not supported yet)"
        } else {
            ""
        };
        out.push_str(&format!("  {:width$}  {}{note}\n", e.name(), e.about()));
    }
    if path.is_empty() {
        out.push_str("\nGlobal Options:\n");
        out.push_str(ROOT.help("").split("\nOptions:\n").nth(1).unwrap_or(""));
        out.push_str("\nRun 'berth COMMAND --help' for more information on a command.\n");
    } else {
        out.push_str(&format!(
            "\nRun 'berth {path} COMMAND --help' for more information on a command.\n"
        ));
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}
