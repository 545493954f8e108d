//! `/containers/...` and `/commit`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use berth_docker_types::container::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerPathStat, ContainerPruneResponse, ContainerTopResponse, ContainerWaitResponse,
    FilesystemChange, WaitExitError,
};
use berth_docker_types::stdcopy::{self, StreamType};
use berth_docker_types::IdResponse;
use berth_engine::model::{ArchivePutOptions, AttachOptions, CommitOptions, ListOptions, LogOptions, RemoveOptions, StdStream, StopOptions};
use berth_engine::spec::WaitCondition;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::mpsc;

use crate::AppState;
use crate::convert::{self, container as cc, create, misc};
use crate::detach;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, InputOptions};
use crate::request::{BodyReader, MAX_JSON_BODY, Query, Version, json_body, read_body};
use crate::response::{JSON, TAR, json, json_line, json_status, no_content, stream};

/// Container list filter keys docker accepts.
const LIST_FILTERS: &[&str] =
    &["ancestor", "before", "exited", "expose", "health", "id", "isolation", "is-task", "label", "name", "network", "publish", "since", "status", "volume"];

/// `GET /containers/json`.
pub(crate) async fn list(State(st): State<AppState>, q: Query) -> ApiResult {
    let filters = q.filters(LIST_FILTERS)?;
    for s in filters.get("status") {
        if berth_engine::model::Status::parse(s).is_none() {
            return Err(ApiError::bad_request(format!("invalid filter 'status={s}'")));
        }
    }
    for e in filters.get("exited") {
        if e.parse::<i32>().is_err() {
            return Err(ApiError::bad_request(format!("invalid filter 'exited={e}'")));
        }
    }
    if let Some(h) = filters.get("health").first() {
        // the engine has no healthchecks; docker's values would all be "none"
        return Err(ApiError::option_not_supported(format!("filter 'health={h}' (healthchecks)")));
    }
    let limit = q.int("limit")?.filter(|l| *l > 0).map(|l| usize::try_from(l).unwrap_or(usize::MAX)).unwrap_or(0);
    let opts = ListOptions { all: q.bool("all"), limit, size: q.bool("size"), filters: filters.to_map() };
    let list = st.engine.list(opts).await?;
    Ok(json(&list.iter().map(cc::summary).collect::<Vec<_>>()))
}

/// `POST /containers/create?name=&platform=`.
pub(crate) async fn create(State(st): State<AppState>, q: Query, headers: HeaderMap, body: Body) -> ApiResult {
    let bytes = read_body(body, MAX_JSON_BODY).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("config cannot be empty in order to create a container"));
    }
    crate::request::check_json_content_type(&headers)?;
    let req = ContainerCreateRequest::from_json(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let spec = create::to_spec(req, q.get("name"), q.get("platform"))?;
    let created = st.engine.create(spec).await?;
    Ok(json_status(StatusCode::CREATED, &ContainerCreateResponse { id: created.id, warnings: created.warnings }))
}

/// `GET /containers/{id}/json?size=`.
pub(crate) async fn inspect(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let d = st.engine.inspect(&id, q.bool("size")).await?;
    Ok(json(&cc::inspect(&d, &st.engine.config().log)))
}

