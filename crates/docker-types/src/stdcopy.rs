//! docker's stdcopy framing: how logs, attach and exec multiplex stdout and
//! stderr on one connection when there is no tty. Each frame is an 8-byte
//! header `[stream, 0, 0, 0, len(be u32)]` followed by `len` bytes.

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StreamType {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// An error from the daemon itself, written before closing the stream.
    Systemerr = 3,
}

impl StreamType {
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Stdin),
            1 => Some(Self::Stdout),
            2 => Some(Self::Stderr),
            3 => Some(Self::Systemerr),
            _ => None,
        }
    }
}

pub const HEADER_LEN: usize = 8;

/// The header of a frame carrying `len` bytes.
pub fn header(stream: StreamType, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Appends `data` to `out` as one or more frames (frames are split so that
/// each length fits the 32-bit field).
pub fn encode_into(out: &mut Vec<u8>, stream: StreamType, data: &[u8]) {
    for chunk in data.chunks(u32::MAX as usize) {
        // chunks() bounds the length by u32::MAX
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&header(stream, len));
        out.extend_from_slice(chunk);
    }
}

/// `data` as frames, in a fresh buffer.
pub fn encode(stream: StreamType, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + HEADER_LEN);
    encode_into(&mut out, stream, data);
    out
}

/// A malformed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte of a header is not a known stream.
    BadStream(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadStream(b) => write!(f, "unrecognized stream: {b}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// An incremental demultiplexer: feed it bytes as they arrive, take out
/// whole or partial payloads per stream.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Stream and bytes left of the frame being read.
    current: Option<(StreamType, usize)>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next piece of payload, possibly part of a frame (so output is not
    /// held back until a whole large frame has arrived). `None` when more
    /// input is needed.
    pub fn next_chunk(&mut self) -> Result<Option<(StreamType, Vec<u8>)>, DecodeError> {
        loop {
            match self.current {
                None => {
                    if self.buf.len() < HEADER_LEN {
                        return Ok(None);
                    }
                    let stream = StreamType::from_byte(self.buf[0]).ok_or(DecodeError::BadStream(self.buf[0]))?;
                    let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
                    self.buf.drain(..HEADER_LEN);
                    if len > 0 {
                        self.current = Some((stream, len));
                    }
                }
                Some((stream, left)) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(self.buf.len());
                    let chunk: Vec<u8> = self.buf.drain(..n).collect();
                    self.current = if n == left { None } else { Some((stream, left - n)) };
                    return Ok(Some((stream, chunk)));
                }
            }
        }
    }

    /// True when no partial frame is pending (a clean end of stream).
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        assert_eq!(header(StreamType::Stderr, 0x0102_0304), [2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(encode(StreamType::Stdout, b"hi"), vec![1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }

    #[test]
    fn decode_byte_by_byte() {
        let mut wire = encode(StreamType::Stdout, b"hello ");
        encode_into(&mut wire, StreamType::Stderr, b"oops");
        encode_into(&mut wire, StreamType::Stdout, b"");
        encode_into(&mut wire, StreamType::Stdout, b"world");
        let mut d = Decoder::new();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for b in wire {
            d.push(&[b]);
            while let Some((s, chunk)) = d.next_chunk().unwrap() {
                match s {
                    StreamType::Stdout => out.extend(chunk),
                    StreamType::Stderr => err.extend(chunk),
                    _ => panic!("unexpected stream"),
                }
            }
        }
        assert_eq!(out, b"hello world");
        assert_eq!(err, b"oops");
        assert!(d.is_idle());
    }

    #[test]
    fn bad_stream_byte() {
        let mut d = Decoder::new();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert_eq!(d.next_chunk(), Err(DecodeError::BadStream(9)));
    }

    #[test]
    fn partial_frame_is_not_idle() {
        let mut d = Decoder::new();
        d.push(&encode(StreamType::Stdout, b"abcdef")[..10]);
        assert_eq!(d.next_chunk().unwrap(), Some((StreamType::Stdout, b"ab".to_vec())));
        assert_eq!(d.next_chunk().unwrap(), None);
        assert!(!d.is_idle());
    }
}
