//! Cutting a byte stream into log messages, as docker's log copier and
//! containerd's CRI logger do.
//!
//! A message is a line (without its `\n`) or, for a line longer than
//! [`MAX_LINE`], a run of partial pieces followed by the line's last piece.
//! Bytes without a final newline stay buffered until more data, the buffer
//! limit or the end of the stream ([`Splitter::finish`]) arrives.

use berth_time::Timestamp;

/// Longest piece of a line written as one message (docker's copier buffer
/// and containerd's default `max_container_log_line_size`: 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// When an over-long line is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMode {
    /// docker: a piece is emitted as soon as [`MAX_LINE`] bytes without a
    /// newline are buffered; all pieces of one line carry the first piece's
    /// timestamp.
    Docker,
    /// containerd CRI: a piece is emitted only once a line is known to be
    /// longer than [`MAX_LINE`]; each piece has its own timestamp.
    Cri,
}

/// One message.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The bytes, without the line's `\n`.
    pub bytes: &'a [u8],
    /// `true` for a piece that does not end its line (more follows, or the
    /// stream ended without a newline).
    pub partial: bool,
    /// When the message was read.
    pub time: Timestamp,
}

/// Per-stream line buffer.
#[derive(Debug)]
pub struct Splitter {
    mode: SplitMode,
    pending: Vec<u8>,
    /// docker mode: timestamp of the first piece of the line being cut.
    piece_time: Option<Timestamp>,
}

impl Splitter {
    /// An empty splitter.
    pub fn new(mode: SplitMode) -> Splitter {
        Splitter { mode, pending: Vec::new(), piece_time: None }
    }

