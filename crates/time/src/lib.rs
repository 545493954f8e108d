//! Wall-clock timestamps in RFC 3339, formatted and parsed the way Go's
//! `time` package does in UTC, which is what every peer of berth writes:
//! runc's state and log lines, docker's json-file log driver and Engine API,
//! containerd's CRI logger.
//!
//! - [`Timestamp::rfc3339_nano`]: Go's `time.RFC3339Nano`,
//!   `2024-01-01T00:00:00.123456789Z`, trailing zeros of the fraction dropped
//!   and no fraction at all when it is zero.
//! - [`Timestamp::rfc3339_nano_fixed`]: always nine digits
//!   (`2024-01-01T00:00:00.120000000Z`, docker's `RFC3339NanoFixed`).
//! - [`Timestamp::rfc3339`]: Go's `time.RFC3339`, whole seconds.
//! - [`Timestamp::parse_rfc3339`]: `Z` or `±hh:mm` offsets, an optional
//!   fraction of any length (nanoseconds kept).
//! - [`Timestamp::parse_unix_or_rfc3339`]: the Engine API's `since`/`until`
//!   (`seconds[.fraction]`, or RFC 3339).
//! - [`human_duration`]: docker's `units.HumanDuration` (`Up 5 minutes`).
//!
//! What it owns: the calendar arithmetic (proleptic Gregorian, every year
//! an `i64` second count reaches) and those text forms. What it must not
//! do: depend on anything, or allocate to format timestamps: berth-runtime and
//! berth-shim (a timestamp per log line) link it, and both binaries have
//! size and memory budgets.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go's zero `time.Time` in RFC 3339, which docker prints for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// A point in time as seconds and nanoseconds since the Unix epoch (UTC).
///
/// Times before 1970 have negative `secs` and a positive fraction:
/// 1969-12-31T23:59:59.75Z is `{ secs: -1, nanos: 750_000_000 }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// The current wall-clock time (`CLOCK_REALTIME`).
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// `t` as seconds and nanoseconds since the epoch (saturating at the
    /// ends of `i64` seconds).
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp { secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() },
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => Timestamp { secs, nanos: 0 },
                    n => Timestamp { secs: secs - 1, nanos: NANOS_PER_SEC - n },
                }
            }
        }
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs.unsigned_abs(), self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs()) + Duration::from_nanos(u64::from(self.nanos))
        }
    }

    /// From nanoseconds since the epoch.
    pub fn from_unix_nanos(nanos: i64) -> Timestamp {
        let n = i64::from(NANOS_PER_SEC);
        // rem_euclid of a positive divisor is in 0..1e9, so it fits a u32
        Timestamp { secs: nanos.div_euclid(n), nanos: nanos.rem_euclid(n) as u32 }
    }

    /// Nanoseconds since the epoch, saturating outside the years
    /// 1677..=2262 that an `i64` of nanoseconds covers.
    pub fn unix_nanos(self) -> i64 {
        self.secs.saturating_mul(i64::from(NANOS_PER_SEC)).saturating_add(i64::from(self.nanos))
    }

    /// Go's `time.RFC3339`: whole seconds, `2024-01-01T00:00:00Z`.
    pub fn rfc3339(self) -> Rfc3339 {
        self.format(Fraction::None)
    }

    /// Go's `time.RFC3339Nano`: `2024-01-01T00:00:00.12Z`, trailing zeros
    /// of the fraction dropped, none at all when it is zero.
    pub fn rfc3339_nano(self) -> Rfc3339 {
        self.format(Fraction::Trimmed)
    }

    /// Nine fraction digits whatever they are,
    /// `2024-01-01T00:00:00.120000000Z` (docker's `RFC3339NanoFixed`, and
    /// the form runc's state and log lines have).
    pub fn rfc3339_nano_fixed(self) -> Rfc3339 {
        self.format(Fraction::Fixed)
    }

    /// Parses RFC 3339: `2024-01-02T03:04:05Z`, an optional fraction of
    /// any length (digits past the ninth are dropped), `Z`/`z` or a `±hh:mm`
    /// offset; `t` or a space may stand for `T`. `None` for anything else,
    /// including a missing zone.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            let digits = &b[from..to];
            digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0')))
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, min, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
            for k in 0..9 {
                let digit = if start + k < i { b[start + k] - b'0' } else { 0 };
                nanos = nanos * 10 + u32::from(digit);
            }
        }
        let offset = match &b[i..] {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let o = num(i + 1, i + 3)? * 3600 + num(i + 4, i + 6)? * 60;
                if *sign == b'-' { -o } else { o }
            }
            _ => return None,
        };
        let secs = days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + min * 60 + sec - offset;
        Some(Timestamp { secs, nanos })
    }

    /// The Engine API's `since`/`until` values: unix `seconds[.fraction]`
    /// (up to nine fraction digits, may be negative), as docker's CLI sends
    /// them, or RFC 3339 for hand-written requests.
    pub fn parse_unix_or_rfc3339(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        if s.contains(['T', 't']) {
            return Timestamp::parse_rfc3339(s);
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let (negative, digits) = match whole.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, whole),
        };
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let secs = digits.bytes().fold(0i64, |n, c| n * 10 + i64::from(c - b'0'));
        let nanos = (0..9).fold(0u32, |n, k| n * 10 + frac.as_bytes().get(k).map_or(0, |c| u32::from(c - b'0')));
        Some(match (negative, nanos) {
            (false, _) => Timestamp { secs, nanos },
            (true, 0) => Timestamp { secs: -secs, nanos: 0 },
            (true, n) => Timestamp { secs: -secs - 1, nanos: NANOS_PER_SEC - n },
        })
    }

    fn format(self, fraction: Fraction) -> Rfc3339 {
        let mut out = Rfc3339 { buf: [0; Rfc3339::CAPACITY], len: 0 };
        let (year, month, day) = civil_from_days(self.secs.div_euclid(SECS_PER_DAY));
        let sod = self.secs.rem_euclid(SECS_PER_DAY) as u32; // [0, 86399]
        if year < 0 {
            // Go pads the digits, not the sign: -0001
            out.push(b'-');
        }
        let (mut frac, mut width) = (self.nanos, 9);
        match fraction {
            Fraction::None => width = 0,
            Fraction::Trimmed if frac == 0 => width = 0,
            Fraction::Trimmed => {
                while frac.is_multiple_of(10) {
                    frac /= 10;
                    width -= 1;
                }
            }
            Fraction::Fixed => {}
        }
        out.field(year.unsigned_abs(), 4, b'-');
        out.field(month.into(), 2, b'-');
        out.field(day.into(), 2, b'T');
        out.field((sod / 3600).into(), 2, b':');
        out.field((sod / 60 % 60).into(), 2, b':');
        if width == 0 {
            out.field((sod % 60).into(), 2, b'Z');
        } else {
            out.field((sod % 60).into(), 2, b'.');
            out.field(frac.into(), width, b'Z');
        }
        out
    }
}

