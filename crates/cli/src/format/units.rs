//! Sizes, durations and times as docker shows and reads them (go-units and
//! Go's `time` package): `4.26MB`, `12.5MiB`, `About a minute`,
//! `2024-01-02 15:04:05 +0000 UTC`, `--memory 512m`, `--since 10m`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go's `%.<precision>g` for a positive float: at most `precision`
/// significant digits, trailing zeros dropped, exponent form when large.
pub fn format_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let precision = precision.max(1);
    let exp = v.abs().log10().floor() as i32;
    // round to `precision` significant digits first: it can carry into the next decade
    let s = format!("{:.*e}", precision - 1, v);
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= precision as i32 {
        let m = trim_zeros(mantissa);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (precision as i32 - 1 - e).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn scale(size: f64, base: f64) -> (f64, usize) {
    let mut s = size;
    let mut i = 0;
    while s >= base && i < 8 {
        s /= base;
        i += 1;
    }
    (s, i)
}

/// go-units `HumanSizeWithPrecision`: decimal units, `precision` digits.
pub fn human_size_prec(size: f64, precision: usize) -> String {
    let (s, i) = scale(size, 1000.0);
    format!("{}{}", format_g(s, precision), DECIMAL[i])
}

/// go-units `HumanSize` (four significant digits).
pub fn human_size(size: i64) -> String {
    human_size_prec(size as f64, 4)
}

/// go-units `BytesSize`: binary units, `12.5MiB`.
pub fn bytes_size(size: f64) -> String {
    let (s, i) = scale(size, 1024.0);
    format!("{}{}", format_g(s, 4), BINARY[i])
}

/// docker's `units.HumanDuration` (shared with berthd's `Up 5 minutes`).
pub use berth_time::human_duration;

/// `X ago` for a Unix time in seconds.
pub fn ago(unix: i64) -> String {
    let now = now_unix();
    let d = Duration::from_secs(u64::try_from(now - unix).unwrap_or(0));
    format!("{} ago", human_duration(d))
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// go-units `RAMInBytes` (binary units: `512m`, `1g`, `1.5GiB`), docker's
/// `--memory`, `--shm-size`. Errors read `invalid size: 'x'`.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    parse_size(s, 1024.0)
}

/// go-units `FromHumanSize` (decimal units).
pub fn from_human_size(s: &str) -> Result<i64, String> {
    parse_size(s, 1000.0)
}

fn parse_size(s: &str, base: f64) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(num_end);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = suffix.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult = match unit {
        "" => 1.0,
        "k" => base,
        "m" => base.powi(2),
        "g" => base.powi(3),
        "t" => base.powi(4),
        "p" => base.powi(5),
        _ => return Err(format!("invalid suffix: '{}'", suffix.trim_start())),
    };
    let v = n * mult;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

/// Go's `time.ParseDuration`: `300ms`, `-1.5h`, `2h45m`.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += n * nanos;
    }
    if neg {
        return Err(format!("negative duration {s}"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Go's `Duration.String()`: `1h2m3s`, `1.5s`, `300ms`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_zeros(&format!("{:.3}", nanos as f64 / 1e3)));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_zeros(&format!("{:.6}", nanos as f64 / 1e6)));
    }
    let total_secs = d.as_secs();
    let h = total_secs / 3600;
    let m = total_secs % 3600 / 60;
    let s = d.as_secs_f64() - (h * 3600 + m * 60) as f64;
    let secs = trim_zeros(&format!("{s:.9}")).to_owned();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&secs);
    out.push('s');
    out
}

/// The local time zone offset (seconds east of UTC) and abbreviation at
/// `unix`.
fn local_zone(unix: i64) -> (i64, String) {
    let t: libc::time_t = unix as libc::time_t;
    // SAFETY: tm is plain data filled by localtime_r; both pointers are valid
    // for the call and tm_zone points into static tz data (copied at once).
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return (0, "UTC".into());
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        (tm.tm_gmtoff, zone)
    }
}

/// Go's `time.Unix(s, 0).String()` in the local zone:
/// `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    let (off, zone) = local_zone(unix);
    let base = berth_docker_types::time::format_unix(unix + off, 0);
    // "2024-01-02T15:04:05Z" → "2024-01-02 15:04:05"
    let date_time = base.trim_end_matches('Z').replacen('T', " ", 1);
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let zone = if zone.is_empty() {
        format!("{sign}{:02}{:02}", a / 3600, a % 3600 / 60)
    } else {
        zone
    };
    format!(
        "{date_time} {sign}{:02}{:02} {zone}",
        a / 3600,
        a % 3600 / 60
    )
}

