//! `berth-runtime`: an OCI runtime that speaks runc's command line. This
//! binary only parses the command line, reports errors and logs; the work is
//! done by the `berth-container` library.
//!
//! It deliberately has no logging framework: it is a short-lived process on
//! every container's start path, and the few lines it logs (to `--log`, in
//! runc's text or JSON shape, which containerd parses) do not need one.

mod cli;
mod log;
mod update;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use berth_container::lifecycle::{self, Runtime};

use cli::{Cli, Cmd};

/// runc accepts Go-style single-dash long flags (`-root`); so do we.
fn normalize_args() -> Vec<std::ffi::OsString> {
    const LONG: &[&str] = &[
        "root", "log", "log-format", "debug", "systemd-cgroup", "bundle", "console-socket", "pid-file", "no-pivot",
        "no-new-keyring", "preserve-fds", "detach", "keep", "force", "format", "quiet", "all", "rootless", "process",
        "tty", "cwd", "env", "user", "cap", "no-new-privs", "interval", "stats", "resources",
    ];
    let mut out = Vec::new();
    let mut after_verb_args = false;
    for (i, a) in std::env::args_os().enumerate() {
        if i > 0 && !after_verb_args {
            if let Some(s) = a.to_str() {
                if s == "--" {
                    after_verb_args = true;
                }
                if let Some(rest) = s.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                    let name = rest.split('=').next().unwrap_or(rest);
                    if LONG.contains(&name) {
                        out.push(format!("-{s}").into());
                        continue;
                    }
                }
            }
        }
        out.push(a);
    }
    out
}

fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/berth-runtime");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("berth-runtime"),
        None => PathBuf::from(format!("/tmp/berth-runtime-{}", nix::unistd::geteuid())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = normalize_args().into_iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let cli = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth-runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let logger = log::Logger::new(cli.log.as_deref(), &cli.log_format, cli.debug);
    match run(&cli, &logger) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.chain().map(|c| c.to_string()).collect::<Vec<_>>();
            // drop repeated suffixes (a library error that already printed its cause)
            let mut line = String::new();
            for m in msg {
                if !line.ends_with(&m) {
                    if !line.is_empty() {
                        line.push_str(": ");
                    }
                    line.push_str(&m);
                }
            }
            logger.error(&line);
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli, logger: &log::Logger) -> Result<u8> {
    if cli.version {
        out(&format!("berth-runtime version {}\nspec: {}\n", env!("CARGO_PKG_VERSION"), berth_container::OCI_VERSION))?;
        return Ok(0);
    }
    let Some(cmd) = &cli.cmd else {
        out(cli::USAGE)?;
        return Ok(0);
    };
    if cli.help {
        out(cli::USAGE)?;
        return Ok(0);
    }
    let rt = Runtime::new(cli.root.clone().unwrap_or_else(default_root), cli.systemd_cgroup);
    match cmd {
        Cmd::Create(a) => {
            berth_container::exe_guard::ensure_protected(3 + a.preserve_fds as i32)?;
            lifecycle::create::create(&rt, &create_opts(a), false)?;
        }
        Cmd::Run { create, detach, keep } => {
            berth_container::exe_guard::ensure_protected(3 + create.preserve_fds as i32)?;
            return run_container(&rt, &create_opts(create), *detach, *keep, logger);
        }
        Cmd::Start { id } => lifecycle::start::start(&rt, id)?,
        Cmd::State { id } => {
            let v = lifecycle::state::state(&rt, id)?;
            out(&(serde_json::to_string_pretty(&v)? + "\n"))?;
        }
        Cmd::Kill { all, id, signal } => {
            let sig = berth_container::signal::parse(signal)?;
            lifecycle::kill::kill(&rt, id, sig, *all)?;
        }
        Cmd::Delete { force, id } => lifecycle::delete::delete(&rt, id, *force)?,
        Cmd::List { format, quiet } => {
            let (format, quiet) = (format.as_str(), *quiet);
            let list = lifecycle::list::list(&rt)?;
            if quiet {
                let mut s = String::new();
                for c in &list {
                    s.push_str(c["id"].as_str().unwrap_or_default());
                    s.push('\n');
                }
                out(&s)?;
            } else if format == "json" {
                out(&(serde_json::to_string(&list)? + "\n"))?;
            } else {
                let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
                for c in &list {
                    let s = |k: &str| c[k].as_str().map(String::from).unwrap_or_else(|| c[k].to_string());
                    rows.push(vec![s("id"), s("pid"), s("status"), s("bundle"), s("created"), s("owner")]);
                }
                out(&lifecycle::list::table(&rows))?;
            }
        }
        Cmd::Ps { format, id, ps_args } => {
            if format == "json" {
                out(&(serde_json::to_string(&lifecycle::ps::pids(&rt, id)?)? + "\n"))?;
            } else {
                out(&lifecycle::ps::table(&rt, id, ps_args)?)?;
            }
        }
        Cmd::Exec(a) => {
            berth_container::exe_guard::ensure_protected(3 + a.preserve_fds as i32)?;
            let o = lifecycle::exec::ExecOpts {
                id: a.id.clone(),
                process_file: a.process.clone(),
                args: a.command.clone(),
                tty: a.tty,
                console_socket: a.console_socket.clone(),
                detach: a.detach,
                pid_file: a.pid_file.clone(),
                env: a.env.clone(),
                cwd: a.cwd.clone(),
                user: a.user.clone(),
                additional_gids: a.additional_gids.clone(),
                caps: a.cap.clone(),
                no_new_privs: a.no_new_privs,
                preserve_fds: a.preserve_fds,
            };
            let code = lifecycle::exec::exec(&rt, &o)?;
            return Ok(code.clamp(0, 255) as u8);
        }
        Cmd::Spec { bundle, rootless } => {
            let dir = bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let path = dir.join("config.json");
            if path.exists() {
                bail!("file {} exists: remove it first", path.display());
            }
            let mut spec = berth_container::spec::default_spec();
            if *rootless {
                spec = berth_container::spec::rootless(spec, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
            }
            std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n").with_context(|| format!("write {}", path.display()))?;
        }
        Cmd::Features => out(&(serde_json::to_string_pretty(&berth_container::features::features())? + "\n"))?,
        Cmd::Pause { id } => lifecycle::pause::pause(&rt, id)?,
        Cmd::Resume { id } => lifecycle::pause::resume(&rt, id)?,
        Cmd::Update(a) => {
            let r = update::resources(a)?;
            lifecycle::update::update(&rt, &a.id, &r)?;
        }
        Cmd::Events { interval, stats, id } => {
            let d = parse_duration(interval).ok_or_else(|| anyhow!("invalid --interval {interval:?}"))?;
            if d.is_zero() {
                bail!("--interval must be greater than 0");
            }
            lifecycle::events::events(&rt, id, d, *stats, &mut std::io::stdout())?;
        }
    }
    Ok(0)
}

/// Writes to stdout; a reader that went away (`state x | head -1`) is not
/// an error, as with runc.
fn out(s: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|_| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn create_opts(a: &cli::CreateArgs) -> lifecycle::create::CreateOpts {
    lifecycle::create::CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
    }
}

/// `run`: create and start; in the foreground, wait, relay the terminal,
/// forward signals and delete afterwards (unless `--keep`).
fn run_container(rt: &Runtime, o: &lifecycle::create::CreateOpts, detach: bool, keep: bool, logger: &log::Logger) -> Result<u8> {
    let sigfd = if detach {
        None
    } else {
        // the container init may be reparented to us (user namespaces)
        nix::sys::prctl::set_child_subreaper(true)?;
        Some(lifecycle::wait::block_signals()?)
    };
    let created = lifecycle::create::create(rt, o, !detach)?;
    let id = o.id.clone();
    let started = lifecycle::start::release(&created.dir, &created.state);
    let cleanup = |rt: &Runtime| {
        if !keep {
            if let Err(e) = lifecycle::delete::delete(rt, &id, true) {
                logger.error(&format!("delete {id}: {}", e.chain()));
            }
        }
    };
    if let Err(e) = started {
        drop(created.dir);
        cleanup(rt);
        return Err(e.into());
    }
    let cfg = created.dir.load_config()?;
    let json = lifecycle::state_json(&created.state, berth_container::state::Status::Running).to_string();
    berth_container::hooks::run_all_warn("poststart", berth_container::hooks::of(&cfg.spec, "poststart"), json.as_bytes(), &mut |e| {
        logger.warn(&e.chain());
    });
    let Some(sigfd) = sigfd else { return Ok(0) };
    let pid = nix::unistd::Pid::from_raw(created.state.pid);
    drop(created.dir);
    let code = lifecycle::wait::wait(pid, &sigfd, created.console_master)?;
    cleanup(rt);
    Ok(code.clamp(0, 255) as u8)
}

/// Go's time.ParseDuration for the forms people pass: `5s`, `100ms`, `1m30s`.
fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("5s"), Some(std::time::Duration::from_secs(5)));
        assert_eq!(super::parse_duration("1m30s"), Some(std::time::Duration::from_secs(90)));
        assert_eq!(super::parse_duration("250ms"), Some(std::time::Duration::from_millis(250)));
        assert_eq!(super::parse_duration("5"), None);
        assert_eq!(super::parse_duration(""), None);
    }
}
