//! Timestamps as the Engine API writes them: RFC 3339 with nanoseconds in
//! UTC, trailing zeros of the fraction trimmed (Go's `RFC3339Nano`), and the
//! `seconds[.nanoseconds]` form of `since`/`until` query parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go's zero `time.Time`, which docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `secs`/`nanos` since the epoch as RFC 3339 with trimmed nanoseconds.
pub fn format_unix(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// A `SystemTime` as RFC 3339 with trimmed nanoseconds.
pub fn format_rfc3339_nano(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format_unix(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 { format_unix(secs, 0) } else { format_unix(secs - 1, 1_000_000_000 - d.subsec_nanos()) }
        }
    }
}

/// Seconds since the epoch (for `Created` in lists, event `time`).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Nanoseconds since the epoch (event `timeNano`).
pub fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `...+02:00`).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let p = s.get(r)?;
        if p.bytes().all(|c| c.is_ascii_digit()) { p.parse().ok() } else { None }
    };
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
    }
    let offset: i64 = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let oh: i64 = tz[1..3].parse().ok()?;
            let om: i64 = tz[4..6].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(from_unix(secs, nanos))
}

fn from_unix(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(u64::from(nanos))
    }
}

/// docker's `since`/`until` query form: `seconds[.nanoseconds]` (the CLI
/// converts durations and dates to this before sending). Also accepts RFC
/// 3339 for hand-written requests.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains('T') || s.contains('t') {
        return parse_rfc3339(s);
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = secs.starts_with('-');
    let digits = secs.strip_prefix('-').unwrap_or(secs);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let secs: i64 = digits.parse().ok()?;
    let mut f = frac.to_owned();
    while f.len() < 9 {
        f.push('0');
    }
    let nanos: u32 = f.parse().ok()?;
    if neg { Some(from_unix(-secs, 0) - Duration::from_nanos(u64::from(nanos))) } else { Some(from_unix(secs, nanos)) }
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
