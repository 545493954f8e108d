//! Reading requests the way dockerd does: query values (`1`/`true`/`yes`
//! are true; a bad number is a 400 naming the parameter), the `filters`
//! parameter, JSON bodies with a size limit and errors naming the field, and
//! streamed bodies (tar uploads) as a blocking reader for the engine.

use std::io::Read;

use axum::body::Body;
use axum::extract::FromRequestParts;
use berth_docker_types::{ApiVersion, Filters};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, header};
use http_body::Body as _;

use crate::error::ApiError;

/// Largest JSON body accepted (a create body with a seccomp profile inline
/// is tens of KiB; this leaves room without letting a client exhaust memory).
pub const MAX_JSON_BODY: usize = 8 << 20;

/// The query string, decoded. Repeated keys keep every value.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Self(q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default())
    }

    /// The first value of `key` (Go's `FormValue`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// The value of `key`, absent when empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// docker's `BoolValue`: false for absent, empty, `0`, `no`, `false`,
    /// `none` (any case), true otherwise.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(truthy)
    }

    /// docker's `BoolValueOrDefault`: `default` when the key is absent or empty.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) if v.trim().is_empty() => default,
            Some(v) => truthy(v),
        }
    }

    /// An integer parameter; `None` when absent or empty.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key:?}: {v:?} is not an integer"))),
        }
    }

    /// An unsigned 16-bit parameter (terminal sizes).
    pub fn u16(&self, key: &str) -> Result<Option<u16>, ApiError> {
        match self.int(key)? {
            None => Ok(None),
            Some(n) => u16::try_from(n).map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key:?}: {n} is out of range"))),
        }
    }

    /// The `filters` parameter, checked against the keys this endpoint knows.
    pub fn filters(&self, accepted: &[&str]) -> Result<Filters, ApiError> {
        let f = match self.get("filters") {
            None => Filters::new(),
            Some(s) => Filters::from_json(s).map_err(ApiError::bad_request)?,
        };
        f.validate(accepted)?;
        Ok(f)
    }

    /// A `since`/`until` timestamp (`seconds[.nanos]`) as nanoseconds since
    /// the epoch; 0 when absent.
    pub fn timestamp_nanos(&self, key: &str) -> Result<i64, ApiError> {
        match self.non_empty(key) {
            None => Ok(0),
            Some(v) => berth_docker_types::time::parse_timestamp(v)
                .map(berth_docker_types::time::unix_nanos)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {key:?}: {v:?} is not a timestamp"))),
        }
    }
}

fn truthy(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    !(v.is_empty() || v == "0" || v == "no" || v == "false" || v == "none")
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// The API version of the request (from the `/v1.NN` prefix, else the
/// current one), put there by the version layer.
#[derive(Debug, Clone, Copy)]
pub struct Version(pub ApiVersion);

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Version(parts.extensions.get::<ApiVersion>().copied().unwrap_or_else(ApiVersion::current)))
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return ApiError::new(http::StatusCode::PAYLOAD_TOO_LARGE, format!("request body is larger than {limit} bytes"));
            }
            source = s.source();
        }
        ApiError::bad_request(format!("reading the request body: {e}"))
    })
}

/// docker's `CheckForJSON`: a body with a Content-Type other than JSON is refused.
pub fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let ct = ct.to_str().unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.is_empty() || mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("unsupported Content-Type header ({ct}): must be 'application/json'")))
    }
}

/// Parses a JSON body (docker's `ReadJSON`): an empty body is `None`,
/// trailing content after the value is refused, errors name the field.
pub fn parse_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    check_json_content_type(headers)?;
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
        None => return Ok(None),
    };
    if stream.next().is_some() {
        return Err(ApiError::bad_request("unexpected content after JSON"));
    }
    if value.is_null() {
        return Ok(None);
    }
    berth_docker_types::from_value_at("", value).map(Some).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Reads and parses a JSON body.
pub async fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<Option<T>, ApiError> {
    let bytes = read_body(body, MAX_JSON_BODY).await?;
    parse_json(headers, &bytes)
}

