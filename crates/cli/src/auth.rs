//! Client configuration and registry credentials, in docker's
//! `config.json` (`--config`, `DOCKER_CONFIG`, `~/.docker`): so that
//! `berth login` and `docker login` share credentials. Plain `auths`
//! entries (base64 `user:password`, file mode 0600) and docker's
//! credential helpers (`credsStore`, `credHelpers`: the
//! `docker-credential-<name>` programs) are both read and written.
//! Also read: `detachKeys`, `psFormat`, `imagesFormat`, `statsFormat`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use berth_docker_types::system::AuthConfig;
use serde_json::{Map, Value};

/// Why credentials cannot be read or stored.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("error getting credentials - err: {0}")]
    Helper(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// The parsed file; unknown keys are kept when it is written back.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    path: PathBuf,
    root: Map<String, Value>,
    /// Set when the file exists but does not parse.
    pub error: Option<String>,
}

impl ConfigFile {
    pub fn load(dir: &Path) -> ConfigFile {
        let path = dir.join("config.json");
        let mut cfg = ConfigFile {
            path: path.clone(),
            ..Default::default()
        };
        match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => cfg.root = m,
                Ok(_) => cfg.error = Some("not a JSON object".into()),
                Err(e) => cfg.error = Some(e.to_string()),
            },
            Err(_) => {}
        }
        cfg
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.root
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn detach_keys(&self) -> Option<&str> {
        self.string("detachKeys")
    }

    pub fn ps_format(&self) -> Option<&str> {
        self.string("psFormat")
    }

    pub fn images_format(&self) -> Option<&str> {
        self.string("imagesFormat")
    }

    pub fn stats_format(&self) -> Option<&str> {
        self.string("statsFormat")
    }

    /// The credential helper for `server`, if any.
    fn helper_for(&self, server: &str) -> Option<String> {
        if let Some(h) = self
            .root
            .get("credHelpers")
            .and_then(|v| v.get(server))
            .and_then(Value::as_str)
        {
            return Some(h.to_owned());
        }
        self.string("credsStore").map(str::to_owned)
    }

    /// Stored credentials for a registry key (`https://index.docker.io/v1/`
    /// or `host:port`).
    pub fn get_auth(&self, server: &str) -> Result<Option<AuthConfig>, AuthError> {
        if let Some(helper) = self.helper_for(server) {
            return helper_get(&helper, server);
        }
        let Some(entry) = self
            .root
            .get("auths")
            .and_then(|a| find_auth_entry(a, server))
        else {
            return Ok(None);
        };
        let mut ac = AuthConfig {
            serveraddress: server.to_owned(),
            ..Default::default()
        };
        if let Some(a) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|e| AuthError::Corrupt {
                    path: self.path.clone(),
                    message: format!("invalid auth for {server}: {e}"),
                })?;
            let text = String::from_utf8_lossy(&raw);
            let (u, p) = text.split_once(':').ok_or_else(|| AuthError::Corrupt {
                path: self.path.clone(),
                message: format!("invalid auth configuration file for {server}"),
            })?;
            ac.username = u.to_owned();
            ac.password = p.trim_end_matches('\0').to_owned();
        }
        if let Some(t) = entry.get("identitytoken").and_then(Value::as_str) {
            ac.identitytoken = t.to_owned();
        }
        if ac.username.is_empty() && ac.identitytoken.is_empty() {
            return Ok(None);
        }
        Ok(Some(ac))
    }

    /// Stores credentials (helper, else the file).
    pub fn store_auth(
        &mut self,
        server: &str,
        user: &str,
        password: &str,
    ) -> Result<(), AuthError> {
        if let Some(helper) = self.helper_for(server) {
            return helper_store(&helper, server, user, password);
        }
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Some(m) = auths.as_object_mut() {
            let mut e = Map::new();
            e.insert("auth".into(), Value::String(auth));
            m.insert(server.to_owned(), Value::Object(e));
        }
        self.save()
    }

    /// Removes credentials; false when there were none.
    pub fn remove_auth(&mut self, server: &str) -> Result<bool, AuthError> {
        if let Some(helper) = self.helper_for(server) {
            helper_erase(&helper, server)?;
            return Ok(true);
        }
        let removed = self
            .root
            .get_mut("auths")
            .and_then(Value::as_object_mut)
            .is_some_and(|m| m.remove(server).is_some());
        if removed {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> Result<(), AuthError> {
        let werr = |e| AuthError::Write {
            path: self.path.clone(),
            source: e,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(werr)?;
        }
        let text = serde_json::to_string_pretty(&Value::Object(self.root.clone()))
            .unwrap_or_else(|_| "{}".into());
        let tmp = self
            .path
            .with_extension(format!("json.tmp{}", std::process::id()));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(werr)?;
            f.write_all(text.as_bytes()).map_err(werr)?;
            f.write_all(b"\n").map_err(werr)?;
            f.sync_all().map_err(werr)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(werr)
    }
}

/// docker matches `auths` keys loosely: `https://host/v1/` and `host` alike.
fn find_auth_entry<'a>(auths: &'a Value, server: &str) -> Option<&'a Value> {
    let m = auths.as_object()?;
    if let Some(v) = m.get(server) {
        return Some(v);
    }
    let bare = |s: &str| {
        s.trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let want = bare(server);
    m.iter().find(|(k, _)| bare(k) == want).map(|(_, v)| v)
}

fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>, AuthError> {
    let prog = format!("docker-credential-{helper}");
    let mut child = Command::new(&prog)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| AuthError::Helper(format!("exec: \"{prog}\": {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| AuthError::Helper(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        return Err(AuthError::Helper(if msg.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_owned()
        } else {
            msg
        }));
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, server: &str) -> Result<Option<AuthConfig>, AuthError> {
    match run_helper(helper, "get", server.as_bytes()) {
        Ok(out) => {
            let v: Value =
                serde_json::from_slice(&out).map_err(|e| AuthError::Helper(e.to_string()))?;
            let user = v
                .get("Username")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let secret = v
                .get("Secret")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut ac = AuthConfig {
                serveraddress: server.to_owned(),
                ..Default::default()
            };
            if user == "<token>" {
                ac.identitytoken = secret;
            } else {
                ac.username = user;
                ac.password = secret;
            }
            Ok(Some(ac))
        }
        Err(AuthError::Helper(m)) if m.contains("credentials not found") => Ok(None),
        Err(e) => Err(e),
    }
}

fn helper_store(helper: &str, server: &str, user: &str, password: &str) -> Result<(), AuthError> {
    let body = serde_json::json!({"ServerURL": server, "Username": user, "Secret": password});
    run_helper(helper, "store", body.to_string().as_bytes()).map(|_| ())
}

fn helper_erase(helper: &str, server: &str) -> Result<(), AuthError> {
    run_helper(helper, "erase", server.as_bytes()).map(|_| ())
}

/// The `X-Registry-Auth` header value: base64url of the JSON credentials
/// (docker sends `e30=`, i.e. `{}`, when there are none).
pub fn encode_header(auth: Option<&AuthConfig>) -> String {
    let json = match auth {
        Some(a) => serde_json::to_string(a).unwrap_or_else(|_| "{}".into()),
        None => "{}".into(),
    };
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_read_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"psFormat":"table {{.ID}}","auths":{}}"#,
        )
        .unwrap();
        let mut c = ConfigFile::load(dir.path());
        assert_eq!(c.ps_format(), Some("table {{.ID}}"));
        assert!(c.get_auth("127.0.0.1:5000").unwrap().is_none());
        c.store_auth("127.0.0.1:5000", "me", "p:w").unwrap();
        let c2 = ConfigFile::load(dir.path());
        let a = c2.get_auth("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("me", "p:w"));
        assert_eq!(c2.ps_format(), Some("table {{.ID}}"), "other keys are kept");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("config.json"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("bWU6cDp3"), "{text}");
        let mut c3 = ConfigFile::load(dir.path());
        assert!(c3.remove_auth("127.0.0.1:5000").unwrap());
        assert!(
            ConfigFile::load(dir.path())
                .get_auth("127.0.0.1:5000")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn loose_server_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let a = ConfigFile::load(dir.path())
            .get_auth("reg.example:5000")
            .unwrap()
            .unwrap();
        assert_eq!(a.username, "u");
    }

    #[test]
    fn header_encoding() {
        assert_eq!(encode_header(None), "e30=");
        let a = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            serveraddress: "r".into(),
            ..Default::default()
        };
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(encode_header(Some(&a)))
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            r#"{"username":"u","password":"p","serveraddress":"r"}"#
        );
    }
}
