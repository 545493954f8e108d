//! The route table: one module per resource, as the API groups them.

mod containers;
mod exec;
mod images;
mod networks;
mod system;
mod unsupported;
mod volumes;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{get, head, post, put};

use crate::AppState;
use crate::error::ApiError;

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        // system
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(system::events))
        .route("/system/df", get(system::df))
        .route("/auth", post(system::auth))
        // containers
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}", axum::routing::delete(containers::remove))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/export", get(containers::export))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/archive", head(containers::archive_head).get(containers::archive_get).put(containers::archive_put))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/commit", post(containers::commit))
        // execs
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        // images (names contain slashes: `/images/{name}/json` is matched by suffix)
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route("/images/{*rest}", get(images::get_by_name).post(images::post_by_name).delete(images::remove))
        // volumes
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove).put(unsupported::cluster_volume))
        // networks
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        // not implemented yet: answered plainly, never faked
        .route("/containers/{id}/update", post(unsupported::container_update))
        .route("/containers/{id}/attach/ws", get(unsupported::attach_ws))
        .route("/build", post(unsupported::build))
        .route("/build/prune", post(unsupported::build))
        .route("/session", post(unsupported::build))
        .route("/images/search", get(unsupported::image_search))
        .route("/distribution/{*rest}", get(unsupported::distribution))
        .route("/plugins", get(unsupported::plugins))
        .route("/plugins/{*rest}", get(unsupported::plugins).post(unsupported::plugins).delete(unsupported::plugins))
        .route("/swarm", get(unsupported::swarm))
        .route("/swarm/{*rest}", get(unsupported::swarm).post(unsupported::swarm))
        .route("/nodes", get(unsupported::swarm))
        .route("/nodes/{*rest}", get(unsupported::swarm).post(unsupported::swarm).delete(unsupported::swarm))
        .route("/services", get(unsupported::swarm))
        .route("/services/{*rest}", get(unsupported::swarm).post(unsupported::swarm).delete(unsupported::swarm))
        .route("/tasks", get(unsupported::swarm))
        .route("/tasks/{*rest}", get(unsupported::swarm))
        .route("/secrets", get(unsupported::swarm))
        .route("/secrets/{*rest}", get(unsupported::swarm).post(unsupported::swarm).delete(unsupported::swarm))
        .route("/configs", get(unsupported::swarm))
        .route("/configs/{*rest}", get(unsupported::swarm).post(unsupported::swarm).delete(unsupported::swarm))
        .route("/grpc", put(unsupported::build).post(unsupported::build))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("page not found")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(http::StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
