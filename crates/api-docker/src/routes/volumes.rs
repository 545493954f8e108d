//! `/volumes/...`.

use axum::body::Body;
use axum::extract::{Path, State};
use berth_docker_types::volume::{VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use http::{HeaderMap, StatusCode};

use crate::AppState;
use crate::convert::misc;
use crate::error::{ApiError, ApiResult};
use crate::request::{Query, json_body};
use crate::response::{json, json_status, no_content};

/// `GET /volumes?filters=`.
pub(crate) async fn list(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(&["dangling", "driver", "label", "name"])?;
    f.get_bool_or_default("dangling", false)?;
    let vols = st.engine.volume_list(f.to_map()).await?;
    Ok(json(&VolumeListResponse { volumes: Some(vols.iter().map(misc::volume).collect()), warnings: None }))
}

/// `POST /volumes/create`.
pub(crate) async fn create(State(st): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let req: VolumeCreateRequest = json_body(&headers, body).await?.unwrap_or_default();
    if req.cluster_volume_spec.is_some() {
        return Err(ApiError::option_not_supported("cluster volumes (ClusterVolumeSpec)"));
    }
    if !req.driver.is_empty() && req.driver != "local" {
        return Err(ApiError::option_not_supported(format!("volume driver {:?} (only \"local\")", req.driver)));
    }
    let name = (!req.name.is_empty()).then_some(req.name.as_str());
    let v = st.engine.volume_create(name, req.labels.unwrap_or_default(), req.driver_opts.unwrap_or_default()).await?;
    Ok(json_status(StatusCode::CREATED, &misc::volume(&v)))
}

/// `GET /volumes/{name}`.
pub(crate) async fn inspect(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    Ok(json(&misc::volume(&st.engine.volume_inspect(&name).await?)))
}

/// `DELETE /volumes/{name}?force=`.
pub(crate) async fn remove(State(st): State<AppState>, Path(name): Path<String>, q: Query) -> ApiResult {
    st.engine.volume_remove(&name, q.bool("force")).await?;
    Ok(no_content())
}

/// `POST /volumes/prune?filters=`: anonymous volumes, or all with `all=true`.
pub(crate) async fn prune(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(&["label", "label!", "all"])?;
    let all = f.get_bool_or_default("all", false)?;
    let mut map = f.to_map();
    map.remove("all");
    let r = st.engine.volume_prune(all, map).await?;
    Ok(json(&VolumePruneResponse { volumes_deleted: (!r.deleted.is_empty()).then_some(r.deleted), space_reclaimed: r.space_reclaimed }))
}
