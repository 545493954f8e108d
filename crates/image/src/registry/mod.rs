//! A thin OCI distribution-spec client on hyper 1.x.
//!
//! One [`RegistryClient`] per store: it keeps one connection pool per registry
//! (each with its own TLS roots: system bundle plus the registry's extra CA
//! files), the scheme chosen per host, and bearer tokens per (host, scope).
//! Every request is retried with exponential backoff on connection errors,
//! 408/429 and 5xx; a 401 triggers the token (or basic) flow once.

pub mod auth;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

pub use auth::{Auth, Credentials};

use crate::digest::{Digest, truncate};
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_ACCEPT, MANIFEST_LIMIT};
use crate::reference::{DEFAULT_REGISTRY, DEFAULT_REGISTRY_HOST, Reference};

/// Registry settings (the `[registries]` part of berth's config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Registries (`host[:port]`) reached over https without certificate
    /// verification (unless they have `ca_files`), or over plain http when
    /// https fails. `localhost` and `127.0.0.0/8` always are, as with docker.
    pub insecure: Vec<String>,
    /// Mirrors for docker.io, tried in order before Docker Hub:
    /// `https://host[:port]` (or `http://` for an insecure mirror).
    pub mirrors: Vec<String>,
    /// Extra CA certificates (PEM files) trusted for a registry host.
    pub ca_files: BTreeMap<String, Vec<PathBuf>>,
    /// The system CA bundle (Debian's ca-certificates).
    pub system_roots: PathBuf,
    /// docker's `config.json` to read credentials from; `None` means
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// Layers downloaded at once per pull (docker: 3).
    pub max_concurrent_downloads: usize,
    /// Retries after the first attempt for connection errors and 5xx.
    pub retries: u32,
    /// First backoff delay; doubles per retry.
    pub retry_delay_ms: u64,
    /// A transfer that delivers no byte for this long is treated as dropped.
    pub stall_timeout_secs: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            ca_files: BTreeMap::new(),
            system_roots: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            docker_config: None,
            max_concurrent_downloads: 3,
            retries: 5,
            retry_delay_ms: 200,
            stall_timeout_secs: 60,
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One repository on one endpoint (the registry itself or a mirror), with the
/// credentials and token scopes of the operation.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The reference being worked on, for error messages.
    pub reference: String,
    /// The registry as named in the reference (`docker.io`, `host:5000`).
    pub registry: String,
    /// The host actually contacted.
    pub host: String,
    /// `https://host` or `http://host`.
    pub base: String,
    pub repository: String,
    /// Token scopes (`repository:x:pull`, ...).
    pub scopes: Vec<String>,
    creds: Option<Credentials>,
}

impl Repo {
    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }
    fn scope_key(&self) -> String {
        format!("{}|{}", self.host, self.scopes.join(" "))
    }
}

/// What a mount request did.
#[derive(Debug)]
pub enum Mount {
    Mounted,
    /// Not mounted; an upload session was opened instead at this location.
    Upload(String),
}

/// A blob response positioned at `start`.
#[derive(Debug)]
pub struct BlobBody {
    pub body: Incoming,
    /// Offset of the first byte of `body` in the blob.
    pub start: u64,
}

#[derive(Debug)]
pub struct RegistryClient {
    cfg: RegistryConfig,
    clients: Mutex<HashMap<String, HttpClient>>,
    schemes: Mutex<HashMap<String, &'static str>>,
    tokens: Mutex<HashMap<String, String>>,
    basic: Mutex<HashSet<String>>,
}