/// A request body as a blocking [`Read`] for the engine's tar consumers.
/// Must be read from a blocking thread (`spawn_blocking`), never from a
/// runtime worker. Bytes arrive through a small bounded channel, so a slow
/// consumer applies back pressure to the client; a client that hangs up
/// mid-upload makes `read` fail.
///
/// A consumer rarely reads the body to its very end: a tar reader stops at
/// the first end-of-archive block, leaving the second one, any record
/// padding and the closing chunk. The handler answers only after
/// [`Upload::finish`], which reads the rest: were the connection dropped
/// with part of the upload unread, the client would still be writing it
/// and fail with a broken pipe instead of reading the answer.
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

/// What the consumer of a [`BodyReader`] left unread is discarded, up to
/// this much (Go's net/http, which dockerd uses, discards up to 256 KiB);
/// beyond it the connection is closed instead.
pub const MAX_UNREAD_BODY: usize = 256 << 10;

/// The copying task of a [`BodyReader`]; see [`Upload::finish`].
#[derive(Debug)]
pub struct Upload {
    consumer_done: std::sync::Arc<tokio::sync::Notify>,
    drained: tokio::sync::oneshot::Receiver<()>,
}

impl Upload {
    /// Call once the consumer is done with the reader (whether it
    /// succeeded or not): the rest of the body is read and discarded (up
    /// to [`MAX_UNREAD_BODY`]) before this returns.
    pub async fn finish(self) {
        self.consumer_done.notify_one();
        // an error only means the copying task is gone: nothing to wait for
        let _ = self.drained.await;
    }
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader").finish_non_exhaustive()
    }
}

