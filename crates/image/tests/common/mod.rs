#![allow(dead_code)]
//! Shared bits of the berth-image integration tests.

use std::path::Path;

use berth_image::{ImageStore, RegistryConfig, StoreConfig};

/// A registry config with quick retries, no docker config lookups.
pub fn fast_config() -> RegistryConfig {
    RegistryConfig {
        retries: 3,
        retry_delay_ms: 10,
        stall_timeout_secs: 5,
        docker_config: Some("/nonexistent/berth-test/config.json".into()),
        ..Default::default()
    }
}

pub fn open(root: &Path, registries: RegistryConfig) -> ImageStore {
    ImageStore::open(root, StoreConfig { registries }).expect("open store")
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Every file under `dir` whose path contains `needle`.
pub fn find(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.to_string_lossy().contains(needle) {
                out.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out
}