fn install_crypto_provider() {
    // The process-wide default; ignoring the error is right: another part of
    // the process may have installed the same provider first.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl RegistryClient {
    pub fn new(cfg: RegistryConfig) -> Self {
        install_crypto_provider();
        Self {
            cfg,
            clients: Mutex::default(),
            schemes: Mutex::default(),
            tokens: Mutex::default(),
            basic: Mutex::default(),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// True if plain http may be used for `host` (configured insecure, or
    /// loopback as docker allows).
    pub fn is_insecure(&self, host: &str) -> bool {
        let name = host_without_port(host);
        name == "localhost"
            || name.starts_with("127.")
            || name == "[::1]"
            || name == "::1"
            || self.cfg.insecure.iter().any(|h| h == host || h == name)
    }

    fn client_for(&self, host: &str) -> Result<HttpClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(host) {
            return Ok(c.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let tls_err = |detail: String| Error::Tls { registry: host.to_owned(), detail };
        let extra = self.cfg.ca_files.get(host).cloned().unwrap_or_default();
        match CertificateDer::pem_file_iter(&self.cfg.system_roots) {
            Ok(iter) => {
                let certs: Vec<_> = iter.filter_map(|c| c.ok()).collect();
                roots.add_parsable_certificates(certs);
            }
            Err(e) if extra.is_empty() => {
                tracing::warn!(path = %self.cfg.system_roots.display(), error = %e, "no system CA bundle; https registries will fail verification (install ca-certificates)");
            }
            Err(_) => {}
        }
        for f in &extra {
            let iter = CertificateDer::pem_file_iter(f).map_err(|e| tls_err(format!("reading CA file {}: {e}", f.display())))?;
            let mut n = 0;
            for c in iter {
                let c = c.map_err(|e| tls_err(format!("parsing CA file {}: {e}", f.display())))?;
                roots.add(c).map_err(|e| tls_err(format!("CA file {}: {e}", f.display())))?;
                n += 1;
            }
            if n == 0 {
                return Err(tls_err(format!("CA file {} holds no certificate", f.display())));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(e.to_string()))?;
        // As docker: a registry allowed to use plain http is also reached over
        // https without certificate verification, unless it has a CA file.
        let tls = if self.is_insecure(host) && extra.is_empty() {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth()
        } else {
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(15)));
        http.set_nodelay(true);
        let conn = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
        let client: HttpClient = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(conn);
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }

    /// The endpoints to try for `r`, best first: mirrors (pulls from docker.io
    /// only), then the registry itself.
    pub async fn endpoints(&self, r: &Reference, push: bool, auth: &Auth) -> Result<Vec<Repo>> {
        let creds = match auth {
            Auth::Anonymous => None,
            Auth::Basic { username, password } => Some(Credentials { username: username.clone(), password: password.clone() }),
            Auth::Default => match self.cfg.docker_config.clone().or_else(auth::default_docker_config) {
                Some(p) => auth::docker_config_credentials(&p, r.registry())?,
                None => None,
            },
        };
        let actions = if push { "pull,push" } else { "pull" };
        let mut hosts: Vec<(String, Option<&'static str>)> = Vec::new();
        if r.registry() == DEFAULT_REGISTRY && !push {
            for m in &self.cfg.mirrors {
                let (scheme, rest) = match m.split_once("://") {
                    Some(("http", rest)) => (Some("http"), rest),
                    Some(("https", rest)) => (Some("https"), rest),
                    Some(_) => return Err(Error::InvalidArgument(format!("mirror {m:?}: scheme must be http or https"))),
                    None => (None, m.as_str()),
                };
                hosts.push((rest.trim_end_matches('/').to_owned(), scheme));
            }
        }
        let host = if r.registry() == DEFAULT_REGISTRY { DEFAULT_REGISTRY_HOST.to_owned() } else { r.registry().to_owned() };
        hosts.push((host, None));
        let mut out = Vec::new();
        for (host, scheme) in hosts {
            let base = match scheme {
                Some("http") if !self.is_insecure(&host) => return Err(Error::InsecureRefused { registry: host }),
                Some(s) => format!("{s}://{host}"),
                None => match self.scheme(&host).await {
                    Ok(s) => format!("{s}://{host}"),
                    Err(e) => {
                        tracing::debug!(%host, error = %e, "endpoint unusable");
                        continue;
                    }
                },
            };
            out.push(Repo {
                reference: r.to_string(),
                registry: r.registry().to_owned(),
                host: host.clone(),
                base,
                repository: r.repository().to_owned(),
                scopes: vec![format!("repository:{}:{actions}", r.repository())],
                creds: creds.clone(),
            });
        }
        if out.is_empty() {
            return Err(Error::InvalidArgument(format!("no usable endpoint for {r}")));
        }
        Ok(out)
    }

    /// https, unless the host may use http and does not speak TLS.
    async fn scheme(&self, host: &str) -> Result<&'static str> {
        if let Some(s) = self.schemes.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
            return Ok(s);
        }
        let scheme = if !self.is_insecure(host) {
            "https"
        } else {
            let client = self.client_for(host)?;
            let req = Request::get(format!("https://{host}/v2/"))
                .body(Full::new(Bytes::new()))
                .map_err(|e| Error::InvalidArgument(format!("registry host {host:?}: {e}")))?;
            match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
                Ok(Ok(_)) => "https",
                _ => "http",
            }
        };
        self.schemes.lock().unwrap_or_else(|p| p.into_inner()).insert(host.to_owned(), scheme);
        Ok(scheme)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Duration::from_millis(self.cfg.retry_delay_ms.saturating_mul(1u64 << attempt.min(10)))
    }

    fn auth_header(&self, repo: &Repo) -> Option<String> {
        if let Some(t) = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&repo.scope_key()) {
            return Some(format!("Bearer {t}"));
        }
        if self.basic.lock().unwrap_or_else(|p| p.into_inner()).contains(&repo.host) {
            return repo.creds.as_ref().map(Credentials::basic_header);
        }
        None
    }

    /// Sends a request with auth, retries and backoff. Returns any response
    /// that is not a retryable failure; the caller interprets its status.
    pub(crate) async fn send(
        &self,
        repo: &Repo,
        method: Method,
        url: &str,
        headers: &[(http::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response<Incoming>> {
        let client = self.client_for(&repo.host)?;
        let mut attempt = 0u32;
        let mut authed = false;
        loop {
            let mut b = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            if let Some(h) = self.auth_header(repo) {
                b = b.header(AUTHORIZATION, h);
            }
            if !body.is_empty() || method == Method::PUT || method == Method::PATCH || method == Method::POST {
                b = b.header(CONTENT_LENGTH, body.len());
            }
            let req = b
                .body(Full::new(body.clone()))
                .map_err(|e| Error::InvalidArgument(format!("request {method} {} for {}: {e}", truncate(url), repo.reference)))?;
            let result = tokio::time::timeout(Duration::from_secs(self.cfg.stall_timeout_secs.max(1)), client.request(req)).await;
            let resp = match result {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    if attempt < self.cfg.retries {
                        tracing::debug!(url, error = %e, attempt, "request failed, retrying");
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Unavailable { reference: repo.reference.clone(), registry: repo.host.clone(), source: Box::new(e) });
                }
                Err(elapsed) => {
                    if attempt < self.cfg.retries {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::Unavailable { reference: repo.reference.clone(), registry: repo.host.clone(), source: Box::new(elapsed) });
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !authed {
                authed = true;
                self.authenticate(repo, resp.headers()).await?;
                continue;
            }
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT)
                && attempt < self.cfg.retries
            {
                tracing::debug!(url, %status, attempt, "registry error, retrying");
                tokio::time::sleep(self.backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Answers a 401 challenge: fetch a bearer token, or switch to basic auth.
    async fn authenticate(&self, repo: &Repo, headers: &HeaderMap) -> Result<()> {
        let unauthorized = |detail: String| Error::Unauthorized { reference: repo.reference.clone(), registry: repo.host.clone(), detail };
        let challenges: Vec<_> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(auth::parse_challenge)
            .collect();
        if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = c.params.get("realm").ok_or_else(|| unauthorized("bearer challenge without realm".into()))?;
            let realm_uri: http::Uri = realm.parse().map_err(|_| unauthorized(format!("malformed token realm {:?}", truncate(realm))))?;
            let realm_host = realm_uri.authority().map(|a| a.to_string()).unwrap_or_default();
            match realm_uri.scheme_str() {
                Some("https") => {}
                Some("http") if self.is_insecure(&realm_host) => {}
                _ => return Err(unauthorized(format!("token realm {} is not https", truncate(realm)))),
            }
            let mut url = realm.clone();
            let mut sep = if url.contains('?') { '&' } else { '?' };
            if let Some(s) = c.params.get("service") {
                url.push(sep);
                url.push_str("service=");
                url.push_str(&pct(s));
                sep = '&';
            }
            for s in &repo.scopes {
                url.push(sep);
                url.push_str("scope=");
                url.push_str(&pct(s));
                sep = '&';
            }
            let client = self.client_for(&realm_host)?;
            let mut b = Request::get(&url);
            if let Some(c) = &repo.creds {
                b = b.header(AUTHORIZATION, c.basic_header());
            }
            let req = b.body(Full::new(Bytes::new())).map_err(|e| unauthorized(format!("token request: {e}")))?;
            let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
                .await
                .map_err(|e| Error::Unavailable { reference: repo.reference.clone(), registry: realm_host.clone(), source: Box::new(e) })?
                .map_err(|e| Error::Unavailable { reference: repo.reference.clone(), registry: realm_host.clone(), source: Box::new(e) })?;
            let status = resp.status();
            let body = read_limited(resp.into_body(), 1 << 20).await.map_err(|e| Error::Unavailable {
                reference: repo.reference.clone(),
                registry: realm_host.clone(),
                source: e.into(),
            })?;
            if !status.is_success() {
                return Err(unauthorized(format!("token server {realm_host} answered {status}: {}", error_detail(&body))));
            }
            #[derive(Deserialize)]
            struct Token {
                token: Option<String>,
                access_token: Option<String>,
            }
            let t: Token = serde_json::from_slice(&body).map_err(|e| unauthorized(format!("malformed token response: {e}")))?;
            let token = t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| unauthorized("token response without token".into()))?;
            self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(repo.scope_key(), token);
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            if repo.creds.is_none() {
                return Err(unauthorized("registry requires credentials (basic auth) and none were given".into()));
            }
            let first = self.basic.lock().unwrap_or_else(|p| p.into_inner()).insert(repo.host.clone());
            if !first {
                return Err(unauthorized("credentials rejected".into()));
            }
            return Ok(());
        }
        Err(unauthorized("401 without a usable WWW-Authenticate challenge".into()))
    }

    /// Checks `creds` against the registry `server` names, as dockerd's
    /// login does: a `/v2/` ping for the challenge, then for a bearer
    /// challenge a token from its realm (service, no scope, with the
    /// credentials as basic auth) and `/v2/` with that token, for a basic
    /// challenge `/v2/` with the credentials. Nothing is cached: tokens and
    /// the basic-auth hosts of pulls and pushes are left alone, so that a
    /// wrong password is never accepted on the strength of an earlier
    /// login. Refusals carry docker's texts ([`Error::LoginFailed`]).
    pub async fn login(&self, server: &str, creds: &Credentials) -> Result<()> {
        let host = login_host(server);
        let base = format!("{}://{host}", self.scheme(&host).await?);
        let endpoint = format!("{base}/v2/");
        let client = self.client_for(&host)?;
        let unreachable = |source: BoxError| Error::Unavailable { reference: format!("login to {host}"), registry: host.clone(), source };
        let get = |url: &str, authorization: Option<String>| {
            let mut b = Request::get(url);
            if let Some(a) = authorization {
                b = b.header(AUTHORIZATION, a);
            }
            let req = b.body(Full::new(Bytes::new())).map_err(|e| Error::InvalidArgument(format!("login request {}: {e}", truncate(url))));
            let client = client.clone();
            async move {
                let req = req?;
                match tokio::time::timeout(Duration::from_secs(15), client.request(req)).await {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(unreachable(Box::new(e))),
                    Err(e) => Err(unreachable(Box::new(e))),
                }
            }
        };
        let refused = |status: StatusCode| Error::LoginFailed {
            message: format!("login attempt to {endpoint} failed with status: {} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
            status: status.as_u16(),
        };
        let ping = get(&endpoint, None).await?;
        let status = ping.status();
        if status == StatusCode::OK {
            // no authentication asked for: any credentials do
            return Ok(());
        }
        if status != StatusCode::UNAUTHORIZED {
            return Err(refused(status));
        }
        let challenges: Vec<_> =
            ping.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).filter_map(auth::parse_challenge).collect();
        drop(ping);
        let authorization = if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.login_token(&endpoint, &c.params, creds).await?;
            format!("Bearer {token}")
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            creds.basic_header()
        } else {
            return Err(refused(status));
        };
        let resp = get(&endpoint, Some(authorization)).await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            s => Err(refused(s)),
        }
    }

    /// A token for a login check (docker's `offline_token` request).
    async fn login_token(&self, endpoint: &str, params: &BTreeMap<String, String>, creds: &Credentials) -> Result<String> {
        // docker's words for a refused token request: the URL it was
        // checking, then the token server's reason
        let denied = |status: u16, detail: String| Error::LoginFailed { message: format!("Get \"{endpoint}\": unauthorized: {detail}"), status };
        let realm = params.get("realm").ok_or_else(|| denied(401, "bearer challenge without realm".into()))?;
        let realm_uri: http::Uri = realm.parse().map_err(|_| denied(401, format!("malformed token realm {:?}", truncate(realm))))?;
        let realm_host = realm_uri.authority().map(|a| a.to_string()).unwrap_or_default();
        match realm_uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.is_insecure(&realm_host) => {}
            _ => return Err(denied(401, format!("token realm {} is not https", truncate(realm)))),
        }
        let mut url = realm.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("client_id=docker&offline_token=true");
        if let Some(s) = params.get("service") {
            url.push_str("&service=");
            url.push_str(&pct(s));
        }
        let client = self.client_for(&realm_host)?;
        let req = Request::get(&url)
            .header(AUTHORIZATION, creds.basic_header())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::InvalidArgument(format!("token request {}: {e}", truncate(&url))))?;
        let unreachable = |source: BoxError| Error::Unavailable { reference: format!("login token from {realm_host}"), registry: realm_host.clone(), source };
        let resp = match tokio::time::timeout(Duration::from_secs(15), client.request(req)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(unreachable(Box::new(e))),
            Err(e) => return Err(unreachable(Box::new(e))),
        };
        let status = resp.status();
        let body = read_limited(resp.into_body(), 1 << 20).await.map_err(|e| unreachable(e.into()))?;
        if !status.is_success() {
            return Err(denied(status.as_u16(), token_error_detail(&body).unwrap_or_else(|| status.canonical_reason().unwrap_or("authentication required").to_lowercase())));
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body).map_err(|e| denied(401, format!("malformed token response: {e}")))?;
        t.token.or(t.access_token).filter(|t| !t.is_empty()).ok_or_else(|| denied(401, "token response without token".into()))
    }

    /// Turns a non-success response into an error naming what failed.
    async fn status_error(&self, repo: &Repo, method: &str, path: &str, resp: Response<Incoming>) -> Error {
        let status = resp.status();
        let body = read_limited(resp.into_body(), 64 << 10).await.unwrap_or_default();
        let detail = error_detail(&body);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Error::Unauthorized { reference: repo.reference.clone(), registry: repo.host.clone(), detail: format!("{status}: {detail}") }
            }
            _ => Error::RegistryStatus {
                reference: repo.reference.clone(),
                registry: repo.host.clone(),
                method: method.to_owned(),
                path: path.to_owned(),
                status: status.as_u16(),
                detail,
            },
        }
    }

    /// GETs a manifest by tag or digest; verifies it against the digest when
    /// fetched by digest, and against `Docker-Content-Digest` when present.
    /// Returns the bytes, their digest and the content type.
    pub async fn get_manifest(&self, repo: &Repo, reference: &str) -> Result<(Vec<u8>, Digest, Option<String>)> {
        let path = format!("manifests/{reference}");
        let resp = self.send(repo, Method::GET, &repo.url(&path), &[(ACCEPT, MANIFEST_ACCEPT.to_owned())], Bytes::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::ManifestUnknown { reference: format!("{} ({}/{})", repo.reference, repo.host, repo.repository) });
        }
        if !resp.status().is_success() {
            return Err(self.status_error(repo, "GET", &path, resp).await);
        }
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let claimed = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(len) = content_length(resp.headers())
            && len > MANIFEST_LIMIT {
                return Err(Error::TooLarge { reference: repo.reference.clone(), what: "manifest", size: len, limit: MANIFEST_LIMIT });
            }
        let body = read_limited(resp.into_body(), MANIFEST_LIMIT).await.map_err(|e| match e {
            ReadError::TooLarge(n) => Error::TooLarge { reference: repo.reference.clone(), what: "manifest", size: n, limit: MANIFEST_LIMIT },
            ReadError::Io(e) => Error::Unavailable { reference: repo.reference.clone(), registry: repo.host.clone(), source: Box::new(e) },
        })?;
        let actual = Digest::of(&body);
        if let Ok(expected) = Digest::parse(reference) {
            if actual != expected {
                return Err(Error::DigestMismatch { reference: repo.reference.clone(), expected, actual });
            }
        } else if let Some(c) = claimed
            && let Ok(expected) = Digest::parse(&c)
                && expected != actual {
                    return Err(Error::DigestMismatch { reference: repo.reference.clone(), expected, actual });
                }
        Ok((body, actual, ct))
    }

    /// HEADs a manifest: its digest (from `Docker-Content-Digest`), media type
    /// and size, or `None` if the registry does not have it. Cheap check of
    /// whether a tag moved, without downloading anything.
    pub async fn head_manifest(&self, repo: &Repo, reference: &str) -> Result<Option<(Digest, Option<String>, Option<u64>)>> {
        let path = format!("manifests/{reference}");
        let resp = self.send(repo, Method::HEAD, &repo.url(&path), &[(ACCEPT, MANIFEST_ACCEPT.to_owned())], Bytes::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.status_error(repo, "HEAD", &path, resp).await);
        }
        let h = resp.headers();
        let digest = h.get("docker-content-digest").and_then(|v| v.to_str().ok()).map(Digest::parse).transpose()?;
        let digest = match (digest, Digest::parse(reference)) {
            (Some(d), _) | (None, Ok(d)) => d,
            (None, Err(_)) => {
                return Err(Error::InvalidContent {
                    reference: repo.reference.clone(),
                    what: "manifest",
                    digest: reference.to_owned(),
                    reason: "HEAD response without Docker-Content-Digest".into(),
                });
            }
        };
        let ct = h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Some((digest, ct, content_length(h))))
    }

    /// GETs a blob from `offset` (a Range request when non-zero), following
    /// redirects to blob storage without forwarding credentials.
    pub async fn get_blob(&self, repo: &Repo, digest: &Digest, offset: u64) -> Result<BlobBody> {
        let path = format!("blobs/{digest}");
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push((RANGE, format!("bytes={offset}-")));
        }
        let mut resp = self.send(repo, Method::GET, &repo.url(&path), &headers, Bytes::new()).await?;
        let mut hops = 0;
        while resp.status().is_redirection() {
            hops += 1;
            let loc = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let Some(loc) = loc.filter(|_| hops <= 5) else {
                return Err(self.status_error(repo, "GET", &path, resp).await);
            };
            let target = resolve_location(&repo.base, &loc);
            let uri: http::Uri = target
                .parse()
                .map_err(|_| Error::InvalidContent { reference: repo.reference.clone(), what: "redirect for blob", digest: digest.to_string(), reason: truncate(&loc) })?;
            let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
            if uri.scheme_str() == Some("http") && !self.is_insecure(&host) && !self.is_insecure(&repo.host) {
                return Err(Error::InsecureRefused { registry: host });
            }
            let other = Repo { host: host.clone(), base: String::new(), creds: None, ..repo.clone() };
            // Storage backends authenticate with the signed URL itself.
            let client = self.client_for(&host)?;
            let mut last_err = None;
            let mut got = None;
            for attempt in 0..=self.cfg.retries {
                let mut b = Request::get(&target);
                for (k, v) in &headers {
                    b = b.header(k, v);
                }
                let req = b.body(Full::new(Bytes::new())).map_err(|e| Error::InvalidArgument(e.to_string()))?;
                match client.request(req).await {
                    Ok(r) if r.status().is_server_error() && attempt < self.cfg.retries => {
                        tokio::time::sleep(self.backoff(attempt)).await;
                    }
                    Ok(r) => {
                        got = Some(r);
                        break;
                    }
                    Err(e) => {
                        last_err = Some(e);
                        tokio::time::sleep(self.backoff(attempt)).await;
                    }
                }
            }
            resp = match got {
                Some(r) => r,
                None => {
                    return Err(Error::Unavailable {
                        reference: repo.reference.clone(),
                        registry: other.host,
                        source: last_err.map_or_else(|| "redirect failed".into(), |e| Box::new(e) as _),
                    });
                }
            };
        }
        match resp.status() {
            StatusCode::OK => Ok(BlobBody { body: resp.into_body(), start: 0 }),
            StatusCode::PARTIAL_CONTENT => {
                let start = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                match start {
                    Some(s) if s == offset => Ok(BlobBody { body: resp.into_body(), start: s }),
                    _ => Err(Error::InvalidContent {
                        reference: repo.reference.clone(),
                        what: "blob",
                        digest: digest.to_string(),
                        reason: format!("registry answered a range request for offset {offset} with a different range"),
                    }),
                }
            }
            StatusCode::NOT_FOUND => Err(Error::BlobUnknown { reference: repo.reference.clone(), digest: digest.clone() }),
            _ => Err(self.status_error(repo, "GET", &path, resp).await),
        }
    }

    /// GETs a small blob (config) into memory, verified.
    pub async fn get_small_blob(&self, repo: &Repo, digest: &Digest, size: u64, limit: u64) -> Result<Vec<u8>> {
        if size > limit {
            return Err(Error::TooLarge { reference: repo.reference.clone(), what: "blob", size, limit });
        }
        let b = self.get_blob(repo, digest, 0).await?;
        let body = read_limited(b.body, size).await.map_err(|e| match e {
            ReadError::TooLarge(n) => Error::SizeMismatch { reference: repo.reference.clone(), digest: digest.clone(), expected: size, actual: n },
            ReadError::Io(e) => Error::Unavailable { reference: repo.reference.clone(), registry: repo.host.clone(), source: Box::new(e) },
        })?;
        if body.len() as u64 != size {
            return Err(Error::SizeMismatch { reference: repo.reference.clone(), digest: digest.clone(), expected: size, actual: body.len() as u64 });
        }
        let actual = Digest::of(&body);
        if actual != *digest {
            return Err(Error::DigestMismatch { reference: repo.reference.clone(), expected: digest.clone(), actual });
        }
        Ok(body)
    }

    /// HEAD on a blob: is it already in the repository?
    pub async fn blob_exists(&self, repo: &Repo, digest: &Digest) -> Result<bool> {
        let path = format!("blobs/{digest}");
        let resp = self.send(repo, Method::HEAD, &repo.url(&path), &[], Bytes::new()).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(repo, "HEAD", &path, resp).await),
        }
    }

    /// Tries a cross-repository mount of `digest` from `from` (same registry);
    /// the registry opens an upload session instead when it cannot mount.
    pub async fn mount_blob(&self, repo: &Repo, digest: &Digest, from: &str) -> Result<Mount> {
        let path = format!("blobs/uploads/?mount={}&from={}", pct(&digest.to_string()), pct(from));
        let resp = self.send(repo, Method::POST, &repo.url(&path), &[], Bytes::new()).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(self.location(repo, &resp)?)),
            _ => Err(self.status_error(repo, "POST", &path, resp).await),
        }
    }

    /// Opens an upload session; returns its location.
    pub async fn start_upload(&self, repo: &Repo) -> Result<String> {
        let path = "blobs/uploads/";
        let resp = self.send(repo, Method::POST, &repo.url(path), &[], Bytes::new()).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(repo, "POST", path, resp).await);
        }
        self.location(repo, &resp)
    }

    fn location(&self, repo: &Repo, resp: &Response<Incoming>) -> Result<String> {
        let loc = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| Error::RegistryStatus {
            reference: repo.reference.clone(),
            registry: repo.host.clone(),
            method: "POST".into(),
            path: "blobs/uploads/".into(),
            status: resp.status().as_u16(),
            detail: "upload response without Location".into(),
        })?;
        let url = resolve_location(&repo.base, loc);
        // Never let a registry send our credentials elsewhere.
        if !url.starts_with(&format!("{}/", repo.base)) {
            return Err(Error::InvalidContent {
                reference: repo.reference.clone(),
                what: "upload location",
                digest: String::new(),
                reason: format!("{} is not on {}", truncate(&url), repo.base),
            });
        }
        Ok(url)
    }

    /// Sends one chunk of a chunked upload; returns the next location.
    pub async fn patch_chunk(&self, repo: &Repo, location: &str, start: u64, data: Bytes) -> Result<String> {
        let end = start + data.len() as u64 - 1;
        let headers = [(CONTENT_TYPE, "application/octet-stream".to_owned()), (CONTENT_RANGE, format!("{start}-{end}"))];
        let resp = self.send(repo, Method::PATCH, location, &headers, data).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(repo, "PATCH", "blobs/uploads/", resp).await);
        }
        self.location(repo, &resp)
    }

    /// Completes an upload with the final (possibly whole, monolithic) data.
    pub async fn finish_upload(&self, repo: &Repo, location: &str, digest: &Digest, data: Bytes) -> Result<()> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", pct(&digest.to_string()));
        let headers = [(CONTENT_TYPE, "application/octet-stream".to_owned())];
        let resp = self.send(repo, Method::PUT, &url, &headers, data).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.status_error(repo, "PUT", &format!("blobs/uploads/ ({digest})"), resp).await);
        }
        Ok(())
    }

    /// PUTs a manifest under a tag or digest.
    pub async fn put_manifest(&self, repo: &Repo, reference: &str, media_type: &str, bytes: Bytes) -> Result<()> {
        let path = format!("manifests/{reference}");
        let resp = self.send(repo, Method::PUT, &repo.url(&path), &[(CONTENT_TYPE, media_type.to_owned())], bytes).await?;
        if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
            return Err(self.status_error(repo, "PUT", &path, resp).await);
        }
        Ok(())
    }
}

