//! Mount options of config.json turned into mount(2) flags, propagation
//! changes, mount_setattr(2) attributes and the data string, following the
//! table runc and crun share.

use nix::mount::MsFlags;

use crate::sys::mount_attr;

/// Parsed mount options of one config.json mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// flags for the initial mount(2)
    pub flags: MsFlags,
    /// flags explicitly turned off (`rw`, `suid`, `dev`, `exec`, ...): a bind
    /// mount clears them on its copy of the source mount
    pub cleared: MsFlags,
    /// propagation changes applied after mounting, in order
    pub propagation: Vec<MsFlags>,
    /// recursive attributes (`rro`, `rnosuid`, ...): set and clear masks for
    /// mount_setattr(2) with AT_RECURSIVE
    pub rec_set: u64,
    pub rec_clr: u64,
    /// options passed on to the filesystem (`size=64m`, `mode=755`, ...)
    pub data: Vec<String>,
    /// `bind` or `rbind` was given
    pub bind: bool,
    /// `idmap`/`ridmap`: idmapped bind mounts
    pub idmap: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
            data: Vec::new(),
            bind: false,
            idmap: false,
        }
    }
}

/// The mount(2) propagation flag for a propagation keyword.
pub fn propagation_flag(s: &str) -> Option<MsFlags> {
    Some(match s {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

impl MountOptions {
    /// Parses the options; unknown words go to the filesystem as data, as
    /// runc does. Errors are for options that are recognised but unsupported.
    pub fn parse(opts: &[String]) -> Result<MountOptions, String> {
        let mut m = MountOptions::default();
        for o in opts {
            let o = o.as_str();
            // (flag, clear?) pairs for the classic mount(2) flags
            let flag = match o {
                "defaults" => Some((MsFlags::empty(), false)),
                "ro" => Some((MsFlags::MS_RDONLY, false)),
                "rw" => Some((MsFlags::MS_RDONLY, true)),
                "suid" => Some((MsFlags::MS_NOSUID, true)),
                "nosuid" => Some((MsFlags::MS_NOSUID, false)),
                "dev" => Some((MsFlags::MS_NODEV, true)),
                "nodev" => Some((MsFlags::MS_NODEV, false)),
                "exec" => Some((MsFlags::MS_NOEXEC, true)),
                "noexec" => Some((MsFlags::MS_NOEXEC, false)),
                "sync" => Some((MsFlags::MS_SYNCHRONOUS, false)),
                "async" => Some((MsFlags::MS_SYNCHRONOUS, true)),
                "dirsync" => Some((MsFlags::MS_DIRSYNC, false)),
                "remount" => Some((MsFlags::MS_REMOUNT, false)),
                "mand" => Some((MsFlags::MS_MANDLOCK, false)),
                "nomand" => Some((MsFlags::MS_MANDLOCK, true)),
                "atime" => Some((MsFlags::MS_NOATIME, true)),
                "noatime" => Some((MsFlags::MS_NOATIME, false)),
                "diratime" => Some((MsFlags::MS_NODIRATIME, true)),
                "nodiratime" => Some((MsFlags::MS_NODIRATIME, false)),
                "relatime" => Some((MsFlags::MS_RELATIME, false)),
                "norelatime" => Some((MsFlags::MS_RELATIME, true)),
                "strictatime" => Some((MsFlags::MS_STRICTATIME, false)),
                "nostrictatime" => Some((MsFlags::MS_STRICTATIME, true)),
                "lazytime" => Some((MsFlags::MS_LAZYTIME, false)),
                "nolazytime" => Some((MsFlags::MS_LAZYTIME, true)),
                "silent" => Some((MsFlags::MS_SILENT, false)),
                "loud" => Some((MsFlags::MS_SILENT, true)),
                _ => None,
            };
            if let Some((f, clear)) = flag {
                if clear {
                    m.flags.remove(f);
                    m.cleared.insert(f);
                } else {
                    m.flags.insert(f);
                    m.cleared.remove(f);
                }
                continue;
            }
            if let Some(p) = propagation_flag(o) {
                m.propagation.push(p);
                continue;
            }
            let rec = match o {
                "rro" => Some((mount_attr::RDONLY, false)),
                "rrw" => Some((mount_attr::RDONLY, true)),
                "rnosuid" => Some((mount_attr::NOSUID, false)),
                "rsuid" => Some((mount_attr::NOSUID, true)),
                "rnodev" => Some((mount_attr::NODEV, false)),
                "rdev" => Some((mount_attr::NODEV, true)),
                "rnoexec" => Some((mount_attr::NOEXEC, false)),
                "rexec" => Some((mount_attr::NOEXEC, true)),
                "rnodiratime" => Some((mount_attr::NODIRATIME, false)),
                "rdiratime" => Some((mount_attr::NODIRATIME, true)),
                "rnosymfollow" => Some((mount_attr::NOSYMFOLLOW, false)),
                "rsymfollow" => Some((mount_attr::NOSYMFOLLOW, true)),
                _ => None,
            };
            if let Some((a, clear)) = rec {
                if clear {
                    m.rec_clr |= a;
                    m.rec_set &= !a;
                } else {
                    m.rec_set |= a;
                    m.rec_clr &= !a;
                }
                continue;
            }
            match o {
                "rrelatime" | "rnoatime" | "rstrictatime" => {
                    let a = match o {
                        "rrelatime" => mount_attr::RELATIME,
                        "rnoatime" => mount_attr::NOATIME,
                        _ => mount_attr::STRICTATIME,
                    };
                    m.rec_clr |= mount_attr::ATIME_MASK;
                    m.rec_set = (m.rec_set & !mount_attr::ATIME_MASK) | a;
                }
                "ratime" => {}
                "bind" => {
                    m.bind = true;
                    m.flags.insert(MsFlags::MS_BIND);
                }
                "rbind" => {
                    m.bind = true;
                    m.flags.insert(MsFlags::MS_BIND | MsFlags::MS_REC);
                }
                "idmap" | "ridmap" => m.idmap = true,
                // MS_NOSYMFOLLOW (since 5.10) has no MsFlags constant in nix
                "nosymfollow" => m.flags |= MsFlags::from_bits_retain(256),
                "symfollow" => m.flags.remove(MsFlags::from_bits_retain(256)),
                "tmpcopyup" => return Err("option tmpcopyup is not supported yet".into()),
                _ => m.data.push(o.to_string()),
            }
        }
        Ok(m)
    }

    /// The data string for mount(2).
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Every option keyword this runtime understands (for `features`).
pub const KNOWN: &[&str] = &[
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "loud", "mand",
    "noatime", "nodev", "nodiratime", "noexec", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid",
    "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec",
    "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnosuid", "rnosymfollow", "ro", "rprivate", "rrelatime",
    "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "rsymfollow", "runbindable", "rw", "shared",
    "silent", "slave", "strictatime", "suid", "sync", "unbindable",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn classic_flags_and_data() {
        let m = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert!(!m.bind);
    }

    #[test]
    fn later_option_wins() {
        assert_eq!(p(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(p(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
    }

    #[test]
    fn bind_and_propagation() {
        let m = p(&["rbind", "ro", "rslave"]);
        assert!(m.bind);
        assert!(m.flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(m.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn recursive_attributes() {
        let m = p(&["rbind", "rro", "rnosuid"]);
        assert_eq!(m.rec_set, mount_attr::RDONLY | mount_attr::NOSUID);
        let m = p(&["rro", "rrw"]);
        assert_eq!(m.rec_set, 0);
        assert_eq!(m.rec_clr, mount_attr::RDONLY);
    }
}
