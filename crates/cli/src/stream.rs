//! The hijacked connection of attach and exec, as docker's
//! `hijackedIOStreamer` runs it: the container's output to our stdout and
//! stderr (demultiplexed unless there is a tty), our stdin to the
//! container (half-closing the connection at EOF), raw terminal and
//! the detach keys when there is a tty.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use berth_docker_types::stdcopy::{Decoder, StreamType};

use crate::client::Conn;
use crate::term::{self, Escape, EscapeProxy, RawMode};

/// What to connect.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub tty: bool,
    /// Send our stdin.
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The detach sequence (tty only).
    pub detach_keys: Vec<u8>,
}

/// How the stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The container closed its side.
    Done,
    /// The user typed the detach keys.
    Detached,
}

/// Why streaming failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("error from daemon in stream: {0}")]
    Daemon(String),
    #[error("{0}")]
    Decode(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

enum Event {
    Output(Result<(), StreamError>),
    Input(Result<bool, io::Error>),
}

/// Copies the container's output; tty output is raw, otherwise stdcopy
/// frames go to stdout or stderr.
fn copy_output(
    mut conn: impl Read,
    tty: bool,
    to_stdout: bool,
    to_stderr: bool,
) -> Result<(), StreamError> {
    let mut buf = vec![0u8; 32 * 1024];
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut dec = Decoder::new();
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // the daemon closing a hijacked connection abruptly is its end too
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        };
        if tty {
            if to_stdout {
                let mut o = stdout.lock();
                o.write_all(&buf[..n])?;
                o.flush()?;
            }
            continue;
        }
        dec.push(&buf[..n]);
        while let Some((stream, chunk)) = dec
            .next_chunk()
            .map_err(|e| StreamError::Decode(e.to_string()))?
        {
            match stream {
                StreamType::Stdout if to_stdout => {
                    let mut o = stdout.lock();
                    o.write_all(&chunk)?;
                    o.flush()?;
                }
                StreamType::Stderr if to_stderr => {
                    let mut e = stderr.lock();
                    e.write_all(&chunk)?;
                    e.flush()?;
                }
                StreamType::Systemerr => {
                    return Err(StreamError::Daemon(
                        String::from_utf8_lossy(&chunk).into_owned(),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Copies stdin to the connection; `Ok(true)` when the detach keys were
/// typed, `Ok(false)` at EOF (the write side is then half-closed).
fn copy_input(conn: &mut crate::client::http::Stream, escape: Option<Vec<u8>>) -> io::Result<bool> {
    let mut proxy = escape.map(EscapeProxy::new);
    let mut buf = vec![0u8; 32 * 1024];
    let mut stdin = io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match proxy.as_mut().map(|p| p.feed(&buf[..n])) {
            None => conn.write_all(&buf[..n])?,
            Some(Escape::Forward(b)) => conn.write_all(&b)?,
            Some(Escape::Detach(b)) => {
                conn.write_all(&b)?;
                return Ok(true);
            }
        }
    }
    conn.shutdown_write()?;
    Ok(false)
}

/// Runs the stream until the output ends or the user detaches.
pub fn run(conn: Conn, opts: &StreamOptions) -> Result<End, StreamError> {
    let raw = if opts.tty && opts.stdin && term::is_tty(term::STDIN) {
        Some(RawMode::enter(term::STDIN)?)
    } else {
        None
    };
    let (tx, rx) = mpsc::channel::<Event>();
    if opts.stdin {
        let mut writer = conn.stream.try_clone()?;
        let escape = if opts.tty {
            Some(opts.detach_keys.clone())
        } else {
            None
        };
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let r = copy_input(&mut writer, escape);
                let _ = tx.send(Event::Input(r));
            })?;
    }
    let (tty, out, err) = (opts.tty, opts.stdout, opts.stderr);
    let closer = conn.stream.try_clone()?;
    std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            let r = copy_output(conn, tty, out, err);
            let _ = tx.send(Event::Output(r));
        })?;
    let mut output_pending = true;
    let result = loop {
        match rx.recv() {
            Ok(Event::Output(r)) => {
                output_pending = false;
                break r.map(|()| End::Done);
            }
            Ok(Event::Input(Ok(true))) => {
                closer.shutdown_both();
                break Ok(End::Detached);
            }
            Ok(Event::Input(Ok(false))) => {
                // stdin done: wait for the output (unless nothing is attached to it)
                if !opts.stdout && !opts.stderr {
                    break Ok(End::Done);
                }
            }
            Ok(Event::Input(Err(e))) => {
                // a closed connection on our side of stdin is not an error if output finishes
                if e.kind() == io::ErrorKind::BrokenPipe
                    || e.kind() == io::ErrorKind::ConnectionReset
                {
                    continue;
                }
                break Err(e.into());
            }
            Err(_) => break Ok(End::Done),
        }
    };
    let _ = output_pending;
    drop(raw);
    result
}