/// `POST /containers/{id}/start`.
pub(crate) async fn start(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult {
    // docker refuses a HostConfig at start since API 1.24
    let body: Option<serde_json::Value> = json_body(&headers, body).await?;
    if body.is_some_and(|v| v.as_object().is_none_or(|o| !o.is_empty())) {
        return Err(ApiError::bad_request("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"));
    }
    // an auto-remove (`--rm`) container whose start failed is gone when
    // this returns (the engine removes it, as dockerd does)
    st.engine.start(&id).await?;
    Ok(no_content())
}

fn stop_options(q: &Query) -> Result<StopOptions, ApiError> {
    Ok(StopOptions { timeout: q.int("t")?, signal: q.non_empty("signal").map(str::to_owned) })
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub(crate) async fn stop(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    st.engine.stop(&id, stop_options(&q)?).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub(crate) async fn restart(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    st.engine.restart(&id, stop_options(&q)?).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/kill?signal=`.
pub(crate) async fn kill(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    st.engine.kill(&id, q.non_empty("signal")).await?;
    Ok(no_content())
}

pub(crate) async fn pause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    st.engine.pause(&id).await?;
    Ok(no_content())
}

pub(crate) async fn unpause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    st.engine.unpause(&id).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/rename?name=`.
pub(crate) async fn rename(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let name = q.non_empty("name").ok_or_else(|| ApiError::bad_request("Neither old nor new names may be empty"))?;
    st.engine.rename(&id, name).await?;
    Ok(no_content())
}

/// `DELETE /containers/{id}?force=&v=&link=`.
pub(crate) async fn remove(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let opts = RemoveOptions { force: q.bool("force"), volumes: q.bool("v"), link: q.bool("link") };
    st.engine.remove(&id, opts).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/wait?condition=`: headers at once (clients wait
/// for them before starting the container), the result when it comes.
pub(crate) async fn wait(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let condition = WaitCondition::parse(q.get("condition").unwrap_or(""))?;
    let fut = st.engine.wait(&id, condition).await?;
    let (tx, resp) = stream(JSON);
    tokio::spawn(async move {
        tokio::select! {
            r = fut => {
                let body = ContainerWaitResponse { status_code: r.exit_code, error: r.error.map(|message| WaitExitError { message }) };
                let _ = tx.send(json_line(&body)).await;
            }
            _ = tx.closed() => {}
        }
    });
    Ok(resp)
}

/// `GET /containers/{id}/logs`: stdcopy frames unless the container has a tty.
pub(crate) async fn logs(State(st): State<AppState>, Path(id): Path<String>, q: Query, Version(v): Version) -> ApiResult {
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    if q.bool("details") {
        return Err(ApiError::option_not_supported("logs --details (log attributes)"));
    }
    // docker: anything but a non-negative number means all lines
    let tail = match q.get("tail") {
        Some(t) => t.trim().parse::<i64>().ok().filter(|n| *n >= 0).map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        None => None,
    };
    let opts = LogOptions {
        follow: q.bool("follow"),
        stdout,
        stderr,
        since: q.timestamp_nanos("since")?,
        until: q.timestamp_nanos("until")?,
        tail,
    };
    let timestamps = q.bool("timestamps");
    let tty = st.engine.inspect(&id, false).await?.spec.tty;
    let mut rx = st.engine.logs(&id, opts).await?;
    let (tx, resp) = stream(hijack::content_type(tty, v));
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                i = rx.recv() => i,
                _ = tx.closed() => return,
            };
            let chunk = match item {
                None => return,
                Some(Ok(line)) => {
                    let mut payload = Vec::with_capacity(line.bytes.len() + 32);
                    if timestamps {
                        payload.extend_from_slice(convert::time_fixed(line.time).as_bytes());
                        payload.push(b' ');
                    }
                    payload.extend_from_slice(&line.bytes);
                    if tty {
                        payload
                    } else {
                        let s = match line.stream {
                            StdStream::Stderr => StreamType::Stderr,
                            StdStream::Stdout | StdStream::Stdin => StreamType::Stdout,
                        };
                        stdcopy::encode(s, &payload)
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "logs stream failed");
                    if !tty {
                        let _ = tx.send(Bytes::from(stdcopy::encode(StreamType::Systemerr, e.to_string().as_bytes()))).await;
                    }
                    return;
                }
            };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    Ok(resp)
}

/// `POST /containers/{id}/attach`: hijacked with `Upgrade: tcp`, else the
/// output as a streamed body.
pub(crate) async fn attach(State(st): State<AppState>, Path(id): Path<String>, q: Query, Version(v): Version, mut req: Request) -> ApiResult {
    let opts = AttachOptions { stdin: q.bool("stdin"), stdout: q.bool("stdout"), stderr: q.bool("stderr"), logs: q.bool("logs"), stream: q.bool("stream") };
    let keys = match q.non_empty("detachKeys") {
        Some(k) => detach::parse_keys(k).map_err(ApiError::bad_request)?,
        None => detach::DEFAULT_DETACH_KEYS.to_vec(),
    };
    let upgrade = hijack::wants_upgrade(req.headers());
    if !upgrade && opts.stdin {
        return Err(ApiError::option_not_supported("attach with stdin without an \"Upgrade: tcp\" connection"));
    }
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let io = match st.engine.attach(&id, opts).await {
        Ok(io) => io,
        // the engine prepares a created container's process when attaching;
        // dockerd reports a process that cannot be started at start, where
        // clients expect it (`docker run` turns it into exit code 126/127).
        // So the attach succeeds with an empty stream, and the start that
        // follows fails with the same error.
        Err(e) if e.start_failure().is_some() && on_upgrade.is_some() => {
            tracing::debug!(container = %id, error = %e, "attach: the process cannot start; reported at start");
            let (a, _b) = tokio::io::duplex(1);
            let tty = st.engine.inspect(&id, false).await.map(|d| d.spec.tty).unwrap_or(false);
            berth_engine::AttachIo { io: Box::new(a), tty }
        }
        Err(e) => return Err(e.into()),
    };
    let ct = hijack::content_type(io.tty, v);
    let input = InputOptions { stdin: opts.stdin, detach_keys: io.tty.then_some(keys) };
    Ok(match on_upgrade {
        Some(u) => hijack::upgrade(u, io, ct, input),
        None => hijack::output_only(io, ct),
    })
}

/// `POST /containers/{id}/resize?h=&w=`.
pub(crate) async fn resize(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let (h, w) = terminal_size(&q)?;
    st.engine.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `h` and `w`, both required.
pub(crate) fn terminal_size(q: &Query) -> Result<(u16, u16), ApiError> {
    let h = q.u16("h")?.ok_or_else(|| ApiError::bad_request("invalid value for \"h\": missing"))?;
    let w = q.u16("w")?.ok_or_else(|| ApiError::bad_request("invalid value for \"w\": missing"))?;
    Ok((h, w))
}

/// `GET /containers/{id}/top?ps_args=`.
pub(crate) async fn top(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let t = st.engine.top(&id, q.non_empty("ps_args")).await?;
    Ok(json(&ContainerTopResponse { titles: t.titles, processes: t.processes }))
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub(crate) async fn stats(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let streaming = q.bool_or("stream", true);
    let one_shot = q.bool("one-shot");
    if one_shot && streaming {
        return Err(ApiError::bad_request("cannot have stream=true and one-shot=true"));
    }
    let mut rx = st.engine.stats(&id, streaming, one_shot).await?;
    let (tx, resp) = stream(JSON);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                i = rx.recv() => i,
                _ = tx.closed() => return,
            };
            match item {
                Some(Ok(s)) => {
                    if tx.send(json_line(&misc::stats(&s))).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "stats stream failed");
                    return;
                }
                None => return,
            }
        }
    });
    Ok(resp)
}

fn archive_path(q: &Query) -> Result<&str, ApiError> {
    q.non_empty("path").ok_or_else(|| ApiError::bad_request("bad parameter: path cannot be empty"))
}

fn stat_header(s: &berth_engine::model::PathStat) -> Result<HeaderValue, ApiError> {
    let stat = ContainerPathStat { name: s.name.clone(), size: s.size, mode: s.mode, mtime: s.mtime.clone(), link_target: s.link_target.clone() };
    let json = serde_json::to_vec(&stat).map_err(|e| ApiError::internal(format!("encoding the path stat: {e}")))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).map_err(|e| ApiError::internal(e.to_string()))
}

const STAT_HEADER: &str = "x-docker-container-path-stat";

/// `HEAD /containers/{id}/archive?path=`.
pub(crate) async fn archive_head(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let s = st.engine.archive_head(&id, archive_path(&q)?).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(STAT_HEADER, stat_header(&s)?);
    Ok(resp)
}

/// Streams byte chunks from the engine as the body.
fn bytes_body(mut rx: mpsc::Receiver<berth_engine::Result<Bytes>>, content_type: &'static str) -> Response {
    let (tx, resp) = stream(content_type);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                i = rx.recv() => i,
                _ = tx.closed() => return,
            };
            match item {
                Some(Ok(b)) => {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    // the status is sent already: cutting the stream short is
                    // how the client learns (the tar is truncated)
                    tracing::warn!(error = %e, "archive stream failed");
                    return;
                }
                None => return,
            }
        }
    });
    resp
}

/// `GET /containers/{id}/archive?path=`: a tar of the path.
pub(crate) async fn archive_get(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let (s, rx) = st.engine.archive_get(&id, archive_path(&q)?).await?;
    let mut resp = bytes_body(rx, TAR);
    resp.headers_mut().insert(STAT_HEADER, stat_header(&s)?);
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
pub(crate) async fn archive_put(State(st): State<AppState>, Path(id): Path<String>, q: Query, body: Body) -> ApiResult {
    let path = archive_path(&q)?.to_owned();
    let opts = ArchivePutOptions { no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"), copy_uid_gid: q.bool("copyUIDGID") };
    let (reader, upload) = BodyReader::spawn(body);
    let r = st.engine.archive_put(&id, &path, Box::new(reader), opts).await;
    upload.finish().await;
    r?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /containers/{id}/export`.
pub(crate) async fn export(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let rx = st.engine.export(&id).await?;
    Ok(bytes_body(rx, TAR))
}

/// `GET /containers/{id}/changes`.
pub(crate) async fn changes(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let c = st.engine.changes(&id).await?;
    let out: Option<Vec<FilesystemChange>> =
        (!c.is_empty()).then(|| c.iter().map(|c| FilesystemChange { path: c.path.clone(), kind: c.kind.api_code() }).collect());
    Ok(json(&out))
}

/// Prune filter keys docker accepts.
const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// `POST /containers/prune`.
pub(crate) async fn prune(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(PRUNE_FILTERS)?;
    let r = st.engine.prune_containers(f.to_map()).await?;
    Ok(json(&ContainerPruneResponse { containers_deleted: (!r.deleted.is_empty()).then_some(r.deleted), space_reclaimed: r.space_reclaimed }))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub(crate) async fn commit(State(st): State<AppState>, q: Query, headers: HeaderMap, body: Body) -> ApiResult {
    let container = q.non_empty("container").ok_or_else(|| ApiError::bad_request("No container specified"))?.to_owned();
    let config: Option<serde_json::Value> = json_body(&headers, body).await?;
    if config.is_some_and(|c| c.as_object().is_none_or(|o| !o.is_empty())) {
        return Err(ApiError::option_not_supported("a container Config in the commit body (use changes=)"));
    }
    let reference = match (q.non_empty("repo"), q.non_empty("tag")) {
        (None, None) => None,
        (None, Some(_)) => return Err(ApiError::bad_request("invalid reference format: a tag needs a repository")),
        (Some(r), None) => Some(r.to_owned()),
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
    };
    let opts = CommitOptions {
        reference,
        comment: q.non_empty("comment").map(str::to_owned),
        author: q.non_empty("author").map(str::to_owned),
        changes: q.all("changes").into_iter().flat_map(|c| c.lines()).filter(|l| !l.trim().is_empty()).map(str::to_owned).collect(),
        pause: q.bool_or("pause", true),
    };
    let image = st.engine.commit(&container, opts).await?;
    Ok(json_status(StatusCode::CREATED, &IdResponse { id: image.id.to_string() }))
}
