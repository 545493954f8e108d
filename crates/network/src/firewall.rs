//! berth's own iptables rules, network-wide (docker's model), in chains that
//! berth owns and rewrites whole with one `iptables-restore --noflush`:
//!
//! - `nat BERTH-POSTROUTING`: masquerade traffic leaving each non-internal
//!   network's subnet (`-s <subnet> ! -o <bridge> -j MASQUERADE`);
//! - `filter BERTH-FORWARD`: accept what containers send, replies to them and
//!   connections DNAT'ed to them by portmap (so published ports work under a
//!   FORWARD policy of DROP); drop bridge-local traffic with `enable_icc=false`;
//! - `filter BERTH-ISOLATION-1/2`: no traffic between two berth networks, and
//!   none between an internal network and anything else.
//!
//! Per-container rules (published ports) are the portmap plugin's.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::ipnet::Ipv4Net;

/// A chain berth owns in the nat table.
pub const NAT_CHAIN: &str = "BERTH-POSTROUTING";
/// The chain berth owns in the filter table, jumped to from FORWARD.
pub const FORWARD_CHAIN: &str = "BERTH-FORWARD";
const ISOLATION_1: &str = "BERTH-ISOLATION-1";
const ISOLATION_2: &str = "BERTH-ISOLATION-2";

/// What the rules need to know about one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
}

/// The `iptables-restore --noflush` input that makes berth's chains hold
/// exactly the rules for `nets` (declaring a chain flushes it).
pub(crate) fn restore_input(nets: &[NetRules]) -> String {
    let mut s = String::new();
    s.push_str("*nat\n");
    s.push_str(&format!(":{NAT_CHAIN} - [0:0]\n"));
    for n in nets.iter().filter(|n| !n.internal && n.masquerade) {
        s.push_str(&format!("-A {NAT_CHAIN} -s {} ! -o {} -j MASQUERADE\n", n.subnet, n.bridge));
    }
    s.push_str("COMMIT\n*filter\n");
    for c in [FORWARD_CHAIN, ISOLATION_1, ISOLATION_2] {
        s.push_str(&format!(":{c} - [0:0]\n"));
    }
    s.push_str(&format!("-A {FORWARD_CHAIN} -j {ISOLATION_1}\n"));
    for n in nets {
        let b = &n.bridge;
        if n.internal {
            s.push_str(&format!("-A {ISOLATION_1} -i {b} ! -o {b} -j DROP\n"));
            s.push_str(&format!("-A {ISOLATION_1} -o {b} ! -i {b} -j DROP\n"));
        } else {
            s.push_str(&format!("-A {ISOLATION_1} -i {b} ! -o {b} -j {ISOLATION_2}\n"));
            s.push_str(&format!("-A {ISOLATION_2} -o {b} -j DROP\n"));
        }
    }
    for n in nets {
        let b = &n.bridge;
        if !n.icc {
            s.push_str(&format!("-A {FORWARD_CHAIN} -i {b} -o {b} -j DROP\n"));
        }
        s.push_str(&format!("-A {FORWARD_CHAIN} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"));
        s.push_str(&format!("-A {FORWARD_CHAIN} -o {b} -m conntrack --ctstate DNAT -j ACCEPT\n"));
        s.push_str(&format!("-A {FORWARD_CHAIN} -i {b} -j ACCEPT\n"));
    }
    s.push_str("COMMIT\n");
    s
}

/// Rewrites berth's chains for `nets` and makes sure POSTROUTING and
/// FORWARD jump to them (inserted first, so a FORWARD policy or rules of
/// DROP added by others do not hide berth's accepts).
pub(crate) fn sync(nets: &[NetRules]) -> Result<()> {
    restore(&restore_input(nets))?;
    ensure_jump("nat", "POSTROUTING", NAT_CHAIN)?;
    ensure_jump("filter", "FORWARD", FORWARD_CHAIN)?;
    Ok(())
}

/// `name` from PATH, or from the sbin directories a daemon started with a
/// minimal PATH may lack.
fn tool(name: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(std::path::PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from(name))
}

fn restore(input: &str) -> Result<()> {
    let mut child = Command::new(tool("iptables-restore"))
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Iptables { what: "run iptables-restore".into(), stderr: e.to_string() })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::Iptables { what: "write to iptables-restore".into(), stderr: e.to_string() })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Iptables { what: "wait for iptables-restore".into(), stderr: e.to_string() })?;
    if !out.status.success() {
        return Err(Error::Iptables {
            what: "iptables-restore of berth chains".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn iptables(args: &[&str]) -> Result<std::process::Output> {
    Command::new(tool("iptables"))
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Iptables { what: format!("run iptables {}", args.join(" ")), stderr: e.to_string() })
}

fn ensure_jump(table: &str, from: &str, to: &str) -> Result<()> {
    if iptables(&["-t", table, "-C", from, "-j", to])?.status.success() {
        return Ok(());
    }
    let out = iptables(&["-t", table, "-I", from, "1", "-j", to])?;
    if !out.status.success() {
        return Err(Error::Iptables {
            what: format!("iptables -t {table} -I {from} 1 -j {to}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_for_a_normal_and_an_internal_network() {
        let nets = [
            NetRules {
                bridge: "berth0".into(),
                subnet: Ipv4Net::parse("10.87.0.0/16").expect("net"),
                internal: false,
                masquerade: true,
                icc: true,
            },
            NetRules {
                bridge: "berth-int".into(),
                subnet: Ipv4Net::parse("10.200.0.0/20").expect("net"),
                internal: true,
                masquerade: true,
                icc: false,
            },
        ];
        let s = restore_input(&nets);
        assert!(s.contains("-A BERTH-POSTROUTING -s 10.87.0.0/16 ! -o berth0 -j MASQUERADE\n"));
        assert!(!s.contains("10.200.0.0/20 ! -o berth-int -j MASQUERADE"), "internal networks are not masqueraded");
        assert!(s.contains("-A BERTH-ISOLATION-1 -i berth0 ! -o berth0 -j BERTH-ISOLATION-2\n"));
        assert!(s.contains("-A BERTH-ISOLATION-2 -o berth0 -j DROP\n"));
        assert!(s.contains("-A BERTH-ISOLATION-1 -i berth-int ! -o berth-int -j DROP\n"));
        assert!(s.contains("-A BERTH-FORWARD -i berth-int -o berth-int -j DROP\n"));
        assert_eq!(s.matches("COMMIT").count(), 2);
    }
}
