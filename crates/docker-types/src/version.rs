//! Engine API versions (`1.50`) and their ordering, as docker compares them:
//! dot-separated numbers, missing parts count as 0.

/// The newest API version berth speaks (docker 28.x).
pub const API_VERSION: &str = "1.50";
/// The oldest API version berth accepts (dockerd's default minimum).
pub const MIN_API_VERSION: &str = "1.24";

/// A parsed `MAJOR.MINOR` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// `1.50` → 1.50; anything but digits and one dot is refused.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        let num = |x: &str| if !x.is_empty() && x.len() <= 6 && x.bytes().all(|c| c.is_ascii_digit()) { x.parse().ok() } else { None };
        Some(Self { major: num(a)?, minor: num(b)? })
    }

    /// The current version ([`API_VERSION`]).
    pub fn current() -> Self {
        Self::new(1, 50)
    }

    /// The minimum version ([`MIN_API_VERSION`]).
    pub fn min() -> Self {
        Self::new(1, 24)
    }

    /// True from `major.minor` on.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Self::new(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!(ApiVersion::parse("1.50"), Some(ApiVersion::new(1, 50)));
        assert_eq!(ApiVersion::parse("1.9"), Some(ApiVersion::new(1, 9)));
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.10").unwrap());
        assert_eq!(ApiVersion::parse("2"), Some(ApiVersion::new(2, 0)));
        assert_eq!(ApiVersion::parse("1.x"), None);
        assert_eq!(ApiVersion::parse(""), None);
        assert_eq!(ApiVersion::parse("1.2.3"), None);
        assert_eq!(ApiVersion::current().to_string(), API_VERSION);
        assert_eq!(ApiVersion::min().to_string(), MIN_API_VERSION);
    }
}