/// RFC 3339 in the local zone, seconds precision (`2024-01-02T15:04:05Z`
/// or `...+02:00`), as docker shows `Created` in `image inspect` tables.
pub fn rfc3339_local(unix: i64) -> String {
    let (off, _) = local_zone(unix);
    let base = berth_docker_types::time::format_unix(unix + off, 0);
    if off == 0 {
        return base;
    }
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    format!(
        "{}{sign}{:02}:{:02}",
        base.trim_end_matches('Z'),
        a / 3600,
        a % 3600 / 60
    )
}

/// docker's `GetTimestamp` for `--since`/`--until`: a Go duration before
/// now (`10m`), a Unix timestamp (`1700000000[.5]`), or an RFC 3339 date
/// (with or without time and zone); returns the `seconds.nanoseconds` the
/// API takes.
pub fn api_timestamp(value: &str) -> Result<String, String> {
    let v = value.trim();
    if let Ok(d) = parse_go_duration(v) {
        let now = SystemTime::now();
        let t = now.checked_sub(d).unwrap_or(UNIX_EPOCH);
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        return Ok(format!("{}.{:09}", since.as_secs(), since.subsec_nanos()));
    }
    if !v.is_empty()
        && v.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && v.matches('.').count() <= 1
    {
        let (s, f) = v.split_once('.').unwrap_or((v, ""));
        let mut frac = f.to_owned();
        frac.truncate(9);
        while frac.len() < 9 {
            frac.push('0');
        }
        return Ok(format!("{s}.{frac}"));
    }
    let with_time = if v.len() == 10 {
        format!("{v}T00:00:00")
    } else {
        v.replacen(' ', "T", 1)
    };
    let candidate = if with_time.ends_with('Z')
        || with_time[with_time.len().saturating_sub(6)..].starts_with(['+', '-'])
    {
        with_time.clone()
    } else {
        // no zone: local time, as docker parses it
        let probe = berth_docker_types::time::parse_rfc3339(&format!("{with_time}Z"));
        match probe {
            Some(t) => {
                let secs = berth_docker_types::time::unix_seconds(t);
                let (off, _) = local_zone(secs);
                let sign = if off < 0 { '-' } else { '+' };
                let a = off.abs();
                format!("{with_time}{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
            }
            None => with_time.clone(),
        }
    };
    match berth_docker_types::time::parse_rfc3339(&candidate) {
        Some(t) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            Ok(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
        }
        None => Err(format!(
            "failed to parse value as time or duration: \"{value}\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_format() {
        assert_eq!(format_g(4.26e6 / 1e6, 3), "4.26");
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(123.456, 3), "123");
        assert_eq!(format_g(999.6, 3), "1e+03");
        assert_eq!(format_g(12.3456, 4), "12.35");
        assert_eq!(format_g(0.5, 4), "0.5");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size_prec(4_261_000.0, 3), "4.26MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(1_234.0, 3), "1.23kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(bytes_size(13_107_200.0), "12.5MiB");
        assert_eq!(bytes_size(0.0), "0B");
    }

    #[test]
    fn durations() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(45 * 60)), "45 minutes");
        assert_eq!(
            human_duration(Duration::from_secs(3600 + 10)),
            "About an hour"
        );
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
        assert_eq!(human_duration(Duration::from_secs(20 * 86400)), "2 weeks");
        assert_eq!(human_duration(Duration::from_secs(100 * 86400)), "3 months");
        assert_eq!(human_duration(Duration::from_secs(800 * 86400)), "2 years");
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(ram_in_bytes("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("64KB"), Ok(65536));
        assert_eq!(ram_in_bytes("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(ram_in_bytes("10x"), Err("invalid suffix: 'x'".into()));
        assert_eq!(from_human_size("1kb"), Ok(1000));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(
            parse_go_duration("10")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(
            parse_go_duration("5x")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert_eq!(format_go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_secs(60)), "1m0s");
    }

    #[test]
    fn timestamps_for_the_api() {
        assert_eq!(api_timestamp("1700000000").unwrap(), "1700000000.000000000");
        assert_eq!(
            api_timestamp("1700000000.5").unwrap(),
            "1700000000.500000000"
        );
        assert_eq!(
            api_timestamp("2023-11-14T22:13:20Z").unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(
            api_timestamp("2023-11-14T23:13:20+01:00").unwrap(),
            "1700000000.000000000"
        );
        let recent: f64 = api_timestamp("10m").unwrap().parse().unwrap();
        assert!((now_unix() as f64 - recent - 600.0).abs() < 5.0);
        assert!(
            api_timestamp("yesterday")
                .unwrap_err()
                .contains("failed to parse")
        );
    }

    #[test]
    fn go_time_strings() {
        let s = go_time_string(1_700_000_000);
        // e.g. "2023-11-14 22:13:20 +0000 UTC" on a UTC machine
        assert!(s.len() >= "2023-11-14 22:13:20 +0000 X".len(), "{s}");
        assert!(s.contains(":13:20 "), "{s}");
    }
}
