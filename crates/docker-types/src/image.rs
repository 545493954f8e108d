//! Images: list, inspect, history, delete, prune; OCI descriptors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::{HealthConfig, PortSet};
use crate::de::{Empty, is_empty_opt, is_zero};

/// An OCI platform (`os.version`, `os.features` as the OCI spec names them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    #[serde(rename = "os.features", skip_serializing_if = "is_empty_opt")]
    pub os_features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

/// An OCI content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    pub containers: i64,
    pub created: i64,
    #[serde(rename = "Id")]
    pub id: String,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "ParentId")]
    pub parent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Descriptor>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub repo_digests: Vec<String>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub repo_tags: Vec<String>,
    pub shared_size: i64,
    pub size: i64,
}

/// The image's configuration as image inspect shows it (OCI image config
/// fields, each omitted when empty, plus docker's extensions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub exposed_ports: Option<PortSet>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub args_escaped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub on_build: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    pub r#type: String,
    #[serde(skip_serializing_if = "is_empty_opt")]
    pub layers: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMetadata {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_tag_time: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: Option<ImageConfig>,
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    pub size: i64,
    pub graph_driver: crate::container::DriverData,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: ImageMetadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Descriptor>,
}

/// One entry of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryItem {
    #[serde(rename = "Id")]
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub tags: Option<Vec<String>>,
    pub size: i64,
    pub comment: String,
}

/// One entry of `DELETE /images/{name}` and of a prune report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageDeleteResponseItem {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub untagged: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deleted: String,
}

/// `POST /images/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImagePruneResponse {
    pub images_deleted: Option<Vec<ImageDeleteResponseItem>>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shape() {
        let s = ImageSummary { id: "sha256:ab".into(), shared_size: -1, containers: -1, ..Default::default() };
        let v = serde_json::to_value(&s).unwrap();
        for k in ["Containers", "Created", "Id", "Labels", "ParentId", "RepoDigests", "RepoTags", "SharedSize", "Size"] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
        assert!(v.get("Descriptor").is_none());
    }

    #[test]
    fn descriptor_camel_case() {
        let d = Descriptor { media_type: "m".into(), digest: "sha256:x".into(), size: 3, ..Default::default() };
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"mediaType":"m","digest":"sha256:x","size":3}"#);
    }
}
