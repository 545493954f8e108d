//! Where the daemon listens: `-H`/`--host`, else `BERTH_HOST`, else
//! `unix:///run/berth/berth.sock`.
//!
//! `DOCKER_HOST` is deliberately not read: it usually points the docker CLI
//! at a dockerd, and `berth` quietly talking to that daemon would surprise
//! (and defeat starting berthd on demand). Point docker at berthd instead:
//! `DOCKER_HOST=unix:///run/berth/berth.sock docker ...`.

use std::io;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::http::{Conn, Stream};

pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix { path: PathBuf, default: bool },
    Tcp { addr: String },
}

impl Host {
    /// The default socket.
    pub fn default_host() -> Self {
        Host::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
            default: true,
        }
    }

    /// `unix:///path`, `tcp://host:port`, or a bare socket path.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Ok(Self::default_host());
            }
            return Ok(Host::Unix {
                path: PathBuf::from(p),
                default: p == DEFAULT_SOCKET,
            });
        }
        if let Some(a) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                return Err(format!("invalid bind address format: {s}"));
            }
            let addr = if a
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
                && !a.ends_with(']')
            {
                a.to_owned()
            } else {
                format!("{a}:2375")
            };
            return Ok(Host::Tcp { addr });
        }
        if s.starts_with('/') {
            return Ok(Host::Unix {
                path: PathBuf::from(s),
                default: s == DEFAULT_SOCKET,
            });
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "not supported yet: {scheme}:// hosts (use unix:// or tcp://)"
            ));
        }
        Err(format!("invalid bind address format: {s}"))
    }

    /// From `-H` values (docker takes one) and the environment.
    pub fn from_flags(flags: &[String]) -> Result<Self, String> {
        match flags {
            [] => match std::env::var("BERTH_HOST") {
                Ok(v) if !v.is_empty() => Host::parse(&v),
                _ => Ok(Self::default_host()),
            },
            [one] => Host::parse(one),
            _ => Err("specify only one -H".to_owned()),
        }
    }

    /// True for the default socket (the only one berth starts a daemon for).
    pub fn is_default(&self) -> bool {
        matches!(self, Host::Unix { default: true, .. })
    }

    pub fn dial(&self) -> io::Result<Conn> {
        match self {
            Host::Unix { path, .. } => Ok(Conn::new(
                Stream::Unix(UnixStream::connect(path)?),
                "localhost".into(),
            )),
            Host::Tcp { addr } => {
                let s = TcpStream::connect(addr.as_str())?;
                let _ = s.set_nodelay(true);
                Ok(Conn::new(Stream::Tcp(s), addr.clone()))
            }
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix { path, .. } => write!(f, "unix://{}", path.display()),
            Host::Tcp { addr } => write!(f, "tcp://{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            Host::parse("unix:///run/berth/berth.sock").unwrap(),
            Host::default_host()
        );
        assert!(
            Host::parse("unix:///run/berth/berth.sock")
                .unwrap()
                .is_default()
        );
        assert!(!Host::parse("unix:///tmp/x.sock").unwrap().is_default());
        assert_eq!(
            Host::parse("/tmp/x.sock").unwrap().to_string(),
            "unix:///tmp/x.sock"
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp {
                addr: "127.0.0.1:2376".into()
            }
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1").unwrap(),
            Host::Tcp {
                addr: "127.0.0.1:2375".into()
            }
        );
        assert!(
            Host::parse("ssh://me@box")
                .unwrap_err()
                .contains("not supported yet")
        );
        assert!(Host::parse("nonsense").is_err());
        assert!(Host::from_flags(&["a".into(), "b".into()]).is_err());
    }
}
