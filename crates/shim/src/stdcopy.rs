//! Docker's stdcopy framing, used on attach streams of containers without a
//! terminal: each chunk is preceded by an 8-byte header — the stream (1
//! stdout, 2 stderr), three zero bytes, and the chunk's length as a
//! big-endian u32 — so berthd can pass it unchanged to Docker API clients.

use crate::Stream;
use std::io::Read;

/// The header for `len` bytes of `stream`.
pub fn header(stream: Stream, len: u32) -> [u8; 8] {
    let n = len.to_be_bytes();
    [stream.stdcopy_id(), 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// Reads one frame: `Ok(None)` at a clean end of the stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(Stream, Vec<u8>)>> {
    let mut h = [0u8; 8];
    let mut got = 0;
    while got < h.len() {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = match h[0] {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        other => {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unknown stdcopy stream {other}")));
        }
    };
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok(Some((stream, data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_and_round_trip() {
        assert_eq!(header(Stream::Stderr, 0x0102_0304), [2, 0, 0, 0, 1, 2, 3, 4]);
        let mut wire = Vec::new();
        wire.extend_from_slice(&header(Stream::Stdout, 3));
        wire.extend_from_slice(b"abc");
        wire.extend_from_slice(&header(Stream::Stderr, 1));
        wire.extend_from_slice(b"z");
        let mut r = &wire[..];
        assert_eq!(read_frame(&mut r).expect("frame"), Some((Stream::Stdout, b"abc".to_vec())));
        assert_eq!(read_frame(&mut r).expect("frame"), Some((Stream::Stderr, b"z".to_vec())));
        assert_eq!(read_frame(&mut r).expect("end"), None);
        let mut bad: &[u8] = &[9, 0, 0, 0, 0, 0, 0, 0];
        assert!(read_frame(&mut bad).is_err());
    }
}
