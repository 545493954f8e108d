//! `/images/...`: list, inspect, history, pull (`create?fromImage`),
//! import (`create?fromSrc=-`), push, tag, remove, prune, save and load.
//! Image names contain slashes, so `/images/{name}/json` and friends are
//! told apart by their last path segment, as dockerd's router does.

use std::io::Write;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use base64::Engine as _;
use berth_docker_types::image::{ImageDeleteResponseItem, ImagePruneResponse};
use berth_docker_types::progress::JsonMessage;
use berth_docker_types::system::AuthConfig;
use berth_image::progress::Event;
use berth_image::{Auth, Progress, Removed};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;

use crate::AppState;
use crate::convert::image::{self as ci, ProgressTranslator};
use crate::error::{ApiError, ApiResult};
use crate::request::{BodyReader, Query};
use crate::response::{JSON, TAR, json, json_line, stream};

/// A 404 about an image in docker's words.
fn no_such_image(name: &str) -> impl FnOnce(ApiError) -> ApiError + '_ {
    move |e| if e.status == StatusCode::NOT_FOUND { ApiError::not_found(format!("No such image: {name}")) } else { e }
}

/// Looks an image up by reference, id or id prefix.
fn get_image(st: &AppState, name: &str) -> Result<berth_image::Image, ApiError> {
    st.engine.images().get(name).map_err(ApiError::from).map_err(no_such_image(name))
}

/// `X-Registry-Auth`: base64url JSON credentials. Absent: the daemon's
/// defaults (docker's `config.json` of the user berthd runs as); present
/// without credentials: anonymous.
pub(crate) fn registry_auth(headers: &HeaderMap) -> Result<Auth, ApiError> {
    let Some(v) = headers.get("x-registry-auth") else { return Ok(Auth::Default) };
    let raw = v.to_str().map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header: not ASCII"))?.trim();
    if raw.is_empty() {
        return Ok(Auth::Anonymous);
    }
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = URL_SAFE
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| STANDARD.decode(raw))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    let cfg: AuthConfig = berth_docker_types::from_json(&bytes).map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    auth_of(cfg, "X-Registry-Auth header")
}

/// The credentials of docker's `AuthConfig` (the `X-Registry-Auth` header,
/// the `POST /auth` body): username and password, or `auth` (base64 of
/// `user:password`); `Anonymous` when it has neither. `what` names the
/// source in errors.
pub(crate) fn auth_of(cfg: AuthConfig, what: &str) -> Result<Auth, ApiError> {
    use base64::engine::general_purpose::STANDARD;
    if !cfg.identitytoken.is_empty() || !cfg.registrytoken.is_empty() {
        return Err(ApiError::option_not_supported(format!("identity and registry tokens in the {what} (use username and password)")));
    }
    if !cfg.username.is_empty() || !cfg.password.is_empty() {
        return Ok(Auth::Basic { username: cfg.username, password: cfg.password });
    }
    if !cfg.auth.is_empty() {
        let decoded = STANDARD.decode(cfg.auth.trim()).map_err(|e| ApiError::bad_request(format!("invalid {what}: auth: {e}")))?;
        let s = String::from_utf8(decoded).map_err(|_| ApiError::bad_request(format!("invalid {what}: auth is not UTF-8")))?;
        let (u, p) = s.split_once(':').ok_or_else(|| ApiError::bad_request(format!("invalid {what}: auth is not user:password")))?;
        return Ok(Auth::Basic { username: u.to_owned(), password: p.to_owned() });
    }
    Ok(Auth::Anonymous)
}

/// Image list filter keys docker accepts.
const LIST_FILTERS: &[&str] = &["before", "dangling", "label", "reference", "since", "until"];

