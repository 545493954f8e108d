//! The two on-disk log formats: docker's json-file and the CRI format.
//!
//! The log format is one of berth's real seams (docker vs CRI containers), so
//! it is a trait; the shim picks the implementation from `--log-driver`.

use super::split::Message;
use crate::Stream;

/// Turns one [`Message`] into the bytes of one log-file entry.
pub trait LogFormat: std::fmt::Debug {
    /// Appends the entry for `msg` from `stream` to `out`.
    fn encode(&self, stream: Stream, msg: &Message<'_>, out: &mut Vec<u8>);
}

/// docker's json-file driver:
/// `{"log":"text\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`.
///
/// `log` ends with `\n` unless the message is a partial piece; the string is
/// escaped like docker's encoder (Go's JSON escaping with `<`, `>`, `&`,
/// U+2028 and U+2029 as `\u` escapes and invalid UTF-8 as `\ufffd`).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFile;

impl LogFormat for JsonFile {
    fn encode(&self, stream: Stream, msg: &Message<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"log\":\"");
        escape_json_string(msg.bytes, out);
        if !msg.partial {
            out.extend_from_slice(b"\\n");
        }
        out.extend_from_slice(b"\",\"stream\":\"");
        out.extend_from_slice(stream.name().as_bytes());
        out.extend_from_slice(b"\",\"time\":\"");
        out.extend_from_slice(msg.time.rfc3339_nano().as_bytes());
        out.extend_from_slice(b"\"}\n");
    }
}

/// The CRI container log format (kubelet, crictl):
/// `<RFC3339Nano> <stream> <P|F> <text>`, one entry per line, `F` for a
/// line's last piece and `P` for a partial one. A full line's trailing `\r`
/// is dropped, as containerd does.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cri;

impl LogFormat for Cri {
    fn encode(&self, stream: Stream, msg: &Message<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(msg.time.rfc3339_nano().as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.name().as_bytes());
        out.extend_from_slice(if msg.partial { b" P " } else { b" F " });
        let text = match (msg.partial, msg.bytes.last()) {
            (false, Some(b'\r')) => &msg.bytes[..msg.bytes.len() - 1],
            _ => msg.bytes,
        };
        out.extend_from_slice(text);
        out.push(b'\n');
    }
}

/// Appends `s` as the inside of a JSON string, escaped as docker's json-file
/// encoder does.
pub fn escape_json_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if b >= 0x20 && b != b'\\' && b != b'"' && b != b'<' && b != b'>' && b != b'&' {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
            }
            i += 1;
            start = i;
            continue;
        }
        match decode_utf8(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some((c, len)) if c == '\u{2028}' || c == '\u{2029}' => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if c == '\u{2028}' { b"\\u2028" } else { b"\\u2029" });
                i += len;
                start = i;
            }
            Some((_, len)) => i += len,
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// Decodes one UTF-8 sequence at the start of `s` (which starts with a
/// non-ASCII byte); `None` when it is not valid UTF-8 (Go then consumes one
/// byte and writes U+FFFD).
fn decode_utf8(s: &[u8]) -> Option<(char, usize)> {
    let len = match s[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let seq = s.get(..len)?;
    std::str::from_utf8(seq).ok()?.chars().next().map(|c| (c, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_time::Timestamp;

    fn msg(bytes: &[u8], partial: bool) -> Message<'_> {
        Message { bytes, partial, time: Timestamp { secs: 1_704_067_200, nanos: 123_456_789 } }
    }

    fn json(bytes: &[u8], partial: bool, stream: Stream) -> String {
        let mut out = Vec::new();
        JsonFile.encode(stream, &msg(bytes, partial), &mut out);
        String::from_utf8(out).expect("json-file entries are UTF-8")
    }

    #[test]
    fn json_file_entry_is_docker_shaped() {
        assert_eq!(
            json(b"hello", false, Stream::Stdout),
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00.123456789Z\"}\n"
        );
        assert_eq!(
            json(b"part", true, Stream::Stderr),
            "{\"log\":\"part\",\"stream\":\"stderr\",\"time\":\"2024-01-01T00:00:00.123456789Z\"}\n"
        );
    }

    #[test]
    fn json_escaping_matches_docker() {
        let s = json(b"a\"b\\c<d>&e\tf\r\x01\x7f", true, Stream::Stdout);
        assert!(s.starts_with("{\"log\":\"a\\\"b\\\\c\\u003cd\\u003e\\u0026e\\u0009f\\r\\u0001\x7f\","), "{s}");
        let s = json("é€😀\u{2028}\u{2029}".as_bytes(), true, Stream::Stdout);
        assert!(s.starts_with("{\"log\":\"é€😀\\u2028\\u2029\","), "{s}");
        // invalid UTF-8: each bad byte becomes U+FFFD, the rest is kept
        let s = json(b"x\xffy\xe2\x82z\xc3", true, Stream::Stdout);
        assert!(s.starts_with("{\"log\":\"x\\ufffdy\\ufffd\\ufffdz\\ufffd\","), "{s}");
    }

    #[test]
    fn escaped_entries_parse_back_as_json() {
        let raw: Vec<u8> = (0u8..=255).collect();
        let line = json(&raw, false, Stream::Stdout);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        let log = v["log"].as_str().expect("log is a string");
        assert!(log.starts_with("\u{0}\u{1}"));
        assert!(log.ends_with('\n'));
    }

    #[test]
    fn cri_entry_shape() {
        let mut out = Vec::new();
        Cri.encode(Stream::Stdout, &msg(b"hello\r", false), &mut out);
        Cri.encode(Stream::Stderr, &msg(b"piece", true), &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "2024-01-01T00:00:00.123456789Z stdout F hello\n2024-01-01T00:00:00.123456789Z stderr P piece\n"
        );
    }
}
