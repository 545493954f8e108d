//! Capabilities: docker's default set, `--cap-add`/`--cap-drop` (with `ALL`),
//! names with or without `CAP_`, any case.

use crate::error::{Error, Result};

/// Every capability Linux defines (up to CAP_CHECKPOINT_RESTORE, 40).
pub const ALL: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set (moby `oci/caps/defaults.go`), in the
/// order docker lists them.
pub const DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays.
fn normalize(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    if ALL.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::invalid(format!("unknown capability: \"{name}\"")))
    }
}

/// The container's capability set: docker's defaults (all of them when
/// privileged), plus `add`, minus `drop`. As in docker, `--cap-drop ALL
/// --cap-add X` keeps exactly X, and adding wins over dropping the same one.
pub fn compute(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let add: Vec<String> = add.iter().map(|c| normalize(c)).collect::<Result<_>>()?;
    let drop: Vec<String> = drop.iter().map(|c| normalize(c)).collect::<Result<_>>()?;
    if privileged {
        return Ok(ALL.iter().map(|s| s.to_string()).collect());
    }
    let mut set: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT.iter().filter(|c| !drop.iter().any(|d| d == *c)).map(|s| s.to_string()).collect()
    };
    if add.iter().any(|c| c == "ALL") {
        set = ALL.iter().filter(|c| !drop.iter().any(|d| d == *c) || add.iter().any(|a| a == *c)).map(|s| s.to_string()).collect();
    } else {
        for c in add {
            if !set.contains(&c) {
                set.push(c);
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults_add_drop() {
        assert_eq!(compute(false, &[], &[]).unwrap(), s(DEFAULT));
        let c = compute(false, &s(&["net_admin", "SYS_PTRACE"]), &s(&["CAP_MKNOD", "kill"])).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".into()) && c.contains(&"CAP_SYS_PTRACE".into()));
        assert!(!c.contains(&"CAP_MKNOD".into()) && !c.contains(&"CAP_KILL".into()));
        assert_eq!(compute(false, &s(&["chown"]), &s(&["all"])).unwrap(), s(&["CAP_CHOWN"]));
        assert_eq!(compute(false, &s(&["ALL"]), &[]).unwrap().len(), ALL.len());
        assert_eq!(compute(true, &[], &[]).unwrap().len(), ALL.len());
        let e = compute(false, &s(&["FLY"]), &[]).unwrap_err();
        assert_eq!(e.to_string(), "invalid argument: unknown capability: \"FLY\"");
    }
}
