//! Conversions between docker's JSON ([`berth_docker_types`]) and the
//! engine's API-neutral types. Pure functions, unit-tested here.

pub mod container;
pub mod create;
pub mod image;
pub mod misc;

use berth_docker_types::time::{ZERO_TIME, format_unix};

/// Nanoseconds since the epoch as docker's RFC 3339 (0 = Go's zero time).
pub fn time_or_zero(nanos: i64) -> String {
    if nanos == 0 {
        return ZERO_TIME.to_owned();
    }
    let secs = nanos.div_euclid(1_000_000_000);
    // rem_euclid of 1e9 fits in u32
    let sub = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    format_unix(secs, sub)
}

/// docker's fixed-width timestamps of `logs --timestamps`
/// (`2006-01-02T15:04:05.000000000Z`).
pub fn time_fixed(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000);
    let s = format_unix(secs, 0);
    // format_unix ends with 'Z' and has no fraction when nanos are 0
    format!("{}.{sub:09}Z", s.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time_or_zero(0), ZERO_TIME);
        assert_eq!(time_or_zero(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(time_fixed(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
        assert_eq!(time_fixed(1_700_000_000_000_000_000), "2023-11-14T22:13:20.000000000Z");
    }
}
