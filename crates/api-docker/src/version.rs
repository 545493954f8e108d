//! API version negotiation as dockerd does it: paths may start with
//! `/v1.NN`; the prefix is stripped before routing and the version kept in
//! the request's extensions. Versions above [`API_VERSION`] or below
//! [`MIN_API_VERSION`] are refused with docker's texts. Every response
//! carries `Api-Version`, `Docker-Experimental`, `Ostype` and `Server`, and
//! every request is logged (at debug level).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_docker_types::ApiVersion;
use berth_docker_types::version::{API_VERSION, MIN_API_VERSION};
use http::{HeaderValue, Request, Uri};
use tower_service::Service;

use crate::error::ApiError;

/// What a path's version prefix says.
#[derive(Debug, PartialEq, Eq)]
pub enum Prefix {
    /// No `/vN.N` prefix: the current version.
    None,
    /// A supported version and the path without the prefix.
    Ok(ApiVersion, String),
    /// A version outside the supported range (docker's message).
    Refused(String),
}

/// Splits `/v1.44/containers/json` into the version and `/containers/json`.
pub fn split_prefix(path: &str) -> Prefix {
    let Some(rest) = path.strip_prefix("/v") else { return Prefix::None };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // dockerd's route is /v{version:[0-9.]+}: anything else is a plain path
    if ver.is_empty() || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Prefix::None;
    }
    let Some(v) = ApiVersion::parse(ver) else {
        return Prefix::Refused(format!("invalid API version {ver:?}"));
    };
    if v < ApiVersion::min() {
        return Prefix::Refused(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    if v > ApiVersion::current() {
        return Prefix::Refused(format!("client version {ver} is too new. Maximum supported API version is {API_VERSION}"));
    }
    Prefix::Ok(v, tail.to_owned())
}

/// The router behind the version prefix handling (see the module docs).
#[derive(Clone, Debug)]
pub struct Versioned {
    inner: Router,
}

impl Versioned {
    pub fn new(inner: Router) -> Self {
        Self { inner }
    }
}

fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn add_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("api-version", HeaderValue::from_static(API_VERSION));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert(http::header::SERVER, HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")));
}

impl Service<Request<Body>> for Versioned {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let refused = match split_prefix(&path) {
            Prefix::None => {
                req.extensions_mut().insert(ApiVersion::current());
                None
            }
            Prefix::Ok(v, tail) => match with_path(req.uri(), &tail) {
                Some(uri) => {
                    *req.uri_mut() = uri;
                    req.extensions_mut().insert(v);
                    None
                }
                None => Some(ApiError::bad_request(format!("invalid request path {path:?}"))),
            },
            Prefix::Refused(msg) => Some(ApiError::bad_request(msg)),
        };
        let mut router = self.inner.clone();
        Box::pin(async move {
            let mut resp = match refused {
                Some(e) => e.into_response(),
                None => match router.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                },
            };
            add_headers(&mut resp);
            tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(split_prefix("/_ping"), Prefix::None);
        assert_eq!(split_prefix("/v1.50/_ping"), Prefix::Ok(ApiVersion::new(1, 50), "/_ping".into()));
        assert_eq!(split_prefix("/v1.24/containers/json"), Prefix::Ok(ApiVersion::new(1, 24), "/containers/json".into()));
        assert_eq!(split_prefix("/v1.41"), Prefix::Ok(ApiVersion::new(1, 41), "/".into()));
        assert_eq!(
            split_prefix("/v1.51/info"),
            Prefix::Refused("client version 1.51 is too new. Maximum supported API version is 1.50".into())
        );
        assert_eq!(
            split_prefix("/v1.12/info"),
            Prefix::Refused(
                "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version".into()
            )
        );
        assert_eq!(split_prefix("/volumes"), Prefix::None);
        assert_eq!(split_prefix("/vx/info"), Prefix::None);
        assert!(matches!(split_prefix("/v1.2.3/info"), Prefix::Refused(_)));
    }

    #[test]
    fn rewrite_keeps_query() {
        let uri: Uri = "/v1.50/containers/json?all=1".parse().unwrap();
        assert_eq!(with_path(&uri, "/containers/json").unwrap().to_string(), "/containers/json?all=1");
    }
}
