//! Container lifecycle on the host, as the OCI runtime specification describes
//! it: `create`, `start`, `state`, `kill`, `delete`, plus `exec`, `ps`, `pause`,
//! `resume`, `update` and `events` from runc's command line.
//!
//! What this crate owns: the per-container state directory under the runtime
//! root, the container's namespaces, its root filesystem (mounts, devices,
//! `pivot_root`), the set-up of the container process (user, capabilities,
//! rlimits, console, seccomp installation) and the hooks. It does not own
//! cgroups ([`berth_cgroups`]) or the compilation of seccomp profiles
//! ([`berth_seccomp`]), and it knows nothing about images or daemons.
//!
//! The runtime process is single-threaded on purpose: it forks, calls `setns`
//! and `unshare`, none of which are safe in a multi-threaded process.
//!
//! Dependencies: `nix` and `libc` for system calls, `caps` for capability
//! names, `serde_json` for config.json (our own types in [`oci`]; `oci-spec`
//! only for the sections berth-cgroups and berth-seccomp take).

pub mod config;
pub mod error;
pub mod exe_guard;
pub mod features;
pub mod hooks;
pub mod id;
pub mod lifecycle;
pub mod namespaces;
pub mod oci;
pub mod process;
pub mod rootfs;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sys;

pub use error::{Error, Result};

/// The OCI runtime specification version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";
