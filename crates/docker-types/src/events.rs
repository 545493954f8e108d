//! The events stream (`GET /events`): one JSON object per event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::is_zero;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventActor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(deserialize_with = "crate::de::nullable")]
    pub attributes: BTreeMap<String, String>,
}

/// One event. `status`, `id` and `from` are the pre-1.22 fields docker still
/// fills in for container and image events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, `network`, `volume`, `daemon`, ...
    #[serde(rename = "Type")]
    pub r#type: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub time: i64,
    #[serde(rename = "timeNano", skip_serializing_if = "is_zero")]
    pub time_nano: i64,
}
