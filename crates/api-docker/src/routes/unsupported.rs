//! Endpoints berth does not implement yet. Each answers 501 with
//! `not supported yet: ...` so that clients fail clearly instead of being
//! handed an empty or made-up answer.

use crate::error::ApiError;

pub(crate) async fn build() -> ApiError {
    ApiError::not_supported("build (docker build / BuildKit); build images elsewhere and load or pull them")
}

pub(crate) async fn container_update() -> ApiError {
    ApiError::not_supported("container update (changing resources of an existing container)")
}

pub(crate) async fn attach_ws() -> ApiError {
    ApiError::not_supported("attach over websocket; use POST /containers/{id}/attach")
}

pub(crate) async fn image_search() -> ApiError {
    ApiError::not_supported("image search")
}

pub(crate) async fn distribution() -> ApiError {
    ApiError::not_supported("distribution inspect")
}

pub(crate) async fn plugins() -> ApiError {
    ApiError::not_supported("plugins")
}

pub(crate) async fn swarm() -> ApiError {
    ApiError::not_supported("swarm mode")
}

pub(crate) async fn cluster_volume() -> ApiError {
    ApiError::not_supported("updating cluster volumes")
}
