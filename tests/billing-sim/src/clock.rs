//! Site-local time. Maxio answers in the site's time zone; the simulated site lives in
//! America/New_York, so offsets follow the US Eastern daylight-saving rule (computed here, to
//! avoid a time zone database for one zone).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Weekday,
};

const EST: i32 = -5 * 3600;
const EDT: i32 = -4 * 3600;

/// The `n`-th `weekday` of a month (1-based).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
        .expect("every month has a first and a second of each weekday")
}

/// Whether a local wall-clock time falls in daylight-saving time: from the second Sunday of
/// March at 02:00 to the first Sunday of November at 02:00.
fn is_dst(local: NaiveDateTime) -> bool {
    let year = local.year();
    let start = nth_weekday(year, 3, Weekday::Sun, 2).and_hms_opt(2, 0, 0);
    let end = nth_weekday(year, 11, Weekday::Sun, 1).and_hms_opt(2, 0, 0);
    match (start, end) {
        (Some(s), Some(e)) => local >= s && local < e,
        _ => false,
    }
}

fn offset_for(local: NaiveDateTime) -> FixedOffset {
    let secs = if is_dst(local) { EDT } else { EST };
    FixedOffset::east_opt(secs).expect("a valid offset")
}

/// A wall-clock time on the site, with the offset in force then.
pub(crate) fn local(at: NaiveDateTime) -> DateTime<FixedOffset> {
    offset_for(at)
        .from_local_datetime(&at)
        .single()
        .expect("fixed offsets are never ambiguous")
}

/// The same instant expressed with the offset in force at it (after adding durations across a
/// daylight-saving change).
pub(crate) fn normalize(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    let utc = t.naive_utc();
    // The offset depends on local time; the guess from EST is off by at most an hour around the
    // switch, which the second look settles.
    let guess = utc + Duration::seconds(i64::from(EST));
    let off = offset_for(guess);
    t.with_timezone(&off)
}

/// A day at a given local time.
pub(crate) fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<FixedOffset> {
    local(day.and_hms_opt(h, m, s).expect("a valid time of day"))
}

/// `2026-01-31T10:22:20-05:00`, as the API prints datetimes.
pub(crate) fn api(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// `2026-01-31 10:22:20 -0500`, as webhook payloads print them.
pub(crate) fn webhook(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M:%S %z").to_string()
}

pub(crate) fn day(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `01/31/2026`, as line descriptions print service periods.
pub(crate) fn us_day(d: &NaiveDate) -> String {
    d.format("%m/%d/%Y").to_string()
}

/// `months` later, clamped to the month's last day (Jan 31 + 1 -> Feb 28).
pub(crate) fn add_months(d: NaiveDate, months: u32) -> NaiveDate {
    d.checked_add_months(chrono::Months::new(months))
        .unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eastern_offsets_follow_daylight_saving() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(
            api(&at(d(2026, 1, 31), 10, 22, 20)),
            "2026-01-31T10:22:20-05:00"
        );
        assert_eq!(
            api(&at(d(2025, 6, 12), 14, 3, 11)),
            "2025-06-12T14:03:11-04:00"
        );
        // 2026: DST from March 8 to November 1.
        assert_eq!(
            api(&at(d(2026, 3, 8), 1, 59, 0)),
            "2026-03-08T01:59:00-05:00"
        );
        assert_eq!(
            api(&at(d(2026, 3, 8), 3, 0, 0)),
            "2026-03-08T03:00:00-04:00"
        );
        assert_eq!(
            api(&at(d(2026, 11, 1), 2, 30, 0)),
            "2026-11-01T02:30:00-05:00"
        );
        assert_eq!(
            webhook(&at(d(2026, 1, 31), 10, 22, 20)),
            "2026-01-31 10:22:20 -0500"
        );
        let later = normalize(at(d(2026, 3, 7), 12, 0, 0) + Duration::days(2));
        assert_eq!(api(&later), "2026-03-09T13:00:00-04:00");
        assert_eq!(add_months(d(2026, 1, 31), 1), d(2026, 2, 28));
    }
}
