//! Signals for `run`, `attach`, `exec` and `start -a`: the signals are
//! blocked in every thread and one thread takes them with `sigwait`, so no
//! handler runs in the middle of anything. It proxies them to the container
//! (docker's `--sig-proxy`) and turns `SIGWINCH` into the resize API.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

/// The signals docker's CLI forwards to the container: all that can be
/// caught except those about the CLI's own children, pipes and window.
pub const PROXIED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGCONT,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGSYS,
];

/// Blocks `signals` in this thread (and so in every thread spawned after)
/// and starts a thread that calls `on` for each one received.
/// Must be called before any other thread is started.
pub fn handle(
    signals: &[Signal],
    mut on: impl FnMut(Signal) + Send + 'static,
) -> std::io::Result<()> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(std::io::Error::from)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                match set.wait() {
                    Ok(sig) => on(sig),
                    Err(_) => continue,
                }
            }
        })?;
    Ok(())
}

/// The name docker sends in the kill API (`SIGINT` → `INT`... docker sends
/// the number; berth sends the number too).
pub fn number(s: Signal) -> i32 {
    s as i32
}

/// Unblocks everything: for child processes started after `handle` (they
/// would inherit the blocked mask).
pub fn unblock_all_in_child() {
    let all = SigSet::all();
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&all), None);
}
