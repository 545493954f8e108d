//! On-disk metadata of one snapshot, and the encoding of names to file names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Error, Kind};

/// `snapshots/<id>/meta.json`. Written before the snapshot becomes visible
/// and never changed afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub name: String,
    pub parent: Option<String>,
    pub kind: Kind,
    /// Seconds since the epoch.
    pub created: u64,
    /// Directory ids of the parent chain, nearest parent first.
    pub lowers: Vec<u64>,
}

impl Meta {
    pub fn created_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.created)
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Maps a snapshot name (a chain id `sha256:…` or a caller's key, which may
/// contain `/`) to one file name in `names/`: bytes outside a safe set are
/// `%XX`-escaped, so the mapping is one-to-one and reversible.
pub(crate) fn encode_name(name: &str) -> Result<String, Error> {
    let invalid = |reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'-' | b':' | b'@' | b'+' | b'=')
            || (b == b'.' && i > 0);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 250 {
        return Err(invalid("longer than 250 bytes once encoded"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_stay_readable() {
        let id = "sha256:0123456789abcdef";
        assert_eq!(encode_name(id).unwrap(), id);
    }

    #[test]
    fn slashes_and_dots_are_escaped() {
        assert_eq!(encode_name("default/1/x").unwrap(), "default%2F1%2Fx");
        assert_eq!(encode_name("..").unwrap(), "%2E.");
        assert_eq!(encode_name(".hidden").unwrap(), "%2Ehidden");
        assert_eq!(encode_name("a%b").unwrap(), "a%25b");
    }

    #[test]
    fn distinct_names_encode_distinctly() {
        assert_ne!(encode_name("a/b").unwrap(), encode_name("a%2Fb").unwrap());
    }

    #[test]
    fn empty_and_huge_names_are_rejected() {
        assert!(encode_name("").is_err());
        assert!(encode_name(&"x".repeat(300)).is_err());
    }
}