/// Accepts any server certificate (insecure registries only) while still
/// checking the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.split(':').next().unwrap_or(host)
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn resolve_location(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_owned()
    } else if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        format!("{base}/{loc}")
    }
}

/// Percent-encodes a query value.
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The host a login names: `host[:port]` of a URL or bare address; Docker
/// Hub's for an empty one or any of its names.
fn login_host(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY_HOST.to_owned(),
        h => h.to_owned(),
    }
}

/// A token server's reason for a refusal: `{"details": ...}` (Docker Hub)
/// or the distribution `{"errors": [{"message": ...}]}` form.
fn token_error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        details: String,
        #[serde(default)]
        errors: Vec<E>,
    }
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        message: String,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    let msg = if b.details.is_empty() { b.errors.into_iter().map(|e| e.message).find(|m| !m.is_empty()).unwrap_or_default() } else { b.details };
    (!msg.is_empty()).then(|| truncate(&msg))
}

/// The registry's error message from a body (`{"errors":[{code,message}]}`).
fn error_detail(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<Errs>(body) {
        let parts: Vec<String> = e.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        if !parts.is_empty() {
            return truncate(&parts.join("; "));
        }
    }
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.is_empty() { "no details".to_owned() } else { truncate(s) }
}

#[derive(Debug)]
pub(crate) enum ReadError {
    TooLarge(u64),
    Io(hyper::Error),
}