/// docker's `units.HumanDuration`, as in `Up 5 minutes` and `2 hours ago`:
/// `Less than a second`, `1 second`, `N seconds`, `About a minute`,
/// `N minutes`, `About an hour`, `N hours`, then days, weeks, months, years.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        return "Less than a second".into();
    }
    if secs == 1 {
        return "1 second".into();
    }
    if secs < 60 {
        return format!("{secs} seconds");
    }
    let minutes = secs / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds to the nearest hour here
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", secs / 3600 / 24 / 365)
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        Timestamp::from_system_time(t)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> SystemTime {
        t.to_system_time()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fraction {
    None,
    Trimmed,
    Fixed,
}

/// A formatted timestamp, on the stack: use it as a `&str` (it derefs to
/// one) or with `{}`; `String::from` when it must be owned.
#[derive(Clone, Copy)]
pub struct Rfc3339 {
    buf: [u8; Rfc3339::CAPACITY],
    len: usize,
}

impl Rfc3339 {
    /// `-` + 12 year digits (`i64::MAX` seconds is in year 292277026596)
    /// + `-MM-DDTHH:MM:SS` + `.` + 9 digits + `Z`.
    const CAPACITY: usize = 40;

    /// The text.
    pub fn as_str(&self) -> &str {
        // only ASCII digits and punctuation are ever pushed
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }

    // The capacity fits the longest form, so `get_mut` never misses: it
    // only spares the binaries a panic path per write.
    fn push(&mut self, c: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = c;
        }
        self.len += 1;
    }

    /// `v` in decimal, zero-padded to at least `width` digits, then `then`.
    fn field(&mut self, mut v: u64, width: usize, then: u8) {
        let mut n = 1;
        let mut rest = v / 10;
        while rest > 0 {
            n += 1;
            rest /= 10;
        }
        let n = n.max(width);
        for i in (self.len..self.len + n).rev() {
            if let Some(slot) = self.buf.get_mut(i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
        self.len += n;
        self.push(then);
    }
}

impl std::ops::Deref for Rfc3339 {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Rfc3339 {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Rfc3339 {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<Rfc3339> for String {
    fn from(t: Rfc3339) -> String {
        t.as_str().to_owned()
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), for
/// every day count an `i64` of seconds reaches (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    // the day of the era fits a u32, whose arithmetic is the smaller code
    let doe = z.rem_euclid(146_097) as u32; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    (i64::from(yoe) + era * 400 + i64::from(month <= 2), month, day)
}

/// The inverse of [`civil_from_days`] (Howard Hinnant's `days_from_civil`);
/// a day past the month's end rolls into the next month.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_or_rfc3339_as_the_api_receives_them() {
        let p = Timestamp::parse_unix_or_rfc3339;
        assert_eq!(p("1700000000.5"), Some(Timestamp { secs: 1_700_000_000, nanos: 500_000_000 }));
        assert_eq!(p("1700000000"), Some(Timestamp { secs: 1_700_000_000, nanos: 0 }));
        assert_eq!(p("1700000000.000000001").map(Timestamp::unix_nanos), Some(1_700_000_000_000_000_001));
        assert_eq!(p("-5.25"), Some(Timestamp { secs: -6, nanos: 750_000_000 }));
        assert_eq!(p("2023-11-14T23:13:20+01:00"), Some(Timestamp { secs: 1_700_000_000, nanos: 0 }));
        for bad in ["", "abc", "1.2.3", "1.1234567890", "-", "1.x"] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn human_durations_as_docker_units() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(5)), "5 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(300)), "5 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(3 * 3600)), "3 hours");
        assert_eq!(human_duration(s(3 * 86_400)), "3 days");
        assert_eq!(human_duration(s(3 * 365 * 86_400)), "3 years");
    }

    use super::*;

    fn nano(secs: i64, nanos: u32) -> String {
        Timestamp { secs, nanos }.rfc3339_nano().into()
    }

    fn fixed(secs: i64, nanos: u32) -> String {
        Timestamp { secs, nanos }.rfc3339_nano_fixed().into()
    }

    fn parse(s: &str) -> Option<(i64, u32)> {
        Timestamp::parse_rfc3339(s).map(|t| (t.secs, t.nanos))
    }

    #[test]
    fn formats_like_go_rfc3339nano_in_utc() {
        assert_eq!(nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(nano(1_704_067_200, 123_456_789), "2024-01-01T00:00:00.123456789Z");
        assert_eq!(nano(1_704_067_200, 120_000_000), "2024-01-01T00:00:00.12Z");
        assert_eq!(nano(1_704_067_200, 1), "2024-01-01T00:00:00.000000001Z");
        assert_eq!(nano(1_700_000_000, 0), "2023-11-14T22:13:20Z");
        assert_eq!(nano(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(nano(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(nano(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(nano(4_107_542_399, 500_000_000), "2100-02-28T23:59:59.5Z");
        assert_eq!(nano(253_402_300_799, 0), "9999-12-31T23:59:59Z");
        assert_eq!(nano(0, 5), "1970-01-01T00:00:00.000000005Z");
    }

    #[test]
    fn fixed_keeps_nine_digits() {
        assert_eq!(fixed(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(fixed(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.120000000Z");
        assert_eq!(fixed(1_700_000_000, 123_456_789), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(fixed(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(fixed(1_709_251_199, 5), "2024-02-29T23:59:59.000000005Z");
        assert_eq!(fixed(4_102_444_800, 0), "2100-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn whole_seconds_drop_the_fraction() {
        let secs = |s: i64, n: u32| String::from(Timestamp { secs: s, nanos: n }.rfc3339());
        assert_eq!(secs(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(secs(1_700_000_000, 999_999_999), "2023-11-14T22:13:20Z");
        assert_eq!(secs(951_782_400, 0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn leap_years() {
        // divisible by 4: leap; by 100: not; by 400: leap
        assert_eq!(nano(1_709_164_800, 0), "2024-02-29T00:00:00Z");
        assert_eq!(nano(1_709_251_200, 0), "2024-03-01T00:00:00Z");
        assert_eq!(nano(1_677_628_800, 0), "2023-03-01T00:00:00Z"); // 2023-02-28 + 1 day
        assert_eq!(nano(951_868_800, 0), "2000-03-01T00:00:00Z");
        assert_eq!(nano(4_107_542_400, 0), "2100-03-01T00:00:00Z"); // no 2100-02-29
        assert_eq!(nano(-2_203_891_200, 0), "1900-03-01T00:00:00Z"); // no 1900-02-29
        assert_eq!(parse("2100-02-29T00:00:00Z"), parse("2100-03-01T00:00:00Z"));
        assert_eq!(parse("2024-12-31T23:59:59Z"), Some((1_735_689_599, 0)));
    }

    #[test]
    fn before_1970() {
        assert_eq!(nano(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(nano(-1, 750_000_000), "1969-12-31T23:59:59.75Z");
        assert_eq!(nano(-86_400, 0), "1969-12-31T00:00:00Z");
        assert_eq!(nano(-11_676_096_000, 0), "1600-01-01T00:00:00Z");
        assert_eq!(nano(-62_135_596_800, 0), GO_ZERO_TIME);
        assert_eq!(nano(-62_167_219_200, 0), "0000-01-01T00:00:00Z");
        assert_eq!(nano(-62_167_219_201, 0), "-0001-12-31T23:59:59Z");
        assert_eq!(parse("1969-12-31T23:59:59.75Z"), Some((-1, 750_000_000)));
        assert_eq!(parse(GO_ZERO_TIME), Some((-62_135_596_800, 0)));
        let before = UNIX_EPOCH - Duration::from_millis(250);
        assert_eq!(Timestamp::from(before), Timestamp { secs: -1, nanos: 750_000_000 });
        assert_eq!(Timestamp { secs: -1, nanos: 750_000_000 }.to_system_time(), before);
        assert_eq!(Timestamp::from(UNIX_EPOCH - Duration::from_secs(2)), Timestamp { secs: -2, nanos: 0 });
        assert_eq!(Timestamp::from_unix_nanos(-1), Timestamp { secs: -1, nanos: 999_999_999 });
        assert_eq!(Timestamp { secs: -1, nanos: 999_999_999 }.unix_nanos(), -1);
    }

    #[test]
    fn extreme_seconds_fit_the_buffer() {
        assert_eq!(fixed(i64::MAX, 999_999_999), "292277026596-12-04T15:30:07.999999999Z");
        assert_eq!(fixed(i64::MIN, 0), "-292277022657-01-27T08:29:52.000000000Z");
    }

    #[test]
    fn civil_dates_round_trip_against_a_day_counter() {
        // Walk 1600..2400 day by day and check the calendar advances correctly.
        let mut days = -135_140; // 1600-01-01
        let (mut y, mut m, mut d) = (1600i64, 1u32, 1u32);
        while y < 2400 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
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
    fn parses_round_trip() {
        for (s, n) in [(1_700_000_000i64, 123_456_789u32), (951_782_400, 0), (1, 1), (4_102_444_799, 999_999_999), (0, 0), (-1, 5)] {
            let t = Timestamp { secs: s, nanos: n };
            assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339_nano()), Some(t));
            assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339_nano_fixed()), Some(t));
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse("2023-11-14T23:13:20+01:00"), Some((1_700_000_000, 0)));
        assert_eq!(parse("2023-11-14T16:43:20-05:30"), Some((1_700_000_000, 0)));
        assert_eq!(parse("2023-11-14t22:13:20z"), Some((1_700_000_000, 0)));
        assert_eq!(parse("2023-11-14 22:13:20Z"), Some((1_700_000_000, 0)));
        assert_eq!(parse("2024-01-02T03:04:05.123Z"), Some((1_704_164_645, 123_000_000)));
        assert_eq!(parse("2024-01-02T03:04:05.1234567891234Z"), Some((1_704_164_645, 123_456_789)));
        // a leap second is accepted and reads as the next second
        assert_eq!(parse("2016-12-31T23:59:60Z"), Some((1_483_228_800, 0)));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for s in [
            "",
            "garbage",
            "yesterday",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13:20.Z",
            "2023-13-14T23:13:20Z",
            "2023-00-14T23:13:20Z",
            "2023-11-00T23:13:20Z",
            "2023-11-14T24:13:20Z",
            "2023-11-14T23:60:20Z",
            "2023-11-14T23:13:61Z",
            "2023-11-14T23:13:20+0100",
            "2023-11-14T23:13:20+01:00 ",
            "2023-11-14T23:13:20Zjunk",
            "+023-11-14T23:13:20Z",
            "2023-+1-14T23:13:20Z",
            "2023-11-14T23:13:20+é:00",
            "2023-11-14T23:13:20.1é",
            "2023-11-14X23:13:20Z",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn formatted_text_reads_as_str() {
        let t = Timestamp { secs: 0, nanos: 5 }.rfc3339_nano();
        assert_eq!(t, "1970-01-01T00:00:00.000000005Z");
        assert_eq!(format!("{t} {t:?}"), "1970-01-01T00:00:00.000000005Z \"1970-01-01T00:00:00.000000005Z\"");
        assert_eq!(t.len(), 30);
    }

    #[test]
    fn now_is_after_2024() {
        assert!(Timestamp::now().secs > 1_704_067_200);
        let n = Timestamp::now().unix_nanos();
        assert_eq!(Timestamp::from_unix_nanos(n).unix_nanos(), n);
    }
}
