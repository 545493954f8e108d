//! Wall-clock timestamps in RFC 3339 with nanoseconds, formatted the way Go's
//! `time.RFC3339Nano` does in UTC (what docker's json-file driver, containerd's
//! CRI logger and the Docker API write): `2024-01-01T00:00:00.123456789Z`
//! with trailing zeros of the fraction dropped, and no fraction at all when it
//! is zero.

use std::fmt::Write as _;

/// A point in time as seconds and nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// The current wall-clock time (`CLOCK_REALTIME`).
    pub fn now() -> Timestamp {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp { secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() },
            Err(e) => {
                // Before 1970: negative seconds with a positive fraction.
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Timestamp { secs, nanos }
            }
        }
    }

    /// Appends the RFC 3339 form (see the module doc) to `out`.
    pub fn write_rfc3339_nano(&self, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(32);
        self.fmt_into(&mut s);
        out.extend_from_slice(s.as_bytes());
    }

    /// The RFC 3339 form as a string.
    pub fn rfc3339_nano(&self) -> String {
        let mut s = String::with_capacity(32);
        self.fmt_into(&mut s);
        s
    }

    fn fmt_into(&self, s: &mut String) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, (rem / 60) % 60, rem % 60);
        let _ = write!(s, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        if self.nanos != 0 {
            let mut frac = self.nanos;
            let mut digits = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                digits -= 1;
            }
            let _ = write!(s, ".{frac:0digits$}");
        }
        s.push('Z');
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month,
/// day), valid for every `i64` day count that fits a year in `i64`
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: i64, nanos: u32) -> String {
        Timestamp { secs, nanos }.rfc3339_nano()
    }

    #[test]
    fn formats_like_go_rfc3339nano_in_utc() {
        assert_eq!(fmt(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt(1_704_067_200, 123_456_789), "2024-01-01T00:00:00.123456789Z");
        assert_eq!(fmt(1_704_067_200, 120_000_000), "2024-01-01T00:00:00.12Z");
        assert_eq!(fmt(1_704_067_200, 1), "2024-01-01T00:00:00.000000001Z");
        assert_eq!(fmt(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(fmt(4_107_542_399, 500_000_000), "2100-02-28T23:59:59.5Z");
        assert_eq!(fmt(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(fmt(253_402_300_799, 0), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn civil_dates_round_trip_against_a_day_counter() {
        // Walk 1600..2400 day by day and check the calendar advances correctly.
        let mut days = -135_140; // 1600-01-01
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        while y < 2400 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            days += 1;
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn now_is_after_2024() {
        assert!(Timestamp::now().secs > 1_704_067_200);
    }
}
