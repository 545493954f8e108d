//! Image references with docker's normalisation: `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/repo:tag@sha256:...` keeps
//! both the tag and the digest (the digest wins when resolving).

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, truncate};
use crate::error::Error;

/// The registry that unqualified names refer to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The host actually contacted for [`DEFAULT_REGISTRY`].
pub const DEFAULT_REGISTRY_HOST: &str = "registry-1.docker.io";
const NAME_MAX: usize = 255;

/// A normalised, validated image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference as docker does. A reference with
    /// neither tag nor digest gets the tag `latest`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidReference { input: truncate(input), reason };
        if input.is_empty() {
            return Err(bad("empty reference"));
        }
        if input.len() > 4096 {
            return Err(bad("reference too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d).map_err(|_| bad("invalid digest after '@'"))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/', so a
        // registry port (`host:5000/repo`) is not taken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag) {
                return Err(bad("invalid tag: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"));
            }
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(bad("a 64-character hexadecimal name is an image id, not a repository"));
        }
        let (registry, repository) = split_registry(name);
        if registry.is_empty() || !valid_registry(registry) {
            return Err(bad("invalid registry host"));
        }
        if repository.is_empty() {
            return Err(bad("empty repository name"));
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if !repository.split('/').all(valid_path_component) {
            return Err(bad("invalid repository path: components are [a-z0-9] separated by '.', '_', '__' or '-'"));
        }
        let (registry, repository) = if registry == "index.docker.io" || registry == DEFAULT_REGISTRY {
            let repo = if repository.contains('/') { repository.to_owned() } else { format!("library/{repository}") };
            (DEFAULT_REGISTRY.to_owned(), repo)
        } else {
            (registry.to_owned(), repository.to_owned())
        };
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return Err(bad("repository name longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Ok(Self { registry, repository, tag, digest })
    }

    /// Registry host (with port), `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.registry
    }
    /// Repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, Error> {
        if !valid_tag(tag) {
            return Err(Error::InvalidReference { input: truncate(tag), reason: "invalid tag" });
        }
        Ok(Self { tag: Some(tag.to_owned()), digest: None, ..self.clone() })
    }
    /// The same repository pinned to a digest, without tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self { tag: None, digest: Some(digest), ..self.clone() }
    }
    /// Docker's short form: `busybox:latest`, `user/app:1`, `host:5000/x:y`.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_owned()
        } else {
            self.name()
        };
        let mut s = name;
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

/// docker: the first component is a registry if it has a '.' or ':', is
/// `localhost`, or contains an upper-case letter.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    }
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `host[:port]` where host is dotted labels of `[A-Za-z0-9-]` or `[ipv6]`.
fn valid_registry(r: &str) -> bool {
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u32>().map_or(true, |n| n > 65535)) {
            return false;
        }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_normalisation() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("index.docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("docker.io/library/busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/a/b/c:v1"), "localhost:5000/a/b/c:v1");
        assert_eq!(norm("127.0.0.1:5000/x"), "127.0.0.1:5000/x:latest");
        assert_eq!(norm("quay.io/org/img:tag"), "quay.io/org/img:tag");
        assert_eq!(norm("[::1]:5000/x:y"), "[::1]:5000/x:y");
        assert_eq!(norm("Registry/x"), "Registry/x:latest");
        assert_eq!(norm(&format!("busybox@{D}")), format!("docker.io/library/busybox@{D}"));
        assert_eq!(norm(&format!("busybox:1@{D}")), format!("docker.io/library/busybox:1@{D}"));
        assert_eq!(norm("a_b__c.d-e---f"), "docker.io/library/a_b__c.d-e---f:latest");
    }

    #[test]
    fn accessors() {
        let r = Reference::parse(&format!("host:5000/a/b:t@{D}")).unwrap();
        assert_eq!(r.registry(), "host:5000");
        assert_eq!(r.repository(), "a/b");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.familiar(), format!("host:5000/a/b:t@{D}"));
        assert_eq!(Reference::parse("busybox").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::parse("busybox").unwrap().manifest_reference(), "latest");
    }

    #[test]
    fn rejects_invalid() {
        for (input, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busybox:", "invalid tag"),
            ("busybox:-x", "invalid tag"),
            ("busybox@sha256:zz", "invalid digest"),
            ("busybox@", "invalid digest"),
            ("/busybox", "invalid repository"),
            ("busybox/", "invalid repository"),
            ("a//b", "invalid repository"),
            ("a/../b", "invalid repository"),
            ("host:99999/x", "registry"),
            ("host:/x", "registry"),
            ("-host.com/x", "registry"),
            ("a..b", "invalid repository"),
            ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "image id"),
            ("a b", "invalid repository"),
        ] {
            let e = Reference::parse(input).expect_err(input);
            let msg = e.to_string();
            assert!(msg.contains(why), "{input:?}: {msg}");
            assert!(msg.starts_with("invalid reference"), "{msg}");
        }
        let long = format!("x/{}", "a".repeat(300));
        assert!(Reference::parse(&long).unwrap_err().to_string().contains("255"));
        let longtag = format!("x:{}", "a".repeat(129));
        assert!(Reference::parse(&longtag).is_err());
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}"
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Reference::parse(&s);
        }

        #[test]
        fn display_round_trips(
            host in prop::option::of("[a-z][a-z0-9]{0,8}\\.[a-z]{2,4}(:[1-9][0-9]{0,3})?"),
            comps in prop::collection::vec(component(), 1..4),
            tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in prop::option::of("[0-9a-f]{64}"),
        ) {
            // without a host, a first component with '.' would be taken for one
            prop_assume!(host.is_some() || comps.len() == 1 || !comps[0].contains('.'));
            let mut s = String::new();
            if let Some(h) = &host { s.push_str(h); s.push('/'); }
            s.push_str(&comps.join("/"));
            if let Some(t) = &tag { s.push(':'); s.push_str(t); }
            if let Some(d) = &digest { s.push_str("@sha256:"); s.push_str(d); }
            let r = Reference::parse(&s).unwrap();
            let again = Reference::parse(&r.to_string()).unwrap();
            prop_assert_eq!(&r, &again);
            prop_assert_eq!(Reference::parse(&r.familiar()).unwrap(), r.clone());
            prop_assert_eq!(r.tag().map(str::to_owned), tag.clone().or(if digest.is_none() { Some("latest".into()) } else { None }));
        }
    }
}
