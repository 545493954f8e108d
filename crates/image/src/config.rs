//! The image configuration (the config blob): what the engine needs to run a
//! container from an image. Our own types rather than oci-spec's because the
//! engine needs Docker's extras (Healthcheck, OnBuild, Shell, ArgsEscaped) and
//! unknown fields must survive a load/commit round trip.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// The whole config blob (`application/vnd.oci.image.config.v1+json` or
/// Docker's `application/vnd.docker.container.image.v1+json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields we do not interpret (`container`, `docker_version`, ...), kept.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `rootfs`: the uncompressed layer digests, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The run-time defaults of an image: what `docker inspect` shows as `Config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Docker's HEALTHCHECK (durations in nanoseconds, as Docker stores them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// A docker `--change` instruction for import and commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(String, String),
    WorkingDir(String),
    User(String),
    Expose(String),
    Volume(String),
    Label(String, String),
    StopSignal(String),
}

impl Change {
    /// Parses a Dockerfile-style instruction as `docker import --change` takes
    /// it: `CMD ["sh"]`, `CMD sh -c x`, `ENV A=b`, `WORKDIR /x`, `USER u`,
    /// `EXPOSE 80/tcp`, `VOLUME /data`, `LABEL k=v`, `STOPSIGNAL SIGTERM`,
    /// `ENTRYPOINT [...]`.
    pub fn parse(s: &str) -> Result<Vec<Change>, crate::Error> {
        let bad = |why: &str| crate::Error::InvalidArgument(format!("change {:?}: {why}", crate::digest::truncate(s)));
        let s = s.trim();
        let (word, rest) = s.split_once(char::is_whitespace).map(|(w, r)| (w, r.trim())).unwrap_or((s, ""));
        if rest.is_empty() {
            return Err(bad("missing argument"));
        }
        let list = |rest: &str| -> Result<Vec<String>, crate::Error> {
            if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|_| bad("malformed json array"))
            } else {
                Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
            }
        };
        let kv = |rest: &str| -> Result<Vec<(String, String)>, crate::Error> {
            let mut out = Vec::new();
            if !rest.contains('=') {
                let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| bad("expected KEY=VALUE or KEY VALUE"))?;
                out.push((k.to_owned(), v.trim().to_owned()));
                return Ok(out);
            }
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
                if k.is_empty() {
                    return Err(bad("empty key"));
                }
                out.push((k.to_owned(), v.trim_matches('"').to_owned()));
            }
            Ok(out)
        };
        Ok(match word.to_ascii_uppercase().as_str() {
            "CMD" => vec![Change::Cmd(list(rest)?)],
            "ENTRYPOINT" => vec![Change::Entrypoint(list(rest)?)],
            "ENV" => kv(rest)?.into_iter().map(|(k, v)| Change::Env(k, v)).collect(),
            "LABEL" => kv(rest)?.into_iter().map(|(k, v)| Change::Label(k, v)).collect(),
            "WORKDIR" => vec![Change::WorkingDir(rest.to_owned())],
            "USER" => vec![Change::User(rest.to_owned())],
            "EXPOSE" => rest
                .split_whitespace()
                .map(|p| Change::Expose(if p.contains('/') { p.to_owned() } else { format!("{p}/tcp") }))
                .collect(),
            "VOLUME" => {
                if rest.starts_with('[') {
                    list(rest)?.into_iter().map(Change::Volume).collect()
                } else {
                    rest.split_whitespace().map(|v| Change::Volume(v.to_owned())).collect()
                }
            }
            "STOPSIGNAL" => vec![Change::StopSignal(rest.to_owned())],
            "ONBUILD" | "HEALTHCHECK" | "SHELL" => {
                return Err(crate::Error::Unsupported { what: format!("change instruction {word}") });
            }
            _ => return Err(bad("unknown instruction (expected CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)")),
        })
    }

    /// Applies the change to a config.
    pub fn apply(&self, c: &mut ImageConfig) {
        match self {
            Change::Cmd(v) => c.cmd = Some(v.clone()),
            Change::Entrypoint(v) => c.entrypoint = Some(v.clone()),
            Change::Env(k, v) => {
                let env = c.env.get_or_insert_with(Vec::new);
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix));
                env.push(format!("{k}={v}"));
            }
            Change::WorkingDir(w) => c.working_dir = Some(w.clone()),
            Change::User(u) => c.user = Some(u.clone()),
            Change::Expose(p) => {
                c.exposed_ports.get_or_insert_with(BTreeMap::new).insert(p.clone(), Value::Object(Default::default()));
            }
            Change::Volume(v) => {
                c.volumes.get_or_insert_with(BTreeMap::new).insert(v.clone(), Value::Object(Default::default()));
            }
            Change::Label(k, v) => {
                c.labels.get_or_insert_with(BTreeMap::new).insert(k.clone(), v.clone());
            }
            Change::StopSignal(s) => c.stop_signal = Some(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_round_trips_extras() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000},"Hostname":"x","ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"history":[{"created_by":"x","empty_layer":true}],"container":"abc","docker_version":"24"}"#;
        let c: ImageConfigFile = serde_json::from_str(json).unwrap();
        let cfg = c.config.as_ref().unwrap();
        assert_eq!(cfg.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(cfg.healthcheck.as_ref().unwrap().interval, Some(1_000_000_000));
        assert!(cfg.extra.contains_key("Hostname"));
        assert!(c.extra.contains_key("docker_version"));
        assert!(c.history[0].empty_layer);
        let again: ImageConfigFile = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn changes() {
        let mut c = ImageConfig::default();
        for s in ["CMD [\"/bin/sh\",\"-c\",\"echo hi\"]", "ENV A=1 B=2", "ENV A 3", "WORKDIR /srv", "EXPOSE 80 53/udp", "LABEL k=v", "USER 1000", "VOLUME /data"] {
            for ch in Change::parse(s).unwrap() {
                ch.apply(&mut c);
            }
        }
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), vec!["B=2", "A=3"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert_eq!(Change::parse("CMD echo hi").unwrap(), vec![Change::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])]);
        assert!(Change::parse("FROM x").is_err());
        assert!(Change::parse("CMD").is_err());
        assert!(Change::parse("CMD [oops").is_err());
        assert!(Change::parse("HEALTHCHECK NONE").unwrap_err().to_string().contains("not supported yet"));
    }
}
