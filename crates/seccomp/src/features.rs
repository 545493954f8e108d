//! What `berth-runtime features` reports under `linux.seccomp`: the names this
//! crate accepts that libseccomp and the running kernel can also honour.

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};

use crate::filter::{kernel_action_available, kernel_flags_available};
use crate::names;

/// Actions known to berth and available in the running kernel
/// (SECCOMP_GET_ACTION_AVAIL).
pub fn supported_actions() -> Vec<String> {
    names::ACTIONS
        .iter()
        .filter(|(_, action)| kernel_action_available(names::kernel_action(*action)))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Argument comparison operators (all seven of the runtime spec).
pub fn supported_operators() -> Vec<String> {
    names::OPERATORS.iter().map(|(name, _)| name.to_string()).collect()
}

/// Architectures the linked libseccomp can build filters for (probed: an
/// architecture newer than the library is refused).
pub fn supported_archs() -> Vec<String> {
    names::ARCHES
        .iter()
        .filter(|(_, _, token)| *token != ScmpArch::Native)
        .filter(|(_, _, token)| {
            ScmpFilterContext::new(ScmpAction::Allow)
                .and_then(|mut ctx| {
                    if ctx.is_arch_present(*token)? {
                        return Ok(());
                    }
                    ctx.add_arch(*token).map(|_| ())
                })
                .is_ok()
        })
        .map(|(name, _, _)| name.to_string())
        .collect()
}

/// Filter flags berth understands, whatever the kernel.
pub fn known_flags() -> Vec<String> {
    names::FLAGS.iter().map(|(name, _, _)| name.to_string()).collect()
}

/// Filter flags berth understands that the running kernel accepts.
pub fn supported_flags() -> Vec<String> {
    names::FLAGS
        .iter()
        .filter(|(_, _, bit)| {
            // WAIT_KILLABLE_RECV is only accepted together with NEW_LISTENER.
            let probe = if *bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
                *bit | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            } else {
                *bit
            };
            kernel_flags_available(probe)
        })
        .map(|(name, _, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // This machine runs Linux 6.x with libseccomp 2.5.4: everything the runtime
    // spec lists is available except what only libseccomp 2.6 knows.
    #[test]
    fn features_on_this_machine() {
        let actions = supported_actions();
        assert_eq!(actions.len(), 9, "{actions:?}");
        assert_eq!(supported_operators().len(), 7);
        let archs = supported_archs();
        for a in ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64"] {
            assert!(archs.iter().any(|x| x == a), "{a} missing from {archs:?}");
        }
        assert!(!archs.iter().any(|x| x == "SCMP_ARCH_NATIVE"));
        let flags = supported_flags();
        assert!(flags.iter().any(|f| f == "SECCOMP_FILTER_FLAG_LOG"), "{flags:?}");
        assert!(flags.iter().any(|f| f == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"), "{flags:?}");
        assert_eq!(known_flags().len(), 4);
    }

    #[test]
    fn unknown_kernel_flags_are_not_reported() {
        // the kernel takes the flags as an unsigned int
        assert!(!kernel_flags_available(1 << 30));
        assert!(!kernel_action_available(0x7ff1_0000));
    }
}
