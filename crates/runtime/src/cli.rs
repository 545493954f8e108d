//! runc's command line, verb by verb, parsed by hand: the runtime is on
//! every container's start path, and a general-purpose argument parser
//! costs more start-up time and resident memory than the whole of this
//! file. Flags follow urfave/cli, which runc uses: `--flag value`,
//! `--flag=value`, `-f value`, Go-style single-dash long flags (`-root`),
//! global flags before the verb.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

/// Global options.
#[derive(Debug, Default)]
pub struct Cli {
    pub root: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub log_format: String,
    pub debug: bool,
    pub systemd_cgroup: bool,
    pub version: bool,
    pub help: bool,
    pub cmd: Option<Cmd>,
}

#[derive(Debug, Default)]
pub struct CreateArgs {
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Default)]
pub struct ExecArgs {
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub tty: bool,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub process: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub cap: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    pub id: String,
    pub command: Vec<String>,
}

#[derive(Debug, Default)]
pub struct UpdateArgs {
    pub resources: Option<PathBuf>,
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_share: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub memory_swap: Option<String>,
    pub pids_limit: Option<i64>,
    pub id: String,
}

#[derive(Debug)]
pub enum Cmd {
    Create(CreateArgs),
    Start { id: String },
    Run { create: CreateArgs, detach: bool, keep: bool },
    State { id: String },
    Kill { all: bool, id: String, signal: String },
    Delete { force: bool, id: String },
    List { format: String, quiet: bool },
    Ps { format: String, id: String, ps_args: Vec<String> },
    Exec(Box<ExecArgs>),
    Spec { bundle: Option<PathBuf>, rootless: bool },
    Features,
    Pause { id: String },
    Resume { id: String },
    Update(Box<UpdateArgs>),
    Events { interval: String, stats: bool, id: String },
}

pub const USAGE: &str = "berth-runtime: Open Container Initiative runtime with runc's command line

usage: berth-runtime [global options] command [command options] [arguments...]

commands:
   create    create a container
   delete    delete any resources held by the container
   events    display container events such as OOM notifications, cpu, memory and IO usage statistics
   exec      execute new process inside the container
   features  show the enabled features
   kill      send a signal (default: SIGTERM) to the container's init process
   list      list containers started by berth-runtime with the given root
   pause     suspend all processes inside the container
   ps        display the processes running inside a container
   resume    resume all processes that have been previously paused
   run       create and run a container
   spec      create a new specification file
   start     execute the user defined process in a created container
   state     output the state of a container
   update    update container resource constraints

global options:
   --root value        root directory for storage of container state
   --log value         set the log file to write runtime logs to (default: stderr)
   --log-format value  set the log format ('text' (default), or 'json')
   --debug             enable debug logging
   --systemd-cgroup    expect cgroupsPath of the form \"slice:prefix:name\"
   --version, -v       print the version
   --help, -h          show help
";

/// A flag a verb accepts: long name, short letter, whether it takes a value.
struct Flag(&'static str, Option<char>, bool);

/// Flags found on a verb's command line.
#[derive(Default)]
struct Found {
    values: Vec<(&'static str, String)>,
    bools: Vec<&'static str>,
    pos: Vec<String>,
}

impl Found {
    fn get(&self, name: &str) -> Option<String> {
        self.values.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.clone()).collect()
    }
    fn has(&self, name: &str) -> bool {
        self.bools.contains(&name)
    }
    fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| anyhow!("invalid value {v:?} for flag --{name}")),
        }
    }
    fn id(&mut self, verb: &str) -> Result<String> {
        if self.pos.is_empty() {
            bail!("{verb}: a container id is required");
        }
        Ok(self.pos.remove(0))
    }
}

