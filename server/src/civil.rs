//! Calendar arithmetic for alerts, daily limits and settlements, without a
//! time-zone database: every local time is Unix time plus an explicit UTC
//! offset in minutes (configured per terminal or per guardian limit), never
//! the server's own zone. Days use the proleptic Gregorian calendar
//! (H. Hinnant's `days_from_civil` / `civil_from_days`).

use crate::error::ApiError;

const DAY_MS: i64 = 86_400_000;
/// The widest UTC offset accepted (±14:00, like real zones).
pub const MAX_OFFSET_MINUTES: i64 = 14 * 60;

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Checks an offset in minutes.
pub fn check_offset(field: &str, minutes: i64) -> Result<i64, ApiError> {
    // A range, not `abs()`: i64::MIN has no absolute value.
    if !(-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&minutes) {
        return Err(ApiError::field(
            field,
            "must be a UTC offset in minutes between -840 and 840",
        ));
    }
    Ok(minutes)
}

/// `+08:00` for 480 minutes.
pub fn offset_label(minutes: i64) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let abs = minutes.abs();
    format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
}

/// A local date and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
}

/// The local date and time of `at_ms` at `offset_minutes`.
pub fn local_time(at_ms: i64, offset_minutes: i64) -> LocalTime {
    let local = at_ms + offset_minutes * 60_000;
    let days = local.div_euclid(DAY_MS);
    let ms_of_day = local.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let minutes = ms_of_day / 60_000;
    LocalTime {
        date: format!("{y:04}-{m:02}-{d:02}"),
        time: format!("{:02}:{:02}", minutes / 60, minutes % 60),
    }
}

/// The Unix ms at which the local day containing `at_ms` began.
pub fn local_day_start(at_ms: i64, offset_minutes: i64) -> i64 {
    let offset = offset_minutes * 60_000;
    (at_ms + offset).div_euclid(DAY_MS) * DAY_MS - offset
}

/// Parses `YYYY-MM-DD` into the Unix ms range `[start, end)` of that day at
/// `offset_minutes`.
pub fn parse_day(field: &str, text: &str, offset_minutes: i64) -> Result<(i64, i64), ApiError> {
    let bad = || ApiError::field(field, "must be a date written YYYY-MM-DD");
    let parts: Vec<&str> = text.split('-').collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || parts[1].len() != 2
        || parts[2].len() != 2
        || !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let year: i64 = parts[0].parse().map_err(|_| bad())?;
    let month: u32 = parts[1].parse().map_err(|_| bad())?;
    let day: u32 = parts[2].parse().map_err(|_| bad())?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return Err(ApiError::field(field, "is not a day of the calendar"));
    }
    let start = days * DAY_MS - offset_minutes * 60_000;
    Ok((start, start + DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for d in [-1000, 0, 59, 60, 11_016, 20_000, 20_513, 40_000] {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }

    #[test]
    fn local_times_use_the_given_offset() {
        // 2026-11-21T00:12:00Z
        let at = days_from_civil(2026, 11, 21) * DAY_MS + 12 * 60_000;
        assert_eq!(local_time(at, 0).time, "00:12");
        let cn = local_time(at, 480);
        assert_eq!(
            (cn.date.as_str(), cn.time.as_str()),
            ("2026-11-21", "08:12")
        );
        let ny = local_time(at, -300);
        assert_eq!(
            (ny.date.as_str(), ny.time.as_str()),
            ("2026-11-20", "19:12")
        );
        assert_eq!(offset_label(480), "+08:00");
        assert_eq!(offset_label(-330), "-05:30");
        assert_eq!(offset_label(0), "+00:00");
    }

    #[test]
    fn day_boundaries() {
        let at = days_from_civil(2026, 11, 21) * DAY_MS + 12 * 60_000;
        assert_eq!(
            local_day_start(at, 0),
            days_from_civil(2026, 11, 21) * DAY_MS
        );
        // 00:12 UTC is 08:12 in UTC+8: that local day began 16:00 UTC the day before.
        assert_eq!(
            local_day_start(at, 480),
            days_from_civil(2026, 11, 21) * DAY_MS - 8 * 3_600_000
        );
        let (s, e) = parse_day("date", "2026-11-21", 480).unwrap();
        assert_eq!(s, local_day_start(at, 480));
        assert_eq!(e - s, DAY_MS);
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "21-11-2026",
            "2026-1-01",
            "x",
            "2026-+1-01",
            "2026-01-+1",
            "+999-01-01",
        ] {
            assert!(parse_day("date", bad, 0).is_err(), "{bad}");
        }
        assert!(check_offset("o", 841).is_err());
        // Found by the API fuzzer: abs() of i64::MIN panicked.
        assert!(check_offset("o", i64::MIN).is_err());
        assert!(check_offset("o", i64::MAX).is_err());
        assert_eq!(check_offset("o", -840).unwrap(), -840);
    }
}
