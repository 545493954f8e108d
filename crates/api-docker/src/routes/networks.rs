//! `/networks/...` over the engine's networks (berth-network): bridge
//! networks with CNI, plus the built-in `bridge`, `host` and `none`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use berth_docker_types::network::{
    EndpointResource, Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use berth_engine::NetworkInfo;
use berth_engine::spec::EndpointSpec;
use http::{HeaderMap, StatusCode};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::request::{Query, json_body};
use crate::response::{json, json_status, no_content};

/// The networks docker creates itself.
const BUILTIN: &[&str] = &["bridge", "host", "none"];

/// An engine network in docker's shape.
pub(crate) fn network(n: &NetworkInfo) -> Network {
    Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: n.scope.clone(),
        driver: n.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: n.enable_ipv6,
        ipam: Ipam {
            driver: n.ipam.driver.clone(),
            options: Some(n.ipam.options.clone()),
            config: Some(
                n.ipam
                    .config
                    .iter()
                    .map(|c| IpamConfig { subnet: c.subnet.clone(), ip_range: c.ip_range.clone(), gateway: c.gateway.clone(), auxiliary_addresses: None })
                    .collect(),
            ),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: n.ingress,
        config_from: berth_docker_types::network::ConfigReference { network: n.config_from.network.clone() },
        config_only: n.config_only,
        containers: Some(
            n.containers
                .iter()
                .map(|(id, c)| {
                    (id.clone(), EndpointResource {
                        name: c.name.clone(),
                        endpoint_id: c.endpoint_id.clone(),
                        mac_address: c.mac_address.clone(),
                        ipv4_address: c.ipv4_address.clone(),
                        ipv6_address: c.ipv6_address.clone(),
                    })
                })
                .collect(),
        ),
        options: Some(n.options.clone()),
        labels: Some(n.labels.clone()),
    }
}

/// `GET /networks?filters=`.
pub(crate) async fn list(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(&["dangling", "driver", "id", "label", "name", "scope", "type"])?;
    let dangling = if f.contains("dangling") { Some(f.get_bool_or_default("dangling", false)?) } else { None };
    for t in f.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::bad_request(format!("invalid filter: 'type'='{t}'")));
        }
    }
    let nets = st.engine.network_list().await?;
    let out: Vec<Network> = nets
        .iter()
        .filter(|n| {
            let builtin = BUILTIN.contains(&n.name.as_str());
            f.exact_match("driver", &n.driver)
                && f.fuzzy_match("id", &n.id)
                // docker matches names as a pattern; a substring is what a plain name means
                && (f.get("name").is_empty() || f.get("name").iter().any(|p| n.name.contains(p)))
                && f.match_kv_list("label", Some(&n.labels))
                && f.exact_match("scope", &n.scope)
                && f.get("type").iter().all(|t| (*t == "builtin") == builtin)
                && dangling.is_none_or(|d| d == (!builtin && n.containers.is_empty()))
        })
        .map(network)
        .collect();
    Ok(json(&out))
}

/// `GET /networks/{id}?scope=`.
pub(crate) async fn inspect(State(st): State<AppState>, Path(id): Path<String>, q: Query) -> ApiResult {
    let n = st.engine.network_inspect(&id).await?;
    if let Some(scope) = q.non_empty("scope")
        && scope != n.scope
    {
        return Err(ApiError::not_found(format!("network {id} not found")));
    }
    Ok(json(&network(&n)))
}