    /// Feeds `data`; calls `emit` for each complete message. `now` is asked
    /// for the time of each message.
    pub fn feed(&mut self, mut data: &[u8], now: &mut dyn FnMut() -> Timestamp, emit: &mut dyn FnMut(Message<'_>)) {
        while !data.is_empty() {
            if self.mode == SplitMode::Cri && self.pending.len() == MAX_LINE && data[0] != b'\n' {
                // The line is longer than the limit: what is buffered is a piece.
                self.emit_pending(true, now, emit);
            }
            let room = MAX_LINE - self.pending.len();
            let window = &data[..data.len().min(room + usize::from(self.mode == SplitMode::Cri))];
            match memchr(b'\n', window) {
                Some(i) => {
                    if self.pending.is_empty() && self.piece_time.is_none() {
                        // Fast path: a whole line in the input, no copy.
                        let t = now();
                        emit(Message { bytes: &data[..i], partial: false, time: t });
                    } else {
                        self.pending.extend_from_slice(&data[..i]);
                        self.emit_pending(false, now, emit);
                    }
                    data = &data[i + 1..];
                }
                None => {
                    let take = data.len().min(room);
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.mode == SplitMode::Docker && self.pending.len() == MAX_LINE {
                        self.emit_pending(true, now, emit);
                    }
                }
            }
        }
        self.release();
    }

    /// End of the stream: whatever is buffered becomes a partial message.
    pub fn finish(&mut self, now: &mut dyn FnMut() -> Timestamp, emit: &mut dyn FnMut(Message<'_>)) {
        if !self.pending.is_empty() {
            self.emit_pending(true, now, emit);
        }
        self.piece_time = None;
        self.pending = Vec::new();
    }

    fn emit_pending(&mut self, partial: bool, now: &mut dyn FnMut() -> Timestamp, emit: &mut dyn FnMut(Message<'_>)) {
        let time = match self.mode {
            SplitMode::Docker => {
                let t = *self.piece_time.get_or_insert_with(&mut *now);
                if !partial {
                    self.piece_time = None;
                }
                t
            }
            SplitMode::Cri => now(),
        };
        emit(Message { bytes: &self.pending, partial, time });
        self.pending.clear();
    }

    /// Gives back a large line buffer once it is empty, so that an idle
    /// shim does not keep the memory of its longest line.
    fn release(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 1024 {
            self.pending = Vec::new();
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: SplitMode, chunks: &[&[u8]], finish: bool) -> Vec<(Vec<u8>, bool, i64)> {
        let mut s = Splitter::new(mode);
        let mut clock = 0i64;
        let mut now = || {
            clock += 1;
            Timestamp { secs: clock, nanos: 0 }
        };
        let mut out = Vec::new();
        let mut emit = |m: Message<'_>| out.push((m.bytes.to_vec(), m.partial, m.time.secs));
        for c in chunks {
            s.feed(c, &mut now, &mut emit);
        }
        if finish {
            s.finish(&mut now, &mut emit);
        }
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        let out = run(SplitMode::Docker, &[b"a\nb", b"c\n\nd"], true);
        let lines: Vec<(&[u8], bool)> = out.iter().map(|(b, p, _)| (b.as_slice(), *p)).collect();
        assert_eq!(lines, vec![(&b"a"[..], false), (b"bc", false), (b"", false), (b"d", true)]);
    }

    #[test]
    fn unfinished_line_waits_for_more() {
        assert!(run(SplitMode::Docker, &[b"prompt> "], false).is_empty());
    }

    #[test]
    fn docker_cuts_at_exactly_16k_and_reuses_the_first_time() {
        let long = vec![b'x'; MAX_LINE];
        let out = run(SplitMode::Docker, &[&long, b"\n"], true);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].0.len(), out[0].1), (MAX_LINE, true));
        assert_eq!((out[1].0.len(), out[1].1), (0, false));
        assert_eq!(out[0].2, out[1].2, "pieces of one line share the first piece's time");

        let longer = vec![b'y'; 2 * MAX_LINE + 5];
        let out = run(SplitMode::Docker, &[&longer[..1000], &longer[1000..], b"\nz\n"], true);
        let shape: Vec<(usize, bool)> = out.iter().map(|(b, p, _)| (b.len(), *p)).collect();
        assert_eq!(shape, vec![(MAX_LINE, true), (MAX_LINE, true), (5, false), (1, false)]);
        assert!(out[3].2 > out[2].2, "a new line gets a new time");
    }

    #[test]
    fn cri_cuts_only_lines_longer_than_16k() {
        let exact = vec![b'x'; MAX_LINE];
        let out = run(SplitMode::Cri, &[&exact, b"\n"], true);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].0.len(), out[0].1), (MAX_LINE, false));

        let longer = vec![b'y'; MAX_LINE + 3];
        let out = run(SplitMode::Cri, &[&longer, b"\n"], true);
        let shape: Vec<(usize, bool)> = out.iter().map(|(b, p, _)| (b.len(), *p)).collect();
        assert_eq!(shape, vec![(MAX_LINE, true), (3, false)]);
    }

    /// Whatever the chunking, the messages put back together are the input,
    /// and no message is longer than the limit.
    #[test]
    fn any_chunking_reassembles_to_the_input() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for mode in [SplitMode::Docker, SplitMode::Cri] {
            for _ in 0..200 {
                let len = rnd(3 * MAX_LINE);
                let input: Vec<u8> = (0..len).map(|_| if rnd(40) == 0 { b'\n' } else { b'a' + rnd(26) as u8 }).collect();
                let mut chunks = Vec::new();
                let mut rest = &input[..];
                while !rest.is_empty() {
                    let n = 1 + rnd(rest.len().min(20_000));
                    chunks.push(&rest[..n]);
                    rest = &rest[n..];
                }
                let mut s = Splitter::new(mode);
                let mut now = || Timestamp { secs: 1, nanos: 0 };
                let mut out = Vec::new();
                let mut emit = |m: Message<'_>| {
                    assert!(m.bytes.len() <= MAX_LINE, "{mode:?}: message of {} bytes", m.bytes.len());
                    out.extend_from_slice(m.bytes);
                    if !m.partial {
                        out.push(b'\n');
                    }
                };
                for c in chunks {
                    s.feed(c, &mut now, &mut emit);
                }
                s.finish(&mut now, &mut emit);
                assert_eq!(out, input, "{mode:?}");
            }
        }
    }

    #[test]
    fn finish_flushes_a_partial_and_releases_memory() {
        let mut s = Splitter::new(SplitMode::Docker);
        let mut now = || Timestamp { secs: 1, nanos: 0 };
        let mut got = Vec::new();
        s.feed(&vec![b'a'; 5000], &mut now, &mut |m| got.push((m.bytes.len(), m.partial)));
        s.finish(&mut now, &mut |m| got.push((m.bytes.len(), m.partial)));
        assert_eq!(got, vec![(5000, true)]);
        assert_eq!(s.pending.capacity(), 0);
    }
}
