//! docker's `JSONMessage`: the progress stream of pull, push, load and
//! import, one JSON object per line.

use serde::{Deserialize, Serialize};

use crate::de::is_zero;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonProgress {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub total: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start: i64,
    #[serde(rename = "hidecounts", skip_serializing_if = "is_zero")]
    pub hide_counts: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub units: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonError {
    #[serde(skip_serializing_if = "is_zero")]
    pub code: i64,
    pub message: String,
}

/// One line of a progress stream. An error ends the stream with both
/// `errorDetail` and the deprecated `error` set, as dockerd writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<JsonProgress>,
    /// Pre-rendered progress bar (deprecated, still shown by old clients).
    #[serde(rename = "progress", skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<JsonError>,
    #[serde(rename = "error", skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl JsonMessage {
    /// A status line (`Pulling from library/busybox`), optionally per layer.
    pub fn status(status: impl Into<String>, id: impl Into<String>) -> Self {
        Self { status: status.into(), id: id.into(), ..Default::default() }
    }

    /// A progress line (`Downloading` with a bar); `{}` detail when total is 0.
    pub fn progress(status: impl Into<String>, id: impl Into<String>, current: i64, total: i64) -> Self {
        let bar = render_bar(current, total);
        Self {
            status: status.into(),
            id: id.into(),
            progress_detail: Some(JsonProgress { current, total, ..Default::default() }),
            progress: bar,
            ..Default::default()
        }
    }

    /// The terminal error line of a stream.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self { error_detail: Some(JsonError { code: 0, message: message.clone() }), error: message, ..Default::default() }
    }
}

/// docker's pre-rendered bar, `[=====>      ]  1.2MB/3.4MB`.
pub fn render_bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return if current > 0 { human_size(current) } else { String::new() };
    }
    let width = 50i64;
    let filled = (current.clamp(0, total) * width / total).clamp(0, width);
    let mut bar = String::with_capacity(80);
    bar.push('[');
    for i in 0..width {
        bar.push(if i < filled { '=' } else if i == filled { '>' } else { ' ' });
    }
    bar.push(']');
    format!("{bar} {:>8}/{}", human_size(current), human_size(total))
}

/// Decimal units as docker's `units.HumanSize` (`1.23MB`).
pub fn human_size(n: i64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // %.4g: four significant digits, trailing zeros trimmed
    let digits = if v >= 100.0 { 1 } else if v >= 10.0 { 2 } else { 3 };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    format!("{s}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shape() {
        let m = JsonMessage::status("Pulling fs layer", "abc123");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"status":"Pulling fs layer","id":"abc123"}"#);
    }

    #[test]
    fn error_line_shape() {
        let m = JsonMessage::error("manifest unknown");
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#);
    }

    #[test]
    fn progress_bar() {
        let m = JsonMessage::progress("Downloading", "abc", 500, 1000);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["progressDetail"], serde_json::json!({"current":500,"total":1000}));
        assert!(m.progress.starts_with("[=========================>"), "{}", m.progress);
        assert!(m.progress.ends_with("500B/1kB"), "{}", m.progress);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(2_500_000), "2.5MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }
}
