//! Platforms (`os/arch[/variant]`) and choosing a manifest from an index.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::digest::truncate;
use crate::error::Error;

/// A platform as written in image indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// The platform this process runs on, in Go's naming (what images use).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Self {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
            os_features: None,
        }
    }

    /// Parses `os/arch[/variant]` (docker's `--platform`), normalising
    /// common aliases (`x86_64` is `amd64`, `aarch64` is `arm64`).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidPlatform { input: truncate(input), reason };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad("expected os/arch[/variant]"));
        }
        let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad("components must be non-empty [A-Za-z0-9_.-]"));
        }
        let os = parts[0].to_ascii_lowercase();
        let (arch, mut variant) = normalize_arch(&parts[1].to_ascii_lowercase(), parts.get(2).map(|v| v.to_ascii_lowercase()));
        if arch == "arm64" && variant.is_none() {
            variant = Some("v8".into());
        }
        Ok(Self { os, architecture: arch, variant, os_version: None, os_features: None })
    }

    /// True if an index entry for `other` can run here as `self` asked.
    /// A missing variant on the entry matches (many arm64 images omit `v8`).
    pub fn matches(&self, other: &Platform) -> bool {
        let (arch, variant) = normalize_arch(&other.architecture, other.variant.clone());
        let variant = if arch == "arm64" && variant.is_none() { Some("v8".to_owned()) } else { variant };
        self.os == other.os
            && self.architecture == arch
            && match (&self.variant, &variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "aarch64" => ("arm64".into(), variant),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "i386" => ("386".into(), None),
        a => (a.to_owned(), variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/amd64").unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert!(p.matches(&Platform::parse("linux/x86_64").unwrap()));
        assert!(!p.matches(&Platform::parse("linux/arm64").unwrap()));
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm.matches(&Platform::parse("linux/arm/v7").unwrap()));
        assert!(!arm.matches(&Platform::parse("linux/arm/v6").unwrap()));
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(arm64.variant.as_deref(), Some("v8"));
        let entry = Platform { os: "linux".into(), architecture: "arm64".into(), variant: None, os_version: None, os_features: None };
        assert!(arm64.matches(&entry));
        for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert!(Platform::host().matches(&Platform::host()));
    }
}
