//! `berth-network`: container networking for berthd through CNI.
//!
//! **Owns**: network namespaces (bind-mounted under the run dir), running the
//! standard CNI plugin binaries (CNI 1.0: `bridge` with `host-local` IPAM,
//! `portmap`) with the spec's environment and stdin, the networks docker
//! users know (`bridge`, `host`, `none`, user-defined bridge networks),
//! published ports, berth's own iptables chains (masquerade, forwarding,
//! isolation between networks), and the generated `/etc/hosts`,
//! `/etc/resolv.conf` and `/etc/hostname` of each container.
//!
//! **Must not touch**: containers' processes, the metadata database, images.
//! The engine decides when a container starts and stops and calls in.
//!
//! # Use from the engine
//!
//! ```no_run
//! use berth_network::{AttachRequest, Attachment, FileOptions, NetConfig, NetworkManager, parse_port_spec};
//! # fn main() -> Result<(), berth_network::Error> {
//! let net = NetworkManager::open(NetConfig::default())?;
//! // at daemon start: DEL whatever belonged to containers that are gone
//! net.cleanup_stale(&["<ids of live containers>"])?;
//!
//! // docker run -p 8080:80 --network bridge ...
//! let id = "4f2a...";
//! let netns = net.create_netns(id)?;            // put into the OCI spec's network namespace path
//! let ports = parse_port_spec("8080:80")?;
//! let endpoints = net.attach(&AttachRequest {
//!     container_id: id,
//!     container_name: "web",
//!     netns: &netns,
//!     networks: &[Attachment::new("bridge")],
//!     ports: &ports,
//! })?;
//! // after attach: resolv.conf points at the embedded DNS server on user networks
//! let files = net.write_files(id, &FileOptions { hostname: id[..4].into(), ..Default::default() })?;
//! // bind-mount files.hosts, files.resolv_conf, files.hostname into the container
//!
//! // container's processes exited: namespace first, then CNI DEL (fast path;
//! // `detach` + `remove_netns` when the namespace must outlive the DEL)
//! net.teardown(id)?;
//! // container removed:
//! net.remove_files(id)?;
//! # let _ = (endpoints, files); Ok(()) }
//! ```
//!
//! For `--network host` pass `Attachment::new("host")` and no namespace of
//! berth's (the container shares the host's); for `--network none` create the
//! namespace and attach `none` (loopback only). `docker network connect` /
//! `disconnect` are [`NetworkManager::connect`] / [`NetworkManager::disconnect`]
//! on a running container (they rewrite its hosts file); `docker port` is
//! [`NetworkManager::ports`]; `-p` values parse with [`parse_port_spec`] and
//! `-P` is [`PortMapping::ephemeral`] per exposed port. Containers on
//! user-defined networks resolve each other's names, aliases and short ids
//! through an embedded DNS server at [`DNS_ADDR`] (127.0.0.11), which
//! forwards other names upstream.
//!
//! All methods block: call them from a blocking thread pool in an async
//! daemon. Errors carry an [`ErrorKind`] for the API status code.
//!
//! # Design
//!
//! Every ADD is recorded (and fsynced) with the exact configuration list
//! before the plugins run, and again with the result: `detach` after a
//! restart, with the namespace gone, or twice, still DELs with what ADD used.
//! Masquerade and forwarding are per network, in berth's own chains, not per
//! container: one plugin exec (`bridge`, which runs `host-local`) per
//! attachment, plus `portmap` only when the container publishes ports. See
//! crates/network/README.md for the decisions and measurements.

pub mod attach;
mod check;
pub mod cleanup;
mod cni;
pub mod config;
mod detach;
mod dns;
pub mod error;
pub mod files;
mod firewall;
pub mod ipnet;
mod manager;
mod netns;
pub mod network;
mod persist;
pub mod ports;
mod store;

pub use attach::{AttachRequest, Attachment, Endpoint};
pub use cleanup::CleanupReport;
pub use cni::CNI_VERSION;
pub use config::{AddressPool, NetConfig};
pub use dns::DNS_ADDR;
pub use error::{Error, ErrorKind, Result};
pub use files::{ContainerFiles, FileOptions};
pub use firewall::{FORWARD_CHAIN, NAT_CHAIN};
pub use ipnet::Ipv4Net;
pub use manager::NetworkManager;
pub use network::inspect::NetworkInfo;
pub use network::{BRIDGE, HOST, NONE, NetworkOptions};
pub use ports::{PortMapping, Protocol, PublishedPort, parse_port_spec};
