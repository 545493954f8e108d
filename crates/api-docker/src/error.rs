//! [`ApiError`]: an HTTP status and docker's `{"message": "..."}` body,
//! mapped from the engine's one error-kind enum.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A failed request: status plus the message the client prints after
/// `Error response from daemon: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 501 `not supported yet: <what>`: an endpoint or option berth does
    /// not implement, said plainly instead of being ignored.
    pub fn not_supported(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, format!("not supported yet: {what}"))
    }

    /// 400 `not supported yet: <what>` for an option of an implemented
    /// endpoint (docker answers bad options with 400).
    pub fn option_not_supported(what: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("not supported yet: {what}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<berth_engine::Error> for ApiError {
    fn from(e: berth_engine::Error) -> Self {
        let mut status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // dockerd answers a command that cannot be found or run with 400
        // (an invalid configuration), other start failures with 500
        if matches!(e.start_failure(), Some(berth_engine::StartFailure::NotFound | berth_engine::StartFailure::CannotInvoke)) {
            status = StatusCode::BAD_REQUEST;
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %e, "request failed");
        }
        let message = match e {
            // docker's invalid-parameter texts carry no prefix
            berth_engine::Error::InvalidArgument(m) => m,
            e => e.to_string(),
        };
        Self { status, message }
    }
}

impl From<berth_image::Error> for ApiError {
    fn from(e: berth_image::Error) -> Self {
        berth_engine::Error::from(e).into()
    }
}

impl From<berth_docker_types::filters::InvalidFilter> for ApiError {
    fn from(e: berth_docker_types::filters::InvalidFilter) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // 304 has no body (docker's start of a started container)
        if self.status == StatusCode::NOT_MODIFIED {
            return self.status.into_response();
        }
        let body = serde_json::to_vec(&berth_docker_types::ErrorResponse { message: self.message }).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_kinds_map_to_docker_statuses() {
        let cases = [
            (berth_engine::Error::NoSuchContainer("nope".into()), 404, "No such container: nope"),
            (berth_engine::Error::NameInUse { name: "a".into(), id: "b".into() }, 409, ""),
            (berth_engine::Error::InvalidArgument("Invalid container name (w)".into()), 400, "Invalid container name (w)"),
            (berth_engine::Error::NotSupported("--link".into()), 400, "not supported yet: --link"),
            (berth_engine::Error::FailedPrecondition("Container x is not running".into()), 409, "Container x is not running"),
            (berth_engine::Error::NotModified("already started".into()), 304, ""),
            (berth_engine::Error::Internal("boom".into()), 500, "boom"),
            (
                berth_engine::Error::StartFailed { message: "exec: \"nope\": executable file not found in $PATH".into(), failure: berth_engine::StartFailure::NotFound },
                400,
                "failed to create task for container: exec: \"nope\": executable file not found in $PATH: unknown",
            ),
        ];
        for (e, status, msg) in cases {
            let a = ApiError::from(e);
            assert_eq!(a.status.as_u16(), status, "{a}");
            if !msg.is_empty() {
                assert_eq!(a.message, msg);
            }
        }
    }

    #[tokio::test]
    async fn body_is_docker_json() {
        let resp = ApiError::not_found("No such container: x").into_response();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], br#"{"message":"No such container: x"}"#);
        let resp = ApiError::new(StatusCode::NOT_MODIFIED, "x").into_response();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        assert!(body.is_empty());
    }
}