/// Parses a verb's flags and positional arguments; after `raw_after`
/// positionals everything else is taken as it is (exec's command, ps's args).
fn verb_args(verb: &str, args: &[String], flags: &[Flag], raw_after: Option<usize>) -> Result<Found> {
    let mut f = Found::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if raw_after.is_some_and(|n| f.pos.len() >= n) {
            f.pos.push(a.clone());
            continue;
        }
        if a == "--" {
            f.pos.extend(args[i..].iter().cloned());
            break;
        }
        let (name, inline): (String, Option<String>) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if a.len() > 1 && a.starts_with('-') {
            let rest = &a[1..];
            let c = rest.chars().next().unwrap_or('-');
            let flag = flags.iter().find(|fl| fl.1 == Some(c)).ok_or_else(|| anyhow!("{verb}: flag provided but not defined: {a}"))?;
            let inline = if rest.len() > 1 { Some(rest[1..].trim_start_matches('=').to_string()) } else { None };
            (flag.0.to_string(), inline)
        } else {
            f.pos.push(a.clone());
            continue;
        };
        if name == "help" {
            bail!("{verb}: see `berth-runtime --help` and runc's manual for {verb}");
        }
        let flag = flags.iter().find(|fl| fl.0 == name).ok_or_else(|| anyhow!("{verb}: flag provided but not defined: {a}"))?;
        if flag.2 {
            let v = match inline {
                Some(v) => v,
                None => {
                    let v = args.get(i).ok_or_else(|| anyhow!("{verb}: flag needs an argument: --{name}"))?.clone();
                    i += 1;
                    v
                }
            };
            f.values.push((flag.0, v));
        } else {
            match inline.as_deref() {
                None | Some("true") => f.bools.push(flag.0),
                Some("false") => f.bools.retain(|b| *b != flag.0),
                Some(v) => bail!("{verb}: invalid boolean value {v:?} for --{name}"),
            }
        }
    }
    Ok(f)
}

const CREATE_FLAGS: &[Flag] = &[
    Flag("bundle", Some('b'), true),
    Flag("console-socket", None, true),
    Flag("pid-file", None, true),
    Flag("no-pivot", None, false),
    Flag("no-new-keyring", None, false),
    Flag("preserve-fds", None, true),
];

fn create_args(verb: &str, f: &mut Found) -> Result<CreateArgs> {
    let a = CreateArgs {
        bundle: f.get("bundle").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")),
        console_socket: f.get("console-socket").map(PathBuf::from),
        pid_file: f.get("pid-file").map(PathBuf::from),
        no_pivot: f.has("no-pivot"),
        no_new_keyring: f.has("no-new-keyring"),
        preserve_fds: f.parse("preserve-fds")?.unwrap_or(0),
        id: f.id(verb)?,
    };
    no_extra(verb, f)?;
    Ok(a)
}

fn no_extra(verb: &str, f: &Found) -> Result<()> {
    if let Some(x) = f.pos.first() {
        bail!("{verb}: unexpected argument {x:?}");
    }
    Ok(())
}

