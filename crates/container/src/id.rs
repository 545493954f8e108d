//! Container ids.

use crate::{Error, Result};

/// Checks a container id the way runc does: non-empty, no path separators,
/// not `.` or `..`, only `[A-Za-z0-9_+.-]`, at most 1024 bytes. The id names
/// a directory under the runtime root, so anything else is a path-traversal
/// risk.
pub fn validate(id: &str) -> Result<()> {
    let bad = |reason| Err(Error::InvalidId { id: id.to_string(), reason });
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.contains('/') {
        return bad("must not contain /");
    }
    if id.contains("..") {
        return bad("must not contain ..");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.')) {
        return bad("may contain only letters, digits, _ + - and .");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["a", "abc-123", "x_y.z", "A+B", &"a".repeat(1024)] {
            assert!(validate(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_traversal_and_junk() {
        for id in ["", ".", "..", "a/b", "/abc", "a..b", "../x", "a b", "a\nb", "é", &"a".repeat(1025)] {
            assert!(validate(id).is_err(), "{id:?} should be rejected");
        }
    }
}
