//! The one error type of the crate, and the small set of kinds the engine
//! maps onto Docker API status codes.

use std::path::PathBuf;

/// What a caller does with an error: the engine maps these one-to-one onto
/// HTTP status codes (404, 409, 400, 412, 503, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// a network, container attachment or endpoint that does not exist
    NotFound,
    /// a name, netns, port or attachment already taken
    Conflict,
    /// malformed input: names, CIDRs, port specs, options
    InvalidArgument,
    /// valid input refused in the current state (network in use, pool full)
    FailedPrecondition,
    /// something berth does not do yet
    NotSupported,
    /// the host failed us: a plugin, iptables, the filesystem, a syscall
    Internal,
}

/// Everything that can go wrong in `berth-network`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// network not found
    #[error("network {0} not found")]
    NetworkNotFound(String),
    /// a network name is taken
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    /// an id prefix names several networks
    #[error("network {0} is ambiguous: it matches more than one network id")]
    NetworkAmbiguous(String),
    /// bridge/host/none cannot be created, removed or reconfigured
    #[error("{name} is a pre-defined network and cannot be {action}")]
    Predefined { name: String, action: &'static str },
    /// containers are still attached
    #[error("error while removing network {name}: network {name} id {id} has active endpoints ({containers})")]
    NetworkInUse { name: String, id: String, containers: String },
    /// bad network name
    #[error("invalid network name {name:?}: {reason}")]
    InvalidNetworkName { name: String, reason: &'static str },
    /// bad CIDR or address in a field
    #[error("invalid {field} {value:?}")]
    InvalidAddress {
        field: &'static str,
        value: String,
        #[source]
        source: crate::ipnet::CidrError,
    },
    /// a field whose value makes no sense
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidValue { field: &'static str, value: String, reason: String },
    /// a user subnet collides with an existing network's
    #[error("invalid pool request: subnet {subnet} overlaps with network {other} ({other_subnet})")]
    SubnetOverlap { subnet: String, other: String, other_subnet: String },
    /// automatic allocation found nothing free
    #[error("no free subnet left in the address pools for network {0}: remove unused networks or add pools")]
    PoolExhausted(String),
    /// a requested feature that is not implemented
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// a docker -p spec that does not parse
    #[error("invalid port spec {spec:?}: {reason}")]
    InvalidPortSpec { spec: String, reason: String },
    /// host port held by another container
    #[error("bind for {host_ip}:{host_port}/{proto} failed: port is already allocated")]
    PortAllocated { host_ip: String, host_port: u16, proto: String },
    /// host port held by a host process (or otherwise not bindable)
    #[error("cannot reserve host port {host_ip}:{host_port}/{proto}")]
    PortReserve {
        host_ip: String,
        host_port: u16,
        proto: String,
        #[source]
        source: std::io::Error,
    },
    /// every port of the ephemeral range or a requested range is taken
    #[error("no free host port in {start}-{end}/{proto}")]
    NoFreePort { start: u16, end: u16, proto: String },
    /// container id unusable as a file name / CNI id
    #[error("invalid container id {0:?}")]
    InvalidContainerId(String),
    /// attach twice to one network
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    /// detach from a network the container is not on
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },
    /// request shapes docker refuses too
    #[error("container {container}: {reason}")]
    InvalidAttachment { container: String, reason: String },
    /// the netns file exists already
    #[error("network namespace for container {container} already exists at {path}")]
    NetnsExists { container: String, path: PathBuf },
    /// creating, entering or removing a netns failed
    #[error("network namespace {path}: {op} failed")]
    Netns {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// a plugin binary is missing
    #[error("cni plugin {plugin} not found in {dirs}")]
    PluginNotFound { plugin: String, dirs: String },
    /// the plugin could not be started or talked to
    #[error("{call}: cannot run {path}")]
    PluginExec {
        call: Box<PluginCall>,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// the plugin reported an error (CNI error JSON) or exited non-zero
    #[error("{call} failed: {}", plugin_error_text(*.code, .msg, .details))]
    Plugin {
        call: Box<PluginCall>,
        /// the CNI error code (1 incompatible version, 7 invalid config, 11 try later, ...)
        code: Option<u64>,
        msg: String,
        details: String,
    },
    /// the plugin did not finish in time (it was killed)
    #[error("{call} timed out after {secs}s")]
    PluginTimeout { call: Box<PluginCall>, secs: u64 },
    /// the plugin's stdout was not a CNI result
    #[error("{call} returned an invalid result: {reason}")]
    PluginResult { call: Box<PluginCall>, reason: String },
    /// iptables / iptables-restore failed
    #[error("iptables: {what} failed: {stderr}")]
    Iptables { what: String, stderr: String },
    /// a file operation
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// a state file that does not parse
    #[error("corrupt state file {path}")]
    CorruptState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// another daemon holds the state dir
    #[error("state dir {0} is in use by another process (is another berthd running?)")]
    StateLocked(PathBuf),
    /// several errors from one cleanup (each still in the record to retry)
    #[error("{count} errors; first: {first}")]
    Multiple { count: usize, first: Box<Error> },
}

/// Which plugin ran what for whom: the context of every plugin error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCall {
    pub plugin: String,
    /// ADD, DEL or CHECK
    pub command: &'static str,
    pub container: String,
    pub network: String,
}

impl PluginCall {
    pub(crate) fn boxed(plugin: impl Into<String>, command: &'static str, container: impl Into<String>, network: impl Into<String>) -> Box<PluginCall> {
        Box::new(PluginCall { plugin: plugin.into(), command, container: container.into(), network: network.into() })
    }
}

impl std::fmt::Display for PluginCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cni plugin {} {} for container {} on network {}", self.plugin, self.command, self.container, self.network)
    }
}

