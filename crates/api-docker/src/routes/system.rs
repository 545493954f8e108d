//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`, `/auth`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use berth_docker_types::system as ds;
use berth_docker_types::version::{API_VERSION, MIN_API_VERSION};
use berth_engine::model::EventsOptions;
use http::{HeaderValue, Method, header};

use crate::AppState;
use crate::convert::{container, image as ci, misc};
use crate::error::{ApiError, ApiResult};
use crate::request::Query;
use crate::response::{JSON, json, json_line, stream};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET`/`HEAD /_ping`: `OK`, with the headers clients negotiate from.
pub(crate) async fn ping(method: Method) -> Response {
    let mut resp = if method == Method::HEAD { Response::new(Body::empty()) } else { Response::new(Body::from("OK")) };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("swarm", HeaderValue::from_static("inactive"));
    if method == Method::HEAD {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    resp
}

/// Go's `GOARCH` names for the architectures Rust reports.
pub(crate) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// `GET /version`.
pub(crate) async fn version() -> Response {
    let kernel = kernel_release();
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION),
        ("Arch", go_arch()),
        ("Experimental", "false"),
        ("GitCommit", option_env!("BERTH_GIT_COMMIT").unwrap_or("")),
        ("KernelVersion", kernel.as_str()),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    json(&ds::Version {
        platform: ds::PlatformName { name: format!("berth {VERSION}") },
        components: Some(vec![ds::ComponentVersion { name: "Engine".into(), version: VERSION.into(), details: Some(details) }]),
        version: VERSION.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: option_env!("BERTH_GIT_COMMIT").unwrap_or("").into(),
        go_version: String::new(),
        os: "linux".into(),
        arch: go_arch().into(),
        kernel_version: kernel,
        experimental: false,
        build_time: String::new(),
    })
}

/// What the host's cgroups can limit, as `docker info` reports it.
#[derive(Debug, Default)]
struct CgroupFeatures {
    memory: bool,
    swap: bool,
    cpu_cfs: bool,
    cpu_shares: bool,
    cpuset: bool,
    pids: bool,
}

fn cgroup_features(version: &str) -> CgroupFeatures {
    let root = std::path::Path::new("/sys/fs/cgroup");
    if version == "2" {
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        // swap accounting: memory.swap.max exists in non-root cgroups when enabled
        let swap = has("memory") && std::fs::read_to_string("/proc/self/cgroup").ok().is_some_and(|s| {
            s.lines().find_map(|l| l.strip_prefix("0::")).is_some_and(|p| root.join(p.trim_start_matches('/')).join("memory.swap.max").exists())
        });
        CgroupFeatures { memory: has("memory"), swap, cpu_cfs: has("cpu"), cpu_shares: has("cpu"), cpuset: has("cpuset"), pids: has("pids") }
    } else {
        CgroupFeatures {
            memory: root.join("memory/memory.limit_in_bytes").exists(),
            swap: root.join("memory/memory.memsw.limit_in_bytes").exists(),
            cpu_cfs: root.join("cpu/cpu.cfs_quota_us").exists(),
            cpu_shares: root.join("cpu/cpu.shares").exists(),
            cpuset: root.join("cpuset/cpuset.cpus").exists(),
            pids: root.join("pids/pids.max").exists() || root.join("pids").exists(),
        }
    }
}

/// A stable identifier of this daemon (its data root on this host).
fn daemon_id(data_root: &str, name: &str) -> String {
    // FNV-1a: stable across Rust versions, unlike std's hasher
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain([0]).chain(data_root.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let hex = format!("{h:016x}");
    format!("BERTH:{}:{}:{}:{}", &hex[0..4].to_uppercase(), &hex[4..8].to_uppercase(), &hex[8..12].to_uppercase(), &hex[12..16].to_uppercase())
}

/// `GET /info`.
pub(crate) async fn info(State(st): State<AppState>) -> ApiResult {
    let i = st.engine.info().await?;
    let cg = cgroup_features(&i.cgroup_version);
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let nfd = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let threads = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse::<i64>().unwrap_or(0))))
        .unwrap_or(0);
    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        "docker.io".to_owned(),
        ds::IndexInfo { name: "docker.io".into(), mirrors: i.registry_mirrors.clone(), secure: true, official: true },
    );
    let (cidrs, hosts): (Vec<String>, Vec<String>) = i.insecure_registries.iter().cloned().partition(|r| r.contains('/'));
    for h in hosts {
        index_configs.insert(h.clone(), ds::IndexInfo { name: h, mirrors: vec![], secure: false, official: false });
    }
    let mut insecure_cidrs = vec!["::1/128".to_owned(), "127.0.0.0/8".to_owned()];
    insecure_cidrs.extend(cidrs);
    let mut warnings = Vec::new();
    if !cg.memory {
        warnings.push("WARNING: No memory limit support".to_owned());
    }
    if !cg.swap {
        warnings.push("WARNING: No swap limit support".to_owned());
    }
    let info = ds::Info {
        id: daemon_id(&i.data_root, &i.name),
        containers: count(i.containers),
        containers_running: count(i.containers_running),
        containers_paused: count(i.containers_paused),
        containers_stopped: count(i.containers_stopped),
        images: count(i.images),
        driver: "overlay2".into(),
        driver_status: vec![["Backing Filesystem".into(), backing_fs(&i.data_root)], ["Supports d_type".into(), "true".into()]],
        plugins: ds::PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec!["bridge".into(), "host".into(), "null".into()]),
            authorization: None,
            log: Some(vec!["json-file".into(), "none".into()]),
        },
        memory_limit: cg.memory,
        swap_limit: cg.swap,
        kernel_memory_tcp: false,
        cpu_cfs_period: cg.cpu_cfs,
        cpu_cfs_quota: cg.cpu_cfs,
        cpu_shares: cg.cpu_shares,
        cpu_set: cg.cpuset,
        pids_limit: cg.pids,
        ipv4_forwarding: std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|s| s.trim() == "1"),
        debug: false,
        n_fd: count(nfd),
        oom_kill_disable: i.cgroup_version != "2",
        n_goroutines: threads,
        system_time: berth_docker_types::time::format_rfc3339_nano(std::time::SystemTime::now()),
        logging_driver: i.logging_driver.clone(),
        cgroup_driver: i.cgroup_driver.clone(),
        cgroup_version: i.cgroup_version.clone(),
        n_events_listener: count(st.event_listeners.load(Ordering::Relaxed)),
        kernel_version: i.kernel_version.clone(),
        operating_system: i.operating_system.clone(),
        os_version: os_version(),
        os_type: i.os_type.clone(),
        architecture: i.architecture.clone(),
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: Some(ds::RegistryServiceConfig {
            insecure_registry_cidrs: Some(insecure_cidrs),
            index_configs: Some(index_configs),
            mirrors: Some(i.registry_mirrors.clone()),
        }),
        ncpu: count(i.ncpu),
        mem_total: i64::try_from(i.mem_total).unwrap_or(i64::MAX),
        generic_resources: None,
        docker_root_dir: i.data_root.clone(),
        http_proxy: std::env::var("HTTP_PROXY").or_else(|_| std::env::var("http_proxy")).unwrap_or_default(),
        https_proxy: std::env::var("HTTPS_PROXY").or_else(|_| std::env::var("https_proxy")).unwrap_or_default(),
        no_proxy: std::env::var("NO_PROXY").or_else(|_| std::env::var("no_proxy")).unwrap_or_default(),
        name: i.name.clone(),
        labels: vec![],
        experimental_build: false,
        server_version: VERSION.into(),
        runtimes: i.runtimes.iter().map(|(k, v)| (k.clone(), ds::Runtime { path: v.clone(), ..Default::default() })).collect(),
        default_runtime: i.default_runtime.clone(),
        swarm: ds::SwarmInfo { local_node_state: "inactive".into(), ..Default::default() },
        live_restore_enabled: i.live_restore_enabled,
        isolation: String::new(),
        init_binary: i.init_binary.clone(),
        containerd_commit: ds::Commit::default(),
        runc_commit: ds::Commit::default(),
        init_commit: ds::Commit::default(),
        security_options: i.security_options.clone(),
        cdi_spec_dirs: vec![],
        warnings: (!warnings.is_empty()).then_some(warnings),
    };
    Ok(json(&info))
}

fn os_version() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VERSION_ID=").map(|v| v.trim_matches('"').to_owned())))
        .unwrap_or_default()
}

/// The filesystem type of the data root, in docker's words (`extfs`, `xfs`, `tmpfs`...).
fn backing_fs(path: &str) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let best = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mp, ty) = (f.next()?, f.next()?, f.next()?);
            (path == mp || path.starts_with(&format!("{}/", mp.trim_end_matches('/')))).then(|| (mp.len(), ty.to_owned()))
        })
        .max_by_key(|(len, _)| *len);
    match best.map(|(_, t)| t).as_deref() {
        Some("ext2" | "ext3" | "ext4") => "extfs".into(),
        Some(other) => other.into(),
        None => "unknown".into(),
    }
}

/// Event filter keys docker accepts.
const EVENT_FILTERS: &[&str] =
    &["config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope", "secret", "service", "type", "volume"];

/// `GET /events`: live (and, with `since`, recent) events as JSON lines
/// until `until` or until the client hangs up.
pub(crate) async fn events(State(st): State<AppState>, q: Query) -> ApiResult {
    let filters = q.filters(EVENT_FILTERS)?;
    let since = q.timestamp_nanos("since")?;
    let until = q.timestamp_nanos("until")?;
    if since > 0 && until > 0 && until < since {
        return Err(ApiError::bad_request("since time must be before until time"));
    }
    let mut rx = st.engine.events(EventsOptions { since, until, filters: filters.to_map() });
    let (tx, resp) = stream(JSON);
    let listeners = st.event_listeners.clone();
    listeners.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => {
                        if tx.send(json_line(&misc::event(&e))).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                _ = tx.closed() => break,
            }
        }
        listeners.fetch_sub(1, Ordering::Relaxed);
    });
    Ok(resp)
}

/// `GET /system/df` (`type` selects parts, API 1.42+).
pub(crate) async fn df(State(st): State<AppState>, q: Query) -> ApiResult {
    let types = q.all("type");
    for t in &types {
        if !matches!(*t, "container" | "image" | "volume" | "build-cache") {
            return Err(ApiError::bad_request(format!("invalid type: {t}")));
        }
    }
    let want = |t: &str| types.is_empty() || types.contains(&t);
    let du = st.engine.disk_usage().await?;
    let images: Vec<_> = du
        .images
        .iter()
        .map(|i| berth_docker_types::image::ImageSummary {
            containers: i.containers,
            created: i.created,
            id: i.id.clone(),
            labels: None,
            parent_id: String::new(),
            descriptor: None,
            repo_digests: i.repo_digests.iter().map(|t| ci::familiar(t)).collect(),
            repo_tags: i.repo_tags.iter().map(|t| ci::familiar(t)).collect(),
            shared_size: i.shared_size,
            size: i.size,
        })
        .collect();
    let out = ds::DiskUsage {
        layers_size: if want("image") { du.layers_size } else { 0 },
        images: want("image").then_some(images),
        containers: want("container").then(|| du.containers.iter().map(container::summary).collect()),
        volumes: want("volume").then(|| du.volumes.iter().map(misc::volume).collect()),
        // berth has no builder, so no build cache: an empty list is the truth
        build_cache: want("build-cache").then(Vec::new),
    };
    Ok(json(&out))
}

/// `POST /auth`: checks the credentials against the registry (berth-image's
/// login: a `/v2/` ping, then the token or basic flow). Nothing is kept:
/// the client stores the credentials and sends them with each pull and
/// push. A refusal is a 401 with docker's text.
pub(crate) async fn auth(State(st): State<AppState>, headers: http::HeaderMap, body: Body) -> ApiResult {
    let cfg: ds::AuthConfig = crate::request::json_body(&headers, body).await?.ok_or_else(|| ApiError::bad_request("missing registry credentials in the request body"))?;
    let server = cfg.serveraddress.clone();
    let credentials = match super::images::auth_of(cfg, "login request")? {
        berth_engine::Auth::Basic { username, password } => berth_image::Credentials { username, password },
        // no credentials: the registry decides (one that asks for none accepts)
        _ => berth_image::Credentials { username: String::new(), password: String::new() },
    };
    match st.engine.images().login(&server, &credentials).await {
        Ok(()) => Ok(json(&ds::AuthResponse { status: "Login Succeeded".into(), identity_token: String::new() })),
        Err(e) if e.kind() == berth_image::ErrorKind::Unauthorized => Err(ApiError::new(http::StatusCode::UNAUTHORIZED, e.to_string())),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_get_and_head() {
        let r = ping(Method::GET).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(&axum::body::to_bytes(r.into_body(), 100).await.unwrap()[..], b"OK");
        let r = ping(Method::HEAD).await;
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "0");
        assert!(axum::body::to_bytes(r.into_body(), 100).await.unwrap().is_empty());
    }

    #[test]
    fn ids_are_stable_and_shaped() {
        let a = daemon_id("/var/lib/berth", "host");
        assert_eq!(a, daemon_id("/var/lib/berth", "host"));
        assert_ne!(a, daemon_id("/other", "host"));
        assert_eq!(a.split(':').count(), 5);
    }

    #[test]
    fn arch_names() {
        assert!(!go_arch().is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(go_arch(), "amd64");
        }
    }
}