/// `GET /images/json?filters=&shared-size=`.
pub(crate) async fn list(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(LIST_FILTERS)?;
    let dangling = if f.contains("dangling") { Some(f.get_bool_or_default("dangling", false)?) } else { None };
    let store = st.engine.images();
    let images = store.list()?;
    let time_bound = |key: &str| -> Result<Option<i64>, ApiError> {
        match f.get(key).first() {
            None => Ok(None),
            Some(r) => Ok(Some(ci::created_seconds(&get_image(&st, r)?))),
        }
    };
    let before = time_bound("before")?;
    let since = time_bound("since")?;
    let until = match f.get("until").first() {
        None => None,
        Some(u) => Some(
            berth_docker_types::time::parse_timestamp(u)
                .map(berth_docker_types::time::unix_seconds)
                .ok_or_else(|| ApiError::bad_request(format!("invalid filter 'until={u}'")))?,
        ),
    };
    let shared = q.bool("shared-size").then(|| ci::shared_sizes(&images));
    let mut out = Vec::new();
    for i in &images {
        let created = ci::created_seconds(i);
        if dangling.is_some_and(|d| d != i.repo_tags.is_empty())
            || before.is_some_and(|b| created >= b)
            || since.is_some_and(|s| created <= s)
            || until.is_some_and(|u| created > u)
        {
            continue;
        }
        let refs = f.get("reference");
        if !refs.is_empty() && !i.repo_tags.iter().any(|t| refs.iter().any(|p| ci::reference_matches(p, &ci::familiar(t)))) {
            continue;
        }
        let labels = store.config(i).ok().and_then(|c| c.config.and_then(|c| c.labels));
        if !f.match_kv_list("label", labels.as_ref()) {
            continue;
        }
        let shared_size = shared.as_ref().and_then(|s| s.get(&i.id.to_string()).copied()).unwrap_or(-1);
        out.push(ci::summary(i, labels, -1, shared_size));
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.created));
    Ok(json(&out))
}

/// `GET /images/{name}/json|history|get`.
pub(crate) async fn get_by_name(State(st): State<AppState>, Path(rest): Path<String>, q: Query) -> ApiResult {
    if let Some(name) = rest.strip_suffix("/json") {
        let image = get_image(&st, name)?;
        let cfg = st.engine.images().config(&image)?;
        return Ok(json(&ci::inspect(&image, &cfg)));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let image = get_image(&st, name)?;
        let cfg = st.engine.images().config(&image)?;
        return Ok(json(&ci::history(&image, &cfg)));
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(&st, vec![name.to_owned()], &q);
    }
    Err(ApiError::not_found("page not found"))
}

/// `POST /images/{name}/push|tag`.
pub(crate) async fn post_by_name(State(st): State<AppState>, Path(rest): Path<String>, q: Query, headers: HeaderMap) -> ApiResult {
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.non_empty("repo").ok_or_else(|| ApiError::bad_request("Bad parameters: repo is required"))?;
        let target = match q.non_empty("tag") {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_owned(),
        };
        st.engine.image_tag(name, &target).await.map_err(ApiError::from).map_err(no_such_image(name))?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return push(st, name, &q, &headers).await;
    }
    Err(ApiError::not_found("page not found"))
}

/// `DELETE /images/{name}?force=&noprune=`.
pub(crate) async fn remove(State(st): State<AppState>, Path(name): Path<String>, q: Query) -> ApiResult {
    // berth images have no parent chain, so `noprune` has nothing to keep
    let removed = st.engine.image_remove(&name, q.bool("force")).await.map_err(ApiError::from).map_err(no_such_image(&name))?;
    let items: Vec<ImageDeleteResponseItem> = removed
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(t) => ImageDeleteResponseItem { untagged: ci::familiar(&t), ..Default::default() },
            Removed::Deleted(d) => ImageDeleteResponseItem { deleted: d.to_string(), ..Default::default() },
        })
        .collect();
    Ok(json(&items))
}

/// `POST /images/prune?filters=` (`dangling=false` prunes every unused image).
pub(crate) async fn prune(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(&["dangling", "until", "label", "label!"])?;
    let dangling = f.get_bool_or_default("dangling", true)?;
    let mut map = f.to_map();
    map.remove("dangling");
    let r = st.engine.image_prune(!dangling, map).await?;
    let mut items: Vec<ImageDeleteResponseItem> =
        r.untagged.into_iter().map(|t| ImageDeleteResponseItem { untagged: ci::familiar(&t), ..Default::default() }).collect();
    items.extend(r.deleted.into_iter().map(|d| ImageDeleteResponseItem { deleted: d, ..Default::default() }));
    Ok(json(&ImagePruneResponse { images_deleted: (!items.is_empty()).then_some(items), space_reclaimed: r.space_reclaimed }))
}

