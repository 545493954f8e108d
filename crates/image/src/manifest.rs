//! Manifests, indexes and descriptors of the OCI image spec and Docker's
//! schema 2, parsed from the exact bytes the registry sent (those bytes are
//! what the digest covers, so they are stored as received, never re-encoded).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;
use crate::platform::Platform;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Accept header for manifest requests: every kind we can use, schema 1 last
/// so a registry that only has schema 1 says so instead of 404.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9";

/// Largest manifest or index accepted (containerd uses the same bound).
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// Largest image config accepted.
pub const CONFIG_LIMIT: u64 = 8 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Self { media_type: media_type.to_owned(), digest, size, urls: None, annotations: None, platform: None, artifact_type: None }
    }
}

/// An image manifest (OCI or Docker schema 2: same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What a manifest document turned out to be.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // short-lived, parsed once per pull
pub enum Parsed {
    Manifest { media_type: String, manifest: Manifest },
    Index { media_type: String, index: Index },
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type; `None` means not a layer type we can unpack.
    pub fn from_media_type(mt: &str) -> Option<Self> {
        match mt {
            OCI_LAYER_TAR | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some(Self::None),
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                Some(Self::Gzip)
            }
            OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// From the first bytes of a blob (registries do mislabel layers).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Parses manifest bytes. `content_type` is the registry's header, if any; the
/// document's own `mediaType` wins when the header is missing or generic.
pub fn parse(reference: &str, digest: &str, content_type: Option<&str>, bytes: &[u8]) -> Result<Parsed, Error> {
    let invalid = |reason: String| Error::InvalidContent { reference: reference.to_owned(), what: "manifest", digest: digest.to_owned(), reason };
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(Error::TooLarge { reference: reference.to_owned(), what: "manifest", size: bytes.len() as u64, limit: MANIFEST_LIMIT });
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<serde_json::Value>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
        fs_layers: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a json object: {e}")))?;
    let header = content_type.map(|c| c.split(';').next().unwrap_or("").trim()).filter(|c| {
        !c.is_empty() && *c != "application/json" && *c != "text/plain" && *c != "application/octet-stream"
    });
    let mt = header.map(str::to_owned).or(probe.media_type.clone()).unwrap_or_else(|| {
        if probe.manifests.is_some() {
            OCI_INDEX.to_owned()
        } else if probe.fs_layers.is_some() {
            DOCKER_SCHEMA1.to_owned()
        } else {
            OCI_MANIFEST.to_owned()
        }
    });
    if let (Some(h), Some(body)) = (header, probe.media_type.as_deref())
        && h != body && !(is_schema1(h) || is_schema1(body)) {
            return Err(invalid(format!("content type {h} does not match mediaType {body}")));
        }
    if is_schema1(&mt) || probe.fs_layers.is_some() || probe.schema_version.as_ref().and_then(|v| v.as_u64()) == Some(1) {
        return Err(Error::Unsupported {
            what: format!(
                "{reference} uses Docker image manifest schema 1, deprecated since 2017 and removed from docker; push it again with a current client to convert it to schema 2 or OCI"
            ),
        });
    }
    match mt.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            if probe.manifests.is_some() {
                return Err(invalid("image manifest has a manifests field".into()));
            }
            let manifest: Manifest =
                serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed image manifest: {e}")))?;
            if manifest.schema_version != 2 {
                return Err(invalid(format!("schemaVersion {} (expected 2)", manifest.schema_version)));
            }
            Ok(Parsed::Manifest { media_type: mt, manifest })
        }
        OCI_INDEX | DOCKER_LIST => {
            if probe.layers.is_some() {
                return Err(invalid("image index has a layers field".into()));
            }
            let index: Index = serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed image index: {e}")))?;
            if index.schema_version != 2 {
                return Err(invalid(format!("schemaVersion {} (expected 2)", index.schema_version)));
            }
            Ok(Parsed::Index { media_type: mt, index })
        }
        other => Err(Error::Unsupported { what: format!("manifest media type {other:?} of {reference}") }),
    }
}

