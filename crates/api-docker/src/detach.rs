//! Detach keys (`ctrl-p,ctrl-q` by default): dockerd watches a tty attach's
//! stdin for the sequence and ends the attach, leaving the container
//! running. Keys that start the sequence are held back until it is clear
//! whether the whole sequence follows.

/// docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

/// Parses docker's `detachKeys` (`ctrl-p,ctrl-q`, `ctrl-a,x`, `ctrl-@`,
/// `DEL`), with docker's error text for unknown keys.
pub fn parse_keys(s: &str) -> Result<Vec<u8>, String> {
    const NAMED: [&str; 32] = [
        "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h", "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l",
        "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q", "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y",
        "ctrl-z", "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
    ];
    let mut out = Vec::new();
    for key in s.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else if let Some(code) = NAMED.iter().position(|n| *n == key) {
            // NAMED has 32 entries
            out.push(u8::try_from(code).unwrap_or(0));
        } else if key == "DEL" {
            out.push(127);
        } else {
            return Err(format!("Invalid detach keys ({s}) provided"));
        }
    }
    Ok(out)
}

/// What [`Scanner::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Bytes to pass on to the process (possibly empty while a partial
    /// sequence is held back).
    Forward(Vec<u8>),
    /// The whole sequence was typed; the bytes before it are to be passed
    /// on, then the attach ends.
    Detach(Vec<u8>),
}

/// Watches a byte stream for the detach sequence.
#[derive(Debug, Clone)]
pub struct Scanner {
    keys: Vec<u8>,
    matched: usize,
}

impl Scanner {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> Scan {
        if self.keys.is_empty() {
            return Scan::Forward(data.to_vec());
        }
        let mut out = Vec::with_capacity(data.len() + self.matched);
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
                continue;
            }
            // not the sequence after all: release what was held back
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Scan::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Scan::Forward(out)
    }

    /// At end of input, the held-back partial sequence.
    pub fn flush(&mut self) -> Vec<u8> {
        let held = self.keys[..self.matched].to_vec();
        self.matched = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(parse_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_keys("ctrl-@,ctrl-_,DEL").unwrap(), vec![0, 31, 127]);
        assert_eq!(parse_keys("ctrl-pp").unwrap_err(), "Invalid detach keys (ctrl-pp) provided");
    }

    #[test]
    fn detects_sequence_split_across_reads() {
        let mut s = Scanner::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(s.feed(b"ab\x10"), Scan::Forward(b"ab".to_vec()));
        assert_eq!(s.feed(b"\x11rest"), Scan::Detach(vec![]));
    }

    #[test]
    fn releases_false_starts() {
        let mut s = Scanner::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(s.feed(b"\x10x"), Scan::Forward(b"\x10x".to_vec()));
        assert_eq!(s.feed(b"\x10\x10\x11"), Scan::Detach(b"\x10".to_vec()));
        assert_eq!(s.feed(b"\x10"), Scan::Forward(vec![]));
        assert_eq!(s.flush(), b"\x10".to_vec());
    }

    #[test]
    fn single_key() {
        let mut s = Scanner::new(vec![b'q']);
        assert_eq!(s.feed(b"abq"), Scan::Detach(b"ab".to_vec()));
        let mut s = Scanner::new(vec![]);
        assert_eq!(s.feed(b"\x10\x11"), Scan::Forward(b"\x10\x11".to_vec()));
    }
}
