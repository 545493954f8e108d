//! Image references as docker's CLI reads and shows them (the
//! distribution/reference grammar): `busybox` is
//! `docker.io/library/busybox:latest`, shown back as `busybox:latest`;
//! `127.0.0.1:5000/x@sha256:...`; errors `invalid reference format`.

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `127.0.0.1:5000`, `localhost`.
    pub domain: String,
    /// `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The registry key docker's `config.json` uses for Docker Hub.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// Why a reference does not parse, with docker's texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("invalid reference format")]
    Format,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("repository name must not be more than 255 characters")]
    TooLong,
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !is_alnum_lower(b[0]) || !is_alnum_lower(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum_lower(b[i]) {
            i += 1;
            continue;
        }
        // a separator: ".", "_", "__" or "-+"
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).is_some_and(|c| is_alnum_lower(*c)) {
            return false;
        }
    }
    true
}

fn valid_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1]
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    !alg.is_empty()
        && alg.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'.' | b'_' | b'-')
        })
        && hex.len() >= 32
        && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// True for a full or short hex image ID (what `ParseAnyReference` treats
/// as an ID rather than a name: 64 hex digits).
pub fn is_full_id(s: &str) -> bool {
    let s = s.strip_prefix("sha256:").unwrap_or(s);
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl Reference {
    /// `ParseNormalizedNamed`: adds `docker.io` and `library/`.
    pub fn parse(s: &str) -> Result<Reference, RefError> {
        if s.is_empty() {
            return Err(RefError::Format);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !valid_digest(d) {
                    return Err(RefError::Format);
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // a tag is after the last ':' that follows the last '/'
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(RefError::Format);
                }
                (&rest[..last_slash + i], Some(t.to_owned()))
            }
            None => (rest, None),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_owned(), remainder.to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(RefError::Uppercase(path));
        }
        if !valid_domain(&domain) {
            return Err(RefError::Format);
        }
        if path.split('/').any(|c| !valid_component(c)) {
            return Err(RefError::Format);
        }
        if domain.len() + 1 + path.len() > 255 {
            return Err(RefError::TooLong);
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// With `:latest` when there is neither tag nor digest (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".into());
        }
        self
    }

    /// `docker.io/library/busybox`
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker shows: `busybox`, `me/app`, `127.0.0.1:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_owned()
        } else {
            self.name()
        }
    }

    /// `busybox:latest`, `x@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The full form: `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        let mut s = self.name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The key of the registry in `config.json` (`https://index.docker.io/v1/`
    /// for Docker Hub, the domain otherwise).
    pub fn auth_key(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            INDEX_SERVER.to_owned()
        } else {
            self.domain.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.full(), "docker.io/library/busybox");
        assert_eq!(r.clone().with_default_tag().familiar(), "busybox:latest");
        let r = Reference::parse("me/app:1.0").unwrap();
        assert_eq!(r.full(), "docker.io/me/app:1.0");
        assert_eq!(r.familiar(), "me/app:1.0");
        let r = Reference::parse("127.0.0.1:5000/busybox:latest").unwrap();
        assert_eq!(r.domain, "127.0.0.1:5000");
        assert_eq!(r.familiar(), "127.0.0.1:5000/busybox:latest");
        assert_eq!(r.auth_key(), "127.0.0.1:5000");
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.domain, "localhost");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.clone().with_default_tag().tag, None);
        assert_eq!(
            Reference::parse("docker.io/library/busybox:1")
                .unwrap()
                .familiar(),
            "busybox:1"
        );
        assert_eq!(
            Reference::parse("busybox").unwrap().auth_key(),
            INDEX_SERVER
        );
    }

    #[test]
    fn rejects_like_docker() {
        assert_eq!(
            Reference::parse("Busybox"),
            Err(RefError::Uppercase("library/Busybox".into()))
        );
        assert_eq!(
            Reference::parse("Busybox").unwrap_err().to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(Reference::parse(""), Err(RefError::Format));
        assert_eq!(Reference::parse("a:b:c"), Err(RefError::Format));
        assert_eq!(Reference::parse("bad..name"), Err(RefError::Format));
        assert_eq!(Reference::parse("x:"), Err(RefError::Format));
        assert_eq!(Reference::parse("x@sha256:zz"), Err(RefError::Format));
        assert_eq!(Reference::parse("-x"), Err(RefError::Format));
    }

    #[test]
    fn ids() {
        assert!(is_full_id(&"ab".repeat(32)));
        assert!(is_full_id(&format!("sha256:{}", "ab".repeat(32))));
        assert!(!is_full_id("abc"));
    }
}
