//! Capabilities (issue #3): the five sets in /proc/self/status for several
//! configurations, and what they allow: a raw socket (busybox ping) needs
//! CAP_NET_RAW, also for a non-root user holding it as an ambient
//! capability. The basic sets are in `process::capabilities_*`; an unknown
//! capability name is in `bad_input`.

use crate::support::*;
use berth_test_support::Bundle;

/// Every capability this process can grant: all the kernel knows
/// (`/proc/sys/kernel/cap_last_cap`) that are in our own bounding set (root
/// here lacks CAP_SYS_RESOURCE).
fn grantable() -> Vec<&'static str> {
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("cap_last_cap")
        .trim()
        .parse()
        .expect("a number");
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let bnd = u64::from_str_radix(status_field(&own, "CapBnd").expect("CapBnd"), 16).expect("hex");
    CAPS.iter().enumerate().filter(|(i, _)| *i <= last && bnd & (1 << i) != 0).map(|(_, c)| *c).collect()
}

fn caps_of(rt: &berth_test_support::Runtime, edit: impl FnOnce(&mut Bundle)) -> String {
    run_script(rt, "grep ^Cap /proc/self/status", edit)
}

#[track_caller]
fn assert_sets(out: &str, want: [(&str, &[&str]); 5]) {
    for (set, caps) in want {
        assert_eq!(status_field(out, set), Some(cap_mask(caps).as_str()), "{set} should be {caps:?}:\n{out}");
    }
}

scenario! {
    /// All grantable capabilities in every set (a privileged container).
    fn all_capabilities(rt) {
        let all = grantable();
        let out = caps_of(rt, |b| {
            for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
                b.set_caps(set, &all);
            }
        });
        assert_sets(&out, [("CapBnd", &all), ("CapPrm", &all), ("CapEff", &all), ("CapInh", &all), ("CapAmb", &all)]);
    }
}

scenario! {
    /// runc's default sets (ambient listed, inheritable not): ambient
    /// capabilities need to be inheritable too, so none is raised.
    fn default_sets(rt) {
        let def = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        let out = caps_of(rt, |_| {});
        assert_sets(&out, [("CapBnd", &def), ("CapPrm", &def), ("CapEff", &def), ("CapInh", &[]), ("CapAmb", &[])]);
    }
}

scenario! {
    /// The bounding set limits what root keeps across execve: a permitted
    /// capability outside it is gone in the program.
    fn bounding_limits_root(rt) {
        let out = caps_of(rt, |b| {
            b.set_caps("bounding", &["CAP_CHOWN"]);
            b.set_caps("permitted", &["CAP_CHOWN", "CAP_KILL"]);
            b.set_caps("effective", &["CAP_CHOWN", "CAP_KILL"]);
            b.set_caps("inheritable", &[]);
            b.set_caps("ambient", &[]);
        });
        let chown: &[&str] = &["CAP_CHOWN"];
        assert_sets(&out, [("CapBnd", chown), ("CapPrm", chown), ("CapEff", chown), ("CapInh", &[]), ("CapAmb", &[])]);
    }
}

scenario! {
    /// A non-root user without ambient capabilities has none after execve,
    /// whatever the other sets say; the bounding set stays.
    fn non_root_without_ambient_has_none(rt) {
        let set = ["CAP_CHOWN", "CAP_NET_RAW"];
        let out = caps_of(rt, |b| {
            b.set_user(1000, 1000, &[]);
            for s in ["bounding", "effective", "permitted", "inheritable"] {
                b.set_caps(s, &set);
            }
            b.set_caps("ambient", &[]);
        });
        assert_sets(&out, [("CapBnd", &set), ("CapPrm", &[]), ("CapEff", &[]), ("CapInh", &set), ("CapAmb", &[])]);
    }
}

/// `ip link set lo up` (CAP_NET_ADMIN) and one ping over it: busybox ping
/// opens a raw ICMP socket (and says "permission denied (are you root?)"
/// when it cannot).
const PING: &str = "ip link set lo up 2>&1; ping -c 1 -W 2 127.0.0.1 2>&1";

fn ping_with(rt: &berth_test_support::Runtime, uid: u32, caps: &[&str], ambient: &[&str]) -> Ran {
    let mut b = Bundle::busybox();
    b.set_script(PING);
    if uid != 0 {
        b.set_user(uid, uid, &[]);
    }
    for set in ["bounding", "effective", "permitted", "inheritable"] {
        b.set_caps(set, caps);
    }
    b.set_caps("ambient", ambient);
    run(rt, &b)
}

scenario! {
    /// Without CAP_NET_RAW a raw socket cannot be opened (busybox ping:
    /// "permission denied (are you root?)"); with it ping works.
    fn net_raw_controls_raw_sockets(rt) {
        let r = ping_with(rt, 0, &["CAP_NET_ADMIN"], &[]);
        assert_ne!(r.code, Some(0), "{r:?}");
        assert!(r.stdout.contains("permission denied"), "ping without CAP_NET_RAW: {r:?}");
        let r = ping_with(rt, 0, &["CAP_NET_ADMIN", "CAP_NET_RAW"], &[]);
        assert_eq!(r.code, Some(0), "ping with CAP_NET_RAW: {r:?}");
        assert!(r.stdout.contains("1 packets received"), "{r:?}");
    }
}

scenario! {
    /// A non-root user keeps ambient capabilities across execve and can use
    /// them (ping as uid 1000 with ambient CAP_NET_RAW); without the
    /// ambient set the same user cannot.
    fn non_root_ambient_capabilities_work(rt) {
        let caps = ["CAP_NET_ADMIN", "CAP_NET_RAW"];
        let r = ping_with(rt, 1000, &caps, &caps);
        assert_eq!(r.code, Some(0), "uid 1000 with ambient NET_RAW/NET_ADMIN: {r:?}");
        assert!(r.stdout.contains("1 packets received"), "{r:?}");
        let r = ping_with(rt, 1000, &caps, &[]);
        assert_ne!(r.code, Some(0), "uid 1000 without ambient capabilities: {r:?}");
        assert!(r.stdout.contains("permission denied"), "uid 1000 without ambient capabilities: {r:?}");
        let out = caps_of(rt, |b| {
            b.set_user(1000, 1000, &[]);
            for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
                b.set_caps(set, &caps);
            }
        });
        assert_sets(&out, [("CapBnd", &caps), ("CapPrm", &caps), ("CapEff", &caps), ("CapInh", &caps), ("CapAmb", &caps)]);
    }
}