/// Runs an image operation that reports progress, answering like dockerd:
/// an error before any progress was committed is a plain HTTP error; after
/// that the status is 200 and the error is the stream's last line.
async fn with_progress<T: Send + 'static>(
    task: tokio::task::JoinHandle<berth_engine::Result<T>>,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut tr: ProgressTranslator,
    mut before: impl FnMut(&mut ProgressTranslator, &Event) + Send + 'static,
    finish: impl FnOnce(&mut ProgressTranslator, T) -> Vec<JsonMessage> + Send + 'static,
) -> ApiResult {
    let mut pending: Vec<JsonMessage> = Vec::new();
    if tr.committed {
        pending.push(tr.push_start());
    }
    while !tr.committed {
        match events.recv().await {
            Some(e) => {
                before(&mut tr, &e);
                pending.extend(tr.translate(&e));
            }
            None => break,
        }
    }
    if !tr.committed {
        // the operation ended before it said anything worth streaming
        let result = task.await.map_err(|e| ApiError::internal(format!("image task failed: {e}")))?;
        let value = result?;
        let mut lines = pending;
        lines.extend(finish(&mut tr, value));
        let mut body = Vec::new();
        for l in &lines {
            body.extend_from_slice(&json_line(l));
        }
        let mut resp = (StatusCode::OK, body).into_response();
        resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(JSON));
        return Ok(resp);
    }
    let (tx, resp) = stream(JSON);
    tokio::spawn(async move {
        let abort = task.abort_handle();
        let gone = |abort: &tokio::task::AbortHandle| {
            // the client hung up: stop the operation, as dockerd cancels it
            abort.abort();
        };
        for l in &pending {
            if tx.send(json_line(l)).await.is_err() {
                return gone(&abort);
            }
        }
        while let Some(e) = events.recv().await {
            before(&mut tr, &e);
            for l in tr.translate(&e) {
                if tx.send(json_line(&l)).await.is_err() {
                    return gone(&abort);
                }
            }
        }
        let lines = match task.await {
            Ok(Ok(v)) => finish(&mut tr, v),
            Ok(Err(e)) => vec![JsonMessage::error(e.to_string())],
            Err(e) => vec![JsonMessage::error(format!("image task failed: {e}"))],
        };
        for l in &lines {
            if tx.send(json_line(l)).await.is_err() {
                return;
            }
        }
    });
    Ok(resp)
}

/// `POST /images/create`: pull (`fromImage`) or import (`fromSrc=-`).
pub(crate) async fn create(State(st): State<AppState>, q: Query, headers: HeaderMap, body: Body) -> ApiResult {
    if let Some(from) = q.non_empty("fromImage") {
        let reference = match q.non_empty("tag") {
            Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
            Some(t) => format!("{from}:{t}"),
            None => {
                let r = berth_image::Reference::parse(from).map_err(|e| ApiError::bad_request(e.to_string()))?;
                // `docker pull -a` sends no tag: every tag of the repository
                if !from.contains('@') && !from.rsplit('/').next().is_some_and(|last| last.contains(':')) {
                    return Err(ApiError::option_not_supported(format!("pulling all tags of {}", r.familiar().trim_end_matches(":latest"))));
                }
                from.to_owned()
            }
        };
        let parsed = berth_image::Reference::parse(&reference).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let auth = registry_auth(&headers)?;
        let platform = q.non_empty("platform").map(str::to_owned);
        let (progress, events) = Progress::channel();
        let engine = st.engine.clone();
        let r2 = reference.clone();
        let task = tokio::spawn(async move { engine.image_pull(&r2, platform.as_deref(), &auth, &progress).await.map(|_| ()) });
        return with_progress(task, events, ProgressTranslator::pull(&parsed.familiar()), |_, _| {}, |_, ()| Vec::new()).await;
    }
    match q.get("fromSrc") {
        Some("-") => {}
        Some("") | None => return Err(ApiError::bad_request("Bad parameters: fromImage or fromSrc must be set")),
        Some(_) => return Err(ApiError::option_not_supported("importing from a URL (fromSrc=<url>); send the archive in the body with fromSrc=-")),
    }
    if q.non_empty("message").is_some() {
        return Err(ApiError::option_not_supported("import --message"));
    }
    if let Some(p) = q.non_empty("platform") {
        return Err(ApiError::option_not_supported(format!("import --platform {p}")));
    }
    let reference = match (q.non_empty("repo"), q.non_empty("tag")) {
        (None, _) => None,
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.to_owned()),
    };
    let changes: Vec<String> = q.all("changes").into_iter().flat_map(|c| c.lines()).filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    let (reader, upload) = BodyReader::spawn(body);
    let r = st.engine.image_import(Box::new(reader), reference.as_deref(), &changes).await;
    upload.finish().await;
    let image = r?;
    Ok(json(&JsonMessage::status(image.id.to_string(), "")))
}

