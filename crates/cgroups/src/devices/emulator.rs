//! The v1 devices controller's semantics, computed in memory, so that v1 and the v2 eBPF
//! filter enforce exactly the same thing.
//!
//! Like the kernel (security/device_cgroup.c): a cgroup has a default behaviour (allow or
//! deny) and a list of exceptions of type `b` or `c`. A rule of type `a` resets both. Any
//! other rule either adds an exception (when it goes against the default) or subtracts
//! access bits from the exception with exactly the same type and numbers (when it goes with
//! the default). Checking an access: with default deny, one exception must cover every bit
//! asked for; with default allow, an exception sharing any bit denies.

use super::{Access, DeviceRule, DeviceType};

/// One exception to the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    /// `Char` or `Block` (never `All`).
    pub kind: DeviceType,
    /// `None` = any major.
    pub major: Option<u32>,
    /// `None` = any minor.
    pub minor: Option<u32>,
    /// Access bits.
    pub access: Access,
}

impl Exception {
    fn same_device(&self, r: &DeviceRule) -> bool {
        self.kind == r.kind && self.major == r.major && self.minor == r.minor
    }

    fn matches_device(&self, kind: DeviceType, major: u32, minor: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }

    /// As a v1 rule string, e.g. `c 1:3 rwm`.
    pub fn to_v1_string(&self) -> String {
        DeviceRule {
            allow: true,
            kind: self.kind,
            major: self.major,
            minor: self.minor,
            access: self.access,
        }
        .to_v1_string()
    }
}

/// The state of a devices cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// Whether devices not covered by an exception are allowed.
    pub default_allow: bool,
    /// Exceptions to the default, in the order they were added.
    pub exceptions: Vec<Exception>,
}

impl Emulator {
    /// Everything denied, nothing excepted.
    pub fn deny_all() -> Self {
        Emulator {
            default_allow: false,
            exceptions: Vec::new(),
        }
    }

    /// Applies one rule as a write to `devices.allow` (allow) or `devices.deny` (deny) would.
    pub fn apply(&mut self, r: &DeviceRule) {
        if r.kind == DeviceType::All {
            self.default_allow = r.allow;
            self.exceptions.clear();
            return;
        }
        if r.access.is_empty() {
            return;
        }
        if r.allow == self.default_allow {
            // Going with the default: take these bits off the identical exception.
            for e in self.exceptions.iter_mut().filter(|e| e.same_device(r)) {
                e.access = e.access.minus(r.access);
            }
            self.exceptions.retain(|e| !e.access.is_empty());
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| e.same_device(r)) {
            e.access = e.access.union(r.access);
        } else {
            self.exceptions.push(Exception {
                kind: r.kind,
                major: r.major,
                minor: r.minor,
                access: r.access,
            });
        }
    }

    /// Whether the cgroup lets a process use the device with this access.
    pub fn allows(&self, kind: DeviceType, major: u32, minor: u32, access: Access) -> bool {
        let matching = self
            .exceptions
            .iter()
            .filter(|e| e.matches_device(kind, major, minor));
        if self.default_allow {
            !matching.clone().any(|e| e.access.intersects(access))
        } else {
            matching.clone().any(|e| e.access.contains(access))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: DeviceType, major: Option<u32>, minor: Option<u32>, a: &str) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: Access::parse(a).unwrap(),
        }
    }

    #[test]
    fn deny_all_then_allow_list() {
        let mut e = Emulator::deny_all();
        e.apply(&rule(false, DeviceType::All, None, None, "rwm"));
        e.apply(&rule(true, DeviceType::Char, Some(1), Some(3), "rw"));
        e.apply(&rule(true, DeviceType::Char, Some(1), Some(3), "m"));
        assert_eq!(e.exceptions.len(), 1);
        assert_eq!(e.exceptions[0].to_v1_string(), "c 1:3 rwm");
        assert!(e.allows(DeviceType::Char, 1, 3, Access::parse("rw").unwrap()));
        assert!(!e.allows(DeviceType::Char, 1, 5, Access::READ));
        assert!(!e.allows(DeviceType::Block, 1, 3, Access::READ));
    }

    #[test]
    fn deny_after_allow_subtracts_exact_matches_only() {
        let mut e = Emulator::deny_all();
        e.apply(&rule(true, DeviceType::Char, Some(1), None, "rwm"));
        e.apply(&rule(true, DeviceType::Char, Some(1), Some(5), "rwm"));
        // removes w from "c 1:5" only; "c 1:*" still covers 1:5 for rw (as in the kernel)
        e.apply(&rule(false, DeviceType::Char, Some(1), Some(5), "w"));
        assert_eq!(e.exceptions[1].access, Access::parse("rm").unwrap());
        assert!(e.allows(DeviceType::Char, 1, 5, Access::WRITE));
        e.apply(&rule(false, DeviceType::Char, Some(1), None, "rwm"));
        assert!(!e.allows(DeviceType::Char, 1, 5, Access::WRITE));
        assert!(e.allows(DeviceType::Char, 1, 5, Access::READ));
        e.apply(&rule(false, DeviceType::Char, Some(1), Some(5), "rm"));
        assert!(e.exceptions.is_empty());
    }

    #[test]
    fn allow_all_then_deny_list_uses_partial_matches() {
        let mut e = Emulator::deny_all();
        e.apply(&rule(true, DeviceType::All, None, None, "rwm"));
        e.apply(&rule(false, DeviceType::Block, Some(8), None, "w"));
        assert!(e.default_allow);
        assert!(e.allows(DeviceType::Block, 8, 0, Access::READ));
        assert!(!e.allows(DeviceType::Block, 8, 0, Access::parse("rw").unwrap()));
        assert!(e.allows(DeviceType::Char, 8, 0, Access::WRITE));
        e.apply(&rule(true, DeviceType::Block, Some(8), None, "w"));
        assert!(e.exceptions.is_empty());
    }

    #[test]
    fn access_needs_one_covering_exception_when_default_deny() {
        let mut e = Emulator::deny_all();
        e.apply(&rule(true, DeviceType::Char, Some(1), None, "r"));
        e.apply(&rule(true, DeviceType::Char, Some(1), Some(3), "w"));
        assert!(e.allows(DeviceType::Char, 1, 3, Access::READ));
        assert!(e.allows(DeviceType::Char, 1, 3, Access::WRITE));
        assert!(!e.allows(DeviceType::Char, 1, 3, Access::parse("rw").unwrap()));
    }

    #[test]
    fn a_rule_resets_everything() {
        let mut e = Emulator::deny_all();
        e.apply(&rule(true, DeviceType::Char, Some(1), Some(3), "rwm"));
        e.apply(&rule(false, DeviceType::All, None, None, "rwm"));
        assert_eq!(e, Emulator::deny_all());
    }
}
