//! serde models of the Docker Engine API (moby's `api/swagger.yaml`, API
//! 1.50), shared by berthd's docker API and the `berth` CLI.
//!
//! What it owns: the JSON shapes with docker's exact field names and casing,
//! `null` where dockerd writes `null` and omitted fields where dockerd omits
//! them; input that Go would accept (unknown fields, `null` for any field,
//! a string where docker takes a `StrSlice`). Plus the pure wire logic both
//! sides need: stdcopy framing ([`stdcopy`]), the `filters` query parameter
//! ([`filters`]), API versions ([`version`]), docker's timestamps ([`time`])
//! and progress messages ([`progress`]).
//!
//! What it must not touch: HTTP servers or clients, the engine. It depends
//! on serde only, so the CLI can use it without pulling in the daemon.

pub mod container;
pub mod de;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod image;
pub mod network;
pub mod progress;
pub mod stats;
pub mod stdcopy;
pub mod system;
pub mod time;
pub mod version;
pub mod volume;

pub use error::{ErrorResponse, IdResponse};
pub use filters::Filters;
pub use version::ApiVersion;

/// A request body that does not parse, with the JSON path of the offending
/// field (`HostConfig.Memory`), empty for syntax errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    fn syntax(e: &serde_json::Error) -> Self {
        Self { path: String::new(), message: e.to_string() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl std::error::Error for FieldError {}

/// Parses `body` as `T`, naming the field on error.
pub fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let v = serde_path_to_error::deserialize(de).map_err(|e| path_error("", e))?;
    Ok(v)
}

/// Deserialises `value` as `T`, prefixing error paths with `prefix`.
pub fn from_value_at<T: serde::de::DeserializeOwned>(prefix: &str, value: serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(prefix, e))
}

fn path_error(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    if e.inner().is_syntax() || e.inner().is_eof() {
        return FieldError::syntax(e.inner());
    }
    let inner = e.path().to_string();
    let inner = if inner == "." { String::new() } else { inner };
    let path = match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner,
        (false, true) => prefix.to_owned(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    };
    // serde_json appends "at line 1 column 9" to messages; the path says where
    let msg = e.into_inner().to_string();
    let message = match msg.rfind(" at line ") {
        Some(i) if !path.is_empty() => msg[..i].to_owned(),
        _ => msg,
    };
    FieldError { path, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_json_names_nested_fields() {
        let err = from_json::<exec::ExecCreateRequest>(br#"{"Cmd":["sh"],"Tty":"yes"}"#).unwrap_err();
        assert_eq!(err.path, "Tty");
        assert_eq!(err.to_string(), "Tty: invalid type: string \"yes\", expected a boolean");
        let err = from_json::<network::NetworkCreateRequest>(br#"{"Name":"n","IPAM":{"Config":[{"Subnet":1}]}}"#).unwrap_err();
        assert_eq!(err.path, "IPAM.Config[0].Subnet");
    }

    #[test]
    fn from_json_syntax_error() {
        let err = from_json::<exec::ExecCreateRequest>(b"{").unwrap_err();
        assert!(err.path.is_empty());
        assert!(err.message.contains("EOF"), "{err}");
    }
}