fn plugin_error_text(code: Option<u64>, msg: &str, details: &str) -> String {
    let mut s = String::new();
    if let Some(c) = code {
        s.push_str(&format!("code {c}: "));
    }
    s.push_str(msg);
    if !details.is_empty() && details != msg {
        s.push_str(" (");
        s.push_str(details);
        s.push(')');
    }
    s
}

impl Error {
    /// The kind the engine maps to a status code.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            NetworkNotFound(_) | NotAttached { .. } => ErrorKind::NotFound,
            NetworkExists(_) | AlreadyAttached { .. } | NetnsExists { .. } | PortAllocated { .. }
            | PortReserve { .. } | SubnetOverlap { .. } | NetworkInUse { .. } => ErrorKind::Conflict,
            NetworkAmbiguous(_) | InvalidNetworkName { .. } | InvalidAddress { .. } | InvalidValue { .. }
            | InvalidPortSpec { .. } | InvalidContainerId(_) | InvalidAttachment { .. } => {
                ErrorKind::InvalidArgument
            }
            Predefined { .. } | PoolExhausted(_) | NoFreePort { .. } | StateLocked(_) => {
                ErrorKind::FailedPrecondition
            }
            NotSupported(_) => ErrorKind::NotSupported,
            Multiple { first, .. } => first.kind(),
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_name_everything() {
        let e = Error::Plugin {
            call: Box::new(PluginCall {
                plugin: "bridge".into(),
                command: "ADD",
                container: "abc".into(),
                network: "front".into(),
            }),
            code: Some(7),
            msg: "invalid config".into(),
            details: "bridge name too long".into(),
        };
        assert_eq!(
            e.to_string(),
            "cni plugin bridge ADD for container abc on network front failed: code 7: invalid config (bridge name too long)"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
    }

    #[test]
    fn kinds() {
        assert_eq!(Error::NetworkNotFound("x".into()).kind(), ErrorKind::NotFound);
        assert_eq!(
            Error::PortAllocated { host_ip: "0.0.0.0".into(), host_port: 80, proto: "tcp".into() }.kind(),
            ErrorKind::Conflict
        );
        assert_eq!(Error::NotSupported("x".into()).to_string(), "not supported yet: x");
    }
}