impl From<ReadError> for Box<dyn std::error::Error + Send + Sync> {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::TooLarge(n) => format!("body larger than expected ({n} bytes)").into(),
            ReadError::Io(e) => Box::new(e),
        }
    }
}

/// Reads a body, failing as soon as it exceeds `limit`.
pub(crate) async fn read_limited(mut body: Incoming, limit: u64) -> std::result::Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Io)?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(ReadError::TooLarge(out.len() as u64 + data.len() as u64));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let c = RegistryClient::new(RegistryConfig { insecure: vec!["reg.lan:5000".into(), "other".into()], ..Default::default() });
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.1:40000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(c.is_insecure("other:443"));
        assert!(!c.is_insecure("reg.lan:5001"));
        assert!(!c.is_insecure("registry-1.docker.io"));
        assert!(!c.is_insecure("localhost.evil.com"));
    }

    #[test]
    fn helpers() {
        assert_eq!(pct("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
        assert_eq!(resolve_location("http://h:1", "/v2/x/blobs/uploads/u?s=1"), "http://h:1/v2/x/blobs/uploads/u?s=1");
        assert_eq!(resolve_location("http://h:1", "https://o/x"), "https://o/x");
        assert_eq!(error_detail(br#"{"errors":[{"code":"DENIED","message":"no"}]}"#), "DENIED: no");
        assert_eq!(error_detail(b""), "no details");
        assert_eq!(host_without_port("[::1]:5000"), "[::1]");
        assert_eq!(host_without_port("a:5000"), "a");
        assert_eq!(login_host(""), "registry-1.docker.io");
        assert_eq!(login_host("https://index.docker.io/v1/"), "registry-1.docker.io");
        assert_eq!(login_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_host("http://reg.lan:5000/v2/"), "reg.lan:5000");
        assert_eq!(token_error_detail(br#"{"details":"incorrect username or password"}"#).as_deref(), Some("incorrect username or password"));
        assert_eq!(token_error_detail(br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad"}]}"#).as_deref(), Some("bad"));
        assert_eq!(token_error_detail(b"<html>"), None);
    }
}
