//! IPv4 prefixes (`10.87.0.0/16`): parsing, containment, overlap and carving
//! a pool into subnets. Pure logic, unit-tested here.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR notation whose host bits are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a CIDR string was refused (the caller adds which field it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// not of the form `a.b.c.d/n`
    #[error("expected an IPv4 prefix like 10.1.0.0/16")]
    Syntax,
    /// prefix length outside 0..=32
    #[error("prefix length must be between 0 and 32")]
    PrefixLength,
    /// host bits set: docker refuses these too rather than guessing
    #[error("host bits are set: the network address is {0}")]
    HostBits(Ipv4Net),
    /// an IPv6 prefix where only IPv4 is supported
    #[error("not supported yet: IPv6 subnets")]
    Ipv6,
}

impl Ipv4Net {
    /// A network from an address and a prefix length; host bits are cleared.
    pub fn new_truncating(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        let prefix = prefix.min(32);
        Ipv4Net { addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix }
    }

    /// Parses `a.b.c.d/n`, refusing host bits (`10.1.2.3/16`).
    pub fn parse(s: &str) -> Result<Ipv4Net, CidrError> {
        let (ip, len) = s.trim().split_once('/').ok_or(CidrError::Syntax)?;
        if ip.contains(':') {
            return Err(CidrError::Ipv6);
        }
        let ip: Ipv4Addr = ip.parse().map_err(|_| CidrError::Syntax)?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::Syntax);
        }
        let len: u8 = len.parse().map_err(|_| CidrError::PrefixLength)?;
        if len > 32 {
            return Err(CidrError::PrefixLength);
        }
        let net = Ipv4Net::new_truncating(ip, len);
        if net.addr != ip {
            return Err(CidrError::HostBits(net));
        }
        Ok(net)
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The last address (broadcast for prefixes up to /30).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// Whether `ip` lies inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// Whether `other` lies wholly inside.
    pub fn contains_net(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// Whether the two share any address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first address usable by a host (`.1` of a /24), as docker picks
    /// for the gateway when none is given.
    pub fn first_host(&self) -> Ipv4Addr {
        if self.prefix >= 31 {
            self.addr
        } else {
            Ipv4Addr::from(u32::from(self.addr) + 1)
        }
    }

    /// The last address usable by a host (one below broadcast).
    pub fn last_host(&self) -> Ipv4Addr {
        if self.prefix >= 31 {
            self.last()
        } else {
            Ipv4Addr::from(u32::from(self.last()) - 1)
        }
    }

    /// The `index`-th subnet of length `prefix` inside this one, if there is
    /// one (`10.0.0.0/8`.subnet(16, 3) = `10.3.0.0/16`).
    pub fn subnet(&self, prefix: u8, index: u32) -> Option<Ipv4Net> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let bits = u32::from(prefix - self.prefix);
        if bits < 32 && u64::from(index) >= 1u64 << bits {
            return None;
        }
        let step = if prefix == 0 { 0 } else { 1u64 << (32 - u32::from(prefix)) };
        let start = u64::from(u32::from(self.addr)) + u64::from(index) * step;
        u32::try_from(start).ok().map(|s| Ipv4Net { addr: Ipv4Addr::from(s), prefix })
    }

    /// How many subnets of length `prefix` fit inside (saturating).
    pub fn subnet_count(&self, prefix: u8) -> u32 {
        if prefix < self.prefix || prefix > 32 {
            return 0;
        }
        let bits = u32::from(prefix - self.prefix);
        if bits >= 32 { u32::MAX } else { 1u32 << bits }
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ipv4Net::parse(s)
    }
}

impl serde::Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ipv4Net::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses `a.b.c.d/n` as an interface address (host bits allowed), as CNI
/// results carry them (`10.87.0.2/16`).
pub fn parse_interface_addr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).expect(s)
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(n("10.87.0.0/16").to_string(), "10.87.0.0/16");
        assert_eq!(n("0.0.0.0/0").prefix(), 0);
        assert_eq!(n("192.168.1.7/32").last(), Ipv4Addr::new(192, 168, 1, 7));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(Ipv4Net::parse("10.0.0.0"), Err(CidrError::Syntax));
        assert_eq!(Ipv4Net::parse("10.0.0/8"), Err(CidrError::Syntax));
        assert_eq!(Ipv4Net::parse("10.0.0.0/33"), Err(CidrError::PrefixLength));
        assert_eq!(Ipv4Net::parse("10.0.0.0/"), Err(CidrError::Syntax));
        assert_eq!(Ipv4Net::parse("10.0.0.0/-1"), Err(CidrError::Syntax));
        assert_eq!(Ipv4Net::parse("fd00::/64"), Err(CidrError::Ipv6));
        assert_eq!(Ipv4Net::parse("10.1.2.3/16"), Err(CidrError::HostBits(n("10.1.0.0/16"))));
    }

    #[test]
    fn containment_and_overlap() {
        let a = n("10.87.0.0/16");
        assert!(a.contains(Ipv4Addr::new(10, 87, 255, 255)));
        assert!(!a.contains(Ipv4Addr::new(10, 88, 0, 0)));
        assert!(a.overlaps(&n("10.87.4.0/24")));
        assert!(n("10.0.0.0/8").overlaps(&a));
        assert!(!a.overlaps(&n("10.88.0.0/16")));
        assert!(a.contains_net(&n("10.87.4.0/24")));
        assert!(!n("10.87.4.0/24").contains_net(&a));
    }

    #[test]
    fn hosts_and_subnets() {
        let a = n("10.87.0.0/16");
        assert_eq!(a.first_host(), Ipv4Addr::new(10, 87, 0, 1));
        assert_eq!(a.last_host(), Ipv4Addr::new(10, 87, 255, 254));
        assert_eq!(n("10.200.0.0/13").subnet(20, 0), Some(n("10.200.0.0/20")));
        assert_eq!(n("10.200.0.0/13").subnet(20, 1), Some(n("10.200.16.0/20")));
        assert_eq!(n("10.200.0.0/13").subnet_count(20), 128);
        assert_eq!(n("10.200.0.0/13").subnet(20, 128), None);
        assert_eq!(n("10.200.0.0/13").subnet(12, 0), None);
        assert_eq!(n("0.0.0.0/0").subnet(1, 1), Some(n("128.0.0.0/1")));
    }

    #[test]
    fn interface_addresses_keep_host_bits() {
        assert_eq!(parse_interface_addr("10.87.0.2/16"), Some((Ipv4Addr::new(10, 87, 0, 2), 16)));
        assert_eq!(parse_interface_addr("10.87.0.2"), None);
    }
}