/// `POST /networks/create`.
pub(crate) async fn create(State(st): State<AppState>, headers: HeaderMap, body: Body) -> ApiResult {
    let r: NetworkCreateRequest = json_body(&headers, body).await?.ok_or_else(|| ApiError::bad_request("network name must not be empty"))?;
    if r.name.is_empty() {
        return Err(ApiError::bad_request("network name must not be empty"));
    }
    if r.enable_ipv4 == Some(false) {
        return Err(ApiError::option_not_supported("networks without IPv4"));
    }
    if r.ingress || r.config_only || r.config_from.as_ref().is_some_and(|c| !c.network.is_empty()) {
        return Err(ApiError::option_not_supported("swarm network options (--ingress, --config-only, --config-from)"));
    }
    if !r.scope.is_empty() && r.scope != "local" {
        return Err(ApiError::option_not_supported(format!("--scope {}", r.scope)));
    }
    let ipam = r.ipam.unwrap_or_default();
    if !ipam.driver.is_empty() && ipam.driver != "default" {
        return Err(ApiError::option_not_supported(format!("--ipam-driver {}", ipam.driver)));
    }
    if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::option_not_supported("--ipam-opt"));
    }
    let configs = ipam.config.unwrap_or_default();
    if configs.len() > 1 {
        return Err(ApiError::option_not_supported("more than one subnet per network"));
    }
    let c = configs.into_iter().next().unwrap_or_default();
    if c.auxiliary_addresses.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::option_not_supported("--aux-address"));
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    let opts = berth_engine::NetworkOptions {
        driver: r.driver,
        subnet: some(c.subnet),
        gateway: some(c.gateway),
        ip_range: some(c.ip_range),
        internal: r.internal,
        attachable: r.attachable,
        enable_ipv6: r.enable_ipv6.unwrap_or(false),
        labels: r.labels.unwrap_or_default(),
        options: r.options.unwrap_or_default(),
    };
    let n = st.engine.network_create(&r.name, opts).await?;
    Ok(json_status(StatusCode::CREATED, &NetworkCreateResponse { id: n.id, warning: String::new() }))
}

/// `DELETE /networks/{id}`.
pub(crate) async fn remove(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    st.engine.network_remove(&id).await?;
    Ok(no_content())
}

/// `POST /networks/{id}/connect`.
pub(crate) async fn connect(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult {
    let r: NetworkConnectRequest = json_body(&headers, body).await?.unwrap_or_default();
    if r.container.is_empty() {
        return Err(ApiError::bad_request("no container given to connect"));
    }
    let ep = r.endpoint_config.unwrap_or_default();
    if ep.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::option_not_supported("--link"));
    }
    if ep.driver_opts.as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::option_not_supported("--driver-opt"));
    }
    if ep.gw_priority != 0 {
        return Err(ApiError::option_not_supported("--gw-priority"));
    }
    let ipam = ep.ipam_config.unwrap_or_default();
    if ipam.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::option_not_supported("--link-local-ip"));
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    let spec = EndpointSpec {
        aliases: ep.aliases.unwrap_or_default(),
        ipv4_address: some(ipam.ipv4_address),
        ipv6_address: some(ipam.ipv6_address),
        mac_address: some(ep.mac_address),
    };
    st.engine.network_connect(&r.container, &id, spec).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
pub(crate) async fn disconnect(State(st): State<AppState>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> ApiResult {
    let r: NetworkDisconnectRequest = json_body(&headers, body).await?.unwrap_or_default();
    if r.container.is_empty() {
        return Err(ApiError::bad_request("no container given to disconnect"));
    }
    st.engine.network_disconnect(&r.container, &id, r.force).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/prune`.
pub(crate) async fn prune(State(st): State<AppState>, q: Query) -> ApiResult {
    let f = q.filters(&["until", "label", "label!"])?;
    if !f.is_empty() {
        return Err(ApiError::option_not_supported("network prune --filter"));
    }
    let removed = st.engine.network_prune().await?;
    Ok(json(&NetworkPruneResponse { networks_deleted: (!removed.is_empty()).then_some(removed) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_shape() {
        let info: NetworkInfo = serde_json::from_value(serde_json::json!({
            "Name": "appnet", "Id": "abc", "Created": "2024-01-01T00:00:00Z", "Scope": "local", "Driver": "bridge",
            "EnableIPv6": false, "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.99.0.0/24", "Gateway": "10.99.0.1"}]},
            "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "Containers": {"c1": {"Name": "web", "EndpointID": "e", "MacAddress": "m", "IPv4Address": "10.99.0.2/24", "IPv6Address": ""}},
            "Options": {}, "Labels": {"k": "v"}
        }))
        .unwrap();
        let v = serde_json::to_value(network(&info)).unwrap();
        assert_eq!(v["EnableIPv4"], true);
        assert_eq!(v["IPAM"]["Config"], serde_json::json!([{"Subnet": "10.99.0.0/24", "Gateway": "10.99.0.1"}]));
        assert_eq!(v["Containers"]["c1"]["IPv4Address"], "10.99.0.2/24");
        assert_eq!(v["Labels"]["k"], "v");
    }
}
