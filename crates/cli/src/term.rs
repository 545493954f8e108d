//! The terminal: is it one, its size, raw mode (restored on drop), and
//! docker's detach-key sequences (`ctrl-p,ctrl-q`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};

use nix::sys::termios::{self, SetArg, Termios};

pub const STDIN: RawFd = 0;
pub const STDOUT: RawFd = 1;

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// `(rows, columns)` of the terminal on `fd`.
pub fn size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; a bad fd only fails.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) != 0 || ws.ws_col == 0 {
            return None;
        }
        Some((ws.ws_row, ws.ws_col))
    }
}

/// The width for progress bars: the terminal's, else 80.
pub fn width() -> u16 {
    size(STDOUT).map_or(80, |(_, c)| c)
}

fn borrowed(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: fds 0-2 stay open for the life of the process; this CLI never
    // closes them.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// A terminal in raw mode, put back as it was when dropped.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    /// moby/term's `MakeRaw`: no echo, no line editing, no signals from
    /// keys, no output processing, 8-bit bytes, one byte at a time.
    pub fn enter(fd: RawFd) -> io::Result<RawMode> {
        let f = borrowed(fd);
        let saved = termios::tcgetattr(f.as_fd()).map_err(io::Error::from)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(f.as_fd(), SetArg::TCSANOW, &raw).map_err(io::Error::from)?;
        Ok(RawMode { fd, saved })
    }

    pub fn restore(&self) {
        let _ = termios::tcsetattr(borrowed(self.fd).as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// docker's default detach sequence, Ctrl-P Ctrl-Q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// Parses `ctrl-p,ctrl-q`, `a,b`: docker's `term.ToBytes`.
pub fn detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = c.as_bytes();
            if b.len() != 1 {
                return Err(format!("Unknown character: '{k}'"));
            }
            let code = match b[0] {
                c @ b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(code);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    if out.is_empty() {
        return Err("empty detach keys".into());
    }
    Ok(out)
}

/// Watches typed bytes for the detach sequence, as moby's `EscapeProxy`:
/// bytes that could start the sequence are held back until it is either
/// complete (detach) or broken (they are sent after all).
#[derive(Debug)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    held: usize,
}

/// What to do with a chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Escape {
    /// Send these bytes.
    Forward(Vec<u8>),
    /// The sequence was typed: detach (bytes before it are sent first).
    Detach(Vec<u8>),
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeProxy { keys, held: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Escape {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return Escape::Detach(out);
                }
                continue;
            }
            // the sequence broke: what was held goes out, then this byte is looked at anew
            out.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            if b == self.keys[0] {
                self.held = 1;
                if self.keys.len() == 1 {
                    self.held = 0;
                    return Escape::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Escape::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detach_keys() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(
            detach_keys("ctrl-a,b,ctrl-@,ctrl-["),
            Ok(vec![1, b'b', 0, 27])
        );
        assert!(detach_keys("ctrl-pq").is_err());
        assert!(detach_keys("ab").is_err());
    }

    #[test]
    fn escape_proxy() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ls\r"), Escape::Forward(b"ls\r".to_vec()));
        assert_eq!(p.feed(&[b'a', 16]), Escape::Forward(b"a".to_vec()));
        assert_eq!(p.feed(&[17]), Escape::Detach(Vec::new()));
        // a broken sequence is sent after all
        assert_eq!(p.feed(&[16, b'x']), Escape::Forward(vec![16, b'x']));
        assert_eq!(p.feed(&[16, 16, 17]), Escape::Detach(vec![16]));
        let mut one = EscapeProxy::new(vec![b'q']);
        assert_eq!(one.feed(b"abq"), Escape::Detach(b"ab".to_vec()));
    }
}
