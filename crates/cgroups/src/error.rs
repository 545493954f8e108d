//! The error type of the crate: one enum, each variant naming what failed and on what.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a container's cgroups.
///
/// Messages are lower-case, name the path, field or controller involved, and never repeat the
/// `#[source]` (callers print the whole chain).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file (mountinfo, a cgroup control file, ...) failed.
    #[error("read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// Writing a cgroup control file failed.
    #[error("write {value:?} to {path}")]
    Write {
        /// The control file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// Applying one field of `linux.resources` failed in the kernel.
    #[error("set linux.resources.{field}: write {value:?} to {path}")]
    Apply {
        /// The OCI field, e.g. `memory.limit`.
        field: String,
        /// The control file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// Why the kernel refused.
        #[source]
        source: io::Error,
    },

    /// A value in `linux.resources` (or another input) is invalid; nothing was written.
    #[error("invalid linux.resources.{field}: {reason}")]
    InvalidResource {
        /// The OCI field, e.g. `cpu.cpus`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The spec asks for something this host, this layout or this crate cannot do.
    #[error("not supported: {what}")]
    NotSupported {
        /// What was asked for.
        what: String,
    },

    /// The spec asks for a controller that is not mounted or not enabled on this host.
    #[error("linux.resources.{field} needs the {controller} cgroup controller, which is not available on this host")]
    ControllerMissing {
        /// The controller, e.g. `hugetlb`.
        controller: String,
        /// The OCI field that needs it.
        field: String,
    },

    /// cgroup v2: the host has the controller, but the container's parent does not pass it
    /// down (writing `+controller` to its `cgroup.subtree_control` was refused, typically
    /// because the parent holds processes).
    #[error("linux.resources.{field} needs the {controller} cgroup controller, which {parent} does not enable for its children (cgroup v2 lets a cgroup that holds processes delegate no controllers; use a cgroupsPath whose parents are empty)")]
    ControllerNotDelegated {
        /// The controller.
        controller: String,
        /// The OCI field that needs it.
        field: String,
        /// The parent cgroup.
        parent: PathBuf,
    },

    /// `linux.cgroupsPath` (or the systemd `slice:prefix:name` form) is malformed or unsafe.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `/proc/self/mountinfo` or `/proc/self/cgroup` has a line we cannot understand.
    #[error("parse {file} line {line:?}: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// The offending line.
        line: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No cgroup filesystem is mounted at all.
    #[error("no cgroup filesystem is mounted (checked /proc/self/mountinfo)")]
    NoCgroupMounts,

    /// The runtime's own cgroup (needed to resolve a relative path) is not below the mount.
    #[error("own cgroup {own:?} in hierarchy {hierarchy} is not below the mount root {root:?}")]
    OwnCgroupOutsideMount {
        /// The hierarchy, e.g. `memory`.
        hierarchy: String,
        /// Our cgroup from /proc/self/cgroup.
        own: String,
        /// The mount root from mountinfo.
        root: String,
    },

    /// Creating a cgroup directory failed.
    #[error("create cgroup {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A path that must be a cgroup filesystem is something else (e.g. the tmpfs at
    /// /sys/fs/cgroup on a hybrid host).
    #[error("{path} is not on a cgroup filesystem (statfs type {fs_type:#x})")]
    NotCgroupFs {
        /// The path.
        path: PathBuf,
        /// The filesystem magic found.
        fs_type: i64,
    },

    /// Removing a cgroup directory failed (after retrying while it was busy).
    #[error("remove cgroup {path}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// A new memory limit is below what the cgroup already uses (`checkBeforeUpdate`).
    #[error("invalid linux.resources.memory.limit: new limit {limit} is below the current usage {usage} of {path}")]
    MemoryBelowUsage {
        /// The requested limit in bytes.
        limit: i64,
        /// The usage in bytes.
        usage: u64,
        /// The cgroup.
        path: PathBuf,
    },

    /// The cgroup did not reach the requested freezer state in time.
    #[error("cgroup {path} did not become {wanted} within {timeout_ms} ms (state {last})")]
    FreezeTimeout {
        /// The cgroup.
        path: PathBuf,
        /// The state asked for.
        wanted: &'static str,
        /// The last state read.
        last: String,
        /// How long we waited.
        timeout_ms: u64,
    },

    /// Some processes of the cgroup survived `kill_all`.
    #[error("processes {pids:?} of cgroup {path} are still alive after signal {signal}")]
    KillIncomplete {
        /// The cgroup.
        path: PathBuf,
        /// The signal sent.
        signal: i32,
        /// Processes still listed.
        pids: Vec<i32>,
    },

    /// Sending a signal to a process of the cgroup failed.
    #[error("send signal {signal} to process {pid}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal.
        signal: i32,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The manager has no cgroup (rootless without delegation), so the operation is impossible.
    #[error("cannot {operation}: container {id} has no cgroup ({reason})")]
    NoCgroup {
        /// The container id.
        id: String,
        /// What was asked.
        operation: &'static str,
        /// Why there is no cgroup.
        reason: String,
    },

    /// A bpf(2) call for the cgroup v2 device filter failed.
    #[error("bpf {operation} for {path}{}", verifier_log(.log))]
    Bpf {
        /// The bpf command, e.g. `prog load`.
        operation: &'static str,
        /// The cgroup.
        path: PathBuf,
        /// The verifier log, when the kernel gave one.
        log: String,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// Another system call (inotify, eventfd, poll, statfs, open) failed.
    #[error("{operation} {path}")]
    Sys {
        /// What was attempted.
        operation: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn verifier_log(log: &str) -> String {
    let log = log.trim_end_matches('\0').trim();
    if log.is_empty() {
        String::new()
    } else {
        format!(" (verifier log: {log})")
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidResource {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        Error::NotSupported { what: what.into() }
    }

    pub(crate) fn missing(controller: impl Into<String>, field: impl Into<String>) -> Self {
        Error::ControllerMissing {
            controller: controller.into(),
            field: field.into(),
        }
    }

    /// The errno behind this error, when there is one (e.g. `EBUSY` from a memory limit write).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Read { source, .. }
            | Error::Write { source, .. }
            | Error::Apply { source, .. }
            | Error::Create { source, .. }
            | Error::Remove { source, .. }
            | Error::Signal { source, .. }
            | Error::Bpf { source, .. }
            | Error::Sys { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
