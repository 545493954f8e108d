//! `berth-init`: the minimal init for `docker run --init` (what tini is as
//! `docker-init`).
//!
//! It runs as pid 1 of the container, starts the command as its child in a
//! process group of its own (made the terminal's foreground group when
//! stdin is a terminal), forwards every signal it receives to that group,
//! reaps every zombie re-parented to it, and exits with the child's exit
//! code (128 + the signal when a signal killed the child).
//!
//! ```text
//! berth-init [-s] [-g] [-w] [-v]... [-p SIGNAL] [-e CODE]... [--] PROGRAM [ARGS...]
//! ```
//!
//! `-s` register as child subreaper (when not pid 1); `-g` forward signals to
//! the child's process group (the default here, accepted for tini
//! compatibility); `-w` warn on each reaped zombie; `-v` more messages on
//! stderr; `-p SIGNAL` the parent-death signal; `-e CODE` exit 0 when the
//! child exits with CODE; `-l` license; `-h` help; `--version`.
//!
//! Deliberately different from tini: signals go to the child's whole process
//! group by default (tini needs `-g`), so a shell's children are signalled
//! too. tini's `TINI_*` environment variables are not read.
//!
//! It must run in containers that have no C library, so it is built
//! statically for use (`scripts/setup` builds
//! `target/x86_64-unknown-linux-gnu/release/berth-init` with
//! `-C target-feature=+crt-static`); its only dependencies are `libc` and
//! `nix` (safe system-call wrappers).

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, execvp, fork, getpid, isatty, setpgid, tcsetpgrp};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

const USAGE: &str = "\
usage: berth-init [-h] [-s] [-g] [-w] [-v] [-l] [-p SIGNAL] [-e EXIT_CODE] [--] PROGRAM [ARGS...]

Runs PROGRAM as the child of a minimal init: forwards signals to its process
group, reaps zombies, exits with its exit code (128 + signal when killed).

  -h            show this help
  -s            register as a child subreaper (when not running as pid 1)
  -g            send signals to the child's process group (the default)
  -w            print a warning whenever a zombie other than the child is reaped
  -v            more messages on stderr (repeat for more)
  -l            show the license
  -p SIGNAL     set SIGNAL as this process's parent-death signal
  -e EXIT_CODE  exit 0 when the child exits with EXIT_CODE (repeatable)
  --version     print the version
";

/// Signals that are about this process's own faults; they are never
/// blocked or forwarded.
const SYNCHRONOUS: [Signal; 7] =
    [Signal::SIGFPE, Signal::SIGILL, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGABRT, Signal::SIGTRAP, Signal::SIGSYS];

#[derive(Debug, Default)]
struct Opts {
    subreaper: bool,
    warn_zombies: bool,
    verbosity: u8,
    parent_death: Option<Signal>,
    remap_to_zero: Vec<i32>,
    argv: Vec<CString>,
}

enum Parsed {
    Run(Opts),
    Exit(u8),
}

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "berth-init: {msg}");
}

fn parse(args: Vec<std::ffi::OsString>) -> Result<Parsed, String> {
    let mut o = Opts::default();
    let mut it = args.into_iter();
    let mut rest = Vec::new();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            rest.extend(it.by_ref());
            break;
        }
        if s == "--version" {
            println!("berth-init {}", env!("CARGO_PKG_VERSION"));
            return Ok(Parsed::Exit(0));
        }
        if !s.starts_with('-') || s == "-" {
            rest.push(a);
            rest.extend(it.by_ref());
            break;
        }
        let flags: Vec<char> = s[1..].chars().collect();
        let mut i = 0;
        while i < flags.len() {
            match flags[i] {
                'h' => {
                    print!("{USAGE}");
                    return Ok(Parsed::Exit(0));
                }
                'l' => {
                    println!("berth-init is licensed under the Apache License, Version 2.0.");
                    return Ok(Parsed::Exit(0));
                }
                's' => o.subreaper = true,
                'g' => {}
                'w' => o.warn_zombies = true,
                'v' => o.verbosity = o.verbosity.saturating_add(1),
                c @ ('p' | 'e') => {
                    let inline: String = flags[i + 1..].iter().collect();
                    let value = if inline.is_empty() {
                        it.next().map(|v| v.to_string_lossy().into_owned()).ok_or(format!("option -{c} needs a value"))?
                    } else {
                        inline
                    };
                    if c == 'p' {
                        o.parent_death = Some(parse_signal(&value).ok_or(format!("invalid signal {value:?} for -p"))?);
                    } else {
                        let code = value.parse::<i32>().ok().filter(|c| (0..=255).contains(c));
                        o.remap_to_zero.push(code.ok_or(format!("invalid exit code {value:?} for -e: expected 0-255"))?);
                    }
                    i = flags.len();
                    continue;
                }
                c => return Err(format!("unknown option -{c}")),
            }
            i += 1;
        }
    }
    if rest.is_empty() {
        return Err("no program to run".to_string());
    }
    o.argv = rest
        .into_iter()
        .map(|a| CString::new(a.into_vec()).map_err(|_| "an argument contains a NUL byte".to_string()))
        .collect::<Result<_, _>>()?;
    Ok(Parsed::Run(o))
}

fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    name.parse().ok()
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args_os().skip(1).collect()) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Exit(code)) => return ExitCode::from(code),
        Err(e) => {
            say(&e);
            let _ = std::io::stderr().write_all(USAGE.as_bytes());
            return ExitCode::from(1);
        }
    };
    match run(opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            say(&e);
            ExitCode::from(1)
        }
    }
}

fn run(o: Opts) -> Result<u8, String> {
    // Every signal but the synchronous ones is taken with sigwait below.
    let mut wait_set = SigSet::all();
    for s in SYNCHRONOUS {
        wait_set.remove(s);
    }
    let mut original = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&wait_set), Some(&mut original))
        .map_err(|e| format!("block signals: {e}"))?;

    if let Some(sig) = o.parent_death {
        nix::sys::prctl::set_pdeathsig(Some(sig)).map_err(|e| format!("set the parent-death signal: {e}"))?;
    }
    let pid1 = getpid() == Pid::from_raw(1);
    if o.subreaper {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("become child subreaper: {e}"))?;
    } else if !pid1 {
        say("warning: not running as pid 1 and not a child subreaper (-s): orphaned zombies will not be reaped");
    }

    // SAFETY: this process is single-threaded, so the child may run any code.
    let child = match unsafe { fork() } {
        Err(e) => return Err(format!("fork: {e}")),
        Ok(ForkResult::Child) => exec_child(&o, &original),
        Ok(ForkResult::Parent { child }) => child,
    };
    // Also set here, so the group exists before any signal is forwarded.
    let _ = setpgid(child, child);
    if o.verbosity >= 1 {
        say(&format!("started {:?} as pid {child}", o.argv[0]));
    }

    loop {
        let sig = match wait_set.wait() {
            Ok(s) => s,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(format!("wait for signals: {e}")),
        };
        if sig == Signal::SIGCHLD {
            if let Some(code) = reap(child, &o) {
                return Ok(code);
            }
            continue;
        }
        if o.verbosity >= 2 {
            say(&format!("forwarding {sig} to process group {child}"));
        }
        // The whole group (a shell's children too); the child itself if
        // the group is gone (it moved to another group).
        if kill(Pid::from_raw(-child.as_raw()), sig) == Err(Errno::ESRCH) {
            let _ = kill(child, sig);
        }
    }
}

/// Reaps every exited child; the main child's exit code once it is gone.
fn reap(child: Pid, o: &Opts) -> Option<u8> {
    let mut result = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                let code = if o.remap_to_zero.contains(&code) { 0 } else { code };
                result = Some(u8::try_from(code).unwrap_or(255));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(u8::try_from(128 + sig as i32).unwrap_or(255));
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return result,
            Ok(status) => {
                if o.warn_zombies
                    && let Some(pid) = status.pid()
                {
                    say(&format!("reaped zombie process {pid}"));
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return result,
        }
    }
}

/// In the child: own process group (the terminal's foreground one when
/// stdin is a terminal), the original signal mask, then the program.
fn exec_child(o: &Opts, original: &SigSet) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // SIGTTOU is blocked here, so taking the terminal from the background
    // group succeeds.
    if isatty(std::io::stdin()).unwrap_or(false) {
        let _ = tcsetpgrp(std::io::stdin(), getpid());
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(original), None);
    let err = match execvp(&o.argv[0], &o.argv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let code = match err {
        Errno::ENOENT => 127,
        Errno::EACCES => 126,
        _ => 1,
    };
    say(&format!("exec {}: {}", o.argv[0].to_string_lossy(), err.desc()));
    // Without running the parent's exit handlers or flushing its buffers.
    // SAFETY: _exit(2) ends the process at once; no Rust state outlives it.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    fn opts(a: &[&str]) -> Opts {
        match parse(args(a)) {
            Ok(Parsed::Run(o)) => o,
            _ => panic!("expected a run for {a:?}"),
        }
    }

    #[test]
    fn parses_tini_style_options() {
        let o = opts(&["-s", "-wvv", "-p", "SIGKILL", "-e3", "-e", "4", "--", "sh", "-c", "x"]);
        assert!(o.subreaper && o.warn_zombies);
        assert_eq!(o.verbosity, 2);
        assert_eq!(o.parent_death, Some(Signal::SIGKILL));
        assert_eq!(o.remap_to_zero, vec![3, 4]);
        assert_eq!(o.argv.len(), 3);
        let o = opts(&["sleep", "-s"]);
        assert!(!o.subreaper, "options end at the program");
        assert_eq!(o.argv[1].to_str(), Ok("-s"));
    }

    #[test]
    fn rejects_bad_options() {
        for bad in [&["-x", "sh"][..], &["-p", "NOPE", "sh"], &["-e", "300", "sh"], &["-s"], &[]] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(parse_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
    }
}
