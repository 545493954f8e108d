//! Choosing a subnet for a network created without `--subnet`: the first
//! block of the configured pools that overlaps neither another network nor a
//! route of the host (as docker does, so a container never shadows a LAN).

use crate::config::AddressPool;
use crate::ipnet::Ipv4Net;

/// The first free subnet, if any.
pub(crate) fn allocate(pools: &[AddressPool], taken: &[Ipv4Net], host_routes: &[Ipv4Net]) -> Option<Ipv4Net> {
    for pool in pools {
        let count = pool.base.subnet_count(pool.size);
        for i in 0..count {
            let Some(candidate) = pool.base.subnet(pool.size, i) else { break };
            let clash = taken.iter().chain(host_routes).any(|t| t.overlaps(&candidate));
            if !clash {
                return Some(candidate);
            }
        }
    }
    None
}

/// IPv4 routes of the calling thread's network namespace, default routes
/// left out (everything overlaps 0.0.0.0/0). Read from
/// `/proc/thread-self/net/route`: `/proc/self/net` would show the main
/// thread's namespace.
pub(crate) fn host_routes() -> Vec<Ipv4Net> {
    let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/route") else { return Vec::new() };
    parse_proc_net_route(&text)
}

fn parse_proc_net_route(text: &str) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16)) else { continue };
        // The kernel prints the network-order bytes read as a native u32.
        let dst = std::net::Ipv4Addr::from(dst.to_ne_bytes());
        let prefix = u32::from_be_bytes(mask.to_ne_bytes()).leading_ones() as u8;
        if prefix == 0 {
            continue;
        }
        out.push(Ipv4Net::new_truncating(dst, prefix));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).expect(s)
    }

    #[test]
    fn skips_taken_and_routed_blocks() {
        let pools = [AddressPool { base: n("10.200.0.0/22"), size: 24 }];
        assert_eq!(allocate(&pools, &[], &[]), Some(n("10.200.0.0/24")));
        assert_eq!(allocate(&pools, &[n("10.200.0.0/24")], &[n("10.200.1.128/25")]), Some(n("10.200.2.0/24")));
        let all: Vec<Ipv4Net> = (0..4).map(|i| n(&format!("10.200.{i}.0/24"))).collect();
        assert_eq!(allocate(&pools, &all, &[]), None);
        assert_eq!(allocate(&pools, &[], &[n("10.0.0.0/8")]), None);
    }

    #[test]
    fn parses_proc_net_route() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    berth0\t0000570A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_net_route(text), vec![n("192.0.2.0/24"), n("10.87.0.0/16")]);
    }
}
