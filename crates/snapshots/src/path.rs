//! Lexical normalisation of tar entry paths (pure logic, no file system).
//!
//! Like docker and containerd, a leading `/` is dropped and `.`/`..` are
//! resolved lexically; a path whose `..` climbs above the layer root is
//! rejected. Symlinks are not looked at here: the apply code resolves every
//! parent inside the layer root with `openat2(RESOLVE_IN_ROOT)`.

/// Why an entry path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `..` climbs above the layer root.
    EscapesRoot,
    /// A NUL byte inside the name.
    Nul,
}

impl PathError {
    pub fn reason(self) -> &'static str {
        match self {
            PathError::EscapesRoot => "path climbs out of the layer root with `..`",
            PathError::Nul => "path contains a NUL byte",
        }
    }
}

/// Normalises a tar entry path to its components relative to the layer
/// root, `a/b/c` form without leading or trailing `/`. The root itself is
/// the empty path.
pub fn normalize(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    if raw.contains(&0) {
        return Err(PathError::Nul);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join(&b'/'))
}

/// Splits a normalised path into (parent, base name). The root has no base.
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Joins a normalised parent and a name.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    p.extend_from_slice(parent);
    if !parent.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Lossy display form of a raw entry name for error messages.
pub fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Result<String, PathError> {
        normalize(s.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn plain_paths_are_kept() {
        assert_eq!(n("usr/bin/env").unwrap(), "usr/bin/env");
        assert_eq!(n("usr/bin/").unwrap(), "usr/bin");
    }

    #[test]
    fn leading_slash_and_dot_are_dropped() {
        assert_eq!(n("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(n("./etc//passwd").unwrap(), "etc/passwd");
        assert_eq!(n("././").unwrap(), "");
        assert_eq!(n("/").unwrap(), "");
    }

    #[test]
    fn dotdot_inside_the_root_is_resolved() {
        assert_eq!(n("a/b/../c").unwrap(), "a/c");
        assert_eq!(n("a/..").unwrap(), "");
        assert_eq!(n("/a/../../").unwrap_err(), PathError::EscapesRoot);
    }

    #[test]
    fn dotdot_escaping_the_root_is_rejected() {
        assert_eq!(n("../etc/passwd").unwrap_err(), PathError::EscapesRoot);
        assert_eq!(n("a/../../etc").unwrap_err(), PathError::EscapesRoot);
        assert_eq!(n("/../x").unwrap_err(), PathError::EscapesRoot);
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(normalize(b"a\0b").unwrap_err(), PathError::Nul);
    }

    #[test]
    fn split_and_join_round_trip() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
        assert_eq!(join(b"", b"c"), b"c");
    }
}
