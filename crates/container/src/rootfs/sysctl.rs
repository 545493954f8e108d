//! `linux.sysctl`: which keys are namespaced (and so may be set for a
//! container), and writing them through the container's /proc/sys.

use std::path::PathBuf;

use crate::{Error, Result};

/// Checks that `key` belongs to a namespace the container has its own copy
/// of (new or joined by path: a CNI-prepared network namespace, say), as runc
/// does; a host-wide sysctl would change the host.
pub fn check(key: &str, net: &bool, ipc: &bool, uts: &bool) -> Result<(), String> {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
        "kernel.shmmni", "kernel.shm_rmid_forced",
    ];
    if key.split(['.', '/']).any(str::is_empty) {
        return Err("is not a valid sysctl name".into());
    }
    let needs = if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        ("ipc", *ipc)
    } else if key.starts_with("net.") {
        ("network", *net)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        ("uts", *uts)
    } else {
        return Err("is not in a separate kernel namespace: it would change the host".into());
    };
    if !needs.1 {
        return Err(format!("needs a {} namespace of the container's own", needs.0));
    }
    Ok(())
}

/// The /proc/sys path of a key; both `net.ipv4.ip_forward` and
/// `net/ipv4/ip_forward` forms are accepted, as the kernel's sysctl(8) does.
pub fn proc_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') { key.to_string() } else { key.replace('.', "/") };
    PathBuf::from("/proc/sys").join(rel)
}

/// Writes every sysctl (after pivot_root, so /proc is the container's).
pub fn apply(sysctls: &std::collections::HashMap<String, String>) -> Result<()> {
    for (k, v) in sysctls {
        let p = proc_path(k);
        crate::sys::write_file(&p, v.as_bytes()).map_err(|e| Error::path("write sysctl", p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_keys() {
        assert!(check("net.ipv4.ip_forward", &true, &false, &false).is_ok());
        assert!(check("net.ipv4.ip_forward", &false, &true, &true).is_err());
        assert!(check("kernel.shm_rmid_forced", &false, &true, &false).is_ok());
        assert!(check("fs.mqueue.msg_max", &false, &true, &false).is_ok());
        assert!(check("kernel.domainname", &false, &false, &true).is_ok());
        assert!(check("vm.swappiness", &true, &true, &true).is_err());
        assert!(check("kernel.panic", &true, &true, &true).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(proc_path("net.ipv4.ip_forward"), PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(proc_path("net/ipv4/conf/eth0.100/forwarding"), PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/forwarding"));
    }
}
