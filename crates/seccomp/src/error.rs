//! The one error type of the crate.

use std::path::PathBuf;

use nix::errno::Errno;

/// What went wrong while parsing, compiling, installing or handing over a
/// seccomp filter.
///
/// Validation errors name the offending field with its JSON path, e.g.
/// `linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// a field of the profile holds a value the runtime spec does not allow
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the field, e.g. `linux.seccomp.syscalls[3].errnoRet`
        field: String,
        /// what is wrong with it
        reason: String,
    },

    /// a valid value that this build, libseccomp 2.5 or the running kernel
    /// cannot honour
    #[error("{field}: not supported yet: {what}")]
    Unsupported {
        /// JSON path of the field
        field: String,
        /// what is not supported, and why
        what: String,
    },

    /// the profile is not well-formed JSON of the expected shape
    #[error("{field}: malformed seccomp profile")]
    Json {
        /// JSON path where decoding stopped
        field: String,
        /// the decoder's message
        #[source]
        source: serde_json::Error,
    },

    /// libseccomp refused an operation while the filter was being built
    #[error("{field}: libseccomp rejected {what}")]
    Libseccomp {
        /// JSON path of the field being compiled
        field: String,
        /// the operation, e.g. `the rule for "mkdir"`
        what: String,
        /// libseccomp's error
        #[source]
        source: libseccomp::error::SeccompError,
    },

    /// exporting the compiled filter as BPF failed
    #[error("exporting the seccomp filter as bpf")]
    Export(#[source] std::io::Error),

    /// the filter compiled to a program the kernel would refuse
    #[error("the seccomp filter has {len} bpf instructions, the kernel accepts at most {max}")]
    TooLong {
        /// number of instructions
        len: usize,
        /// kernel limit (BPF_MAXINSNS)
        max: usize,
    },

    /// seccomp(SECCOMP_SET_MODE_FILTER) failed in the calling thread
    #[error("loading the seccomp filter into the kernel (flags {flags:#x}){hint}", hint = load_hint(*.errno))]
    Load {
        /// flags passed to seccomp(2)
        flags: u64,
        /// the kernel's error
        #[source]
        errno: Errno,
    },

    /// SECCOMP_FILTER_FLAG_TSYNC could not synchronise another thread
    #[error("loading the seccomp filter: thread {tid} cannot be synchronised (SECCOMP_FILTER_FLAG_TSYNC)")]
    Tsync {
        /// the thread that could not take the filter
        tid: i64,
    },

    /// the container process state given to [`crate::send_to_listener`] is not
    /// what the runtime spec requires
    #[error("container process state: {reason}")]
    InvalidState {
        /// what is wrong with it
        reason: String,
    },

    /// connecting to the seccomp agent's socket failed
    #[error("connecting to the seccomp listener {}", path.display())]
    ListenerConnect {
        /// `linux.seccomp.listenerPath`
        path: PathBuf,
        /// the socket error
        #[source]
        source: std::io::Error,
    },

    /// sending the container process state or the notify fd failed
    #[error("sending the seccomp notify fd to the listener {}", path.display())]
    ListenerSend {
        /// `linux.seccomp.listenerPath`
        path: PathBuf,
        /// the socket error
        #[source]
        source: std::io::Error,
    },
}

/// Extra words for the load errors a person can act on.
fn load_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::EACCES => ": no_new_privs is not set and the thread lacks CAP_SYS_ADMIN",
        Errno::EINVAL => ": the kernel rejected the program or one of the flags",
        Errno::ESRCH => ": another thread cannot be synchronised (SECCOMP_FILTER_FLAG_TSYNC)",
        _ => "",
    }
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn unsupported(field: impl Into<String>, what: impl Into<String>) -> Self {
        Error::Unsupported { field: field.into(), what: what.into() }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_and_filters_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<super::Error>();
        send_sync::<crate::Filter>();
    }
}
