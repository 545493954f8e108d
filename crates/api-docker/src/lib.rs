//! The Docker Engine API (1.24–1.50) on top of berth-engine, so that the
//! real `docker` CLI, docker-py, compose and the `berth` CLI can drive berthd.
//!
//! What it owns: routing (versioned `/v1.NN/...` and unversioned paths),
//! API version negotiation, docker's query and body conventions, converting
//! docker's JSON to and from the engine's API-neutral types, docker's
//! status codes and error texts (mapped from the engine's one error-kind
//! enum), streamed answers (logs, events, stats, pull/push progress, tar
//! archives), and hijacked connections for attach and exec.
//!
//! What it must not touch: container internals. Everything goes through
//! [`berth_engine::Engine`]'s public methods; images that need no container
//! knowledge go to its image store.
//!
//! ```no_run
//! # async fn f(engine: berth_engine::Engine) -> std::io::Result<()> {
//! let listener = tokio::net::UnixListener::bind("/run/berth/berth.sock")?;
//! berth_api_docker::serve(listener, std::sync::Arc::new(engine)).await
//! # }
//! ```
//!
//! Why each dependency earns its place: `axum` (0.8, on hyper 1.x) for
//! routing and serving with HTTP upgrades; `hyper`/`hyper-util` for the
//! upgraded (hijacked) connection itself; `tower-service` to put the
//! version-prefix rewrite in front of the router; `http-body` for streamed
//! bodies fed from channels; `form_urlencoded` for query strings with
//! repeated keys; `base64` for `X-Registry-Auth` and the archive stat
//! header.

pub mod convert;
pub mod detach;
pub mod error;
pub mod hijack;
pub mod request;
pub mod response;
mod routes;
pub mod version;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use axum::Router;
use berth_engine::Engine;

pub use error::{ApiError, ApiResult};

/// Shared by every handler.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    /// Open `GET /events` streams (`NEventsListener` in `/info`).
    pub event_listeners: Arc<AtomicUsize>,
}

/// The Docker Engine API as an axum router: versioned and unversioned
/// paths, docker's headers on every response, request logging at debug
/// level.
pub fn router(engine: Arc<Engine>) -> Router {
    let state = AppState { engine, event_listeners: Arc::default() };
    let inner = routes::routes(state);
    Router::new().fallback_service(version::Versioned::new(inner))
}

/// Serves the API on a unix socket until the listener fails. Connections
/// are served concurrently, with HTTP upgrades for attach and exec.
pub async fn serve(listener: tokio::net::UnixListener, engine: Arc<Engine>) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).await
}