/// Parses the whole command line (without argv[0]).
pub fn parse(args: &[String]) -> Result<Cli> {
    let mut cli = Cli { log_format: "text".into(), ..Cli::default() };
    let mut i = 0;
    // global flags, then the verb
    let verb = loop {
        let Some(a) = args.get(i) else { return Ok(cli) };
        i += 1;
        let (name, inline) = match a.strip_prefix("--") {
            Some(l) => match l.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (l.to_string(), None),
            },
            None if a == "-v" => ("version".into(), None),
            None if a == "-h" => ("help".into(), None),
            None if a.starts_with('-') => bail!("flag provided but not defined: {a}"),
            None => break a.clone(),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = args.get(i).ok_or_else(|| anyhow!("flag needs an argument: --{name}"))?.clone();
            i += 1;
            Ok(v)
        };
        match name.as_str() {
            "root" => cli.root = Some(PathBuf::from(value()?)),
            "log" => cli.log = Some(PathBuf::from(value()?)),
            "log-format" => {
                let v = value()?;
                if v != "text" && v != "json" {
                    bail!("invalid log format {v:?}: must be text or json");
                }
                cli.log_format = v;
            }
            "debug" => cli.debug = true,
            "systemd-cgroup" => cli.systemd_cgroup = true,
            "version" => cli.version = true,
            "help" => cli.help = true,
            other => bail!("flag provided but not defined: --{other}"),
        }
    };
    let rest = &args[i..];
    let cmd = match verb.as_str() {
        "create" => Cmd::Create(create_args("create", &mut verb_args("create", rest, CREATE_FLAGS, None)?)?),
        "run" => {
            let flags: Vec<Flag> = CREATE_FLAGS
                .iter()
                .map(|f| Flag(f.0, f.1, f.2))
                .chain([Flag("detach", Some('d'), false), Flag("keep", None, false), Flag("no-subreaper", None, false)])
                .collect();
            let mut f = verb_args("run", rest, &flags, None)?;
            let (detach, keep) = (f.has("detach"), f.has("keep"));
            Cmd::Run { create: create_args("run", &mut f)?, detach, keep }
        }
        "start" | "state" | "pause" | "resume" => {
            let mut f = verb_args(&verb, rest, &[], None)?;
            let id = f.id(&verb)?;
            no_extra(&verb, &f)?;
            match verb.as_str() {
                "start" => Cmd::Start { id },
                "state" => Cmd::State { id },
                "pause" => Cmd::Pause { id },
                _ => Cmd::Resume { id },
            }
        }
        "kill" => {
            let mut f = verb_args("kill", rest, &[Flag("all", Some('a'), false)], None)?;
            let id = f.id("kill")?;
            let signal = if f.pos.is_empty() { "SIGTERM".to_string() } else { f.pos.remove(0) };
            no_extra("kill", &f)?;
            Cmd::Kill { all: f.has("all"), id, signal }
        }
        "delete" => {
            let mut f = verb_args("delete", rest, &[Flag("force", Some('f'), false)], None)?;
            let id = f.id("delete")?;
            no_extra("delete", &f)?;
            Cmd::Delete { force: f.has("force"), id }
        }
        "list" => {
            let f = verb_args("list", rest, &[Flag("format", Some('f'), true), Flag("quiet", Some('q'), false)], None)?;
            no_extra("list", &f)?;
            let format = f.get("format").unwrap_or_else(|| "table".into());
            if format != "table" && format != "json" {
                bail!("list: invalid format {format:?}: must be table or json");
            }
            Cmd::List { format, quiet: f.has("quiet") }
        }
        "ps" => {
            let mut f = verb_args("ps", rest, &[Flag("format", Some('f'), true)], Some(1))?;
            let id = f.id("ps")?;
            let format = f.get("format").unwrap_or_else(|| "table".into());
            if format != "table" && format != "json" {
                bail!("ps: invalid format {format:?}: must be table or json");
            }
            Cmd::Ps { format, id, ps_args: std::mem::take(&mut f.pos) }
        }
        "exec" => {
            let flags = [
                Flag("console-socket", None, true),
                Flag("cwd", None, true),
                Flag("env", Some('e'), true),
                Flag("tty", Some('t'), false),
                Flag("user", Some('u'), true),
                Flag("additional-gids", Some('g'), true),
                Flag("process", Some('p'), true),
                Flag("detach", Some('d'), false),
                Flag("pid-file", None, true),
                Flag("cap", Some('c'), true),
                Flag("no-new-privs", None, false),
                Flag("preserve-fds", None, true),
            ];
            let mut f = verb_args("exec", rest, &flags, Some(1))?;
            let id = f.id("exec")?;
            let additional_gids = f
                .all("additional-gids")
                .iter()
                .map(|g| g.parse().map_err(|_| anyhow!("exec: invalid --additional-gids {g:?}")))
                .collect::<Result<Vec<u32>>>()?;
            Cmd::Exec(Box::new(ExecArgs {
                console_socket: f.get("console-socket").map(PathBuf::from),
                cwd: f.get("cwd").map(PathBuf::from),
                env: f.all("env"),
                tty: f.has("tty"),
                user: f.get("user"),
                additional_gids,
                process: f.get("process").map(PathBuf::from),
                detach: f.has("detach"),
                pid_file: f.get("pid-file").map(PathBuf::from),
                cap: f.all("cap"),
                no_new_privs: f.has("no-new-privs"),
                preserve_fds: f.parse("preserve-fds")?.unwrap_or(0),
                id,
                command: std::mem::take(&mut f.pos),
            }))
        }
        "spec" => {
            let f = verb_args("spec", rest, &[Flag("bundle", Some('b'), true), Flag("rootless", None, false)], None)?;
            no_extra("spec", &f)?;
            Cmd::Spec { bundle: f.get("bundle").map(PathBuf::from), rootless: f.has("rootless") }
        }
        "features" => {
            no_extra("features", &verb_args("features", rest, &[], None)?)?;
            Cmd::Features
        }
        "update" => {
            let flags = [
                Flag("resources", Some('r'), true),
                Flag("blkio-weight", None, true),
                Flag("cpu-period", None, true),
                Flag("cpu-quota", None, true),
                Flag("cpu-rt-period", None, true),
                Flag("cpu-rt-runtime", None, true),
                Flag("cpu-share", None, true),
                Flag("cpuset-cpus", None, true),
                Flag("cpuset-mems", None, true),
                Flag("memory", None, true),
                Flag("memory-reservation", None, true),
                Flag("memory-swap", None, true),
                Flag("pids-limit", None, true),
            ];
            let mut f = verb_args("update", rest, &flags, None)?;
            let id = f.id("update")?;
            no_extra("update", &f)?;
            Cmd::Update(Box::new(UpdateArgs {
                resources: f.get("resources").map(PathBuf::from),
                blkio_weight: f.parse("blkio-weight")?,
                cpu_period: f.parse("cpu-period")?,
                cpu_quota: f.parse("cpu-quota")?,
                cpu_rt_period: f.parse("cpu-rt-period")?,
                cpu_rt_runtime: f.parse("cpu-rt-runtime")?,
                cpu_share: f.parse("cpu-share")?,
                cpuset_cpus: f.get("cpuset-cpus"),
                cpuset_mems: f.get("cpuset-mems"),
                memory: f.get("memory"),
                memory_reservation: f.get("memory-reservation"),
                memory_swap: f.get("memory-swap"),
                pids_limit: f.parse("pids-limit")?,
                id,
            }))
        }
        "events" => {
            let mut f = verb_args("events", rest, &[Flag("interval", None, true), Flag("stats", None, false)], None)?;
            let id = f.id("events")?;
            no_extra("events", &f)?;
            Cmd::Events { interval: f.get("interval").unwrap_or_else(|| "5s".into()), stats: f.has("stats"), id }
        }
        "help" => {
            cli.help = true;
            return Ok(cli);
        }
        other => bail!("no such command: {other:?} (see --help)"),
    };
    cli.cmd = Some(cmd);
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Cli> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn containerd_style_invocation() {
        let c = p("--root /run/x --log /tmp/l --log-format json --systemd-cgroup create --bundle /b --pid-file /p --console-socket /s id1").unwrap();
        assert_eq!(c.root.as_deref(), Some(std::path::Path::new("/run/x")));
        assert_eq!(c.log_format, "json");
        assert!(c.systemd_cgroup);
        match c.cmd.unwrap() {
            Cmd::Create(a) => {
                assert_eq!(a.id, "id1");
                assert_eq!(a.bundle, PathBuf::from("/b"));
                assert_eq!(a.console_socket, Some(PathBuf::from("/s")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_keeps_the_command_as_is() {
        match p("exec -e A=1 --env=B=2 -t id sh -c ls -la --tty").unwrap().cmd.unwrap() {
            Cmd::Exec(a) => {
                assert_eq!(a.env, vec!["A=1", "B=2"]);
                assert!(a.tty);
                assert_eq!(a.id, "id");
                assert_eq!(a.command, vec!["sh", "-c", "ls", "-la", "--tty"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_ps_and_errors() {
        match p("kill -a id KILL").unwrap().cmd.unwrap() {
            Cmd::Kill { all, id, signal } => assert!(all && id == "id" && signal == "KILL"),
            other => panic!("{other:?}"),
        }
        match p("ps -f json id -o pid").unwrap().cmd.unwrap() {
            Cmd::Ps { format, ps_args, .. } => assert!(format == "json" && ps_args == vec!["-o", "pid"]),
            other => panic!("{other:?}"),
        }
        assert!(p("create").is_err());
        assert!(p("delete --bogus id").is_err());
        assert!(p("run -d").is_err());
        assert!(p("--log-format xml state x").is_err());
        assert!(p("frobnicate x").is_err());
    }
}
