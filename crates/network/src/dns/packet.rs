//! The little of the DNS wire format (RFC 1035) the embedded server needs:
//! read one question, answer it with A records or an error code.

use std::net::Ipv4Addr;

/// Record type A.
pub(crate) const TYPE_A: u16 = 1;
/// Class IN.
pub(crate) const CLASS_IN: u16 = 1;

/// RCODEs used.
pub(crate) const NOERROR: u8 = 0;
pub(crate) const FORMERR: u8 = 1;
pub(crate) const SERVFAIL: u8 = 2;
pub(crate) const NOTIMP: u8 = 4;

/// The question of a standard query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    pub id: u16,
    /// lower-case, without the trailing dot
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// byte offset just past the question section
    pub end: usize,
    pub recursion_desired: bool,
    pub opcode: u8,
}

/// Parses a query with exactly one question. `Err(Some(id))` for a packet
/// that deserves a FORMERR/NOTIMP reply, `Err(None)` for one that does not
/// deserve any (too short, or a response).
pub(crate) fn parse_query(buf: &[u8]) -> Result<Question, Option<(u16, u8)>> {
    if buf.len() < 12 {
        return Err(None);
    }
    let id = u16::from_be_bytes([buf[0], buf[1]]);
    let flags = buf[2];
    if flags & 0x80 != 0 {
        return Err(None); // a response, not a query
    }
    let opcode = (flags >> 3) & 0x0f;
    if opcode != 0 {
        return Err(Some((id, NOTIMP)));
    }
    let qdcount = u16::from_be_bytes([buf[4], buf[5]]);
    if qdcount != 1 {
        return Err(Some((id, FORMERR)));
    }
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *buf.get(pos).ok_or(Some((id, FORMERR)))? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 || pos + len > buf.len() {
            return Err(Some((id, FORMERR))); // no compression in a question
        }
        labels.push(String::from_utf8_lossy(&buf[pos..pos + len]).to_ascii_lowercase());
        pos += len;
    }
    if pos + 4 > buf.len() {
        return Err(Some((id, FORMERR)));
    }
    let qtype = u16::from_be_bytes([buf[pos], buf[pos + 1]]);
    let qclass = u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]);
    Ok(Question {
        id,
        name: labels.join("."),
        qtype,
        qclass,
        end: pos + 4,
        recursion_desired: flags & 0x01 != 0,
        opcode,
    })
}

/// The response to `q` (whose packet is `query`): the question echoed, then
/// one A record per address (TTL `ttl`), with `rcode`.
pub(crate) fn response(query: &[u8], q: &Question, rcode: u8, answers: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + answers.len() * 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, opcode, AA (berth is the authority for its names), RD copied
    out.push(0x80 | (q.opcode << 3) | 0x04 | u8::from(q.recursion_desired));
    out.push(0x80 | (rcode & 0x0f)); // RA, rcode
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&query[12..q.end]);
    for ip in answers {
        out.extend_from_slice(&[0xc0, 0x0c]); // pointer to the question's name
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A header-only error reply for packets whose question could not be read.
pub(crate) fn error_reply(id: u16, rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x80);
    out.push(0x80 | (rcode & 0x0f));
    out.extend_from_slice(&[0; 8]);
    out
}

/// A query for `name` (tests and tools).
#[cfg(test)]
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let q = query(0x1234, "Web.", TYPE_A);
        let parsed = parse_query(&q).expect("parse");
        assert_eq!(parsed.name, "web");
        assert_eq!((parsed.id, parsed.qtype, parsed.qclass), (0x1234, TYPE_A, CLASS_IN));
        assert!(parsed.recursion_desired);
        let r = response(&q, &parsed, NOERROR, &[Ipv4Addr::new(10, 200, 0, 2)], 600);
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "QR");
        assert_eq!(r[3] & 0x0f, NOERROR);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "ANCOUNT");
        assert_eq!(&r[r.len() - 4..], &[10, 200, 0, 2]);
        let nx = response(&q, &parsed, SERVFAIL, &[], 600);
        assert_eq!(nx[3] & 0x0f, SERVFAIL);
        assert_eq!(nx.len(), q.len());
    }

    #[test]
    fn malformed() {
        assert_eq!(parse_query(&[0; 5]), Err(None));
        let mut q = query(7, "a", TYPE_A);
        q[5] = 2; // two questions
        assert_eq!(parse_query(&q), Err(Some((7, FORMERR))));
        let mut q = query(7, "a", TYPE_A);
        q[2] |= 0x80; // a response
        assert_eq!(parse_query(&q), Err(None));
        let q = query(7, "abc", TYPE_A);
        assert_eq!(parse_query(&q[..q.len() - 3]), Err(Some((7, FORMERR))));
        let e = error_reply(9, SERVFAIL);
        assert_eq!((e.len(), e[3] & 0x0f), (12, SERVFAIL));
    }
}
