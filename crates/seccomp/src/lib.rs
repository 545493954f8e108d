//! OCI seccomp profiles compiled to BPF and installed in the calling thread.
//!
//! What this crate owns:
//! - validating `linux.seccomp` (every field, with errors that name it) and
//!   compiling it to a classic BPF program with libseccomp ([`compile`]),
//!   in the runtime process before it forks, with an on-disk cache of
//!   compiled programs ([`compile_cached`]);
//! - installing that program with one raw seccomp(2) call in the container's
//!   init right before execve ([`Filter::install`]), returning the user
//!   notification fd when a rule uses SCMP_ACT_NOTIFY;
//! - handing that fd to the seccomp agent at `listenerPath` with the container
//!   process state, as the runtime spec says ([`send_to_listener`]);
//! - Docker's profile format and Docker's default profile
//!   ([`DockerProfile`], [`default_profile`], `profiles/seccomp/default.json`);
//! - what `features` reports ([`supported_actions`] and friends).
//!
//! What it must not do: decide *when* the filter is installed (the runtime
//! does: with noNewPrivileges as late as possible, otherwise before dropping
//! CAP_SYS_ADMIN), touch capabilities, or read config.json itself.
//!
//! Dependencies and why they earn their place:
//! - `libseccomp` (over the system's libseccomp 2.5): syscall name tables for
//!   every architecture, multi-ABI filters and the rule optimiser; writing
//!   those ourselves would be a second libseccomp.
//! - `oci-spec`: the `LinuxSeccomp` and container process state types the
//!   rest of berth already speaks.
//! - `serde`, `serde_json`, `serde_path_to_error`: profile files, with the
//!   JSON path of what is wrong.
//! - `nix`, `libc`: memfd, SCM_RIGHTS, uname, and the raw seccomp(2) call.
//! - `thiserror`, `tracing`: errors and the debug log of skipped syscalls.

mod cache;
mod compile;
mod default;
mod enosys;
mod error;
mod features;
mod filter;
mod names;
mod notify;
mod profile;

pub use cache::compile_cached;
pub use compile::compile;
pub use default::{default_docker_profile, default_profile};
pub use error::Error;
pub use features::{known_flags, supported_actions, supported_archs, supported_flags, supported_operators};
pub use filter::Filter;
pub use notify::{container_process_state, send_to_listener};
pub use oci_spec::runtime::ContainerProcessState;
pub use profile::{
    ArchMapEntry, Conditions, DockerProfile, DockerSyscall, KernelVersion, docker_arch_name, native_arch,
    parse_oci_profile,
};