impl BodyReader {
    /// Starts copying `body` into the reader on a task.
    pub fn spawn(body: Body) -> (Self, Upload) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let consumer_done = std::sync::Arc::new(tokio::sync::Notify::new());
        let (drained_tx, drained) = tokio::sync::oneshot::channel();
        let done = consumer_done.clone();
        tokio::spawn(async move {
            let mut body = body;
            // forwarding to the consumer until it is done, discarding after
            let mut forwarding = true;
            let mut discarded = 0usize;
            loop {
                let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx));
                let frame = if forwarding {
                    tokio::select! {
                        f = next => f,
                        _ = done.notified() => {
                            forwarding = false;
                            continue;
                        }
                    }
                } else {
                    next.await
                };
                let data = match frame {
                    // read to its end
                    None => break,
                    Some(Err(e)) => {
                        if forwarding {
                            let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("client upload failed: {e}")))).await;
                        }
                        break;
                    }
                    Some(Ok(f)) => match f.into_data() {
                        Ok(d) if !d.is_empty() => d,
                        _ => continue,
                    },
                };
                if forwarding {
                    tokio::select! {
                        r = tx.send(Ok(data)) => if r.is_err() {
                            // the consumer dropped the reader
                            forwarding = false;
                        },
                        _ = done.notified() => forwarding = false,
                    }
                } else {
                    discarded += data.len();
                    if discarded > MAX_UNREAD_BODY {
                        tracing::debug!(discarded, "upload: giving up on the unread rest of the body; the connection closes");
                        break;
                    }
                }
            }
            let _ = drained_tx.send(());
        });
        (Self { rx, current: Bytes::new() }, Upload { consumer_done, drained })
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_bools() {
        let q = Query::parse(Some("a=1&b=true&c=0&d=no&e=&f=False&g=None&h=yes&i=TRUE"));
        assert!(q.bool("a") && q.bool("b") && q.bool("h") && q.bool("i"));
        assert!(!q.bool("c") && !q.bool("d") && !q.bool("e") && !q.bool("f") && !q.bool("g") && !q.bool("missing"));
        assert!(q.bool_or("missing", true));
        assert!(q.bool_or("e", true));
        assert!(!q.bool_or("c", true));
    }

    #[test]
    fn ints_name_the_parameter() {
        let q = Query::parse(Some("t=10&bad=abc&neg=-1&big=70000"));
        assert_eq!(q.int("t").unwrap(), Some(10));
        assert_eq!(q.int("neg").unwrap(), Some(-1));
        assert_eq!(q.int("missing").unwrap(), None);
        let e = q.int("bad").unwrap_err();
        assert_eq!((e.status.as_u16(), e.message.as_str()), (400, "invalid value for \"bad\": \"abc\" is not an integer"));
        assert!(q.u16("big").is_err());
    }

    #[test]
    fn repeated_keys_and_decoding() {
        let q = Query::parse(Some("names=a%2Fb%3Atag&names=c&x=a+b"));
        assert_eq!(q.all("names"), vec!["a/b:tag", "c"]);
        assert_eq!(q.get("x"), Some("a b"));
    }

    #[test]
    fn filters_are_validated() {
        let q = Query::parse(Some("filters=%7B%22nope%22%3A%7B%22x%22%3Atrue%7D%7D"));
        assert_eq!(q.filters(&["name"]).unwrap_err().message, "invalid filter 'nope'");
        let q = Query::parse(Some("filters=%7Bbroken"));
        assert_eq!(q.filters(&["name"]).unwrap_err().status.as_u16(), 400);
    }

    #[test]
    fn json_bodies() {
        let h = HeaderMap::new();
        let v: Option<berth_docker_types::exec::ExecStartRequest> = parse_json(&h, b"").unwrap();
        assert!(v.is_none());
        let v: Option<berth_docker_types::exec::ExecStartRequest> = parse_json(&h, br#"{"Detach":true}"#).unwrap();
        assert!(v.unwrap().detach);
        let e = parse_json::<berth_docker_types::exec::ExecStartRequest>(&h, br#"{"Detach":"x"}"#).unwrap_err();
        assert_eq!(e.message, "invalid JSON: Detach: invalid type: string \"x\", expected a boolean");
        let e = parse_json::<berth_docker_types::exec::ExecStartRequest>(&h, br#"{} {}"#).unwrap_err();
        assert_eq!(e.message, "unexpected content after JSON");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let e = parse_json::<berth_docker_types::exec::ExecStartRequest>(&h, br#"{}"#).unwrap_err();
        assert_eq!(e.message, "unsupported Content-Type header (text/plain): must be 'application/json'");
    }

    #[tokio::test]
    async fn body_limit() {
        let e = read_body(Body::from(vec![b'x'; 100]), 10).await.unwrap_err();
        assert_eq!(e.status.as_u16(), 413, "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn body_reader_streams() {
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let (mut r, upload) = BodyReader::spawn(Body::from(data.clone()));
        let got = tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(got, data);
        upload.finish().await;
    }

    /// A body whose chunks arrive over time, counting what was pulled.
    struct Trickle {
        rx: tokio::sync::mpsc::Receiver<Bytes>,
        pulled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl http_body::Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            self.rx.poll_recv(cx).map(|c| {
                c.map(|c| {
                    self.pulled.fetch_add(c.len(), std::sync::atomic::Ordering::SeqCst);
                    Ok(http_body::Frame::data(c))
                })
            })
        }
    }

    fn trickled(chunks: Vec<Vec<u8>>) -> (Body, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for c in chunks {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if tx.send(Bytes::from(c)).await.is_err() {
                    return;
                }
            }
        });
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Body::new(Trickle { rx, pulled: pulled.clone() }), pulled)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upload_is_read_to_its_end_before_the_answer() {
        // the consumer stops after the first chunk (as a tar reader stops
        // at the end-of-archive block); finish() reads the rest
        let (body, pulled) = trickled(vec![vec![1; 512], vec![0; 512], vec![0; 9216]]);
        let (mut r, upload) = BodyReader::spawn(body);
        tokio::task::spawn_blocking(move || {
            let mut b = [0u8; 512];
            r.read_exact(&mut b).unwrap();
        })
        .await
        .unwrap();
        upload.finish().await;
        assert_eq!(pulled.load(std::sync::atomic::Ordering::SeqCst), 10240, "the whole body was read");
        // beyond the limit, it gives up
        let (body, pulled) = trickled(vec![vec![0; MAX_UNREAD_BODY], vec![0; 4096], vec![0; 4096]]);
        let (r, upload) = BodyReader::spawn(body);
        drop(r);
        upload.finish().await;
        assert!(pulled.load(std::sync::atomic::Ordering::SeqCst) < MAX_UNREAD_BODY + 8192);
    }
}
