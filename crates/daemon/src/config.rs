//! `/etc/berth/config.toml`: the daemon's own keys plus the engine's
//! [`berth_engine::EngineConfig`] (see `packaging/config.toml` for an
//! example with every key). Unknown keys are errors that name them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_engine::EngineConfig;
use serde::Deserialize;

/// The default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// The default config file (a missing default file is fine).
pub const DEFAULT_CONFIG: &str = "/etc/berth/config.toml";

/// The daemon's own settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonKeys {
    /// `-H`: sockets to serve (`unix:///path`).
    pub hosts: Vec<String>,
    /// `--log-level`: error, warn, info, debug, trace.
    pub log_level: Option<String>,
    /// `--pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `--group`: the group owning the sockets (mode 0660).
    pub group: Option<String>,
}

const DAEMON_KEYS: &[&str] = &["hosts", "log_level", "pidfile", "group"];

/// The whole file.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    pub daemon: DaemonKeys,
    pub engine: EngineConfig,
}

/// Parses a config file's text.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<FileConfig> {
    let mut table: toml::Table = toml::from_str(text).with_context(|| format!("parsing {}", path.display()))?;
    let mut daemon = toml::Table::new();
    for k in DAEMON_KEYS {
        if let Some(v) = table.remove(*k) {
            daemon.insert((*k).to_owned(), v);
        }
    }
    let daemon: DaemonKeys = toml::Value::Table(daemon).try_into().with_context(|| format!("{}", path.display()))?;
    let engine: EngineConfig = toml::Value::Table(table).try_into().with_context(|| format!("{}", path.display()))?;
    if engine.log.driver != "json-file" && engine.log.driver != "none" {
        bail!("{}: log.driver {:?}: not supported yet (json-file or none)", path.display(), engine.log.driver);
    }
    Ok(FileConfig { daemon, engine })
}

/// Reads `path`; a missing file is an error unless it is the default one.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (p, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    match std::fs::read_to_string(&p) {
        Ok(text) => parse(&text, &p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(FileConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// `unix:///run/x.sock` or a bare absolute path → the socket path.
pub fn unix_socket(host: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = host.strip_prefix("unix://") {
        if !p.starts_with('/') {
            bail!("invalid host {host:?}: the unix socket path must be absolute");
        }
        return Ok(PathBuf::from(p));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    if host.starts_with("tcp://") || host.starts_with("fd://") || host.starts_with("ssh://") || host.starts_with("npipe://") {
        bail!("not supported yet: -H {host} (only unix:// sockets)");
    }
    bail!("invalid host {host:?}: expected unix:///path")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_example_parses() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/config.toml")).unwrap();
        let c = parse(&text, Path::new("config.toml")).unwrap();
        assert_eq!(c.engine.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(c.daemon.hosts, vec![DEFAULT_HOST.to_string()]);
        assert!(c.engine.runtimes.contains_key("runc"));
        assert_eq!(c.engine.log.options.get("max-size").map(String::as_str), Some("20m"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("bogus = 1\n", Path::new("c.toml")).unwrap_err();
        assert!(format!("{e:#}").contains("bogus"), "{e:#}");
        let e = parse("[log]\ndriver = \"syslog\"\n", Path::new("c.toml")).unwrap_err();
        assert!(format!("{e:#}").contains("not supported yet"), "{e:#}");
        let c = parse("hosts = [\"unix:///tmp/x.sock\"]\ndata_root = \"/srv/berth\"\n", Path::new("c.toml")).unwrap();
        assert_eq!(c.engine.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(c.engine.exec_root, PathBuf::from("/run/berth"), "defaults fill the rest");
    }

    #[test]
    fn hosts() {
        assert_eq!(unix_socket("unix:///run/b.sock").unwrap(), PathBuf::from("/run/b.sock"));
        assert!(unix_socket("tcp://0.0.0.0:2375").unwrap_err().to_string().starts_with("not supported yet"));
        assert!(unix_socket("unix://rel").is_err());
    }
}
