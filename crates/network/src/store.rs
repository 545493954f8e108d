//! What berth remembers about each container's networking, one JSON file per
//! container (`<state>/containers/<id>.json`), written (and fsynced) before
//! any plugin runs and again when the results are in, so that a daemon killed
//! at any point can still DEL what it added.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cni;
use crate::ports::PublishedPort;

/// Where an attachment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AttachState {
    /// recorded, ADD started; may or may not have happened
    Adding,
    /// ADD succeeded; `result` holds its result
    Added,
}

/// One network of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AttachmentRecord {
    pub network: String,
    pub network_id: String,
    pub endpoint_id: String,
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub requested_ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub default_route: bool,
    pub state: AttachState,
    /// the exact list ADD ran with: DEL and CHECK must use the same
    pub conflist: Value,
    #[serde(default)]
    pub runtime_config: Map<String, Value>,
    #[serde(default)]
    pub result: Option<Value>,
    /// ports published through this attachment
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

impl AttachmentRecord {
    pub(crate) fn summary(&self) -> Option<cni::Summary> {
        self.result.as_ref().and_then(|r| cni::summarize(r, &self.ifname))
    }
}

/// How the container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// its own namespace with CNI attachments (possibly none yet)
    Attached,
    /// `--network host`
    Host,
    /// `--network none`: its own namespace, loopback only
    None,
}

/// One container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub mode: Mode,
    #[serde(default)]
    pub netns: Option<PathBuf>,
    #[serde(default)]
    pub attachments: Vec<AttachmentRecord>,
}

impl ContainerRecord {
    /// `eth0`, `eth1`, ...: the lowest index not in use.
    pub(crate) fn next_ifname(&self, extra_taken: &[String]) -> String {
        (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !self.attachments.iter().any(|a| &a.ifname == n) && !extra_taken.contains(n))
            .unwrap_or_else(|| "eth0".into())
    }
}

/// Container ids become file names and CNI_CONTAINERID: letters, digits,
/// `_.-`, not starting with `.`, at most 128 characters.
pub(crate) fn validate_container_id(id: &str) -> crate::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok { Ok(()) } else { Err(crate::Error::InvalidContainerId(id.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifnames_fill_gaps() {
        let mut r = ContainerRecord { id: "c".into(), name: String::new(), mode: Mode::Attached, netns: None, attachments: vec![] };
        assert_eq!(r.next_ifname(&[]), "eth0");
        assert_eq!(r.next_ifname(&["eth0".into()]), "eth1");
        r.attachments.push(AttachmentRecord {
            network: "n".into(),
            network_id: "i".into(),
            endpoint_id: "e".into(),
            ifname: "eth1".into(),
            aliases: vec![],
            requested_ip: None,
            default_route: false,
            state: AttachState::Added,
            conflist: Value::Null,
            runtime_config: Map::new(),
            result: None,
            ports: vec![],
        });
        assert_eq!(r.next_ifname(&[]), "eth0");
        assert_eq!(r.next_ifname(&["eth0".into()]), "eth2");
    }

    #[test]
    fn container_ids() {
        validate_container_id("0123abcdef").expect("ok");
        validate_container_id("my_ctr.1-x").expect("ok");
        for bad in ["", ".hidden", "a/b", "a b", "..", &"x".repeat(129)] {
            assert!(validate_container_id(bad).is_err(), "{bad}");
        }
    }
}
