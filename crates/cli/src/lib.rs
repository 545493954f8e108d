//! berth's command line: docker's commands, flags, output and exit codes,
//! as a client of berthd's Docker Engine API (never of its internals).
//!
//! What it owns: parsing command lines the way docker's (pflag) does
//! ([`flags`]), the command tree ([`app`], [`commands`]), `run`/`create`
//! options ([`opts`]), the API client over a unix socket ([`client`]),
//! output formats and Go templates ([`format`]), progress bars
//! ([`progress`]), the terminal and signals ([`term`], [`signals`],
//! [`stream`]), credentials ([`auth`]) and image references
//! ([`reference`]).
//!
//! What it must not touch: the engine, the image store, the runtime — only
//! the HTTP API.

pub mod app;
pub mod auth;
pub mod client;
pub mod commands;
pub mod error;
pub mod flags;
pub mod format;
pub mod opts;
pub mod progress;
pub mod reference;
pub mod signals;
pub mod stream;
pub mod term;

/// Runs the command line of this process; returns the exit code.
pub fn main_with_args() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    app::run(argv)
}