/// `POST /images/{name}/push?tag=`.
async fn push(st: AppState, name: &str, q: &Query, headers: &HeaderMap) -> ApiResult {
    let reference = match q.non_empty("tag") {
        Some(t) => format!("{name}:{t}"),
        None => name.to_owned(),
    };
    let parsed = berth_image::Reference::parse(&reference).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Ok(image) = st.engine.images().get(&reference) else {
        return Err(ApiError::not_found(format!("An image does not exist locally with the tag: {}", parsed.familiar().trim_end_matches(":latest"))));
    };
    // docker shows layers only, not the config blob
    let config_id = image.id.short().to_owned();
    let auth = registry_auth(headers)?;
    let (progress, events) = Progress::channel();
    let engine = st.engine.clone();
    let r2 = reference.clone();
    let task = tokio::spawn(async move { engine.image_push(&r2, &auth, &progress).await.map(|_| ()) });
    let mut tr = ProgressTranslator::push(&parsed.familiar());
    tr.committed = true;
    tr.skip_id = Some(config_id);
    let store = st.engine.images().clone();
    let before = move |tr: &mut ProgressTranslator, e: &Event| {
        if let Event::Complete { digest, .. } = e {
            tr.manifest_size = store.content().size(digest).ok().flatten();
        }
    };
    with_progress(task, events, tr, before, |_, ()| Vec::new()).await
}

/// `POST /images/load?quiet=`: a docker or OCI archive in the body.
pub(crate) async fn load(State(st): State<AppState>, q: Query, body: Body) -> ApiResult {
    if let Some(p) = q.non_empty("platform") {
        return Err(ApiError::option_not_supported(format!("load --platform {p}")));
    }
    let quiet = q.bool("quiet");
    let (progress, events) = Progress::channel();
    let engine = st.engine.clone();
    let (reader, upload) = BodyReader::spawn(body);
    let task = tokio::spawn(async move {
        let r = engine.image_load(Box::new(reader), &progress).await;
        upload.finish().await;
        r
    });
    let tr = ProgressTranslator::load(quiet);
    let finish = |_: &mut ProgressTranslator, images: Vec<berth_image::Image>| {
        let mut out = Vec::new();
        for i in images {
            if i.repo_tags.is_empty() {
                out.push(JsonMessage { stream: format!("Loaded image ID: {}\n", i.id), ..Default::default() });
            }
            for t in &i.repo_tags {
                out.push(JsonMessage { stream: format!("Loaded image: {}\n", ci::familiar(t)), ..Default::default() });
            }
        }
        out
    };
    with_progress(task, events, tr, |_, _| {}, finish).await
}

/// `GET /images/get?names=a&names=b`.
pub(crate) async fn save_many(State(st): State<AppState>, q: Query) -> ApiResult {
    let names: Vec<String> = q.all("names").into_iter().map(str::to_owned).collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("Bad parameters: no image names given (names=)"));
    }
    save(&st, names, &q)
}

/// A `Write` into a streamed body (used from a blocking thread).
struct ChannelWriter(mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn save(st: &AppState, names: Vec<String>, q: &Query) -> ApiResult {
    if let Some(p) = q.non_empty("platform") {
        return Err(ApiError::option_not_supported(format!("save --platform {p}")));
    }
    // unknown names are a 404 before any byte is sent
    for n in &names {
        get_image(st, n)?;
    }
    let (tx, resp) = stream(TAR);
    let store = st.engine.images().clone();
    tokio::task::spawn_blocking(move || {
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx));
        let r = store.save(&names, &mut w, berth_image::ArchiveFormat::Docker).map_err(|e| e.to_string()).and_then(|()| w.flush().map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::warn!(error = %e, "image save failed; the archive is truncated");
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-registry-auth", v.parse().unwrap());
        h
    }

    #[test]
    fn registry_auth_forms() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        assert!(matches!(registry_auth(&HeaderMap::new()).unwrap(), Auth::Default));
        assert!(matches!(registry_auth(&headers("e30=")).unwrap(), Auth::Anonymous));
        let h = URL_SAFE.encode(br#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#);
        match registry_auth(&headers(&h)).unwrap() {
            Auth::Basic { username, password } => assert_eq!((username.as_str(), password.as_str()), ("u", "p?>")),
            other => panic!("{other:?}"),
        }
        let inner = STANDARD.encode("a:b");
        let h = URL_SAFE.encode(format!(r#"{{"auth":"{inner}"}}"#));
        assert!(matches!(registry_auth(&headers(&h)).unwrap(), Auth::Basic { .. }));
        assert_eq!(registry_auth(&headers("!!!")).unwrap_err().status, StatusCode::BAD_REQUEST);
        let h = URL_SAFE.encode(br#"{"identitytoken":"x"}"#);
        assert!(registry_auth(&headers(&h)).unwrap_err().message.starts_with("not supported yet"));
    }
}
