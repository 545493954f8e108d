//! Timestamps as the Engine API writes them: RFC 3339 with nanoseconds in
//! UTC, trailing zeros of the fraction trimmed (Go's `RFC3339Nano`), and the
//! `seconds[.nanoseconds]` form of `since`/`until` query parameters.

use std::time::SystemTime;

use berth_time::Timestamp;

/// Go's zero `time.Time`, which docker prints for "never".
pub const ZERO_TIME: &str = berth_time::GO_ZERO_TIME;

/// `secs`/`nanos` since the epoch as RFC 3339 with trimmed nanoseconds.
pub fn format_unix(secs: i64, nanos: u32) -> String {
    Timestamp { secs, nanos }.rfc3339_nano().into()
}

/// A `SystemTime` as RFC 3339 with trimmed nanoseconds.
pub fn format_rfc3339_nano(t: SystemTime) -> String {
    Timestamp::from_system_time(t).rfc3339_nano().into()
}

/// Seconds since the epoch (for `Created` in lists, event `time`).
pub fn unix_seconds(t: SystemTime) -> i64 {
    // toward zero for times before 1970, as before
    let ts = Timestamp::from_system_time(t);
    if ts.secs < 0 && ts.nanos > 0 { ts.secs + 1 } else { ts.secs }
}

/// Nanoseconds since the epoch (event `timeNano`).
pub fn unix_nanos(t: SystemTime) -> i64 {
    Timestamp::from_system_time(t).unix_nanos()
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `...+02:00`).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    Timestamp::parse_rfc3339(s).map(Timestamp::to_system_time)
}

/// docker's `since`/`until` query form: `seconds[.nanoseconds]` (the CLI
/// converts durations and dates to this before sending). Also accepts RFC
/// 3339 for hand-written requests.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    Timestamp::parse_unix_or_rfc3339(s).map(Timestamp::to_system_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(format_unix(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(format_unix(-62_135_596_800, 0), ZERO_TIME);
    }

    #[test]
    fn parse_round_trip() {
        for (s, n) in [(1_700_000_000i64, 120_000_000u32), (0, 0), (4_102_444_799, 999_999_999)] {
            let text = format_unix(s, n);
            let t = parse_rfc3339(&text).unwrap();
            assert_eq!(format_rfc3339_nano(t), text);
        }
        let t = parse_rfc3339("2023-11-14T23:13:20+01:00").unwrap();
        assert_eq!(unix_seconds(t), 1_700_000_000);
        assert!(parse_rfc3339("2023-13-14T23:13:20Z").is_none());
        assert!(parse_rfc3339("yesterday").is_none());
        assert!(parse_rfc3339("2023-11-14T23:13:20.Z").is_none());
    }

    #[test]
    fn timestamps() {
        assert_eq!(unix_nanos(parse_timestamp("1700000000.5").unwrap()), 1_700_000_000_500_000_000);
        assert_eq!(unix_seconds(parse_timestamp("1700000000").unwrap()), 1_700_000_000);
        assert_eq!(unix_nanos(parse_timestamp("1700000000.000000001").unwrap()), 1_700_000_000_000_000_001);
        assert!(parse_timestamp("abc").is_none());
        assert!(parse_timestamp("1.2.3").is_none());
        assert!(parse_timestamp("").is_none());
    }
}
