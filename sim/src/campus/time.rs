//! Campus time: China Standard Time, RFC 3339 with its offset, the local date and seconds
//! since local midnight of a unix timestamp.

use chrono::{FixedOffset, NaiveDate, Offset};

/// China Standard Time, the offset every campus timestamp carries.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// `2025-11-25T12:03:04+08:00`
pub fn rfc3339(ts: i64) -> String {
    campus_time(ts).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A unix timestamp as campus time (what the wire types carry; on the wire it reads as
/// [`rfc3339`] does).
pub fn campus_time(ts: i64) -> chrono::DateTime<FixedOffset> {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&cst())
}

/// The campus-local date of a unix timestamp.
pub fn local_date(ts: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&cst())
        .date_naive()
}

/// Unix seconds of `date` at `secs` seconds after local midnight.
pub fn local_ts(date: NaiveDate, secs: i64) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp()
        - 8 * 3600
        + secs
}

/// Seconds since local midnight.
pub fn local_secs(ts: i64) -> i64 {
    (ts + 8 * 3600).rem_euclid(86_400)
}
