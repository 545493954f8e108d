//! Device access rules: one ordered allow/deny list, turned into the v1 `devices` controller's
//! writes or into a cgroup v2 eBPF device filter with the same meaning.
//!
//! The list is evaluated the way the v1 kernel controller evaluates a sequence of writes to
//! `devices.allow`/`devices.deny` (see [`Emulator`]), starting from "deny everything". The
//! runtime composes it with [`DeviceRules::for_container`]: the spec's
//! `linux.resources.devices`, then an allow rule for each device of `linux.devices`, then
//! [`default_rules`] (runc's list).

pub mod bpf;
mod emulator;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use emulator::{Emulator, Exception};

/// Device type of a cgroup device rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceType {
    /// Every type (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

impl DeviceType {
    /// The letter used by the v1 controller.
    pub fn as_char(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        }
    }
}

/// Access bits: mknod, read, write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Access(u8);

impl Access {
    /// `m`.
    pub const MKNOD: Access = Access(1);
    /// `r`.
    pub const READ: Access = Access(2);
    /// `w`.
    pub const WRITE: Access = Access(4);
    /// `rwm`.
    pub const ALL: Access = Access(7);
    /// Nothing.
    pub const NONE: Access = Access(0);

    /// Parses `rwm`-style strings; every letter at most once.
    pub fn parse(s: &str) -> Option<Access> {
        let mut bits = 0u8;
        for c in s.chars() {
            let b = match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => return None,
            };
            if bits & b != 0 {
                return None;
            }
            bits |= b;
        }
        Some(Access(bits))
    }

    /// The bits, as the eBPF context encodes them (mknod 1, read 2, write 4).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    pub(crate) fn minus(self, other: Access) -> Access {
        Access(self.0 & !other.0)
    }

    pub(crate) fn intersects(self, other: Access) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 & 2 != 0 {
            f.write_str("r")?;
        }
        if self.0 & 4 != 0 {
            f.write_str("w")?;
        }
        if self.0 & 1 != 0 {
            f.write_str("m")?;
        }
        Ok(())
    }
}

/// One rule: allow or deny `access` to devices of `kind` with these numbers (`None` = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// Device type.
    pub kind: DeviceType,
    /// Major number; `None` matches every major.
    pub major: Option<u32>,
    /// Minor number; `None` matches every minor.
    pub minor: Option<u32>,
    /// Access bits concerned.
    pub access: Access,
}

impl DeviceRule {
    /// A rule for one character device.
    pub const fn char_dev(major: u32, minor: u32, access: Access) -> Self {
        DeviceRule {
            allow: true,
            kind: DeviceType::Char,
            major: Some(major),
            minor: Some(minor),
            access,
        }
    }

