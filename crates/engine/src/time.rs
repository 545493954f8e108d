//! Timestamps as docker writes them: RFC 3339 with nanoseconds in UTC
//! (`2024-05-01T10:20:30.123456789Z`), and nanoseconds since the epoch.

use berth_time::{GO_ZERO_TIME, Timestamp};

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    Timestamp::now().unix_nanos()
}

/// `2006-01-02T15:04:05.999999999Z` with trailing zeros trimmed, as Go's
/// `time.RFC3339Nano`; `0001-01-01T00:00:00Z` for 0 (Go's zero time, which
/// docker shows for "never").
pub fn rfc3339_nano(nanos: i64) -> String {
    if nanos == 0 {
        return GO_ZERO_TIME.to_owned();
    }
    Timestamp::from_unix_nanos(nanos).rfc3339_nano().as_str().to_owned()
}

/// Like [`rfc3339_nano`] but always nine digits (docker's log timestamps
/// with `-t`, json-file's `time` field uses the trimmed form).
pub fn rfc3339_nano_fixed(nanos: i64) -> String {
    Timestamp::from_unix_nanos(nanos).rfc3339_nano_fixed().as_str().to_owned()
}

/// Parses RFC 3339 (`Z` or `±hh:mm` offsets, optional fraction) into
/// nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    Timestamp::parse_rfc3339(s).map(Timestamp::unix_nanos)
}

/// docker's `--since`/`--until` values as the API receives them: unix
/// seconds with an optional fraction (`1700000000.123456789`), or RFC 3339.
pub fn parse_api_time(s: &str) -> Option<i64> {
    Timestamp::parse_unix_or_rfc3339(s).map(Timestamp::unix_nanos)
}

/// docker's `units.HumanDuration` of `nanos` (negative counts as zero).
pub fn human_duration(nanos: i64) -> String {
    berth_time::human_duration(std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_nano(0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_nano(1_700_000_000_120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339_nano_fixed(1_700_000_000_120_000_000), "2023-11-14T22:13:20.120000000Z");
    }

    #[test]
    fn parses_round_trip_and_offsets() {
        for n in [1_700_000_000_123_456_789i64, 951_782_400_000_000_000, 1_000_000_001] {
            assert_eq!(parse_rfc3339(&rfc3339_nano(n)), Some(n));
        }
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20"), None);
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_api_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_api_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_api_time("x"), None);
    }

    #[test]
    fn human_durations() {
        let s = 1_000_000_000;
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5 * s), "5 seconds");
        assert_eq!(human_duration(61 * s), "About a minute");
        assert_eq!(human_duration(5 * 60 * s), "5 minutes");
        assert_eq!(human_duration(3600 * s), "About an hour");
        assert_eq!(human_duration(3 * 3600 * s), "3 hours");
        assert_eq!(human_duration(3 * 86400 * s), "3 days");
    }
}
