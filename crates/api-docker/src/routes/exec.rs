//! `/containers/{id}/exec` and `/exec/...`.

use axum::extract::{Path, Request, State};
use axum::response::IntoResponse;
use berth_docker_types::IdResponse;
use berth_docker_types::exec::{ExecCreateRequest, ExecStartRequest};
use berth_engine::ExecStarted;
use berth_engine::model::ExecStartOptions;
use http::{HeaderMap, StatusCode};

use crate::AppState;
use crate::convert::misc;
use crate::detach;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, InputOptions};
use crate::request::{Query, Version, json_body};
use crate::response::{json, json_status};

/// `POST /containers/{id}/exec`.
pub(crate) async fn create(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Body) -> ApiResult {
    let req: ExecCreateRequest = json_body(&headers, body).await?.ok_or_else(|| ApiError::bad_request("No exec command specified"))?;
    let spec = misc::exec_spec(req)?;
    let exec_id = st.engine.exec_create(&id, spec).await?;
    Ok(json_status(StatusCode::CREATED, &IdResponse { id: exec_id }))
}

/// `POST /exec/{id}/start`: detached (200, empty), hijacked with
/// `Upgrade: tcp`, or the output as a streamed body.
pub(crate) async fn start(State(st): State<AppState>, Path(id): Path<String>, Version(v): Version, req: Request) -> ApiResult {
    let (mut parts, body) = req.into_parts();
    let start: ExecStartRequest = json_body(&parts.headers, body).await?.unwrap_or_default();
    let details = st.engine.exec_inspect(&id).await?;
    let upgrade = hijack::wants_upgrade(&parts.headers);
    if !start.detach && !upgrade && details.spec.attach_stdin {
        return Err(ApiError::option_not_supported("exec with stdin without an \"Upgrade: tcp\" connection"));
    }
    let console_size = match start.console_size {
        Some([h, w]) if h > 0 || w > 0 => Some((u16::try_from(h).unwrap_or(u16::MAX), u16::try_from(w).unwrap_or(u16::MAX))),
        _ => None,
    };
    let on_upgrade = if !start.detach && upgrade { parts.extensions.remove::<hyper::upgrade::OnUpgrade>() } else { None };
    let opts = ExecStartOptions { detach: start.detach, tty: start.tty, console_size };
    let started = match st.engine.exec_start(&id, opts).await {
        Ok(s) => s,
        // dockerd hijacks first and then starts the process: a process that
        // cannot start is reported on the stream (the client then reads
        // the exit code, 126/127, from exec inspect), in docker's words
        Err(e) => match on_upgrade {
            Some(u) if e.kind() != berth_engine::ErrorKind::NotFound => {
                let tty = start.tty || details.spec.tty;
                let io = hijack::error_stream(&ApiError::from(e).message, tty).await;
                return Ok(hijack::upgrade(u, io, hijack::content_type(tty, v), InputOptions::default()));
            }
            _ => return Err(e.into()),
        },
    };
    match started {
        ExecStarted::Detached => Ok(StatusCode::OK.into_response()),
        ExecStarted::Attached(io) => {
            let ct = hijack::content_type(io.tty, v);
            let keys = match details.spec.detach_keys.as_deref() {
                Some(k) => detach::parse_keys(k).map_err(ApiError::bad_request)?,
                None => detach::DEFAULT_DETACH_KEYS.to_vec(),
            };
            let input = InputOptions { stdin: details.spec.attach_stdin, detach_keys: io.tty.then_some(keys) };
            Ok(match on_upgrade {
                Some(u) => hijack::upgrade(u, io, ct, input),
                None if upgrade => return Err(ApiError::internal("the connection cannot be upgraded")),
                None => hijack::output_only(io, ct),
            })
        }
    }
}

/// `POST /exec/{id}/resize?h=&w=`.
pub(crate) async fn resize(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let (h, w) = super::containers::terminal_size(&q)?;
    st.engine.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /exec/{id}/json`.
pub(crate) async fn inspect(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(json(&misc::exec_inspect(&st.engine.exec_inspect(&id).await?)))
}