    /// Converts one entry of `linux.resources.devices` (`index` is used in errors).
    pub fn from_oci(index: usize, d: &oci_spec::runtime::LinuxDeviceCgroup) -> Result<Self> {
        use oci_spec::runtime::LinuxDeviceType as T;
        let field = || format!("devices[{index}]");
        let kind = match d.typ() {
            None | Some(T::A) => DeviceType::All,
            Some(T::C) | Some(T::U) => DeviceType::Char,
            Some(T::B) => DeviceType::Block,
            Some(T::P) => {
                return Err(Error::invalid(
                    format!("{}.type", field()),
                    "\"p\" (fifo) is not a cgroup device type; use a, b or c",
                ));
            }
        };
        let number = |v: Option<i64>, what: &str| -> Result<Option<u32>> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    Error::invalid(
                        format!("{}.{what}", field()),
                        format!("{n} is not a device number (0..=4294967295, or -1 for any)"),
                    )
                }),
            }
        };
        let access = match d.access().as_deref() {
            None | Some("") => {
                return Err(Error::invalid(
                    format!("{}.access", field()),
                    "must not be empty (use a combination of r, w and m)",
                ));
            }
            Some(a) => Access::parse(a).ok_or_else(|| {
                Error::invalid(
                    format!("{}.access", field()),
                    format!("{a:?} is not a combination of r, w and m"),
                )
            })?,
        };
        let rule = DeviceRule {
            allow: d.allow(),
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            access,
        };
        // The kernel (and so runc) treats any type-"a" rule as "allow/deny everything",
        // ignoring numbers and access. A rule that looks narrower than that is refused rather
        // than silently widened.
        if kind == DeviceType::All
            && (rule.major.is_some() || rule.minor.is_some() || access != Access::ALL)
        {
            return Err(Error::invalid(
                field(),
                format!(
                    "type \"a\" always means every device with rwm, but the rule says {}; give a type (b or c) or use \"a\" with rwm and no numbers",
                    rule.to_v1_string()
                ),
            ));
        }
        Ok(rule)
    }

    /// The v1 controller's syntax: `c 1:3 rwm`, `a *:* rwm`.
    pub fn to_v1_string(&self) -> String {
        let n = |v: Option<u32>| v.map_or_else(|| "*".to_owned(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.as_char(),
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

/// An ordered list of device rules, applied on top of "deny everything".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceRules {
    /// The rules, first to last; a later rule overrides what an earlier one set.
    pub rules: Vec<DeviceRule>,
}

impl DeviceRules {
    /// Wraps a list.
    pub fn new(rules: Vec<DeviceRule>) -> Self {
        DeviceRules { rules }
    }

    /// Every device allowed (privileged containers).
    pub fn allow_all() -> Self {
        DeviceRules {
            rules: vec![DeviceRule {
                allow: true,
                kind: DeviceType::All,
                major: None,
                minor: None,
                access: Access::ALL,
            }],
        }
    }

    /// The list for a container, composed as runc does and as the runtime needs it:
    /// `linux.resources.devices` in order, then `rwm` for each device node of `linux.devices`
    /// (fifos need no rule), then [`default_rules`].
    pub fn for_container(
        resource_rules: &[oci_spec::runtime::LinuxDeviceCgroup],
        devices: &[oci_spec::runtime::LinuxDevice],
    ) -> Result<Self> {
        use oci_spec::runtime::LinuxDeviceType as T;
        let mut rules = Vec::with_capacity(resource_rules.len() + devices.len() + 12);
        for (i, d) in resource_rules.iter().enumerate() {
            rules.push(DeviceRule::from_oci(i, d)?);
        }
        for (i, d) in devices.iter().enumerate() {
            let kind = match d.typ() {
                T::C | T::U => DeviceType::Char,
                T::B => DeviceType::Block,
                T::P => continue,
                T::A => {
                    return Err(Error::InvalidResource {
                        field: format!("linux.devices[{i}].type"),
                        reason: "\"a\" is not a device node type".into(),
                    });
                }
            };
            let num = |v: i64, what: &str| {
                u32::try_from(v).map_err(|_| Error::InvalidResource {
                    field: format!("linux.devices[{i}].{what}"),
                    reason: format!("{v} is not a device number"),
                })
            };
            rules.push(DeviceRule {
                allow: true,
                kind,
                major: Some(num(d.major(), "major")?),
                minor: Some(num(d.minor(), "minor")?),
                access: Access::ALL,
            });
        }
        rules.extend(default_rules());
        Ok(DeviceRules { rules })
    }

    /// The state these rules leave a cgroup in.
    pub fn emulate(&self) -> Emulator {
        let mut e = Emulator::deny_all();
        for r in &self.rules {
            e.apply(r);
        }
        e
    }
}

/// runc's default rules, appended to every container's list: mknod of any char or block
/// device, `/dev/null`, `/dev/random`, `/dev/full`, `/dev/tty`, `/dev/zero`, `/dev/urandom`,
/// the pty slaves (136:*), `/dev/ptmx` (5:2) and `/dev/net/tun` (10:200).
pub fn default_rules() -> Vec<DeviceRule> {
    let any_mknod = |kind| DeviceRule {
        allow: true,
        kind,
        major: None,
        minor: None,
        access: Access::MKNOD,
    };
    vec![
        any_mknod(DeviceType::Char),
        any_mknod(DeviceType::Block),
        DeviceRule::char_dev(1, 3, Access::ALL),
        DeviceRule::char_dev(1, 8, Access::ALL),
        DeviceRule::char_dev(1, 7, Access::ALL),
        DeviceRule::char_dev(5, 0, Access::ALL),
        DeviceRule::char_dev(1, 5, Access::ALL),
        DeviceRule::char_dev(1, 9, Access::ALL),
        DeviceRule {
            allow: true,
            kind: DeviceType::Char,
            major: Some(136),
            minor: None,
            access: Access::ALL,
        },
        DeviceRule::char_dev(5, 2, Access::ALL),
        DeviceRule::char_dev(10, 200, Access::ALL),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType};

    #[test]
    fn access_parses_rwm_once_each() {
        assert_eq!(Access::parse("rwm"), Some(Access::ALL));
        assert_eq!(Access::parse("mr"), Some(Access(3)));
        assert_eq!(Access::parse(""), Some(Access::NONE));
        assert_eq!(Access::parse("rr"), None);
        assert_eq!(Access::parse("x"), None);
        assert_eq!(Access::ALL.to_string(), "rwm");
    }

    #[test]
    fn oci_rules_convert_with_wildcards() {
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        let r = DeviceRule::from_oci(0, &d).unwrap();
        assert_eq!(r.to_v1_string(), "a *:* rwm");
        assert!(!r.allow);
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(-1)
            .access("r")
            .build()
            .unwrap();
        assert_eq!(DeviceRule::from_oci(0, &d).unwrap().to_v1_string(), "c 1:* r");
    }

    #[test]
    fn bad_oci_rules_name_the_field() {
        let d = LinuxDeviceCgroupBuilder::default().allow(true).build().unwrap();
        let e = DeviceRule::from_oci(3, &d).unwrap_err().to_string();
        assert!(e.contains("devices[3].access"), "{e}");
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwx")
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(0, &d).is_err());
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .major(-7)
            .access("r")
            .build()
            .unwrap();
        let e = DeviceRule::from_oci(1, &d).unwrap_err().to_string();
        assert!(e.contains("devices[1].major"), "{e}");
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::P)
            .access("r")
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(0, &d).is_err());
    }

    #[test]
    fn type_a_rule_that_looks_narrow_is_rejected_not_widened() {
        // "allow a 1:3 r" would allow every device with rwm in the kernel
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .major(1)
            .minor(3)
            .access("r")
            .build()
            .unwrap();
        let e = DeviceRule::from_oci(0, &d).unwrap_err().to_string();
        assert!(e.contains("devices[0]"), "{e}");
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("r")
            .build()
            .unwrap();
        assert!(DeviceRule::from_oci(0, &d).is_err());
    }

    #[test]
    fn for_container_adds_device_nodes_then_defaults() {
        let deny = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let fifo = LinuxDeviceBuilder::default()
            .path("/dev/fifo")
            .typ(LinuxDeviceType::P)
            .major(0)
            .minor(0)
            .build()
            .unwrap();
        let r = DeviceRules::for_container(&[deny], &[fuse, fifo]).unwrap();
        assert_eq!(r.rules.len(), 2 + default_rules().len());
        assert_eq!(r.rules[1].to_v1_string(), "c 10:229 rwm");
        let e = r.emulate();
        assert!(!e.default_allow);
        assert!(e.allows(DeviceType::Char, 10, 229, Access::ALL));
        assert!(e.allows(DeviceType::Char, 1, 3, Access::READ));
        assert!(!e.allows(DeviceType::Block, 8, 0, Access::READ));
        assert!(e.allows(DeviceType::Block, 8, 0, Access::MKNOD));
    }
}