fn is_schema1(mt: &str) -> bool {
    mt == DOCKER_SCHEMA1 || mt == DOCKER_SCHEMA1_SIGNED
}

/// Picks the manifest for `platform` from an index.
pub fn select<'a>(reference: &str, index: &'a Index, platform: &Platform) -> Result<&'a Descriptor, Error> {
    let candidates = index.manifests.iter().filter(|d| d.media_type == OCI_MANIFEST || d.media_type == DOCKER_MANIFEST);
    let mut best: Option<&Descriptor> = None;
    for d in candidates {
        let Some(p) = &d.platform else { continue };
        if !platform.matches(p) {
            continue;
        }
        // Prefer an exact variant match over an entry without variant.
        let exact = p.variant.is_some() && p.variant == platform.variant;
        if best.is_none() || exact {
            best = Some(d);
            if exact {
                break;
            }
        }
    }
    best.ok_or_else(|| {
        let available: Vec<String> =
            index.manifests.iter().filter_map(|d| d.platform.as_ref().map(|p| p.to_string())).collect();
        Error::PlatformNotFound {
            reference: reference.to_owned(),
            platform: platform.to_string(),
            available: if available.is_empty() { "none".into() } else { available.join(", ") },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", hex::encode([n; 32]))
    }

    #[test]
    fn parses_docker_and_oci_manifests() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{}","size":10}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","digest":"{}","size":20}}]}}"#,
            d(1),
            d(2)
        );
        match parse("r", "d", Some(DOCKER_MANIFEST), body.as_bytes()).unwrap() {
            Parsed::Manifest { media_type, manifest } => {
                assert_eq!(media_type, DOCKER_MANIFEST);
                assert_eq!(manifest.layers[0].size, 20);
            }
            other => panic!("{other:?}"),
        }
        // content type missing: the body decides
        assert!(matches!(parse("r", "d", None, body.as_bytes()).unwrap(), Parsed::Manifest { .. }));
        // header and body disagree
        assert!(parse("r", "d", Some(OCI_INDEX), body.as_bytes()).is_err());
    }

    #[test]
    fn refuses_schema1_with_explanation() {
        let body = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let e = parse("docker.io/library/x:y", "d", Some(DOCKER_SCHEMA1_SIGNED), body.as_bytes()).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("schema 1") && m.contains("not supported yet") && m.contains("docker.io/library/x:y"), "{m}");
    }

    #[test]
    fn rejects_malformed() {
        for body in [
            "",
            "[]",
            "{",
            r#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1,"mediaType":"x"},"layers":[]}"#,
            r#"{"schemaVersion":2,"config":{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":-1,"mediaType":"x"},"layers":[]}"#,
            r#"{"schemaVersion":3,"manifests":[]}"#,
        ] {
            let e = parse("ref", "sha256:abc", None, body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("ref"), "{e}");
        }
        let huge = vec![b' '; (MANIFEST_LIMIT + 1) as usize];
        assert!(matches!(parse("r", "d", None, &huge), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn selects_platform() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"application/vnd.in-toto+json","digest":"{}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}}}}
            ]}}"#,
            d(1),
            d(2),
            d(3),
            d(4)
        );
        let Parsed::Index { index, .. } = parse("r", "d", None, body.as_bytes()).unwrap() else { panic!() };
        let pick = |p: &str| select("r", &index, &Platform::parse(p).unwrap()).map(|d| d.digest.to_string());
        assert_eq!(pick("linux/arm/v7").unwrap(), d(2));
        assert_eq!(pick("linux/amd64").unwrap(), d(3));
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert!(e.contains("linux/s390x") && e.contains("linux/arm/v6"), "{e}");
    }

    #[test]
    fn compression() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
        assert_eq!(Compression::from_media_type(DOCKER_LAYER_GZIP), Some(Compression::Gzip));
        assert_eq!(Compression::from_media_type(DOCKER_FOREIGN_LAYER), None);
    }
}
