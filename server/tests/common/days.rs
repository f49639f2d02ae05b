//! Calendar days for tests that close or reconcile a day.

use super::now_ms;

/// `(year, month, day)` of a day number since 1970-01-01.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A past day (2001..2020) no other run has used, as (date, start ms UTC):
/// the PostgreSQL test database is shared between runs.
pub fn unused_past_day() -> (String, i64) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        ^ i64::from(std::process::id()) << 20;
    let days = 11_323 + seed.rem_euclid(7_300);
    let (y, m, d) = civil(days);
    (format!("{y:04}-{m:02}-{d:02}"), days * 86_400_000)
}

/// The UTC date (`YYYY-MM-DD`) of a Unix time in ms.
pub fn utc_date(at_ms: u64) -> String {
    let (y, m, d) = civil((at_ms / 86_400_000) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn today() -> String {
    utc_date(now_ms())
}
