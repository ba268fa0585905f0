//! The report's calendar: hours, calendar months and timestamps in the configured timezone.

use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;

/// An hour, the engine's history resolution.
pub const HOUR_MS: i64 = 3_600_000;

/// RFC 3339 (seconds) in `tz`.
pub fn fmt_time(tz: Tz, ms: i64) -> String {
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => ms.to_string(),
    }
}

/// The first instant of each calendar month in `tz` that starts inside (from, to), with the
/// ends: [from, m1), [m1, m2), …, [mk, to).
pub fn month_bounds(tz: Tz, from_ms: i64, to_ms: i64) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let Some(start) = tz.timestamp_millis_opt(from_ms).single() else {
        return out;
    };
    let (mut y, mut m) = (start.year(), start.month());
    let mut lo = from_ms;
    while lo < to_ms {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let next = NaiveDate::from_ymd_opt(ny, nm, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|d| tz.from_local_datetime(&d).earliest())
            .map(|d| d.timestamp_millis())
            .unwrap_or(to_ms);
        let hi = next.min(to_ms);
        if hi <= lo {
            break;
        }
        out.push((format!("{y:04}-{m:02}"), lo, hi));
        lo = hi;
        (y, m) = (ny, nm);
    }
    out
}

/// The whole hours [from, to) touches, as hour indices (epoch ms / [`HOUR_MS`]): the first
/// rounded down, the end rounded up.
pub(crate) fn hour_span(from_ms: i64, to_ms: i64) -> (i64, i64) {
    (
        from_ms.div_euclid(HOUR_MS),
        (to_ms + HOUR_MS - 1).div_euclid(HOUR_MS),
    )
}
