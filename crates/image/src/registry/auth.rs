//! Registry authentication: `WWW-Authenticate` challenges, the anonymous and
//! credentialed bearer-token flow of the Docker token spec, basic auth, and
//! credentials from docker's `config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// How to authenticate to a registry for one operation.
#[derive(Clone, Default)]
pub enum Auth {
    /// Use credentials from docker's `config.json` if it has some for the
    /// registry, else anonymous (docker's behaviour).
    #[default]
    Default,
    /// Never send credentials (still does the anonymous token flow).
    Anonymous,
    /// Username and password (or a personal access token as password).
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Default => f.write_str("Auth::Default"),
            Auth::Anonymous => f.write_str("Auth::Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Auth::Basic({username}, <redacted>)"),
        }
    }
}

/// Username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="...",service="...",scope="a:b:pull,push"`. Values may
/// be quoted (with `\` escapes) and contain commas.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == b',') {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' {
            i += 1;
        }
        let key = rest[ks..i].trim().to_ascii_lowercase();
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                // push whole UTF-8 char
                let ch = rest[i..].chars().next()?;
                val.push(ch);
                i += ch.len_utf8();
            }
            i += 1;
        } else {
            let vs = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            val = rest[vs..i].trim().to_owned();
        }
        if !key.is_empty() {
            params.insert(key, val);
        }
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// Runs `docker-credential-<helper> get` (found on `PATH`) as docker does:
/// the server URL on stdin, `{"Username","Secret"}` on stdout.
fn credential_helper(config: &Path, helper: &str, registry: &str) -> Result<Option<Credentials>> {
    use std::io::Write;
    let bad = |detail: String| Error::Config { path: config.to_owned(), detail };
    if helper.is_empty() || !helper.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(bad(format!("invalid credential helper name {helper:?}")));
    }
    let program = format!("docker-credential-{helper}");
    let server = if registry == "docker.io" { "https://index.docker.io/v1/".to_owned() } else { registry.to_owned() };
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| bad(format!("running credential helper {program} for {registry}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not an error here.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| bad(format!("waiting for {program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let msg = if stdout.trim().is_empty() { String::from_utf8_lossy(&out.stderr).into_owned() } else { stdout.into_owned() };
        return Err(bad(format!("{program} get {registry} failed: {}", crate::digest::truncate(msg.trim()))));
    }
    #[derive(Deserialize)]
    struct HelperOut {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let h: HelperOut = serde_json::from_slice(&out.stdout).map_err(|e| bad(format!("{program} printed malformed json: {e}")))?;
    if h.username == "<token>" {
        return Err(Error::Unsupported { what: format!("identity tokens from {program} for {registry}") });
    }
    Ok(Some(Credentials { username: h.username, password: h.secret }))
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// The default location of docker's client config: `$DOCKER_CONFIG/config.json`
/// or `$HOME/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Normalises a config.json `auths` key (`https://index.docker.io/v1/`,
/// `http://host:5000`, `host:5000`) to the registry name references use.
fn auth_key_registry(key: &str) -> String {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

/// Looks up credentials for `registry` in a docker `config.json`. A missing
/// file means no credentials; a malformed one is an error naming it.
pub fn docker_config_credentials(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io { path: path.to_owned(), source: e }),
    };
    let cfg: DockerConfig =
        serde_json::from_slice(&bytes).map_err(|e| Error::Config { path: path.to_owned(), detail: e.to_string() })?;
    // docker's order: a per-registry helper, then the default store, then
    // the file's own `auths`.
    let helper = cfg.cred_helpers.iter().find(|(k, _)| auth_key_registry(k) == registry).map(|(_, v)| v.clone()).or(cfg.creds_store.clone());
    if let Some(helper) = helper.filter(|h| !h.is_empty()) {
        return credential_helper(path, &helper, registry);
    }
    for (key, entry) in &cfg.auths {
        if auth_key_registry(key) != registry {
            continue;
        }
        if let Some(a) = &entry.auth {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| Error::Config { path: path.to_owned(), detail: format!("auths.{key}.auth is not base64") })?;
            let raw = String::from_utf8(raw)
                .map_err(|_| Error::Config { path: path.to_owned(), detail: format!("auths.{key}.auth is not utf-8") })?;
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| Error::Config { path: path.to_owned(), detail: format!("auths.{key}.auth is not user:password") })?;
            return Ok(Some(Credentials { username: u.to_owned(), password: p.to_owned() }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials { username: u.clone(), password: p.clone() }));
        }
        if entry.identity_token.is_some() {
            return Err(Error::Unsupported { what: format!("identity tokens in {} (auths.{key})", path.display()) });
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["scope"], "repository:samalba/my-app:pull,push");
        let c = parse_challenge(r#"Basic realm="basic-realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "basic-realm");
        let c = parse_challenge(r#"Bearer realm=x, error="a\"b""#).unwrap();
        assert_eq!(c.params["realm"], "x");
        assert_eq!(c.params["error"], "a\"b");
        assert!(parse_challenge("").is_none());
        // hostile input does not panic
        for s in ["Bearer =", "Bearer realm=\"", "Bearer ,,,,", "Bearer a=\"\\", "Bearer é=\"ü\""] {
            let _ = parse_challenge(s);
        }
    }

    #[test]
    fn docker_config() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTE6cDE="},"127.0.0.1:5000":{"auth":"dTI6cDI6eA=="},"bad.io":{"auth":"!!"}},"credHelpers":{"gcr.io":"gcloud"}}"#,
        )
        .unwrap();
        let c = docker_config_credentials(&p, "docker.io").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u1", "p1"));
        let c = docker_config_credentials(&p, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u2", "p2:x"));
        assert!(docker_config_credentials(&p, "quay.io").unwrap().is_none());
        assert!(docker_config_credentials(&p, "bad.io").unwrap_err().to_string().contains("base64"));
        let e = docker_config_credentials(&p, "gcr.io").unwrap_err().to_string();
        assert!(e.contains("docker-credential-gcloud") && e.contains("gcr.io"), "{e}");
        assert!(docker_config_credentials(&t.path().join("missing"), "x").unwrap().is_none());
        std::fs::write(&p, "{").unwrap();
        assert!(docker_config_credentials(&p, "x").unwrap_err().to_string().contains("config.json"));
    }
}
