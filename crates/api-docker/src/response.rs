//! Building responses: JSON documents, empty answers, and streamed bodies
//! fed by a task through a bounded channel (logs, events, stats, pull
//! progress, tar archives). When the client hangs up, hyper drops the body,
//! the channel closes and the producing task sees its `send` fail and stops.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body::Frame;
use serde::Serialize;
use tokio::sync::mpsc;

pub const JSON: &str = "application/json";
pub const TAR: &str = "application/x-tar";
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// `value` as a JSON response with `status`.
pub fn json_status<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            // Go's json.Encoder ends the document with a newline
            body.push(b'\n');
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            resp
        }
        Err(e) => crate::error::ApiError::internal(format!("encoding the response: {e}")).into_response(),
    }
}

/// `value` as a 200 JSON response.
pub fn json<T: Serialize>(value: &T) -> Response {
    json_status(StatusCode::OK, value)
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A streamed body: chunks from a channel until its senders are gone.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A channel and the 200 response that streams whatever is sent on it.
/// Headers go out at once (docker clients wait for them before they go on,
/// e.g. `wait` before `start`).
pub fn stream(content_type: &'static str) -> (mpsc::Sender<Bytes>, Response) {
    let (tx, rx) = mpsc::channel(16);
    let mut resp = Response::new(Body::new(ChannelBody { rx }));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (tx, resp)
}

/// One JSON document followed by a newline, as Go's `json.Encoder` writes
/// each element of a stream.
pub fn json_line<T: Serialize>(value: &T) -> Bytes {
    let mut v = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    v.push(b'\n');
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streamed_body_ends_when_sender_drops() {
        let (tx, resp) = stream(JSON);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], JSON);
        tokio::spawn(async move {
            for i in 0..3 {
                tx.send(json_line(&i)).await.unwrap();
            }
        });
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"0\n1\n2\n");
    }

    #[tokio::test]
    async fn sender_sees_a_dropped_body() {
        let (tx, resp) = stream(JSON);
        drop(resp);
        assert!(tx.send(Bytes::from_static(b"x")).await.is_err());
    }
}
